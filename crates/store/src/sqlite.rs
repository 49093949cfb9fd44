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
            other => Err(format!(
                "unknown SQLite durability {other:?} (normal or full)"
            )),
        }
    }
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection the ledger's group commits use.
    writer: SqlitePool,
    /// The one connection the audit log's appender writes through. SQLite drops a connection's
    /// page cache whenever another connection committed since it last looked; appends taking
    /// turns over the shared pool re-read the log's indexes from the file on every batch, which
    /// cost two thirds of the append throughput.
    audit_writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(
        path: &Path,
        durability: SqliteDurability,
    ) -> Result<Self, gatehouse_domain::store::StoreError> {
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
            .pragma("wal_autocheckpoint", "20000")
            // 32 MiB of page cache per connection: the booking indexes of a busy week stay in memory.
            .pragma("cache_size", "-32768")
            // Statement journals (every multi-row INSERT … SELECT keeps one, to undo a statement
            // that fails half-way) live in memory, not in temporary files: each batch wrote them
            // page by page with a system call, a fifth of an audit append's cost.
            .pragma("temp_store", "memory")
            .disable_statement_logging();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .map_err(rows::map_err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| {
                gatehouse_domain::store::StoreError::Backend(format!("migration failed: {e}"))
            })?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(rows::map_err)?;
        let audit_writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(rows::map_err)?;
        let checkpointer = pool.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !checkpointer.is_closed() {
                every.tick().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&checkpointer)
                    .await
                {
                    tracing::debug!(error = %e, "background checkpoint failed; retrying");
                }
            }
        });
        Ok(Self {
            pool,
            writer,
            audit_writer,
        })
    }
}

use crate::rows;

// Each JSON row is converted to JSONB once (the MATERIALIZED CTE) and its fields read from that:
// reading fields straight from JSON text re-parses the row per field, which tripled the cost.
impl_sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    orders: "WITH r AS MATERIALIZED (SELECT jsonb(value) AS value FROM json_each($1)) INSERT INTO orders (id, account_id, product_id, kind, slot_id, day, order_seq, state, notice_version, contact_phone, total_fen, created_at, expires_at, idempotency_key, request_digest, order_limit, organisation_id) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, unhex(value->>9), value->>10, value->>11, value->>12, value->>13, value->>14, value->>15, value->>16 FROM r",
    tickets: "WITH r AS MATERIALIZED (SELECT jsonb(value) AS value FROM json_each($1)) INSERT INTO tickets (id, order_id, position, slot_id, kind, day, ticket_type_id, price_fen, visitor_name, id_kind, id_number, id_blind, claim_seq, claim_limit, state, seat) \
              SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, unhex(value->>8), value->>9, unhex(value->>10), unhex(value->>11), value->>12, value->>13, value->>14, value->>15 FROM r",
    events: "WITH r AS MATERIALIZED (SELECT jsonb(value) AS value FROM json_each($1)) INSERT INTO order_events (order_id, at, from_state, to_state, note) SELECT value->>0, value->>1, value->>2, value->>3, value->>4 FROM r",
    tails: "INSERT INTO order_tails (order_id, field, tail) SELECT value->>0, value->>1, unhex(value->>2) FROM json_each($1)"
);

impl_account_store!(
    SqliteStore,
    sessions_by_tokens: concat!("SELECT ", session_cols!(), " FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash IN (SELECT unhex(value) FROM json_each($1)) AND s.revoked_at IS NULL AND s.expires_at > $2"),
    person_keys: "SELECT id, phone_index FROM accounts WHERE phone_index IS NOT NULL AND id IN (SELECT value FROM json_each($1)) \
                  UNION ALL SELECT account_id, id_blind FROM frequent_visitors WHERE account_id IN (SELECT value FROM json_each($2))"
);

impl_payment_store!(SqliteStore, sqlx::Sqlite);

impl_gate_store!(SqliteStore, sqlx::Sqlite);

impl_no_show_store!(SqliteStore, sqlx::Sqlite);

impl_group_store!(SqliteStore, sqlx::Sqlite);

impl_traffic_store!(SqliteStore, sqlx::Sqlite, "MAX");

impl_audit_store!(
    SqliteStore,
    append: "WITH r AS MATERIALIZED (SELECT jsonb(value) AS value FROM json_each($1)) INSERT INTO audit_log (seq, at, actor, role, action, subject, field, purpose, origin, detail, prev_hash, hash) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9, unhex(value->>10), unhex(value->>11) \
             FROM r"
);

// A fresh random blind index per row, so an erased record leads nowhere.
impl_data_key_store!(
    SqliteStore,
    random_index: "randomblob(32)",
    subjects_in: "(SELECT value FROM json_each($1))"
);

impl_data_request_store!(SqliteStore);

impl_breach_store!(SqliteStore);
impl_release_store!(SqliteStore);

impl_measure_store!(SqliteStore);

impl_risk_store!(
    SqliteStore,
    "MAX",
    insert: "WITH r AS MATERIALIZED (SELECT jsonb(value) AS value FROM json_each($1)) INSERT INTO risk_decisions (at, scenario, event, source, account_id, level, score, policy_version, reasons, shadow, features) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9, value->>10 FROM r"
);

impl_legacy_seal_store!(SqliteStore);
