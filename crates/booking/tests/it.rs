//! Booking service tests on a real SQLite store with a manual clock: the 09:00 release, limits
//! across accounts, holds and expiry, cancel and refund, idempotency, restart, and a concurrent
//! rush that must neither oversell nor break a limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::Arc;

use gatehouse_booking::{BookingConfig, BookingService, PlaceOrder, VisitorInput};
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::AccountStore;
use gatehouse_domain::catalogue::{
    NewSlot, ProductKind, ProductRules, ProductSpec, Slot, TicketTypeId,
};
use gatehouse_domain::identity::{synthetic_resident_id, IdKind};
use gatehouse_domain::order::{OrderState, TicketState};
use gatehouse_domain::store::{Account, Store};
use gatehouse_domain::{BookingError, Clock, ManualClock};
use gatehouse_privacy::Vault;
use gatehouse_store::{SqliteDurability, SqliteStore};
use jiff::civil::{date, time};
use jiff::{SignedDuration, Timestamp};

/// Free tickets move no money.
fn no_money(
    _: &gatehouse_domain::order::Order,
    _: &[&gatehouse_domain::order::Ticket],
) -> Result<Vec<gatehouse_domain::store::LedgerWrite>, BookingError> {
    Ok(Vec::new())
}

struct World {
    service: Arc<BookingService>,
    store: Arc<dyn Store>,
    accounts: Arc<dyn AccountStore>,
    keys: Arc<Vault>,
    clock: Arc<ManualClock>,
    slot: Slot,
    free: TicketTypeId,
    paid: TicketTypeId,
    _dir: tempfile::TempDir,
}

/// Monday 2026-11-23 08:59:59.900 in Shanghai: a tenth of a second before Wednesday opens.
fn monday_before_nine() -> Timestamp {
    "2026-11-23T00:59:59.9Z".parse().unwrap()
}

async fn world(capacity: u32, rules: ProductRules) -> World {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(
        SqliteStore::open(&dir.path().join("g.db"), SqliteDurability::Normal)
            .await
            .unwrap(),
    );
    let store: Arc<dyn Store> = sqlite.clone();
    let accounts: Arc<dyn AccountStore> = sqlite.clone();
    let clock = Arc::new(ManualClock::new(monday_before_nine()));
    let keys = Arc::new(Vault::ephemeral(sqlite.clone(), clock.clone()));
    let service = BookingService::start(
        store.clone(),
        keys.clone(),
        clock.clone(),
        BookingConfig::default(),
    )
    .await
    .unwrap();
    let spec = ProductSpec {
        kind: ProductKind::Entry,
        name: "entry".into(),
        introduction: String::new(),
        theatre_type: None,
        film: None,
        featured: false,
        rules,
    };
    let product = service.create_product(spec).await.unwrap();
    let free = service
        .create_ticket_type(product.id, "individual", 0)
        .await
        .unwrap()
        .id;
    let paid = service
        .create_ticket_type(product.id, "guided", 5000)
        .await
        .unwrap()
        .id;
    service.publish_notice(product.id, "be nice").await.unwrap();
    let slot = service
        .create_slot(NewSlot {
            product_id: product.id,
            date: date(2026, 11, 25),
            start: time(9, 0, 0, 0),
            end: time(10, 30, 0, 0),
            capacity,
        })
        .await
        .unwrap();
    World {
        service,
        store,
        accounts,
        keys,
        clock,
        slot,
        free,
        paid,
        _dir: dir,
    }
}

impl World {
    async fn account(&self) -> Account {
        self.accounts
            .create_account("v", Roles::of(&[Role::Visitor]), self.clock.now())
            .await
            .unwrap()
    }

    fn request(&self, ids: &[u32], tt: TicketTypeId) -> PlaceOrder {
        PlaceOrder {
            slot_id: self.slot.id,
            notice_version: 1,
            contact_phone: gatehouse_domain::personal::Sensitive::new(
                gatehouse_domain::personal::PersonalField::ContactPhone,
                "13812345678",
            ),
            tickets: ids
                .iter()
                .map(|n| {
                    (
                        tt,
                        VisitorInput::new("张三", IdKind::ResidentId, synthetic_resident_id(*n)),
                    )
                })
                .collect(),
            seats: Vec::new(),
            organisation: None,
            face_passes: Vec::new(),
        }
    }

    fn open(&self) {
        self.clock.set("2026-11-23T01:00:00Z".parse().unwrap());
    }
}

#[tokio::test]
async fn the_release_opens_at_nine_to_the_tenth_of_a_second() {
    let w = world(10, ProductRules::default()).await;
    let a = w.account().await;
    let early = w
        .service
        .place_order(&a, w.request(&[1], w.free), None)
        .await
        .unwrap_err();
    assert!(
        matches!(early, BookingError::WindowClosed { opens_at, .. } if opens_at == "2026-11-23T01:00:00Z".parse::<Timestamp>().unwrap())
    );
    w.clock.advance(SignedDuration::from_millis(100));
    let order = w
        .service
        .place_order(&a, w.request(&[1], w.free), None)
        .await
        .unwrap();
    assert_eq!(
        order.order.state,
        OrderState::Confirmed,
        "free orders confirm at once"
    );
    assert_eq!(order.tickets[0].visitor_name, "张*");
    assert_eq!(order.contact_phone, "138****5678");
    assert_eq!(
        order.tickets[0].id_number,
        format!(
            "{}********{}",
            &synthetic_resident_id(1)[..6],
            &synthetic_resident_id(1)[14..]
        )
    );
    // Booking closes when the slot starts.
    w.clock.set("2026-11-25T01:00:00Z".parse().unwrap());
    let late = w
        .service
        .place_order(&a, w.request(&[2], w.free), None)
        .await
        .unwrap_err();
    assert_eq!(late.code(), "window_closed");
}

#[tokio::test]
async fn one_ticket_per_id_per_day_across_accounts_and_the_limit_survives_restart() {
    let w = world(10, ProductRules::default()).await;
    w.open();
    let (a, b) = (w.account().await, w.account().await);
    w.service
        .place_order(&a, w.request(&[7], w.free), None)
        .await
        .unwrap();
    let err = w
        .service
        .place_order(&b, w.request(&[7], w.free), None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BookingError::IdLimit {
            visitor: 0,
            limit: 1
        }
    );
    assert_eq!(err.field().as_deref(), Some("tickets[0].visitor.id_number"));
    // A fresh service on the same database rebuilds the ledger: the limit still holds.
    let again = BookingService::start(
        w.store.clone(),
        w.keys.clone(),
        w.clock.clone(),
        BookingConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        again
            .place_order(&b, w.request(&[7], w.free), None)
            .await
            .unwrap_err()
            .code(),
        "id_limit_reached"
    );
    assert_eq!(again.slot_availability(w.slot.id).unwrap().remaining, 9);
}

#[tokio::test]
async fn paid_orders_hold_stock_until_they_expire() {
    let w = world(2, ProductRules::default()).await;
    w.open();
    let a = w.account().await;
    let held = w
        .service
        .place_order(&a, w.request(&[1, 2], w.paid), None)
        .await
        .unwrap();
    assert_eq!(held.order.state, OrderState::PendingPayment);
    assert_eq!(held.order.total_fen, 10_000);
    let b = w.account().await;
    assert_eq!(
        w.service
            .place_order(&b, w.request(&[3], w.free), None)
            .await
            .unwrap_err(),
        BookingError::SoldOut { remaining: 0 }
    );
    w.clock.advance(SignedDuration::from_mins(9));
    assert_eq!(w.service.tick().await, 0);
    w.clock.advance(SignedDuration::from_mins(1));
    assert_eq!(w.service.tick().await, 1);
    let expired = w.service.get_order(&a, &held.order.id).await.unwrap();
    assert_eq!(expired.order.state, OrderState::Expired);
    assert!(expired
        .tickets
        .iter()
        .all(|t| t.ticket.state == TicketState::Released));
    w.service
        .place_order(&b, w.request(&[3], w.free), None)
        .await
        .unwrap();
    // The expired order's visitors may book again.
    w.service
        .place_order(&b, w.request(&[1], w.free), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn cancel_and_refund_return_stock_and_keep_history() {
    let w = world(3, ProductRules::default()).await;
    w.open();
    let a = w.account().await;
    let pending = w
        .service
        .place_order(&a, w.request(&[1], w.paid), None)
        .await
        .unwrap();
    let stranger = w.account().await;
    assert_eq!(
        w.service
            .cancel_order(&stranger, &pending.order.id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    let cancelled = w.service.cancel_order(&a, &pending.order.id).await.unwrap();
    assert_eq!(cancelled.order.state, OrderState::Cancelled);
    assert_eq!(cancelled.order.history.len(), 2);
    assert_eq!(
        w.service
            .cancel_order(&a, &pending.order.id)
            .await
            .unwrap_err()
            .code(),
        "invalid_state"
    );

    let free = w
        .service
        .place_order(&a, w.request(&[1, 2, 3], w.free), None)
        .await
        .unwrap();
    assert_eq!(w.service.slot_availability(w.slot.id).unwrap().remaining, 0);
    let first = free.tickets[0].ticket.id.clone();
    let partly = w
        .service
        .refund_tickets(
            &a,
            &free.order.id,
            std::slice::from_ref(&first),
            None,
            no_money,
        )
        .await
        .unwrap();
    assert_eq!(partly.order.state, OrderState::Confirmed);
    assert_eq!(partly.tickets[0].ticket.state, TicketState::Refunded);
    assert_eq!(w.service.slot_availability(w.slot.id).unwrap().remaining, 1);
    let twice = w
        .service
        .refund_tickets(&a, &free.order.id, &[first], None, no_money)
        .await
        .unwrap_err();
    assert_eq!(twice.field().as_deref(), Some("ticket_ids[0]"));
    let rest: Vec<_> = free.tickets[1..]
        .iter()
        .map(|t| t.ticket.id.clone())
        .collect();
    w.clock.set("2026-11-25T01:00:00Z".parse().unwrap());
    assert_eq!(
        w.service
            .refund_tickets(&a, &free.order.id, &rest, None, no_money)
            .await
            .unwrap_err(),
        BookingError::RefundClosed
    );
    w.clock.set("2026-11-25T00:59:00Z".parse().unwrap());
    let all = w
        .service
        .refund_tickets(&a, &free.order.id, &rest, Some("plans changed"), no_money)
        .await
        .unwrap();
    assert_eq!(all.order.state, OrderState::Refunded);
    assert_eq!(w.service.slot_availability(w.slot.id).unwrap().remaining, 3);
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_a_different_body() {
    let w = world(10, ProductRules::default()).await;
    w.open();
    let a = w.account().await;
    let first = w
        .service
        .place_order(&a, w.request(&[1], w.free), Some("k1".into()))
        .await
        .unwrap();
    let again = w
        .service
        .place_order(&a, w.request(&[1], w.free), Some("k1".into()))
        .await
        .unwrap();
    assert_eq!(first.order.id, again.order.id);
    assert_eq!(
        w.service.slot_availability(w.slot.id).unwrap().remaining,
        9,
        "a retry books nothing more"
    );
    let other = w
        .service
        .place_order(&a, w.request(&[2], w.free), Some("k1".into()))
        .await
        .unwrap_err();
    assert_eq!(other.code(), "idempotency_key_reused");
}

#[tokio::test]
async fn locks_notices_and_orders_per_day() {
    let w = world(
        10,
        ProductRules {
            max_orders_per_account_per_day: 2,
            ..ProductRules::default()
        },
    )
    .await;
    w.open();
    let a = w.account().await;
    let mut stale = w.request(&[1], w.free);
    stale.notice_version = 0;
    assert_eq!(
        w.service.place_order(&a, stale, None).await.unwrap_err(),
        BookingError::NoticeOutdated { current: 1 }
    );
    w.service
        .place_order(&a, w.request(&[1], w.free), None)
        .await
        .unwrap();
    w.service
        .place_order(&a, w.request(&[2], w.free), None)
        .await
        .unwrap();
    assert_eq!(
        w.service
            .place_order(&a, w.request(&[3], w.free), None)
            .await
            .unwrap_err()
            .code(),
        "order_limit_reached"
    );
    let until = w.clock.now() + SignedDuration::from_hours(24 * 30);
    let locked = w.service.set_account_lock(a.id, Some(until)).await.unwrap();
    assert_eq!(
        w.service
            .place_order(&locked, w.request(&[4], w.free), None)
            .await
            .unwrap_err(),
        BookingError::AccountLocked { until }
    );
}

#[tokio::test]
async fn capacity_changes_respect_what_is_taken() {
    let w = world(5, ProductRules::default()).await;
    w.open();
    let a = w.account().await;
    w.service
        .place_order(&a, w.request(&[1, 2, 3], w.free), None)
        .await
        .unwrap();
    assert_eq!(
        w.service
            .set_slot_capacity(w.slot.id, 2)
            .await
            .unwrap_err()
            .code(),
        "capacity_below_taken"
    );
    assert_eq!(
        w.service
            .set_slot_capacity(w.slot.id, 3)
            .await
            .unwrap()
            .remaining,
        0
    );
    assert_eq!(
        w.service
            .set_slot_capacity(w.slot.id, 8)
            .await
            .unwrap()
            .remaining,
        5
    );
}

#[tokio::test]
async fn personal_data_is_sealed_in_the_store() {
    let w = world(5, ProductRules::default()).await;
    w.open();
    let a = w.account().await;
    let placed = w
        .service
        .place_order(&a, w.request(&[42], w.free), None)
        .await
        .unwrap();
    let stored = w.store.get_order(&placed.order.id).await.unwrap().unwrap();
    let id = synthetic_resident_id(42);
    assert!(!stored.tickets[0]
        .id_number
        .0
        .windows(id.len())
        .any(|win| win == id.as_bytes()));
    assert!(!stored
        .contact_phone
        .0
        .windows(11)
        .any(|win| win == b"13812345678"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_rush_neither_oversells_nor_breaks_the_id_limit() {
    let w = Arc::new(world(50, ProductRules::default()).await);
    w.open();
    let mut tasks = Vec::new();
    for n in 0..400u32 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let account = w.account().await;
            // Every visitor's ID is shared with three other accounts.
            w.service
                .place_order(&account, w.request(&[n % 100], w.free), None)
                .await
                .map(|o| (n % 100, o.order.id))
        }));
    }
    let mut confirmed = std::collections::HashMap::new();
    let mut sold_out = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok((id, _)) => *confirmed.entry(id).or_insert(0) += 1,
            Err(BookingError::SoldOut { .. }) => sold_out += 1,
            Err(BookingError::IdLimit { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(
        confirmed.values().sum::<u32>(),
        50,
        "exactly the capacity is sold"
    );
    assert!(
        confirmed.values().all(|n| *n == 1),
        "no ID holds two tickets"
    );
    assert!(sold_out > 0);
    assert_eq!(
        w.store.get_slot(w.slot.id).await.unwrap().unwrap().taken,
        50
    );
}
