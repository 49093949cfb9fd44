//! The risk engine's port: decisions appended in whole batches and read back newest first by
//! filter; policy versions kept once; the live version never going back; metered
//! assessments adding up per node without counting a save twice.

use gatehouse_domain::order::AccountId;
use gatehouse_domain::risk::{
    DecisionFilter, NewRiskDecision, RiskPolicyRoles, RiskUsage, StoredRiskPolicy,
};
use gatehouse_domain::store::StoreError;

use super::{at, Stores};

pub fn decision(s: i64, account: Option<i64>, scenario: &str, level: &str) -> NewRiskDecision {
    NewRiskDecision {
        at: at(s),
        scenario: scenario.into(),
        event: "book".into(),
        source: "api".into(),
        account: account.map(AccountId),
        level: level.into(),
        score: if level == "pass" { 0 } else { 70 },
        policy_version: 3,
        reasons: r#"[{"rule":"ring"}]"#.into(),
        shadow: (s % 2 == 0).then(|| r#"{"version":4,"level":"review"}"#.to_owned()),
        features: r#"{"ring_size":9}"#.into(),
    }
}

pub async fn risk_decisions_are_appended_in_whole_batches_and_read_back_by_filter(stores: Stores) {
    let r = stores.risk.clone();
    r.record_decisions(&[]).await.unwrap();
    let batch: Vec<_> = (0..10)
        .map(|s| {
            decision(
                s,
                (s != 9).then_some(s % 3),
                if s < 5 { "scalping" } else { "fraud" },
                if s % 4 == 0 { "reject" } else { "pass" },
            )
        })
        .collect();
    r.record_decisions(&batch).await.unwrap();
    let all = r
        .risk_decisions(&DecisionFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 10);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let mut back: Vec<_> = all.iter().map(|d| d.decision.clone()).collect();
    back.reverse();
    assert_eq!(back, batch, "every field round-trips, in order");

    let of = |f: DecisionFilter| {
        let r = r.clone();
        async move {
            r.risk_decisions(&DecisionFilter { limit: 100, ..f })
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.decision.at)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        of(DecisionFilter {
            account: Some(AccountId(1)),
            ..Default::default()
        })
        .await,
        [at(7), at(4), at(1)]
    );
    assert_eq!(
        of(DecisionFilter {
            scenario: Some("scalping".into()),
            level: Some("reject".into()),
            ..Default::default()
        })
        .await,
        [at(4), at(0)]
    );
    assert_eq!(
        of(DecisionFilter {
            since: Some(at(8)),
            ..Default::default()
        })
        .await,
        [at(9), at(8)]
    );
    let page = r
        .risk_decisions(&DecisionFilter {
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 3);
    let next: Vec<_> = r
        .risk_decisions(&DecisionFilter {
            before: page.last().map(|d| d.id),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.decision.at)
        .collect();
    assert_eq!(next, [at(6), at(5)]);

    // A batch with one bad row records none of it.
    let mut bad = vec![decision(20, Some(1), "fraud", "pass")];
    bad.push(decision(21, Some(1), "fraud", "maybe"));
    assert!(r.record_decisions(&bad).await.is_err());
    assert_eq!(of(DecisionFilter::default()).await.len(), 10);
}

pub async fn risk_policies_are_kept_once_and_the_live_one_never_goes_back(stores: Stores) {
    let r = stores.risk.clone();
    assert_eq!(
        r.risk_policy_roles().await.unwrap(),
        RiskPolicyRoles::default()
    );
    let policy = |version: u32| StoredRiskPolicy {
        version,
        text: format!("version = {version}\n"),
        loaded_by: AccountId(1),
        loaded_at: at(i64::from(version)),
    };
    for v in [1, 2, 3] {
        r.save_risk_policy(&policy(v)).await.unwrap();
    }
    assert!(matches!(
        r.save_risk_policy(&policy(2)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(r.risk_policy(2).await.unwrap(), Some(policy(2)));
    assert_eq!(r.risk_policy(9).await.unwrap(), None);
    let versions: Vec<u32> = r
        .risk_policies()
        .await
        .unwrap()
        .iter()
        .map(|p| p.version)
        .collect();
    assert_eq!(versions, [3, 2, 1]);

    let roles = |live, shadow| RiskPolicyRoles { live, shadow };
    r.set_risk_policy_roles(roles(Some(2), Some(3)), AccountId(1), at(10))
        .await
        .unwrap();
    assert_eq!(
        r.risk_policy_roles().await.unwrap(),
        roles(Some(2), Some(3))
    );
    // The shadow may change while the live version stays.
    r.set_risk_policy_roles(roles(Some(2), None), AccountId(1), at(11))
        .await
        .unwrap();
    for back in [roles(Some(1), None), roles(None, Some(3))] {
        assert!(matches!(
            r.set_risk_policy_roles(back, AccountId(1), at(12)).await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert_eq!(r.risk_policy_roles().await.unwrap(), roles(Some(2), None));
    r.set_risk_policy_roles(roles(Some(3), None), AccountId(1), at(14))
        .await
        .unwrap();
    assert_eq!(r.risk_policy_roles().await.unwrap(), roles(Some(3), None));
}

pub async fn risk_usage_adds_up_nodes_and_never_goes_back(stores: Stores) {
    let r = stores.risk.clone();
    assert_eq!(r.risk_usage().await.unwrap(), RiskUsage::default());
    let a = RiskUsage {
        pass: 100,
        challenge: 5,
        review: 2,
        reject: 1,
    };
    r.save_risk_usage("node-a", &a, at(1)).await.unwrap();
    r.save_risk_usage("node-a", &a, at(2)).await.unwrap();
    r.save_risk_usage(
        "node-b",
        &RiskUsage {
            reject: 4,
            ..RiskUsage::default()
        },
        at(2),
    )
    .await
    .unwrap();
    let sum = r.risk_usage().await.unwrap();
    assert_eq!(
        sum,
        RiskUsage { reject: 5, ..a },
        "a repeat save counts nothing twice"
    );
    assert_eq!(sum.calls(), 112);
    r.save_risk_usage("node-a", &RiskUsage { pass: 90, ..a }, at(3))
        .await
        .unwrap();
    assert_eq!(
        r.risk_usage().await.unwrap().pass,
        100,
        "a late save lowers nothing"
    );
}

pub async fn measures_are_taken_listed_and_lifted_once(stores: Stores) {
    use gatehouse_domain::measure::{Lifted, MeasureKind, NewMeasure};
    let m = stores.measures.clone();
    let new = |account: i64, kind: MeasureKind, until: Option<i64>| NewMeasure {
        account: AccountId(account),
        kind,
        until: until.map(at),
        reason: "ring of 40 accounts on 3 phones".into(),
        notice: "您的账户因异常购票被限制 / your account is limited".into(),
        decided_by: AccountId(1),
        decided_at: at(0),
    };
    let warning = m
        .take_measure(&new(7, MeasureKind::Warning, None))
        .await
        .unwrap();
    let suspension = m
        .take_measure(&new(7, MeasureKind::Suspension, Some(100)))
        .await
        .unwrap();
    let ban = m
        .take_measure(&new(8, MeasureKind::Ban, None))
        .await
        .unwrap();
    assert_eq!(
        suspension.measure,
        new(7, MeasureKind::Suspension, Some(100))
    );
    assert!(suspension.lifted.is_none());
    // A suspension must end; the schema says so too.
    assert!(m
        .take_measure(&new(7, MeasureKind::Suspension, None))
        .await
        .is_err());

    let ids =
        |v: Vec<gatehouse_domain::measure::Measure>| v.iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(
        ids(m.measures(Some(AccountId(7)), 10).await.unwrap()),
        [suspension.id, warning.id]
    );
    assert_eq!(
        ids(m.measures(None, 2).await.unwrap()),
        [ban.id, suspension.id]
    );
    assert_eq!(
        ids(m.measures_in_force(at(50)).await.unwrap()),
        [warning.id, suspension.id, ban.id]
    );
    assert_eq!(
        ids(m.measures_in_force(at(100)).await.unwrap()),
        [warning.id, ban.id],
        "ended"
    );

    let lift = Lifted {
        by: AccountId(2),
        at: at(10),
        reason: "appeal upheld".into(),
    };
    let lifted = m.lift_measure(ban.id, &lift).await.unwrap().unwrap();
    assert_eq!(lifted.lifted, Some(lift.clone()));
    assert_eq!(
        m.lift_measure(ban.id, &lift).await.unwrap(),
        None,
        "lifted once"
    );
    assert_eq!(m.lift_measure(9_999, &lift).await.unwrap(), None);
    assert_eq!(
        ids(m.measures_in_force(at(50)).await.unwrap()),
        [warning.id, suspension.id]
    );
    assert_eq!(
        m.measures(Some(AccountId(8)), 10).await.unwrap()[0].lifted,
        Some(lift)
    );
}
