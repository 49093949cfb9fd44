//! The keys that protect personal data, from the command line and at start. `gatehouse keys
//! rotate` adds a master-key version to the key file and makes it current, re-wraps every
//! person's data key under it (a running server keeps serving: it learns of the new version
//! within seconds and re-wraps any key it wrapped meanwhile), then retires the versions no key
//! uses any more by removing them from the file. `gatehouse keys status` shows the versions and
//! how many data keys each wraps. Blind indexes use a key of their own and are not touched.
//! Values sealed under the key file's old single key (before per-person keys) are sealed again
//! under their owners' keys by every server at start and by a rotation, which then retires that
//! key too (keep a database backup with the key file of its time: after the retirement the new
//! file no longer opens such a backup's legacy values).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use gatehouse_domain::sealed_column::{LegacySealStore, SealedColumn};
use gatehouse_privacy::{
    legacy_left, master, KeySet, LocalMasterKeys, MasterKeys, ShredList, Vault,
};

use crate::config::Config;

/// How often a server looks at the key file for a rotation.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

#[derive(Subcommand)]
pub enum KeysTask {
    /// Start a new master-key version, re-wrap every data key under it and retire the old
    /// versions. Safe while servers run.
    Rotate {
        /// Seconds to wait after writing the new version, so running servers learn of it before
        /// the last keys they wrapped under the old one are re-wrapped.
        #[arg(long, default_value_t = 5)]
        settle_secs: u64,
    },
    /// The master-key versions in the key file and how many data keys each wraps.
    Status,
}

/// The key set and its master keys: from `keys` in the configuration (fixed, cannot rotate),
/// else the key file (created on first start, read again on rotation).
pub fn load_key_set(config: &Config) -> anyhow::Result<(KeySet, Arc<dyn MasterKeys>)> {
    Ok(match &config.keys {
        Some(text) => {
            let set = KeySet::parse(text.expose()).context("the keys setting")?;
            let masters = Arc::new(LocalMasterKeys::fixed(&set));
            (set, masters)
        }
        None => {
            let path = config.key_file();
            let set = master::load_or_create(&path)
                .with_context(|| format!("key file {}", path.display()))?;
            let masters = Arc::new(LocalMasterKeys::from_file(&path, &set));
            (set, masters)
        }
    })
}

/// The shred list, beside the key file.
pub fn shred_list(config: &Config) -> ShredList {
    ShredList::at(&config.key_file().with_extension("shredded"))
}

/// Looks at the key file every [`REFRESH_EVERY`]; after a rotation, re-wraps what is left.
/// First re-seals values still under the legacy key, if the key file has one.
pub fn spawn_key_refresh(vault: Arc<Vault>, legacy_seals: Arc<dyn LegacySealStore>) {
    tokio::spawn(async move {
        if vault.has_legacy() {
            match vault.reseal_legacy(legacy_seals.as_ref()).await {
                Ok(done) if done.resealed + done.unopenable > 0 => tracing::info!(
                    resealed = done.resealed,
                    unopenable = done.unopenable,
                    "values sealed before per-person keys are sealed again under their owners' keys"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "re-sealing legacy values failed"),
            }
        }
        // Keys left under an old version by a rotation this node missed while stopped.
        if let Err(e) = vault.rewrap_all().await {
            tracing::error!(error = %e, "re-wrapping data keys at start failed");
        }
        let mut every = tokio::time::interval(REFRESH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match vault.refresh().await {
                Ok(0) => {}
                Ok(moved) => tracing::info!(moved, "data keys re-wrapped after a rotation"),
                Err(e) => tracing::error!(error = %e, "reading the key file for a rotation failed"),
            }
        }
    });
}

fn status_json(
    set: &KeySet,
    in_use: &[(u32, u64)],
    legacy_values: &[(SealedColumn, u64)],
) -> serde_json::Value {
    serde_json::json!({
        "current": set.current(),
        "versions": set.versions(),
        "legacy_key": set.has_legacy(),
        "legacy_values_left": legacy_values
            .iter()
            .map(|(c, n)| (c.location().to_string(), serde_json::json!(n)))
            .collect::<serde_json::Map<_, _>>(),
        "data_keys_by_version": in_use
            .iter()
            .map(|(v, n)| (v.to_string(), serde_json::json!(n)))
            .collect::<serde_json::Map<_, _>>(),
    })
}

pub async fn run(config: Config, task: KeysTask) -> anyhow::Result<()> {
    if config.keys.is_some() {
        anyhow::bail!(
            "the keys come from the `keys` setting (GATEHOUSE_KEYS), not a key file: rotate by \
             putting the output of a rotation of a copy in a key file, or rotate where the file is"
        );
    }
    let path = config.key_file();
    let ports = crate::open_stores(&config).await?;
    let (data_keys, legacy_seals) = (ports.data_keys, ports.legacy_seals);
    let report = match task {
        KeysTask::Status => {
            let set = master::load_or_create(&path)?;
            status_json(
                &set,
                &data_keys.data_key_versions().await?,
                &legacy_left(legacy_seals.as_ref()).await?,
            )
        }
        KeysTask::Rotate { settle_secs } => {
            // One rotation at a time: two would each add "the next" version from the same file,
            // and the second save would drop the first's.
            let lock_path = path.with_extension("lock");
            let lock = std::fs::File::create(&lock_path)
                .with_context(|| format!("creating {}", lock_path.display()))?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    anyhow::bail!(
                        "another `gatehouse keys rotate` is running (it holds {})",
                        lock_path.display()
                    )
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", lock_path.display()))
                }
            }
            let mut set = master::load_or_create(&path)?;
            let previous = set.versions();
            let current = set.rotate();
            master::save(&path, &set)
                .with_context(|| format!("writing key file {}", path.display()))?;
            let masters: Arc<dyn MasterKeys> = Arc::new(LocalMasterKeys::from_file(&path, &set));
            let vault = Vault::new(
                &set,
                masters,
                data_keys.clone(),
                Arc::new(gatehouse_domain::SystemClock),
            );
            let resealed = vault.reseal_legacy(legacy_seals.as_ref()).await?;
            let mut rewrapped = vault.rewrap_all().await?;
            // Servers that had not yet noticed may have wrapped a few keys under the old version.
            tokio::time::sleep(Duration::from_secs(settle_secs)).await;
            rewrapped += vault.rewrap_all().await?;
            let in_use = data_keys.data_key_versions().await?;
            let (mut retired, mut retired_legacy) = (Vec::new(), false);
            for version in previous {
                if !in_use.iter().any(|(v, n)| *v == version && *n > 0) && set.retire(version) {
                    retired.push(version);
                }
            }
            // The legacy key goes too once nothing is sealed under it (servers re-seal at start,
            // so after one rotation with every server upgraded, nothing is).
            let legacy_values = legacy_left(legacy_seals.as_ref()).await?;
            if legacy_values.is_empty() && set.retire_legacy() {
                retired_legacy = true;
            }
            master::save(&path, &set)?;
            let mut report = status_json(&set, &in_use, &legacy_values);
            if let Some(map) = report.as_object_mut() {
                map.insert(
                    "legacy_resealed".into(),
                    serde_json::json!(resealed.resealed),
                );
                map.insert(
                    "legacy_unopenable".into(),
                    serde_json::json!(resealed.unopenable),
                );
                map.insert(
                    "legacy_key_retired".into(),
                    serde_json::json!(retired_legacy),
                );
                map.insert("new_version".into(), serde_json::json!(current));
                map.insert("rewrapped".into(), serde_json::json!(rewrapped));
                map.insert("retired".into(), serde_json::json!(retired));
            }
            report
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
