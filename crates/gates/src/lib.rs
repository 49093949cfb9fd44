//! Tickets at the gate. The server side is [`GateService`]: registered gate devices with
//! revocable credentials (`devices.rs`), online check-in through a group commit that admits a
//! ticket at most once (`scan.rs`), and for offline gates the day's bundle, their uploads, the
//! tickets let in twice, and live counts (`day.rs`); no-shows and the locks they earn
//! (`no_shows.rs`). The gate side is [`OfflineGate`]
//! (`offline.rs`): what a gate decides on its own with a downloaded bundle, and the journal of
//! entries it uploads when it reconnects. The wire form of the bundle is shared (`bundle.rs`).
//!
//! Architecture invariant: a ticket is admitted online at most once — decided inside the
//! transaction that records it, against the `check_ins` primary key.

mod bundle;
mod day;
mod devices;
mod no_shows;
mod offline;
mod scan;

use std::sync::Arc;

use gatehouse_booking::GroupCommitter;
use gatehouse_domain::breaker::{BreakerPolicy, GuardedCalls};
use gatehouse_domain::check_in::ScanRefused;
use gatehouse_domain::gate::GateStore;
use gatehouse_domain::no_show::{NoShowRule, NoShowStore};
use gatehouse_domain::store::StoreError;
use gatehouse_domain::Clock;
use gatehouse_tickets::{TicketVerifier, TokenRefused};
use jiff::tz::TimeZone;

pub use bundle::{BundleEntry, BundleGroup, BundleKey, BundleTicket, GateBundle, RevokedTicket};
pub use day::UploadedEntry;
pub use devices::{DeviceCredential, DEVICE_TOKEN_PREFIX};
pub use no_shows::SweepOutcome;
pub use offline::{Admitted, JournalLine, OfflineGate};
pub use scan::{CheckedIn, GroupAdmitted};

/// Why a gate operation failed. Ticket refusals carry the domain's [`ScanRefused`].
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{0}")]
    Code(#[from] TokenRefused),
    #[error("{0}")]
    Refused(ScanRefused),
    #[error("unknown or revoked gate device")]
    DeviceUnknown,
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("storage is unavailable")]
    Unavailable,
}

impl GateError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for GateError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => GateError::NotFound(what),
            StoreError::Conflict(why) => GateError::Conflict(why),
            other => {
                tracing::error!(error = %other, "gate storage failed");
                GateError::Unavailable
            }
        }
    }
}

/// How the gates work.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// The museum's time zone: days and the times gates show are on its clock.
    pub museum_tz: TimeZone,
    /// How long after its slot ends a ticket still admits (the ticket codes' late margin): a
    /// ticket is a no-show only after that.
    pub late_entry: jiff::SignedDuration,
    pub no_show: NoShowRule,
    /// When check-ins stop being tried because the database keeps failing.
    pub database_breaker: BreakerPolicy,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            museum_tz: TimeZone::get("Asia/Shanghai").unwrap_or(TimeZone::UTC),
            late_entry: jiff::SignedDuration::ZERO,
            no_show: NoShowRule::default(),
            database_breaker: BreakerPolicy::database(),
        }
    }
}

/// The server side of the gates.
pub struct GateService {
    store: Arc<dyn GateStore>,
    no_shows: Arc<dyn NoShowStore>,
    clock: Arc<dyn Clock>,
    config: GateConfig,
    verifier: TicketVerifier,
    /// The public keys offline gates download, by key id.
    public_keys: Vec<(u16, [u8; 32])>,
    committer: GroupCommitter<scan::CheckInSink>,
    devices: devices::DeviceCache,
}

impl GateService {
    /// Starts the service and its check-in committer. `public_keys` are the ticket-code keys
    /// gates accept (the current one, and any retired one still on valid tickets).
    pub fn start(
        store: Arc<dyn GateStore>,
        no_shows: Arc<dyn NoShowStore>,
        clock: Arc<dyn Clock>,
        config: GateConfig,
        public_keys: Vec<(u16, [u8; 32])>,
    ) -> std::io::Result<Self> {
        let database = Arc::new(GuardedCalls::new("database", config.database_breaker));
        let committer = GroupCommitter::start(
            "gatehouse-gates",
            scan::CheckInSink(store.clone()),
            database,
        )?;
        Ok(Self {
            verifier: TicketVerifier::new(public_keys.iter().copied()),
            public_keys,
            no_shows,
            store,
            clock,
            config,
            committer,
            devices: devices::DeviceCache::default(),
        })
    }

    pub fn museum_tz(&self) -> &TimeZone {
        &self.config.museum_tz
    }

    /// What a refusal shows at the gate, on the museum's clock.
    pub fn describe(&self, refused: &ScanRefused) -> String {
        refused.describe(&self.config.museum_tz)
    }
}
