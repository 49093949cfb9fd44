//! One protected release's line: who joined and when, one place per person, the pre-queue
//! shuffled at the opening by the committed seed, later joiners behind in arrival order, and the
//! front of the line admitted a batch at a time. Time is passed in; nothing here sleeps, reads a
//! clock or does I/O, so the same rules run in memory for one node and over Redis for many.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;

use crate::shuffle::{shuffle, Seed};

/// A place in the line (its number in join order, from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaceId(pub u64);

/// What makes one person one person here: their account, and the blind indexes of their phone
/// and ID number when known. Any one already holding a place means the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub account: i64,
    /// The device session the place is bound to (a digest of the session token).
    pub session: [u8; 32],
    /// Blind indexes (phone, ID numbers) that must not hold another place.
    pub keys: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// The account already holds a place, bound to another session.
    #[error("this account already holds a place on another device")]
    OtherSession,
    /// The phone or an ID number already holds a place through another account.
    #[error("this phone or ID number already holds a place")]
    Duplicate,
    /// Before the pre-queue opens.
    #[error("the queue opens at {0}")]
    NotOpen(Timestamp),
    /// The release sold out: nobody new joins.
    #[error("sold out")]
    SoldOut,
}

impl Standing {
    /// Its name where it is shown to clients (`in_line`, `sold_out` …).
    pub fn name(&self) -> &'static str {
        match self {
            Standing::Waiting => "waiting",
            Standing::InLine { .. } => "in_line",
            Standing::Admitted { .. } => "admitted",
            Standing::Done => "done",
            Standing::SoldOut => "sold_out",
        }
    }
}

/// Where a place stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Joined before the opening: the order is decided at the opening.
    Waiting,
    /// In line: `ahead` places before it.
    InLine { ahead: u64 },
    /// Admitted until the instant given.
    Admitted { until: Timestamp },
    /// Its window ended unused, or it was used: it left the line.
    Done,
    /// The release sold out before it was admitted.
    SoldOut,
}

#[derive(Debug, Clone)]
struct Place {
    person: Person,
    joined_at: Timestamp,
    /// Its index in the order, once it has one.
    at: Option<usize>,
    admitted_until: Option<Timestamp>,
    /// Its place among those admitted (0: the first).
    rank: Option<u64>,
    bought: bool,
    done: bool,
}

/// What happened in a line, for the fairness report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub joined: u64,
    pub prequeued: u64,
    pub admitted: u64,
    pub bought: u64,
    pub abandoned: u64,
    pub refused_duplicate: u64,
    pub refused_other_session: u64,
}

/// One release's line.
#[derive(Debug)]
pub struct Line {
    prequeue_opens_at: Timestamp,
    opens_at: Timestamp,
    seed: Seed,
    places: Vec<Place>,
    by_account: HashMap<i64, PlaceId>,
    by_key: HashMap<[u8; 32], PlaceId>,
    /// The order, once open: place ids, front first.
    order: Vec<PlaceId>,
    /// How many of `order` have been admitted or passed over (the front).
    front: usize,
    /// Admission windows in the order they end (all windows are equally long).
    windows: VecDeque<(PlaceId, Timestamp)>,
    in_flight: usize,
    opened: bool,
    sold_out: bool,
    tally: Tally,
}

impl Line {
    pub fn new(prequeue_opens_at: Timestamp, opens_at: Timestamp, seed: Seed) -> Self {
        Self {
            prequeue_opens_at,
            opens_at,
            seed,
            places: Vec::new(),
            by_account: HashMap::new(),
            by_key: HashMap::new(),
            order: Vec::new(),
            front: 0,
            windows: VecDeque::new(),
            in_flight: 0,
            opened: false,
            sold_out: false,
            tally: Tally::default(),
        }
    }

    /// Joins `person` at `now`: their place (the same one again for the same account and
    /// session, as from another tab), or why not.
    pub fn join(&mut self, person: Person, now: Timestamp) -> Result<PlaceId, JoinRefused> {
        if self.sold_out {
            return Err(JoinRefused::SoldOut);
        }
        if now < self.prequeue_opens_at {
            return Err(JoinRefused::NotOpen(self.prequeue_opens_at));
        }
        if let Some(&id) = self.by_account.get(&person.account) {
            let held = self.place(id).map(|p| p.person.session);
            if held == Some(person.session) {
                return Ok(id);
            }
            self.tally.refused_other_session += 1;
            return Err(JoinRefused::OtherSession);
        }
        if person.keys.iter().any(|k| self.by_key.contains_key(k)) {
            self.tally.refused_duplicate += 1;
            return Err(JoinRefused::Duplicate);
        }
        self.open_if_due(now);
        let id = PlaceId(self.places.len() as u64 + 1);
        self.by_account.insert(person.account, id);
        for k in &person.keys {
            self.by_key.insert(*k, id);
        }
        let at = self.opened.then_some(self.order.len());
        self.places.push(Place {
            person,
            joined_at: now,
            at,
            admitted_until: None,
            rank: None,
            bought: false,
            done: false,
        });
        if self.opened {
            self.order.push(id);
        } else {
            self.tally.prequeued += 1;
        }
        self.tally.joined += 1;
        Ok(id)
    }

    fn place(&self, id: PlaceId) -> Option<&Place> {
        self.places.get(usize::try_from(id.0).ok()?.checked_sub(1)?)
    }

    fn place_mut(&mut self, id: PlaceId) -> Option<&mut Place> {
        self.places
            .get_mut(usize::try_from(id.0).ok()?.checked_sub(1)?)
    }

    /// At the opening (the first join or admission applied at or after it): everyone who
    /// joined before is put in the order the committed seed decides. Only events open the line
    /// — never a read at some node's clock — so every node puts the same people in the shuffle.
    fn open_if_due(&mut self, now: Timestamp) {
        if self.opened || now < self.opens_at {
            return;
        }
        let mut early: Vec<PlaceId> = (1..=self.places.len() as u64).map(PlaceId).collect();
        shuffle(&mut early, &self.seed);
        for (at, id) in early.iter().enumerate() {
            if let Some(p) = self.place_mut(*id) {
                p.at = Some(at);
            }
        }
        self.order = early;
        self.opened = true;
    }

    /// The place ids that joined before the opening, in join order: what is published with
    /// the seed after the release, so anyone can re-run the shuffle.
    pub fn prequeue_in_join_order(&self) -> Vec<PlaceId> {
        self.places
            .iter()
            .enumerate()
            .filter(|(_, p)| p.joined_at < self.opens_at)
            .map(|(i, _)| PlaceId(i as u64 + 1))
            .collect()
    }

    /// Admits up to `n` places from the front (skipping places that left) for `window` each;
    /// the ones admitted.
    pub fn admit(
        &mut self,
        n: usize,
        now: Timestamp,
        window: jiff::SignedDuration,
    ) -> Vec<PlaceId> {
        self.open_if_due(now);
        self.expire(now);
        let mut admitted = Vec::new();
        if !self.opened || self.sold_out {
            return admitted;
        }
        while admitted.len() < n {
            let Some(&id) = self.order.get(self.front) else {
                break;
            };
            self.front += 1;
            let until = now + window;
            let rank = self.tally.admitted + admitted.len() as u64;
            if let Some(p) = self.place_mut(id).filter(|p| !p.done) {
                p.admitted_until = Some(until);
                p.rank = Some(rank);
                admitted.push(id);
            }
        }
        for id in &admitted {
            self.windows.push_back((*id, now + window));
        }
        self.in_flight += admitted.len();
        self.tally.admitted += admitted.len() as u64;
        admitted
    }

    /// Closes the windows that ended by `now` unused: their capacity goes back into the flow.
    fn expire(&mut self, now: Timestamp) {
        while let Some(&(id, until)) = self.windows.front() {
            if until > now {
                break;
            }
            self.windows.pop_front();
            if let Some(p) = self.place_mut(id).filter(|p| !p.done) {
                p.done = true;
                self.in_flight -= 1;
                self.tally.abandoned += 1;
            }
        }
    }

    /// Admitted places whose window is still open at `now` (the load the line puts on
    /// booking). Read only: windows close in the line's state only when an admission is
    /// applied ([`Line::admit`]), at the instant it names, so every node applying the same
    /// events keeps the same line whatever its own clock says.
    pub fn in_flight(&self, now: Timestamp) -> usize {
        let ended = self
            .windows
            .iter()
            .take_while(|(_, until)| *until <= now)
            .filter(|(id, _)| self.place(*id).is_some_and(|p| !p.done))
            .count();
        self.in_flight - ended
    }

    /// Whether the opening's shuffle has been applied.
    pub fn is_open(&self) -> bool {
        self.opened
    }

    /// Whether the release sold out.
    pub fn is_sold_out(&self) -> bool {
        self.sold_out
    }

    /// Places still waiting to be admitted.
    pub fn waiting(&self) -> usize {
        if self.opened {
            self.order.len() - self.front
        } else {
            self.places.len()
        }
    }

    /// The place booked (`bought`) or gave up: it leaves the line.
    pub fn finish(&mut self, id: PlaceId, bought: bool) {
        let Some(p) = self.place_mut(id).filter(|p| !p.done) else {
            return;
        };
        p.done = true;
        p.bought = bought;
        let was_admitted = p.admitted_until.is_some();
        if was_admitted {
            self.in_flight -= 1;
        }
        if bought {
            self.tally.bought += 1;
        }
    }

    /// The release sold out: nobody new joins and everyone still waiting is told at once.
    pub fn sell_out(&mut self) {
        self.sold_out = true;
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }

    pub fn standing(&self, id: PlaceId, now: Timestamp) -> Option<Standing> {
        let p = self.place(id)?;
        if p.done {
            return Some(Standing::Done);
        }
        if let Some(until) = p.admitted_until {
            return Some(if until > now {
                Standing::Admitted { until }
            } else {
                Standing::Done
            });
        }
        if self.sold_out {
            return Some(Standing::SoldOut);
        }
        if !self.opened {
            return Some(Standing::Waiting);
        }
        let at = p.at?;
        Some(Standing::InLine {
            ahead: at.saturating_sub(self.front) as u64,
        })
    }

    /// Whether `id` is admitted at `now` for this account and session (what an admission token
    /// is checked against besides its signature).
    pub fn admits(&self, id: PlaceId, account: i64, session: &[u8; 32], now: Timestamp) -> bool {
        self.place(id).is_some_and(|p| {
            p.person.account == account
                && p.person.session == *session
                && !p.done
                && p.admitted_until.is_some_and(|until| until > now)
        })
    }

    /// The place `account` holds, if any.
    pub fn place_of(&self, account: i64) -> Option<PlaceId> {
        self.by_account.get(&account).copied()
    }

    /// Who holds `id`: their account and the session it is bound to.
    pub fn owner(&self, id: PlaceId) -> Option<(i64, [u8; 32])> {
        self.place(id).map(|p| (p.person.account, p.person.session))
    }

    /// The fairness report: the tally, and outcomes by join time — the pre-queue cut into
    /// `buckets` equal spans from its first join to the opening, then everyone who joined after
    /// — with the two-sample Kolmogorov–Smirnov statistic of the admission ranks of the
    /// pre-queue's earlier and later halves (by join time) against its critical value at
    /// α = 0.001: a fair shuffle keeps the statistic below it.
    pub fn report(&self, buckets: usize) -> Report {
        let buckets = buckets.max(1);
        let early: Vec<&Place> = self
            .places
            .iter()
            .filter(|p| p.joined_at < self.opens_at)
            .collect();
        let first = early
            .iter()
            .map(|p| p.joined_at)
            .min()
            .unwrap_or(self.opens_at);
        let span = self.opens_at.duration_since(first).as_millis().max(1);
        let mut rows: Vec<Bucket> = (0..buckets)
            .map(|i| Bucket {
                from: first
                    + jiff::SignedDuration::from_millis(
                        i64::try_from(span * i as i128 / buckets as i128).unwrap_or(0),
                    ),
                ..Bucket::default()
            })
            .collect();
        rows.push(Bucket {
            from: self.opens_at,
            ..Bucket::default()
        });
        let mut rank_sums = vec![0u128; buckets + 1];
        for p in &self.places {
            let at = if p.joined_at >= self.opens_at {
                buckets
            } else {
                let offset = p.joined_at.duration_since(first).as_millis().max(0);
                usize::try_from(offset * buckets as i128 / span)
                    .unwrap_or(0)
                    .min(buckets - 1)
            };
            if let Some(row) = rows.get_mut(at) {
                row.joined += 1;
                if let Some(rank) = p.rank {
                    row.admitted += 1;
                    if let Some(sum) = rank_sums.get_mut(at) {
                        *sum += u128::from(rank);
                    }
                }
                if p.bought {
                    row.bought += 1;
                }
            }
        }
        for (row, sum) in rows.iter_mut().zip(&rank_sums) {
            row.mean_rank = (row.admitted > 0).then(|| *sum as f64 / row.admitted as f64);
        }
        // The pre-queue by join time: the admission ranks of its first and second halves.
        let mut by_time: Vec<&&Place> = early.iter().filter(|p| p.rank.is_some()).collect();
        by_time.sort_by_key(|p| p.joined_at);
        let half = by_time.len() / 2;
        let ranks = |part: &[&&Place]| -> Vec<f64> {
            part.iter()
                .filter_map(|p| p.rank)
                .map(|r| r as f64)
                .collect()
        };
        let (a, b) = (
            ranks(by_time.get(..half).unwrap_or_default()),
            ranks(by_time.get(half..).unwrap_or_default()),
        );
        let (d, critical) = if a.is_empty() || b.is_empty() {
            (None, None)
        } else {
            let (n, m) = (a.len() as f64, b.len() as f64);
            (
                Some(ks_statistic(a, b)),
                Some(1.949 * ((n + m) / (n * m)).sqrt()),
            )
        };
        Report {
            tally: self.tally,
            buckets: rows,
            ks_d: d,
            ks_critical_001: critical,
        }
    }

    /// Places joined.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// When `id` joined.
    pub fn joined_at(&self, id: PlaceId) -> Option<Timestamp> {
        self.place(id).map(|p| p.joined_at)
    }

    /// The order's place ids, front first (empty before the opening).
    pub fn order(&self) -> &[PlaceId] {
        &self.order
    }
}

/// Joins in one span of time and what became of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    /// The span's start (the last span starts at the opening and holds the later joiners).
    pub from: Timestamp,
    pub joined: u64,
    pub admitted: u64,
    pub bought: u64,
    /// The mean place among those admitted (0: first), if any were.
    pub mean_rank: Option<f64>,
}

/// The fairness report of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub tally: Tally,
    pub buckets: Vec<Bucket>,
    /// The Kolmogorov–Smirnov statistic of the pre-queue halves' admission ranks.
    pub ks_d: Option<f64>,
    /// Its critical value at α = 0.001.
    pub ks_critical_001: Option<f64>,
}

/// The two-sample Kolmogorov–Smirnov statistic of `a` and `b`.
pub fn ks_statistic(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    let (n, m) = (a.len() as f64, b.len() as f64);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        let at = x.min(y);
        while a.get(i).is_some_and(|v| *v <= at) {
            i += 1;
        }
        while b.get(j).is_some_and(|v| *v <= at) {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    d
}
