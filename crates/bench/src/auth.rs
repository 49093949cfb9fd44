//! `gatehouse bench auth`: what authentication costs.
//!
//! - Session validation, in process: the identity service validates bearer tokens of many
//!   sessions, first with nothing cached (each token read from the store, in batches), then hot
//!   (the per-request path: one SHA-256 and one sharded map lookup). Each call is timed alone.
//! - Sign-in throughput over loopback HTTP against a spawned server: the full phone flow (send a
//!   code, read it from the local SMS outbox, sign in) on 32 connections.

use std::sync::Arc;
use std::time::Instant;

use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::{AccountStore, SignInMethod};
use gatehouse_domain::{Clock, SystemClock};
use gatehouse_identity::{IdentityConfig, IdentityService, LocalSms};
use gatehouse_privacy::Vault;
use gatehouse_store::{SqliteDurability, SqliteStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::server::{spawn, ServerSetup};

#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Sessions to validate.
    #[arg(long, default_value_t = 20_000)]
    pub sessions: usize,
    /// Hot validations to time.
    #[arg(long, default_value_t = 2_000_000)]
    pub validations: usize,
    /// Visitors to sign in over HTTP.
    #[arg(long, default_value_t = 3_000)]
    pub sign_ins: usize,
}

fn percentiles(mut ns: Vec<u64>) -> serde_json::Value {
    ns.sort_unstable();
    let at = |p: f64| {
        let i = ((ns.len() as f64 - 1.0) * p).round() as usize;
        ns.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    let mean = ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64 / 1000.0;
    json!({ "p50_us": at(0.50), "p99_us": at(0.99), "p999_us": at(0.999), "max_us": at(1.0), "mean_us": mean })
}

async fn validation(args: &AuthArgs) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(SqliteStore::open(&dir.join("g.db"), SqliteDurability::Normal).await?);
    let keys = Arc::new(Vault::ephemeral(store.clone(), Arc::new(SystemClock)));
    let start = |store: Arc<SqliteStore>| {
        IdentityService::start(
            store.clone(),
            keys.clone(),
            Arc::new(SystemClock),
            Arc::new(LocalSms::default()),
            gatehouse_audit::AuditLog::start(
                store,
                Arc::new(gatehouse_audit::CheckpointSigner::from_seed(&[7; 32])),
                Arc::new(SystemClock),
                gatehouse_audit::AppendSettings::default(),
            ),
            IdentityConfig::default(),
        )
    };
    let issuing = start(store.clone());
    let mut tokens = Vec::with_capacity(args.sessions);
    for n in 0..args.sessions {
        let account = store
            .create_account(
                &format!("v{n}"),
                Roles::of(&[Role::Visitor]),
                SystemClock.now(),
            )
            .await?;
        tokens.push(
            issuing
                .issue_session(account, SignInMethod::PhoneCode)
                .await?
                .access_token,
        );
    }
    // Cold: a new service on the same store has nothing cached.
    let service = start(store);
    let mut cold = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let began = Instant::now();
        let found = service.authenticate(t).await?;
        cold.push(began.elapsed().as_nanos() as u64);
        anyhow::ensure!(found.is_some(), "a live session was not found");
    }
    // Hot: random tokens, all cached now.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut hot = Vec::with_capacity(args.validations);
    let began_all = Instant::now();
    for _ in 0..args.validations {
        let t = tokens
            .get(rng.gen_range(0..tokens.len()))
            .map_or("", String::as_str);
        let began = Instant::now();
        let found = service.authenticate(t).await?;
        hot.push(began.elapsed().as_nanos() as u64);
        anyhow::ensure!(found.is_some(), "a live session was not found");
    }
    let hot_secs = began_all.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "sessions": args.sessions,
        "cold_lookup": percentiles(cold),
        "hot_validation": percentiles(hot),
        "hot_validations_per_s_one_task": args.validations as f64 / hot_secs,
    }))
}

pub async fn run(args: AuthArgs) -> anyhow::Result<serde_json::Value> {
    let validation = validation(&args).await?;
    let server = spawn(ServerSetup {
        data_dir: None,
        pg_url: None,
        env: Vec::new(),
    })
    .await?;
    let (tokens, secs) =
        crate::signin::timed_sign_ins(&server.addr, &server.admin_token, args.sign_ins, 0).await?;
    anyhow::ensure!(tokens.len() == args.sign_ins, "some sign-ins failed");
    let rss = server.child.id().and_then(crate::server::peak_rss_mb);
    Ok(json!({
        "benchmark": "auth",
        "session_validation": validation,
        "sign_in": {
            "visitors": args.sign_ins,
            "connections": 32,
            "seconds": secs,
            "sign_ins_per_s": args.sign_ins as f64 / secs,
            "http_requests_per_s": 3.0 * args.sign_ins as f64 / secs,
            "note": "each sign-in is three requests: send code, read the local outbox, sign in",
        },
        "server_peak_rss_mb": rss,
    }))
}
