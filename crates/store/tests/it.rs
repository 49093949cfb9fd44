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

use conformance::Stores;
use gatehouse_domain::account::AccountStore;
use gatehouse_domain::audit::AuditStore;
use gatehouse_domain::breach::BreachStore;
use gatehouse_domain::data_key::DataKeyStore;
use gatehouse_domain::data_request::DataRequestStore;
use gatehouse_domain::gate::GateStore;
use gatehouse_domain::group::GroupStore;
use gatehouse_domain::measure::MeasureStore;
use gatehouse_domain::no_show::NoShowStore;
use gatehouse_domain::payment_store::PaymentStore;
use gatehouse_domain::risk::RiskStore;
use gatehouse_domain::sealed_column::LegacySealStore;
use gatehouse_domain::store::Store;
use gatehouse_domain::traffic::TrafficStore;
use gatehouse_domain::waiting::ProtectedReleaseStore;
use gatehouse_store::{PgStore, SqliteDurability, SqliteStore};

fn both<
    S: Store
        + AccountStore
        + PaymentStore
        + GateStore
        + NoShowStore
        + GroupStore
        + TrafficStore
        + AuditStore
        + DataKeyStore
        + DataRequestStore
        + BreachStore
        + LegacySealStore
        + ProtectedReleaseStore
        + RiskStore
        + MeasureStore,
>(
    s: S,
) -> Stores {
    let s = Arc::new(s);
    Stores {
        store: s.clone(),
        accounts: s.clone(),
        payments: s.clone(),
        gates: s.clone(),
        no_shows: s.clone(),
        groups: s.clone(),
        traffic: s.clone(),
        audit: s.clone(),
        data_keys: s.clone(),
        data_requests: s.clone(),
        breaches: s.clone(),
        legacy_seals: s.clone(),
        releases: s.clone(),
        risk: s.clone(),
        measures: s,
    }
}

async fn sqlite() -> (Stores, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gatehouse.db"), SqliteDurability::Normal)
        .await
        .unwrap();
    (both(store), dir)
}

/// A PostgreSQL store in a fresh schema, or None when no server is configured.
async fn postgres() -> Option<(Stores, String, String)> {
    let url = std::env::var("GH_TEST_PG_URL").ok()?;
    let schema = format!("gh_conf_{}", std::process::id()) + &format!("_{}", rand_suffix());
    let store = PgStore::connect(&url, Some(&schema))
        .await
        .expect("GH_TEST_PG_URL is set but PostgreSQL is unreachable");
    Some((both(store), url, schema))
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
    accounts_have_roles_and_locks,
    sessions_rotate_and_revoke,
    phone_and_linked_accounts_are_found_again,
    one_time_codes_count_attempts_and_work_once,
    frequent_visitors_are_scoped_and_limited,
    staff_credentials_refuse_a_totp_step_twice,
    the_old_audit_trail_is_read_oldest_first_and_forgotten_through_an_id,
    consents_and_face_verifications,
    placing_an_order_round_trips,
    a_batch_is_all_or_nothing,
    the_schema_refuses_oversell_and_duplicate_claims,
    transitions_release_stock_and_refuse_stale_states,
    snapshot_and_due_holds,
    concurrent_writers_cannot_oversell,
    idempotency_keys_are_unique_per_account,
    in_use_records_cannot_be_deleted,
    payments_are_paid_once_and_closed_only_when_open,
    the_money_ledger_is_append_only_and_refunds_are_bounded,
    refunds_move_on_only_from_the_state_they_were_in,
    open_payments_of_due_orders_are_found,
    security_events_and_reconciliations_round_trip,
    gate_devices_are_found_by_token_and_revoked_once,
    tickets_are_checked_in_once_and_offline_entries_reveal_double_uses,
    no_shows_are_recorded_once_and_locks_hold_until_lifted,
    a_seat_is_held_once_per_showing_and_seat_maps_round_trip,
    organisations_are_decided_once,
    group_orders_take_and_return_the_group_stock,
    traffic_lists_keep_entries_until_they_end_or_are_removed,
    legacy_sealed_values_are_found_by_format_and_replaced_only_if_unchanged,
    an_erased_persons_running_lock_holds_until_it_ends_then_leads_nowhere,
    metered_usage_adds_up_nodes_and_never_goes_back,
    the_audit_log_keeps_places_and_whole_batches,
    retention_erases_an_orders_personal_data_once_and_keeps_its_facts,
    search_tails_find_orders_follow_corrections_and_go_with_erasure,
    a_days_release_is_protected_once_and_read_back_in_order,
    a_person_has_one_data_key_and_rewrapping_is_conditional,
    erasing_an_account_shreds_its_key_and_leaves_no_way_back,
    data_requests_keep_deadlines_and_move_forward_once,
    breaches_find_holders_and_track_each_notice,
    risk_decisions_are_appended_in_whole_batches_and_read_back_by_filter,
    risk_policies_are_kept_once_and_the_live_one_never_goes_back,
    risk_usage_adds_up_nodes_and_never_goes_back,
    measures_are_taken_listed_and_lifted_once,
);

/// A database made by the booking core's schema (migration 1) with an account, its token and an
/// order is upgraded by migration 2: the account keeps its id and becomes an administrator, its
/// token becomes a live session, and its order still points at it.
#[tokio::test]
async fn sqlite_upgrade_keeps_accounts_tokens_and_orders() {
    use gatehouse_domain::access::{Role, Roles};
    use sqlx::sqlite::SqliteConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let only_first = dir.path().join("migrations");
    std::fs::create_dir(&only_first).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/sqlite/0001_booking_core.sql"
        ),
        only_first.join("0001_booking_core.sql"),
    )
    .unwrap();
    let path = dir.path().join("gatehouse.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(only_first.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO accounts (id, display_name, token_hash, is_admin, created_at) VALUES (7, 'staff', x'0707070707070707070707070707070707070707070707070707070707070707', 1, 0)",
        "INSERT INTO accounts (id, display_name, token_hash, is_admin, created_at) VALUES (8, 'visitor', x'0808080808080808080808080808080808080808080808080808080808080808', 0, 0)",
        "INSERT INTO products (id, kind, name, introduction, featured, open_days_before, open_at, close_minutes_before_start, id_limit_per_day, max_visitors_per_order, max_orders_per_account_per_day, hold_minutes) VALUES (1, 'entry', 'e', 'i', 0, 2, '09:00:00', 0, 1, 5, 3, 10)",
        "INSERT INTO slots (id, product_id, date, start_time, end_time, starts_at, ends_at, capacity, taken) VALUES (1, 1, '2026-11-25', '09:00:00', '10:00:00', 0, 1, 10, 0)",
        "INSERT INTO orders (id, account_id, product_id, kind, slot_id, day, order_seq, order_limit, state, notice_version, contact_phone, total_fen, created_at) VALUES ('o1', 8, 1, 'entry', 1, '2026-11-25', 0, 3, 'confirmed', 1, x'00', 0, 0)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = SqliteStore::open(&path, SqliteDurability::Normal)
        .await
        .unwrap();
    let staff = AccountStore::account(&store, gatehouse_domain::order::AccountId(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(staff.roles, Roles::of(&[Role::Administrator]));
    let live = store
        .sessions_by_tokens(
            &[[8; 32], [7; 32]],
            gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock),
        )
        .await
        .unwrap();
    assert_eq!(live.len(), 2, "both tokens still sign in");
    let order = store
        .get_order(&gatehouse_domain::order::OrderId("o1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.account_id.0, 8);
    assert!(store
        .create_account(
            "new",
            Roles::of(&[Role::Visitor]),
            gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
        )
        .await
        .is_ok());
}

/// Recorded risk decisions are append-only in the database itself, whoever writes to it.
#[tokio::test]
async fn risk_decisions_refuse_changes_in_the_file_itself() {
    let (stores, dir) = sqlite().await;
    stores
        .risk
        .record_decisions(&[conformance::risk::decision(1, Some(1), "fraud", "reject")])
        .await
        .unwrap();
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("gatehouse.db")),
    )
    .await
    .unwrap();
    for sql in [
        "UPDATE risk_decisions SET level = 'pass'",
        "DELETE FROM risk_decisions",
    ] {
        let e = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM risk_decisions WHERE level = 'reject'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
