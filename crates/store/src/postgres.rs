//! PostgreSQL adapter: the multi-node store. Each test or deployment may use its own schema
//! (`search_path`), so suites run side by side in one database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url`, creates `schema` if given and missing, and runs the migrations in it.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, gatehouse_domain::store::StoreError> {
        let backend = |e: String| gatehouse_domain::store::StoreError::Backend(e);
        let mut options = PgConnectOptions::from_str(url).map_err(|e| backend(e.to_string()))?;
        options = options.disable_statement_logging();
        if let Some(schema) = schema {
            if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(backend("schema names are letters, digits and _".into()));
            }
            let mut conn = options.connect().await.map_err(rows::map_err)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&mut conn).await.map_err(rows::map_err)?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await.map_err(rows::map_err)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// Drops a schema made by [`PgStore::connect`] (test clean-up).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), gatehouse_domain::store::StoreError> {
        let mut conn = PgConnectOptions::from_str(url)
            .map_err(|e| gatehouse_domain::store::StoreError::Backend(e.to_string()))?
            .connect()
            .await
            .map_err(rows::map_err)?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut conn).await.map_err(rows::map_err)?;
        Ok(())
    }
}

use crate::rows;

impl_sql_store!(PgStore, sqlx::Postgres);
