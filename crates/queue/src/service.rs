//! The waiting room as a service: protected releases kept in the database (through the
//! [`ProtectedReleaseStore`] port) and loaded into this node's [`WaitingRoom`] at start, so a
//! restart keeps every release and its seed. The lines themselves are in memory on this node;
//! sharing them through Redis comes next.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gatehouse_domain::store::StoreError;
use gatehouse_domain::waiting::{NewProtectedRelease, ProtectedRelease, ProtectedReleaseStore};
use gatehouse_domain::Clock;
use jiff::{SignedDuration, Timestamp};

use crate::room::{Release, WaitingRoom};
use crate::shuffle::Seed;

/// Bounds on what staff may set.
pub const MIN_WINDOW_SECS: u32 = 60;
pub const MAX_WINDOW_SECS: u32 = 3_600;
pub const MAX_PREQUEUE: SignedDuration = SignedDuration::from_hours(24);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("{field} {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("this product's day is protected already")]
    AlreadyProtected,
    #[error(transparent)]
    Store(StoreError),
}

/// A protected release as the public sees it: its commitment always, its seed once it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRelease {
    pub release: Release,
    pub commitment: String,
    pub seed: Option<String>,
}

pub struct WaitingRoomService {
    room: Mutex<WaitingRoom>,
    store: Arc<dyn ProtectedReleaseStore>,
    clock: Arc<dyn Clock>,
    bookings: Mutex<Latencies>,
}

/// The last bookings' durations, for the admission rate's p99.
#[derive(Default)]
struct Latencies {
    ms: Vec<f64>,
    next: usize,
}

const LATENCIES_KEPT: usize = 1_024;

fn release_of(p: &ProtectedRelease) -> Release {
    Release {
        id: u64::try_from(p.id).unwrap_or(0),
        product: p.release.product.0,
        day: p.release.day,
        prequeue_opens_at: p.release.prequeue_opens_at,
        opens_at: p.release.opens_at,
        window: SignedDuration::from_secs(i64::from(p.release.window_secs)),
    }
}

impl WaitingRoomService {
    /// Loads the releases from `today` on into `room`.
    pub async fn load(
        room: WaitingRoom,
        store: Arc<dyn ProtectedReleaseStore>,
        clock: Arc<dyn Clock>,
        today: jiff::civil::Date,
    ) -> Result<Self, StoreError> {
        let service = Self {
            room: Mutex::new(room),
            store,
            clock,
            bookings: Mutex::new(Latencies::default()),
        };
        for p in service.store.protected_releases(today).await? {
            service.room().protect(release_of(&p), Seed(p.release.seed));
        }
        Ok(service)
    }

    /// This node's room (the lock is held only for in-memory work, never across an await).
    pub fn room(&self) -> MutexGuard<'_, WaitingRoom> {
        self.room.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Notes how long a booking took.
    pub fn record_booking(&self, took: std::time::Duration) {
        let mut b = self.bookings.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = took.as_secs_f64() * 1e3;
        if b.ms.len() < LATENCIES_KEPT {
            b.ms.push(ms);
        } else {
            let at = b.next;
            if let Some(slot) = b.ms.get_mut(at) {
                *slot = ms;
            }
        }
        b.next = (b.next + 1) % LATENCIES_KEPT;
    }

    /// The 99th percentile of the last bookings' durations (0 before any).
    pub fn booking_p99_ms(&self) -> f64 {
        let mut ms = self
            .bookings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ms
            .clone();
        if ms.is_empty() {
            return 0.0;
        }
        ms.sort_by(f64::total_cmp);
        let at = (ms.len() * 99).div_ceil(100).saturating_sub(1);
        ms.get(at).copied().unwrap_or(0.0)
    }

    /// Moves every line on (the server calls it every 100 ms).
    pub fn tick(&self) {
        let p99 = self.booking_p99_ms();
        let now = self.clock.now();
        self.room().tick(now, p99);
    }

    /// Protects a release: checked, stored with a fresh seed, then put in the room; what the
    /// public sees of it (the seed's commitment).
    pub async fn protect(
        &self,
        mut new: NewProtectedRelease,
    ) -> Result<PublishedRelease, QueueError> {
        let invalid = |field, message: &str| QueueError::Invalid {
            field,
            message: message.to_owned(),
        };
        if !(MIN_WINDOW_SECS..=MAX_WINDOW_SECS).contains(&new.window_secs) {
            return Err(invalid("window_minutes", "is 1 to 60 minutes"));
        }
        if new.prequeue_opens_at >= new.opens_at
            || new.opens_at - MAX_PREQUEUE > new.prequeue_opens_at
        {
            return Err(invalid(
                "prequeue_minutes",
                "is 1 minute to 24 hours before the opening",
            ));
        }
        if new.opens_at <= self.clock.now() {
            return Err(invalid("date", "opens in the past"));
        }
        new.seed = Seed::random().0;
        new.created_at = self.clock.now();
        let stored = self
            .store
            .protect_release(&new)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => QueueError::AlreadyProtected,
                other => QueueError::Store(other),
            })?;
        let release = release_of(&stored);
        let commitment = self
            .room()
            .protect(release.clone(), Seed(stored.release.seed));
        Ok(PublishedRelease {
            release,
            commitment,
            seed: None,
        })
    }

    /// Every protected release in the room, soonest first, as the public sees it.
    pub fn published(&self) -> Vec<PublishedRelease> {
        let now = self.clock.now();
        let room = self.room();
        let mut all: Vec<PublishedRelease> = room
            .releases()
            .map(|(release, seed)| publish(release, seed, now))
            .collect();
        all.sort_by_key(|p| (p.release.opens_at, p.release.id));
        all
    }

    /// One protected release as the public sees it (the waiting page asks at every refresh).
    pub fn published_release(&self, id: u64) -> Option<PublishedRelease> {
        let now = self.clock.now();
        let room = self.room();
        let found = room
            .releases()
            .find(|(release, _)| release.id == id)
            .map(|(release, seed)| publish(release, seed, now));
        found
    }
}

/// What the public sees of `release` at `now`: the commitment always, the seed once it opened.
fn publish(release: &Release, seed: &Seed, now: Timestamp) -> PublishedRelease {
    PublishedRelease {
        release: release.clone(),
        commitment: seed.commitment(),
        seed: (now >= release.opens_at).then(|| seed.to_hex()),
    }
}
