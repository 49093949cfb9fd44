//! What every storage adapter must do, in the domain's terms. Each function takes a fresh store.
//! The identity port's part is in [`accounts`].

pub mod accounts;
pub mod audit;
pub mod data_keys;
pub mod gates;
pub mod payments;
pub mod risk;
pub mod traffic;
pub use accounts::*;
pub use audit::*;
pub use data_keys::*;
pub use gates::*;
pub use payments::*;
pub use risk::*;
pub use traffic::*;

use std::sync::Arc;

use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::AccountStore;
use gatehouse_domain::catalogue::{
    NewSlot, ProductKind, ProductRules, ProductSpec, Slot, TicketType,
};
use gatehouse_domain::identity::IdKind;
use gatehouse_domain::order::{
    AccountId, Order, OrderEvent, OrderId, OrderState, Ticket, TicketId, TicketState,
};
use gatehouse_domain::payment_store::PaymentStore;
use gatehouse_domain::personal::{BlindIndex, Sealed};
use gatehouse_domain::store::{LedgerWrite, OrderTransition, Store, StoreError};
use jiff::civil::{date, time, Date};
use jiff::Timestamp;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + s).unwrap()
}

/// A storage adapter seen through both of its ports.
#[derive(Clone)]
pub struct Stores {
    pub store: Arc<dyn Store>,
    pub accounts: Arc<dyn AccountStore>,
    pub payments: Arc<dyn PaymentStore>,
    pub gates: Arc<dyn gatehouse_domain::gate::GateStore>,
    pub no_shows: Arc<dyn gatehouse_domain::no_show::NoShowStore>,
    pub groups: Arc<dyn gatehouse_domain::group::GroupStore>,
    pub traffic: Arc<dyn gatehouse_domain::traffic::TrafficStore>,
    pub audit: Arc<dyn gatehouse_domain::audit::AuditStore>,
    pub data_keys: Arc<dyn gatehouse_domain::data_key::DataKeyStore>,
    pub data_requests: Arc<dyn gatehouse_domain::data_request::DataRequestStore>,
    pub breaches: Arc<dyn gatehouse_domain::breach::BreachStore>,
    pub legacy_seals: Arc<dyn gatehouse_domain::sealed_column::LegacySealStore>,
    pub releases: Arc<dyn gatehouse_domain::waiting::ProtectedReleaseStore>,
    pub risk: Arc<dyn gatehouse_domain::risk::RiskStore>,
    pub measures: Arc<dyn gatehouse_domain::measure::MeasureStore>,
}

fn visitor() -> Roles {
    Roles::of(&[Role::Visitor])
}

fn day() -> Date {
    date(2026, 11, 25)
}

fn spec(kind: ProductKind) -> ProductSpec {
    ProductSpec {
        kind,
        name: "入馆 entry".into(),
        introduction: "intro".into(),
        theatre_type: None,
        film: None,
        featured: false,
        rules: ProductRules::default(),
    }
}

pub(crate) struct Fixture {
    slot: Slot,
    ticket_type: TicketType,
    account: AccountId,
}

async fn fixture(stores: &Stores, capacity: u32) -> Fixture {
    let store = stores.store.as_ref();
    let product = store
        .create_product(&spec(ProductKind::Entry))
        .await
        .unwrap();
    let ticket_type = store
        .create_ticket_type(product.id, "individual", 0)
        .await
        .unwrap();
    let new = NewSlot {
        product_id: product.id,
        date: day(),
        start: time(9, 0, 0, 0),
        end: time(10, 30, 0, 0),
        capacity,
    };
    let slot = store.create_slot(&new, at(3600), at(9000)).await.unwrap();
    let account = stores
        .accounts
        .create_account("visitor", visitor(), at(0))
        .await
        .unwrap()
        .id;
    Fixture {
        slot,
        ticket_type,
        account,
    }
}

fn order(f: &Fixture, n: u32, ids: &[(u8, u16)], seq: u16, key: Option<&str>) -> Order {
    let id = format!("order-{n}");
    Order {
        id: OrderId(id.clone()),
        account_id: f.account,
        product_id: f.slot.product_id,
        kind: ProductKind::Entry,
        slot_id: f.slot.id,
        day: day(),
        order_seq: seq,
        state: OrderState::PendingPayment,
        notice_version: 1,
        contact_phone: Sealed(vec![9, 9, 9]),
        total_fen: 0,
        created_at: at(i64::from(n)),
        expires_at: Some(at(600 + i64::from(n))),
        idempotency_key: key.map(str::to_owned),
        request_digest: key.map(|_| "digest".to_owned()),
        organisation: None,
        tickets: ids
            .iter()
            .enumerate()
            .map(|(i, (b, claim))| Ticket {
                id: TicketId(format!("{id}-t{i}")),
                ticket_type_id: f.ticket_type.id,
                price_fen: 0,
                visitor_name: Sealed(vec![1, 2, 3]),
                id_kind: IdKind::ResidentId,
                id_number: Sealed(vec![4, 5, 6]),
                id_blind: BlindIndex([*b; 32]),
                claim_seq: *claim,
                state: TicketState::Held,
                seat: None,
            })
            .collect(),
        history: vec![OrderEvent {
            at: at(i64::from(n)),
            from: None,
            to: OrderState::PendingPayment,
            note: "created".into(),
        }],
    }
}

fn place(o: Order) -> LedgerWrite {
    LedgerWrite::Place {
        order: o,
        id_limit: 1,
        order_limit: 50,
        tails: Vec::new(),
    }
}

pub async fn catalogue_round_trips(stores: Stores) {
    let store = stores.store.clone();
    let mut s = spec(ProductKind::Cinema);
    s.theatre_type = Some("dome".into());
    s.film = Some("宇宙之旅".into());
    s.rules.open_at = time(8, 30, 0, 0);
    let p = store.create_product(&s).await.unwrap();
    assert_eq!(p.spec, s);
    assert_eq!(store.get_product(p.id).await.unwrap().unwrap(), p);
    s.name = "renamed".into();
    s.rules.id_limit_per_day = 3;
    let updated = store.update_product(p.id, &s).await.unwrap();
    assert_eq!(updated.spec, s);
    assert_eq!(store.list_products().await.unwrap(), vec![updated]);
    let tt = store.create_ticket_type(p.id, "child", 1500).await.unwrap();
    assert_eq!(
        store.list_ticket_types(p.id).await.unwrap(),
        vec![tt.clone()]
    );
    assert_eq!(
        store.get_ticket_type(tt.id).await.unwrap(),
        Some(tt.clone())
    );
    store.delete_ticket_type(tt.id).await.unwrap();
    assert_eq!(
        store.delete_ticket_type(tt.id).await,
        Err(StoreError::NotFound("ticket type"))
    );
    store.delete_product(p.id).await.unwrap();
    assert!(store.get_product(p.id).await.unwrap().is_none());
}

pub async fn notices_are_versioned(stores: Stores) {
    let store = stores.store.clone();
    let p = store
        .create_product(&spec(ProductKind::Hall))
        .await
        .unwrap();
    assert!(store.current_notice(p.id).await.unwrap().is_none());
    assert_eq!(
        store
            .publish_notice(p.id, "first", at(1))
            .await
            .unwrap()
            .version,
        1
    );
    let second = store.publish_notice(p.id, "second", at(2)).await.unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(store.current_notice(p.id).await.unwrap(), Some(second));
    assert_eq!(
        store
            .get_product(p.id)
            .await
            .unwrap()
            .unwrap()
            .notice_version,
        2
    );
}

pub async fn slots_are_unique_and_capacity_guards_taken(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 3).await;
    let dup = NewSlot {
        product_id: f.slot.product_id,
        date: day(),
        start: time(9, 0, 0, 0),
        end: time(10, 0, 0, 0),
        capacity: 1,
    };
    assert!(matches!(
        store.create_slot(&dup, at(0), at(1)).await,
        Err(StoreError::Conflict(_))
    ));
    let listed = store
        .list_slots(f.slot.product_id, day(), day())
        .await
        .unwrap();
    assert_eq!(listed, vec![f.slot.clone()]);
    assert!(store
        .list_slots(f.slot.product_id, date(2026, 11, 26), date(2026, 12, 1))
        .await
        .unwrap()
        .is_empty());
    store
        .apply(&[place(order(&f, 1, &[(1, 0), (2, 0)], 0, None))])
        .await
        .unwrap();
    assert!(matches!(
        store.set_slot_capacity(f.slot.id, 1).await,
        Err(StoreError::Conflict(_))
    ));
    store.set_slot_capacity(f.slot.id, 2).await.unwrap();
    let slot = store.get_slot(f.slot.id).await.unwrap().unwrap();
    assert_eq!((slot.capacity, slot.taken), (2, 2));
}

pub async fn accounts_have_roles_and_locks(stores: Stores) {
    let store = stores.store.clone();
    let a = stores
        .accounts
        .create_account(
            "staff",
            Roles::of(&[Role::Administrator, Role::Auditor]),
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(a.roles, Roles::of(&[Role::Administrator, Role::Auditor]));
    assert_eq!(store.get_account(a.id).await.unwrap(), Some(a.clone()));
    stores
        .accounts
        .set_roles(a.id, Roles::of(&[Role::GateStaff]))
        .await
        .unwrap();
    assert_eq!(
        stores.accounts.account(a.id).await.unwrap().unwrap().roles,
        Roles::of(&[Role::GateStaff])
    );
    assert_eq!(
        stores
            .accounts
            .set_roles(AccountId(999_999), visitor())
            .await,
        Err(StoreError::NotFound("account"))
    );
    store.set_account_lock(a.id, Some(at(100))).await.unwrap();
    assert_eq!(
        store.get_account(a.id).await.unwrap().unwrap().locked_until,
        Some(at(100))
    );
    store.set_account_lock(a.id, None).await.unwrap();
    assert_eq!(
        store.get_account(a.id).await.unwrap().unwrap().locked_until,
        None
    );
    assert_eq!(
        store.set_account_lock(AccountId(999_999), None).await,
        Err(StoreError::NotFound("account"))
    );
}

pub async fn placing_an_order_round_trips(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 5).await;
    let o = order(&f, 1, &[(1, 0), (2, 0)], 0, Some("key-1"));
    store.apply(&[place(o.clone())]).await.unwrap();
    assert_eq!(store.get_order(&o.id).await.unwrap(), Some(o.clone()));
    assert_eq!(
        store
            .order_by_idempotency_key(f.account, "key-1")
            .await
            .unwrap(),
        Some(o.clone())
    );
    assert_eq!(
        store.list_orders(f.account, None, 10).await.unwrap(),
        vec![o.clone()]
    );
    assert_eq!(
        store
            .list_orders(f.account, Some(ProductKind::Entry), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .list_orders(f.account, Some(ProductKind::Cinema), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.get_slot(f.slot.id).await.unwrap().unwrap().taken, 2);
}

pub async fn a_batch_is_all_or_nothing(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 2).await;
    let ok = order(&f, 1, &[(1, 0)], 0, None);
    let too_many = order(&f, 2, &[(2, 0), (3, 0)], 1, None);
    assert!(matches!(
        store.apply(&[place(ok.clone()), place(too_many)]).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store.get_order(&ok.id).await.unwrap().is_none(),
        "the whole batch rolled back"
    );
    assert_eq!(store.get_slot(f.slot.id).await.unwrap().unwrap().taken, 0);
}

pub async fn the_schema_refuses_oversell_and_duplicate_claims(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 10).await;
    store
        .apply(&[place(order(&f, 1, &[(1, 0)], 0, None))])
        .await
        .unwrap();
    // Same ID, same day and kind, same claim number: refused even with another order.
    assert!(matches!(
        store
            .apply(&[place(order(&f, 2, &[(1, 0)], 1, None))])
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A claim number at or beyond the limit: refused.
    assert!(matches!(
        store
            .apply(&[place(order(&f, 3, &[(1, 1)], 2, None))])
            .await,
        Err(StoreError::Conflict(_))
    ));
    // The same account's order claim twice: refused.
    assert!(matches!(
        store
            .apply(&[place(order(&f, 4, &[(5, 0)], 0, None))])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_slot(f.slot.id).await.unwrap().unwrap().taken, 1);
}

pub async fn transitions_release_stock_and_refuse_stale_states(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 10).await;
    let o = order(&f, 1, &[(1, 0), (2, 0)], 0, None);
    store.apply(&[place(o.clone())]).await.unwrap();
    let cancel = OrderTransition {
        order_id: o.id.clone(),
        slot_id: f.slot.id,
        from: OrderState::PendingPayment,
        to: OrderState::Cancelled,
        tickets: o
            .tickets
            .iter()
            .map(|t| (t.id.clone(), TicketState::Released))
            .collect(),
        released: 2,
        group: false,
        event: OrderEvent {
            at: at(50),
            from: Some(OrderState::PendingPayment),
            to: OrderState::Cancelled,
            note: "by owner".into(),
        },
    };
    store
        .apply(&[LedgerWrite::Transition(cancel.clone())])
        .await
        .unwrap();
    let after = store.get_order(&o.id).await.unwrap().unwrap();
    assert_eq!(after.state, OrderState::Cancelled);
    assert!(after
        .tickets
        .iter()
        .all(|t| t.state == TicketState::Released));
    assert_eq!(after.history.len(), 2);
    assert_eq!(store.get_slot(f.slot.id).await.unwrap().unwrap().taken, 0);
    assert!(matches!(
        store.apply(&[LedgerWrite::Transition(cancel)]).await,
        Err(StoreError::Conflict(_))
    ));
    // Released claims are free again: the same ID and claim number can book.
    store
        .apply(&[place(order(&f, 2, &[(1, 0)], 0, None))])
        .await
        .unwrap();
}

pub async fn snapshot_and_due_holds(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 10).await;
    store
        .apply(&[
            place(order(&f, 1, &[(1, 0), (2, 0)], 0, None)),
            place(order(&f, 2, &[(3, 0)], 1, None)),
        ])
        .await
        .unwrap();
    let snap = store.ledger_snapshot(day()).await.unwrap();
    assert_eq!(snap.slots.len(), 1);
    assert_eq!(snap.slots[0].slot.taken, 3);
    assert_eq!(snap.slots[0].kind, ProductKind::Entry);
    assert_eq!(snap.claims.len(), 3);
    assert_eq!(snap.orders.len(), 2);
    assert!(store
        .ledger_snapshot(date(2026, 11, 26))
        .await
        .unwrap()
        .claims
        .is_empty());
    assert!(store.due_holds(at(600), 10).await.unwrap().is_empty());
    assert_eq!(
        store.due_holds(at(601), 10).await.unwrap(),
        vec![OrderId("order-1".into())]
    );
    assert_eq!(store.due_holds(at(10_000), 10).await.unwrap().len(), 2);
}

pub async fn concurrent_writers_cannot_oversell(stores: Stores) {
    let store = stores.store.clone();
    let f = Arc::new(fixture(&stores, 10).await);
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        let (store, f) = (store.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            let b = u8::try_from(n).unwrap();
            store
                .apply(&[place(order(
                    &f,
                    n,
                    &[(b, 0)],
                    u16::try_from(n).unwrap(),
                    None,
                ))])
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(store.get_slot(f.slot.id).await.unwrap().unwrap().taken, 10);
}

pub async fn idempotency_keys_are_unique_per_account(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 10).await;
    store
        .apply(&[place(order(&f, 1, &[(1, 0)], 0, Some("k")))])
        .await
        .unwrap();
    assert_eq!(
        store
            .apply(&[place(order(&f, 2, &[(2, 0)], 1, Some("k")))])
            .await,
        Err(StoreError::DuplicateIdempotencyKey)
    );
    let other = stores
        .accounts
        .create_account("other", visitor(), at(0))
        .await
        .unwrap();
    let mut theirs = order(&f, 3, &[(3, 0)], 0, Some("k"));
    theirs.account_id = other.id;
    store.apply(&[place(theirs)]).await.unwrap();
}

pub async fn in_use_records_cannot_be_deleted(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 10).await;
    store
        .apply(&[place(order(&f, 1, &[(1, 0)], 0, None))])
        .await
        .unwrap();
    assert_eq!(
        store.delete_slot(f.slot.id).await,
        Err(StoreError::InUse("slot"))
    );
    assert_eq!(
        store.delete_ticket_type(f.ticket_type.id).await,
        Err(StoreError::InUse("ticket type"))
    );
    assert_eq!(
        store.delete_product(f.slot.product_id).await,
        Err(StoreError::InUse("product"))
    );
}

pub async fn retention_erases_an_orders_personal_data_once_and_keeps_its_facts(stores: Stores) {
    let store = stores.store.clone();
    let f = fixture(&stores, 5).await;
    let o = order(&f, 1, &[(1, 0), (2, 0)], 0, None);
    store.apply(&[place(o.clone())]).await.unwrap();
    assert!(
        store.orders_to_purge(day(), 10).await.unwrap().is_empty(),
        "visited on the cut-off day: kept"
    );
    let due = store
        .orders_to_purge(day().tomorrow().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let (id, tickets) = &due[0];
    assert_eq!(id, &o.id);
    assert_eq!(tickets.len(), 2);
    let fresh: Vec<(TicketId, BlindIndex)> = tickets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), BlindIndex([200 + i as u8; 32])))
        .collect();
    store
        .purge_order_personal_data(id, &fresh, at(100))
        .await
        .unwrap();
    let after = store.get_order(&o.id).await.unwrap().unwrap();
    assert!(after.contact_phone.0.is_empty());
    for t in &after.tickets {
        assert!(t.visitor_name.0.is_empty() && t.id_number.0.is_empty());
        assert!(fresh
            .iter()
            .any(|(id, index)| *id == t.id && *index == t.id_blind));
    }
    assert_eq!(
        (after.state, after.total_fen, after.tickets.len()),
        (o.state, o.total_fen, 2),
        "the facts stay"
    );
    assert!(
        store
            .orders_to_purge(day().tomorrow().unwrap(), 10)
            .await
            .unwrap()
            .is_empty(),
        "once"
    );
}

/// Search tails find their orders newest first, follow a contact-phone correction (the old
/// phone's tail no longer finds the order, the ID number's still does), and are gone with the
/// order's personal data.
pub async fn search_tails_find_orders_follow_corrections_and_go_with_erasure(stores: Stores) {
    use gatehouse_domain::order::{SearchTail, TailOf};
    let store = stores.store.clone();
    let f = fixture(&stores, 5).await;
    let phone = BlindIndex([41; 32]);
    let id = BlindIndex([42; 32]);
    let tails = |phone, id| {
        vec![
            SearchTail {
                of: TailOf::ContactPhone,
                index: phone,
            },
            SearchTail {
                of: TailOf::IdNumber,
                index: id,
            },
        ]
    };
    let mut first = order(&f, 1, &[(1, 0)], 0, None);
    first.created_at = at(1);
    let mut second = order(&f, 2, &[(2, 0)], 1, None);
    second.created_at = at(2);
    let placed = |o: &Order, tails| LedgerWrite::Place {
        order: o.clone(),
        id_limit: 1,
        order_limit: 50,
        tails,
    };
    store
        .apply(&[
            placed(&first, tails(phone, id)),
            placed(&second, tails(phone, BlindIndex([43; 32]))),
        ])
        .await
        .unwrap();
    let found: Vec<OrderId> = store
        .orders_by_tail(&phone, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        found,
        vec![second.id.clone(), first.id.clone()],
        "newest first"
    );
    assert_eq!(
        store.orders_by_tail(&phone, 1).await.unwrap().len(),
        1,
        "limit holds"
    );
    let by_id = store.orders_by_tail(&id, 10).await.unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].tickets.len(), 1, "with its tickets");
    assert!(store
        .orders_by_tail(&BlindIndex([9; 32]), 10)
        .await
        .unwrap()
        .is_empty());

    let corrected = BlindIndex([44; 32]);
    store
        .correct_contact_phone(&first.id, &Sealed(vec![7; 40]), &corrected)
        .await
        .unwrap();
    let found: Vec<OrderId> = store
        .orders_by_tail(&phone, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        found,
        vec![second.id.clone()],
        "the old phone's tail is gone"
    );
    assert_eq!(
        store.orders_by_tail(&corrected, 10).await.unwrap()[0].id,
        first.id
    );
    assert_eq!(
        store.orders_by_tail(&id, 10).await.unwrap()[0].id,
        first.id,
        "the ID number's stays"
    );

    let tickets: Vec<(TicketId, BlindIndex)> = first
        .tickets
        .iter()
        .map(|t| (t.id.clone(), BlindIndex([99; 32])))
        .collect();
    store
        .purge_order_personal_data(&first.id, &tickets, at(100))
        .await
        .unwrap();
    assert!(store.orders_by_tail(&id, 10).await.unwrap().is_empty());
    assert!(store
        .orders_by_tail(&corrected, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.orders_by_tail(&phone, 10).await.unwrap().len(),
        1,
        "other orders keep theirs"
    );
}

/// A protected release round-trips (its seed included), a product's day is protected once, and
/// releases are read from a day on, soonest first.
pub async fn a_days_release_is_protected_once_and_read_back_in_order(stores: Stores) {
    use gatehouse_domain::waiting::NewProtectedRelease;
    let f = fixture(&stores, 5).await;
    let new = |day: Date, seed: u8| NewProtectedRelease {
        product: f.slot.product_id,
        day,
        prequeue_opens_at: at(100),
        opens_at: at(1900),
        window_secs: 600,
        seed: [seed; 32],
        created_by: f.account,
        created_at: at(50),
    };
    let later = stores
        .releases
        .protect_release(&new(day().tomorrow().unwrap(), 2))
        .await
        .unwrap();
    let first = stores
        .releases
        .protect_release(&new(day(), 1))
        .await
        .unwrap();
    assert_eq!(first.release, new(day(), 1));
    assert!(matches!(
        stores.releases.protect_release(&new(day(), 3)).await,
        Err(StoreError::Conflict(_))
    ));
    let all = stores.releases.protected_releases(day()).await.unwrap();
    assert_eq!(all, vec![first, later.clone()]);
    assert_eq!(
        stores
            .releases
            .protected_releases(day().tomorrow().unwrap())
            .await
            .unwrap(),
        vec![later]
    );
}
