//! Money, as the domain sees it: payments of an order at a licensed provider, the order's
//! append-only money ledger (every charge and refund), and the decisions a payment notification
//! leads to. Amounts are integer fen everywhere. Pure rules, no I/O: the payment service applies
//! them and the store records them.
//!
//! The rules for a "paid" notification, in order:
//! 1. Unknown payment, or an amount other than the payment's: refused, a security event.
//! 2. The same provider transaction seen before: nothing changes (notifications repeat).
//! 3. The order is still pending: it is confirmed and the charge recorded.
//! 4. The order was already paid by another payment: the charge is recorded and refunded
//!    (paying twice refunds the second).
//! 5. The order is no longer payable (expired or cancelled, its stock released): the charge is
//!    recorded and refunded automatically.

use jiff::Timestamp;

use crate::order::{OrderId, OrderState};

/// The zone providers keep their books and write their times in (Beijing). A fixed +08:00 if
/// the system has no time-zone database: China has no daylight saving, so both are the same.
pub fn provider_time_zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Shanghai")
        .unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
}

/// A payment provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentProvider {
    WeChatPay,
    Alipay,
}

impl PaymentProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentProvider::WeChatPay => "wechat_pay",
            PaymentProvider::Alipay => "alipay",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PaymentProvider::WeChatPay, PaymentProvider::Alipay]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// Our id of a payment: the merchant order number sent to the provider (`out_trade_no`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentId(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Created at the provider, waiting for the visitor.
    Open,
    Paid,
    /// Closed unpaid (the order expired or was cancelled first).
    Closed,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Open => "open",
            PaymentState::Paid => "paid",
            PaymentState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PaymentState::Open, PaymentState::Paid, PaymentState::Closed]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// How the visitor pays: which of the provider's products the payment was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentChannel {
    /// WeChat Pay v3 JSAPI prepay, used by the mini-program and WeChat's browser.
    WeChatJsapi,
    /// Alipay `alipay.trade.create`, paid in the Alipay mini-program.
    AlipayMiniProgram,
    /// Alipay `alipay.trade.precreate`: a QR code the visitor scans.
    AlipayQr,
    /// Alipay `alipay.trade.page.pay`: the visitor's browser goes to Alipay's cashier.
    AlipayPage,
}

impl PaymentChannel {
    pub const ALL: [PaymentChannel; 4] = [
        PaymentChannel::WeChatJsapi,
        PaymentChannel::AlipayMiniProgram,
        PaymentChannel::AlipayQr,
        PaymentChannel::AlipayPage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentChannel::WeChatJsapi => "wechat_jsapi",
            PaymentChannel::AlipayMiniProgram => "alipay_mini_program",
            PaymentChannel::AlipayQr => "alipay_qr",
            PaymentChannel::AlipayPage => "alipay_page",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn provider(self) -> PaymentProvider {
        match self {
            PaymentChannel::WeChatJsapi => PaymentProvider::WeChatPay,
            _ => PaymentProvider::Alipay,
        }
    }
}

/// One attempt to pay an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub provider: PaymentProvider,
    pub channel: PaymentChannel,
    pub amount_fen: u64,
    pub state: PaymentState,
    /// The provider's transaction id, once paid.
    pub provider_txn: Option<String>,
    /// What the provider handed back at creation for the client (a prepay id, a trade number,
    /// a QR code, a cashier URL), so asking to pay again returns the same payment.
    pub checkout: Option<String>,
    pub created_at: Timestamp,
}

/// Our id of a refund: the merchant refund number sent to the provider (`out_refund_no`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefundId(pub String);

/// Where a refund stands. `Requested` is written before the provider is asked, so a crash in
/// between is retried with the same refund number (providers treat it idempotently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    Requested,
    /// Accepted by the provider, money on its way.
    Processing,
    Succeeded,
    /// The provider could not return the money (closed account, …): staff must act.
    Abnormal,
}

impl RefundState {
    pub const ALL: [RefundState; 4] = [
        RefundState::Requested,
        RefundState::Processing,
        RefundState::Succeeded,
        RefundState::Abnormal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Requested => "requested",
            RefundState::Processing => "processing",
            RefundState::Succeeded => "succeeded",
            RefundState::Abnormal => "abnormal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, RefundState::Succeeded | RefundState::Abnormal)
    }
}

/// Why money goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundCause {
    /// The visitor refunded tickets.
    Visitor,
    /// Staff refunded tickets, with a reason.
    Staff,
    /// The payment landed after the order expired or was cancelled.
    LatePayment,
    /// The order had already been paid by another payment.
    DuplicatePayment,
}

impl RefundCause {
    pub const ALL: [RefundCause; 4] = [
        RefundCause::Visitor,
        RefundCause::Staff,
        RefundCause::LatePayment,
        RefundCause::DuplicatePayment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundCause::Visitor => "visitor",
            RefundCause::Staff => "staff",
            RefundCause::LatePayment => "late_payment",
            RefundCause::DuplicatePayment => "duplicate_payment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Money going back to a visitor through the provider that took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub order_id: OrderId,
    pub payment_id: PaymentId,
    pub provider: PaymentProvider,
    pub amount_fen: u64,
    pub cause: RefundCause,
    /// Staff's reason, or a fixed description; no personal data.
    pub reason: String,
    pub state: RefundState,
    /// The provider's refund id, once accepted.
    pub provider_refund_id: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// What a provider says was paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidNotice {
    pub payment_id: PaymentId,
    pub provider_txn: String,
    pub amount_fen: u64,
    /// When the provider says it was paid: its bill files the charge under that day, so the
    /// money ledger does too (a notification applied after midnight still belongs to the day
    /// it was paid).
    pub paid_at: Option<Timestamp>,
}

/// Why a paid notice was refused; each is a security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaidMismatch {
    UnknownPayment,
    /// The notice's amount differs from what the payment asked for.
    Amount {
        expected_fen: u64,
        notified_fen: u64,
    },
    /// A second, different provider transaction for a payment already paid.
    OtherTransaction,
}

/// What to do with a paid notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaidDecision {
    Refuse(PaidMismatch),
    /// Seen before: nothing changes.
    AlreadyApplied,
    /// Confirm the order; record the charge.
    Confirm,
    /// Record the charge and refund it in full: the order was paid by another payment.
    RefundDuplicate,
    /// Record the charge and refund it in full: the order is no longer payable.
    RefundLate,
}

/// Decides what a paid notice does (see the module comment for the rules).
pub fn decide_paid(
    payment: Option<&Payment>,
    order_state: OrderState,
    order_paid_by: Option<&PaymentId>,
    notice: &PaidNotice,
) -> PaidDecision {
    let Some(payment) = payment else {
        return PaidDecision::Refuse(PaidMismatch::UnknownPayment);
    };
    if notice.amount_fen != payment.amount_fen {
        return PaidDecision::Refuse(PaidMismatch::Amount {
            expected_fen: payment.amount_fen,
            notified_fen: notice.amount_fen,
        });
    }
    match &payment.provider_txn {
        Some(txn) if *txn == notice.provider_txn => return PaidDecision::AlreadyApplied,
        Some(_) => return PaidDecision::Refuse(PaidMismatch::OtherTransaction),
        None => {}
    }
    match (order_state, order_paid_by) {
        (_, Some(other)) if *other != payment.id => PaidDecision::RefundDuplicate,
        (OrderState::PendingPayment, _) => PaidDecision::Confirm,
        _ => PaidDecision::RefundLate,
    }
}

/// One line of an order's money ledger. Lines are only ever appended. A refund is written
/// when it is decided (with its refund record), so money promised back can never be promised
/// twice, whatever the provider later says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Movement {
    Charge { payment: PaymentId, amount_fen: u64 },
    Refund { payment: PaymentId, amount_fen: u64 },
}

impl Movement {
    pub fn payment(&self) -> &PaymentId {
        match self {
            Movement::Charge { payment, .. } | Movement::Refund { payment, .. } => payment,
        }
    }

    pub fn amount_fen(&self) -> u64 {
        match self {
            Movement::Charge { amount_fen, .. } | Movement::Refund { amount_fen, .. } => {
                *amount_fen
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Movement::Charge { .. } => "charge",
            Movement::Refund { .. } => "refund",
        }
    }
}

/// A movement as stored: which order, when, and the provider reference it matches in the bill
/// (the provider's transaction id for a charge, our refund number for a refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyLine {
    pub order_id: OrderId,
    pub provider: PaymentProvider,
    pub movement: Movement,
    pub reference: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    #[error("a refund must be more than 0 fen")]
    Zero,
    #[error("only {refundable_fen} fen of this payment can still be refunded")]
    BeyondPaid { refundable_fen: u64 },
}

/// What of a payment can still be refunded: its charges less its refunds.
pub fn refundable_fen(ledger: &[Movement], payment: &PaymentId) -> u64 {
    ledger.iter().fold(0u64, |left, m| match m {
        Movement::Charge {
            payment: p,
            amount_fen,
        } if p == payment => left.saturating_add(*amount_fen),
        Movement::Refund {
            payment: p,
            amount_fen,
        } if p == payment => left.saturating_sub(*amount_fen),
        _ => left,
    })
}

/// Checks a refund against the ledger: never more than was paid and not yet refunded.
pub fn check_refund(
    ledger: &[Movement],
    payment: &PaymentId,
    amount_fen: u64,
) -> Result<(), RefundRefused> {
    if amount_fen == 0 {
        return Err(RefundRefused::Zero);
    }
    let refundable = refundable_fen(ledger, payment);
    if amount_fen > refundable {
        return Err(RefundRefused::BeyondPaid {
            refundable_fen: refundable,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payment(id: &str, amount: u64, txn: Option<&str>) -> Payment {
        Payment {
            id: PaymentId(id.into()),
            order_id: OrderId("o1".into()),
            provider: PaymentProvider::WeChatPay,
            channel: PaymentChannel::WeChatJsapi,
            checkout: None,
            created_at: Timestamp::UNIX_EPOCH,
            amount_fen: amount,
            state: if txn.is_some() {
                PaymentState::Paid
            } else {
                PaymentState::Open
            },
            provider_txn: txn.map(str::to_owned),
        }
    }

    fn notice(id: &str, txn: &str, amount: u64) -> PaidNotice {
        PaidNotice {
            payment_id: PaymentId(id.into()),
            provider_txn: txn.into(),
            amount_fen: amount,
            paid_at: None,
        }
    }

    #[test]
    fn a_paid_notice_confirms_refunds_or_is_refused_by_the_rules() {
        use OrderState::*;
        let p = payment("p1", 6000, None);
        let n = notice("p1", "t1", 6000);
        assert_eq!(
            decide_paid(None, PendingPayment, None, &n),
            PaidDecision::Refuse(PaidMismatch::UnknownPayment)
        );
        assert_eq!(
            decide_paid(Some(&p), PendingPayment, None, &notice("p1", "t1", 1)),
            PaidDecision::Refuse(PaidMismatch::Amount {
                expected_fen: 6000,
                notified_fen: 1
            })
        );
        assert_eq!(
            decide_paid(Some(&p), PendingPayment, None, &n),
            PaidDecision::Confirm
        );
        assert_eq!(
            decide_paid(
                Some(&payment("p1", 6000, Some("t1"))),
                Confirmed,
                Some(&PaymentId("p1".into())),
                &n
            ),
            PaidDecision::AlreadyApplied
        );
        assert_eq!(
            decide_paid(
                Some(&payment("p1", 6000, Some("t1"))),
                Confirmed,
                Some(&PaymentId("p1".into())),
                &notice("p1", "t2", 6000)
            ),
            PaidDecision::Refuse(PaidMismatch::OtherTransaction)
        );
        assert_eq!(
            decide_paid(Some(&p), Confirmed, Some(&PaymentId("p0".into())), &n),
            PaidDecision::RefundDuplicate
        );
        for late in [Expired, Cancelled, Refunded] {
            assert_eq!(
                decide_paid(Some(&p), late, None, &n),
                PaidDecision::RefundLate,
                "{late:?}"
            );
        }
    }

    #[test]
    fn refunds_never_exceed_what_was_paid() {
        let p = PaymentId("p1".into());
        let mut ledger = vec![Movement::Charge {
            payment: p.clone(),
            amount_fen: 6000,
        }];
        assert_eq!(check_refund(&ledger, &p, 0), Err(RefundRefused::Zero));
        assert_eq!(
            check_refund(&ledger, &p, 6001),
            Err(RefundRefused::BeyondPaid {
                refundable_fen: 6000
            })
        );
        check_refund(&ledger, &p, 2000).unwrap();
        ledger.push(Movement::Refund {
            payment: p.clone(),
            amount_fen: 2000,
        });
        assert_eq!(refundable_fen(&ledger, &p), 4000);
        assert_eq!(refundable_fen(&ledger, &PaymentId("other".into())), 0);
    }

    proptest! {
        /// Whatever refunds are asked for, the ones the rule admits never sum past the charges.
        #[test]
        fn admitted_refunds_never_sum_past_the_charges(
            charges in proptest::collection::vec(1u64..100_000, 1..4),
            asks in proptest::collection::vec(0u64..200_000, 0..20),
        ) {
            let p = PaymentId("p".into());
            let mut ledger: Vec<Movement> = charges.iter().map(|c| Movement::Charge { payment: p.clone(), amount_fen: *c }).collect();
            for ask in asks {
                if check_refund(&ledger, &p, ask).is_ok() {
                    ledger.push(Movement::Refund { payment: p.clone(), amount_fen: ask });
                }
            }
            let refunded: u64 = ledger.iter().map(|m| match m { Movement::Refund { amount_fen, .. } => *amount_fen, _ => 0 }).sum();
            prop_assert!(refunded <= charges.iter().sum::<u64>());
        }
    }
}
