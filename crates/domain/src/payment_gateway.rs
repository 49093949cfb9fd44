//! The port to a payment provider: what the payment service asks of WeChat Pay or Alipay, in
//! the domain's terms. Adapters (gatehouse-providers) speak each provider's protocol; their
//! local fakes speak it back.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::Timestamp;

use crate::payment::{PaidNotice, PaymentChannel, PaymentId, PaymentProvider, RefundId};

/// What the provider needs to create a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub payment_id: PaymentId,
    pub channel: PaymentChannel,
    pub amount_fen: u64,
    /// Shown to the payer ("Science museum — entry, 2026-12-01 09:00").
    pub description: String,
    /// The provider closes the payment by itself at this time.
    pub expires_at: Timestamp,
    /// The payer's id at the provider, where the channel needs it (WeChat openid, Alipay
    /// buyer open id).
    pub payer: Option<String>,
}

/// Where a payment stands at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderTrade {
    /// Created (or never created) and not paid.
    NotPaid,
    Paid(PaidNotice),
    Closed,
}

/// A refund to ask of the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAsk {
    pub refund_id: RefundId,
    pub payment_id: PaymentId,
    pub provider_txn: String,
    pub refund_fen: u64,
    /// What the payment was for in total (WeChat Pay asks for both).
    pub total_fen: u64,
    pub reason: String,
}

/// What the provider says of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Processing {
        provider_refund_id: String,
    },
    Succeeded {
        provider_refund_id: String,
    },
    /// The money could not be returned; staff must act.
    Abnormal {
        provider_refund_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BillLineKind {
    Charge,
    Refund,
}

impl BillLineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BillLineKind::Charge => "charge",
            BillLineKind::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [BillLineKind::Charge, BillLineKind::Refund]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One line of a provider's daily bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    pub kind: BillLineKind,
    /// The provider's transaction id for a charge, our refund number for a refund.
    pub reference: String,
    pub payment_id: PaymentId,
    pub amount_fen: u64,
}

/// A notification the provider sent, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    Paid(PaidNotice),
    Refund {
        refund_id: RefundId,
        outcome: RefundOutcome,
    },
    /// A genuine notification of something Gatehouse does not act on (a trade closed, waiting).
    Ignored,
}

/// Why a notification was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationRefused {
    /// The signature does not verify (or names a key we do not have): a security event.
    #[error("the notification's signature does not verify")]
    Forged,
    /// Signed, but too old or too far in the future to be accepted (a replay).
    #[error("the notification's timestamp is outside the accepted window")]
    Stale,
    /// Not a notification this provider sends: a missing header, a body that does not parse.
    #[error("malformed notification: {0}")]
    Malformed(String),
}

/// A provider call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The provider answered and said no (its code and message).
    #[error("{provider} refused: {code}: {message}")]
    Refused {
        provider: &'static str,
        code: String,
        message: String,
    },
    /// The provider could not be reached or answered something unverifiable.
    #[error("{provider} unavailable: {reason}")]
    Unavailable {
        provider: &'static str,
        reason: String,
    },
}

#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    fn provider(&self) -> PaymentProvider;
    /// Creates the payment at the provider; returns what the client pays with (a prepay id, a
    /// trade number, a QR code or a cashier URL).
    async fn create(&self, req: &CheckoutRequest) -> Result<String, GatewayError>;
    /// What the client needs to start paying, derived from `checkout` (signed where the
    /// provider asks for it, so it is computed fresh each time).
    fn client_params(
        &self,
        channel: PaymentChannel,
        checkout: &str,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>, GatewayError>;
    async fn query(&self, payment: &PaymentId) -> Result<ProviderTrade, GatewayError>;
    async fn close(&self, payment: &PaymentId) -> Result<(), GatewayError>;
    async fn refund(&self, ask: &RefundAsk) -> Result<RefundOutcome, GatewayError>;
    async fn query_refund(
        &self,
        refund: &RefundId,
        payment: &PaymentId,
    ) -> Result<RefundOutcome, GatewayError>;
    /// The provider's bill of `day` (its own calendar day, Beijing time).
    async fn bill(&self, day: Date) -> Result<Vec<BillLine>, GatewayError>;
    /// Verifies a notification: `headers` with lower-case names, `body` as received.
    fn verify_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notification, NotificationRefused>;
}
