//! `gatehouse sim rush`: a protected 09:00 release driven through a real server (started here,
//! or `--target`) by labelled populations (see `sim_people`). Everyone signs in, joins the
//! pre-queue, polls their place; once admitted, a person looks at the page, thinks, and books
//! with the admission; a challenge is solved by those who can. Bots also try to book before
//! their admission. Afterwards: per population, the tickets obtained, requests blocked, who was
//! challenged and who refused by risk control; the precision and recall of the "scalper"
//! decision (an account refused by risk control: review or reject) and of the "bot" decision
//! (an account asked for a challenge), against the labels; the ordinary visitors wrongly
//! challenged or rejected; and whether the targets hold (scalper rings and bots ≤ 5 %
//! of the tickets sold, families wrongly rejected ≤ 0.5 %). Tickets sold are checked against
//! what the slot lost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::client::Conn;
use crate::server::{spawn, ServerSetup};
use crate::setup::at;
use crate::sim_people::{people, Mix, Person, Population};

#[derive(Debug, Clone, clap::Args)]
pub struct SimRushArgs {
    /// Ordinary visitors: each an account booking 1–5 tickets for their own family.
    #[arg(long, default_value_t = 2_000)]
    pub families: usize,
    /// Casual scalpers (people), each with `casual-accounts` accounts on one phone.
    #[arg(long, default_value_t = 20)]
    pub casual_scalpers: usize,
    #[arg(long, default_value_t = 3)]
    pub casual_accounts: usize,
    /// Professional scalper rings, each of `ring-accounts` accounts on `ring-devices` devices.
    #[arg(long, default_value_t = 4)]
    pub rings: usize,
    #[arg(long, default_value_t = 40)]
    pub ring_accounts: usize,
    #[arg(long, default_value_t = 3)]
    pub ring_devices: usize,
    /// Pure bots (one account each).
    #[arg(long, default_value_t = 300)]
    pub bots: usize,
    /// Tickets on sale (one slot).
    #[arg(long, default_value_t = 2_000)]
    pub capacity: i64,
    /// A person's seconds from admission to submit are drawn from this range (compressed
    /// from the tens of seconds real people take, so a run is short; scripted clients take
    /// under a second).
    #[arg(long, default_value_t = 2.5)]
    pub human_min_secs: f64,
    #[arg(long, default_value_t = 8.0)]
    pub human_max_secs: f64,
    /// Joins are spread over this many seconds before the opening.
    #[arg(long, default_value_t = 5)]
    pub join_secs: u64,
    /// Give up this long after the opening.
    #[arg(long, default_value_t = 240)]
    pub deadline_secs: u64,
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// What happened to one account.
#[derive(Debug, Default)]
struct Outcome {
    tickets: u64,
    /// Requests refused by protection (no admission, a challenge, risk control, limits).
    blocked: u64,
    challenged: bool,
    refused_by_risk: bool,
    /// The last answer that ended its attempt (`201`, `sold_out`, `challenge_unsolved`…).
    end: String,
    booking_ms: Option<f64>,
}

struct Release {
    addr: String,
    id: u64,
    slot: i64,
    ticket_type: i64,
    opens: Instant,
    deadline: Instant,
}

const UA_BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile Safari";
const UA_SCRIPT: &str = "python-requests/2.31";

fn booking(r: &Release, p: &Person) -> serde_json::Value {
    let tickets: Vec<serde_json::Value> = p
        .ids
        .iter()
        .map(|n| {
            json!({"ticket_type_id": r.ticket_type, "visitor": {"name": "游客", "id_type": "resident_id",
                "id_number": gatehouse_domain::identity::synthetic_resident_id(*n)}})
        })
        .collect();
    json!({"slot_id": r.slot, "notice_version": 1, "contact_phone": p.contact_phone, "tickets": tickets})
}

/// Refusals by protection, as the answers' codes say.
fn is_blocked(code: &str) -> bool {
    matches!(
        code,
        "admission_required"
            | "admission_invalid"
            | "challenge_required"
            | "risk_rejected"
            | "risk_review"
            | "rate_limited"
            | "blocked"
    )
}

/// One request as `p` sends it: its address (or `addr`), device, browser or script, session.
#[allow(clippy::too_many_arguments)]
async fn send(
    c: &mut Conn,
    p: &Person,
    rng: &mut ChaCha8Rng,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    extra: &[(String, String)],
    addr: Option<&str>,
) -> anyhow::Result<crate::client::Reply> {
    let addr = addr.map_or_else(|| p.address(rng), str::to_owned);
    let device = p.device_now(rng);
    let ua = if p.population == Population::Bot {
        UA_SCRIPT
    } else {
        UA_BROWSER
    };
    let mut headers: Vec<(&str, &str)> = vec![
        ("x-forwarded-for", &addr),
        ("x-device-id", &device),
        ("user-agent", ua),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let body = body.map(serde_json::to_vec).transpose()?;
    c.request_with(method, path, Some(token), body, &headers)
        .await
}

async fn act(
    r: Arc<Release>,
    p: Person,
    token: String,
    seed: u64,
    join_within: Duration,
) -> anyhow::Result<Outcome> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Outcome::default();
    let mut c = Conn::open(&r.addr)
        .await?
        .with_host("tickets.museum.example");
    let order = booking(&r, &p);
    // A bot tries the booking before anything else.
    if p.population == Population::Bot {
        let reply = send(
            &mut c,
            &p,
            &mut rng,
            &token,
            Method::POST,
            "/api/v1/orders",
            Some(&order),
            &[],
            None,
        )
        .await?;
        if is_blocked(reply.code()) {
            out.blocked += 1;
        }
    }
    tokio::time::sleep(join_within.mul_f64(rng.gen::<f64>())).await;
    let join = format!("/api/v1/releases/{}/join", r.id);
    let joined = send(
        &mut c,
        &p,
        &mut rng,
        &token,
        Method::POST,
        &join,
        None,
        &[],
        None,
    )
    .await?;
    if joined.status != 200 {
        out.end = format!("join_{}", joined.code());
        return Ok(out);
    }
    let poll = at(&joined.json()?, "/poll_path")
        .as_str()
        .context("poll_path")?
        .to_owned();
    tokio::time::sleep(r.opens.saturating_duration_since(Instant::now())).await;
    let admission = loop {
        if Instant::now() > r.deadline {
            out.end = "timed_out".into();
            return Ok(out);
        }
        let reply = c.send(Method::GET, &poll, None, None).await?;
        let place = reply.json().unwrap_or_default();
        match at(&place, "/standing").as_str().unwrap_or("") {
            "admitted" => {
                break at(&place, "/admission_token")
                    .as_str()
                    .context("admission token")?
                    .to_owned()
            }
            s @ ("sold_out" | "done") => {
                out.end = s.to_owned();
                return Ok(out);
            }
            _ => {
                let wait = at(&place, "/wait_secs").as_f64().unwrap_or(2.0);
                let pause = (wait / 2.0).clamp(0.25, 2.0) * rng.gen_range(0.8..1.2);
                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
            }
        }
    };
    if p.views_page {
        let page = format!("/api/v1/slots/{}", r.slot);
        send(
            &mut c,
            &p,
            &mut rng,
            &token,
            Method::GET,
            &page,
            None,
            &[],
            None,
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_secs_f64(p.think_secs)).await;
    // One address for the booking and any challenge it brings (a pass is bound to it).
    let addr = p.address(&mut rng);
    let mut extra = vec![("x-gatehouse-admission".to_owned(), admission)];
    for _ in 0..2 {
        let t0 = Instant::now();
        let reply = send(
            &mut c,
            &p,
            &mut rng,
            &token,
            Method::POST,
            "/api/v1/orders",
            Some(&order),
            &extra,
            Some(&addr),
        )
        .await?;
        out.booking_ms = Some(t0.elapsed().as_secs_f64() * 1_000.0);
        let code = if reply.status == 201 {
            "201".to_owned()
        } else {
            reply.code().to_owned()
        };
        if is_blocked(&code) {
            out.blocked += 1;
        }
        match code.as_str() {
            "201" => {
                out.tickets = p.ids.len() as u64;
                out.end = code;
                return Ok(out);
            }
            "challenge_required" => {
                out.challenged = true;
                if !p.solves_challenges {
                    out.end = "challenge_unsolved".into();
                    return Ok(out);
                }
                let challenge = at(&reply.json()?, "/challenge").clone();
                let answer = json!({"token": at(&challenge, "/token"), "sale": at(&challenge, "/sale"), "counter": solve(&challenge)?});
                let pass = send(
                    &mut c,
                    &p,
                    &mut rng,
                    &token,
                    Method::POST,
                    "/.gatehouse/challenge",
                    Some(&answer),
                    &[],
                    Some(&addr),
                )
                .await?;
                let pass = at(&pass.json()?, "/pass")
                    .as_str()
                    .context("no pass for a solved challenge")?
                    .to_owned();
                extra.push(("x-gatehouse-pass".to_owned(), pass));
            }
            "risk_rejected" | "risk_review" => {
                out.refused_by_risk = true;
                out.end = code;
                return Ok(out);
            }
            _ => {
                out.end = code;
                return Ok(out);
            }
        }
    }
    out.end = "challenged_twice".into();
    Ok(out)
}

/// The counter a challenge asks for, as the browser's solver finds it.
fn solve(challenge: &serde_json::Value) -> anyhow::Result<u64> {
    let token = at(challenge, "/token")
        .as_str()
        .context("challenge token")?;
    let work = match at(challenge, "/work").as_str() {
        Some("sha256") => gatehouse_shield::Work::Sha256,
        _ => gatehouse_shield::Work::Balloon {
            memory_kib: u16::try_from(at(challenge, "/memory_kib").as_u64().unwrap_or(0))?,
        },
    };
    let bits = u32::try_from(
        at(challenge, "/difficulty")
            .as_u64()
            .context("difficulty")?,
    )?;
    (0u64..)
        .find(|c| {
            gatehouse_shield::leading_zero_bits(&gatehouse_shield::work_hash(work, token, *c))
                >= bits
        })
        .context("no counter solves the challenge")
}

/// The simulation's traffic policy, removed when the run ends.
struct PolicyFile(std::path::PathBuf);

impl Drop for PolicyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| (a as f64 / b as f64 * 10_000.0).round() / 10_000.0)
}

/// Precision and recall of a decision made of `decided` accounts, against `labelled` ones.
fn scores(
    outcomes: &[(Population, Outcome)],
    decided: impl Fn(&Outcome) -> bool,
    labelled: impl Fn(Population) -> bool,
) -> serde_json::Value {
    let tp = outcomes
        .iter()
        .filter(|(p, o)| decided(o) && labelled(*p))
        .count() as u64;
    let predicted = outcomes.iter().filter(|(_, o)| decided(o)).count() as u64;
    let actual = outcomes.iter().filter(|(p, _)| labelled(*p)).count() as u64;
    json!({"decided": predicted, "correct": tp, "labelled": actual, "precision": ratio(tp, predicted), "recall": ratio(tp, actual)})
}

pub async fn run(args: SimRushArgs) -> anyhow::Result<serde_json::Value> {
    let mix = Mix {
        families: args.families,
        casual_scalpers: args.casual_scalpers,
        casual_accounts: args.casual_accounts,
        rings: args.rings,
        ring_accounts: args.ring_accounts,
        ring_devices: args.ring_devices,
        bots: args.bots,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let everyone = people(&mix, &mut rng, (args.human_min_secs, args.human_max_secs));
    // Every simulated client comes through 127.0.0.1, which forwards its own address.
    let policy = PolicyFile(std::env::temp_dir().join(format!(
        "gatehouse-sim-{}-{}.toml",
        std::process::id(),
        args.seed
    )));
    std::fs::write(
        &policy.0,
        "version = 1\n[client_ip]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[challenges]\ndifficulty = 8\n",
    )?;
    let spawned = spawn(ServerSetup {
        data_dir: None,
        pg_url: None,
        env: vec![
            (
                "GATEHOUSE_SHIELD__POLICY".into(),
                policy.0.display().to_string(),
            ),
            ("GATEHOUSE_RISK__MODE".into(), "enforce".into()),
            ("GATEHOUSE_QUEUE__START_PER_S".into(), "200".into()),
            ("GATEHOUSE_QUEUE__MAX_IN_FLIGHT".into(), "5000".into()),
        ],
    })
    .await?;
    let (addr, admin) = (spawned.addr.clone(), spawned.admin_token.clone());
    let tokens = crate::signin::sign_in_visitors(&addr, &admin, everyone.len(), 0).await?;
    let opens_in = Duration::from_secs(args.join_secs + 3);
    let setup = crate::queue::protected_release(
        &addr,
        &admin,
        jiff::SignedDuration::try_from(opens_in)?,
        args.capacity,
    )
    .await?;
    let opens = Instant::now() + opens_in;
    let release = Arc::new(Release {
        addr: addr.clone(),
        id: setup.release,
        slot: setup.slot,
        ticket_type: setup.ticket_type,
        opens,
        deadline: opens + Duration::from_secs(args.deadline_secs),
    });
    let mut tasks = Vec::with_capacity(everyone.len());
    for (i, (person, token)) in everyone.iter().cloned().zip(tokens).enumerate() {
        let population = person.population;
        let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
        tasks.push((
            population,
            tokio::spawn(act(
                release.clone(),
                person,
                token,
                seed,
                Duration::from_secs(args.join_secs),
            )),
        ));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (population, task) in tasks {
        outcomes.push((population, task.await??));
    }
    let took = opens.elapsed().as_secs_f64();

    let mut c = Conn::open(&addr).await?;
    let slot = c
        .send(
            Method::GET,
            &format!("/api/v1/slots/{}", setup.slot),
            None,
            None,
        )
        .await?
        .json()?;
    let remaining = at(&slot, "/remaining").as_i64().context("remaining")?;
    let sold: u64 = outcomes.iter().map(|(_, o)| o.tickets).sum();
    let mut per = BTreeMap::new();
    for population in Population::ALL {
        let mine: Vec<&Outcome> = outcomes
            .iter()
            .filter(|(p, _)| *p == population)
            .map(|(_, o)| o)
            .collect();
        let mut ends = BTreeMap::<String, u64>::new();
        for o in &mine {
            *ends.entry(o.end.clone()).or_default() += 1;
        }
        let tickets: u64 = mine.iter().map(|o| o.tickets).sum();
        let accounts = mine.len() as u64;
        per.insert(
            population.name(),
            json!({
                "accounts": accounts,
                "tickets": tickets,
                "share_of_tickets_sold": ratio(tickets, sold),
                "accounts_that_bought": mine.iter().filter(|o| o.tickets > 0).count(),
                "requests_blocked": mine.iter().map(|o| o.blocked).sum::<u64>(),
                "challenged": mine.iter().filter(|o| o.challenged).count(),
                "refused_by_risk": mine.iter().filter(|o| o.refused_by_risk).count(),
                "ends": ends,
            }),
        );
    }
    let families: Vec<&Outcome> = outcomes
        .iter()
        .filter(|(p, _)| *p == Population::Family)
        .map(|(_, o)| o)
        .collect();
    let wrongly_rejected = families.iter().filter(|o| o.refused_by_risk).count() as u64;
    let wrongly_challenged = families.iter().filter(|o| o.challenged).count() as u64;
    let rings_and_bots: u64 = outcomes
        .iter()
        .filter(|(p, _)| matches!(p, Population::Ring | Population::Bot))
        .map(|(_, o)| o.tickets)
        .sum();
    let share = ratio(rings_and_bots, sold).unwrap_or(0.0);
    let rejected_share = ratio(wrongly_rejected, families.len() as u64).unwrap_or(0.0);
    let mut booking_ms: Vec<u64> = outcomes
        .iter()
        .filter_map(|(_, o)| o.booking_ms)
        .map(|ms| (ms * 1_000.0) as u64)
        .collect();
    booking_ms.sort_unstable();
    Ok(json!({
        "mix": {"families": mix.families, "casual_scalpers": mix.casual_scalpers, "casual_accounts": mix.casual_accounts,
                "rings": mix.rings, "ring_accounts": mix.ring_accounts, "ring_devices": mix.ring_devices, "bots": mix.bots,
                "capacity": args.capacity, "seed": args.seed},
        "seconds_after_opening": took,
        "tickets_sold": sold,
        "slot_lost": args.capacity - remaining,
        "oversold": sold as i64 > args.capacity || sold as i64 != args.capacity - remaining,
        "booking_p99_ms": crate::setup::percentile_ms(&booking_ms, 99.0),
        "scenario": "scalping",
        "populations": per,
        "scalper_decision": scores(&outcomes, |o| o.refused_by_risk, Population::is_scalper),
        "bot_decision": scores(&outcomes, |o| o.challenged, |p| p == Population::Bot),
        "families_wrongly_challenged": {"accounts": wrongly_challenged, "share": ratio(wrongly_challenged, families.len() as u64)},
        "families_wrongly_rejected": {"accounts": wrongly_rejected, "share": rejected_share},
        "targets": {
            "rings_and_bots_share_of_tickets": share,
            "rings_and_bots_at_most_5_percent": share <= 0.05,
            "families_wrongly_rejected_at_most_half_a_percent": rejected_share <= 0.005,
        },
    }))
}
