//! Adaptive shedding: the server's load as the edge sees it — requests in flight, and a moving
//! average of response times — and the decision to turn away sheddable routes early (503) when
//! either passes the policy's threshold, so the routes kept (the booking path) stay responsive
//! instead of the whole server queueing into collapse.
//!
//! The average forgets with time as well as with samples: while everything is shed, no sample
//! arrives, and a stale "slow" must not shed forever.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::flow::InFlight;
use crate::policy::Shedding;

/// Weight of a new sample in the moving average (1/8).
const SAMPLE_WEIGHT_SHIFT: u32 = 3;
/// The average halves for every this many microseconds without a sample.
const HALF_LIFE_US: u64 = 500_000;

/// One response time in this many (per thread) moves the average.
const SAMPLE_EVERY: u32 = 8;

thread_local! {
    static SAMPLE_COUNTER: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[derive(Debug, Default)]
pub struct Load {
    in_flight: Arc<AtomicU32>,
    average_us: AtomicU64,
    last_sample_us: AtomicU64,
}

impl Load {
    /// Counts a request in flight until the returned place is dropped.
    pub(crate) fn enter(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight::counting(self.in_flight.clone())
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Folds a finished request's response time into the average — one response in
    /// [`SAMPLE_EVERY`] per thread, so busy threads do not fight over the average's cache line.
    pub fn record(&self, latency_us: u64, now_us: u64) {
        let sampled = SAMPLE_COUNTER.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n % SAMPLE_EVERY == 0
        });
        if sampled {
            self.record_sample(latency_us, now_us);
        }
    }

    fn record_sample(&self, latency_us: u64, now_us: u64) {
        let old = self.average_us(now_us);
        let new = old - (old >> SAMPLE_WEIGHT_SHIFT) + (latency_us >> SAMPLE_WEIGHT_SHIFT);
        self.average_us.store(new, Ordering::Release);
        self.last_sample_us.store(now_us, Ordering::Release);
    }

    /// The recent response time, decayed by the time since the last sample.
    pub fn average_us(&self, now_us: u64) -> u64 {
        let avg = self.average_us.load(Ordering::Acquire);
        let idle = now_us.saturating_sub(self.last_sample_us.load(Ordering::Acquire));
        let halvings = idle / HALF_LIFE_US;
        if halvings >= 64 {
            0
        } else {
            avg >> halvings
        }
    }

    pub(crate) fn overloaded(&self, policy: &Shedding, now_us: u64) -> bool {
        self.in_flight() >= policy.max_in_flight
            || policy
                .max_latency_us
                .is_some_and(|max| self.average_us(now_us) > max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shedding(max_in_flight: u32, max_latency_ms: Option<u64>) -> Shedding {
        Shedding {
            max_in_flight,
            max_latency_us: max_latency_ms.map(|m| m * 1_000),
            keep: Vec::new(),
        }
    }

    #[test]
    fn too_much_in_flight_sheds_until_it_drains() {
        let load = Load::default();
        let policy = shedding(3, None);
        let places: Vec<_> = (0..3).map(|_| load.enter()).collect();
        assert!(load.overloaded(&policy, 0));
        drop(places);
        assert_eq!(load.in_flight(), 0);
        assert!(!load.overloaded(&policy, 0));
    }

    #[test]
    fn slow_answers_shed_and_the_average_recovers_with_time() {
        let load = Load::default();
        let policy = shedding(1_000, Some(100));
        for i in 0..100 {
            load.record_sample(400_000, i);
        }
        assert!(load.average_us(100) > 300_000);
        assert!(load.overloaded(&policy, 100));
        // No samples for two seconds (everything shed): four half-lives.
        assert!(load.average_us(2_000_100) < 30_000);
        assert!(!load.overloaded(&policy, 2_000_100));
        // Fast answers bring it down too.
        for i in 0..800 {
            load.record(1_000, 3_000_000 + i);
        }
        assert!(load.average_us(3_000_100) < 10_000);
    }
}
