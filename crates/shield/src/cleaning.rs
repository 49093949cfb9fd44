//! DDoS cleaning: when traffic passes any one of three thresholds — HTTP requests per second,
//! bits per second (both measured by Gatehouse), packets per second (the host's interface
//! counters) — for `engage_secs` in a row, cleaning engages: stricter limits, a challenge for
//! every client without a pass (`when = "cleaning"` rules), the heaviest clients blocked for a
//! while. It ends only when all three stay under `release_ratio` of their thresholds for
//! `release_secs` (hysteresis, so it does not flap). Each episode keeps its peak figures.
//!
//! This file is the decision (plain numbers in, transitions out), the heavy-hitter count that
//! names the top offenders, and the reading of `/proc/net/dev`; the edge measures and acts.
//!
//! ```toml
//! [cleaning]
//! max_requests_per_sec = 20000
//! max_bits_per_sec = 1000000000
//! max_packets_per_sec = 300000
//! ```

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::policy::{bad, PolicyError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CleaningSection {
    max_requests_per_sec: Option<u64>,
    max_bits_per_sec: Option<u64>,
    max_packets_per_sec: Option<u64>,
    /// The interfaces whose packets count (none: every interface but loopback).
    #[serde(default)]
    interfaces: Vec<String>,
    #[serde(default = "d_engage")]
    engage_secs: u32,
    #[serde(default = "d_release_secs")]
    release_secs: u32,
    #[serde(default = "d_release_ratio")]
    release_ratio: f64,
    /// While cleaning, every limit allows this share of its burst and rate.
    #[serde(default = "d_stricter")]
    stricter: f64,
    /// While cleaning, this many of the heaviest clients are blocked…
    #[serde(default = "d_block_top")]
    block_top: u32,
    /// …if each sent at least this many requests per second…
    #[serde(default = "d_offender_rps")]
    offender_requests_per_sec: u64,
    /// …for this long.
    #[serde(default = "d_block_secs")]
    block_secs: u32,
}

fn d_engage() -> u32 {
    3
}
fn d_release_secs() -> u32 {
    30
}
fn d_release_ratio() -> f64 {
    0.7
}
fn d_stricter() -> f64 {
    0.5
}
fn d_block_top() -> u32 {
    10
}
fn d_offender_rps() -> u64 {
    50
}
fn d_block_secs() -> u32 {
    600
}

/// Cleaning's settings, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct CleaningPolicy {
    pub max: Rates,
    pub interfaces: Vec<String>,
    pub engage_secs: u32,
    pub release_secs: u32,
    pub release_ratio: f64,
    pub stricter: f64,
    pub block_top: u32,
    pub offender_requests_per_sec: u64,
    pub block_secs: u32,
}

/// Traffic over one second (a threshold of 0 is "not watched").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    pub requests: u64,
    pub bits: u64,
    pub packets: u64,
}

impl Rates {
    fn max(self, o: Rates) -> Rates {
        Rates {
            requests: self.requests.max(o.requests),
            bits: self.bits.max(o.bits),
            packets: self.packets.max(o.packets),
        }
    }
}

pub(crate) fn compile_cleaning(
    section: Option<CleaningSection>,
) -> Result<Option<CleaningPolicy>, PolicyError> {
    let Some(c) = section else {
        return Ok(None);
    };
    let positive = |v: Option<u64>, f: &str| match v {
        Some(0) => Err(bad(format!("cleaning.{f}"), "must be at least 1")),
        v => Ok(v.unwrap_or(0)),
    };
    let max = Rates {
        requests: positive(c.max_requests_per_sec, "max_requests_per_sec")?,
        bits: positive(c.max_bits_per_sec, "max_bits_per_sec")?,
        packets: positive(c.max_packets_per_sec, "max_packets_per_sec")?,
    };
    if max == Rates::default() {
        return Err(bad(
            "cleaning",
            "set at least one of max_requests_per_sec, max_bits_per_sec, max_packets_per_sec",
        ));
    }
    if !(1..=600).contains(&c.engage_secs) {
        return Err(bad("cleaning.engage_secs", "must be between 1 and 600"));
    }
    if !(1..=86_400).contains(&c.release_secs) {
        return Err(bad("cleaning.release_secs", "must be between 1 and 86400"));
    }
    if !(c.release_ratio > 0.0 && c.release_ratio <= 1.0) {
        return Err(bad(
            "cleaning.release_ratio",
            "must be above 0 and at most 1",
        ));
    }
    if !(c.stricter > 0.0 && c.stricter <= 1.0) {
        return Err(bad("cleaning.stricter", "must be above 0 and at most 1"));
    }
    if c.block_top > 1_000 {
        return Err(bad("cleaning.block_top", "must be at most 1000"));
    }
    if c.offender_requests_per_sec == 0 {
        return Err(bad(
            "cleaning.offender_requests_per_sec",
            "must be at least 1",
        ));
    }
    if !(1..=86_400).contains(&c.block_secs) {
        return Err(bad("cleaning.block_secs", "must be between 1 and 86400"));
    }
    Ok(Some(CleaningPolicy {
        max,
        interfaces: c.interfaces,
        engage_secs: c.engage_secs,
        release_secs: c.release_secs,
        release_ratio: c.release_ratio,
        stricter: c.stricter,
        block_top: c.block_top,
        offender_requests_per_sec: c.offender_requests_per_sec,
        block_secs: c.block_secs,
    }))
}

/// Which thresholds a second's traffic passed.
fn over(r: Rates, max: Rates) -> Vec<&'static str> {
    let mut v = Vec::new();
    if max.requests > 0 && r.requests > max.requests {
        v.push("requests/s");
    }
    if max.bits > 0 && r.bits > max.bits {
        v.push("bits/s");
    }
    if max.packets > 0 && r.packets > max.packets {
        v.push("packets/s");
    }
    v
}

fn calm(r: Rates, max: Rates, ratio: f64) -> bool {
    let under = |v: u64, m: u64| m == 0 || (v as f64) < (m as f64) * ratio;
    under(r.requests, max.requests) && under(r.bits, max.bits) && under(r.packets, max.packets)
}

/// A cleaning episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    /// The thresholds passed when it engaged.
    pub cause: Vec<&'static str>,
    /// Seconds it lasted (ticks).
    pub secs: u32,
    pub peak: Rates,
}

/// What a second's traffic changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Engaged {
        cause: Vec<&'static str>,
        rates: Rates,
    },
    Released(Episode),
}

/// The decision, one tick per second.
#[derive(Debug, Default)]
pub struct CleaningState {
    over_streak: u32,
    calm_streak: u32,
    episode: Option<Episode>,
}

impl CleaningState {
    pub fn engaged(&self) -> bool {
        self.episode.is_some()
    }

    /// The current episode's figures so far.
    pub fn episode(&self) -> Option<&Episode> {
        self.episode.as_ref()
    }

    /// Takes one second's rates.
    pub fn tick(&mut self, p: &CleaningPolicy, r: Rates) -> Option<Transition> {
        match &mut self.episode {
            None => {
                let passed = over(r, p.max);
                if passed.is_empty() {
                    self.over_streak = 0;
                    return None;
                }
                self.over_streak += 1;
                if self.over_streak < p.engage_secs {
                    return None;
                }
                self.over_streak = 0;
                self.calm_streak = 0;
                self.episode = Some(Episode {
                    cause: passed.clone(),
                    secs: 1,
                    peak: r,
                });
                Some(Transition::Engaged {
                    cause: passed,
                    rates: r,
                })
            }
            Some(ep) => {
                ep.secs += 1;
                ep.peak = ep.peak.max(r);
                if calm(r, p.max, p.release_ratio) {
                    self.calm_streak += 1;
                } else {
                    self.calm_streak = 0;
                }
                if self.calm_streak < p.release_secs {
                    return None;
                }
                self.calm_streak = 0;
                self.episode.take().map(Transition::Released)
            }
        }
    }
}

/// The heaviest clients, by the Space-Saving count: `slots` counters, each a client and an
/// upper bound of its requests; a new client takes the smallest counter's place. Memory is
/// fixed however many addresses a flood rotates through, and any client sending more than
/// 1/slots of the traffic is certain to be held.
///
/// The counters form a binary min-heap (with each client's place in it), so the smallest is
/// found at once and a count moves in log(slots) steps: a flood that rotates addresses makes
/// every count a replacement, and a scan of every counter per request showed in the verdict's
/// p99 under cleaning.
#[derive(Debug)]
pub struct HeavyHitters {
    /// (count, client), smallest count first.
    heap: Vec<(u64, IpAddr)>,
    place: HashMap<IpAddr, usize, foldhash::fast::RandomState>,
    slots: usize,
}

impl HeavyHitters {
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            heap: Vec::with_capacity(slots),
            place: HashMap::with_capacity_and_hasher(slots, Default::default()),
            slots,
        }
    }

    pub fn count(&mut self, client: IpAddr) {
        if let Some(&at) = self.place.get(&client) {
            if let Some(entry) = self.heap.get_mut(at) {
                entry.0 += 1;
            }
            self.sift_down(at);
            return;
        }
        if self.heap.len() < self.slots {
            // A count of 1 is the smallest there is: it belongs at the top.
            self.heap.push((1, client));
            self.sift_up(self.heap.len() - 1);
            return;
        }
        let Some(root) = self.heap.first_mut() else {
            return;
        };
        let (smallest, gone) = *root;
        *root = (smallest + 1, client);
        self.place.remove(&gone);
        self.sift_down(0);
    }

    fn count_at(&self, at: usize) -> u64 {
        self.heap.get(at).map_or(u64::MAX, |e| e.0)
    }

    /// Puts `entry` at `at` and records its place.
    fn set(&mut self, at: usize, entry: (u64, IpAddr)) {
        if let Some(slot) = self.heap.get_mut(at) {
            *slot = entry;
            self.place.insert(entry.1, at);
        }
    }

    /// Moves the entry at `at` up past larger parents (a hole moves down instead of swaps, so
    /// each moved entry's place is written once).
    fn sift_up(&mut self, mut at: usize) {
        let Some(&moving) = self.heap.get(at) else {
            return;
        };
        while at > 0 {
            let parent = (at - 1) / 2;
            match self.heap.get(parent) {
                Some(&above) if above.0 > moving.0 => {
                    self.set(at, above);
                    at = parent;
                }
                _ => break,
            }
        }
        self.set(at, moving);
    }

    /// Moves the entry at `at` down past smaller children.
    fn sift_down(&mut self, mut at: usize) {
        let Some(&moving) = self.heap.get(at) else {
            return;
        };
        loop {
            let left = 2 * at + 1;
            let child = if self.count_at(left + 1) < self.count_at(left) {
                left + 1
            } else {
                left
            };
            match self.heap.get(child) {
                Some(&below) if below.0 < moving.0 => {
                    self.set(at, below);
                    at = child;
                }
                _ => break,
            }
        }
        self.set(at, moving);
    }

    /// The clients counted at least `min` times, heaviest first, at most `top`; then starts
    /// afresh.
    pub fn take_top(&mut self, top: usize, min: u64) -> Vec<(IpAddr, u64)> {
        self.place.clear();
        let mut all: Vec<(IpAddr, u64)> = self
            .heap
            .drain(..)
            .filter(|(n, _)| *n >= min)
            .map(|(n, c)| (c, n))
            .collect();
        all.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        all.truncate(top);
        all
    }
}

/// The packets received so far on `interfaces` (all but loopback when empty), from the text of
/// `/proc/net/dev`.
pub fn received_packets(proc_net_dev: &str, interfaces: &[String]) -> u64 {
    proc_net_dev
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| {
            let name = name.trim();
            if interfaces.is_empty() {
                name != "lo"
            } else {
                interfaces.iter().any(|i| i == name)
            }
        })
        .filter_map(|(_, counters)| counters.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CleaningPolicy {
        let section: CleaningSection = toml::from_str(
            "max_requests_per_sec = 1000\nmax_packets_per_sec = 5000\nengage_secs = 2\nrelease_secs = 3\n",
        )
        .unwrap();
        compile_cleaning(Some(section)).unwrap().unwrap()
    }

    fn rps(requests: u64) -> Rates {
        Rates {
            requests,
            ..Rates::default()
        }
    }

    #[test]
    fn cleaning_engages_after_its_streak_and_releases_only_when_calm_long_enough() {
        let p = policy();
        let mut s = CleaningState::default();
        assert_eq!(
            s.tick(&p, rps(1_500)),
            None,
            "one second over is not yet a flood"
        );
        assert_eq!(s.tick(&p, rps(900)), None);
        assert_eq!(s.tick(&p, rps(1_500)), None);
        let engaged = s.tick(
            &p,
            Rates {
                requests: 2_000,
                bits: 0,
                packets: 9_000,
            },
        );
        assert_eq!(
            engaged,
            Some(Transition::Engaged {
                cause: vec!["requests/s", "packets/s"],
                rates: Rates {
                    requests: 2_000,
                    bits: 0,
                    packets: 9_000
                }
            })
        );
        assert!(s.engaged());
        // Between the release level (700) and the threshold: stays on (hysteresis).
        for r in [800, 800, 800, 800, 3_000] {
            assert_eq!(s.tick(&p, rps(r)), None);
        }
        assert_eq!(s.tick(&p, rps(100)), None);
        assert_eq!(s.tick(&p, rps(100)), None);
        match s.tick(&p, rps(100)) {
            Some(Transition::Released(ep)) => {
                assert_eq!(ep.cause, vec!["requests/s", "packets/s"]);
                assert_eq!(
                    ep.peak,
                    Rates {
                        requests: 3_000,
                        bits: 0,
                        packets: 9_000
                    }
                );
                assert_eq!(ep.secs, 9);
            }
            other => panic!("{other:?}"),
        }
        assert!(!s.engaged());
    }

    #[test]
    fn settings_are_checked() {
        let e = |text: &str| {
            let section: CleaningSection = toml::from_str(text).unwrap();
            compile_cleaning(Some(section)).unwrap_err().field
        };
        assert_eq!(e("engage_secs = 2"), "cleaning");
        assert_eq!(e("max_bits_per_sec = 0"), "cleaning.max_bits_per_sec");
        assert_eq!(
            e("max_requests_per_sec = 1\nrelease_ratio = 1.5"),
            "cleaning.release_ratio"
        );
        assert_eq!(
            e("max_requests_per_sec = 1\nstricter = 0"),
            "cleaning.stricter"
        );
    }

    #[test]
    fn the_heaviest_clients_are_found_in_fixed_memory() {
        let mut h = HeavyHitters::new(16);
        let flooder: IpAddr = "198.51.100.7".parse().unwrap();
        let second: IpAddr = "198.51.100.8".parse().unwrap();
        for i in 0..100_000u32 {
            h.count(IpAddr::V4((i % 5_000 + 1_000_000).into()));
            if i % 3 == 0 {
                h.count(flooder);
            }
            if i % 10 == 0 {
                h.count(second);
            }
            assert!(h.heap.len() <= 16 && h.place.len() == h.heap.len());
        }
        let top = h.take_top(2, 1_000);
        assert_eq!(
            top.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
            vec![flooder, second]
        );
        assert!(h.heap.is_empty() && h.place.is_empty(), "starts afresh");
    }

    #[test]
    fn packets_come_from_proc_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  eth0: 987654   4321    0    0    0     0          0         0   123456    999    0    0    0     0       0          0\n  eth1: 100        5    0    0    0     0          0         0        0      0    0    0    0     0       0          0\n";
        assert_eq!(received_packets(text, &[]), 4_326);
        assert_eq!(received_packets(text, &["lo".into()]), 10);
        assert_eq!(received_packets(text, &["eth0".into()]), 4_321);
        assert_eq!(received_packets("garbage", &[]), 0);
    }

    proptest::proptest! {
        /// Whatever the stream: the counters add up to its length (Space-Saving's invariant),
        /// the heap and the places agree, and every client sending more than 1/slots of the
        /// stream is held with at least its true count.
        #[test]
        fn the_heap_keeps_space_saving_s_guarantees(
            stream in proptest::collection::vec(0u32..64, 1..2_000),
            slots in 1usize..24,
        ) {
            let mut h = HeavyHitters::new(slots);
            let mut truth: std::collections::HashMap<IpAddr, u64> = Default::default();
            for c in &stream {
                let ip = IpAddr::V4((*c).into());
                h.count(ip);
                *truth.entry(ip).or_default() += 1;
            }
            let total: u64 = h.heap.iter().map(|e| e.0).sum();
            proptest::prop_assert_eq!(total, stream.len() as u64);
            proptest::prop_assert_eq!(h.place.len(), h.heap.len());
            for (at, (n, c)) in h.heap.iter().enumerate() {
                proptest::prop_assert_eq!(h.place.get(c), Some(&at));
                if at > 0 {
                    proptest::prop_assert!(h.heap[(at - 1) / 2].0 <= *n, "heap order");
                }
            }
            for (c, n) in &truth {
                if *n * slots as u64 > stream.len() as u64 {
                    let held = h.heap.iter().find(|e| e.1 == *c).map(|e| e.0);
                    proptest::prop_assert!(held.is_some_and(|h| h >= *n), "{c} sent {n}, held {held:?}");
                }
            }
        }
    }
}
