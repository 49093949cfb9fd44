//! Circuit breakers, in the style of Sentinel's: a breaker watches the calls to one dependency
//! (the database, a payment provider, the face-verification provider) over a sliding window. When
//! enough calls failed — or were too slow — it **opens**: calls are refused at once for
//! `open_for`, so a failing dependency is not hammered and callers answer quickly instead of
//! queueing behind timeouts. Then it lets **one** probe call through (half-open): success closes
//! it, failure opens it again.
//!
//! Plain logic with the time passed in; the services that call a dependency hold one breaker
//! per dependency and report each call's outcome.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a breaker opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// The window outcomes are counted over.
    pub window: Duration,
    /// No decision before this many calls in the window.
    pub min_calls: u32,
    /// Open when at least this share of the window's calls failed…
    pub max_failure_ratio: f64,
    /// …or at least this share took longer than `slow_call` (None: speed is not judged).
    pub max_slow_ratio: Option<f64>,
    pub slow_call: Duration,
    /// How long an open breaker refuses calls before it lets a probe through.
    pub open_for: Duration,
}

impl BreakerPolicy {
    /// The database's: commits take milliseconds, so three seconds is stuck, not slow.
    pub fn database() -> Self {
        Self {
            max_slow_ratio: Some(0.8),
            slow_call: Duration::from_secs(3),
            ..Self::default()
        }
    }
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            min_calls: 20,
            max_failure_ratio: 0.5,
            max_slow_ratio: None,
            slow_call: Duration::from_secs(1),
            open_for: Duration::from_secs(5),
        }
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Refusing calls until the instant (microseconds on the caller's clock).
    Open {
        until_us: u64,
    },
    /// One probe is out (since the instant); other calls are refused until it reports, or
    /// until `open_for` passed without a report (a lost probe must not keep it shut forever).
    HalfOpen {
        since_us: u64,
    },
}

/// A call refused because the breaker is open: how long until it may be tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerOpen {
    pub retry_after: Duration,
}

/// Counts of one slice of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    start_us: u64,
    calls: u32,
    failures: u32,
    slow: u32,
}

const BUCKETS: usize = 10;

/// One dependency's breaker.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    buckets: [Bucket; BUCKETS],
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: BreakerState::Closed,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to make a call at `now_us`. Err: the breaker is open (or a probe is out).
    pub fn try_call(&mut self, now_us: u64) -> Result<(), BreakerOpen> {
        match self.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { until_us } if now_us >= until_us => {
                self.state = BreakerState::HalfOpen { since_us: now_us };
                Ok(())
            }
            BreakerState::Open { until_us } => Err(BreakerOpen {
                retry_after: Duration::from_micros(until_us - now_us),
            }),
            BreakerState::HalfOpen { since_us }
                if now_us.saturating_sub(since_us) >= us(self.policy.open_for) =>
            {
                self.state = BreakerState::HalfOpen { since_us: now_us };
                Ok(())
            }
            BreakerState::HalfOpen { .. } => Err(BreakerOpen {
                retry_after: Duration::from_millis(100),
            }),
        }
    }

    /// Reports how a call allowed by [`Breaker::try_call`] went.
    pub fn record(&mut self, now_us: u64, ok: bool, took: Duration) {
        let slow = took >= self.policy.slow_call;
        if matches!(self.state, BreakerState::HalfOpen { .. }) {
            let bad = !ok || (self.policy.max_slow_ratio.is_some() && slow);
            self.state = if bad {
                self.open(now_us)
            } else {
                self.buckets = [Bucket::default(); BUCKETS];
                BreakerState::Closed
            };
            return;
        }
        let slice = (us(self.policy.window) / BUCKETS as u64).max(1);
        let start = now_us - now_us % slice;
        let index = usize::try_from(now_us / slice % BUCKETS as u64).unwrap_or(0);
        if let Some(b) = self.buckets.get_mut(index) {
            if b.start_us != start {
                *b = Bucket {
                    start_us: start,
                    ..Bucket::default()
                };
            }
            b.calls += 1;
            b.failures += u32::from(!ok);
            b.slow += u32::from(slow);
        }
        if self.state != BreakerState::Closed {
            return;
        }
        let window = us(self.policy.window);
        let (mut calls, mut failures, mut slow_calls) = (0u32, 0u32, 0u32);
        for b in &self.buckets {
            if b.calls > 0 && now_us.saturating_sub(b.start_us) < window {
                calls += b.calls;
                failures += b.failures;
                slow_calls += b.slow;
            }
        }
        if calls < self.policy.min_calls {
            return;
        }
        let ratio = |n: u32| f64::from(n) / f64::from(calls);
        let too_many_failures = ratio(failures) >= self.policy.max_failure_ratio;
        let too_slow = self
            .policy
            .max_slow_ratio
            .is_some_and(|max| ratio(slow_calls) >= max);
        if too_many_failures || too_slow {
            self.state = self.open(now_us);
        }
    }

    fn open(&self, now_us: u64) -> BreakerState {
        BreakerState::Open {
            until_us: now_us.saturating_add(us(self.policy.open_for)),
        }
    }
}

/// One dependency's breaker, shared by all its callers and run on the monotonic clock: the
/// adapters (payments, face verification, the booking committer) put each call through
/// [`GuardedCalls::run`].
#[derive(Debug)]
pub struct GuardedCalls {
    dependency: &'static str,
    breaker: Mutex<Breaker>,
    epoch: Instant,
}

impl GuardedCalls {
    pub fn new(dependency: &'static str, policy: BreakerPolicy) -> Self {
        Self {
            dependency,
            breaker: Mutex::new(Breaker::new(policy)),
            epoch: Instant::now(),
        }
    }

    pub fn dependency(&self) -> &'static str {
        self.dependency
    }

    pub fn state(&self) -> BreakerState {
        self.lock().state()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now_us(&self) -> u64 {
        us(self.epoch.elapsed())
    }

    /// Runs `call` unless the breaker is open. `failed` says whether its outcome counts as the
    /// dependency failing (a refusal the dependency answered with is not a failure). A call
    /// dropped before it finished reports nothing; a lost probe times out after `open_for`.
    pub async fn run<T>(
        &self,
        call: impl Future<Output = T>,
        failed: impl FnOnce(&T) -> bool,
    ) -> Result<T, BreakerOpen> {
        self.lock().try_call(self.now_us())?;
        let started = Instant::now();
        let result = call.await;
        let ok = !failed(&result);
        let took = started.elapsed();
        let mut breaker = self.lock();
        let before = breaker.state();
        breaker.record(self.now_us(), ok, took);
        let after = breaker.state();
        drop(breaker);
        match (before, after) {
            (BreakerState::Closed, BreakerState::Open { .. }) => {
                tracing::error!(
                    dependency = self.dependency,
                    "dependency failing: circuit open"
                );
            }
            (BreakerState::HalfOpen { .. }, BreakerState::Closed) => {
                tracing::warn!(
                    dependency = self.dependency,
                    "dependency answering again: circuit closed"
                );
            }
            _ => {}
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000;
    const FAST: Duration = Duration::from_millis(5);

    fn breaker() -> Breaker {
        Breaker::new(BreakerPolicy {
            window: Duration::from_secs(10),
            min_calls: 10,
            max_failure_ratio: 0.5,
            max_slow_ratio: Some(0.8),
            slow_call: Duration::from_millis(500),
            open_for: Duration::from_secs(5),
        })
    }

    #[test]
    fn a_failing_dependency_opens_the_breaker_then_one_probe_closes_it() {
        let mut b = breaker();
        let mut t = 1_000 * MS;
        for i in 0..9 {
            b.try_call(t).unwrap();
            b.record(t, i % 2 == 0, FAST);
            t += 10 * MS;
        }
        assert_eq!(b.state(), BreakerState::Closed, "too few calls to judge");
        b.try_call(t).unwrap();
        b.record(t, false, FAST);
        assert!(
            matches!(b.state(), BreakerState::Open { .. }),
            "5 of 10 failed"
        );
        let refused = b.try_call(t + 1_000 * MS).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(4));
        // After open_for: one probe; the next caller waits for it.
        let later = t + 5_000 * MS;
        b.try_call(later).unwrap();
        assert_eq!(b.state(), BreakerState::HalfOpen { since_us: later });
        assert!(b.try_call(later).is_err());
        b.record(later, true, FAST);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_call(later).is_ok());
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let mut b = breaker();
        let t = 1_000 * MS;
        for _ in 0..10 {
            b.record(t, false, FAST);
        }
        let later = t + 5_000 * MS;
        b.try_call(later).unwrap();
        b.record(later, false, FAST);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until_us: later + 5_000 * MS
            }
        );
    }

    #[test]
    fn slow_calls_open_it_and_old_outcomes_leave_the_window() {
        let mut b = breaker();
        let mut t = 1_000 * MS;
        // Failures long ago do not count.
        for _ in 0..6 {
            b.record(t, false, FAST);
        }
        t += 20_000 * MS;
        for _ in 0..10 {
            b.record(t, true, FAST);
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "the old failures left the window"
        );
        let mut slow = breaker();
        for _ in 0..10 {
            slow.record(t, true, Duration::from_secs(1));
        }
        assert!(
            matches!(slow.state(), BreakerState::Open { .. }),
            "every call was slow"
        );
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        // The guarded calls in these tests finish at once: poll until ready.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn guarded_calls_stop_calling_a_failing_dependency_and_count_only_its_failures() {
        let calls = GuardedCalls::new(
            "test",
            BreakerPolicy {
                min_calls: 4,
                open_for: Duration::from_secs(60),
                ..BreakerPolicy::default()
            },
        );
        let reached = std::cell::Cell::new(0);
        // The count moves only when the call's future runs.
        let reached = &reached;
        let refused = |code: u8| async move {
            reached.set(reached.get() + 1);
            Err::<(), u8>(code)
        };
        // Answers the dependency gave ("no": code 1) keep it closed.
        for _ in 0..10 {
            let r = block_on(calls.run(refused(1), |r| r == &Err(2)));
            assert_eq!(r, Ok(Err(1)));
        }
        assert_eq!(calls.state(), BreakerState::Closed);
        // Failures to answer (code 2) open it; then calls never reach the dependency.
        for _ in 0..10 {
            let _ = block_on(calls.run(refused(2), |r| r == &Err(2)));
        }
        assert!(matches!(calls.state(), BreakerState::Open { .. }));
        let before = reached.get();
        let r = block_on(calls.run(refused(2), |r| r == &Err(2)));
        assert!(r.is_err_and(|open| open.retry_after > Duration::from_secs(50)));
        assert_eq!(reached.get(), before, "an open breaker does not call");
    }

    #[test]
    fn a_lost_probe_does_not_keep_the_breaker_shut() {
        let mut b = breaker();
        let t = 1_000 * MS;
        for _ in 0..10 {
            b.record(t, false, FAST);
        }
        let probe = t + 5_000 * MS;
        b.try_call(probe).unwrap();
        // The probe never reports (its caller went away).
        assert!(b.try_call(probe + 4_000 * MS).is_err());
        b.try_call(probe + 5_000 * MS).unwrap();
        b.record(probe + 5_000 * MS, true, FAST);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
