//! What the booking service answers for group bookings: which of a member list's ID numbers
//! already hold a ticket for a slot's day (of the slot's product kind), read from the ledger's
//! claims by blind index, so no ID number is ever looked up in clear.

use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::identity::IdDocument;
use gatehouse_domain::personal::{BlindIndex, ID_NUMBER_INDEX};
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
                let blind = BlindIndex(self.keys.blind_index(ID_NUMBER_INDEX, d.normalised()));
                ledger.claims_of(blind, slot.date, product.spec.kind) > 0
            })
            .collect())
    }
}
