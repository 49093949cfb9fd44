//! The waiting room as a service: protected releases kept in the database (through the
//! [`ProtectedReleaseStore`] port) and loaded into this node's [`WaitingRoom`] at start, so a
//! restart keeps every release and its seed. Every change to a line is an [`Event`]: on one
//! node it is applied here at once; with a [`SharedLog`] (Redis) it is appended to the log every
//! node applies in the same order, so all nodes hold the same lines, and one node at a time (the
//! log's leader) admits.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use gatehouse_domain::store::StoreError;
use gatehouse_domain::waiting::{NewProtectedRelease, ProtectedRelease, ProtectedReleaseStore};
use gatehouse_domain::Clock;
use jiff::{SignedDuration, Timestamp};

use crate::event::Event;
use crate::line::{Person, PlaceId};
use crate::room::{Release, RoomError, Status, WaitingRoom};
use crate::shuffle::Seed;
use crate::token::{Admission, TokenRefused};

/// The log every node appends its lines' events to and applies in one order (Redis).
#[async_trait::async_trait]
pub trait SharedLog: Send + Sync {
    /// Appends `event` to `release`'s log; returns once this node has applied it, with what
    /// applying it gave (a join's place).
    async fn append(&self, release: u64, event: Event) -> Result<Option<PlaceId>, RoomError>;
    /// Waits until this node has applied everything in `release`'s log so far.
    async fn catch_up(&self, release: u64) -> Result<(), RoomError>;
    /// Tells every node that `release` is protected now (they load it from the database).
    async fn announce(&self, release: u64) -> Result<(), RoomError>;
    /// Whether this node admits now (one node at a time does).
    fn leads(&self) -> bool;
    /// The slowest node's booking p99 (this node's `mine` included).
    fn cluster_p99_ms(&self, mine: f64) -> f64;
}

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
    shared: OnceLock<Arc<dyn SharedLog>>,
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
            shared: OnceLock::new(),
        };
        service.reload(today).await?;
        Ok(service)
    }

    /// Puts the releases from `today` on that the room does not hold yet into it (at start,
    /// and when another node announces one).
    pub async fn reload(&self, today: jiff::civil::Date) -> Result<(), StoreError> {
        for p in self.store.protected_releases(today).await? {
            let release = release_of(&p);
            let mut room = self.room();
            if !room.has(release.id) {
                room.protect(release, Seed(p.release.seed));
            }
        }
        Ok(())
    }

    /// From now on every change goes through `log`, shared with the other nodes. Set once,
    /// before serving; a second log is refused.
    pub fn share(&self, log: Arc<dyn SharedLog>) -> Result<(), &'static str> {
        self.shared
            .set(log)
            .map_err(|_| "the waiting room shares one log")
    }

    /// The release ids in the room.
    pub fn release_ids(&self) -> Vec<u64> {
        self.room().releases().map(|(r, _)| r.id).collect()
    }

    /// The museum's day today (what [`WaitingRoomService::reload`] starts from).
    pub fn today(&self, tz: &jiff::tz::TimeZone) -> jiff::civil::Date {
        self.clock.now().to_zoned(tz.clone()).date()
    }

    /// Applies `event` here (one node) or appends it to the shared log.
    async fn change(&self, release: u64, event: Event) -> Result<Option<PlaceId>, RoomError> {
        match self.shared.get() {
            Some(log) => log.append(release, event).await,
            None => self.room().apply(release, event),
        }
    }

    /// What the shared log's reader calls for each event, in the log's order.
    pub fn apply_logged(&self, release: u64, event: Event) -> Result<Option<PlaceId>, RoomError> {
        self.room().apply(release, event)
    }

    /// Joins `person`'s account to `release`'s line: its place (the line gives the same one
    /// again for the same device session), or why not. Callers ask [`Self::held`] first, so
    /// extra tabs need no event.
    pub async fn join(&self, release: u64, person: Person) -> Result<Status, RoomError> {
        let now = self.clock.now();
        let (account, session) = (person.account, person.session);
        let place = self
            .change(release, Event::Join { person, at: now })
            .await?
            .ok_or(RoomError::UnknownPlace)?;
        self.room().status(release, place, account, &session, now)
    }

    /// The place `account` holds on `session`, as far as this node knows (extra tabs: no
    /// event, no lookup).
    pub fn held(&self, release: u64, account: i64, session: &[u8; 32]) -> Option<Status> {
        let now = self.clock.now();
        let room = self.room();
        let place = room.place_of(release, account)?;
        room.status(release, place, account, session, now).ok()
    }

    /// Where `account`'s place on `session` stands, if it holds one.
    pub async fn status(
        &self,
        release: u64,
        account: i64,
        session: &[u8; 32],
    ) -> Result<Option<Status>, RoomError> {
        let now = self.clock.now();
        let mine = |room: &WaitingRoom| {
            room.place_of(release, account)
                .map(|place| room.status(release, place, account, session, now))
                .transpose()
        };
        let found = mine(&self.room())?;
        if found.is_some() || self.shared.get().is_none() {
            return Ok(found);
        }
        // Joined through another node a moment ago: this one may not have applied it yet.
        self.catch_up(release).await?;
        let found = mine(&self.room());
        found
    }

    async fn catch_up(&self, release: u64) -> Result<(), RoomError> {
        match self.shared.get() {
            Some(log) => log.catch_up(release).await,
            None => Ok(()),
        }
    }

    /// Checks a booking's admission `token` (see [`WaitingRoom::check`]); with a shared log, a
    /// place this node has not seen admitted yet is checked again once it caught up.
    pub async fn check(
        &self,
        release: u64,
        token: &str,
        account: i64,
        session: &[u8; 32],
    ) -> Result<Admission, TokenRefused> {
        let now = self.clock.now();
        let first = self.room().check(release, token, account, session, now);
        match first {
            Err(TokenRefused::Expired | TokenRefused::OtherRelease)
                if self.shared.get().is_some() =>
            {
                if self.catch_up(release).await.is_err() {
                    return first;
                }
                self.room().check(release, token, account, session, now)
            }
            other => other,
        }
    }

    /// The place booked (`bought`) or gave up: its window closes and the line moves on.
    pub async fn finish(
        &self,
        release: u64,
        place: PlaceId,
        bought: bool,
    ) -> Result<(), RoomError> {
        let at = self.clock.now();
        self.change(release, Event::Finish { place, bought, at })
            .await
            .map(|_| ())
    }

    /// The release sold out: nobody new joins and everyone waiting is told at once.
    pub async fn sell_out(&self, release: u64) -> Result<(), RoomError> {
        if self.room().is_sold_out(release) {
            return Ok(());
        }
        let at = self.clock.now();
        self.change(release, Event::SellOut { at })
            .await
            .map(|_| ())
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

    /// Moves every line on (the server calls it every 100 ms): on one node, or on the shared
    /// log's leader, the admissions due at the slowest node's booking p99.
    pub async fn tick(&self) -> Result<(), RoomError> {
        let mine = self.booking_p99_ms();
        let now = self.clock.now();
        let Some(log) = self.shared.get() else {
            self.room().tick(now, mine);
            return Ok(());
        };
        if !log.leads() {
            return Ok(());
        }
        let due = self.room().admissions_due(now, log.cluster_p99_ms(mine));
        for (release, event) in due {
            log.append(release, event).await?;
        }
        Ok(())
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
        if let Some(log) = self.shared.get() {
            // Stored already: a node that misses the announcement loads it at its next start.
            if let Err(e) = log.announce(release.id).await {
                tracing::warn!(release = release.id, error = %e, "could not announce a protected release");
            }
        }
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
