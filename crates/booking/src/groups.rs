//! The booking service's part in group bookings: each slot's separate group capacity (its own
//! stock in the ledger and the database), and which of a member list's ID numbers already hold
//! a ticket for a slot's day (read from the ledger's claims by blind index, so no ID number is
//! ever looked up in clear). Group orders themselves are `place_order` with an organisation.

use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::identity::IdDocument;
use gatehouse_domain::personal::{BlindIndex, ID_NUMBER_INDEX};
use gatehouse_domain::store::StoreError;
use gatehouse_domain::BookingError;

use crate::BookingService;

impl BookingService {
    /// For each document, whether it already holds a ticket (held or sold) for `slot`'s day and
    /// product kind.
    pub fn already_booked(
        &self,
        slot: SlotId,
        documents: &[&IdDocument],
    ) -> Result<Vec<bool>, BookingError> {
        let slot = self
            .cached_slot(slot)
            .ok_or_else(|| BookingError::invalid("slot_id", "no such slot"))?;
        let product = self
            .cached_product(slot.product_id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        let ledger = self.ledger();
        Ok(documents
            .iter()
            .map(|d| {
                let blind = BlindIndex(self.vault.blind_index(ID_NUMBER_INDEX, d.normalised()));
                ledger.claims_of(blind, slot.date, product.spec.kind) > 0
            })
            .collect())
    }
}

impl BookingService {
    /// Sets a slot's separate group capacity (staff). Lowering it below what groups hold is
    /// refused; the ledger and the store change together.
    pub async fn set_group_capacity(
        &self,
        id: SlotId,
        capacity: u32,
    ) -> Result<(u32, u32), BookingError> {
        if capacity > 1_000_000 {
            return Err(BookingError::invalid(
                "group_capacity",
                "must be at most 1000000",
            ));
        }
        let previous = self
            .ledger()
            .slot(id)
            .map(|s| s.group_capacity)
            .ok_or(BookingError::NotFound { what: "slot" })?;
        // Lowering: the ledger first, so no group order slips in above the new figure.
        if capacity < previous {
            self.ledger().set_group_capacity(id, capacity)?;
        }
        if let Err(e) = self.store.set_group_capacity(id, capacity).await {
            if capacity < previous {
                let _ = self.ledger().set_group_capacity(id, previous);
            }
            return Err(match e {
                StoreError::Conflict(_) => BookingError::CapacityBelowTaken {
                    taken: self.ledger().slot(id).map_or(0, |s| s.group_taken),
                },
                other => self.store_error(other),
            });
        }
        if capacity >= previous {
            self.ledger().set_group_capacity(id, capacity)?;
        }
        self.group_stock(id)
    }

    /// A slot's group capacity and what groups hold.
    pub fn group_stock(&self, id: SlotId) -> Result<(u32, u32), BookingError> {
        self.ledger()
            .slot(id)
            .map(|s| (s.group_capacity, s.group_taken))
            .ok_or(BookingError::NotFound { what: "slot" })
    }
}
