//! The payment service: the application layer for money. It creates payments at the provider
//! an order is paid with, applies the provider's notifications (or, when none came, the answer
//! to a query made before the order's hold runs out), refunds late and double payments on its
//! own, refunds tickets with the money they cost, tracks every refund to its final state, and
//! reconciles each provider's daily bill with the money ledger.
//!
//! Architecture invariant: every money record commits in the same transaction as the order
//! change it belongs to (through the booking service's committer), and the provider is called
//! only after our side is durable, with ids that make the call safe to repeat.

pub mod breaker;
mod housekeeping;
mod notify;
mod pay;
mod refunds;

use std::sync::Arc;

use gatehouse_booking::BookingService;
use gatehouse_domain::breaker::BreakerPolicy;
use gatehouse_domain::order::OrderId;
use gatehouse_domain::payment::{MoneyLine, Movement, Payment, PaymentId, PaymentProvider, Refund};
use gatehouse_domain::payment_gateway::{GatewayError, NotificationRefused, PaymentGateway};
use gatehouse_domain::payment_store::PaymentStore;
use gatehouse_domain::security::SecurityEvent;
use gatehouse_domain::store::StoreError;
use gatehouse_domain::{BookingError, Clock};
use jiff::SignedDuration;

pub use housekeeping::TickReport;
pub use notify::PaidOutcome;
pub use pay::Checkout;

#[derive(Debug, Clone)]
pub struct PaymentConfig {
    /// How long before an unpaid order's hold ends its open payments are queried at the
    /// provider (in case a notification was lost).
    pub query_lead: SignedDuration,
    /// Shown to the payer as the start of every payment's description.
    pub merchant_name: String,
    /// When, in Beijing time, yesterday's bills are downloaded and reconciled (providers publish
    /// them from about 09:00 / 10:00).
    pub reconcile_at: jiff::civil::Time,
    /// The breaker around each provider.
    pub provider_breaker: BreakerPolicy,
}

impl Default for PaymentConfig {
    fn default() -> Self {
        Self {
            query_lead: SignedDuration::from_secs(60),
            merchant_name: "Gatehouse".into(),
            reconcile_at: jiff::civil::time(10, 30, 0, 0),
            provider_breaker: BreakerPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error("this order is free: there is nothing to pay")]
    NothingToPay,
    #[error("{provider} is not configured on this server")]
    ProviderNotConfigured { provider: &'static str },
    #[error(transparent)]
    Provider(#[from] GatewayError),
    #[error(transparent)]
    Notification(#[from] NotificationRefused),
    /// A genuine notification that does not match our payment (unknown, wrong amount, another
    /// transaction): refused and raised as a security event.
    #[error("the notification does not match a payment: {0}")]
    Mismatch(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl PaymentError {
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// An order's money as its owner and staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMoney {
    pub payments: Vec<Payment>,
    pub ledger: Vec<MoneyLine>,
    pub refunds: Vec<Refund>,
}

pub struct PaymentService {
    booking: Arc<BookingService>,
    store: Arc<dyn PaymentStore>,
    gateways: Vec<Arc<dyn PaymentGateway>>,
    clock: Arc<dyn Clock>,
    config: PaymentConfig,
}

impl PaymentService {
    pub fn new(
        booking: Arc<BookingService>,
        store: Arc<dyn PaymentStore>,
        gateways: Vec<Arc<dyn PaymentGateway>>,
        config: PaymentConfig,
    ) -> Arc<Self> {
        let clock = booking.clock().clone();
        // Every provider behind its own circuit breaker.
        let gateways = gateways
            .into_iter()
            .map(|g| {
                Arc::new(breaker::Guarded::new(g, config.provider_breaker))
                    as Arc<dyn PaymentGateway>
            })
            .collect();
        Arc::new(Self {
            booking,
            store,
            gateways,
            clock,
            config,
        })
    }

    pub fn booking(&self) -> &Arc<BookingService> {
        &self.booking
    }

    /// The providers this server can take payments with.
    pub fn providers(&self) -> Vec<PaymentProvider> {
        self.gateways.iter().map(|g| g.provider()).collect()
    }

    fn gateway(&self, provider: PaymentProvider) -> Result<&Arc<dyn PaymentGateway>, PaymentError> {
        self.gateways
            .iter()
            .find(|g| g.provider() == provider)
            .ok_or(PaymentError::ProviderNotConfigured {
                provider: provider.as_str(),
            })
    }

    fn store_error(&self, e: StoreError) -> PaymentError {
        tracing::error!(error = %e, "payment storage failure");
        PaymentError::Booking(BookingError::Unavailable)
    }

    async fn security_event(&self, kind: &str, source: &str, detail: String, ip: Option<String>) {
        tracing::warn!(kind, source, detail = %detail, "security event");
        let event = SecurityEvent {
            at: self.clock.now(),
            kind: kind.to_owned(),
            source: source.to_owned(),
            detail,
            ip,
        };
        if let Err(e) = self.store.record_security_event(&event).await {
            tracing::error!(error = %e, "could not record a security event");
        }
    }

    /// Security events, newest first.
    pub async fn security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, PaymentError> {
        self.store
            .list_security_events(limit.clamp(1, 500))
            .await
            .map_err(|e| self.store_error(e))
    }

    /// The money of an order its caller may see (see [`BookingService::owned_order`]).
    pub async fn order_money(
        &self,
        account: &gatehouse_domain::store::Account,
        order: &OrderId,
    ) -> Result<OrderMoney, PaymentError> {
        self.booking
            .owned_order(
                account,
                order,
                gatehouse_domain::access::Permission::OrdersRead,
            )
            .await?;
        self.money_of(order).await
    }

    async fn money_of(&self, order: &OrderId) -> Result<OrderMoney, PaymentError> {
        let err = |e| self.store_error(e);
        Ok(OrderMoney {
            payments: self.store.payments_of_order(order).await.map_err(err)?,
            ledger: self.store.money_ledger(order).await.map_err(err)?,
            refunds: self.store.refunds_of_order(order).await.map_err(err)?,
        })
    }
}

/// The payment that paid an order: the first charge of its money ledger (any later charge was
/// a double payment and is refunded).
fn paid_by(ledger: &[MoneyLine]) -> Option<PaymentId> {
    ledger.iter().find_map(|l| match &l.movement {
        Movement::Charge { payment, .. } => Some(payment.clone()),
        Movement::Refund { .. } => None,
    })
}

/// A fresh id for a payment or a refund: 32 characters, within every provider's limits.
fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
