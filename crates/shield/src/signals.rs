//! Crawler and bot signals. Each request gets a score from weighted signals — what its headers
//! say (no user agent, an automation library's user agent, a browser's user agent without the
//! headers that browser sends), how its client behaves over time (machine-regular intervals,
//! many requests in quick succession, never loading a page's assets although it claims to be a
//! browser) and where it comes from (known-bad networks). At `challenge_at` the `suspicious`
//! challenge rules apply; at `block_at` the request is refused. The reasons travel with the
//! verdict into the security event.
//!
//! The per-client trace is one 64-bit word in a bounded table (like the limits' state):
//! last arrival (ms, wrapping), the previous gap, streaks of regular and of fast gaps, requests
//! seen, and whether an asset was loaded.
//!
//! ```toml
//! [signals]
//! challenge_at = 50
//! block_at = 100
//! bad_networks = ["203.0.113.0/24"]
//! asset_routes = ["GET /assets/*"]
//! ```

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;

use crate::client_ip::address_key;
use crate::keyed::KeyedLimits;
use crate::lists::{ListKey, ListRule, Lists};
use crate::policy::{bad, patterns, PolicyError};
use crate::routes::{Path, RoutePattern};

/// One signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Signal {
    NoUserAgent = 0,
    AutomationUserAgent,
    HeadersInconsistent,
    MachineTiming,
    FastRequests,
    NoAssets,
    BadNetwork,
}

const ALL: [Signal; 7] = [
    Signal::NoUserAgent,
    Signal::AutomationUserAgent,
    Signal::HeadersInconsistent,
    Signal::MachineTiming,
    Signal::FastRequests,
    Signal::NoAssets,
    Signal::BadNetwork,
];

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::NoUserAgent => "no_user_agent",
            Signal::AutomationUserAgent => "automation_user_agent",
            Signal::HeadersInconsistent => "headers_inconsistent",
            Signal::MachineTiming => "machine_timing",
            Signal::FastRequests => "fast_requests",
            Signal::NoAssets => "no_assets",
            Signal::BadNetwork => "bad_network",
        }
    }
}

/// The signals a request raised, and its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Score {
    pub total: u32,
    raised: u8,
}

impl Score {
    pub fn raised(&self, s: Signal) -> bool {
        self.raised & (1 << s as u8) != 0
    }

    fn add(&mut self, s: Signal, weight: u32) {
        if weight > 0 {
            self.raised |= 1 << s as u8;
            self.total += weight;
        }
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "score {}", self.total)?;
        let mut sep = ": ";
        for s in ALL {
            if self.raised(s) {
                write!(f, "{sep}{}", s.name())?;
                sep = ", ";
            }
        }
        Ok(())
    }
}

/// What the signals read from a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderFacts<'a> {
    pub user_agent: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    /// Any `Sec-Fetch-*` header (every current browser sends them).
    pub fetch_metadata: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalsSection {
    #[serde(default = "d_challenge_at")]
    challenge_at: u32,
    #[serde(default = "d_block_at")]
    block_at: u32,
    #[serde(default)]
    bad_networks: Vec<String>,
    #[serde(default)]
    asset_routes: Vec<String>,
    /// Routes not scored (gate devices, providers' signed notifications).
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    weights: Weights,
}

fn d_challenge_at() -> u32 {
    50
}
fn d_block_at() -> u32 {
    100
}

/// How much each signal weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    pub no_user_agent: u32,
    pub automation_user_agent: u32,
    pub headers_inconsistent: u32,
    pub machine_timing: u32,
    pub fast_requests: u32,
    pub no_assets: u32,
    pub bad_network: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            no_user_agent: 40,
            automation_user_agent: 60,
            headers_inconsistent: 40,
            machine_timing: 40,
            fast_requests: 30,
            no_assets: 30,
            bad_network: 100,
        }
    }
}

/// The signals' settings, compiled.
#[derive(Debug)]
pub struct Signals {
    pub challenge_at: u32,
    pub block_at: u32,
    pub weights: Weights,
    bad_networks: Lists,
    asset_routes: Vec<RoutePattern>,
    except: Vec<RoutePattern>,
}

pub(crate) fn compile_signals(
    section: Option<SignalsSection>,
) -> Result<Option<Signals>, PolicyError> {
    let Some(s) = section else {
        return Ok(None);
    };
    if s.challenge_at == 0 || s.challenge_at > s.block_at {
        return Err(bad(
            "signals.challenge_at",
            "must be at least 1 and at most block_at",
        ));
    }
    let mut rules = Vec::with_capacity(s.bad_networks.len());
    for (i, net) in s.bad_networks.iter().enumerate() {
        let parsed = net
            .parse::<ipnet::IpNet>()
            .or_else(|_| net.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                bad(
                    format!("signals.bad_networks[{i}]"),
                    "is not an address or CIDR",
                )
            })?;
        rules.push(ListRule {
            id: i64::try_from(i).unwrap_or(i64::MAX),
            allow: false,
            key: ListKey::Network {
                addr: parsed.addr(),
                prefix: parsed.prefix_len(),
            },
            reason: "bad network".into(),
            ends_us: None,
        });
    }
    Ok(Some(Signals {
        challenge_at: s.challenge_at,
        block_at: s.block_at,
        weights: s.weights,
        bad_networks: Lists::new(rules),
        asset_routes: patterns("signals.asset_routes", &s.asset_routes)?,
        except: patterns("signals.except", &s.except)?,
    }))
}

/// User agents of HTTP libraries and automation tools (matched ignoring case).
const AUTOMATION: [&str; 22] = [
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww-perl",
    "scrapy",
    "headlesschrome",
    "phantomjs",
    "selenium",
    "puppeteer",
    "playwright",
    "node-fetch",
    "axios/",
    "postman",
    "httpclient",
    "spider",
];

/// All of [`AUTOMATION`] in one pass over the user agent.
static AUTOMATION_MATCHER: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(AUTOMATION)
            .ok()
    });

fn automation(ua: &str) -> bool {
    AUTOMATION_MATCHER.as_ref().is_some_and(|m| m.is_match(ua))
}

/// What the user agent claims: a browser, a mini-program (WeChat, Alipay — not browsers), or
/// neither.
fn claims_browser(ua: &str) -> bool {
    ua.starts_with("Mozilla/5.0")
        && !ua.contains("miniProgram")
        && !ua.contains("AlipayClient")
        && (ua.contains("Chrome/") || ua.contains("Firefox/") || ua.contains("Safari/"))
}

// The trace word's fields.
const LAST_BITS: u32 = 32;
const GAP_SHIFT: u32 = 32;
const GAP_MAX: u64 = 0xfff;
const REGULAR_SHIFT: u32 = 44;
const FAST_SHIFT: u32 = 49;
const STREAK_MAX: u64 = 0x1f;
const SEEN_SHIFT: u32 = 54;
const SEEN_MAX: u64 = 0x1ff;
const ASSET_BIT: u64 = 1 << 63;

/// How long a client's intervals must repeat (within 3 %) to look machine-made.
const REGULAR_STREAK: u64 = 8;
/// A gap shorter than this is fast; this many in a row is a burst no person clicks.
const FAST_GAP_MS: u64 = 150;
const FAST_STREAK: u64 = 12;
/// A browser that made this many requests without loading any asset.
const NO_ASSETS_AFTER: u64 = 30;

fn field(word: u64, shift: u32, max: u64) -> u64 {
    (word >> shift) & max
}

/// Folds one arrival into a client's trace.
fn next_trace(old: Option<u64>, now_ms: u64, asset: bool) -> u64 {
    let now32 = now_ms & ((1 << LAST_BITS) - 1);
    let Some(w) = old else {
        return now32 | (1 << SEEN_SHIFT) | if asset { ASSET_BIT } else { 0 };
    };
    let last = w & ((1 << LAST_BITS) - 1);
    let gap = now32.wrapping_sub(last) & ((1 << LAST_BITS) - 1);
    let prev_gap = field(w, GAP_SHIFT, GAP_MAX);
    let mut regular = field(w, REGULAR_SHIFT, STREAK_MAX);
    let mut fast = field(w, FAST_SHIFT, STREAK_MAX);
    let seen = (field(w, SEEN_SHIFT, SEEN_MAX) + 1).min(SEEN_MAX);
    let close =
        (20..GAP_MAX).contains(&gap) && prev_gap > 0 && gap.abs_diff(prev_gap) * 33 <= prev_gap;
    regular = if close {
        (regular + 1).min(STREAK_MAX)
    } else {
        0
    };
    fast = if gap < FAST_GAP_MS {
        (fast + 1).min(STREAK_MAX)
    } else {
        0
    };
    now32
        | (gap.min(GAP_MAX) << GAP_SHIFT)
        | (regular << REGULAR_SHIFT)
        | (fast << FAST_SHIFT)
        | (seen << SEEN_SHIFT)
        | (w & ASSET_BIT)
        | if asset { ASSET_BIT } else { 0 }
}

impl Signals {
    /// Whether the route is scored at all.
    pub fn covers(&self, method: &str, path: &Path<'_>) -> bool {
        !self.except.iter().any(|e| e.matches_split(method, path))
    }

    /// Scores a request from `client` at `now_us`, counting it in the client's trace.
    pub fn score(
        &self,
        traces: &KeyedLimits,
        client: IpAddr,
        method: &str,
        path: &Path<'_>,
        headers: &HeaderFacts<'_>,
        now_us: u64,
    ) -> Score {
        let w = &self.weights;
        let mut score = Score::default();
        let ua = headers.user_agent.unwrap_or("").trim();
        let browser = claims_browser(ua);
        if ua.is_empty() {
            score.add(Signal::NoUserAgent, w.no_user_agent);
        } else if automation(ua) {
            score.add(Signal::AutomationUserAgent, w.automation_user_agent);
        } else if browser
            && (headers.accept_language.is_none_or(str::is_empty)
                || headers.accept.is_none()
                || !headers.fetch_metadata)
        {
            score.add(Signal::HeadersInconsistent, w.headers_inconsistent);
        }
        if !self.bad_networks.is_empty() && self.bad_networks.find(client, None, None, 0).is_some()
        {
            score.add(Signal::BadNetwork, w.bad_network);
        }
        let asset = self
            .asset_routes
            .iter()
            .any(|r| r.matches_split(method, path));
        let key = traces.key(0x7472_6163_6573, &address_key(client));
        let trace = traces.update(key, |old| next_trace(old, now_us / 1_000, asset));
        if field(trace, REGULAR_SHIFT, STREAK_MAX) >= REGULAR_STREAK {
            score.add(Signal::MachineTiming, w.machine_timing);
        }
        if field(trace, FAST_SHIFT, STREAK_MAX) >= FAST_STREAK {
            score.add(Signal::FastRequests, w.fast_requests);
        }
        if browser
            && !self.asset_routes.is_empty()
            && trace & ASSET_BIT == 0
            && field(trace, SEEN_SHIFT, SEEN_MAX) >= NO_ASSETS_AFTER
        {
            score.add(Signal::NoAssets, w.no_assets);
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
    const MINI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI Language/zh_CN miniProgram/wx1234";

    fn signals(extra: &str) -> Signals {
        let text = format!("challenge_at = 50\nblock_at = 100\nasset_routes = [\"GET /assets/*\"]\nbad_networks = [\"203.0.113.0/24\"]\n{extra}");
        let section: SignalsSection = toml::from_str(&text).unwrap();
        compile_signals(Some(section)).unwrap().unwrap()
    }

    fn browser() -> HeaderFacts<'static> {
        HeaderFacts {
            user_agent: Some(CHROME),
            accept: Some("application/json"),
            accept_language: Some("zh-CN,zh;q=0.9"),
            fetch_metadata: true,
        }
    }

    fn score_at(
        s: &Signals,
        t: &KeyedLimits,
        ip: &str,
        h: &HeaderFacts<'_>,
        path: &str,
        now_ms: u64,
    ) -> Score {
        let method = if path.starts_with("POST ") {
            "POST"
        } else {
            "GET"
        };
        let p = path.trim_start_matches("POST ");
        s.score(
            t,
            ip.parse().unwrap(),
            method,
            &Path::split(p),
            h,
            now_ms * 1_000,
        )
    }

    #[test]
    fn headers_alone_tell_libraries_and_pretend_browsers_apart() {
        let s = signals("");
        let t = KeyedLimits::new(10_000);
        let ok = score_at(&s, &t, "198.51.100.1", &browser(), "/api/v1/products", 0);
        assert_eq!(ok.total, 0, "{ok}");
        let mini = HeaderFacts {
            user_agent: Some(MINI),
            accept: None,
            accept_language: None,
            fetch_metadata: false,
        };
        assert_eq!(
            score_at(&s, &t, "198.51.100.2", &mini, "/x", 0).total,
            0,
            "a mini-program is not a browser"
        );
        let none = HeaderFacts::default();
        let sc = score_at(&s, &t, "198.51.100.3", &none, "/x", 0);
        assert!(sc.raised(Signal::NoUserAgent) && sc.total == 40, "{sc}");
        let curl = HeaderFacts {
            user_agent: Some("curl/8.5.0"),
            ..HeaderFacts::default()
        };
        let sc = score_at(&s, &t, "198.51.100.4", &curl, "/x", 0);
        assert_eq!(sc.to_string(), "score 60: automation_user_agent");
        let fake = HeaderFacts {
            fetch_metadata: false,
            accept_language: None,
            ..browser()
        };
        let sc = score_at(&s, &t, "198.51.100.5", &fake, "/x", 0);
        assert!(sc.raised(Signal::HeadersInconsistent), "{sc}");
        let sc = score_at(&s, &t, "203.0.113.77", &browser(), "/x", 0);
        assert_eq!(sc.to_string(), "score 100: bad_network");
    }

    #[test]
    fn a_metronome_is_a_machine_and_a_person_is_not() {
        let s = signals("");
        let t = KeyedLimits::new(10_000);
        let mut last = Score::default();
        for i in 0..12 {
            last = score_at(
                &s,
                &t,
                "198.51.100.9",
                &browser(),
                "/api/v1/slots/1",
                1_000 + i * 500,
            );
        }
        assert!(last.raised(Signal::MachineTiming), "{last}");
        assert!(!last.raised(Signal::FastRequests));
        // Human-irregular gaps.
        let mut at = 1_000;
        for gap in [
            700, 2_300, 900, 4_100, 650, 1_800, 3_000, 1_200, 950, 2_600, 500, 1_500,
        ] {
            at += gap;
            last = score_at(&s, &t, "198.51.100.10", &browser(), "/api/v1/slots/1", at);
        }
        assert_eq!(last.total, 0, "{last}");
        // A burst of jittered fast requests.
        for i in 0..20u64 {
            last = score_at(
                &s,
                &t,
                "198.51.100.11",
                &browser(),
                "/x",
                1_000 + i * 40 + (i * 7) % 30,
            );
        }
        assert!(last.raised(Signal::FastRequests), "{last}");
    }

    #[test]
    fn a_browser_that_never_loads_assets_stands_out() {
        let s = signals("");
        let t = KeyedLimits::new(10_000);
        let mut at = 0;
        let mut step = || {
            at += 3_000 + (at * 13) % 2_000;
            at
        };
        let mut last = Score::default();
        for _ in 0..NO_ASSETS_AFTER {
            last = score_at(
                &s,
                &t,
                "198.51.100.20",
                &browser(),
                "/api/v1/slots/1",
                step(),
            );
        }
        assert!(last.raised(Signal::NoAssets), "{last}");
        score_at(
            &s,
            &t,
            "198.51.100.21",
            &browser(),
            "/assets/app.js",
            step(),
        );
        for _ in 0..NO_ASSETS_AFTER {
            last = score_at(
                &s,
                &t,
                "198.51.100.21",
                &browser(),
                "/api/v1/slots/1",
                step(),
            );
        }
        assert!(!last.raised(Signal::NoAssets), "{last}");
    }

    #[test]
    fn settings_are_checked() {
        let e = |text: &str| {
            let section: SignalsSection = toml::from_str(text).unwrap();
            compile_signals(Some(section)).unwrap_err().field
        };
        assert_eq!(
            e("challenge_at = 200\nblock_at = 100"),
            "signals.challenge_at"
        );
        assert_eq!(e("bad_networks = [\"nope\"]"), "signals.bad_networks[0]");
        assert_eq!(e("asset_routes = [\"nope\"]"), "signals.asset_routes[0]");
    }
}
