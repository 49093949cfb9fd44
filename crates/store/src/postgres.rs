//! PostgreSQL adapter: the multi-node store. Each test or deployment may use its own schema
//! (`search_path`), so suites run side by side in one database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;

pub struct PgStore {
    pool: PgPool,
    /// The one connection the ledger's group commits use.
    writer: PgPool,
    /// The one connection the audit log's appender writes through (it writes one batch at a
    /// time anyway; a connection of its own never waits behind reads or bookings).
    audit_writer: PgPool,
}

impl PgStore {
    /// Connects to `url`, creates `schema` if given and missing, and runs the migrations in it.
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
    ) -> Result<Self, gatehouse_domain::store::StoreError> {
        let backend = |e: String| gatehouse_domain::store::StoreError::Backend(e);
        let mut options = PgConnectOptions::from_str(url).map_err(|e| backend(e.to_string()))?;
        options = options.disable_statement_logging();
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(backend("schema names are letters, digits and _".into()));
            }
            let mut conn = options.connect().await.map_err(rows::map_err)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&mut conn)
                .await
                .map_err(rows::map_err)?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(rows::map_err)?;
        let writer = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(rows::map_err)?;
        let audit_writer = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(rows::map_err)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| backend(format!("migration failed: {e}")))?;
        Ok(Self {
            pool,
            writer,
            audit_writer,
        })
    }

    /// Drops a schema made by [`PgStore::connect`] (test clean-up).
    pub async fn drop_schema(
        url: &str,
        schema: &str,
    ) -> Result<(), gatehouse_domain::store::StoreError> {
        let mut conn = PgConnectOptions::from_str(url)
            .map_err(|e| gatehouse_domain::store::StoreError::Backend(e.to_string()))?
            .connect()
            .await
            .map_err(rows::map_err)?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .map_err(rows::map_err)?;
        Ok(())
    }
}

use crate::rows;

impl_sql_store!(
    PgStore,
    sqlx::Postgres,
    orders: "INSERT INTO orders (id, account_id, product_id, kind, slot_id, day, order_seq, state, notice_version, contact_phone, total_fen, created_at, expires_at, idempotency_key, request_digest, order_limit, organisation_id) \
             SELECT r->>0, (r->>1)::bigint, (r->>2)::bigint, r->>3, (r->>4)::bigint, r->>5, (r->>6)::bigint, r->>7, (r->>8)::bigint, decode(r->>9, 'hex'), (r->>10)::bigint, (r->>11)::bigint, (r->>12)::bigint, r->>13, r->>14, (r->>15)::bigint, (r->>16)::bigint \
             FROM jsonb_array_elements($1::jsonb) AS r",
    tickets: "INSERT INTO tickets (id, order_id, position, slot_id, kind, day, ticket_type_id, price_fen, visitor_name, id_kind, id_number, id_blind, claim_seq, claim_limit, state, seat) \
              SELECT r->>0, r->>1, (r->>2)::bigint, (r->>3)::bigint, r->>4, r->>5, (r->>6)::bigint, (r->>7)::bigint, decode(r->>8, 'hex'), r->>9, decode(r->>10, 'hex'), decode(r->>11, 'hex'), (r->>12)::bigint, (r->>13)::bigint, r->>14, r->>15 \
              FROM jsonb_array_elements($1::jsonb) AS r",
    events: "INSERT INTO order_events (order_id, at, from_state, to_state, note) SELECT r->>0, (r->>1)::bigint, r->>2, r->>3, r->>4 FROM jsonb_array_elements($1::jsonb) AS r",
    tails: "INSERT INTO order_tails (order_id, field, tail) SELECT r->>0, r->>1, decode(r->>2, 'hex') FROM jsonb_array_elements($1::jsonb) AS r"
);

impl_account_store!(
    PgStore,
    sessions_by_tokens: concat!("SELECT ", session_cols!(), " FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash IN (SELECT decode(v, 'hex') FROM jsonb_array_elements_text($1::jsonb) AS v) AND s.revoked_at IS NULL AND s.expires_at > $2"),
    person_keys: "SELECT id, phone_index FROM accounts WHERE phone_index IS NOT NULL AND id IN (SELECT v::bigint FROM jsonb_array_elements_text($1::jsonb) AS v) \
                  UNION ALL SELECT account_id, id_blind FROM frequent_visitors WHERE account_id IN (SELECT v::bigint FROM jsonb_array_elements_text($2::jsonb) AS v)"
);

impl_payment_store!(PgStore, sqlx::Postgres);

impl_gate_store!(PgStore, sqlx::Postgres);

impl_no_show_store!(PgStore, sqlx::Postgres);

impl_group_store!(PgStore, sqlx::Postgres);

impl_traffic_store!(PgStore, sqlx::Postgres, "GREATEST");

impl_audit_store!(
    PgStore,
    append: "INSERT INTO audit_log (seq, at, actor, role, action, subject, field, purpose, origin, detail, prev_hash, hash) \
             SELECT (r->>0)::bigint, (r->>1)::bigint, (r->>2)::bigint, r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, r->>9, decode(r->>10, 'hex'), decode(r->>11, 'hex') \
             FROM jsonb_array_elements($1::jsonb) AS r"
);

// A fresh random blind index per row, so an erased record leads nowhere.
impl_data_key_store!(
    PgStore,
    random_index: "sha256(convert_to(gen_random_uuid()::text, 'UTF8'))",
    subjects_in: "(SELECT jsonb_array_elements_text($1::jsonb))"
);

impl_data_request_store!(PgStore);

impl_breach_store!(PgStore);
impl_release_store!(PgStore);

impl_measure_store!(PgStore);

impl_risk_store!(
    PgStore,
    "GREATEST",
    insert: "INSERT INTO risk_decisions (at, scenario, event, source, account_id, level, score, policy_version, reasons, shadow, features) \
             SELECT (r->>0)::bigint, r->>1, r->>2, r->>3, (r->>4)::bigint, r->>5, (r->>6)::bigint, (r->>7)::bigint, r->>8, r->>9, r->>10 \
             FROM jsonb_array_elements($1::jsonb) AS r"
);

impl_legacy_seal_store!(PgStore);
