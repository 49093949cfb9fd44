//! Cinema seating in the booking service: theatres' seat maps (kept in the catalogue cache,
//! edited by staff), which showings are seated (a cinema product whose theatre has a map), the
//! seats a visitor picked checked against the map, and a showing's seats as visitors see them.
//! Whether a seat is free is decided by the ledger, with the order.

use std::sync::Arc;

use gatehouse_domain::catalogue::{Product, ProductKind, SlotId};
use gatehouse_domain::seats::{SeatMap, SeatMapLayout};
use gatehouse_domain::BookingError;

use crate::orders::PlaceOrder;
use crate::BookingService;

/// A showing's seats: the map and which seats are held or sold.
#[derive(Debug, Clone)]
pub struct ShowingSeats {
    pub theatre: String,
    pub map: Arc<SeatMap>,
    pub taken: Vec<String>,
}

impl BookingService {
    /// Creates or replaces a theatre's seat map (staff). Seats already sold keep their labels.
    pub async fn put_seat_map(
        &self,
        theatre: &str,
        layout: &SeatMapLayout,
    ) -> Result<Arc<SeatMap>, BookingError> {
        let theatre = theatre.trim();
        if theatre.is_empty()
            || theatre.chars().count() > 64
            || theatre.chars().any(char::is_control)
        {
            return Err(BookingError::invalid("theatre", "must be 1–64 characters"));
        }
        let map = SeatMap::parse(layout).map_err(|e| BookingError::invalid(e.field, e.message))?;
        self.store
            .put_seat_map(theatre, &map.layout(), self.clock.now())
            .await
            .map_err(|e| self.store_error(e))?;
        let map = Arc::new(map);
        self.cache_mut()
            .seat_maps
            .insert(theatre.to_owned(), map.clone());
        Ok(map)
    }

    /// Every theatre's seat map, by name.
    pub fn seat_maps(&self) -> Vec<(String, Arc<SeatMap>)> {
        let mut maps: Vec<_> = self
            .cache()
            .seat_maps
            .iter()
            .map(|(t, m)| (t.clone(), m.clone()))
            .collect();
        maps.sort_by(|a, b| a.0.cmp(&b.0));
        maps
    }

    /// The seat map a product's showings use: a cinema product's theatre, if it has one.
    pub(crate) fn seat_map_of(&self, product: &Product) -> Option<Arc<SeatMap>> {
        if product.spec.kind != ProductKind::Cinema {
            return None;
        }
        let theatre = product.spec.theatre_type.as_deref()?;
        self.cache().seat_maps.get(theatre).cloned()
    }

    /// The seats the visitor picked, as the map spells them; empty for "best available".
    pub(crate) fn chosen_seats(
        &self,
        req: &PlaceOrder,
        map: Option<&SeatMap>,
    ) -> Result<Vec<String>, BookingError> {
        if req.seats.is_empty() {
            return Ok(Vec::new());
        }
        let Some(map) = map else {
            return Err(BookingError::invalid(
                "tickets[0].seat",
                "this showing has no seats to choose",
            ));
        };
        if req.seats.len() != req.tickets.len() {
            return Err(BookingError::invalid(
                "tickets",
                "choose a seat for every ticket, or none for the best available",
            ));
        }
        req.seats
            .iter()
            .enumerate()
            .map(|(i, label)| {
                map.sellable_seat(label).map(str::to_owned).ok_or_else(|| {
                    BookingError::invalid(
                        format!("tickets[{i}].seat"),
                        "is not a seat of this theatre that is sold",
                    )
                })
            })
            .collect()
    }

    /// A showing's seats; `NotFound` if it is not a seated showing.
    pub fn showing_seats(&self, slot: SlotId) -> Result<ShowingSeats, BookingError> {
        let slot = self
            .cached_slot(slot)
            .ok_or(BookingError::NotFound { what: "slot" })?;
        let product = self
            .cached_product(slot.product_id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        let map = self
            .seat_map_of(&product)
            .ok_or(BookingError::NotFound { what: "seat map" })?;
        Ok(ShowingSeats {
            theatre: product.spec.theatre_type.unwrap_or_default(),
            map,
            taken: self.ledger().taken_seats(slot.id),
        })
    }
}
