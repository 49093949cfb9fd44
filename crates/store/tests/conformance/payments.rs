//! What every adapter must do for money: payments paid once, an append-only money ledger whose
//! refunds never exceed its charges, refunds that move on only from the state they were in,
//! security events and reconciliation reports.

use super::{at, fixture, order, place, Stores};
use gatehouse_domain::order::OrderId;
use gatehouse_domain::payment::{
    Movement, Payment, PaymentChannel, PaymentId, PaymentProvider, PaymentState, Refund,
    RefundCause, RefundId, RefundState,
};
use gatehouse_domain::payment_gateway::BillLineKind;
use gatehouse_domain::reconcile::{Difference, DifferenceKind, ReconciliationReport};
use gatehouse_domain::security::SecurityEvent;
use gatehouse_domain::store::{LedgerWrite, MoneyWrite, StoreError};
use jiff::civil::date;

fn payment(id: &str, order: &OrderId, fen: u64) -> Payment {
    Payment {
        id: PaymentId(id.into()),
        order_id: order.clone(),
        provider: PaymentProvider::WeChatPay,
        channel: PaymentChannel::WeChatJsapi,
        amount_fen: fen,
        state: PaymentState::Open,
        provider_txn: None,
        checkout: Some("prepay-1".into()),
        created_at: at(5),
    }
}

fn money(w: MoneyWrite) -> LedgerWrite {
    LedgerWrite::Money(w)
}

fn line(order: &OrderId, m: Movement, reference: &str, s: i64) -> LedgerWrite {
    money(MoneyWrite::Line {
        order_id: order.clone(),
        movement: m,
        reference: reference.into(),
        at: at(s),
    })
}

fn charge(p: &str, fen: u64) -> Movement {
    Movement::Charge {
        payment: PaymentId(p.into()),
        amount_fen: fen,
    }
}

fn refund_line(p: &str, fen: u64) -> Movement {
    Movement::Refund {
        payment: PaymentId(p.into()),
        amount_fen: fen,
    }
}

/// An order with one open payment `p1` of 6000 fen.
async fn paid_setup(stores: &Stores) -> OrderId {
    let f = fixture(stores, 5).await;
    let o = order(&f, 1, &[(1, 0)], 0, None);
    let id = o.id.clone();
    stores.store.apply(&[place(o)]).await.unwrap();
    stores
        .store
        .apply(&[money(MoneyWrite::OpenPayment(payment("p1", &id, 6000)))])
        .await
        .unwrap();
    id
}

pub async fn payments_are_paid_once_and_closed_only_when_open(stores: Stores) {
    let order = paid_setup(&stores).await;
    let s = stores.store.clone();
    let p = stores.payments.clone();
    assert_eq!(
        p.get_payment(&PaymentId("p1".into())).await.unwrap(),
        Some(payment("p1", &order, 6000))
    );
    let paid = |txn: &str| {
        money(MoneyWrite::PaymentPaid {
            payment: PaymentId("p1".into()),
            provider_txn: txn.into(),
        })
    };
    s.apply(&[paid("wx-1"), line(&order, charge("p1", 6000), "wx-1", 10)])
        .await
        .unwrap();
    assert!(matches!(
        s.apply(&[paid("wx-2")]).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.apply(&[money(MoneyWrite::PaymentClosed {
            payment: PaymentId("p1".into())
        })])
        .await,
        Err(StoreError::Conflict(_))
    ));
    let got = p
        .get_payment(&PaymentId("p1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.state, got.provider_txn.as_deref()),
        (PaymentState::Paid, Some("wx-1"))
    );
    // A second payment of the same order can be closed while open, and then paid (late).
    s.apply(&[money(MoneyWrite::OpenPayment(payment("p2", &order, 6000)))])
        .await
        .unwrap();
    s.apply(&[money(MoneyWrite::PaymentClosed {
        payment: PaymentId("p2".into()),
    })])
    .await
    .unwrap();
    s.apply(&[money(MoneyWrite::PaymentPaid {
        payment: PaymentId("p2".into()),
        provider_txn: "wx-2".into(),
    })])
    .await
    .unwrap();
    // One provider transaction cannot pay two payments.
    s.apply(&[money(MoneyWrite::OpenPayment(payment("p3", &order, 6000)))])
        .await
        .unwrap();
    assert!(matches!(
        s.apply(&[money(MoneyWrite::PaymentPaid {
            payment: PaymentId("p3".into()),
            provider_txn: "wx-1".into(),
        })])
        .await,
        Err(StoreError::Conflict(_))
    ));
    let ids: Vec<String> = p
        .payments_of_order(&order)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id.0)
        .collect();
    assert_eq!(ids, vec!["p1", "p2", "p3"]);
}

pub async fn the_money_ledger_is_append_only_and_refunds_are_bounded(stores: Stores) {
    let order = paid_setup(&stores).await;
    let s = stores.store.clone();
    s.apply(&[line(&order, charge("p1", 6000), "wx-1", 10)])
        .await
        .unwrap();
    s.apply(&[line(&order, refund_line("p1", 4000), "r1", 20)])
        .await
        .unwrap();
    // 2000 fen left: 2001 is refused by the schema itself, and nothing of the batch lands.
    assert!(matches!(
        s.apply(&[
            line(&order, refund_line("p1", 1000), "r2", 30),
            line(&order, refund_line("p1", 2001), "r3", 30)
        ])
        .await,
        Err(StoreError::Conflict(_))
    ));
    // One reference per kind: the same refund number is never written twice.
    assert!(matches!(
        s.apply(&[line(&order, refund_line("p1", 1), "r1", 30)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A line for an unknown payment is refused.
    assert!(s
        .apply(&[line(&order, charge("nope", 1), "wx-9", 30)])
        .await
        .is_err());
    s.apply(&[line(&order, refund_line("p1", 2000), "r4", 40)])
        .await
        .unwrap();
    let ledger = stores.payments.money_ledger(&order).await.unwrap();
    let summary: Vec<(&str, u64, &str)> = ledger
        .iter()
        .map(|l| {
            (
                l.movement.kind(),
                l.movement.amount_fen(),
                l.reference.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("charge", 6000, "wx-1"),
            ("refund", 4000, "r1"),
            ("refund", 2000, "r4")
        ]
    );
    let between = stores
        .payments
        .money_lines_between(PaymentProvider::WeChatPay, at(15), at(40))
        .await
        .unwrap();
    assert_eq!(between.len(), 1, "[from, to) holds only r1");
    assert!(stores
        .payments
        .money_lines_between(PaymentProvider::Alipay, at(0), at(100))
        .await
        .unwrap()
        .is_empty());
}

fn refund(id: &str, order: &OrderId, fen: u64) -> Refund {
    Refund {
        id: RefundId(id.into()),
        order_id: order.clone(),
        payment_id: PaymentId("p1".into()),
        provider: PaymentProvider::WeChatPay,
        amount_fen: fen,
        cause: RefundCause::Staff,
        reason: "closed hall".into(),
        state: RefundState::Requested,
        provider_refund_id: None,
        created_at: at(20),
        finished_at: None,
    }
}

pub async fn refunds_move_on_only_from_the_state_they_were_in(stores: Stores) {
    let order = paid_setup(&stores).await;
    let s = stores.store.clone();
    let p = stores.payments.clone();
    s.apply(&[money(MoneyWrite::OpenRefund(refund("r1", &order, 100)))])
        .await
        .unwrap();
    s.apply(&[money(MoneyWrite::OpenRefund(refund("r2", &order, 200)))])
        .await
        .unwrap();
    let moved = |from, to, s: i64| {
        money(MoneyWrite::RefundMoved {
            refund: RefundId("r1".into()),
            from,
            to,
            provider_refund_id: Some("wxr-1".into()),
            at: at(s),
        })
    };
    s.apply(&[moved(RefundState::Requested, RefundState::Processing, 30)])
        .await
        .unwrap();
    assert!(matches!(
        s.apply(&[moved(RefundState::Requested, RefundState::Succeeded, 31)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    let unfinished: Vec<String> = p
        .unfinished_refunds(10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.0)
        .collect();
    assert_eq!(unfinished, vec!["r1", "r2"]);
    s.apply(&[moved(RefundState::Processing, RefundState::Succeeded, 40)])
        .await
        .unwrap();
    let r1 = p.get_refund(&RefundId("r1".into())).await.unwrap().unwrap();
    assert_eq!(
        (r1.state, r1.provider_refund_id.as_deref(), r1.finished_at),
        (RefundState::Succeeded, Some("wxr-1"), Some(at(40)))
    );
    assert_eq!(p.unfinished_refunds(10).await.unwrap().len(), 1);
    assert_eq!(p.refunds_of_order(&order).await.unwrap().len(), 2);
    assert_eq!(p.get_refund(&RefundId("r9".into())).await.unwrap(), None);
}

pub async fn open_payments_of_due_orders_are_found(stores: Stores) {
    let order = paid_setup(&stores).await;
    let p = stores.payments.clone();
    // The fixture's order 1 holds until at(601).
    assert!(p.open_payments_due(at(600), 10).await.unwrap().is_empty());
    let due = p.open_payments_due(at(601), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].order_id, order);
    stores
        .store
        .apply(&[money(MoneyWrite::PaymentClosed {
            payment: PaymentId("p1".into()),
        })])
        .await
        .unwrap();
    assert!(p.open_payments_due(at(601), 10).await.unwrap().is_empty());
}

pub async fn security_events_and_reconciliations_round_trip(stores: Stores) {
    let p = stores.payments.clone();
    for (i, kind) in ["payment_notification_forged", "payment_amount_mismatch"]
        .iter()
        .enumerate()
    {
        p.record_security_event(&SecurityEvent {
            at: at(i64::try_from(i).unwrap()),
            kind: (*kind).into(),
            source: "wechat_pay_notify".into(),
            detail: "serial 1234".into(),
            ip: Some("203.0.113.9".into()),
        })
        .await
        .unwrap();
    }
    let events = p.list_security_events(10).await.unwrap();
    assert_eq!(events[0].kind, "payment_amount_mismatch", "newest first");
    assert_eq!(events.len(), 2);
    let day = date(2026, 11, 25);
    let mut report = ReconciliationReport {
        provider: PaymentProvider::Alipay,
        day,
        ran_at: at(100),
        ledger_lines: 3,
        bill_lines: 3,
        matched: 2,
        differences: vec![Difference {
            kind: DifferenceKind::AmountMismatch,
            line: BillLineKind::Charge,
            reference: "2026112522001".into(),
            payment_id: PaymentId("p1".into()),
            ledger_fen: Some(6000),
            bill_fen: Some(5999),
        }],
    };
    p.save_reconciliation(&report).await.unwrap();
    assert_eq!(
        p.get_reconciliation(PaymentProvider::Alipay, day)
            .await
            .unwrap(),
        Some(report.clone())
    );
    // A rerun replaces the day's report.
    report.differences.clear();
    report.matched = 3;
    p.save_reconciliation(&report).await.unwrap();
    assert_eq!(
        p.get_reconciliation(PaymentProvider::Alipay, day)
            .await
            .unwrap(),
        Some(report)
    );
    assert_eq!(
        p.get_reconciliation(PaymentProvider::WeChatPay, day)
            .await
            .unwrap(),
        None
    );
}
