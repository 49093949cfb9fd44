//! Traffic protection's lists: entries round-trip with their subject in canonical form, leave
//! the list when they end, and are removed once.

use super::*;
use gatehouse_domain::traffic::{ListAction, ListSubject, NewListEntry};

pub async fn traffic_lists_keep_entries_until_they_end_or_are_removed(stores: Stores) {
    let t = stores.traffic.clone();
    let staff = stores
        .accounts
        .create_account("analyst", visitor(), at(0))
        .await
        .unwrap();
    let entry = |action, kind: &str, value: &str, ends: Option<i64>| NewListEntry {
        action,
        subject: ListSubject::parse(kind, value).unwrap(),
        reason: "seen scraping".into(),
        expires_at: ends.map(at),
        added_by: Some(staff.id),
        added_at: at(0),
    };
    let net = t
        .add_list_entry(&entry(ListAction::Block, "ip", "198.51.100.7/24", None))
        .await
        .unwrap();
    let dev = t
        .add_list_entry(&entry(ListAction::Block, "device", "bot-farm-1", Some(60)))
        .await
        .unwrap();
    let mut auto = entry(ListAction::Allow, "account", "7", Some(120));
    auto.added_by = None;
    let acc = t.add_list_entry(&auto).await.unwrap();
    assert!(net.id < dev.id && dev.id < acc.id);

    let now = t.list_entries(at(30)).await.unwrap();
    assert_eq!(now, vec![net.clone(), dev.clone(), acc.clone()]);
    assert_eq!(now[0].entry.subject.value(), "198.51.100.0/24");
    assert_eq!(now[2].entry.added_by, None);

    let later = t.list_entries(at(60)).await.unwrap();
    assert_eq!(
        later,
        vec![net.clone(), acc.clone()],
        "the device's entry ended"
    );

    assert!(t.remove_list_entry(net.id).await.unwrap());
    assert!(!t.remove_list_entry(net.id).await.unwrap(), "removed once");
    assert_eq!(t.list_entries(at(60)).await.unwrap(), vec![acc]);
}

pub async fn metered_usage_adds_up_nodes_and_never_goes_back(stores: Stores) {
    use gatehouse_domain::traffic::Usage;
    let t = stores.traffic.clone();
    assert_eq!(t.usage().await.unwrap(), Usage::default());
    let a = Usage {
        passed: 100,
        refused: 5,
        challenged: 2,
        blocked: 1,
    };
    t.save_usage("node-a", &a, at(1)).await.unwrap();
    t.save_usage("node-a", &a, at(2)).await.unwrap();
    let b = Usage {
        passed: 7,
        ..Usage::default()
    };
    t.save_usage("node-b", &b, at(2)).await.unwrap();
    let sum = t.usage().await.unwrap();
    assert_eq!(
        sum,
        Usage {
            passed: 107,
            refused: 5,
            challenged: 2,
            blocked: 1
        },
        "a repeat save counts nothing twice"
    );
    assert_eq!(sum.calls(), 115);
    // A late save of older totals does not lower them.
    t.save_usage("node-a", &Usage { passed: 90, ..a }, at(3))
        .await
        .unwrap();
    assert_eq!(t.usage().await.unwrap().passed, 107);
    t.save_usage("node-a", &Usage { passed: 150, ..a }, at(4))
        .await
        .unwrap();
    assert_eq!(t.usage().await.unwrap().passed, 157);
}
