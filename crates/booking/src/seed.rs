//! Loads the demo catalogue: creates each demo product that is missing (matched by kind and
//! name) with its ticket types and notice, and makes sure it has slots from today through the
//! next [`DEMO_DAYS`] days, and that the dome theatre has its seat map. Safe to run on every
//! start.

use gatehouse_domain::catalogue::NewSlot;
use gatehouse_domain::demo::{catalogue, dome_seat_map, DEMO_DAYS, DOME_THEATRE};
use gatehouse_domain::BookingError;

use crate::BookingService;

impl BookingService {
    /// Returns how many slots were created.
    pub async fn seed_demo(&self) -> Result<usize, BookingError> {
        let today = self
            .clock
            .now()
            .to_zoned(self.config.museum_tz.clone())
            .date();
        let mut created = 0;
        for demo in catalogue() {
            let existing = self
                .list_products()
                .products
                .into_iter()
                .find(|p| p.spec.kind == demo.spec.kind && p.spec.name == demo.spec.name);
            let product = match existing {
                Some(p) => p,
                None => {
                    let p = self.create_product(demo.spec.clone()).await?;
                    for (name, price) in &demo.ticket_types {
                        self.create_ticket_type(p.id, name, *price).await?;
                    }
                    self.publish_notice(p.id, demo.notice).await?;
                    p
                }
            };
            for offset in 0..=DEMO_DAYS {
                let date = today
                    .checked_add(jiff::Span::new().days(offset))
                    .map_err(|e| BookingError::invalid("date", e.to_string()))?;
                for (start, end, capacity) in &demo.daily_slots {
                    let new = NewSlot {
                        product_id: product.id,
                        date,
                        start: *start,
                        end: *end,
                        capacity: *capacity,
                    };
                    match self.create_slot(new).await {
                        Ok(_) => created += 1,
                        Err(BookingError::Invalid { .. }) => {} // already there
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if !self.seat_maps().iter().any(|(t, _)| t == DOME_THEATRE) {
            self.put_seat_map(DOME_THEATRE, &dome_seat_map()).await?;
        }
        Ok(created)
    }
}
