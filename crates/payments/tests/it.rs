//! The payment service end to end on a real SQLite store, talking HTTP to the local WeChat Pay
//! (which checks and signs as WeChat Pay documents), with one manual clock for both sides:
//! paying, repeated / forged / replayed / tampered notifications, queries when no notification
//! came, late and double payments, refunds to their final state, and reconciliation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::Arc;

use gatehouse_booking::{BookingConfig, BookingService, OrderDetails, PlaceOrder, VisitorInput};
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::AccountStore;
use gatehouse_domain::catalogue::{
    NewSlot, ProductKind, ProductRules, ProductSpec, Slot, TicketTypeId,
};
use gatehouse_domain::identity::{synthetic_resident_id, IdKind};
use gatehouse_domain::order::{OrderState, TicketState};
use gatehouse_domain::payment::{
    PaymentChannel, PaymentProvider, PaymentState, RefundCause, RefundState,
};
use gatehouse_domain::payment_gateway::NotificationRefused;
use gatehouse_domain::payment_store::PaymentStore;
use gatehouse_domain::reconcile::DifferenceKind;
use gatehouse_domain::store::Account;
use gatehouse_domain::{BookingError, Clock, ManualClock};
use gatehouse_payments::{PaymentConfig, PaymentError, PaymentService};
use gatehouse_privacy::Vault;
use gatehouse_providers::alipay::AlipayConfig;
use gatehouse_providers::alipay_fake::FakeAlipay;
use gatehouse_providers::alipay_pay::AlipayPay;
use gatehouse_providers::courier::{Delivery, Outgoing};
use gatehouse_providers::wechatpay::WeChatPayClient;
use gatehouse_providers::wechatpay_fake::{FakeWeChatPay, FakeWeChatPayKeys};
use gatehouse_providers::FakeServer;
use gatehouse_store::{SqliteDurability, SqliteStore};
use jiff::civil::{date, time};
use jiff::SignedDuration;

struct World {
    payments: Arc<PaymentService>,
    booking: Arc<BookingService>,
    store: Arc<dyn PaymentStore>,
    accounts: Arc<dyn AccountStore>,
    clock: Arc<ManualClock>,
    wechat: FakeWeChatPay,
    alipay: FakeAlipay,
    slot: Slot,
    /// 60.00 yuan.
    adult: TicketTypeId,
    _server: FakeServer,
    _alipay_server: FakeServer,
    _dir: tempfile::TempDir,
}

/// The museum's Alipay application key pair, made once (RSA key generation is slow).
fn app_keys() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| gatehouse_providers::rsa_keys::generate_pem().unwrap())
}

/// Monday 2026-11-23 09:00 Shanghai: Wednesday's slots are open for booking.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(
        SqliteStore::open(&dir.path().join("g.db"), SqliteDurability::Normal)
            .await
            .unwrap(),
    );
    let clock = Arc::new(ManualClock::new("2026-11-23T01:00:00Z".parse().unwrap()));
    let keys = Arc::new(Vault::ephemeral(sqlite.clone(), clock.clone()));
    let booking = BookingService::start(
        sqlite.clone(),
        keys,
        clock.clone(),
        BookingConfig::default(),
    )
    .await
    .unwrap();
    let product = booking
        .create_product(ProductSpec {
            kind: ProductKind::Entry,
            name: "entry".into(),
            introduction: String::new(),
            theatre_type: None,
            film: None,
            featured: false,
            rules: ProductRules::default(),
        })
        .await
        .unwrap();
    let adult = booking
        .create_ticket_type(product.id, "adult", 6000)
        .await
        .unwrap()
        .id;
    booking.publish_notice(product.id, "be nice").await.unwrap();
    let slot = booking
        .create_slot(NewSlot {
            product_id: product.id,
            date: date(2026, 11, 25),
            start: time(9, 0, 0, 0),
            end: time(10, 30, 0, 0),
            capacity: 10,
        })
        .await
        .unwrap();
    let wechat = FakeWeChatPay::new(FakeWeChatPayKeys::generate().unwrap(), clock.clone()).unwrap();
    wechat.set_delivery(Delivery::Silent);
    let server = FakeServer::start(wechat.router()).await.unwrap();
    wechat.set_base_url(&server.url(""));
    let client = WeChatPayClient::new(
        &wechat
            .keys()
            .client_config(&server.url(""), "http://127.0.0.1:9/notify"),
        clock.clone(),
    )
    .unwrap();
    let alipay = FakeAlipay::with_clock("2021000117650001", &app_keys().1, clock.clone()).unwrap();
    alipay.set_delivery(Delivery::Silent);
    let alipay_server = FakeServer::start(alipay.router()).await.unwrap();
    alipay.set_base_url(&alipay_server.url(""));
    let alipay_gateway = AlipayPay::new(
        &AlipayConfig {
            gateway: alipay_server.url("/gateway.do"),
            app_id: "2021000117650001".into(),
            app_private_key: app_keys().0.clone(),
            alipay_public_key: alipay.alipay_public_key_pem().to_owned(),
        },
        "http://127.0.0.1:9/notify/alipay",
        "http://127.0.0.1:9/orders",
        clock.clone(),
    )
    .unwrap();
    let payments = PaymentService::new(
        booking.clone(),
        sqlite.clone(),
        vec![Arc::new(client), Arc::new(alipay_gateway)],
        PaymentConfig::default(),
    );
    World {
        payments,
        booking,
        store: sqlite.clone(),
        accounts: sqlite,
        clock,
        wechat,
        alipay,
        slot,
        adult,
        _server: server,
        _alipay_server: alipay_server,
        _dir: dir,
    }
}

impl World {
    async fn visitor(&self) -> Account {
        self.accounts
            .create_account("v", Roles::of(&[Role::Visitor]), self.clock.now())
            .await
            .unwrap()
    }

    async fn staff(&self) -> Account {
        self.accounts
            .create_account("s", Roles::of(&[Role::CustomerSupport]), self.clock.now())
            .await
            .unwrap()
    }

    /// A pending order for `people` visitors (60.00 yuan each).
    async fn order(&self, a: &Account, first_id: u32, people: u32) -> OrderDetails {
        let tickets = (first_id..first_id + people)
            .map(|n| {
                (
                    self.adult,
                    VisitorInput::new("张三", IdKind::ResidentId, synthetic_resident_id(n)),
                )
            })
            .collect();
        let req = PlaceOrder {
            slot_id: self.slot.id,
            notice_version: 1,
            contact_phone: gatehouse_domain::personal::Sensitive::new(
                gatehouse_domain::personal::PersonalField::ContactPhone,
                "13812345678",
            ),
            tickets,
            seats: Vec::new(),
            organisation: None,
            face_passes: Vec::new(),
        };
        self.booking.place_order(a, req, None).await.unwrap()
    }

    async fn deliver_alipay(&self, n: &Outgoing) -> Result<(), PaymentError> {
        self.payments
            .notify(
                PaymentProvider::Alipay,
                &[],
                n.body.as_bytes(),
                Some("203.0.113.8".into()),
            )
            .await
    }

    async fn deliver(&self, n: &Outgoing) -> Result<(), PaymentError> {
        let headers: Vec<(String, String)> = n
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        self.payments
            .notify(
                PaymentProvider::WeChatPay,
                &headers,
                n.body.as_bytes(),
                Some("203.0.113.7".into()),
            )
            .await
    }

    async fn state(&self, a: &Account, d: &OrderDetails) -> OrderState {
        self.booking
            .get_order(a, &d.order.id)
            .await
            .unwrap()
            .order
            .state
    }

    fn remaining(&self) -> u32 {
        self.booking
            .slot_availability(self.slot.id)
            .unwrap()
            .remaining
    }

    async fn events(&self) -> Vec<String> {
        self.store
            .list_security_events(50)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

#[tokio::test]
async fn a_paid_notification_confirms_once_and_its_copies_change_nothing() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 2).await;
    assert_eq!(order.order.total_fen, 12000);
    let checkout = w
        .payments
        .pay(
            &a,
            &order.order.id,
            PaymentChannel::WeChatJsapi,
            Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        )
        .await
        .unwrap();
    let client: std::collections::HashMap<_, _> = checkout.client.iter().cloned().collect();
    assert!(client["package"].starts_with("prepay_id=wx"), "{client:?}");
    assert_eq!(client["signType"], "RSA");
    // Asking again returns the same payment, not a second one.
    let again = w
        .payments
        .pay(
            &a,
            &order.order.id,
            PaymentChannel::WeChatJsapi,
            Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        )
        .await
        .unwrap();
    assert_eq!(again.payment.id, checkout.payment.id);

    let txn = w.wechat.pay(&checkout.payment.id.0).await.unwrap();
    let n = w
        .wechat
        .paid_notification(&checkout.payment.id.0, None)
        .unwrap();
    w.deliver(&n).await.unwrap();
    assert_eq!(w.state(&a, &order).await, OrderState::Confirmed);
    let details = w.booking.get_order(&a, &order.order.id).await.unwrap();
    assert!(details
        .tickets
        .iter()
        .all(|t| t.ticket.state == TicketState::Valid));
    let money = w.payments.order_money(&a, &order.order.id).await.unwrap();
    assert_eq!(money.ledger.len(), 1);
    assert_eq!(money.ledger[0].reference, txn);
    assert_eq!(money.payments[0].state, PaymentState::Paid);
    // The same notification again, and a fresh copy of it: nothing changes.
    w.deliver(&n).await.unwrap();
    w.deliver(
        &w.wechat
            .paid_notification(&checkout.payment.id.0, None)
            .unwrap(),
    )
    .await
    .unwrap();
    let after = w.payments.order_money(&a, &order.order.id).await.unwrap();
    assert_eq!(after, money);
    assert_eq!(w.remaining(), 8);
    assert!(w.events().await.is_empty());
    // A paid order cannot be paid again, and a free one never needs paying.
    let paid_again = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            paid_again,
            PaymentError::Booking(BookingError::InvalidState { .. })
        ),
        "{paid_again:?}"
    );
}

#[tokio::test]
async fn forged_replayed_and_tampered_notifications_change_nothing_and_are_security_events() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 1).await;
    let checkout = w
        .payments
        .pay(
            &a,
            &order.order.id,
            PaymentChannel::WeChatJsapi,
            Some("openid-1"),
        )
        .await
        .unwrap();
    w.wechat.pay(&checkout.payment.id.0).await.unwrap();
    let genuine = w
        .wechat
        .paid_notification(&checkout.payment.id.0, None)
        .unwrap();

    let forged = genuine.forged();
    assert_ne!(forged.body, genuine.body);
    assert!(matches!(
        w.deliver(&forged).await,
        Err(PaymentError::Notification(NotificationRefused::Forged))
    ));
    // Signed by a key that is not the platform's.
    let stranger = FakeWeChatPay::new(
        FakeWeChatPayKeys {
            platform_serial: w.wechat.keys().platform_serial.clone(),
            ..FakeWeChatPayKeys::generate().unwrap()
        },
        w.clock.clone(),
    )
    .unwrap();
    let mut imposter = stranger.notification(
        "http://x",
        "TRANSACTION.SUCCESS",
        "transaction",
        &serde_json::json!({}),
    );
    imposter.body = genuine.body.clone();
    assert!(matches!(
        w.deliver(&imposter).await,
        Err(PaymentError::Notification(NotificationRefused::Forged))
    ));
    // Genuine but amount tampered before signing (a compromised or confused sender).
    let tampered = w
        .wechat
        .paid_notification(&checkout.payment.id.0, Some(1))
        .unwrap();
    assert!(matches!(
        w.deliver(&tampered).await,
        Err(PaymentError::Mismatch(_))
    ));
    // Genuine, replayed six minutes later.
    w.clock.advance(SignedDuration::from_mins(6));
    assert!(matches!(
        w.deliver(&genuine).await,
        Err(PaymentError::Notification(NotificationRefused::Stale))
    ));
    // Missing headers.
    let mut headless = genuine.clone();
    headless.headers.clear();
    assert!(matches!(
        w.deliver(&headless).await,
        Err(PaymentError::Notification(NotificationRefused::Malformed(
            _
        )))
    ));
    assert_eq!(w.state(&a, &order).await, OrderState::PendingPayment);
    assert!(w
        .payments
        .order_money(&a, &order.order.id)
        .await
        .unwrap()
        .ledger
        .is_empty());
    let events = w.events().await;
    assert_eq!(
        events,
        vec![
            "payment_notification_replayed",
            "payment_notification_mismatch",
            "payment_notification_forged",
            "payment_notification_forged"
        ]
    );
    // The genuine one, in time, still works.
    w.clock.advance(SignedDuration::from_mins(-6));
    w.deliver(&genuine).await.unwrap();
    assert_eq!(w.state(&a, &order).await, OrderState::Confirmed);
}

#[tokio::test]
async fn without_a_notification_the_payment_is_queried_before_the_hold_ends() {
    let w = world().await;
    let a = w.visitor().await;
    let paid = w.order(&a, 1, 1).await;
    let unpaid = w.order(&a, 2, 1).await;
    let p1 = w
        .payments
        .pay(&a, &paid.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    let p2 = w
        .payments
        .pay(
            &a,
            &unpaid.order.id,
            PaymentChannel::WeChatJsapi,
            Some("o1"),
        )
        .await
        .unwrap();
    w.wechat.pay(&p1.payment.id.0).await.unwrap();
    // Long before the hold ends nothing is queried.
    let early = w.payments.tick().await;
    assert_eq!((early.paid_by_query, early.payments_closed), (0, 0));
    // Within a minute of the end, the paid one is found paid; the other is left open.
    let hold_end = paid.order.expires_at.unwrap();
    w.clock.set(hold_end - SignedDuration::from_secs(30));
    let report = w.payments.tick().await;
    assert_eq!(
        (
            report.paid_by_query,
            report.payments_closed,
            report.holds_expired
        ),
        (1, 0, 0)
    );
    assert_eq!(w.state(&a, &paid).await, OrderState::Confirmed);
    // At the end, the unpaid one is closed at WeChat Pay, then its hold expires.
    w.clock.set(hold_end + SignedDuration::from_secs(1));
    let report = w.payments.tick().await;
    assert_eq!((report.payments_closed, report.holds_expired), (1, 1));
    assert_eq!(w.state(&a, &unpaid).await, OrderState::Expired);
    assert_eq!(
        w.store
            .get_payment(&p2.payment.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        PaymentState::Closed
    );
    assert!(
        w.wechat.pay(&p2.payment.id.0).await.is_err(),
        "closed at the provider too"
    );
}

#[tokio::test]
async fn a_payment_landing_after_expiry_is_refunded_to_its_final_state() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 1).await;
    let p = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    // The hold runs out (booking's own expiry, as if the query had failed).
    let now = w.clock.now();
    w.clock
        .set(order.order.expires_at.unwrap() + SignedDuration::from_secs(1));
    assert_eq!(w.booking.tick().await, 1);
    assert_eq!(w.remaining(), 10);
    w.clock.set(now);
    // The visitor pays anyway (WeChat Pay had not closed it yet).
    w.wechat.pay(&p.payment.id.0).await.unwrap();
    w.deliver(&w.wechat.paid_notification(&p.payment.id.0, None).unwrap())
        .await
        .unwrap();
    assert_eq!(
        w.state(&a, &order).await,
        OrderState::Expired,
        "the stock is gone; no tickets"
    );
    let money = w.payments.order_money(&a, &order.order.id).await.unwrap();
    let kinds: Vec<&str> = money.ledger.iter().map(|l| l.movement.kind()).collect();
    assert_eq!(kinds, vec!["charge", "refund"]);
    assert_eq!(money.refunds.len(), 1);
    assert_eq!(money.refunds[0].cause, RefundCause::LatePayment);
    assert_eq!(money.refunds[0].state, RefundState::Processing);
    // WeChat Pay completes the refund; its notification is lost on the way.
    assert_eq!(w.wechat.settle_refunds().await, 1);
    // The refund is tracked to its end by housekeeping's query.
    let report = w.payments.tick().await;
    assert_eq!(report.refunds_moved, 1);
    let refund = &w
        .payments
        .order_money(&a, &order.order.id)
        .await
        .unwrap()
        .refunds[0];
    assert_eq!(refund.state, RefundState::Succeeded);
    assert!(refund.finished_at.is_some());
}

#[tokio::test]
async fn refunds_return_stock_and_money_and_staff_must_say_why() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 3).await;
    let p = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    w.wechat.pay(&p.payment.id.0).await.unwrap();
    w.deliver(&w.wechat.paid_notification(&p.payment.id.0, None).unwrap())
        .await
        .unwrap();
    assert_eq!(w.remaining(), 7);
    let first = order.tickets[0].ticket.id.clone();
    let after = w
        .payments
        .refund_tickets(&a, &order.order.id, &[first], None)
        .await
        .unwrap();
    assert_eq!(after.order.state, OrderState::Confirmed);
    assert_eq!(w.remaining(), 8);
    let money = w.payments.order_money(&a, &order.order.id).await.unwrap();
    assert_eq!(money.refunds[0].amount_fen, 6000);
    assert_eq!(money.refunds[0].cause, RefundCause::Visitor);
    // WeChat Pay finishes the refund and notifies; the copy of the notification changes nothing.
    w.wechat.set_delivery(Delivery::Hold);
    assert_eq!(w.wechat.settle_refunds().await, 1);
    let held = w.wechat.take_held();
    assert_eq!(held.len(), 1);
    w.deliver(&held[0]).await.unwrap();
    w.deliver(&held[0]).await.unwrap();
    let money = w.payments.order_money(&a, &order.order.id).await.unwrap();
    assert_eq!(money.refunds[0].state, RefundState::Succeeded);

    // Staff refund the rest, with a reason.
    let staff = w.staff().await;
    let rest: Vec<_> = order.tickets[1..]
        .iter()
        .map(|t| t.ticket.id.clone())
        .collect();
    let refused = w
        .payments
        .refund_tickets(&staff, &order.order.id, &rest, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, PaymentError::Booking(e) if e.field().as_deref() == Some("reason")),
        "{refused:?}"
    );
    assert_eq!(w.remaining(), 8, "a refused refund changes nothing");
    let done = w
        .payments
        .refund_tickets(
            &staff,
            &order.order.id,
            &rest,
            Some("hall closed for repairs"),
        )
        .await
        .unwrap();
    assert_eq!(done.order.state, OrderState::Refunded);
    assert_eq!(w.remaining(), 10);
    let n = w.payments.order_money(&a, &order.order.id).await.unwrap();
    assert_eq!(n.refunds.len(), 2);
    assert_eq!(n.refunds[1].cause, RefundCause::Staff);
    assert_eq!(n.refunds[1].amount_fen, 12000);
    let refunded: u64 = n
        .ledger
        .iter()
        .filter(|l| l.movement.kind() == "refund")
        .map(|l| l.movement.amount_fen())
        .sum();
    assert_eq!(refunded, 18000, "every fen paid went back, no more");
    // Its notification is lost; housekeeping's query finds it finished.
    w.wechat.set_delivery(Delivery::Silent);
    w.wechat.settle_refunds().await;
    assert_eq!(w.payments.tick().await.refunds_moved, 1);
    let states: Vec<RefundState> = w
        .payments
        .order_money(&a, &order.order.id)
        .await
        .unwrap()
        .refunds
        .iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(states, vec![RefundState::Succeeded, RefundState::Succeeded]);
}

#[tokio::test]
async fn reconciliation_matches_the_bill_and_reports_what_differs() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 2).await;
    let p = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    w.wechat.pay(&p.payment.id.0).await.unwrap();
    w.deliver(&w.wechat.paid_notification(&p.payment.id.0, None).unwrap())
        .await
        .unwrap();
    let first = order.tickets[0].ticket.id.clone();
    w.payments
        .refund_tickets(&a, &order.order.id, &[first], None)
        .await
        .unwrap();
    let today = date(2026, 11, 23);
    let clean = w
        .payments
        .reconcile(PaymentProvider::WeChatPay, today)
        .await
        .unwrap();
    assert_eq!(
        (clean.ledger_lines, clean.bill_lines, clean.matched),
        (2, 2, 2)
    );
    assert!(clean.differences.is_empty(), "{:?}", clean.differences);
    // A payment Gatehouse never heard of (its notification lost, its order gone) shows up.
    let other = w.order(&a, 5, 1).await;
    let q = w
        .payments
        .pay(&a, &other.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    w.wechat.pay(&q.payment.id.0).await.unwrap();
    let report = w
        .payments
        .reconcile(PaymentProvider::WeChatPay, today)
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 1);
    assert_eq!(
        report.differences[0].kind,
        DifferenceKind::MissingFromLedger
    );
    assert_eq!(report.differences[0].payment_id, q.payment.id);
    assert_eq!(
        w.payments
            .reconciliation(PaymentProvider::WeChatPay, today)
            .await
            .unwrap(),
        Some(report)
    );
    // A day without trades has an empty bill and nothing to report.
    let quiet = w
        .payments
        .reconcile(PaymentProvider::WeChatPay, date(2026, 11, 20))
        .await
        .unwrap();
    assert_eq!((quiet.bill_lines, quiet.differences.len()), (0, 0));
}

#[tokio::test]
async fn bad_payment_requests_are_refused_and_change_nothing() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 1).await;
    let missing_payer = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, None)
        .await
        .unwrap_err();
    assert!(matches!(missing_payer, PaymentError::Invalid { ref field, .. } if field == "payer"));
    let no_buyer = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::AlipayMiniProgram, None)
        .await
        .unwrap_err();
    assert!(matches!(no_buyer, PaymentError::Invalid { ref field, .. } if field == "payer"));
    let someone_else = w.visitor().await;
    let not_theirs = w
        .payments
        .pay(
            &someone_else,
            &order.order.id,
            PaymentChannel::WeChatJsapi,
            Some("o"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        not_theirs,
        PaymentError::Booking(BookingError::NotFound { .. })
    ));
    assert!(w
        .store
        .payments_of_order(&order.order.id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn alipay_pays_by_qr_code_mini_program_and_cashier_page() {
    let w = world().await;
    let a = w.visitor().await;
    // QR code: the trade exists at Alipay only once scanned.
    let qr_order = w.order(&a, 1, 1).await;
    let qr = w
        .payments
        .pay(&a, &qr_order.order.id, PaymentChannel::AlipayQr, None)
        .await
        .unwrap();
    assert!(
        qr.client[0].1.starts_with("https://qr.alipay.com/"),
        "{:?}",
        qr.client
    );
    let tick = w.payments.tick().await;
    assert_eq!(tick.paid_by_query, 0);
    let trade_no = w.alipay.pay(&qr.payment.id.0).await.unwrap();
    let n = w.alipay.paid_notification(&qr.payment.id.0, None).unwrap();
    // One byte changed: forged. Then the genuine one, twice.
    assert!(matches!(
        w.deliver_alipay(&n.forged()).await,
        Err(PaymentError::Notification(NotificationRefused::Forged))
    ));
    w.deliver_alipay(&n).await.unwrap();
    w.deliver_alipay(&n).await.unwrap();
    assert_eq!(w.state(&a, &qr_order).await, OrderState::Confirmed);
    let money = w
        .payments
        .order_money(&a, &qr_order.order.id)
        .await
        .unwrap();
    assert_eq!(
        (money.ledger.len(), money.ledger[0].reference.as_str()),
        (1, trade_no.as_str())
    );
    assert_eq!(w.events().await, vec!["payment_notification_forged"]);

    // Mini-program: alipay.trade.create for the buyer; my.tradePay takes the trade number.
    let mini_order = w.order(&a, 2, 1).await;
    let mini = w
        .payments
        .pay(
            &a,
            &mini_order.order.id,
            PaymentChannel::AlipayMiniProgram,
            Some("074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"),
        )
        .await
        .unwrap();
    assert_eq!(mini.client[0].0, "tradeNO");
    w.alipay.pay(&mini.payment.id.0).await.unwrap();
    // Its notification is lost: the query before the hold ends finds it paid.
    w.clock
        .set(mini_order.order.expires_at.unwrap() - SignedDuration::from_secs(10));
    assert_eq!(w.payments.tick().await.paid_by_query, 1);
    assert_eq!(w.state(&a, &mini_order).await, OrderState::Confirmed);
    w.clock.set("2026-11-23T01:00:00Z".parse().unwrap());

    // Web cashier: a signed URL the browser opens at Alipay.
    let page_order = w.order(&a, 3, 1).await;
    let page = w
        .payments
        .pay(&a, &page_order.order.id, PaymentChannel::AlipayPage, None)
        .await
        .unwrap();
    let url = &page.client[0].1;
    assert!(
        url.contains("method=alipay.trade.page.pay") && url.contains("sign="),
        "{url}"
    );
    let cashier = reqwest::get(url.as_str())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cashier.contains("支付宝收银台"), "{cashier}");
    w.alipay.pay(&page.payment.id.0).await.unwrap();
    w.deliver_alipay(
        &w.alipay
            .paid_notification(&page.payment.id.0, None)
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(w.state(&a, &page_order).await, OrderState::Confirmed);
}

#[tokio::test]
async fn paying_twice_refunds_the_second_payment_and_reconciliation_agrees() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 1).await;
    // The visitor opens both WeChat Pay and an Alipay QR code, and pays both.
    let wx = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    let ali = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::AlipayQr, None)
        .await
        .unwrap();
    w.wechat.pay(&wx.payment.id.0).await.unwrap();
    w.alipay.pay(&ali.payment.id.0).await.unwrap();
    // Alipay's notification and WeChat Pay's arrive in reverse order of payment.
    w.deliver_alipay(&w.alipay.paid_notification(&ali.payment.id.0, None).unwrap())
        .await
        .unwrap();
    w.deliver(&w.wechat.paid_notification(&wx.payment.id.0, None).unwrap())
        .await
        .unwrap();
    assert_eq!(w.state(&a, &order).await, OrderState::Confirmed);
    let money = w.payments.order_money(&a, &order.order.id).await.unwrap();
    let lines: Vec<(&str, &str)> = money
        .ledger
        .iter()
        .map(|l| (l.movement.kind(), l.movement.payment().0.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("charge", ali.payment.id.0.as_str()),
            ("charge", wx.payment.id.0.as_str()),
            ("refund", wx.payment.id.0.as_str())
        ]
    );
    assert_eq!(money.refunds[0].cause, RefundCause::DuplicatePayment);
    assert_eq!(
        money.refunds[0].state,
        RefundState::Processing,
        "WeChat Pay refunds asynchronously"
    );
    assert_eq!(w.remaining(), 9, "one order, one ticket");
    // A staff refund goes back through the payment that paid (Alipay, synchronously).
    let staff = w.staff().await;
    let ticket = order.tickets[0].ticket.id.clone();
    w.payments
        .refund_tickets(&staff, &order.order.id, &[ticket], Some("visitor fell ill"))
        .await
        .unwrap();
    let money = w.payments.order_money(&a, &order.order.id).await.unwrap();
    assert_eq!(money.refunds[1].payment_id, ali.payment.id);
    assert_eq!(money.refunds[1].state, RefundState::Succeeded);
    // Both providers' bills match the ledger line by line.
    let today = date(2026, 11, 23);
    for provider in [PaymentProvider::Alipay, PaymentProvider::WeChatPay] {
        let r = w.payments.reconcile(provider, today).await.unwrap();
        assert!(
            r.differences.is_empty(),
            "{provider:?}: {:?}",
            r.differences
        );
        assert_eq!((r.matched, r.bill_lines), (2, 2), "{provider:?}");
    }
}

#[tokio::test]
async fn notifications_for_payments_we_never_made_are_refused_as_security_events() {
    let w = world().await;
    // Genuinely signed by WeChat Pay, for a trade Gatehouse never created.
    let object = serde_json::json!({"mchid": w.wechat.keys().mchid, "out_trade_no": "not-ours-123456", "transaction_id": "4200000000000000000000000001", "trade_state": "SUCCESS", "amount": {"total": 6000}});
    let n = w
        .wechat
        .notification("http://x", "TRANSACTION.SUCCESS", "transaction", &object);
    assert!(matches!(
        w.deliver(&n).await,
        Err(PaymentError::Mismatch(_))
    ));
    // For another merchant: not ours either.
    let other = serde_json::json!({"mchid": "1999999999", "out_trade_no": "x", "transaction_id": "y", "trade_state": "SUCCESS", "amount": {"total": 1}});
    let n = w
        .wechat
        .notification("http://x", "TRANSACTION.SUCCESS", "transaction", &other);
    assert!(matches!(
        w.deliver(&n).await,
        Err(PaymentError::Notification(NotificationRefused::Malformed(
            _
        )))
    ));
    // A negative amount does not parse.
    let negative = serde_json::json!({"mchid": w.wechat.keys().mchid, "out_trade_no": "x", "transaction_id": "y", "trade_state": "SUCCESS", "amount": {"total": -6000}});
    let n = w
        .wechat
        .notification("http://x", "TRANSACTION.SUCCESS", "transaction", &negative);
    assert!(matches!(
        w.deliver(&n).await,
        Err(PaymentError::Notification(NotificationRefused::Malformed(
            _
        )))
    ));
    // Alipay: not a form, and an unsigned one.
    assert!(matches!(
        w.deliver_alipay(&Outgoing {
            url: String::new(),
            content_type: "",
            headers: Vec::new(),
            body: "%%%".into()
        })
        .await,
        Err(PaymentError::Notification(_))
    ));
    assert!(matches!(
        w.deliver_alipay(&Outgoing {
            url: String::new(),
            content_type: "",
            headers: Vec::new(),
            body: "out_trade_no=x&total_amount=60.00&trade_status=TRADE_SUCCESS".into()
        })
        .await,
        Err(PaymentError::Notification(NotificationRefused::Malformed(
            _
        )))
    ));
    assert_eq!(w.events().await, vec!["payment_notification_mismatch"]);
}

#[tokio::test]
async fn yesterdays_bills_are_reconciled_once_after_the_configured_time() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 1).await;
    let p = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    w.wechat.pay(&p.payment.id.0).await.unwrap();
    w.deliver(&w.wechat.paid_notification(&p.payment.id.0, None).unwrap())
        .await
        .unwrap();
    // Tuesday 10:29 Beijing: not yet; 10:31: Monday is reconciled for both providers, once.
    w.clock.set("2026-11-24T02:29:00Z".parse().unwrap());
    assert_eq!(w.payments.tick().await.reconciled, 0);
    w.clock.set("2026-11-24T02:31:00Z".parse().unwrap());
    assert_eq!(w.payments.tick().await.reconciled, 2);
    assert_eq!(w.payments.tick().await.reconciled, 0);
    let monday = date(2026, 11, 23);
    let report = w
        .payments
        .reconciliation(PaymentProvider::WeChatPay, monday)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((report.matched, report.differences.len()), (1, 0));
    let quiet = w
        .payments
        .reconciliation(PaymentProvider::Alipay, monday)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((quiet.bill_lines, quiet.ledger_lines), (0, 0));
}

#[tokio::test]
async fn cancelling_an_unpaid_order_closes_its_payments_at_the_providers() {
    let w = world().await;
    let a = w.visitor().await;
    let order = w.order(&a, 1, 1).await;
    let wx = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::WeChatJsapi, Some("o1"))
        .await
        .unwrap();
    let ali = w
        .payments
        .pay(
            &a,
            &order.order.id,
            PaymentChannel::AlipayMiniProgram,
            Some("buyer-1"),
        )
        .await
        .unwrap();
    let cancelled = w.payments.cancel_order(&a, &order.order.id).await.unwrap();
    assert_eq!(cancelled.order.state, OrderState::Cancelled);
    assert_eq!(w.remaining(), 10);
    for p in [&wx.payment.id, &ali.payment.id] {
        assert_eq!(
            w.store.get_payment(p).await.unwrap().unwrap().state,
            PaymentState::Closed
        );
    }
    assert!(
        w.wechat.pay(&wx.payment.id.0).await.is_err(),
        "closed at WeChat Pay"
    );
    assert!(
        w.alipay.pay(&ali.payment.id.0).await.is_err(),
        "closed at Alipay"
    );
}

#[tokio::test]
async fn a_payment_made_before_midnight_is_reconciled_with_its_day_whenever_it_is_applied() {
    let w = world().await;
    let a = w.visitor().await;
    // Monday 23:59:30 in Beijing.
    w.clock.set("2026-11-23T15:59:30Z".parse().unwrap());
    let order = w.order(&a, 1, 1).await;
    let p = w
        .payments
        .pay(&a, &order.order.id, PaymentChannel::AlipayQr, None)
        .await
        .unwrap();
    w.alipay.pay(&p.payment.id.0).await.unwrap();
    // The notification is applied a minute later, on Tuesday.
    w.clock.advance(SignedDuration::from_mins(1));
    w.deliver_alipay(&w.alipay.paid_notification(&p.payment.id.0, None).unwrap())
        .await
        .unwrap();
    let monday = w
        .payments
        .reconcile(PaymentProvider::Alipay, date(2026, 11, 23))
        .await
        .unwrap();
    assert_eq!(
        (monday.matched, monday.differences.len()),
        (1, 0),
        "{:?}",
        monday.differences
    );
    let tuesday = w
        .payments
        .reconcile(PaymentProvider::Alipay, date(2026, 11, 24))
        .await
        .unwrap();
    assert_eq!((tuesday.ledger_lines, tuesday.bill_lines), (0, 0));
}
