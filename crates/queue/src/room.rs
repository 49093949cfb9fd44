//! The waiting room of one node: every protected release's line, the admission rate that
//! moves each, and the admission tokens. Time is passed in; the caller ticks it (a task every
//! 100 ms in the server) and reports the booking path's health. The HTTP routes and the
//! booking gate are thin layers over these calls.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::event::Event;
use crate::line::{JoinRefused, Line, Person, PlaceId, Standing, Tally};
use crate::rate::{Rate, RateSettings};
use crate::shuffle::Seed;
use crate::token::{Admission, TokenKey, TokenRefused};

/// A release staff marked as protected: a product's day whose booking opens at `opens_at`,
/// with its pre-queue opening at `prequeue_opens_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: u64,
    pub product: i64,
    pub day: jiff::civil::Date,
    pub prequeue_opens_at: Timestamp,
    pub opens_at: Timestamp,
    /// How long an admitted person has to book.
    pub window: SignedDuration,
}

/// What a place's holder sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub place: PlaceId,
    /// The key of the place's poll address (`/q/{release}/{place}/{key}`): reading it needs no
    /// session, so a waiting page polls cheaply.
    pub poll_key: String,
    pub standing: Standing,
    /// Seconds until admission at the current rate (an estimate), while in line.
    pub wait_secs: Option<u64>,
    /// The admission token, once admitted (bound to the account and session).
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("no protected release {0}")]
    UnknownRelease(u64),
    #[error("no such place in this release")]
    UnknownPlace,
    #[error(transparent)]
    Refused(#[from] JoinRefused),
    /// The shared log (Redis) did not answer: nothing changed.
    #[error("the waiting room is unavailable: {0}")]
    Unavailable(String),
}

struct Protected {
    release: Release,
    seed: Seed,
    line: Line,
    rate: Rate,
    last_tick: Option<Timestamp>,
}

/// Every protected release on this node.
pub struct WaitingRoom {
    key: TokenKey,
    settings: RateSettings,
    releases: HashMap<u64, Protected>,
}

impl WaitingRoom {
    pub fn new(key: TokenKey, settings: RateSettings) -> Self {
        Self {
            key,
            settings,
            releases: HashMap::new(),
        }
    }

    /// Protects `release`, deciding its order by `seed`; its commitment (`SHA-256(seed)`),
    /// to publish now.
    pub fn protect(&mut self, release: Release, seed: Seed) -> String {
        let line = Line::new(release.prequeue_opens_at, release.opens_at, seed);
        let commitment = seed.commitment();
        self.releases.insert(
            release.id,
            Protected {
                release,
                seed,
                line,
                rate: Rate::new(self.settings),
                last_tick: None,
            },
        );
        commitment
    }

    /// Every protected release with its seed (callers publish only the commitment until the
    /// release opens).
    pub fn releases(&self) -> impl Iterator<Item = (&Release, &Seed)> {
        self.releases.values().map(|p| (&p.release, &p.seed))
    }

    /// The protected release of `product` whose booking day is `day`, if any.
    pub fn release_for(&self, product: i64, day: jiff::civil::Date) -> Option<&Release> {
        self.releases
            .values()
            .map(|p| &p.release)
            .find(|r| r.product == product && r.day == day)
    }

    /// The place `account` holds in `release`, if any.
    pub fn place_of(&self, release: u64, account: i64) -> Option<PlaceId> {
        self.releases.get(&release)?.line.place_of(account)
    }

    /// The seed, once the release has opened (before, only its commitment is public).
    pub fn revealed_seed(&self, release: u64, now: Timestamp) -> Option<Seed> {
        let p = self.releases.get(&release)?;
        (now >= p.release.opens_at).then_some(p.seed)
    }

    fn protected(&mut self, release: u64) -> Result<&mut Protected, RoomError> {
        self.releases
            .get_mut(&release)
            .ok_or(RoomError::UnknownRelease(release))
    }

    /// Joins `person` at `now` on this node alone (the service's join goes through the shared
    /// log when there is one).
    pub fn join(
        &mut self,
        release: u64,
        person: Person,
        now: Timestamp,
    ) -> Result<Status, RoomError> {
        let session = person.session;
        let account = person.account;
        let place = self
            .apply(release, Event::Join { person, at: now })?
            .ok_or(RoomError::UnknownPlace)?;
        self.status(release, place, account, &session, now)
    }

    /// Applies one event of `release`'s line: a join gives its place. Deterministic: the same
    /// events in the same order give every node the same line.
    pub fn apply(&mut self, release: u64, event: Event) -> Result<Option<PlaceId>, RoomError> {
        let p = self.protected(release)?;
        match event {
            Event::Join { person, at } => return Ok(Some(p.line.join(person, at)?)),
            Event::Admit { n, at } => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                p.line.admit(n, at, p.release.window);
            }
            Event::Finish { place, bought, .. } => p.line.finish(place, bought),
            Event::SellOut { .. } => p.line.sell_out(),
        }
        Ok(None)
    }

    /// Where `place` stands for its holder (`account` on `session`), with the admission token
    /// once admitted. Someone else asking about the place learns nothing.
    pub fn status(
        &self,
        release: u64,
        place: PlaceId,
        account: i64,
        session: &[u8; 32],
        now: Timestamp,
    ) -> Result<Status, RoomError> {
        let key = &self.key;
        let p = self
            .releases
            .get(&release)
            .ok_or(RoomError::UnknownRelease(release))?;
        let standing = p.line.standing(place, now).ok_or(RoomError::UnknownPlace)?;
        if p.line.owner(place) != Some((account, *session)) {
            return Err(RoomError::UnknownPlace);
        }
        let wait_secs = match standing {
            Standing::InLine { ahead } => {
                let per_s = p.rate.per_s().max(f64::MIN_POSITIVE);
                // An estimate for people: whole seconds are enough.
                Some((ahead as f64 / per_s).ceil() as u64)
            }
            _ => None,
        };
        let token = match standing {
            Standing::Admitted { until } => Some(key.sign(
                &Admission {
                    release,
                    place,
                    account,
                    until,
                },
                session,
            )),
            _ => None,
        };
        Ok(Status {
            place,
            poll_key: key.poll_key(release, place, session),
            standing,
            wait_secs,
            token,
        })
    }

    /// Where `place` stands for whoever holds its poll `key` (what the waiting page polls):
    /// the same as [`WaitingRoom::status`] for its holder; a wrong key learns nothing.
    pub fn status_by_key(
        &self,
        release: u64,
        place: PlaceId,
        key: &str,
        now: Timestamp,
    ) -> Result<Status, RoomError> {
        let (account, session) = self
            .releases
            .get(&release)
            .ok_or(RoomError::UnknownRelease(release))?
            .line
            .owner(place)
            .ok_or(RoomError::UnknownPlace)?;
        let expected = self.key.poll_key(release, place, &session);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            key.as_bytes(),
        )) {
            return Err(RoomError::UnknownPlace);
        }
        self.status(release, place, account, &session, now)
    }

    /// The admissions due at `now` for the time since the last call, at each line's rate
    /// after adapting it to the booking path's `p99_ms`: one event per line that opens or
    /// admits someone (the node that moves the lines applies them, or appends them to the
    /// shared log).
    pub fn admissions_due(&mut self, now: Timestamp, p99_ms: f64) -> Vec<(u64, Event)> {
        let mut due = Vec::new();
        for (id, p) in &mut self.releases {
            let in_flight = p.line.in_flight(now);
            let secs = p
                .last_tick
                .map_or(0.0, |last| now.duration_since(last).as_secs_f64().max(0.0));
            p.last_tick = Some(now);
            if now < p.release.opens_at || p.line.is_sold_out() {
                continue;
            }
            p.rate.adjust(p99_ms, in_flight);
            let n = p.rate.admissions(secs);
            if (n > 0 && p.line.waiting() > 0) || !p.line.is_open() {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                due.push((*id, Event::Admit { n, at: now }));
            }
        }
        due
    }

    /// Moves every line on by itself (one node): the admissions due, applied.
    pub fn tick(&mut self, now: Timestamp, p99_ms: f64) {
        for (release, event) in self.admissions_due(now, p99_ms) {
            // Every release named is in the room: it was just read from it.
            let _ = self.apply(release, event);
        }
    }

    /// Checks a booking request's admission `token` for `release`: valid, unexpired, for this
    /// account and session, and its place still inside its window.
    pub fn check(
        &self,
        release: u64,
        token: &str,
        account: i64,
        session: &[u8; 32],
        now: Timestamp,
    ) -> Result<Admission, TokenRefused> {
        let admission = self.key.verify(token, release, account, session, now)?;
        let p = self
            .releases
            .get(&release)
            .ok_or(TokenRefused::OtherRelease)?;
        if !p.line.admits(admission.place, account, session, now) {
            return Err(TokenRefused::Expired);
        }
        Ok(admission)
    }

    /// Whether `release` sold out.
    pub fn is_sold_out(&self, release: u64) -> bool {
        self.releases
            .get(&release)
            .is_some_and(|p| p.line.is_sold_out())
    }

    /// Whether `release` is protected in this room.
    pub fn has(&self, release: u64) -> bool {
        self.releases.contains_key(&release)
    }

    /// The fairness report of `release` (see [`Line::report`]).
    pub fn report(&self, release: u64, buckets: usize) -> Option<crate::line::Report> {
        self.releases.get(&release).map(|p| p.line.report(buckets))
    }

    pub fn tally(&self, release: u64) -> Option<Tally> {
        self.releases.get(&release).map(|p| p.line.tally())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nine() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn release() -> Release {
        Release {
            id: 1,
            product: 7,
            day: jiff::civil::date(2027, 1, 15),
            prequeue_opens_at: nine() - SignedDuration::from_mins(30),
            opens_at: nine(),
            window: SignedDuration::from_mins(5),
        }
    }

    fn person(account: i64) -> Person {
        Person {
            account,
            session: [u8::try_from(account % 200).unwrap_or(0); 32],
            keys: vec![[u8::try_from(account % 200).unwrap_or(0); 32]],
        }
    }

    #[test]
    fn joined_people_are_admitted_at_the_rate_and_their_tokens_work_only_for_them() {
        let mut room = WaitingRoom::new(
            TokenKey::new([5; 32]),
            RateSettings {
                start_per_s: 10.0,
                ..RateSettings::default()
            },
        );
        let commitment = room.protect(release(), Seed([2; 32]));
        assert_eq!(commitment, Seed([2; 32]).commitment());
        assert_eq!(
            room.revealed_seed(1, nine() - SignedDuration::from_secs(1)),
            None
        );
        let early = nine() - SignedDuration::from_mins(10);
        for a in 1..=100 {
            let s = room
                .join(1, person(a), early)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.standing, Standing::Waiting);
            assert!(s.token.is_none());
        }
        assert_eq!(
            room.release_for(7, jiff::civil::date(2027, 1, 15))
                .map(|r| r.id),
            Some(1)
        );
        // The first tick at the opening only adapts the rate (10 → 20/s); a second later, at
        // 30/s, thirty are admitted.
        room.tick(nine(), 50.0);
        room.tick(nine() + SignedDuration::from_secs(1), 50.0);
        assert_eq!(room.tally(1).unwrap_or_default().admitted, 30);
        let (mut admitted, mut waiting) = (0, None);
        let now = nine() + SignedDuration::from_secs(2);
        for a in 1..=100 {
            let place = PlaceId(u64::try_from(a).unwrap_or(0));
            let s = room
                .status(1, place, a, &person(a).session, now)
                .unwrap_or_else(|e| panic!("{e}"));
            if let Some(token) = s.token {
                admitted += 1;
                assert!(room.check(1, &token, a, &person(a).session, now).is_ok());
                assert_eq!(
                    room.check(1, &token, a, &[250; 32], now),
                    Err(TokenRefused::OtherHolder)
                );
                assert_eq!(
                    room.check(1, &token, a + 1, &person(a).session, now),
                    Err(TokenRefused::OtherHolder)
                );
                assert_eq!(
                    room.check(2, &token, a, &person(a).session, now),
                    Err(TokenRefused::OtherRelease)
                );
                let finish = Event::Finish {
                    place: s.place,
                    bought: true,
                    at: now,
                };
                assert_eq!(room.apply(1, finish), Ok(None));
                assert_eq!(
                    room.check(1, &token, a, &person(a).session, now),
                    Err(TokenRefused::Expired),
                    "used"
                );
            } else {
                assert!(matches!(s.standing, Standing::InLine { .. }), "{s:?}");
                assert!(s.wait_secs.is_some());
                waiting = Some((place, a));
            }
        }
        assert_eq!(admitted, 30);
        // The poll address works without a session, and only with its key.
        let (place, a) = waiting.unwrap_or((PlaceId(0), 0));
        let mine = room
            .status(1, place, a, &person(a).session, now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            room.status_by_key(1, place, &mine.poll_key, now)
                .map(|s| s.standing),
            Ok(mine.standing)
        );
        assert_eq!(
            room.status_by_key(1, place, "AAAAAAAAAAAAAAAAAAAAAA", now),
            Err(RoomError::UnknownPlace)
        );
        assert_eq!(
            room.status_by_key(1, PlaceId(1), &mine.poll_key, now)
                .map(|s| s.place),
            if place == PlaceId(1) {
                Ok(place)
            } else {
                Err(RoomError::UnknownPlace)
            }
        );
        // Someone else asking about a place learns nothing.
        assert_eq!(
            room.status(1, PlaceId(1), 999, &[9; 32], now),
            Err(RoomError::UnknownPlace)
        );
        assert_eq!(room.revealed_seed(1, nine()), Some(Seed([2; 32])));
        assert_eq!(room.apply(1, Event::SellOut { at: now }), Ok(None));
        let (place, a) = waiting.unwrap_or((PlaceId(0), 0));
        let told = room
            .status(1, place, a, &person(a).session, now)
            .map(|s| s.standing);
        assert_eq!(told, Ok(Standing::SoldOut));
    }
}
