//! `gatehouse audit …`: the tamper-evident audit log from the command line. `verify` walks the
//! whole chain in the configured database and checks it against the signed checkpoints; it
//! prints a JSON report naming the first broken record and exits 1 when there is one.
//! `public-key` prints the checkpoint key's public half, for auditors who verify without the
//! private key.

use anyhow::Context as _;
use clap::Subcommand;

use gatehouse_audit::signer::{self, PublicKey};

use crate::config::Config;

#[derive(Subcommand)]
pub enum AuditTask {
    /// Check every record's hash and link and every signed checkpoint; name the first broken
    /// record. Exits 1 if the log is not intact.
    Verify {
        /// The checkpoint key's public half (64 hex digits), instead of the audit key file.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the checkpoint key's public half and its id.
    PublicKey,
}

fn public_key(config: &Config, given: Option<&str>) -> anyhow::Result<PublicKey> {
    match given {
        Some(text) => {
            signer::public_key_from_hex(text).map_err(|m| anyhow::anyhow!("--public-key {m}"))
        }
        None => Ok(crate::load_audit_signer(config)?.public()),
    }
}

/// Runs the task; the process's exit code.
pub async fn run(config: Config, task: AuditTask) -> anyhow::Result<i32> {
    let report = match task {
        AuditTask::PublicKey => {
            let key = public_key(&config, None)?;
            serde_json::json!({
                "public_key": signer::public_key_hex(&key),
                "key_id": signer::key_id(&key),
            })
        }
        AuditTask::Verify { public_key: given } => {
            let key = public_key(&config, given.as_deref())?;
            let audit = crate::open_stores(&config).await?.audit;
            let verification = gatehouse_audit::verify(audit.as_ref(), &key)
                .await
                .context("reading the audit log")?;
            let intact = verification.is_intact();
            print_json(&verification.to_json())?;
            return Ok(if intact { 0 } else { 1 });
        }
    };
    print_json(&report)?;
    Ok(0)
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}
