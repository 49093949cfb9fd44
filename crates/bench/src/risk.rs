//! `gatehouse bench risk`: what an assessment costs in-process. The engine runs the default
//! policy over features filled by a population first (families booking for their own ID
//! numbers, rings sharing devices and payment accounts); then every assessment is timed alone
//! on one thread (p50 / p99), and `threads` threads assess, each followed by observing its
//! booking, for the throughput (the engine behind one read-write lock, as a server holds it).

use std::sync::{Arc, RwLock};
use std::time::Instant;

use gatehouse_risk::engine::Engine;
use gatehouse_risk::features::{Behaviour, Happening, Limits, Subject};
use gatehouse_risk::policy::Scenario;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::setup::percentile;

#[derive(Debug, clap::Args)]
pub struct RiskArgs {
    /// Accounts in the population the features are filled from.
    #[arg(long, default_value_t = 200_000)]
    pub accounts: u64,
    /// Assessments timed one by one.
    #[arg(long, default_value_t = 200_000)]
    pub assessments: usize,
    /// Threads for the throughput.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Seconds of throughput.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Measure the service instead: each assessment's decision stored durably (SQLite) before
    /// its answer, with `--tasks` callers at once.
    #[arg(long)]
    pub service: bool,
    #[arg(long, default_value_t = 256)]
    pub tasks: usize,
}

/// Someone of the population: 1 in 50 accounts belongs to a ring of 30 sharing 3 devices and
/// one payment account; the rest are families with their own device and 1–5 ID numbers.
pub(crate) fn subject(rng: &mut ChaCha8Rng, accounts: u64) -> (Subject, Happening) {
    let account = rng.gen_range(0..accounts.max(1));
    let ring = account % 50 == 0;
    let tickets = rng.gen_range(1..=5u32);
    let ids = (0..u64::from(tickets)).map(|k| account * 8 + k).collect();
    let who = Subject {
        account: Some(account),
        phone: Some(if ring {
            (1 << 40) | (account / 1_500)
        } else {
            account
        }),
        id_numbers: ids,
        device: Some(if ring {
            (1 << 41) | ((account / 1_500) * 3 + account % 3)
        } else {
            account
        }),
        ip: Some(std::net::IpAddr::from([
            10,
            (account >> 16) as u8,
            (account >> 8) as u8,
            account as u8,
        ])),
        payment_account: Some(if ring {
            (1 << 42) | (account / 1_500)
        } else {
            account
        }),
    };
    (who, Happening::Book { tickets })
}

fn at_ms(n: usize) -> i64 {
    1_790_000_000_000 + i64::try_from(n).unwrap_or(i64::MAX / 2) * 3
}

pub async fn run(args: RiskArgs) -> anyhow::Result<serde_json::Value> {
    if args.service {
        return crate::risk_service::run(args.accounts, args.tasks, args.seconds).await;
    }
    let policy = Engine::default_policy().map_err(|e| anyhow::anyhow!("default policy: {e}"))?;
    let mut engine = Engine::new(policy, Limits::default());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let filled = Instant::now();
    let events = usize::try_from(args.accounts).unwrap_or(usize::MAX);
    for n in 0..events {
        let (who, what) = subject(&mut rng, args.accounts);
        engine.observe(&who, what, at_ms(n));
    }
    let fill_s = filled.elapsed().as_secs_f64();
    let behaviour = Behaviour {
        ms_page_to_submit: Some(30_000),
        ms_admission_to_submit: Some(20_000),
        skipped_pages: Some(false),
        client_inconsistent: Some(false),
        account_created_at: Some(at_ms(0) - 86_400_000 * 30),
    };
    let scenarios = [Scenario::Scalping, Scenario::Fraud, Scenario::BadDebt];
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(args.assessments);
    let mut levels = std::collections::BTreeMap::<String, u64>::new();
    for n in 0..args.assessments {
        let (who, what) = subject(&mut rng, args.accounts);
        let scenario = scenarios
            .get(n % scenarios.len())
            .copied()
            .unwrap_or(Scenario::Scalping);
        let at = at_ms(events + n);
        let started = Instant::now();
        let answer = engine.assess(scenario, &who, what, &behaviour, at);
        latencies_ns.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        *levels
            .entry(format!("{:?}", answer.live.level).to_lowercase())
            .or_default() += 1;
        engine.observe(&who, what, at);
    }
    latencies_ns.sort_unstable();

    let engine = Arc::new(RwLock::new(engine));
    let started = Instant::now();
    let seconds = args.seconds;
    let mut workers = Vec::new();
    for t in 0..args.threads.max(1) {
        let engine = engine.clone();
        let accounts = args.accounts;
        workers.push(tokio::task::spawn_blocking(move || {
            let mut rng = ChaCha8Rng::seed_from_u64(100 + t as u64);
            let mut done = 0u64;
            let begun = Instant::now();
            while begun.elapsed().as_secs_f64() < seconds {
                for _ in 0..64 {
                    let (who, what) = subject(&mut rng, accounts);
                    let at = at_ms(events * 2 + usize::try_from(done).unwrap_or(0));
                    let answer = engine
                        .read()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .assess(Scenario::Scalping, &who, what, &behaviour, at);
                    std::hint::black_box(&answer);
                    engine
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .observe(&who, what, at);
                    done += 1;
                }
            }
            done
        }));
    }
    let mut total = 0u64;
    for w in workers {
        total += w.await?;
    }
    let took = started.elapsed().as_secs_f64();
    Ok(json!({
        "bench": "risk",
        "accounts": args.accounts,
        "fill_events_per_s": (events as f64 / fill_s).round(),
        "assess": {
            "timed": args.assessments,
            "p50_us": percentile(&latencies_ns, 50.0) as f64 / 1e3,
            "p99_us": percentile(&latencies_ns, 99.0) as f64 / 1e3,
            "max_us": latencies_ns.last().copied().unwrap_or(0) as f64 / 1e3,
            "levels": levels,
        },
        "throughput": {
            "threads": args.threads.max(1),
            "assessments_with_observe_per_s": (total as f64 / took).round(),
            "assessments": total,
            "seconds": took,
        },
    }))
}
