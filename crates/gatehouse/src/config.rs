//! Gatehouse's one configuration struct: defaults, then a TOML file (`--config`, or
//! `gatehouse.toml` in the working directory if present), then `GATEHOUSE_` environment
//! variables (`__` separates nested keys: `GATEHOUSE_DATABASE__URL`). Unknown keys are refused;
//! secrets are never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// A value that must not be printed.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` to use PostgreSQL; unset for the embedded SQLite file in `data_dir`.
    pub url: Option<Secret>,
    /// PostgreSQL schema to use (created if missing); unset for the connection's default.
    pub pg_schema: Option<String>,
    /// SQLite commit durability: `normal` (survives a crash of the process) or `full` (also
    /// survives power loss).
    pub sqlite_durability: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    pub listen: SocketAddr,
    /// Where the SQLite file and the key file live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    /// The key file for personal data (created with mode 0600 if missing); default `data_dir/keys`.
    pub key_file: Option<PathBuf>,
    /// The keys themselves, in the key file's format, instead of a key file.
    pub keys: Option<Secret>,
    /// The museum's IANA time zone: booking windows and slot dates are in it.
    pub museum_timezone: String,
    /// Load the museum's demo catalogue (and keep its next 7 days of slots) at start.
    pub demo_catalogue: bool,
    /// How often unpaid holds are expired, in milliseconds.
    pub housekeeping_interval_ms: u64,
    /// Log filter, e.g. `info` or `gatehouse=debug,info`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database: DatabaseConfig {
                url: None,
                pg_schema: None,
                sqlite_durability: "normal".into(),
            },
            key_file: None,
            keys: None,
            museum_timezone: "Asia/Shanghai".into(),
            demo_catalogue: true,
            housekeeping_interval_ms: 1000,
            log: "info".into(),
        }
    }
}

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "config file {} does not exist",
                    path.display()
                );
                figment = figment.merge(Toml::file(path));
            }
            None if Path::new("gatehouse.toml").exists() => {
                figment = figment.merge(Toml::file("gatehouse.toml"))
            }
            None => {}
        }
        let config: Config = figment
            .merge(Env::prefixed("GATEHOUSE_").split("__"))
            .extract()
            .context("invalid configuration")?;
        jiff::tz::TimeZone::get(&config.museum_timezone)
            .with_context(|| format!("unknown museum_timezone {:?}", config.museum_timezone))?;
        Ok(config)
    }

    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_printed() {
        let mut c = Config {
            keys: Some(Secret("gatehouse-keys-v1:abc:def".into())),
            ..Config::default()
        };
        c.database.url = Some(Secret("postgres://user:pw@host/db".into()));
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("abc:def") && !printed.contains("pw@"),
            "{printed}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9\"\nlisten_typo = 1\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(format!("{err:#}").contains("listen_typo"), "{err:#}");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9\"\n[database]\nsqlite_durability = \"full\"\n",
        )
        .unwrap();
        let ok = Config::load(Some(&path)).unwrap();
        assert_eq!(ok.listen.port(), 9);
        assert_eq!(ok.database.sqlite_durability, "full");
    }
}
