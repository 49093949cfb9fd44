//! DDoS cleaning at the edge: the traffic meter (every request and its bytes, refused or not),
//! the once-a-second tick that turns the meter and the host's packet counters into rates for
//! the shield's decision, and what an episode does here — a security event when it starts, the
//! top offenders blocked (list entries that end by themselves), a security event with the peak
//! figures when it ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_domain::security::SecurityEvent;
use gatehouse_domain::traffic::{ListAction, ListSubject, NewListEntry};
use gatehouse_shield::{received_packets, Rates, Transition};

use crate::Edge;

/// How often the rates are taken.
pub const TICK: Duration = Duration::from_secs(1);
const PROC_NET_DEV: &str = "/proc/net/dev";

/// Requests and bytes through the edge since the last tick.
#[derive(Default)]
pub(crate) struct Meter {
    requests: AtomicU64,
    bytes: AtomicU64,
    /// The interfaces' packet counter at the last tick, and clients blocked this episode.
    last_packets: Mutex<Option<u64>>,
    blocked: AtomicU64,
}

impl Meter {
    pub(crate) fn request(&self, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn response(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

fn per_sec(count: u64, secs: f64) -> u64 {
    (count as f64 / secs).round() as u64
}

fn figures(r: Rates) -> String {
    format!(
        "{} requests/s, {} bits/s, {} packets/s",
        r.requests, r.bits, r.packets
    )
}

impl Edge {
    /// One tick: the rates over `elapsed` (the edge's meter; packets from the host's counters
    /// when given), the shield's decision, and what it means here. Returns the transition.
    pub async fn tick_cleaning(
        &self,
        elapsed: Duration,
        packets_total: Option<u64>,
    ) -> Option<Transition> {
        let secs = elapsed.as_secs_f64().max(0.001);
        let requests = self.meter.requests.swap(0, Ordering::Relaxed);
        let bytes = self.meter.bytes.swap(0, Ordering::Relaxed);
        let packets = {
            let mut last = self
                .meter
                .last_packets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let delta = match (*last, packets_total) {
                (Some(before), Some(now)) => now.saturating_sub(before),
                _ => 0,
            };
            *last = packets_total;
            delta
        };
        let rates = Rates {
            requests: per_sec(requests, secs),
            bits: per_sec(bytes.saturating_mul(8), secs),
            packets: per_sec(packets, secs),
        };
        let transition = self.shield.tick_cleaning(rates);
        match &transition {
            Some(Transition::Engaged { cause, rates }) => {
                self.meter.blocked.store(0, Ordering::Relaxed);
                tracing::warn!(cause = ?cause, rates = %figures(*rates), "DDoS cleaning engaged");
                self.security_event(
                    "ddos_cleaning_started",
                    format!("over {}: {}", cause.join(", "), figures(*rates)),
                )
                .await;
            }
            Some(Transition::Released(ep)) => {
                let blocked = self.meter.blocked.swap(0, Ordering::Relaxed);
                tracing::warn!(secs = ep.secs, peak = %figures(ep.peak), "DDoS cleaning ended");
                self.security_event(
                    "ddos_cleaning_ended",
                    format!(
                        "over {} for {} s; peaks {}; {blocked} clients blocked",
                        ep.cause.join(", "),
                        ep.secs,
                        figures(ep.peak)
                    ),
                )
                .await;
            }
            None => {}
        }
        if self.shield.cleaning() {
            self.block_offenders(secs).await;
        }
        transition
    }

    /// Blocks the heaviest clients of the last tick for the policy's `block_secs`.
    async fn block_offenders(&self, secs: f64) {
        let offenders = self.shield.take_offenders(secs);
        let policy = self.shield.policy();
        let (Some(settings), Some(_)) = (policy.cleaning.as_ref(), self.store.as_ref()) else {
            return;
        };
        let lists = self.shield.lists();
        let now = self.clock.now();
        for (client, rate) in offenders {
            if lists.find(client, None, None, self.now_us()).is_some() {
                // Already blocked, or allowed by staff.
                continue;
            }
            let entry = NewListEntry {
                action: ListAction::Block,
                subject: ListSubject::Network {
                    addr: client,
                    prefix: if client.is_ipv4() { 32 } else { 128 },
                },
                reason: format!("DDoS cleaning: top offender at {rate} requests/s"),
                expires_at: now
                    .checked_add(jiff::SignedDuration::from_secs(i64::from(
                        settings.block_secs,
                    )))
                    .ok(),
                added_by: None,
                added_at: now,
            };
            match self.add_list_entry(entry).await {
                Ok(_) => {
                    self.meter.blocked.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, %client, "top offender not blocked"),
            }
        }
    }

    pub(crate) async fn security_event(&self, kind: &str, detail: String) {
        let Some(store) = &self.store else {
            return;
        };
        let event = SecurityEvent {
            at: self.clock.now(),
            kind: kind.to_owned(),
            source: "edge".into(),
            detail,
            ip: None,
        };
        if let Err(e) = store.record_security_event(&event).await {
            tracing::warn!(error = %e, "security event not recorded");
        }
    }

    /// Ticks once a second until the runtime stops.
    pub(crate) fn spawn_cleaning(self: &Arc<Self>) {
        let edge = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = Instant::now();
            loop {
                tick.tick().await;
                let policy = edge.shield.policy();
                let packets = match policy.cleaning.as_ref() {
                    Some(c) => tokio::fs::read_to_string(PROC_NET_DEV)
                        .await
                        .ok()
                        .map(|text| received_packets(&text, &c.interfaces)),
                    None => None,
                };
                let now = Instant::now();
                edge.tick_cleaning(now - last, packets).await;
                last = now;
            }
        });
    }
}
