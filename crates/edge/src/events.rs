//! Refusals as security events. A flood must not become a flood of log lines or database rows,
//! so refusals are counted in memory per (client, what refused it) — a bounded table — and
//! written every `FLUSH_EVERY` as one event per client, the busiest first, with one summary
//! event for the rest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use gatehouse_domain::security::SecurityEvent;
use jiff::Timestamp;

/// How often counted refusals are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// The most (client, reason) pairs counted between flushes; more are counted together.
const MAX_PAIRS: usize = 4096;
/// The most clients written one by one per flush.
const MAX_EVENTS: usize = 20;
const SHARDS: usize = 8;

/// What refused a request: the event's kind and what it names (a limit, a rule, a list entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// `traffic_refused` (limits, flow rules, shedding) or `traffic_blocked` (lists).
    pub kind: &'static str,
    /// e.g. `rate_limited: orders per address`, `blocked by list entry 5: scraper farm`.
    pub what: String,
}

type Counts = HashMap<(IpAddr, Refusal), u64>;

/// Counted refusals since the last flush.
pub struct Refusals {
    shards: Vec<Mutex<Counts>>,
    overflow: Mutex<u64>,
}

impl Default for Refusals {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            overflow: Mutex::new(0),
        }
    }
}

fn shard_of(client: IpAddr) -> usize {
    let last = match client {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    };
    usize::from(last) % SHARDS
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Refusals {
    /// Counts one refused request.
    pub fn note(&self, client: IpAddr, refusal: Refusal) {
        let Some(shard) = self.shards.get(shard_of(client)) else {
            return;
        };
        let mut counts = lock(shard);
        let key = (client, refusal);
        if let Some(n) = counts.get_mut(&key) {
            *n += 1;
        } else if counts.len() < MAX_PAIRS / SHARDS {
            counts.insert(key, 1);
        } else {
            drop(counts);
            *lock(&self.overflow) += 1;
        }
    }

    /// Takes the counts and turns them into events at `at`: one per client and reason, the
    /// busiest `MAX_EVENTS`, then one summary of the rest.
    pub fn drain(&self, at: Timestamp, window: Duration) -> Vec<SecurityEvent> {
        let mut all: Vec<((IpAddr, Refusal), u64)> = Vec::new();
        for shard in &self.shards {
            all.extend(lock(shard).drain());
        }
        let overflow = std::mem::take(&mut *lock(&self.overflow));
        all.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let secs = window.as_secs();
        let mut events: Vec<SecurityEvent> = all
            .iter()
            .take(MAX_EVENTS)
            .map(|((client, r), n)| SecurityEvent {
                at,
                kind: r.kind.to_owned(),
                source: "edge".into(),
                detail: format!("{}: {n} requests in {secs} s", r.what),
                ip: Some(client.to_string()),
            })
            .collect();
        let rest: u64 = all.iter().skip(MAX_EVENTS).map(|(_, n)| n).sum::<u64>() + overflow;
        if rest > 0 {
            let clients = all.len().saturating_sub(MAX_EVENTS);
            events.push(SecurityEvent {
                at,
                kind: "traffic_refused".into(),
                source: "edge".into(),
                detail: format!(
                    "{rest} more refused requests in {secs} s from {clients}{} other clients",
                    if overflow > 0 { "+" } else { "" }
                ),
                ip: None,
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(what: &str) -> Refusal {
        Refusal {
            kind: "traffic_refused",
            what: what.into(),
        }
    }

    #[test]
    fn refusals_become_one_event_per_client_and_reason_busiest_first() {
        let r = Refusals::default();
        let flooder: IpAddr = "198.51.100.7".parse().unwrap();
        let other: IpAddr = "203.0.113.1".parse().unwrap();
        for _ in 0..500 {
            r.note(flooder, refusal("rate_limited: orders per address"));
        }
        r.note(other, refusal("rate_limited: orders per address"));
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let events = r.drain(at, FLUSH_EVERY);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(
            events[0].detail,
            "rate_limited: orders per address: 500 requests in 10 s"
        );
        assert!(r.drain(at, FLUSH_EVERY).is_empty(), "drained");
    }

    #[test]
    fn a_rotating_flood_is_bounded_and_summarised() {
        let r = Refusals::default();
        for i in 0..100_000u32 {
            r.note(IpAddr::V4(i.into()), refusal("blocked"));
        }
        let held: usize = r.shards.iter().map(|s| lock(s).len()).sum();
        assert!(held <= MAX_PAIRS, "{held}");
        let events = r.drain(Timestamp::from_second(1_800_000_000).unwrap(), FLUSH_EVERY);
        assert_eq!(events.len(), MAX_EVENTS + 1);
        let summary = events.last().unwrap();
        assert_eq!(summary.ip, None);
        assert!(
            summary
                .detail
                .starts_with(&format!("{} more refused", 100_000 - MAX_EVENTS)),
            "{}",
            summary.detail
        );
    }
}
