//! Flow control in the style of Sentinel: a route's total rate (not per client) with one of
//! three behaviours when it is reached — reject at once, queue requests evenly spaced up to a
//! maximum wait, or warm up (after a quiet spell the allowed rate starts at `qps / cold_factor`
//! and climbs to `qps` over `warm_up_secs`, so a cold cache or a cold connection pool is not
//! hit with the full 09:00 rate at once) — and a cap on requests in flight.
//!
//! Everything is lock-free: atomics per rule, times in microseconds passed in.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// What a flow rule does when its rate is reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    Reject,
    /// Space requests evenly at the rate; one that would wait longer than this is rejected.
    Queue {
        max_wait_us: u64,
    },
    /// Sentinel's warm-up: the rate climbs from `qps / cold_factor` to `qps`.
    WarmUp {
        warm_up_secs: u32,
        cold_factor: u32,
    },
}

/// A flow rule's decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowDecision {
    Pass,
    /// Pass after waiting this long (queueing).
    Wait(u64),
    /// Over the rate (or the queue is longer than the maximum wait).
    Reject,
}

/// One rule's live state.
pub struct FlowState {
    qps: u32,
    control: Control,
    /// Queue: the next free instant (µs).
    next_free_us: AtomicU64,
    /// Reject and warm-up: the current second and the requests passed in it, and in the one
    /// before.
    second: AtomicU64,
    passed_this_second: AtomicU32,
    passed_last_second: AtomicU32,
    /// Warm-up: stored tokens (Sentinel's measure of coldness) and when they were last filled.
    stored_tokens: AtomicU64,
    last_filled_second: AtomicU64,
    /// Requests in flight and the cap (0: none).
    in_flight: Arc<AtomicU32>,
    max_in_flight: u32,
}

/// Holds a place among a rule's requests in flight; dropping it frees the place.
#[derive(Debug)]
pub struct InFlight(Arc<AtomicU32>);

impl InFlight {
    /// A place already counted in `counter`.
    pub(crate) fn counting(counter: Arc<AtomicU32>) -> Self {
        Self(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl FlowState {
    pub fn new(qps: u32, control: Control, max_in_flight: u32) -> Self {
        let state = Self {
            qps: qps.max(1),
            control,
            next_free_us: AtomicU64::new(0),
            second: AtomicU64::new(0),
            passed_this_second: AtomicU32::new(0),
            passed_last_second: AtomicU32::new(0),
            stored_tokens: AtomicU64::new(0),
            last_filled_second: AtomicU64::new(0),
            in_flight: Arc::new(AtomicU32::new(0)),
            max_in_flight,
        };
        // A new rule starts cold: the warm-up applies from the first request.
        if let Control::WarmUp { .. } = control {
            state
                .stored_tokens
                .store(state.warm_up().max_token as u64, Ordering::Relaxed);
        }
        state
    }

    /// Takes a place among the requests in flight, if the rule caps them and one is free.
    pub fn enter(&self) -> Option<InFlight> {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let guard = InFlight(self.in_flight.clone());
        if self.max_in_flight > 0 && now > self.max_in_flight {
            return None;
        }
        Some(guard)
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Decides one request at `now_us` and counts it if it passes.
    pub fn admit(&self, now_us: u64) -> FlowDecision {
        match self.control {
            Control::Reject => {
                let passed = self.roll(now_us);
                self.count_if(passed < self.qps)
            }
            Control::Queue { max_wait_us } => self.queue(now_us, max_wait_us),
            Control::WarmUp { .. } => {
                let passed = self.roll(now_us);
                self.sync_tokens(now_us / 1_000_000);
                let allowed = self.warm_up_qps();
                self.count_if(f64::from(passed) + 1.0 <= allowed)
            }
        }
    }

    fn count_if(&self, pass: bool) -> FlowDecision {
        if pass {
            self.passed_this_second.fetch_add(1, Ordering::AcqRel);
            FlowDecision::Pass
        } else {
            FlowDecision::Reject
        }
    }

    /// Moves the one-second window on if `now_us` is in a new second; the requests passed in
    /// the current second so far.
    fn roll(&self, now_us: u64) -> u32 {
        let second = now_us / 1_000_000;
        let seen = self.second.load(Ordering::Acquire);
        if second > seen
            && self
                .second
                .compare_exchange(seen, second, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let last = if second == seen + 1 {
                self.passed_this_second.swap(0, Ordering::AcqRel)
            } else {
                self.passed_this_second.store(0, Ordering::Release);
                0
            };
            self.passed_last_second.store(last, Ordering::Release);
        }
        self.passed_this_second.load(Ordering::Acquire)
    }

    fn queue(&self, now_us: u64, max_wait_us: u64) -> FlowDecision {
        let interval = (1_000_000 / u64::from(self.qps)).max(1);
        let mut next = self.next_free_us.load(Ordering::Acquire);
        loop {
            let slot = next.max(now_us);
            let wait = slot - now_us;
            if wait > max_wait_us {
                return FlowDecision::Reject;
            }
            match self.next_free_us.compare_exchange_weak(
                next,
                slot + interval,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if wait == 0 => return FlowDecision::Pass,
                Ok(_) => return FlowDecision::Wait(wait),
                Err(actual) => next = actual,
            }
        }
    }

    fn warm_up(&self) -> WarmUp {
        let Control::WarmUp {
            warm_up_secs,
            cold_factor,
        } = self.control
        else {
            return WarmUp::default();
        };
        WarmUp::new(f64::from(self.qps), warm_up_secs, cold_factor)
    }

    /// Sentinel's `syncToken`: once per second, fill stored tokens while traffic is below the
    /// cold rate (the system cools), and spend last second's passes (it warms).
    fn sync_tokens(&self, second: u64) {
        let last = self.last_filled_second.load(Ordering::Acquire);
        if second <= last
            || self
                .last_filled_second
                .compare_exchange(last, second, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let w = self.warm_up();
        let old = self.stored_tokens.load(Ordering::Acquire) as f64;
        let passed_last = f64::from(self.passed_last_second.load(Ordering::Acquire));
        let refill = (second - last) as f64 * f64::from(self.qps);
        let cooled = if old < w.warning_token || passed_last < w.count / w.cold_factor {
            (old + refill).min(w.max_token)
        } else {
            old
        };
        let new = (cooled - passed_last).max(0.0);
        self.stored_tokens.store(new as u64, Ordering::Release);
    }

    /// The rate allowed now: full when warm, lower the colder the rule is.
    fn warm_up_qps(&self) -> f64 {
        let w = self.warm_up();
        let stored = self.stored_tokens.load(Ordering::Acquire) as f64;
        if stored >= w.warning_token {
            let above = stored - w.warning_token;
            1.0 / (above * w.slope + 1.0 / w.count)
        } else {
            w.count
        }
    }
}

/// Sentinel's warm-up constants for a rate.
#[derive(Debug, Default, Clone, Copy)]
struct WarmUp {
    count: f64,
    cold_factor: f64,
    warning_token: f64,
    max_token: f64,
    slope: f64,
}

impl WarmUp {
    fn new(count: f64, warm_up_secs: u32, cold_factor: u32) -> Self {
        let cold_factor = f64::from(cold_factor.max(2));
        let period = f64::from(warm_up_secs.max(1));
        let warning_token = period * count / (cold_factor - 1.0);
        let max_token = warning_token + 2.0 * period * count / (1.0 + cold_factor);
        let slope = (cold_factor - 1.0) / count / (max_token - warning_token);
        Self {
            count,
            cold_factor,
            warning_token,
            max_token,
            slope,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    fn passes(f: &FlowState, n: u32, now_us: u64) -> u32 {
        (0..n)
            .filter(|_| f.admit(now_us) == FlowDecision::Pass)
            .count() as u32
    }

    #[test]
    fn reject_passes_the_rate_each_second_and_no_more() {
        let f = FlowState::new(100, Control::Reject, 0);
        assert_eq!(passes(&f, 150, 5 * SEC), 100);
        assert_eq!(passes(&f, 150, 5 * SEC + 900_000), 0);
        assert_eq!(passes(&f, 150, 6 * SEC), 100, "a new second");
        assert_eq!(passes(&f, 50, 9 * SEC), 50);
    }

    #[test]
    fn a_queue_spaces_requests_evenly_and_turns_away_those_that_would_wait_too_long() {
        let f = FlowState::new(
            10,
            Control::Queue {
                max_wait_us: 500_000,
            },
            0,
        );
        let now = 10 * SEC;
        assert_eq!(f.admit(now), FlowDecision::Pass);
        for i in 1..=5 {
            assert_eq!(f.admit(now), FlowDecision::Wait(i * 100_000));
        }
        assert_eq!(
            f.admit(now),
            FlowDecision::Reject,
            "0.6 s would be too long"
        );
        // Time passes; the queue drains.
        assert_eq!(f.admit(now + 600_000), FlowDecision::Pass);
    }

    #[test]
    fn warm_up_starts_at_the_cold_rate_and_climbs_to_the_full_rate() {
        let f = FlowState::new(
            300,
            Control::WarmUp {
                warm_up_secs: 10,
                cold_factor: 3,
            },
            0,
        );
        let mut allowed = Vec::new();
        for s in 1..=20u64 {
            allowed.push(passes(&f, 400, s * SEC));
        }
        assert!(allowed[0] <= 110, "cold: about qps/3 at first: {allowed:?}");
        assert!(allowed[0] >= 90, "{allowed:?}");
        for w in allowed.windows(2) {
            assert!(w[1] + 2 >= w[0], "never falls while busy: {allowed:?}");
        }
        assert_eq!(
            *allowed.last().unwrap(),
            300,
            "warm: the full rate: {allowed:?}"
        );
        // A long quiet spell cools it down again.
        let _ = passes(&f, 1, 200 * SEC);
        let cold = passes(&f, 400, 201 * SEC);
        assert!(cold <= 110, "{cold}");
    }

    #[test]
    fn in_flight_is_capped_and_places_come_back() {
        let f = FlowState::new(1_000, Control::Reject, 2);
        let a = f.enter().unwrap();
        let _b = f.enter().unwrap();
        assert!(f.enter().is_none());
        assert_eq!(f.in_flight(), 2, "a refused entry gives its place back");
        drop(a);
        assert!(f.enter().is_some());
        let unlimited = FlowState::new(1, Control::Reject, 0);
        let many: Vec<_> = (0..100).map(|_| unlimited.enter().unwrap()).collect();
        assert_eq!(unlimited.in_flight(), 100);
        drop(many);
        assert_eq!(unlimited.in_flight(), 0);
    }
}
