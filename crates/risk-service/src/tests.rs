//! The service over a real SQLite store: decisions stored with their reasons and features,
//! counted exactly in the meter and folded into usage; subjects blinded; policy versions
//! checked, chosen, picked up by another node's service on the same database, never going
//! back; and replays of a version over what was recorded.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use gatehouse_domain::order::AccountId;
use gatehouse_domain::risk::{DecisionFilter, RiskStore};
use gatehouse_domain::ManualClock;
use gatehouse_meter::CallMeter;
use gatehouse_risk::engine::DEFAULT_POLICY;
use gatehouse_risk::features::{Behaviour, Happening, Subject};
use gatehouse_risk::policy::{Level, Scenario};
use gatehouse_store::{SqliteDurability, SqliteStore};

use super::*;

struct World {
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("gh.db"), SqliteDurability::Normal)
            .await
            .unwrap(),
    );
    World {
        store,
        clock: Arc::new(ManualClock::new(
            jiff::Timestamp::from_second(1_790_000_000).unwrap(),
        )),
        _dir: dir,
    }
}

async fn service(w: &World) -> Arc<RiskService> {
    RiskService::start(
        w.store.clone(),
        w.store.clone(),
        w.clock.clone(),
        [9; 32],
        RiskSettings {
            quota: Some(5),
            ..RiskSettings::default()
        },
    )
    .await
    .unwrap()
}

const SCRIPTED: Behaviour = Behaviour {
    ms_page_to_submit: Some(200),
    ms_admission_to_submit: Some(150),
    skipped_pages: Some(true),
    client_inconsistent: Some(true),
    account_created_at: None,
};

fn booking(account: i64, who: Subject, tickets: u32) -> Asked {
    Asked {
        scenario: Scenario::Scalping,
        what: Happening::Book { tickets },
        behaviour: SCRIPTED,
        who,
        account: Some(AccountId(account)),
        source: "test",
    }
}

async fn decisions(w: &World) -> Vec<gatehouse_domain::risk::RiskDecision> {
    w.store
        .risk_decisions(&DecisionFilter {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[test]
fn personal_values_are_blinded_by_kind_and_key() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let w = world().await;
        let s = service(&w).await;
        let who = s.subject(&Who {
            account: Some(AccountId(4)),
            phone: Some("13812345678"),
            id_numbers: vec!["11010519491231002X", "11010519491231002X"],
            device: Some("13812345678"),
            ..Who::default()
        });
        assert_eq!(who.account, Some(4));
        assert_eq!(
            who.id_numbers[0], who.id_numbers[1],
            "the same value, the same key"
        );
        assert_ne!(who.phone, who.device, "kinds never collide");
        let other = RiskService::start(
            w.store.clone(),
            w.store.clone(),
            w.clock.clone(),
            [8; 32],
            RiskSettings::default(),
        )
        .await
        .unwrap();
        assert_ne!(
            other.blind("phone", "13812345678"),
            s.blind("phone", "13812345678"),
            "without the key the value cannot be found"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_is_stored_with_reasons_and_features_and_counted_once() {
    let w = world().await;
    let s = service(&w).await;
    let meter = Arc::new(CallMeter::open(&w._dir.path().join("meter")).unwrap());
    s.attach_meter(meter.clone());
    let ring_device = Subject {
        device: Some(77),
        ..Subject::default()
    };
    // Eight accounts booking from one device, then a ninth asks, scripted.
    for account in 1..=8 {
        s.observe(
            &Subject {
                account: Some(account),
                ..ring_device.clone()
            },
            Happening::Book { tickets: 2 },
        );
    }
    let a = s
        .assess(booking(
            9,
            Subject {
                account: Some(9),
                ..ring_device.clone()
            },
            2,
        ))
        .await
        .unwrap();
    assert_eq!(a.level, Level::Reject, "{a:?}");
    assert_eq!(a.policy_version, 1);
    let rules: Vec<&str> = a.reasons.iter().map(|r| r.rule.as_str()).collect();
    assert!(
        rules.contains(&"device-shared-by-many-accounts"),
        "{rules:?}"
    );
    // A family's booking passes.
    let family = s
        .assess(Asked {
            behaviour: Behaviour::default(),
            ..booking(
                100,
                Subject {
                    account: Some(100),
                    device: Some(1),
                    ..Subject::default()
                },
                3,
            )
        })
        .await
        .unwrap();
    assert_eq!(family.level, Level::Pass);

    let stored = decisions(&w).await;
    assert_eq!(stored.len(), 2);
    let ring = &stored[1].decision;
    assert_eq!(
        (
            ring.level.as_str(),
            ring.scenario.as_str(),
            ring.event.as_str()
        ),
        ("reject", "scalping", "book")
    );
    assert_eq!(ring.account, Some(AccountId(9)));
    let reasons: serde_json::Value = serde_json::from_str(&ring.reasons).unwrap();
    let device = reasons
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "device-shared-by-many-accounts")
        .unwrap();
    assert_eq!(device["because"][0]["feature"], "accounts_per_device_day");
    assert_eq!(
        device["because"][0]["value"], 9.0,
        "eight seen, and the asker"
    );
    let features: serde_json::Value = serde_json::from_str(&ring.features).unwrap();
    assert_eq!(features["accounts_per_device_day"], 9.0);
    assert_eq!(features["tickets_in_request"], 2.0);
    assert!(
        features.get("bookings_per_phone_hour").is_none(),
        "no phone, no claim"
    );
    assert_eq!(ring.shadow, None);

    let t = meter.risk_totals();
    assert_eq!((t.pass, t.reject, t.calls()), (1, 1, 2));
    let report = s.fold_usage().await.unwrap();
    let again = s.fold_usage().await.unwrap();
    assert_eq!(report.used.calls(), 2);
    assert_eq!(again.used.calls(), 2, "a repeat fold counts nothing twice");
    assert_eq!((report.remaining(), report.exhausted), (Some(3), false));
    for _ in 0..3 {
        s.assess(booking(100, Subject::default(), 1)).await.unwrap();
    }
    let report = s.fold_usage().await.unwrap();
    assert_eq!(
        (report.used.calls(), report.remaining(), report.exhausted),
        (5, Some(0), true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_checked_chosen_picked_up_by_another_node_and_never_go_back() {
    let w = world().await;
    let here = service(&w).await;
    let there = service(&w).await;
    let by = AccountId(1);

    let e = here.load_policy("version = 2\n[[scenario]]\nname = \"scalping\"\nchallenge = 10\nreview = 20\nreject = 30\n[[scenario.rule]]\nid = \"x\"\nwhen = [\"no_such_feature > 1\"]\nweight = 5\n", by).await.unwrap_err();
    match e {
        RiskError::Invalid { field, message } => {
            assert_eq!(field, "policy.scenario[0].rule[0].when[0]");
            assert!(message.contains("no_such_feature"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let e = here.load_policy(DEFAULT_POLICY, by).await.unwrap_err();
    assert!(
        matches!(e, RiskError::Invalid { ref field, .. } if field == "policy.version"),
        "{e:?}"
    );

    // Version 2 is stricter: one ID number booked again is enough to reject.
    let stricter = DEFAULT_POLICY
        .replace("version = 1", "version = 2")
        .replace(
            "when = [\"bookings_per_id_hour >= 2\"]\nweight = 35",
            "when = [\"bookings_per_id_hour >= 1\"]\nweight = 90",
        );
    assert_ne!(
        stricter,
        DEFAULT_POLICY.replace("version = 1", "version = 2")
    );
    here.load_policy(&stricter, by).await.unwrap();
    assert!(matches!(
        here.load_policy(&stricter, by).await,
        Err(RiskError::Invalid { .. })
    ));
    here.choose_policies(1, Some(2), by).await.unwrap();
    assert_eq!(here.running(), (1, Some(2)));

    let person = Subject {
        account: Some(5),
        id_numbers: vec![42],
        ..Subject::default()
    };
    here.observe(&person, Happening::Book { tickets: 1 });
    let calm = Asked {
        behaviour: Behaviour::default(),
        ..booking(5, person.clone(), 1)
    };
    let a = here.assess(calm.clone()).await.unwrap();
    assert_eq!(a.level, Level::Pass, "the live version answers");
    let shadow: serde_json::Value =
        serde_json::from_str(decisions(&w).await[0].decision.shadow.as_deref().unwrap()).unwrap();
    assert_eq!(shadow["policy_version"], 2);
    assert_eq!(
        shadow["level"], "reject",
        "the shadow's answer is recorded, not given"
    );

    // The other node picks the choice up at its refresh.
    assert_eq!(there.running(), (1, None));
    there.refresh().await.unwrap();
    assert_eq!(there.running(), (1, Some(2)));

    here.choose_policies(2, None, by).await.unwrap();
    assert_eq!(here.assess(calm).await.unwrap().level, Level::Reject);
    there.refresh().await.unwrap();
    assert_eq!(there.running(), (2, None));
    let e = there.choose_policies(1, None, by).await.unwrap_err();
    assert!(matches!(e, RiskError::Conflict(_)), "{e:?}");
    assert_eq!(there.running(), (2, None));
    assert!(matches!(
        there.choose_policies(7, None, by).await,
        Err(RiskError::NotFound(_))
    ));

    // A restarted node starts with what runs.
    assert_eq!(service(&w).await.running(), (2, None));
    let listing = here.policies().await.unwrap();
    let versions: Vec<u32> = listing.versions.iter().map(|p| p.version).collect();
    assert_eq!(
        (versions, listing.live, listing.shadow),
        (vec![2, 1], 2, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_judges_recorded_features_again_under_another_version() {
    let w = world().await;
    let s = service(&w).await;
    let by = AccountId(1);
    // Ten people book; three of them book an ID number twice (passes under version 1).
    for account in 0..10 {
        let who = Subject {
            account: Some(account),
            id_numbers: vec![1_000 + account],
            ..Subject::default()
        };
        if account < 3 {
            s.observe(&who, Happening::Book { tickets: 1 });
        }
        let a = s
            .assess(Asked {
                behaviour: Behaviour::default(),
                ..booking(i64::try_from(account).unwrap(), who, 1)
            })
            .await
            .unwrap();
        assert_eq!(a.level, Level::Pass);
    }
    let stricter = DEFAULT_POLICY
        .replace("version = 1", "version = 2")
        .replace(
            "when = [\"bookings_per_id_hour >= 2\"]\nweight = 35",
            "when = [\"bookings_per_id_hour >= 1\"]\nweight = 90",
        );
    s.load_policy(&stricter, by).await.unwrap();
    let all = DecisionFilter {
        limit: 1_000,
        ..Default::default()
    };
    let r = s.replay(2, &all).await.unwrap();
    assert_eq!((r.version, r.decisions, r.changed), (2, 10, 3));
    assert_eq!(r.recorded.get(&Level::Pass), Some(&10));
    assert_eq!(
        (r.replayed.get(&Level::Pass), r.replayed.get(&Level::Reject)),
        (Some(&7), Some(&3))
    );
    let mut changed: Vec<i64> = r.changes.iter().map(|c| c.account.unwrap().0).collect();
    changed.sort_unstable();
    assert_eq!(changed, [0, 1, 2]);
    assert_eq!(r.changes[0].rules, ["one-id-booked-again-within-the-hour"]);
    // The live version replayed over its own decisions changes nothing.
    assert_eq!(s.replay(1, &all).await.unwrap().changed, 0);
    assert!(matches!(
        s.replay(3, &all).await,
        Err(RiskError::NotFound(_))
    ));
    // Replaying stores nothing.
    assert_eq!(decisions(&w).await.len(), 10);
}
