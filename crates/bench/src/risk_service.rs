//! `gatehouse bench risk --service`: what an assessment costs as the booking path and the API
//! pay it — through the risk service, each decision stored durably (group-committed to SQLite in
//! a temporary directory) before its answer — measured as assessments per second with `tasks`
//! callers at once, and each answer's latency (p50 / p99).

use std::sync::Arc;
use std::time::Instant;

use gatehouse_domain::order::AccountId;
use gatehouse_risk::features::Behaviour;
use gatehouse_risk::policy::Scenario;
use gatehouse_risk_service::{Asked, RiskService, RiskSettings};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::setup::percentile;

pub async fn run(accounts: u64, tasks: usize, seconds: f64) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-risk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(
        gatehouse_store::SqliteStore::open(
            &dir.join("gatehouse.db"),
            gatehouse_store::SqliteDurability::Normal,
        )
        .await?,
    );
    let clock: Arc<dyn gatehouse_domain::Clock> = Arc::new(gatehouse_domain::SystemClock);
    let service = RiskService::start(
        store.clone(),
        store,
        clock,
        [3; 32],
        RiskSettings::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for t in 0..tasks.max(1) {
        let service = service.clone();
        workers.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(500 + t as u64);
            let mut latencies_ns = Vec::new();
            let begun = Instant::now();
            while begun.elapsed().as_secs_f64() < seconds {
                let (who, what) = crate::risk::subject(&mut rng, accounts);
                let account = who
                    .account
                    .and_then(|a| i64::try_from(a).ok())
                    .map(AccountId);
                let t0 = Instant::now();
                service
                    .assess(Asked {
                        scenario: Scenario::Scalping,
                        what,
                        behaviour: Behaviour::default(),
                        who: who.clone(),
                        account,
                        source: "bench",
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                latencies_ns.push(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
                service.observe(&who, what);
            }
            anyhow::Ok(latencies_ns)
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    let took = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let stored = service
        .decisions(&gatehouse_domain::risk::DecisionFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .first()
        .map_or(0, |d| d.id);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "bench": "risk --service",
        "database": "sqlite (synchronous=NORMAL)",
        "tasks": tasks.max(1),
        "assessments": all.len(),
        "assessments_per_s": (all.len() as f64 / took).round(),
        "decisions_stored": stored,
        "p50_us": percentile(&all, 50.0) as f64 / 1e3,
        "p99_us": percentile(&all, 99.0) as f64 / 1e3,
        "seconds": took,
    }))
}
