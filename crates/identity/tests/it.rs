//! The identity service against a real SQLite store: batched cold session lookups, races that
//! must resolve to one winner (first sign-ins of a phone, refreshes of one token, frequent
//! visitors at the limit), and codes that stay secret at rest.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::Arc;

use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::{AccountStore, SignInMethod};
use gatehouse_domain::identity::{synthetic_resident_id, IdKind};
use gatehouse_domain::ManualClock;
use gatehouse_identity::{
    IdentityConfig, IdentityError, IdentityService, LocalSms, SmsSender, VisitorFields,
};
use gatehouse_privacy::Vault;
use gatehouse_store::{SqliteDurability, SqliteStore};

struct World {
    store: Arc<SqliteStore>,
    keys: Arc<Vault>,
    clock: Arc<ManualClock>,
    sms: Arc<LocalSms>,
    identity: Arc<IdentityService>,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("g.db"), SqliteDurability::Normal)
            .await
            .unwrap(),
    );
    let clock = Arc::new(ManualClock::new("2026-11-23T01:00:00Z".parse().unwrap()));
    let keys = Arc::new(Vault::ephemeral(store.clone(), clock.clone()));
    let sms = Arc::new(LocalSms::default());
    let identity = IdentityService::start(
        store.clone(),
        keys.clone(),
        clock.clone(),
        sms.clone(),
        gatehouse_audit::AuditLog::start(
            store.clone(),
            Arc::new(gatehouse_audit::CheckpointSigner::from_seed(&[7; 32])),
            clock.clone(),
            gatehouse_audit::AppendSettings::default(),
        ),
        IdentityConfig::default(),
    );
    World {
        store,
        keys,
        clock,
        sms,
        identity,
        dir,
    }
}

impl World {
    fn code_for(&self, phone: &str) -> String {
        let text = self
            .sms
            .outbox(Some(phone))
            .unwrap()
            .last()
            .unwrap()
            .text
            .clone();
        text.chars().filter(char::is_ascii_digit).take(6).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_sessions_are_looked_up_in_batches_and_forged_ones_refused() {
    let w = world().await;
    let mut issued = Vec::new();
    for n in 0..300 {
        let account = w
            .identity
            .create_account(&format!("v{n}"), Roles::of(&[Role::Visitor]))
            .await
            .unwrap();
        issued.push(
            w.identity
                .issue_session(account, SignInMethod::Console)
                .await
                .unwrap(),
        );
    }
    // A second service on the same store has nothing cached: every lookup reads the store.
    let cold = IdentityService::start(
        w.store.clone(),
        w.keys.clone(),
        w.clock.clone(),
        w.sms.clone(),
        gatehouse_audit::AuditLog::start(
            w.store.clone(),
            Arc::new(gatehouse_audit::CheckpointSigner::from_seed(&[7; 32])),
            w.clock.clone(),
            gatehouse_audit::AppendSettings::default(),
        ),
        IdentityConfig::default(),
    );
    let lookups: Vec<_> = issued
        .iter()
        .map(|s| {
            let (cold, token) = (cold.clone(), s.access_token.clone());
            tokio::spawn(async move { cold.authenticate(&token).await })
        })
        .collect();
    for (session, lookup) in issued.iter().zip(lookups) {
        let found = lookup.await.unwrap().unwrap().unwrap();
        assert_eq!(found.account, session.account);
    }
    let forged = format!("gh_{}", "0".repeat(64));
    assert!(cold.authenticate(&forged).await.unwrap().is_none());
    assert!(cold.authenticate("gh_short").await.unwrap().is_none());
    // A sign-out on one node is seen by another once its cache entry ages out (60 s).
    let first = cold
        .authenticate(&issued[0].access_token)
        .await
        .unwrap()
        .unwrap();
    w.identity.sign_out(&first).await.unwrap();
    assert!(w
        .identity
        .authenticate(&issued[0].access_token)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_sign_ins_of_one_phone_make_one_account() {
    let w = world().await;
    let phone = "13912340000";
    // Two devices ask for a code; only the latest code is live, so both sign in with it.
    w.identity.send_phone_code(phone, "10.0.0.1").await.unwrap();
    let code = w.code_for(phone);
    let a = w
        .identity
        .sign_in_with_phone(phone, &code, "10.0.0.1")
        .await
        .unwrap();
    w.clock.advance(jiff::SignedDuration::from_secs(61));
    let phones: Vec<String> = (0..20).map(|n| format!("1381234{n:04}")).collect();
    for p in &phones {
        w.identity.send_phone_code(p, "10.0.0.2").await.unwrap();
    }
    let racers: Vec<_> = phones
        .iter()
        .flat_map(|p| [p.clone(), p.clone()])
        .map(|p| {
            let (identity, code) = (w.identity.clone(), w.code_for(&p));
            tokio::spawn(async move {
                (
                    p.clone(),
                    identity.sign_in_with_phone(&p, &code, "10.0.0.3").await,
                )
            })
        })
        .collect();
    let mut winners = std::collections::HashMap::new();
    for r in racers {
        let (p, result) = r.await.unwrap();
        match result {
            Ok(s) => assert!(
                winners.insert(p, s.account.id).is_none(),
                "a code worked twice"
            ),
            Err(e) => assert_eq!(e, IdentityError::CodeExpired),
        }
    }
    assert_eq!(
        winners.len(),
        phones.len(),
        "each phone signed in exactly once"
    );
    assert_ne!(winners.values().next(), Some(&a.account.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_refreshes_of_one_token_yield_one_session() {
    let w = world().await;
    let phone = "13912340001";
    w.identity.send_phone_code(phone, "ip").await.unwrap();
    let session = w
        .identity
        .sign_in_with_phone(phone, &w.code_for(phone), "ip")
        .await
        .unwrap();
    let refresh = session.refresh_token.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (identity, refresh) = (w.identity.clone(), refresh.clone());
            tokio::spawn(async move { identity.refresh(&refresh).await })
        })
        .collect();
    let mut ok = 0;
    for r in racers {
        if r.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_adds_cannot_pass_the_frequent_visitor_limit() {
    let w = world().await;
    let account = w
        .identity
        .create_account("v", Roles::of(&[Role::Visitor]))
        .await
        .unwrap();
    let racers: Vec<_> = (0..60)
        .map(|n| {
            let identity = w.identity.clone();
            tokio::spawn(async move {
                identity
                    .add_visitor(
                        account.id,
                        &VisitorFields::new(
                            "张三",
                            IdKind::ResidentId,
                            synthetic_resident_id(n),
                            None,
                        ),
                    )
                    .await
            })
        })
        .collect();
    let mut added = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(_) => added += 1,
            Err(e) => assert_eq!(e, IdentityError::VisitorLimit { max: 20 }),
        }
    }
    assert_eq!(added, 20);
    assert_eq!(w.store.list_visitors(account.id).await.unwrap().len(), 20);
}

#[tokio::test]
async fn codes_and_phones_are_not_stored_in_clear() {
    let w = world().await;
    let phone = "13912340002";
    w.identity.send_phone_code(phone, "ip").await.unwrap();
    let code = w.code_for(phone);
    let db = std::fs::read(w.dir.path().join("g.db")).unwrap();
    let wal = std::fs::read(w.dir.path().join("g.db-wal")).unwrap_or_default();
    w.identity
        .sign_in_with_phone(phone, &code, "ip")
        .await
        .unwrap();
    let wal_after = std::fs::read(w.dir.path().join("g.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal, &wal_after] {
        for needle in [phone.as_bytes(), code.as_bytes()] {
            assert!(
                !bytes.windows(needle.len()).any(|win| win == needle),
                "found {:?} in clear",
                String::from_utf8_lossy(needle)
            );
        }
    }
}
