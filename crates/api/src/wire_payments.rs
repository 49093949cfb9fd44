//! JSON shapes of the payment routes: paying an order, its money (payments, ledger, refunds),
//! reconciliation reports and security events.

use std::collections::BTreeMap;

use gatehouse_domain::payment::{MoneyLine, Payment, PaymentChannel, Refund};
use gatehouse_domain::reconcile::ReconciliationReport;
use gatehouse_domain::security::SecurityEvent;
use gatehouse_payments::{Checkout, OrderMoney};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// `wechat_jsapi` (mini-program / WeChat browser), `alipay_mini_program`, `alipay_qr` or
    /// `alipay_page`.
    pub channel: String,
    /// The payer's id at the provider where the channel needs it: the WeChat openid for
    /// `wechat_jsapi`, the Alipay buyer open id for `alipay_mini_program`.
    pub payer: Option<String>,
}

impl PayRequest {
    pub fn channel(&self) -> Result<PaymentChannel, ApiError> {
        PaymentChannel::parse(&self.channel).ok_or_else(|| {
            ApiError::field(
                "channel",
                "must be wechat_jsapi, alipay_mini_program, alipay_qr or alipay_page",
            )
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentResponse {
    /// Our payment number (the provider's `out_trade_no`).
    pub id: String,
    pub provider: String,
    pub channel: String,
    pub amount_fen: u64,
    /// `open`, `paid` or `closed`.
    pub state: String,
    pub provider_txn: Option<String>,
    pub created_at: String,
}

impl From<Payment> for PaymentResponse {
    fn from(p: Payment) -> Self {
        Self {
            id: p.id.0,
            provider: p.provider.as_str().into(),
            channel: p.channel.as_str().into(),
            amount_fen: p.amount_fen,
            state: p.state.as_str().into(),
            provider_txn: p.provider_txn,
            created_at: p.created_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutResponse {
    pub payment: PaymentResponse,
    /// What the client pays with: WeChat's `requestPayment` arguments (`appId`, `timeStamp`,
    /// `nonceStr`, `package`, `signType`, `paySign`), Alipay's `trade_no`, `qr_code` or `url`.
    pub client: BTreeMap<String, String>,
}

impl From<Checkout> for CheckoutResponse {
    fn from(c: Checkout) -> Self {
        Self {
            payment: c.payment.into(),
            client: c.client.into_iter().collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MoneyLineResponse {
    /// `charge` or `refund`.
    pub kind: String,
    pub payment_id: String,
    pub provider: String,
    pub amount_fen: u64,
    /// The provider's transaction id (charge) or our refund number (refund).
    pub reference: String,
    pub at: String,
}

impl From<MoneyLine> for MoneyLineResponse {
    fn from(l: MoneyLine) -> Self {
        Self {
            kind: l.movement.kind().into(),
            payment_id: l.movement.payment().0.clone(),
            provider: l.provider.as_str().into(),
            amount_fen: l.movement.amount_fen(),
            reference: l.reference,
            at: l.at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResponse {
    /// Our refund number (the provider's `out_refund_no` / `out_request_no`).
    pub id: String,
    pub payment_id: String,
    pub amount_fen: u64,
    /// `visitor`, `staff`, `late_payment` or `duplicate_payment`.
    pub cause: String,
    pub reason: String,
    /// `requested`, `processing`, `succeeded` or `abnormal`.
    pub state: String,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl From<Refund> for RefundResponse {
    fn from(r: Refund) -> Self {
        Self {
            id: r.id.0,
            payment_id: r.payment_id.0,
            amount_fen: r.amount_fen,
            cause: r.cause.as_str().into(),
            reason: r.reason,
            state: r.state.as_str().into(),
            created_at: r.created_at.to_string(),
            finished_at: r.finished_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderMoneyResponse {
    pub payments: Vec<PaymentResponse>,
    /// The order's append-only money ledger, oldest first.
    pub ledger: Vec<MoneyLineResponse>,
    pub refunds: Vec<RefundResponse>,
}

impl From<OrderMoney> for OrderMoneyResponse {
    fn from(m: OrderMoney) -> Self {
        Self {
            payments: m.payments.into_iter().map(Into::into).collect(),
            ledger: m.ledger.into_iter().map(Into::into).collect(),
            refunds: m.refunds.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationRequest {
    /// `wechat_pay` or `alipay`.
    pub provider: String,
    /// The provider's day (Beijing time), `YYYY-MM-DD`.
    pub day: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DifferenceResponse {
    /// `missing_from_bill`, `missing_from_ledger` or `amount_mismatch`.
    pub kind: String,
    /// `charge` or `refund`.
    pub line: String,
    pub reference: String,
    pub payment_id: String,
    pub ledger_fen: Option<u64>,
    pub bill_fen: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationResponse {
    pub provider: String,
    pub day: String,
    pub ran_at: String,
    pub ledger_lines: u32,
    pub bill_lines: u32,
    pub matched: u32,
    pub differences: Vec<DifferenceResponse>,
}

impl From<ReconciliationReport> for ReconciliationResponse {
    fn from(r: ReconciliationReport) -> Self {
        Self {
            provider: r.provider.as_str().into(),
            day: r.day.to_string(),
            ran_at: r.ran_at.to_string(),
            ledger_lines: r.ledger_lines,
            bill_lines: r.bill_lines,
            matched: r.matched,
            differences: r
                .differences
                .into_iter()
                .map(|d| DifferenceResponse {
                    kind: d.kind.as_str().into(),
                    line: d.line.as_str().into(),
                    reference: d.reference,
                    payment_id: d.payment_id.0,
                    ledger_fen: d.ledger_fen,
                    bill_fen: d.bill_fen,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventResponse {
    pub at: String,
    pub kind: String,
    pub source: String,
    pub detail: String,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventsResponse {
    pub events: Vec<SecurityEventResponse>,
}

impl From<Vec<SecurityEvent>> for SecurityEventsResponse {
    fn from(events: Vec<SecurityEvent>) -> Self {
        Self {
            events: events
                .into_iter()
                .map(|e| SecurityEventResponse {
                    at: e.at.to_string(),
                    kind: e.kind,
                    source: e.source,
                    detail: e.detail,
                    ip: e.ip,
                })
                .collect(),
        }
    }
}
