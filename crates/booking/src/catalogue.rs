//! The catalogue as the service keeps it: a cache of products, ticket types and bookable slots
//! (read on every booking, so it is never fetched per request), availability from the ledger,
//! and the staff operations that change the catalogue and keep cache and ledger in step.

use std::collections::HashMap;

use gatehouse_domain::catalogue::{
    NewSlot, Notice, Product, ProductId, ProductSpec, Slot, SlotId, TicketType, TicketTypeId,
};
use gatehouse_domain::ledger::SlotStock;
use gatehouse_domain::store::StoreError;
use gatehouse_domain::window::{museum_instant, BookingWindow};
use gatehouse_domain::BookingError;
use jiff::civil::Date;

use crate::BookingService;

#[derive(Debug, Default)]
pub(crate) struct Cache {
    pub products: HashMap<ProductId, Product>,
    pub ticket_types: HashMap<TicketTypeId, TicketType>,
    /// Bookable slots (today on); `taken` here is stale, the ledger has the live figure.
    pub slots: HashMap<SlotId, Slot>,
    /// Theatres' seat maps, by theatre name.
    pub seat_maps: HashMap<String, std::sync::Arc<gatehouse_domain::seats::SeatMap>>,
}

/// A slot with its live availability and booking window.
#[derive(Debug, Clone)]
pub struct SlotAvailability {
    pub slot: Slot,
    pub window: BookingWindow,
    pub remaining: u32,
}

/// A product with what a visitor needs to book it.
#[derive(Debug, Clone)]
pub struct ProductDetails {
    pub product: Product,
    pub ticket_types: Vec<TicketType>,
    pub notice: Option<Notice>,
}

/// The public catalogue.
#[derive(Debug, Clone)]
pub struct CatalogueView {
    pub products: Vec<Product>,
}

fn validate_ticket_type(name: &str, price_fen: u32) -> Result<(), BookingError> {
    gatehouse_domain::catalogue::text_field("name", name, 1, 60)?;
    if price_fen > 100_000_000 {
        return Err(BookingError::invalid(
            "price_fen",
            "must be at most 100000000 (one million yuan)",
        ));
    }
    Ok(())
}

impl BookingService {
    pub(crate) fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.catalogue
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.catalogue
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn cached_product(&self, id: ProductId) -> Option<Product> {
        self.cache().products.get(&id).cloned()
    }

    pub(crate) fn cached_slot(&self, id: SlotId) -> Option<Slot> {
        self.cache().slots.get(&id).cloned()
    }

    pub(crate) fn cached_ticket_type(&self, id: TicketTypeId) -> Option<TicketType> {
        self.cache().ticket_types.get(&id).cloned()
    }

    pub fn list_products(&self) -> CatalogueView {
        let mut products: Vec<Product> = self.cache().products.values().cloned().collect();
        products.sort_by_key(|p| p.id);
        CatalogueView { products }
    }

    pub async fn product_details(&self, id: ProductId) -> Result<ProductDetails, BookingError> {
        let product = self
            .cached_product(id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        let mut ticket_types: Vec<TicketType> = self
            .cache()
            .ticket_types
            .values()
            .filter(|t| t.product_id == id)
            .cloned()
            .collect();
        ticket_types.sort_by_key(|t| t.id);
        let notice = self
            .store
            .current_notice(id)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(ProductDetails {
            product,
            ticket_types,
            notice,
        })
    }

    fn availability(&self, slot: Slot, product: &Product) -> SlotAvailability {
        let live = self.ledger().slot(slot.id).cloned();
        let mut slot = slot;
        if let Some(stock) = live {
            slot.taken = stock.taken;
            slot.capacity = stock.capacity;
        }
        SlotAvailability {
            window: BookingWindow::of(&slot, &product.spec.rules, &self.config.museum_tz),
            remaining: slot.remaining(),
            slot,
        }
    }

    /// Slots of a product between two dates (inclusive) with live availability.
    pub async fn slots(
        &self,
        product: ProductId,
        from: Date,
        to: Date,
    ) -> Result<Vec<SlotAvailability>, BookingError> {
        let p = self
            .cached_product(product)
            .ok_or(BookingError::NotFound { what: "product" })?;
        if to < from || from.until(to).map(|s| s.get_days()).unwrap_or(i32::MAX) > 62 {
            return Err(BookingError::invalid(
                "to",
                "must be on or after from, at most 62 days later",
            ));
        }
        let slots = self
            .store
            .list_slots(product, from, to)
            .await
            .map_err(|e| self.store_error(e))?;
        Ok(slots
            .into_iter()
            .map(|s| self.availability(s, &p))
            .collect())
    }

    pub fn slot_availability(&self, id: SlotId) -> Result<SlotAvailability, BookingError> {
        let slot = self
            .cached_slot(id)
            .ok_or(BookingError::NotFound { what: "slot" })?;
        let product = self
            .cached_product(slot.product_id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        Ok(self.availability(slot, &product))
    }

    // Staff operations.

    pub async fn create_product(&self, spec: ProductSpec) -> Result<Product, BookingError> {
        spec.validate()?;
        let product = self
            .store
            .create_product(&spec)
            .await
            .map_err(|e| self.store_error(e))?;
        self.cache_mut()
            .products
            .insert(product.id, product.clone());
        Ok(product)
    }

    pub async fn update_product(
        &self,
        id: ProductId,
        spec: ProductSpec,
    ) -> Result<Product, BookingError> {
        spec.validate()?;
        let old = self
            .cached_product(id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        if old.spec.kind != spec.kind {
            // Claims and limits are counted per kind; changing it would orphan them.
            return Err(BookingError::invalid(
                "kind",
                "a product's kind cannot change",
            ));
        }
        let product = self
            .store
            .update_product(id, &spec)
            .await
            .map_err(|e| self.store_error(e))?;
        self.cache_mut()
            .products
            .insert(product.id, product.clone());
        Ok(product)
    }

    pub async fn delete_product(&self, id: ProductId) -> Result<(), BookingError> {
        self.store
            .delete_product(id)
            .await
            .map_err(|e| self.store_error(e))?;
        let mut cache = self.cache_mut();
        cache.products.remove(&id);
        cache.ticket_types.retain(|_, t| t.product_id != id);
        let gone: Vec<SlotId> = cache
            .slots
            .values()
            .filter(|s| s.product_id == id)
            .map(|s| s.id)
            .collect();
        drop(cache);
        let mut ledger = self.ledger();
        for slot in gone {
            ledger.remove_slot(slot);
            self.cache_mut().slots.remove(&slot);
        }
        Ok(())
    }

    pub async fn publish_notice(
        &self,
        product: ProductId,
        text: &str,
    ) -> Result<Notice, BookingError> {
        gatehouse_domain::catalogue::text_field("text", text, 1, 20_000)?;
        let notice = self
            .store
            .publish_notice(product, text, self.clock.now())
            .await
            .map_err(|e| self.store_error(e))?;
        if let Some(p) = self.cache_mut().products.get_mut(&product) {
            p.notice_version = notice.version;
        }
        Ok(notice)
    }

    pub async fn create_ticket_type(
        &self,
        product: ProductId,
        name: &str,
        price_fen: u32,
    ) -> Result<TicketType, BookingError> {
        validate_ticket_type(name, price_fen)?;
        self.cached_product(product)
            .ok_or(BookingError::NotFound { what: "product" })?;
        let tt = self
            .store
            .create_ticket_type(product, name, price_fen)
            .await
            .map_err(|e| self.store_error(e))?;
        self.cache_mut().ticket_types.insert(tt.id, tt.clone());
        Ok(tt)
    }

    pub async fn update_ticket_type(
        &self,
        id: TicketTypeId,
        name: &str,
        price_fen: u32,
    ) -> Result<TicketType, BookingError> {
        validate_ticket_type(name, price_fen)?;
        let tt = self
            .store
            .update_ticket_type(id, name, price_fen)
            .await
            .map_err(|e| self.store_error(e))?;
        self.cache_mut().ticket_types.insert(tt.id, tt.clone());
        Ok(tt)
    }

    pub async fn delete_ticket_type(&self, id: TicketTypeId) -> Result<(), BookingError> {
        self.store
            .delete_ticket_type(id)
            .await
            .map_err(|e| self.store_error(e))?;
        self.cache_mut().ticket_types.remove(&id);
        Ok(())
    }

    pub async fn create_slot(&self, new: NewSlot) -> Result<Slot, BookingError> {
        new.validate()?;
        let product = self
            .cached_product(new.product_id)
            .ok_or(BookingError::NotFound { what: "product" })?;
        let tz = &self.config.museum_tz;
        let starts_at = museum_instant(new.date, new.start, tz)?;
        let ends_at = museum_instant(new.date, new.end, tz)?;
        let slot = self
            .store
            .create_slot(&new, starts_at, ends_at)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => BookingError::invalid(
                    "start",
                    "the product already has a slot starting then on that date",
                ),
                other => self.store_error(other),
            })?;
        self.ledger().upsert_slot(
            slot.id,
            SlotStock {
                product_id: slot.product_id,
                kind: product.spec.kind,
                day: slot.date,
                capacity: slot.capacity,
                taken: 0,
                group_capacity: 0,
                group_taken: 0,
            },
        );
        self.cache_mut().slots.insert(slot.id, slot.clone());
        Ok(slot)
    }

    /// Changes a slot's capacity. A decrease takes effect in the ledger first (no new booking can
    /// use the removed stock); an increase only once the database has it.
    pub async fn set_slot_capacity(
        &self,
        id: SlotId,
        capacity: u32,
    ) -> Result<SlotAvailability, BookingError> {
        if capacity > 1_000_000 {
            return Err(BookingError::invalid("capacity", "must be at most 1000000"));
        }
        let previous = self
            .ledger()
            .slot(id)
            .map(|s| s.capacity)
            .ok_or(BookingError::NotFound { what: "slot" })?;
        if capacity < previous {
            self.ledger().set_capacity(id, capacity)?;
        }
        if let Err(e) = self.store.set_slot_capacity(id, capacity).await {
            if capacity < previous {
                let _ = self.ledger().set_capacity(id, previous);
            }
            return Err(match e {
                StoreError::Conflict(_) => BookingError::CapacityBelowTaken {
                    taken: self.ledger().slot(id).map_or(0, |s| s.taken),
                },
                other => self.store_error(other),
            });
        }
        if capacity >= previous {
            self.ledger().set_capacity(id, capacity)?;
        }
        if let Some(s) = self.cache_mut().slots.get_mut(&id) {
            s.capacity = capacity;
        }
        self.slot_availability(id)
    }

    pub async fn delete_slot(&self, id: SlotId) -> Result<(), BookingError> {
        self.store
            .delete_slot(id)
            .await
            .map_err(|e| self.store_error(e))?;
        self.ledger().remove_slot(id);
        self.cache_mut().slots.remove(&id);
        Ok(())
    }
}
