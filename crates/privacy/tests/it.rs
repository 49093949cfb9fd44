//! The vault over a real store (SQLite): each person's values open only with their own key,
//! rotation re-wraps keys while values keep opening and blind indexes keep matching, a retired
//! version is gone from the file, and a shredded key opens nothing of that person's again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::Arc;

use gatehouse_domain::data_key::{DataKeyStore, DataSubject};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::SystemClock;
use gatehouse_privacy::master::{load_or_create, save};
use gatehouse_privacy::{LocalMasterKeys, PrivacyError, Vault};
use gatehouse_store::{SqliteDurability, SqliteStore};

struct Setup {
    store: Arc<SqliteStore>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("g.db"), SqliteDurability::Normal)
        .await
        .unwrap();
    Setup {
        store: Arc::new(store),
        path: dir.path().join("keys"),
        _dir: dir,
    }
}

fn vault(s: &Setup) -> Vault {
    let set = load_or_create(&s.path).unwrap();
    Vault::new(
        &set,
        Arc::new(LocalMasterKeys::from_file(&s.path, &set)),
        s.store.clone(),
        Arc::new(SystemClock),
    )
}

fn account(n: i64) -> DataSubject {
    DataSubject::Account(AccountId(n))
}

#[tokio::test]
async fn each_person_has_their_own_key_and_it_survives_a_restart() {
    let s = setup().await;
    let v = vault(&s);
    let alice = v.sealing_key(&account(1)).await.unwrap();
    let bob = v.sealing_key(&account(2)).await.unwrap();
    let sealed = alice.seal("13812345678", "order/1/contact_phone");
    assert_eq!(
        alice
            .open(&sealed, "order/1/contact_phone")
            .unwrap()
            .as_str(),
        "13812345678"
    );
    assert!(
        bob.open(&sealed, "order/1/contact_phone").is_err(),
        "another person's key"
    );
    assert!(
        alice.open(&sealed, "order/2/contact_phone").is_err(),
        "another record"
    );
    // A second process (or this one after a restart) unwraps the same key from the database.
    let again = vault(&s).opening_key(&account(1)).await.unwrap();
    assert_eq!(
        again
            .open(&sealed, "order/1/contact_phone")
            .unwrap()
            .as_str(),
        "13812345678"
    );
    assert_eq!(s.store.data_key_versions().await.unwrap(), vec![(1, 2)]);
}

#[tokio::test]
async fn rotation_rewraps_keys_and_retires_the_old_version_while_values_keep_opening() {
    let s = setup().await;
    let serving = vault(&s);
    let index_before = serving.blind_index("id_number", "11010519491231002X");
    let mut sealed = Vec::new();
    for n in 1..=600 {
        let key = serving.sealing_key(&account(n)).await.unwrap();
        sealed.push(key.seal(&format!("visitor {n}"), &format!("ticket/{n}/visitor_name")));
    }
    // `gatehouse keys rotate`, as another process: a new version in the file, keys re-wrapped.
    let mut set = load_or_create(&s.path).unwrap();
    assert_eq!(set.rotate(), 2);
    save(&s.path, &set).unwrap();
    let rotating = vault(&s);
    assert_eq!(rotating.rewrap_all().await.unwrap(), 600);
    assert_eq!(s.store.data_key_versions().await.unwrap(), vec![(2, 600)]);
    assert!(set.retire(1));
    save(&s.path, &set).unwrap();
    assert!(!std::fs::read_to_string(&s.path)
        .unwrap()
        .contains("master.1="));

    // The serving process learns of it and keeps working: cached keys, keys read afresh under
    // version 2 (it had never seen it), new people, and the same blind indexes.
    assert_eq!(serving.refresh().await.unwrap(), 0, "nothing left to move");
    let fresh = vault(&s);
    for (i, value) in sealed.iter().enumerate() {
        let n = i as i64 + 1;
        let key = fresh.opening_key(&account(n)).await.unwrap();
        assert_eq!(
            key.open(value, &format!("ticket/{n}/visitor_name"))
                .unwrap()
                .as_str(),
            format!("visitor {n}")
        );
    }
    let newcomer = serving.sealing_key(&account(1000)).await.unwrap();
    assert!(!newcomer.is_shredded());
    assert_eq!(s.store.data_key_versions().await.unwrap(), vec![(2, 601)]);
    assert_eq!(
        fresh.blind_index("id_number", "11010519491231002X"),
        index_before
    );
}

#[tokio::test]
async fn a_key_wrapped_under_a_retired_version_by_a_lagging_node_is_rewrapped_by_it() {
    let s = setup().await;
    let lagging = vault(&s);
    let mut set = load_or_create(&s.path).unwrap();
    set.rotate();
    save(&s.path, &set).unwrap();
    // Before it notices the rotation, the lagging node makes a key under version 1.
    lagging.sealing_key(&account(7)).await.unwrap();
    set.retire(1);
    save(&s.path, &set).unwrap();
    assert_eq!(
        lagging.refresh().await.unwrap(),
        1,
        "its straggler moved to version 2"
    );
    assert_eq!(s.store.data_key_versions().await.unwrap(), vec![(2, 1)]);
    assert!(!vault(&s)
        .opening_key(&account(7))
        .await
        .unwrap()
        .is_shredded());
}

#[tokio::test]
async fn a_shredded_key_opens_nothing_of_that_person_again() {
    let s = setup().await;
    let v = vault(&s);
    let key = v.sealing_key(&account(3)).await.unwrap();
    let sealed = key.seal("张三", "visitor/x/name");
    assert!(s.store.shred_data_key("account/3").await.unwrap());
    v.forget(&account(3));
    let after = v.opening_key(&account(3)).await.unwrap();
    assert!(after.is_shredded());
    assert!(matches!(
        after.open(&sealed, "visitor/x/name"),
        Err(PrivacyError::Shredded)
    ));
    // Not even a process that had never seen it, nor one that kept the key file.
    assert!(vault(&s)
        .opening_key(&account(3))
        .await
        .unwrap()
        .is_shredded());
}

#[tokio::test]
async fn a_wrapped_key_copied_to_another_person_does_not_unwrap() {
    let s = setup().await;
    let v = vault(&s);
    v.sealing_key(&account(1)).await.unwrap();
    let mut stolen = s.store.data_key("account/1").await.unwrap().unwrap();
    stolen.subject = "account/2".into();
    s.store
        .create_data_key(&stolen, jiff::Timestamp::UNIX_EPOCH)
        .await
        .unwrap();
    assert!(matches!(
        vault(&s).opening_key(&account(2)).await,
        Err(PrivacyError::OpenFailed)
    ));
}
