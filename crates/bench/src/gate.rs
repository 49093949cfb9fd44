//! `gatehouse bench gate`: what checking tickets costs. So far the offline half: a gate holding
//! the day's public keys verifies distinct ticket codes on one core and decides each scan by the
//! same rule the server uses — one code at a time (a scan at the turnstile), and in batches of
//! queued scans (a gate catching up, an upload checked). The online half (durable check-ins per
//! second) comes with the check-in endpoint.

use std::time::Instant;

use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::check_in::decide_scan;
use gatehouse_domain::order::{TicketId, TicketState};
use gatehouse_tickets::{TicketClaims, TicketSigner, TicketVerifier};
use serde_json::json;

#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    /// Distinct ticket codes verified.
    #[arg(long, default_value_t = 200_000)]
    pub codes: usize,
    /// Queued scans verified together in the batch run.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
}

pub async fn run(args: GateArgs) -> anyhow::Result<serde_json::Value> {
    let signer = TicketSigner::from_seed(1, &[42; 32]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let verifier = TicketVerifier::new([(1, signer.public_key())]);
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
    let started = Instant::now();
    let mut admitted = 0usize;
    for code in &codes {
        let claims = verifier.verify(code).map_err(|e| anyhow::anyhow!("{e}"))?;
        if decide_scan(
            claims.valid_from,
            claims.valid_until,
            Some(TicketState::Valid),
            None,
            now,
        )
        .is_ok()
        {
            admitted += 1;
        }
    }
    let verifying = started.elapsed().as_secs_f64();
    anyhow::ensure!(admitted == codes.len(), "a genuine code was refused");
    let started = Instant::now();
    let mut admitted = 0usize;
    for chunk in codes.chunks(args.batch.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for claims in verifier.verify_many(&texts) {
            let claims = claims.map_err(|e| anyhow::anyhow!("{e}"))?;
            if decide_scan(
                claims.valid_from,
                claims.valid_until,
                Some(TicketState::Valid),
                None,
                now,
            )
            .is_ok()
            {
                admitted += 1;
            }
        }
    }
    let batched = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        admitted == codes.len(),
        "a genuine code was refused in a batch"
    );
    Ok(json!({
        "bench": "gate",
        "codes": codes.len(),
        "offline_verifications_per_sec_one_core": codes.len() as f64 / verifying,
        "offline_verification_us": verifying * 1e6 / codes.len() as f64,
        "batch": args.batch,
        "offline_batched_verifications_per_sec_one_core": codes.len() as f64 / batched,
        "offline_batched_verification_us": batched * 1e6 / codes.len() as f64,
        "signing_per_sec_one_core": codes.len() as f64 / signing,
        "code_chars": codes.first().map_or(0, String::len),
    }))
}
