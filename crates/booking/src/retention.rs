//! Retention: visitors' personal data on orders (contact phone, names, ID numbers) is erased a
//! configured number of days after the visit. The order keeps what the museum must keep —
//! counts, money, states, seats — and its tickets get fresh random blind indexes, so nothing
//! leads back to the person. The scheduler that calls this records each run in the audit log.

use gatehouse_domain::order::TicketId;
use gatehouse_domain::personal::BlindIndex;
use gatehouse_domain::BookingError;
use jiff::ToSpan;

use crate::BookingService;

/// What one purge erased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub orders: u64,
    pub tickets: u64,
}

/// Orders purged per batch (each order is one transaction).
const BATCH: u32 = 500;

impl BookingService {
    /// Erases the personal data of every order visited more than `retention_days` days ago
    /// (in the museum's time zone) that still holds it.
    pub async fn purge_personal_data(&self, retention_days: u32) -> Result<Purged, BookingError> {
        let before = self
            .today()
            .checked_sub(i64::from(retention_days).days())
            .map_err(|_| BookingError::invalid("retention_days", "is too large"))?;
        let mut purged = Purged::default();
        loop {
            let due = self
                .store
                .orders_to_purge(before, BATCH)
                .await
                .map_err(|e| self.store_error(e))?;
            if due.is_empty() {
                return Ok(purged);
            }
            for (order, tickets) in due {
                let fresh: Vec<(TicketId, BlindIndex)> = tickets
                    .into_iter()
                    .map(|t| (t, BlindIndex(rand::random())))
                    .collect();
                self.store
                    .purge_order_personal_data(&order, &fresh, self.clock.now())
                    .await
                    .map_err(|e| self.store_error(e))?;
                purged.orders += 1;
                purged.tickets += fresh.len() as u64;
            }
        }
    }
}
