//! `gatehouse bench waf`: what the firewall costs with the whole OWASP CRS loaded at paranoia
//! level 1 — rule-set load time and memory, then CPU per request (one thread, so wall time is
//! CPU time) for a typical page GET, Gatehouse's booking POST (JSON, with a Chinese name), a
//! form POST and a 100 KB multipart upload, each timed request a different visitor's (names, ID
//! numbers, phone, session). It also reports which rules any of these fired:
//! Gatehouse's own requests must fire none. Then the requests per second a real server answers
//! with the firewall on and off.

use std::path::PathBuf;
use std::time::Instant;

use gatehouse_waf::firewall::{Firewall, RuleFiles, Setup};
use gatehouse_waf::request::Request;
use gatehouse_waf::transaction::Transaction;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct WafArgs {
    /// The OWASP CRS directory (with `rules/` and `crs-setup.conf.example`).
    #[arg(long, default_value = "../shared/crs")]
    pub crs: PathBuf,
    /// libinjection's directory (with `src/sqlparse_data.json`).
    #[arg(long, default_value = "../shared/libinjection")]
    pub libinjection: PathBuf,
    /// Requests timed per kind.
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// Only this kind of request (`get`, `queue_join`, `booking_post_json`, `form_post`, `multipart_100kb`).
    #[arg(long)]
    pub kind: Option<String>,
    /// Seconds per side of the full-server throughput (firewall on, then off; 0 skips it).
    #[arg(long, default_value_t = 5.0)]
    pub server_secs: f64,
    /// Rounds of on/off, alternated so a noisy neighbour hurts both sides alike.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Connections for the throughput.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
}

/// Requests per second through a real server (the catalogue GET over many connections, each
/// from an address of its own) with the firewall blocking at paranoia level 1, and with it off.
async fn server_throughput(args: &WafArgs) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-waf-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let absolute = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let env = |mode: &str| -> anyhow::Result<Vec<(String, String)>> {
        let policy = dir.join(format!("policy-{mode}.toml"));
        std::fs::write(
            &policy,
            format!("version = 1\n[firewall]\nmode = \"{mode}\"\n"),
        )?;
        Ok(vec![
            (
                "GATEHOUSE_SHIELD__POLICY".into(),
                policy.display().to_string(),
            ),
            (
                "GATEHOUSE_WAF__CRS_DIR".into(),
                absolute(&args.crs).display().to_string(),
            ),
            (
                "GATEHOUSE_WAF__LIBINJECTION_DIR".into(),
                absolute(&args.libinjection).display().to_string(),
            ),
        ])
    };
    let (on_env, off_env) = (env("blocking")?, env("off")?);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds.max(1) {
        for (env, rates) in [(&on_env, &mut on), (&off_env, &mut off)] {
            let rate = crate::shield_http::server_rate(
                env.clone(),
                args.connections,
                args.server_secs,
                true,
            );
            rates.push(rate.await?);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(json!({
        "route": "GET /api/v1/products",
        "connections": args.connections,
        "seconds_per_round": args.server_secs,
        "firewall_on_per_sec": on,
        "firewall_off_per_sec": off,
        "ratio_on_to_off": mean(&on) / mean(&off),
    }))
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request {
    let mut all: Vec<(String, Vec<u8>)> = vec![
        ("Host".into(), b"tickets.museum.example".to_vec()),
        (
            "User-Agent".into(),
            b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15".to_vec(),
        ),
        (
            "Accept".into(),
            b"application/json, text/plain, */*".to_vec(),
        ),
        (
            "Accept-Language".into(),
            b"zh-CN,zh;q=0.9,en;q=0.8".to_vec(),
        ),
        ("Accept-Encoding".into(), b"gzip, deflate, br".to_vec()),
        (
            "Cookie".into(),
            b"gh_session=3f9a1c0e7b2d4a6f8e1c3b5d7f9a2c4e; lang=zh".to_vec(),
        ),
    ];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec())),
    );
    if !body.is_empty() {
        all.push(("Content-Length".into(), body.len().to_string().into_bytes()));
    }
    Request {
        method: method.into(),
        uri: uri.into(),
        protocol: "HTTP/1.1".into(),
        headers: all,
        body,
        client: std::net::IpAddr::from([198, 51, 100, 7]),
        client_port: 40_000,
        server_port: 443,
    }
}

/// A different person's name for each `n`: a surname and one or two given characters.
fn name(n: usize) -> String {
    const SURNAMES: [char; 12] = [
        '张', '李', '王', '刘', '陈', '杨', '赵', '黄', '周', '吴', '欧', '买',
    ];
    const GIVEN: [char; 16] = [
        '小', '明', '华', '丽', '娜', '伟', '芳', '强', '军', '洋', '勇', '艳', '杰', '涛', '静',
        '敏',
    ];
    let pick = |list: &[char], i: usize| list.get(i % list.len()).copied().unwrap_or('一');
    let mut out = String::new();
    out.push(pick(&SURNAMES, n));
    out.push(pick(&GIVEN, n / 12));
    if !n.is_multiple_of(3) {
        out.push(pick(&GIVEN, n / 7 + 3));
    }
    out
}

/// The kinds of request timed, in order.
const KINDS: [&str; 5] = [
    "get",
    "queue_join",
    "booking_post_json",
    "form_post",
    "multipart_100kb",
];

/// The `n`th visitor's request of `kind`: what differs from one person to the next (their
/// names, ID numbers, phone, session, idempotency key) differs here too, so the benchmark does
/// not measure one request remembered; what real traffic repeats (argument names, headers, ids
/// of slots) repeats. Only the asked kind is built (the upload is 100 KB).
fn visitor_request(kind: &str, n: usize) -> Option<Request> {
    let id = |k: usize| {
        gatehouse_domain::identity::synthetic_resident_id(u32::try_from(k % 1_000_000).unwrap_or(0))
    };
    let phone = format!("138{:08}", n % 100_000_000);
    let session = format!(
        "gh_session={:032x}; lang=zh",
        (n as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)
    );
    // A session's access token: `gh_` and 64 hex digits, different for everyone.
    let access = |k: usize| {
        let k = k as u128 + 1;
        (k.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834) ^ (k << 64))
            .wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let (method, uri, headers, body): (&str, &str, Vec<(&str, String)>, Vec<u8>) = match kind {
        "get" => (
            "GET",
            "/api/v1/products/3/slots?date=2026-12-01&kind=hall&lang=zh-CN",
            Vec::new(),
            Vec::new(),
        ),
        // The 09:00 rush's request: a bodiless POST with the visitor's own credential.
        "queue_join" => (
            "POST",
            "/api/v1/releases/20261201003/join",
            vec![
                ("Content-Length", "0".to_owned()),
                ("Authorization", format!("Bearer gh_{:032x}{:032x}", access(n), access(n + (1 << 40)))),
            ],
            Vec::new(),
        ),
        "booking_post_json" => (
            "POST",
            "/api/v1/orders",
            vec![
                ("Content-Type", "application/json".to_owned()),
                ("Idempotency-Key", format!("b7c1d2e3-4f56-4789-9abc-{n:012x}")),
                (
                    "Authorization",
                    format!(
                        "Bearer v1.{:032x}",
                        (n as u128 + 7).wrapping_mul(0x2545_f491_4f6c_dd1d)
                    ),
                ),
            ],
            json!({
                "slot_id": 4211, "notice_version": 3, "contact_phone": phone,
                "tickets": [
                    {"ticket_type_id": 12, "visitor": {"name": name(2 * n), "id_type": "resident_id", "id_number": id(2 * n)}},
                    {"ticket_type_id": 13, "visitor": {"name": name(2 * n + 1), "id_type": "resident_id", "id_number": id(2 * n + 1)}, "seat": "7排12座"}
                ]
            })
            .to_string()
            .into_bytes(),
        ),
        "form_post" => (
            "POST",
            "/visit/register",
            vec![("Content-Type", "application/x-www-form-urlencoded".to_owned())],
            format!(
                "name={}&phone={phone}&date=2026-12-01&slot=09%3A00-10%3A00&remark=%E8%BD%AE%E6%A4%85%E5%85%A5%E5%9C%BA",
                name(n).bytes().map(|b| format!("%{b:02X}")).collect::<String>()
            )
            .into_bytes(),
        ),
        "multipart_100kb" => {
            let boundary = "----GatehouseBoundary7MA4YWxkTrZu0gW";
            let mut upload = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"org\"\r\n\r\n科学小记者团{n}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"members\"; filename=\"members.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .into_bytes();
            let line = "张三,11010519491231002X,13812345678\n";
            while upload.len() < 100 * 1024 {
                upload.extend_from_slice(line.as_bytes());
            }
            upload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            (
                "POST",
                "/api/v1/groups/members/upload",
                vec![("Content-Type", format!("multipart/form-data; boundary={boundary}"))],
                upload,
            )
        }
        _ => return None,
    };
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut r = request(method, uri, &headers, body);
    for (h, v) in &mut r.headers {
        if h == "Cookie" {
            *v = session.clone().into_bytes();
        }
    }
    Some(r)
}

pub async fn run(args: WafArgs) -> anyhow::Result<serde_json::Value> {
    let rss_before = crate::shield::rss_bytes();
    let started = Instant::now();
    // As a deployment runs it: blocking at paranoia level 1, the CRS's default thresholds.
    let firewall = Firewall::load(
        &RuleFiles {
            crs: args.crs.clone(),
            libinjection: args.libinjection.clone(),
        },
        Setup::default(),
    )?;
    let rules = firewall.ruleset();
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_after = crate::shield::rss_bytes();
    let mut results = serde_json::Map::new();
    let wanted = KINDS
        .into_iter()
        .filter(|name| args.kind.as_deref().is_none_or(|k| k == *name));
    for kind in wanted {
        let mut samples = Vec::with_capacity(args.requests);
        let mut fired = Vec::new();
        let mut second_us = 0.0;
        // Warm-up: lazily built regex automata belong to load, and what every request repeats
        // (argument names, headers) is what a running server has seen before.
        for n in 0..20 {
            let Some(req) = visitor_request(kind, 1_000_000 + n) else {
                break;
            };
            let t = Instant::now();
            let mut tx = Transaction::new(rules, &req, "bench".into());
            tx.run_request();
            if n == 1 {
                second_us = t.elapsed().as_secs_f64() * 1e6;
            }
        }
        let mut body_bytes = 0;
        for i in 0..args.requests {
            let Some(req) = visitor_request(kind, i) else {
                break;
            };
            body_bytes = req.body.len();
            let t = Instant::now();
            let mut tx = Transaction::new(rules, &req, format!("bench-{i}"));
            tx.run_request();
            samples.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
            if !tx.fired.is_empty() && fired.is_empty() {
                fired = tx.fired_ids();
            }
        }
        samples.sort_unstable();
        let us = |p: f64| crate::setup::percentile(&samples, p) as f64 / 1000.0;
        let mean = samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64 / 1000.0;
        results.insert(
            kind.into(),
            json!({
                "body_bytes": body_bytes,
                "us_p50": us(50.0),
                "us_p99": us(99.0),
                "us_mean": mean,
                // The second request after load: little is remembered yet.
                "us_second_after_load": second_us,
                "rules_fired": fired,
            }),
        );
    }
    Ok(json!({
        "bench": "waf",
        "crs": args.crs.display().to_string(),
        "rules": rules.rules().count(),
        "load_ms": load_ms,
        "rss_bytes_after_load": rss_after,
        "rss_growth_bytes_for_load": rss_after.saturating_sub(rss_before),
        "requests_per_kind": args.requests,
        "per_request": results,
        "server": if args.server_secs > 0.0 {
            server_throughput(&args).await?
        } else {
            serde_json::Value::Null
        },
    }))
}
