//! `gatehouse bench vault`: what protecting personal data costs. Sealing and opening one field
//! (an ID number bound to its record and field, AES-256-GCM with a fresh nonce, under its
//! person's data key) and its blind index, per operation on one thread; fetching a person's
//! data key (cached, made on first use, read and unwrapped by another node) and re-wrapping
//! every key after a rotation; then how many audit records a second the tamper-evident
//! log makes durable — hash-chained, written in batches, checkpoints signed — with many
//! writers at once, on SQLite at both durability settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_audit::{AppendSettings, AuditLog, CheckpointSigner};
use gatehouse_domain::audit::AuditEntry;
use gatehouse_domain::clock::{Clock, SystemClock};
use gatehouse_domain::data_key::DataSubject;
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::Sealed;
use gatehouse_privacy::{master, LocalMasterKeys, Vault};
use gatehouse_store::{SqliteDurability, SqliteStore};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct VaultArgs {
    /// Fields sealed and opened.
    #[arg(long, default_value_t = 200_000)]
    pub fields: usize,
    /// People whose data keys are made, then read by another node, then re-wrapped.
    #[arg(long, default_value_t = 5_000)]
    pub people: usize,
    /// Audit records appended per durability setting.
    #[arg(long, default_value_t = 200_000)]
    pub records: usize,
    /// Writers recording at once.
    #[arg(long, default_value_t = 256)]
    pub writers: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

/// Nanoseconds per operation, measured in runs of 1,000 (a single seal is too short to time
/// alone); p50 and p99 over the runs.
fn per_op(count: usize, mut op: impl FnMut(usize)) -> serde_json::Value {
    const RUN: usize = 1_000;
    let mut runs = Vec::with_capacity(count / RUN + 1);
    for r in 0..count.div_ceil(RUN) {
        let started = Instant::now();
        for i in 0..RUN {
            op(r * RUN + i);
        }
        runs.push(started.elapsed().as_nanos() as f64 / RUN as f64);
    }
    runs.sort_by(f64::total_cmp);
    json!({ "ns_p50": percentile(&runs, 0.5), "ns_p99": percentile(&runs, 0.99) })
}

async fn fields(args: &VaultArgs) -> anyhow::Result<serde_json::Value> {
    let dir =
        std::env::temp_dir().join(format!("gatehouse-bench-vault-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = fields_in(args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Microseconds per call of an async operation, each timed alone; p50 and p99.
async fn per_call<F: std::future::Future<Output = anyhow::Result<()>>>(
    count: usize,
    mut op: impl FnMut(usize) -> F,
) -> anyhow::Result<serde_json::Value> {
    let mut us = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        op(i).await?;
        us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    Ok(json!({ "us_p50": percentile(&us, 0.5), "us_p99": percentile(&us, 0.99) }))
}

async fn fields_in(args: &VaultArgs, dir: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let store = Arc::new(SqliteStore::open(&dir.join("g.db"), SqliteDurability::Normal).await?);
    let path = dir.join("keys");
    let mut set = master::load_or_create(&path)?;
    let vault = Vault::new(
        &set,
        Arc::new(LocalMasterKeys::from_file(&path, &set)),
        store.clone(),
        Arc::new(SystemClock),
    );
    let person = |n: usize| DataSubject::Account(AccountId(i64::try_from(n).unwrap_or(0) + 1));
    let key = vault.sealing_key(&person(0)).await?;
    let numbers: Vec<String> = (0..1_000)
        .map(gatehouse_domain::identity::synthetic_resident_id)
        .collect();
    let contexts: Vec<String> = (0..1_000)
        .map(|n| format!("ticket/t{n:08}/id_number"))
        .collect();
    let at = |i: usize| (numbers.get(i % 1_000), contexts.get(i % 1_000));
    let sealed: Vec<Sealed> = (0..1_000)
        .filter_map(|i| match at(i) {
            (Some(n), Some(c)) => Some(key.seal(n, c)),
            _ => None,
        })
        .collect();
    let seal = per_op(args.fields, |i| {
        if let (Some(n), Some(c)) = at(i) {
            std::hint::black_box(key.seal(n, c));
        }
    });
    let open = per_op(args.fields, |i| {
        if let (Some(s), (_, Some(c))) = (sealed.get(i % 1_000), at(i)) {
            let _ = std::hint::black_box(key.open(s, c));
        }
    });
    let round_trip = per_op(args.fields, |i| {
        if let (Some(n), Some(c)) = at(i) {
            let s = key.seal(n, c);
            let _ = std::hint::black_box(key.open(&s, c));
        }
    });
    let index = per_op(args.fields, |i| {
        if let (Some(n), _) = at(i) {
            std::hint::black_box(vault.blind_index("id_number", n));
        }
    });
    // A request fetches its person's key once: from the cache, or (first time) made, wrapped
    // and stored, or (another node made it) read and unwrapped.
    let cached = per_call(args.fields.min(100_000), |_| async {
        std::hint::black_box(vault.sealing_key(&person(0)).await?);
        Ok(())
    })
    .await?;
    let made = per_call(args.people, |n| {
        let vault = &vault;
        async move {
            vault.sealing_key(&person(n + 1)).await?;
            Ok(())
        }
    })
    .await?;
    let elsewhere = Vault::new(
        &set,
        Arc::new(LocalMasterKeys::from_file(&path, &set)),
        store.clone(),
        Arc::new(SystemClock),
    );
    let read = per_call(args.people, |n| {
        let elsewhere = &elsewhere;
        async move {
            elsewhere.opening_key(&person(n + 1)).await?;
            Ok(())
        }
    })
    .await?;
    // A rotation: every key re-wrapped under the new version.
    set.rotate();
    master::save(&path, &set)?;
    let started = Instant::now();
    let rewrapped = vault.refresh().await?;
    let rewrap_secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "field": "an 18-character ID number, bound to its ticket and field, under its person's data key",
        "seal": seal,
        "open": open,
        "seal_and_open": round_trip,
        "blind_index": index,
        "data_key_cached": cached,
        "data_key_first_use": made,
        "data_key_read_and_unwrapped": read,
        "rotation": {
            "data_keys_rewrapped": rewrapped,
            "seconds": rewrap_secs,
            "keys_per_sec": rewrapped as f64 / rewrap_secs.max(1e-9),
        },
    }))
}

async fn audit(
    args: &VaultArgs,
    durability: SqliteDurability,
) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-bench-vault-{}-{durability:?}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = audit_in(args, durability, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn audit_in(
    args: &VaultArgs,
    durability: SqliteDurability,
    dir: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let store = Arc::new(SqliteStore::open(&dir.join("g.db"), durability).await?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let log = AuditLog::start(
        store.clone(),
        Arc::new(CheckpointSigner::load_or_create(&dir.join("audit.key"))?),
        clock.clone(),
        AppendSettings::default(),
    );
    let per_writer = args.records.div_ceil(args.writers.max(1));
    let entry = |w: usize, n: usize| {
        let mut e = AuditEntry::new(
            clock.now(),
            Some(AccountId(i64::try_from(w).unwrap_or(0) + 1)),
            "reveal",
            "order masked",
        );
        e.subject = Some(format!("order:{w}-{n}"));
        e.field = Some("contact_phone".into());
        e.purpose = Some("the visitor asked us to call back".into());
        e.origin = Some("203.0.113.0/24".into());
        e
    };
    let started = Instant::now();
    let writers: Vec<_> = (0..args.writers.max(1))
        .map(|w| {
            let log = log.clone();
            let entries: Vec<AuditEntry> = (0..per_writer).map(|n| entry(w, n)).collect();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(entries.len());
                for e in entries {
                    let t = Instant::now();
                    log.record(e).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for w in writers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let ms = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let public = CheckpointSigner::load_or_create(&dir.join("audit.key"))?.public();
    let report = gatehouse_audit::verify(store.as_ref(), &public).await?;
    Ok(json!({
        "durability": format!("{durability:?}").to_lowercase(),
        "records": latencies.len(),
        "writers": args.writers,
        "seconds": elapsed.as_secs_f64(),
        "records_per_sec": latencies.len() as f64 / elapsed.as_secs_f64(),
        "record_ms_p50": ms(0.5),
        "record_ms_p99": ms(0.99),
        "verified_intact": report.is_intact(),
        "checkpoints": report.checkpoints,
    }))
}

pub async fn run(args: VaultArgs) -> anyhow::Result<serde_json::Value> {
    Ok(json!({
        "bench": "vault",
        "fields": fields(&args).await?,
        "audit_append": [
            audit(&args, SqliteDurability::Normal).await?,
            audit(&args, SqliteDurability::Full).await?,
        ],
    }))
}
