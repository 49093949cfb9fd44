//! The booking service: the application layer between adapters (HTTP, CLI) and the domain.
//!
//! It owns the one in-memory [`Ledger`] that decides every reservation, the [`Committer`] that
//! group-commits decisions to the store, a cache of the catalogue, and the order lifecycle
//! (place, cancel, refund, hold expiry). Personal data is sealed here, before it reaches the
//! store, and opened only to be masked.
//!
//! Architecture invariant: stock is taken in memory before it is written, and given back in
//! memory only after the release committed, so the ledger never promises stock the database
//! would refuse; the database constraints are the last line of defence.

mod accounts;
mod catalogue;
mod committer;
mod groups;
mod orders;
mod retention;
mod reveal;
mod rights;
mod seating;
mod seed;
mod settle;

use std::sync::{Arc, Mutex, MutexGuard};

use gatehouse_domain::breaker::{BreakerPolicy, GuardedCalls};
use gatehouse_domain::data_key::DataSubject;
use gatehouse_domain::ledger::{Ledger, SlotStock};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::BlindIndex;
use gatehouse_domain::store::{Store, StoreError};
use gatehouse_domain::ticket_code::TicketCodeIssuer;
use gatehouse_domain::{BookingError, Clock};
use gatehouse_privacy::{SubjectKey, Vault};
use jiff::tz::TimeZone;

pub use catalogue::{CatalogueView, ProductDetails, SlotAvailability};
pub use committer::{circuit_open, database_failed, BatchSink, Committer, GroupCommitter};
pub use orders::{MaskedTicket, OrderDetails, PlaceOrder, VisitorInput};
pub use retention::Purged;
pub use reveal::{ExportedOrder, ExportedTicket, RevealField};
pub use seating::ShowingSeats;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct BookingConfig {
    /// The museum's time zone: booking windows and slot dates are in it.
    pub museum_tz: TimeZone,
    /// When the ledger's writes stop being tried because the database keeps failing.
    pub database_breaker: BreakerPolicy,
}

impl Default for BookingConfig {
    fn default() -> Self {
        Self {
            museum_tz: TimeZone::get("Asia/Shanghai").unwrap_or(TimeZone::UTC),
            database_breaker: BreakerPolicy::database(),
        }
    }
}

pub struct BookingService {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    config: BookingConfig,
    ledger: Mutex<Ledger>,
    catalogue: std::sync::RwLock<catalogue::Cache>,
    committer: Committer,
    /// Serialises changes to one order (cancel, refund, expiry): 64 shards by order id.
    order_locks: Vec<tokio::sync::Mutex<()>>,
    /// Signs the codes of valid tickets; set once at start (tickets carry no code without it).
    code_issuer: std::sync::OnceLock<Arc<dyn TicketCodeIssuer>>,
    /// ID numbers locked by the no-show rule, with their end; refreshed from the store at
    /// start, on every tick, and when this node places or lifts a lock.
    id_locks: std::sync::RwLock<std::collections::HashMap<BlindIndex, jiff::Timestamp>>,
    id_locks_loaded: Mutex<Option<std::time::Instant>>,
}

/// How often housekeeping reloads the ID locks other nodes placed.
const ID_LOCK_RELOAD: std::time::Duration = std::time::Duration::from_secs(60);

impl BookingService {
    /// Loads the catalogue and rebuilds the ledger from the store. Must run inside a tokio runtime.
    pub async fn start(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        config: BookingConfig,
    ) -> Result<Arc<Self>, BookingError> {
        let database = Arc::new(GuardedCalls::new("database", config.database_breaker));
        let committer = Committer::start(store.clone(), database).map_err(|e| {
            tracing::error!(error = %e, "cannot start the committer thread");
            BookingError::Unavailable
        })?;
        let service = Self {
            store,
            vault,
            clock,
            config,
            ledger: Mutex::new(Ledger::new()),
            catalogue: std::sync::RwLock::new(catalogue::Cache::default()),
            committer,
            order_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
            code_issuer: std::sync::OnceLock::new(),
            id_locks: std::sync::RwLock::default(),
            id_locks_loaded: Mutex::new(None),
        };
        service.reload().await?;
        service.refresh_id_locks().await?;
        Ok(Arc::new(service))
    }

    /// Rebuilds the catalogue cache and the ledger from the store (start, and after a crash).
    async fn reload(&self) -> Result<(), BookingError> {
        let today = self
            .clock
            .now()
            .to_zoned(self.config.museum_tz.clone())
            .date();
        let snapshot = self
            .store
            .ledger_snapshot(today)
            .await
            .map_err(|e| self.store_error(e))?;
        let mut cache = catalogue::Cache::default();
        for product in self
            .store
            .list_products()
            .await
            .map_err(|e| self.store_error(e))?
        {
            for tt in self
                .store
                .list_ticket_types(product.id)
                .await
                .map_err(|e| self.store_error(e))?
            {
                cache.ticket_types.insert(tt.id, tt);
            }
            cache.products.insert(product.id, product);
        }
        let mut ledger = Ledger::new();
        for s in snapshot.slots {
            ledger.upsert_slot(
                s.slot.id,
                SlotStock {
                    product_id: s.slot.product_id,
                    kind: s.kind,
                    day: s.slot.date,
                    capacity: s.slot.capacity,
                    taken: s.slot.taken,
                    group_capacity: s.group_capacity,
                    group_taken: s.group_taken,
                },
            );
            cache.slots.insert(s.slot.id, s.slot);
        }
        for (id, day, kind, seq) in snapshot.claims {
            ledger.restore_claim(id, day, kind, seq);
        }
        for (account, day, seq) in snapshot.orders {
            ledger.restore_order(account, day, seq);
        }
        for (slot, seat) in snapshot.seats {
            ledger.restore_seat(slot, seat);
        }
        for (theatre, layout) in self
            .store
            .seat_maps()
            .await
            .map_err(|e| self.store_error(e))?
        {
            match gatehouse_domain::seats::SeatMap::parse(&layout) {
                Ok(map) => {
                    cache.seat_maps.insert(theatre, Arc::new(map));
                }
                Err(e) => {
                    tracing::error!(theatre, error = %e, "a stored seat map no longer parses; its showings are unseated")
                }
            }
        }
        *self.ledger() = ledger;
        *self
            .catalogue
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cache;
        Ok(())
    }

    /// Gives valid tickets their codes from now on. Only the first call counts.
    pub fn set_code_issuer(&self, issuer: Arc<dyn TicketCodeIssuer>) {
        let _ = self.code_issuer.set(issuer);
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn museum_tz(&self) -> &TimeZone {
        &self.config.museum_tz
    }

    /// The museum's calendar day now.
    pub fn today(&self) -> jiff::civil::Date {
        self.clock
            .now()
            .to_zoned(self.config.museum_tz.clone())
            .date()
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock cannot leave the ledger half-updated: every mutation
        // is decided before it is applied. So a poisoned lock is still safe to use.
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The account's data key to seal its orders' personal data with (made on first use).
    pub(crate) async fn sealing_key(
        &self,
        account: AccountId,
    ) -> Result<Arc<SubjectKey>, BookingError> {
        self.vault
            .sealing_key(&DataSubject::Account(account))
            .await
            .map_err(vault_error)
    }

    /// The account's data key to open its orders' personal data with (shredded once erased).
    pub(crate) async fn opening_key(
        &self,
        account: AccountId,
    ) -> Result<Arc<SubjectKey>, BookingError> {
        self.vault
            .opening_key(&DataSubject::Account(account))
            .await
            .map_err(vault_error)
    }

    /// Maps a storage failure to the domain; unexpected ones are logged, not shown.
    fn store_error(&self, e: StoreError) -> BookingError {
        match e {
            StoreError::NotFound(what) => BookingError::NotFound { what },
            StoreError::InUse(what) => BookingError::InUse { what },
            StoreError::DuplicateIdempotencyKey => BookingError::IdempotencyMismatch,
            StoreError::Conflict(c) => {
                tracing::warn!(constraint = %c, "storage refused a write");
                BookingError::Unavailable
            }
            StoreError::Backend(msg) => {
                tracing::error!(error = %msg, "storage failure");
                BookingError::Unavailable
            }
            // The breaker logged when it opened; one line per refused request would flood.
            StoreError::Unavailable { .. } => BookingError::Unavailable,
        }
    }

    /// Periodic housekeeping: expire due holds and forget past days. Returns holds expired.
    pub async fn tick(&self) -> usize {
        let now = self.clock.now();
        self.ledger().forget_before(self.today());
        // Other nodes' ID locks arrive this way; a minute is well inside a 30-day lock, and
        // this node reloads at once when it places or lifts one.
        let due = self
            .id_locks_loaded
            .lock()
            .map(|at| at.is_none_or(|t| t.elapsed() >= ID_LOCK_RELOAD))
            .unwrap_or(true);
        if due {
            if let Err(e) = self.refresh_id_locks().await {
                tracing::warn!(error = %e, "reloading ID locks failed; will retry");
            }
        }
        match self.expire_due_holds(now).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "expiring holds failed; will retry");
                0
            }
        }
    }

    /// Reloads the ID numbers the no-show rule locked (other nodes' locks arrive this way).
    pub async fn refresh_id_locks(&self) -> Result<(), BookingError> {
        let locks = self
            .store
            .active_id_locks(self.clock.now())
            .await
            .map_err(|e| self.store_error(e))?;
        if let Ok(mut held) = self.id_locks.write() {
            *held = locks.into_iter().collect();
        }
        if let Ok(mut at) = self.id_locks_loaded.lock() {
            *at = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// When `blind`'s ID lock ends, if it is locked at `now`.
    pub(crate) fn id_locked_until(
        &self,
        blind: &BlindIndex,
        now: jiff::Timestamp,
    ) -> Option<jiff::Timestamp> {
        let held = self.id_locks.read().ok()?;
        held.get(blind).copied().filter(|until| *until > now)
    }

    /// Runs [`BookingService::tick`] every `every` until the service is dropped.
    pub fn spawn_housekeeping(self: &Arc<Self>, every: std::time::Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(service) = weak.upgrade() else { break };
                service.tick().await;
            }
        });
    }
}

fn vault_error(e: gatehouse_privacy::PrivacyError) -> BookingError {
    tracing::error!(error = %e, "a data key could not be fetched");
    BookingError::Unavailable
}
