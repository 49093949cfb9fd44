//! The policy file (TOML), shared by the layer in front of Gatehouse and the standalone gateway:
//! what it may say, how it is checked (every mistake names its field), and the compiled form the
//! engine runs. A policy carries a version number that must grow with each change, so a reload
//! never silently goes back to an older file.
//!
//! ```toml
//! version = 3
//! [client_ip]
//! trusted_proxies = ["10.0.0.0/8"]
//! [state]
//! max_keys = 1000000
//! [[limit]]
//! name = "orders per address"
//! route = "POST /api/v1/orders"
//! key = "ip"
//! burst = 10
//! per_secs = 60
//! ```

use serde::Deserialize;

use crate::cleaning::{compile_cleaning, CleaningPolicy, CleaningSection};
use crate::client_ip::TrustedProxies;
use crate::flow::Control;
use crate::keyed::Gcra;
use crate::policy_challenge::{
    compile_challenges, compile_rules, ChallengeRule, ChallengeSection, Challenges,
    ChallengesSection,
};
use crate::policy_firewall::{FirewallPolicy, FirewallSection};
use crate::routes::{Path, RoutePattern};
use crate::signals::{compile_signals, Signals, SignalsSection};

/// What a limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// The client's address.
    Ip,
    /// Its IPv4 /24 or IPv6 /64.
    IpPrefix,
    /// The signed-in account (requests without one are not counted by this limit).
    Account,
    /// The client's device id (its `X-Device-Id` header).
    Device,
    /// A phone number the request names (sign-in), counted where the route reads it.
    Phone,
    /// An ID number the request names (booking), by its blind index, counted where the route
    /// reads it.
    IdNumber,
}

impl KeyKind {
    /// The name a policy file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Ip => "ip",
            KeyKind::IpPrefix => "ip_prefix",
            KeyKind::Account => "account",
            KeyKind::Device => "device",
            KeyKind::Phone => "phone",
            KeyKind::IdNumber => "id_number",
        }
    }

    /// Keys the edge layer reads from the request itself; the others are counted by the route
    /// that reads the body.
    pub fn from_request(self) -> bool {
        matches!(
            self,
            KeyKind::Ip | KeyKind::IpPrefix | KeyKind::Account | KeyKind::Device
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    #[serde(default)]
    client_ip: ClientIpSection,
    #[serde(default)]
    state: StateSection,
    #[serde(default, rename = "limit")]
    limits: Vec<LimitSection>,
    #[serde(default, rename = "flow")]
    flows: Vec<FlowSection>,
    #[serde(default)]
    shedding: Option<SheddingSection>,
    #[serde(default)]
    challenges: Option<ChallengesSection>,
    #[serde(default, rename = "challenge")]
    challenge_rules: Vec<ChallengeSection>,
    #[serde(default)]
    signals: Option<SignalsSection>,
    #[serde(default)]
    cleaning: Option<CleaningSection>,
    #[serde(default)]
    metering: MeteringSection,
    #[serde(default)]
    tarpit: Tarpit,
    #[serde(default)]
    firewall: Option<FirewallSection>,
}

/// How long refusals are held before they are sent. A client that floods over a few
/// connections, waiting for each answer, is slowed to a few requests a second; a person over a
/// limit only waits a little longer for an answer that says to wait anyway.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tarpit {
    /// Blocked clients (lists, bot signals).
    pub blocked_ms: u32,
    /// Clients over a limit.
    pub limited_ms: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeteringSection {
    /// Calls bought (none: no quota).
    quota: Option<u64>,
    #[serde(default)]
    on_exhaustion: Exhaustion,
}

/// What happens once the calls bought are used up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exhaustion {
    /// Keep protecting and counting; staff are alerted (a security event) and see the overrun.
    #[default]
    Keep,
    /// Stop examining requests: they pass unprotected (still counted).
    Pass,
    /// Refuse every request with 503 `quota_exhausted`.
    Refuse,
}

/// Metering's settings.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Metering {
    pub quota: Option<u64>,
    pub on_exhaustion: Exhaustion,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowSection {
    name: String,
    route: String,
    #[serde(default)]
    except: Vec<String>,
    /// Requests per second for the route as a whole.
    qps: u32,
    #[serde(default)]
    control: ControlKind,
    /// For `queue`: the longest a request may wait for its turn.
    max_wait_ms: Option<u64>,
    /// For `warm_up`: how long the climb from the cold rate takes, and how much lower it starts.
    warm_up_secs: Option<u32>,
    cold_factor: Option<u32>,
    /// Requests of the route in flight at once (none: no cap).
    max_in_flight: Option<u32>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ControlKind {
    #[default]
    Reject,
    Queue,
    WarmUp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SheddingSection {
    /// Shed when more requests than this are in flight in the whole server…
    max_in_flight: u32,
    /// …or when the recent response time (a moving average) passes this.
    max_latency_ms: Option<u64>,
    /// Routes never shed (the booking path itself): shedding the rest keeps them responsive.
    #[serde(default)]
    keep: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientIpSection {
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSection {
    #[serde(default = "default_max_keys")]
    max_keys: usize,
}

impl Default for StateSection {
    fn default() -> Self {
        Self {
            max_keys: default_max_keys(),
        }
    }
}

fn default_max_keys() -> usize {
    1_000_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitSection {
    name: String,
    route: String,
    /// Routes the limit leaves alone although `route` covers them.
    #[serde(default)]
    except: Vec<String>,
    key: KeyKind,
    burst: u32,
    per_secs: u32,
}

/// A mistake in a policy file, naming its field (`limit[2].burst`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

pub(crate) fn bad(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        message: message.into(),
    }
}

/// One compiled limit.
#[derive(Debug, Clone)]
pub struct Limit {
    /// From its name and numbers: part of every key it counts, so limits never share state; a
    /// reloaded policy keeps the state of each limit it did not change, and a limit whose
    /// numbers changed starts afresh (raising a limit in an incident relieves clients at once).
    pub salt: u64,
    /// Shared, not copied, by every verdict that names it.
    pub name: std::sync::Arc<str>,
    pub route: RoutePattern,
    pub except: Vec<RoutePattern>,
    pub key: KeyKind,
    pub gcra: Gcra,
    /// The stricter limit in force while DDoS cleaning is engaged.
    pub cleaning_gcra: Gcra,
    burst: u32,
    per_secs: u32,
}

impl Limit {
    /// This limit with `share` of its burst (at least 1) over the same period: `share` of its
    /// rate.
    fn strict(&self, share: f64) -> Gcra {
        let burst = (f64::from(self.burst) * share).round().max(1.0);
        // `burst` is at most the original u32 burst.
        Gcra::new(burst as u32, self.per_secs)
    }

    /// Whether the limit applies to a request.
    pub fn covers(&self, method: &str, path: &Path<'_>) -> bool {
        covers(&self.route, &self.except, method, path)
    }
}

fn covers(route: &RoutePattern, except: &[RoutePattern], method: &str, path: &Path<'_>) -> bool {
    route.matches_split(method, path) && !except.iter().any(|e| e.matches_split(method, path))
}

/// One compiled flow rule.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub route: RoutePattern,
    pub except: Vec<RoutePattern>,
    pub qps: u32,
    pub control: Control,
    /// 0: no cap.
    pub max_in_flight: u32,
}

impl Flow {
    pub fn covers(&self, method: &str, path: &Path<'_>) -> bool {
        covers(&self.route, &self.except, method, path)
    }
}

/// Adaptive shedding, compiled.
#[derive(Debug, Clone)]
pub struct Shedding {
    pub max_in_flight: u32,
    pub max_latency_us: Option<u64>,
    pub keep: Vec<RoutePattern>,
}

/// A checked, compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub version: u32,
    /// A digest of the file's text, to tell two files of the same version apart.
    pub digest: String,
    pub trusted_proxies: TrustedProxies,
    pub max_keys: usize,
    pub limits: Vec<Limit>,
    pub flows: Vec<Flow>,
    pub shedding: Option<Shedding>,
    pub challenges: Challenges,
    pub challenge_rules: Vec<ChallengeRule>,
    /// Bot signals; none: requests are not scored.
    pub signals: Option<std::sync::Arc<Signals>>,
    /// DDoS cleaning's thresholds; none: traffic is not watched.
    pub cleaning: Option<CleaningPolicy>,
    pub metering: Metering,
    pub tarpit: Tarpit,
    /// How the web application firewall runs (the shield only carries it).
    pub firewall: FirewallPolicy,
}

/// The most limits a policy may hold.
pub const MAX_LIMITS: usize = 256;
/// The bounds of the keyed table: at least a shard's worth, at most 100 million keys (~3 GB).
const MAX_KEYS_RANGE: std::ops::RangeInclusive<usize> = 1_024..=100_000_000;

impl Policy {
    /// A policy with no limits, flows or shedding (version 1).
    pub fn open() -> Self {
        Self {
            version: 1,
            digest: digest(""),
            trusted_proxies: TrustedProxies::default(),
            max_keys: MAX_KEYS_RANGE.start().to_owned(),
            limits: Vec::new(),
            flows: Vec::new(),
            shedding: None,
            challenges: Challenges::default(),
            challenge_rules: Vec::new(),
            signals: None,
            cleaning: None,
            metering: Metering::default(),
            tarpit: Tarpit::default(),
            firewall: FirewallPolicy::default(),
        }
    }

    /// Reads and checks a policy file's text.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let deserializer = toml::Deserializer::new(text);
        let file: PolicyFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            let message = e.inner().message().to_owned();
            let field = if field == "." { "policy".into() } else { field };
            bad(field, message)
        })?;
        if file.version == 0 {
            return Err(bad("version", "must be at least 1"));
        }
        let mut nets = Vec::with_capacity(file.client_ip.trusted_proxies.len());
        for (i, net) in file.client_ip.trusted_proxies.iter().enumerate() {
            let parsed = net
                .parse::<ipnet::IpNet>()
                .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    bad(
                        format!("client_ip.trusted_proxies[{i}]"),
                        "is not an address or CIDR",
                    )
                })?;
            nets.push(parsed);
        }
        if !MAX_KEYS_RANGE.contains(&file.state.max_keys) {
            return Err(bad(
                "state.max_keys",
                format!(
                    "must be between {} and {}",
                    MAX_KEYS_RANGE.start(),
                    MAX_KEYS_RANGE.end()
                ),
            ));
        }
        if file.limits.len() > MAX_LIMITS {
            return Err(bad("limit", format!("at most {MAX_LIMITS} limits")));
        }
        let mut limits = Vec::with_capacity(file.limits.len());
        for (i, l) in file.limits.into_iter().enumerate() {
            let field = |f: &str| format!("limit[{i}].{f}");
            let name = l.name.trim();
            if name.is_empty() || name.chars().count() > 64 {
                return Err(bad(field("name"), "must be 1–64 characters"));
            }
            if limits.iter().any(|x: &Limit| &*x.name == name) {
                return Err(bad(field("name"), "is used by another limit"));
            }
            let route = RoutePattern::parse(&l.route).map_err(|m| bad(field("route"), m))?;
            let except = l
                .except
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    RoutePattern::parse(e).map_err(|m| bad(field(&format!("except[{j}]")), m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if l.burst == 0 || l.burst > 1_000_000 {
                return Err(bad(field("burst"), "must be between 1 and 1000000"));
            }
            if l.per_secs == 0 || l.per_secs > 86_400 {
                return Err(bad(field("per_secs"), "must be between 1 and 86400"));
            }
            limits.push(Limit {
                salt: fnv(format!("{name}\0{}\0{}", l.burst, l.per_secs).as_bytes()),
                name: name.into(),
                route,
                except,
                key: l.key,
                gcra: Gcra::new(l.burst, l.per_secs),
                cleaning_gcra: Gcra::new(l.burst, l.per_secs),
                burst: l.burst,
                per_secs: l.per_secs,
            });
        }
        let flows = file
            .flows
            .into_iter()
            .enumerate()
            .map(|(i, f)| compile_flow(i, f))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, f) in flows.iter().enumerate() {
            if flows.iter().take(i).any(|g| g.name == f.name) {
                return Err(bad(
                    format!("flow[{i}].name"),
                    "is used by another flow rule",
                ));
            }
        }
        let shedding = file.shedding.map(compile_shedding).transpose()?;
        let challenges = compile_challenges(file.challenges)?;
        let challenge_rules = compile_rules(file.challenge_rules)?;
        let signals = compile_signals(file.signals)?.map(std::sync::Arc::new);
        let cleaning = compile_cleaning(file.cleaning)?;
        let stricter = cleaning.as_ref().map_or(1.0, |c| c.stricter);
        for limit in &mut limits {
            limit.cleaning_gcra = limit.strict(stricter);
        }
        Ok(Self {
            version: file.version,
            digest: digest(text),
            trusted_proxies: TrustedProxies::new(nets),
            max_keys: file.state.max_keys,
            limits,
            flows,
            shedding,
            challenges,
            challenge_rules,
            signals,
            cleaning,
            metering: Metering {
                quota: match file.metering.quota {
                    Some(0) => return Err(bad("metering.quota", "must be at least 1")),
                    q => q,
                },
                on_exhaustion: file.metering.on_exhaustion,
            },
            tarpit: if file.tarpit.blocked_ms > 10_000 || file.tarpit.limited_ms > 10_000 {
                return Err(bad("tarpit", "hold refusals at most 10000 ms"));
            } else {
                file.tarpit
            },
            firewall: match file.firewall {
                Some(section) => section.check()?,
                None => FirewallPolicy::default(),
            },
        })
    }
}

pub(crate) fn patterns(field: &str, texts: &[String]) -> Result<Vec<RoutePattern>, PolicyError> {
    texts
        .iter()
        .enumerate()
        .map(|(j, e)| RoutePattern::parse(e).map_err(|m| bad(format!("{field}[{j}]"), m)))
        .collect()
}

fn compile_flow(i: usize, f: FlowSection) -> Result<Flow, PolicyError> {
    let field = |x: &str| format!("flow[{i}].{x}");
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(bad(field("name"), "must be 1–64 characters"));
    }
    let route = RoutePattern::parse(&f.route).map_err(|m| bad(field("route"), m))?;
    let except = patterns(&field("except"), &f.except)?;
    if f.qps == 0 || f.qps > 10_000_000 {
        return Err(bad(field("qps"), "must be between 1 and 10000000"));
    }
    let only_for = |set: bool, what: &str, kind: &str| {
        if set {
            Err(bad(
                field(what),
                format!("applies only to control = \"{kind}\""),
            ))
        } else {
            Ok(())
        }
    };
    let control = match f.control {
        ControlKind::Reject => {
            only_for(f.max_wait_ms.is_some(), "max_wait_ms", "queue")?;
            only_for(
                f.warm_up_secs.is_some() || f.cold_factor.is_some(),
                "warm_up_secs",
                "warm_up",
            )?;
            Control::Reject
        }
        ControlKind::Queue => {
            only_for(
                f.warm_up_secs.is_some() || f.cold_factor.is_some(),
                "warm_up_secs",
                "warm_up",
            )?;
            let wait = f
                .max_wait_ms
                .ok_or_else(|| bad(field("max_wait_ms"), "is required for a queue"))?;
            if wait == 0 || wait > 60_000 {
                return Err(bad(field("max_wait_ms"), "must be between 1 and 60000"));
            }
            Control::Queue {
                max_wait_us: wait * 1_000,
            }
        }
        ControlKind::WarmUp => {
            only_for(f.max_wait_ms.is_some(), "max_wait_ms", "queue")?;
            let secs = f.warm_up_secs.unwrap_or(10);
            let cold = f.cold_factor.unwrap_or(3);
            if secs == 0 || secs > 3_600 {
                return Err(bad(field("warm_up_secs"), "must be between 1 and 3600"));
            }
            if !(2..=100).contains(&cold) {
                return Err(bad(field("cold_factor"), "must be between 2 and 100"));
            }
            Control::WarmUp {
                warm_up_secs: secs,
                cold_factor: cold,
            }
        }
    };
    if f.max_in_flight == Some(0) {
        return Err(bad(
            field("max_in_flight"),
            "must be at least 1 (leave it out for no cap)",
        ));
    }
    Ok(Flow {
        name: name.to_owned(),
        route,
        except,
        qps: f.qps,
        control,
        max_in_flight: f.max_in_flight.unwrap_or(0),
    })
}

fn compile_shedding(s: SheddingSection) -> Result<Shedding, PolicyError> {
    if s.max_in_flight == 0 {
        return Err(bad("shedding.max_in_flight", "must be at least 1"));
    }
    if s.max_latency_ms == Some(0) {
        return Err(bad("shedding.max_latency_ms", "must be at least 1"));
    }
    Ok(Shedding {
        max_in_flight: s.max_in_flight,
        max_latency_us: s.max_latency_ms.map(|ms| ms * 1_000),
        keep: patterns("shedding.keep", &s.keep)?,
    })
}

/// FNV-1a: stable across processes and versions of Rust.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The text's FNV-1a as 16 hex digits.
fn digest(text: &str) -> String {
    format!("{:016x}", fnv(text.as_bytes()))
}

/// The policy Gatehouse runs when none is configured: generous per-address and per-network
/// limits on the whole API, tighter ones on the routes bots go for.
pub const DEFAULT_POLICY: &str = include_str!("default_policy.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid() {
        let p = Policy::from_toml(DEFAULT_POLICY).unwrap();
        assert!(p.version >= 1);
        assert!(!p.limits.is_empty());
        assert_eq!(p.digest.len(), 16);
    }

    #[test]
    fn every_mistake_names_its_field() {
        let cases = [
            ("version = 0", "version"),
            ("", "policy"),
            ("version = 1\nunknown = 2", "unknown"),
            ("version = 1\n[client_ip]\ntrusted_proxies = [\"10.0.0.0/33\"]", "client_ip.trusted_proxies[0]"),
            ("version = 1\n[state]\nmax_keys = 5", "state.max_keys"),
            ("version = 1\n[challenges]\ndifficulty = 40", "challenges.difficulty"),
            ("version = 1\n[challenges]\nwork = \"sha256\"\nmemory_kib = 64", "challenges.memory_kib"),
            ("version = 1\n[challenges]\nwork = \"balloon\"\nmemory_kib = 8", "challenges.memory_kib"),
            ("version = 1\n[challenges]\nwork = \"scrypt\"", "challenges.work"),
            ("version = 1\n[challenges]\npass_secs = 5", "challenges.pass_secs"),
            ("version = 1\n[[challenge]]\nname = \"a\"\nroute = \"/x\"\nwhen = \"sometimes\"", "challenge[0].when"),
            ("version = 1\n[[challenge]]\nname = \"\"\nroute = \"/x\"\nwhen = \"always\"", "challenge[0].name"),
            ("version = 1\n[[limit]]\nname = \"a\"\nroute = \"/x\"\nkey = \"ip\"\nburst = 0\nper_secs = 1", "limit[0].burst"),
            ("version = 1\n[[limit]]\nname = \"a\"\nroute = \"x\"\nkey = \"ip\"\nburst = 1\nper_secs = 1", "limit[0].route"),
            ("version = 1\n[[limit]]\nname = \"a\"\nroute = \"/x\"\nkey = \"shoe_size\"\nburst = 1\nper_secs = 1", "limit[0].key"),
            ("version = 1\n[[limit]]\nname = \"a\"\nroute = \"/x\"\nkey = \"ip\"\nburst = 1\nper_secs = 0", "limit[0].per_secs"),
            ("version = 1\n[[limit]]\nname = \"a\"\nroute = \"/x\"\nkey = \"ip\"\nburst = 1\nper_secs = 1\n[[limit]]\nname = \"a\"\nroute = \"/x\"\nkey = \"ip\"\nburst = 1\nper_secs = 1", "limit[1].name"),
            ("version = 1\n[[limit]]\nname = \"a\"\nroute = \"/x\"\nkey = \"ip\"\nburst = 1", "limit[0]"),
            ("version = 1\n[[flow]]\nname = \"f\"\nroute = \"/x\"\nqps = 0", "flow[0].qps"),
            ("version = 1\n[[flow]]\nname = \"f\"\nroute = \"/x\"\nqps = 5\ncontrol = \"queue\"", "flow[0].max_wait_ms"),
            ("version = 1\n[[flow]]\nname = \"f\"\nroute = \"/x\"\nqps = 5\nmax_wait_ms = 5", "flow[0].max_wait_ms"),
            ("version = 1\n[[flow]]\nname = \"f\"\nroute = \"/x\"\nqps = 5\ncontrol = \"warm_up\"\ncold_factor = 1", "flow[0].cold_factor"),
            ("version = 1\n[[flow]]\nname = \"f\"\nroute = \"/x\"\nqps = 5\ncontrol = \"sideways\"", "flow[0].control"),
            ("version = 1\n[[flow]]\nname = \"f\"\nroute = \"/x\"\nqps = 5\nmax_in_flight = 0", "flow[0].max_in_flight"),
            ("version = 1\n[shedding]\nmax_in_flight = 0", "shedding.max_in_flight"),
            ("version = 1\n[shedding]\nmax_in_flight = 5\nkeep = [\"nope\"]", "shedding.keep[0]"),
        ];
        for (text, field) in cases {
            let e = Policy::from_toml(text).unwrap_err();
            assert!(
                e.field.starts_with(field),
                "{text:?}: expected {field}, got {e}"
            );
        }
    }

    #[test]
    fn proxies_may_be_single_addresses_or_networks() {
        let p = Policy::from_toml(
            "version = 2\n[client_ip]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"127.0.0.1\"]",
        )
        .unwrap();
        let peer = "127.0.0.1".parse().unwrap();
        assert_eq!(
            p.trusted_proxies.client_ip(peer, &["198.51.100.7"]),
            "198.51.100.7".parse::<std::net::IpAddr>().unwrap()
        );
    }
}
