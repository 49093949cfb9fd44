//! The storage conformance suite, run against SQLite always and against PostgreSQL when
//! `GH_TEST_PG_URL` is set (`.ci/run` sets it). One integration binary for the crate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

mod conformance;

use std::sync::Arc;

use gatehouse_domain::store::Store;
use gatehouse_store::{PgStore, SqliteDurability, SqliteStore};

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gatehouse.db"), SqliteDurability::Normal)
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// A PostgreSQL store in a fresh schema, or None when no server is configured.
async fn postgres() -> Option<(Arc<dyn Store>, String, String)> {
    let url = std::env::var("GH_TEST_PG_URL").ok()?;
    let schema = format!("gh_conf_{}", std::process::id()) + &format!("_{}", rand_suffix());
    let store = PgStore::connect(&url, Some(&schema))
        .await
        .expect("GH_TEST_PG_URL is set but PostgreSQL is unreachable");
    Some((Arc::new(store), url, schema))
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish() % 1_000_000_000
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_suite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _dir) = super::sqlite().await;
                super::conformance::$name(store).await;
            })*
        }
        mod postgres_suite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((store, url, schema)) = super::postgres().await else {
                    eprintln!("skipped: GH_TEST_PG_URL is not set");
                    return;
                };
                super::conformance::$name(store).await;
                gatehouse_store::PgStore::drop_schema(&url, &schema).await.unwrap();
            })*
        }
    };
}

on_both!(
    catalogue_round_trips,
    notices_are_versioned,
    slots_are_unique_and_capacity_guards_taken,
    accounts_by_token_and_lock,
    placing_an_order_round_trips,
    a_batch_is_all_or_nothing,
    the_schema_refuses_oversell_and_duplicate_claims,
    transitions_release_stock_and_refuse_stale_states,
    snapshot_and_due_holds,
    concurrent_writers_cannot_oversell,
    idempotency_keys_are_unique_per_account,
    in_use_records_cannot_be_deleted,
);
