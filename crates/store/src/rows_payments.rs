//! Rows of the money tables (payments, refunds, the money ledger, security events,
//! reconciliation reports) and their conversion to domain types.

use sqlx::FromRow;

use gatehouse_domain::order::OrderId;
use gatehouse_domain::payment::{
    MoneyLine, Movement, Payment, PaymentChannel, PaymentId, PaymentProvider, PaymentState, Refund,
    RefundCause, RefundId, RefundState,
};
use gatehouse_domain::payment_gateway::BillLineKind;
use gatehouse_domain::reconcile::{Difference, DifferenceKind};
use gatehouse_domain::security::SecurityEvent;
use gatehouse_domain::store::StoreError;

use crate::rows::from_ms;

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} is malformed"))
}

pub fn provider(s: &str) -> Result<PaymentProvider, StoreError> {
    PaymentProvider::parse(s).ok_or_else(|| corrupt("payment provider"))
}

pub fn fen(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt("amount"))
}

pub fn fen_col(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[derive(FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub provider: String,
    pub channel: String,
    pub amount_fen: i64,
    pub state: String,
    pub provider_txn: Option<String>,
    pub checkout: Option<String>,
    pub created_at: i64,
}

impl PaymentRow {
    pub fn into_domain(self) -> Result<Payment, StoreError> {
        Ok(Payment {
            id: PaymentId(self.id),
            order_id: OrderId(self.order_id),
            provider: provider(&self.provider)?,
            channel: PaymentChannel::parse(&self.channel).ok_or_else(|| corrupt("channel"))?,
            amount_fen: fen(self.amount_fen)?,
            state: PaymentState::parse(&self.state).ok_or_else(|| corrupt("payment state"))?,
            provider_txn: self.provider_txn,
            checkout: self.checkout,
            created_at: from_ms(self.created_at)?,
        })
    }
}

#[derive(FromRow)]
pub struct MoneyLineRow {
    pub order_id: String,
    pub payment_id: String,
    pub provider: String,
    pub kind: String,
    pub amount_fen: i64,
    pub reference: String,
    pub at: i64,
}

impl MoneyLineRow {
    pub fn into_domain(self) -> Result<MoneyLine, StoreError> {
        let payment = PaymentId(self.payment_id);
        let amount_fen = fen(self.amount_fen)?;
        let movement = match self.kind.as_str() {
            "charge" => Movement::Charge {
                payment,
                amount_fen,
            },
            "refund" => Movement::Refund {
                payment,
                amount_fen,
            },
            _ => return Err(corrupt("money line kind")),
        };
        Ok(MoneyLine {
            order_id: OrderId(self.order_id),
            provider: provider(&self.provider)?,
            movement,
            reference: self.reference,
            at: from_ms(self.at)?,
        })
    }
}

#[derive(FromRow)]
pub struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub payment_id: String,
    pub provider: String,
    pub amount_fen: i64,
    pub cause: String,
    pub reason: String,
    pub state: String,
    pub provider_refund_id: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl RefundRow {
    pub fn into_domain(self) -> Result<Refund, StoreError> {
        Ok(Refund {
            id: RefundId(self.id),
            order_id: OrderId(self.order_id),
            payment_id: PaymentId(self.payment_id),
            provider: provider(&self.provider)?,
            amount_fen: fen(self.amount_fen)?,
            cause: RefundCause::parse(&self.cause).ok_or_else(|| corrupt("refund cause"))?,
            reason: self.reason,
            state: RefundState::parse(&self.state).ok_or_else(|| corrupt("refund state"))?,
            provider_refund_id: self.provider_refund_id,
            created_at: from_ms(self.created_at)?,
            finished_at: self.finished_at.map(from_ms).transpose()?,
        })
    }
}

#[derive(FromRow)]
pub struct SecurityEventRow {
    pub at: i64,
    pub kind: String,
    pub source: String,
    pub detail: String,
    pub ip: Option<String>,
}

impl SecurityEventRow {
    pub fn into_domain(self) -> Result<SecurityEvent, StoreError> {
        Ok(SecurityEvent {
            at: from_ms(self.at)?,
            kind: self.kind,
            source: self.source,
            detail: self.detail,
            ip: self.ip,
        })
    }
}

#[derive(FromRow)]
pub struct DifferenceRow {
    pub kind: String,
    pub line: String,
    pub reference: String,
    pub payment_id: String,
    pub ledger_fen: Option<i64>,
    pub bill_fen: Option<i64>,
}

impl DifferenceRow {
    pub fn into_domain(self) -> Result<Difference, StoreError> {
        Ok(Difference {
            kind: DifferenceKind::parse(&self.kind).ok_or_else(|| corrupt("difference kind"))?,
            line: BillLineKind::parse(&self.line).ok_or_else(|| corrupt("bill line kind"))?,
            reference: self.reference,
            payment_id: PaymentId(self.payment_id),
            ledger_fen: self.ledger_fen.map(fen).transpose()?,
            bill_fen: self.bill_fen.map(fen).transpose()?,
        })
    }
}
