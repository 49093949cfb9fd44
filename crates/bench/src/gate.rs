//! `gatehouse bench gate`: what checking tickets costs. Offline: a gate holding the day's bundle
//! decides distinct ticket codes on one core with the gate's own code ([`OfflineGate`]: the
//! signature, the window, revocations, its own entries) — one code at a time (a scan at the
//! turnstile), and in batches of queued scans (a gate catching up). Online
//! (`gate_online.rs`): durable check-ins per second through a real server.

use std::time::Instant;

use base64::Engine;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::order::TicketId;
use gatehouse_gates::{BundleKey, GateBundle, OfflineGate};
use gatehouse_tickets::{TicketClaims, TicketSigner};
use serde_json::json;

#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    /// Distinct ticket codes decided offline.
    #[arg(long, default_value_t = 200_000)]
    pub codes: usize,
    /// Queued scans verified together in the batch run (bulk work: a gate catching up after
    /// an outage, replaying its journal, the server checking an upload).
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Tickets sold and checked in online.
    #[arg(long, default_value_t = 20_000)]
    pub tickets: usize,
    /// Concurrent gate connections online.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Registered gate devices the connections share.
    #[arg(long, default_value_t = 8)]
    pub devices: usize,
    /// Run the online half on PostgreSQL (`postgres://…`, a fresh schema) instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Only the offline half.
    #[arg(long)]
    pub offline_only: bool,
}

fn gate_for(signer: &TicketSigner) -> anyhow::Result<OfflineGate> {
    let bundle = GateBundle {
        day: "2026-11-25".into(),
        generated_at: "2026-11-25T00:00:00Z".into(),
        gate: "bench gate".into(),
        time_zone: "Asia/Shanghai".into(),
        keys: vec![BundleKey {
            key_id: signer.key_id(),
            public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(signer.public_key()),
        }],
        expected: Vec::new(),
        revoked: Vec::new(),
        used: Vec::new(),
        groups: Vec::new(),
    };
    OfflineGate::from_bundle(&bundle).map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn run(args: GateArgs) -> anyhow::Result<serde_json::Value> {
    let signer = TicketSigner::from_seed(1, &[42; 32]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let from: jiff::Timestamp = "2026-11-25T00:30:00Z".parse()?;
    let until: jiff::Timestamp = "2026-11-25T02:30:00Z".parse()?;
    let started = Instant::now();
    let mut codes = Vec::with_capacity(args.codes);
    for i in 0..args.codes {
        let claims = TicketClaims {
            ticket_id: TicketId(
                uuid::Uuid::from_u128(i as u128 + 1)
                    .hyphenated()
                    .to_string(),
            ),
            slot_id: SlotId(7),
            valid_from: from,
            valid_until: until,
        };
        codes.push(signer.sign(&claims).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let signing = started.elapsed().as_secs_f64();
    let now: jiff::Timestamp = "2026-11-25T01:00:00Z".parse()?;
    // One core: this loop runs on the calling thread only.
    let mut gate = gate_for(&signer)?;
    let started = Instant::now();
    let mut admitted = 0usize;
    for code in &codes {
        if gate.scan(code, now).is_ok() {
            admitted += 1;
        }
    }
    let verifying = started.elapsed().as_secs_f64();
    anyhow::ensure!(admitted == codes.len(), "a genuine code was refused");
    anyhow::ensure!(
        codes.first().is_none_or(|c| gate.scan(c, now).is_err()),
        "a code was admitted twice"
    );
    let mut gate = gate_for(&signer)?;
    let started = Instant::now();
    let mut admitted = 0usize;
    for chunk in codes.chunks(args.batch.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        admitted += gate
            .scan_many(&texts, now)
            .iter()
            .filter(|r| r.is_ok())
            .count();
    }
    let batched = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        admitted == codes.len(),
        "a genuine code was refused in a batch"
    );
    let mut result = json!({
        "bench": "gate",
        "codes": codes.len(),
        "offline_verifications_per_sec_one_core": codes.len() as f64 / verifying,
        "offline_verification_us": verifying * 1e6 / codes.len() as f64,
        "batch": args.batch,
        "offline_batched_verifications_per_sec_one_core": codes.len() as f64 / batched,
        "offline_batched_verification_us": batched * 1e6 / codes.len() as f64,
        "signing_per_sec_one_core": codes.len() as f64 / signing,
        "code_chars": codes.first().map_or(0, String::len),
    });
    if !args.offline_only {
        let online =
            crate::gate_online::run(args.tickets, args.connections, args.devices, args.postgres)
                .await?;
        if let (Some(r), Some(o)) = (result.as_object_mut(), online.as_object()) {
            r.extend(o.clone());
        }
    }
    Ok(result)
}
