//! SQLite adapter: one file in the data directory, WAL journal, foreign keys on.
//!
//! Durability: `synchronous=NORMAL` (the default here) means a commit has reached the operating
//! system before `apply` returns, so an acknowledged booking survives `kill -9` of the server;
//! `FULL` also survives power loss at the cost of an fsync per commit.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

/// How far a commit travels before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteDurability {
    /// Reaches the OS: survives a process crash.
    #[default]
    Normal,
    /// Reaches the disk: survives power loss.
    Full,
}

impl FromStr for SqliteDurability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            other => Err(format!("unknown SQLite durability {other:?} (normal or full)")),
        }
    }
}

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path, durability: SqliteDurability) -> Result<Self, gatehouse_domain::store::StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                SqliteDurability::Normal => SqliteSynchronous::Normal,
                SqliteDurability::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(rows::map_err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| gatehouse_domain::store::StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

use crate::rows;

impl_sql_store!(SqliteStore, sqlx::Sqlite);
