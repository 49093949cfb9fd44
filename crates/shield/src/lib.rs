//! Traffic protection, the engine. [`Shield`] holds the running [`Policy`] and the keyed limit
//! state, and gives each request its [`Verdict`] from plain facts (method, path, peer address,
//! forwarded hops, account, device) with the time passed in — no HTTP here: the edge layer in
//! front of Gatehouse and the standalone gateway both feed it.
//!
//! - `policy.rs`: the policy file, its checks (each mistake names its field) and compiled form.
//! - `client_ip.rs`: the client's address through trusted proxy hops; /24 and /64 keys.
//! - `keyed.rs`: GCRA limits over a bounded, sharded table.
//! - `flow.rs`: Sentinel-style flow control per route (reject, queue, warm-up, in-flight cap).
//! - `lists.rs`: staff's block and allow lists (addresses, networks, accounts, devices).
//! - `signals.rs`: crawler and bot signals, weighted into a score (challenge, block).
//! - `challenge.rs`, `policy_challenge.rs`: proof-of-work challenges and signed passes.
//! - `policy_firewall.rs`: the `[firewall]` section, read and checked for the edge's firewall.
//! - `cleaning.rs`: DDoS cleaning's thresholds, hysteresis and top offenders.
//! - `shedding.rs`: adaptive shedding when the server has too much in flight or answers slowly.
//! - `routes.rs`: the policy's route patterns.
//!
//! Architecture invariant: the keyed state never holds more than the policy's `max_keys` keys,
//! whatever the traffic; a reload keeps the state of every limit it leaves unchanged.

mod challenge;
mod cleaning;
mod client_ip;
mod flow;
mod keyed;
mod lists;
mod policy;
mod policy_challenge;
mod policy_firewall;
mod routes;
mod shedding;
mod signals;

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use challenge::{
    leading_zero_bits, solves, work_hash, Binding, Challenge, PassKey, TokenRefused, Via, Work,
};
pub use cleaning::{
    received_packets, CleaningPolicy, CleaningState, Episode, HeavyHitters, Rates, Transition,
};
pub use flow::{Control, FlowDecision, FlowState, InFlight};
pub use shedding::Load;
pub use signals::{HeaderFacts, Score, Signal, Signals, Weights};

pub use client_ip::{address_key, canonical, prefix_key, TrustedProxies};
pub use keyed::{Gcra, KeyedLimits, OverLimit};
pub use lists::{ListKey, ListRule, Listed, Lists};
pub use policy::{
    Exhaustion, Flow, KeyKind, Limit, Metering, Policy, PolicyError, Shedding, DEFAULT_POLICY,
    MAX_LIMITS,
};
pub use policy_challenge::{ChallengeRule, Challenges, When};
pub use policy_firewall::{FirewallExclusion, FirewallMode, FirewallPolicy};
pub use routes::{Path, RoutePattern};

/// A limit's key in the shared store: the same on every node.
fn shared_key(salt: u64, bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(17 + bytes.len() * 2);
    let _ = write!(key, "{salt:016x}:");
    for b in bytes {
        let _ = write!(key, "{b:02x}");
    }
    key
}

/// Counters kept for naming DDoS cleaning's top offenders.
const HEAVY_HITTER_SLOTS: usize = 256;
/// One request in this many is counted for the top offenders.
const HITTER_SAMPLE: u64 = 8;

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The prefix of the paths a challenged client uses to earn its pass (the solver, the answer,
/// the SMS path): no challenge rule covers them.
pub const OWN_PATHS: &str = "/.gatehouse/";

/// What the edge knows of a request before any route runs.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The path without the query.
    pub path: &'a str,
    /// The address the connection came from.
    pub peer: IpAddr,
    /// `X-Forwarded-For` header values, in order.
    pub forwarded_for: &'a [&'a str],
    /// The signed-in account (or session) the request names, if the edge can tell.
    pub account: Option<&'a str>,
    /// The client's device id (`X-Device-Id`).
    pub device: Option<&'a str>,
    /// The client's `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// The session credential as sent (bearer or cookie), for binding passes to it.
    pub session: Option<&'a str>,
    /// A pass the client shows (`gh_pass` cookie or `X-Gatehouse-Pass`).
    pub pass: Option<&'a str>,
    /// `Accept`, `Accept-Language`, and whether any `Sec-Fetch-*` header came (bot signals).
    pub accept: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    pub fetch_metadata: bool,
    /// Wall-clock seconds since the Unix epoch (passes and challenges end in wall time, so
    /// every node agrees).
    pub unix_now: u64,
}

/// The edge's answer for a request.
#[derive(Debug)]
pub enum Verdict {
    /// Let it through (after `wait_us`, when a flow rule queues it); hold the admission until
    /// the response is done — it keeps the request's places among those in flight.
    Allow(Admission),
    /// Over a client's limit: 429 and when to try again.
    Limited {
        client: IpAddr,
        limit: Arc<str>,
        retry_after_us: u64,
    },
    /// The route as a whole is at its rate or its cap in flight: 429 (rate) or 503 (in flight).
    FlowFull {
        client: IpAddr,
        rule: String,
        in_flight: bool,
    },
    /// The server is overloaded and this route may be shed: 503.
    Shed { client: IpAddr },
    /// A challenge rule covers the request and it shows no valid pass: answer with a
    /// challenge for `binding` (see [`Shield::challenge`]).
    Challenge {
        client: IpAddr,
        /// The sale (the rule's name) the pass will be bound to.
        sale: Arc<str>,
        binding: Binding,
        /// The bot signals' score (for a `suspicious` rule, why it applied).
        score: Score,
    },
    /// The bot signals add up to the policy's `block_at`: 403.
    Bot { client: IpAddr, score: Score },
    /// On a block list: 403.
    Blocked {
        client: IpAddr,
        /// The list entry's id (shown to the client as a reference) and why it was added.
        entry: i64,
        reason: Arc<str>,
    },
}

impl Verdict {
    pub fn client(&self) -> IpAddr {
        match self {
            Verdict::Allow(a) => a.client,
            Verdict::Limited { client, .. }
            | Verdict::FlowFull { client, .. }
            | Verdict::Shed { client }
            | Verdict::Blocked { client, .. }
            | Verdict::Bot { client, .. }
            | Verdict::Challenge { client, .. } => *client,
        }
    }

    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow(_))
    }
}

/// A request let through.
#[derive(Debug)]
pub struct Admission {
    pub client: IpAddr,
    /// The bot signals scored the client at or above `challenge_at` (it was let through: no
    /// challenge rule covered the route, or it showed a pass). Risk control reads it as the
    /// client being inconsistent.
    pub suspicious: bool,
    /// How long to hold the request first (a queueing flow rule spaces requests out).
    pub wait_us: u64,
    /// Its place among the server's requests in flight (when the policy sheds by load).
    _load: Option<InFlight>,
    /// Its places among the requests in flight of the flow rules covering it.
    _flows: Vec<InFlight>,
    /// With shared limits on: the limits covering it, for the edge to count in the shared
    /// store (in one atomic step) before the request goes on.
    pub shared: Vec<SharedCheck>,
}

/// One limit to count in the shared store: its key there, and the same limit locally (for when
/// the shared store is out of reach).
#[derive(Debug, Clone)]
pub struct SharedCheck {
    /// The same on every node: the limit's salt and the key's bytes, in hex.
    pub key: String,
    pub gcra: Gcra,
    pub limit: Arc<str>,
    local_key: u64,
}

/// Why a new policy was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadRefused {
    #[error("{0}")]
    Invalid(#[from] PolicyError),
    #[error("version {offered} is not newer than the running version {running}")]
    NotNewer { running: u32, offered: u32 },
}

/// The running policy with the live state of its flow rules (in the policy's order) and of its
/// keyed limits. Swapped whole on reload; read by every request without a lock.
struct Running {
    policy: Arc<Policy>,
    flows: Vec<Arc<FlowState>>,
    limits: Arc<KeyedLimits>,
    /// The bot signals' per-client traces (same bound as the limits).
    traces: Arc<KeyedLimits>,
}

/// The running policy and the state it keeps.
pub struct Shield {
    running: ArcSwap<Running>,
    lists: ArcSwap<Lists>,
    passes: ArcSwap<PassKey>,
    /// DDoS cleaning engaged: `when = "cleaning"` challenge rules apply, limits are stricter,
    /// clients are counted for the top offenders.
    cleaning: std::sync::atomic::AtomicBool,
    cleaning_state: std::sync::Mutex<CleaningState>,
    /// Limits are counted in a store shared by every node (the edge does it); off: here.
    shared: std::sync::atomic::AtomicBool,
    hitters: std::sync::Mutex<HeavyHitters>,
    sampled: std::sync::atomic::AtomicU64,
    load: Load,
}

fn same_flow(a: &Flow, b: &Flow) -> bool {
    a.name == b.name
        && a.qps == b.qps
        && a.control == b.control
        && a.max_in_flight == b.max_in_flight
}

impl Running {
    /// Live state for `policy`'s flows and limits, kept from `previous` for flow rules it did
    /// not change and for the limits unless the table's size changed.
    fn new(policy: Policy, previous: Option<&Running>) -> Self {
        let (limits, traces) = match previous {
            Some(p) if p.policy.max_keys == policy.max_keys => (p.limits.clone(), p.traces.clone()),
            _ => (
                Arc::new(KeyedLimits::new(policy.max_keys)),
                Arc::new(KeyedLimits::new(policy.max_keys)),
            ),
        };
        let flows = policy
            .flows
            .iter()
            .map(|f| {
                previous
                    .and_then(|p| {
                        p.policy
                            .flows
                            .iter()
                            .zip(&p.flows)
                            .find(|(old, _)| same_flow(old, f))
                            .map(|(_, state)| state.clone())
                    })
                    .unwrap_or_else(|| Arc::new(FlowState::new(f.qps, f.control, f.max_in_flight)))
            })
            .collect();
        Self {
            policy: Arc::new(policy),
            flows,
            limits,
            traces,
        }
    }
}

impl Shield {
    pub fn new(policy: Policy) -> Self {
        Self {
            running: ArcSwap::from_pointee(Running::new(policy, None)),
            lists: ArcSwap::from_pointee(Lists::default()),
            // A key of this process until the shared one is set (`set_pass_key`).
            passes: ArcSwap::from_pointee(PassKey::new(&rand::random::<[u8; 32]>())),
            cleaning: std::sync::atomic::AtomicBool::new(false),
            cleaning_state: std::sync::Mutex::new(CleaningState::default()),
            shared: std::sync::atomic::AtomicBool::new(false),
            hitters: std::sync::Mutex::new(HeavyHitters::new(HEAVY_HITTER_SLOTS)),
            sampled: std::sync::atomic::AtomicU64::new(0),
            load: Load::default(),
        }
    }

    /// The running policy.
    pub fn policy(&self) -> Arc<Policy> {
        self.running.load().policy.clone()
    }

    /// The server's load as the shield sees it (requests in flight, recent response time).
    pub fn load(&self) -> &Load {
        &self.load
    }

    /// Takes a newer policy. The state of limits it leaves unchanged is kept (unless the
    /// table's size changed); a changed limit starts afresh.
    pub fn reload(&self, next: Policy) -> Result<(), ReloadRefused> {
        let current = self.running.load_full();
        let running = &current.policy;
        if next.version <= running.version {
            if next.version == running.version && next.digest == running.digest {
                return Ok(());
            }
            return Err(ReloadRefused::NotNewer {
                running: running.version,
                offered: next.version,
            });
        }
        tracing::info!(
            from = running.version,
            to = next.version,
            "traffic-protection policy reloaded"
        );
        self.running
            .store(Arc::new(Running::new(next, Some(&current))));
        Ok(())
    }

    /// Sets the key passes and challenges are signed with (every node of a deployment shares it).
    pub fn set_pass_key(&self, key: &[u8; 32]) {
        self.passes.store(Arc::new(PassKey::new(key)));
    }

    /// The key passes and challenges are signed with.
    pub fn passes(&self) -> Arc<PassKey> {
        self.passes.load_full()
    }

    /// Engages or ends DDoS cleaning (`when = "cleaning"` challenge rules).
    pub fn set_cleaning(&self, on: bool) {
        self.cleaning
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn cleaning(&self) -> bool {
        self.cleaning.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts the per-client limits in the shared store (on) or here (off, and when the shared
    /// store is out of reach).
    pub fn set_shared(&self, on: bool) {
        self.shared.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn shared(&self) -> bool {
        self.shared.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts shared checks here instead (the shared store did not answer). The first over
    /// refuses, naming its limit.
    pub fn check_here(
        &self,
        checks: &[SharedCheck],
        now_us: u64,
    ) -> Result<(), (Arc<str>, OverLimit)> {
        let running = self.running.load();
        for c in checks {
            running
                .limits
                .check(c.local_key, c.gcra, now_us)
                .map_err(|over| (c.limit.clone(), over))?;
        }
        Ok(())
    }

    /// Takes one second's traffic (requests and bits measured by the edge, packets from the
    /// interfaces) and engages or releases cleaning. Without `[cleaning]` in the policy,
    /// nothing happens.
    pub fn tick_cleaning(&self, rates: Rates) -> Option<Transition> {
        let policy = self.policy();
        let settings = policy.cleaning.as_ref()?;
        let transition = locked(&self.cleaning_state).tick(settings, rates);
        match &transition {
            Some(Transition::Engaged { .. }) => {
                locked(&self.hitters).take_top(0, 0);
                self.set_cleaning(true);
            }
            Some(Transition::Released(_)) => self.set_cleaning(false),
            None => {}
        }
        transition
    }

    /// While cleaning: the clients that sent at least the policy's offender rate over the last
    /// `secs` seconds, heaviest first, at most `block_top` (counting starts afresh).
    pub fn take_offenders(&self, secs: f64) -> Vec<(IpAddr, u64)> {
        let policy = self.policy();
        let Some(settings) = policy.cleaning.as_ref() else {
            return Vec::new();
        };
        let per_sample = HITTER_SAMPLE as f64;
        let min = (settings.offender_requests_per_sec as f64 * secs / per_sample).ceil() as u64;
        locked(&self.hitters)
            .take_top(settings.block_top as usize, min.max(1))
            .into_iter()
            .map(|(c, n)| (c, (n as f64 * per_sample / secs.max(0.001)).round() as u64))
            .collect()
    }

    /// A fresh challenge for `binding` under the running policy's work and difficulty.
    pub fn challenge(&self, binding: Binding, unix_now: u64) -> (String, Challenges) {
        let settings = self.running.load().policy.challenges;
        let token = self.passes.load().challenge(
            settings.work,
            settings.difficulty,
            binding,
            unix_now,
            rand::random(),
        );
        (token, settings)
    }

    /// Takes new block and allow lists.
    pub fn set_lists(&self, lists: Lists) {
        self.lists.store(Arc::new(lists));
    }

    /// The block and allow lists in force.
    pub fn lists(&self) -> Arc<Lists> {
        self.lists.load_full()
    }

    /// The verdict on a request at `now_us` (microseconds on a monotonic clock): the block and
    /// allow lists first, then the client's limits (every limit that covers the request and
    /// whose key it carries is counted; the first one over refuses it) unless an allow entry
    /// covers it, then shedding, then the route's flow rules.
    pub fn check(&self, facts: &RequestFacts<'_>, now_us: u64) -> Verdict {
        let running = self.running.load();
        let policy = &running.policy;
        let state = &running.limits;
        let client = policy
            .trusted_proxies
            .client_ip(facts.peer, facts.forwarded_for);
        let lists = self.lists.load();
        let allowed = match lists.find(client, facts.account, facts.device, now_us) {
            Some(Listed::Blocked(rule)) => {
                return Verdict::Blocked {
                    client,
                    entry: rule.id,
                    reason: rule.reason.clone(),
                }
            }
            Some(Listed::Allowed(_)) => true,
            None => false,
        };
        let path = Path::split(facts.path);
        let cleaning = self.cleaning();
        // One request in HITTER_SAMPLE is counted: a flooder sends so many that it still
        // stands out, and the count costs most requests nothing.
        if cleaning
            && !allowed
            && self
                .sampled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .is_multiple_of(HITTER_SAMPLE)
        {
            locked(&self.hitters).count(client);
        }
        let score = match (&policy.signals, allowed) {
            (Some(signals), false) if signals.covers(facts.method, &path) => {
                let headers = HeaderFacts {
                    user_agent: facts.user_agent,
                    accept: facts.accept,
                    accept_language: facts.accept_language,
                    fetch_metadata: facts.fetch_metadata,
                };
                let score = signals.score(
                    &running.traces,
                    client,
                    facts.method,
                    &path,
                    &headers,
                    now_us,
                );
                if score.total >= signals.block_at {
                    return Verdict::Bot { client, score };
                }
                score
            }
            _ => Score::default(),
        };
        let shared = self.shared();
        let mut shared_checks = Vec::new();
        for limit in &policy.limits {
            if allowed || !limit.key.from_request() || !limit.covers(facts.method, &path) {
                continue;
            }
            let gcra = if cleaning {
                limit.cleaning_gcra
            } else {
                limit.gcra
            };
            let (address, prefix);
            let bytes: &[u8] = match limit.key {
                KeyKind::Ip => {
                    address = address_key(client);
                    &address
                }
                KeyKind::IpPrefix => {
                    prefix = prefix_key(client);
                    &prefix
                }
                KeyKind::Account => match facts.account {
                    Some(a) => a.as_bytes(),
                    None => continue,
                },
                KeyKind::Device => match facts.device {
                    Some(d) => d.as_bytes(),
                    None => continue,
                },
                KeyKind::Phone | KeyKind::IdNumber => continue,
            };
            let key = state.key(limit.salt, bytes);
            if shared {
                shared_checks.push(SharedCheck {
                    key: shared_key(limit.salt, bytes),
                    gcra,
                    limit: limit.name.clone(),
                    local_key: key,
                });
                continue;
            }
            if let Err(over) = state.check(key, gcra, now_us) {
                return Verdict::Limited {
                    client,
                    limit: limit.name.clone(),
                    retry_after_us: over.retry_after_us,
                };
            }
        }
        let suspicious = !allowed
            && policy
                .signals
                .as_ref()
                .is_some_and(|s| score.total >= s.challenge_at);
        if !allowed {
            if let Some(refusal) =
                self.challenge_needed(policy, facts, client, &path, score, suspicious)
            {
                return refusal;
            }
        }
        let mut load = None;
        if let Some(shedding) = &policy.shedding {
            let kept = shedding
                .keep
                .iter()
                .any(|k| k.matches_split(facts.method, &path));
            if !kept && self.load.overloaded(shedding, now_us) {
                return Verdict::Shed { client };
            }
            load = Some(self.load.enter());
        }
        let mut places = Vec::new();
        let mut wait_us = 0;
        for (flow, live) in policy.flows.iter().zip(&running.flows) {
            if !flow.covers(facts.method, &path) {
                continue;
            }
            let Some(place) = live.enter() else {
                return Verdict::FlowFull {
                    client,
                    rule: flow.name.clone(),
                    in_flight: true,
                };
            };
            places.push(place);
            match live.admit(now_us) {
                FlowDecision::Pass => {}
                FlowDecision::Wait(us) => wait_us = wait_us.max(us),
                FlowDecision::Reject => {
                    return Verdict::FlowFull {
                        client,
                        rule: flow.name.clone(),
                        in_flight: false,
                    }
                }
            }
        }
        Verdict::Allow(Admission {
            client,
            suspicious,
            wait_us,
            _load: load,
            _flows: places,
            shared: shared_checks,
        })
    }

    /// The challenge a request must answer first: the first challenge rule that covers it and
    /// applies now (always, or while cleaning) decides; it asks for a valid pass bound to this
    /// client and the rule's sale.
    fn challenge_needed(
        &self,
        policy: &Policy,
        facts: &RequestFacts<'_>,
        client: IpAddr,
        path: &Path<'_>,
        score: Score,
        suspicious: bool,
    ) -> Option<Verdict> {
        if policy.challenge_rules.is_empty() || facts.path.starts_with(OWN_PATHS) {
            return None;
        }
        for rule in &policy.challenge_rules {
            let applies = match rule.when {
                When::Always => true,
                When::Cleaning => self.cleaning(),
                When::Suspicious => suspicious,
            };
            if !applies || !rule.covers(facts.method, path) {
                continue;
            }
            let binding = Binding::of(
                client,
                facts.user_agent.unwrap_or(""),
                facts.session.unwrap_or(""),
                &rule.name,
            );
            let shown = facts.pass.is_some_and(|p| {
                self.passes
                    .load()
                    .check_pass(p, binding, facts.unix_now)
                    .is_ok()
            });
            return (!shown).then(|| Verdict::Challenge {
                client,
                sale: rule.name.clone(),
                binding,
                score,
            });
        }
        None
    }

    /// Reports a finished request's response time, for latency-based shedding.
    pub fn finished(&self, latency_us: u64, now_us: u64) {
        self.load.record(latency_us, now_us);
    }

    /// Counts a person a route reads from the request's body (a phone, an ID number:
    /// `normalised` as the route reads it) against the limits of that kind covering the route.
    /// The person is blinded first (see [`PassKey::blind_subject`]). With shared limits on,
    /// nothing is counted here: the checks come back for the edge to count in the shared store.
    /// Err names the limit.
    pub fn check_subject(
        &self,
        kind: KeyKind,
        method: &str,
        path: &str,
        normalised: &str,
        now_us: u64,
    ) -> Result<Vec<SharedCheck>, (Arc<str>, OverLimit)> {
        let running = self.running.load();
        let state = &running.limits;
        let path = Path::split(path);
        let cleaning = self.cleaning();
        let shared = self.shared();
        let mut blinded = None;
        let mut checks = Vec::new();
        for limit in &running.policy.limits {
            if limit.key != kind || !limit.covers(method, &path) {
                continue;
            }
            let subject = *blinded
                .get_or_insert_with(|| self.passes.load().blind_subject(kind.as_str(), normalised));
            let gcra = if cleaning {
                limit.cleaning_gcra
            } else {
                limit.gcra
            };
            let key = state.key(limit.salt, &subject);
            if shared {
                checks.push(SharedCheck {
                    key: shared_key(limit.salt, &subject),
                    gcra,
                    limit: limit.name.clone(),
                    local_key: key,
                });
                continue;
            }
            state
                .check(key, gcra, now_us)
                .map_err(|over| (limit.name.clone(), over))?;
        }
        Ok(checks)
    }

    /// Keys held for keyed limits now, and the most there can be.
    pub fn keys_held(&self) -> (usize, usize) {
        let running = self.running.load();
        (running.limits.len(), running.limits.max_keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    fn shield(text: &str) -> Shield {
        Shield::new(Policy::from_toml(text).unwrap())
    }

    fn facts<'a>(method: &'a str, path: &'a str, peer: &str) -> RequestFacts<'a> {
        RequestFacts {
            method,
            path,
            peer: peer.parse().unwrap(),
            forwarded_for: &[],
            account: None,
            device: None,
            user_agent: None,
            session: None,
            pass: None,
            unix_now: 1_800_000_000,
            accept: None,
            accept_language: None,
            fetch_metadata: false,
        }
    }

    const TWO_PER_MINUTE: &str = r#"
version = 1
[client_ip]
trusted_proxies = ["10.0.0.0/8"]
[[limit]]
name = "orders per address"
route = "POST /api/v1/orders"
key = "ip"
burst = 2
per_secs = 60
[[limit]]
name = "orders per account"
route = "POST /api/v1/orders"
key = "account"
burst = 3
per_secs = 60
[[limit]]
name = "codes per phone"
route = "POST /api/v1/auth/phone/code"
key = "phone"
burst = 1
per_secs = 60
"#;

    const CHALLENGED: &str = r#"
version = 1
[challenges]
difficulty = 12
pass_secs = 600
[[challenge]]
name = "morning release"
route = "POST /api/v1/orders"
when = "always"
[[challenge]]
name = "under attack"
route = "*"
when = "cleaning"
"#;

    #[test]
    fn a_challenged_route_asks_for_a_pass_bound_to_the_client_and_the_sale() {
        let s = shield(CHALLENGED);
        let mut f = facts("POST", "/api/v1/orders", "198.51.100.7");
        f.user_agent = Some("Mozilla/5.0");
        let Verdict::Challenge { sale, binding, .. } = s.check(&f, SEC) else {
            panic!("no pass: challenged");
        };
        assert_eq!(&*sale, "morning release");
        let (token, settings) = s.challenge(binding, f.unix_now);
        assert_eq!(settings.difficulty, 12);
        let challenge = s
            .passes()
            .open_challenge(&token, binding, f.unix_now, settings.solve_secs)
            .unwrap();
        let counter = (0..).find(|c| solves(&challenge, &token, *c)).unwrap();
        assert!(solves(&challenge, &token, counter));
        let pass = s
            .passes()
            .pass(binding, Via::Work, f.unix_now, settings.pass_secs);
        f.pass = Some(&pass);
        assert!(s.check(&f, SEC).is_allowed(), "the pass lets it through");
        let mut other_browser = f;
        other_browser.user_agent = Some("python-requests/2.32");
        assert!(matches!(
            s.check(&other_browser, SEC),
            Verdict::Challenge { .. }
        ));
        let mut later = f;
        later.unix_now += 600;
        assert!(
            matches!(s.check(&later, SEC), Verdict::Challenge { .. }),
            "the pass ended"
        );
        // Other routes ask nothing until cleaning engages; then everything without a pass does.
        let browse = facts("GET", "/api/v1/products", "198.51.100.7");
        assert!(s.check(&browse, SEC).is_allowed());
        s.set_cleaning(true);
        match s.check(&browse, SEC) {
            Verdict::Challenge { sale, .. } => assert_eq!(&*sale, "under attack"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cleaning_engages_on_a_threshold_tightens_limits_and_names_the_top_offenders() {
        let s = shield(
            r#"
version = 1
[cleaning]
max_requests_per_sec = 100
engage_secs = 1
release_secs = 1
stricter = 0.5
block_top = 1
offender_requests_per_sec = 5
[[limit]]
name = "orders per address"
route = "POST /api/v1/orders"
key = "ip"
burst = 4
per_secs = 60
"#,
        );
        let calm = Rates {
            requests: 10,
            ..Rates::default()
        };
        assert_eq!(s.tick_cleaning(calm), None);
        assert!(!s.cleaning());
        let flood = Rates {
            requests: 500,
            ..Rates::default()
        };
        assert!(matches!(
            s.tick_cleaning(flood),
            Some(Transition::Engaged { .. })
        ));
        assert!(s.cleaning());
        let f = facts("POST", "/api/v1/orders", "198.51.100.7");
        let allowed = (0..4).filter(|_| s.check(&f, SEC).is_allowed()).count();
        assert_eq!(allowed, 2, "half the burst while cleaning");
        for _ in 0..160 {
            s.check(&facts("GET", "/", "198.51.100.9"), SEC);
        }
        let top = s.take_offenders(1.0);
        assert_eq!(
            top,
            vec![("198.51.100.9".parse().unwrap(), 160)],
            "1 in 8 counted, scaled back"
        );
        assert!(matches!(
            s.tick_cleaning(calm),
            Some(Transition::Released(_))
        ));
        assert!(!s.cleaning());
    }

    #[test]
    fn a_block_entry_refuses_first_and_an_allow_entry_skips_the_client_limits() {
        let s = shield(TWO_PER_MINUTE);
        s.set_lists(Lists::new(vec![
            ListRule {
                id: 5,
                allow: false,
                key: ListKey::Network {
                    addr: "198.51.100.0".parse().unwrap(),
                    prefix: 24,
                },
                reason: "scraper farm".into(),
                ends_us: Some(10 * SEC),
            },
            ListRule {
                id: 6,
                allow: true,
                key: ListKey::Network {
                    addr: "192.0.2.0".parse().unwrap(),
                    prefix: 24,
                },
                reason: "museum office".into(),
                ends_us: None,
            },
        ]));
        let blocked = facts("GET", "/api/v1/products", "198.51.100.7");
        match s.check(&blocked, SEC) {
            Verdict::Blocked { entry, reason, .. } => {
                assert_eq!(entry, 5);
                assert_eq!(&*reason, "scraper farm");
            }
            other => panic!("{other:?}"),
        }
        assert!(s.check(&blocked, 10 * SEC).is_allowed(), "the entry ended");
        let office = facts("POST", "/api/v1/orders", "192.0.2.20");
        for _ in 0..10 {
            assert!(s.check(&office, SEC).is_allowed(), "no per-client limit");
        }
        s.set_lists(Lists::default());
        assert!(s.check(&office, SEC).is_allowed());
        assert!(s.check(&office, SEC).is_allowed());
        assert!(!s.check(&office, SEC).is_allowed(), "counted once removed");
    }

    #[test]
    fn each_covering_limit_counts_and_the_first_over_refuses() {
        let s = shield(TWO_PER_MINUTE);
        let f = facts("POST", "/api/v1/orders", "198.51.100.7");
        assert!(s.check(&f, SEC).is_allowed());
        assert!(s.check(&f, SEC).is_allowed());
        match s.check(&f, SEC) {
            Verdict::Limited {
                limit,
                retry_after_us,
                ..
            } => {
                assert_eq!(&*limit, "orders per address");
                assert_eq!(retry_after_us, 30 * SEC);
            }
            other => panic!("{other:?}"),
        }
        // Other routes and other addresses are not counted.
        assert!(s
            .check(&facts("GET", "/api/v1/orders", "198.51.100.7"), SEC)
            .is_allowed());
        assert!(s
            .check(&facts("POST", "/api/v1/orders", "198.51.100.8"), SEC)
            .is_allowed());
        // The account limit follows the account across addresses.
        let mut f = facts("POST", "/api/v1/orders", "203.0.113.1");
        f.account = Some("acct-1");
        let mut allowed = 0;
        for i in 0..6u8 {
            let peer = format!("203.0.113.{}", 10 + i);
            let mut g = f;
            g.peer = peer.parse().unwrap();
            if s.check(&g, SEC).is_allowed() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_is_limited_not_the_proxy() {
        let s = shield(TWO_PER_MINUTE);
        let hops = ["198.51.100.7"];
        let mut f = facts("POST", "/api/v1/orders", "10.0.0.5");
        f.forwarded_for = &hops;
        let v = s.check(&f, SEC);
        assert!(v.is_allowed());
        assert_eq!(v.client(), "198.51.100.7".parse::<IpAddr>().unwrap());
        let others = ["198.51.100.8"];
        let mut g = f;
        g.forwarded_for = &others;
        for _ in 0..2 {
            assert!(s.check(&g, SEC).is_allowed());
        }
        // The forged header of an untrusted peer changes nothing.
        let mut h = facts("POST", "/api/v1/orders", "203.0.113.50");
        h.forwarded_for = &others;
        let v = s.check(&h, SEC);
        assert!(v.is_allowed());
        assert_eq!(v.client(), "203.0.113.50".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn routes_count_body_keys_themselves() {
        let s = shield(TWO_PER_MINUTE);
        let code = |phone: &str| {
            s.check_subject(
                KeyKind::Phone,
                "POST",
                "/api/v1/auth/phone/code",
                phone,
                SEC,
            )
        };
        assert!(code("13800000001").is_ok());
        assert_eq!(&*code("13800000001").unwrap_err().0, "codes per phone");
        assert!(code("13800000002").is_ok());
        // Shared: nothing counted here, and the key names no phone.
        s.set_shared(true);
        let checks = code("13800000001").unwrap();
        assert_eq!(checks.len(), 1);
        let plain: String = b"13800000001".iter().map(|b| format!("{b:02x}")).collect();
        assert!(!checks[0].key.contains(&plain), "{}", checks[0].key);
        s.set_shared(false);
        // The edge itself never counts a phone limit.
        let f = facts("POST", "/api/v1/auth/phone/code", "198.51.100.7");
        for _ in 0..5 {
            assert!(s.check(&f, SEC).is_allowed());
        }
    }

    #[test]
    fn a_reload_takes_only_newer_versions_and_keeps_state_by_name() {
        let s = shield(TWO_PER_MINUTE);
        let f = facts("POST", "/api/v1/orders", "198.51.100.7");
        s.check(&f, SEC);
        s.check(&f, SEC);
        let same_version = TWO_PER_MINUTE.replace("burst = 2", "burst = 50");
        assert!(matches!(
            s.reload(Policy::from_toml(&same_version).unwrap()),
            Err(ReloadRefused::NotNewer {
                running: 1,
                offered: 1
            })
        ));
        assert!(
            s.reload(Policy::from_toml(TWO_PER_MINUTE).unwrap()).is_ok(),
            "the same file again"
        );
        // Version 2 adds a limit; the address limit keeps its state (by its name).
        let newer = format!(
            "{}\n[[limit]]\nname = \"first\"\nroute = \"/elsewhere\"\nkey = \"ip\"\nburst = 1\nper_secs = 1\n",
            TWO_PER_MINUTE.replace("version = 1", "version = 2")
        );
        s.reload(Policy::from_toml(&newer).unwrap()).unwrap();
        assert_eq!(s.policy().version, 2);
        assert!(
            matches!(s.check(&f, SEC), Verdict::Limited { .. }),
            "the burst spent before the reload stays spent"
        );
        assert!(s.check(&f, 31 * SEC).is_allowed());
    }

    const FLOWS: &str = r#"
version = 1
[[flow]]
name = "orders"
route = "POST /api/v1/orders"
qps = 3
[[flow]]
name = "slow reports"
route = "GET /api/v1/admin/*"
qps = 1000
max_in_flight = 1
[shedding]
max_in_flight = 3
keep = ["POST /api/v1/orders"]
"#;

    #[test]
    fn a_route_at_its_rate_or_cap_is_full_and_the_server_sheds_what_it_may() {
        let s = shield(FLOWS);
        let order = facts("POST", "/api/v1/orders", "198.51.100.1");
        let passed = (0..5)
            .filter(|_| s.check(&order, 5 * SEC).is_allowed())
            .count();
        assert_eq!(passed, 3, "the route's rate, whoever asks");
        match s.check(&facts("POST", "/api/v1/orders", "198.51.100.2"), 5 * SEC) {
            Verdict::FlowFull {
                rule, in_flight, ..
            } => {
                assert_eq!((rule.as_str(), in_flight), ("orders", false));
            }
            other => panic!("{other:?}"),
        }
        // One report at a time: the second is full while the first is in flight.
        let report = facts("GET", "/api/v1/admin/audit", "198.51.100.3");
        let first = s.check(&report, 6 * SEC);
        assert!(first.is_allowed());
        assert!(matches!(
            s.check(&report, 6 * SEC),
            Verdict::FlowFull {
                in_flight: true,
                ..
            }
        ));
        drop(first);
        let again = s.check(&report, 6 * SEC);
        assert!(again.is_allowed());
        // Three requests in flight: anything sheddable is shed; orders are kept.
        let home = facts("GET", "/api/v1/products", "198.51.100.4");
        let a = s.check(&home, 7 * SEC);
        let b = s.check(&home, 7 * SEC);
        assert!(a.is_allowed() && b.is_allowed());
        assert!(matches!(s.check(&home, 7 * SEC), Verdict::Shed { .. }));
        assert!(
            s.check(&order, 7 * SEC).is_allowed(),
            "the booking path is kept"
        );
        drop((a, b, again));
        assert!(s.check(&home, 7 * SEC).is_allowed());
    }
}
