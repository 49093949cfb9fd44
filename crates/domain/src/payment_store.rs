//! The storage port for money: payments, refunds, the money ledger, security events and
//! reconciliation reports. Writes that must commit with an order's state change go through
//! [`crate::store::LedgerWrite::Money`]; this trait holds the reads and the writes that stand
//! alone.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::Timestamp;

use crate::order::OrderId;
use crate::payment::{MoneyLine, Payment, PaymentId, PaymentProvider, Refund, RefundId};
use crate::reconcile::ReconciliationReport;
use crate::security::SecurityEvent;
use crate::store::StoreError;

#[async_trait]
pub trait PaymentStore: Send + Sync + 'static {
    async fn get_payment(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError>;
    /// An order's payments, oldest first.
    async fn payments_of_order(&self, order: &OrderId) -> Result<Vec<Payment>, StoreError>;
    /// Open payments of unpaid orders whose hold ends at or before `before`.
    async fn open_payments_due(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Payment>, StoreError>;
    /// An order's money ledger, in the order it was written.
    async fn money_ledger(&self, order: &OrderId) -> Result<Vec<MoneyLine>, StoreError>;
    /// A provider's money lines written in `[from, to)`.
    async fn money_lines_between(
        &self,
        provider: PaymentProvider,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<MoneyLine>, StoreError>;
    async fn get_refund(&self, id: &RefundId) -> Result<Option<Refund>, StoreError>;
    async fn refunds_of_order(&self, order: &OrderId) -> Result<Vec<Refund>, StoreError>;
    /// Refunds not yet in a final state, oldest first.
    async fn unfinished_refunds(&self, limit: u32) -> Result<Vec<Refund>, StoreError>;
    async fn record_security_event(&self, event: &SecurityEvent) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_security_events(&self, limit: u32) -> Result<Vec<SecurityEvent>, StoreError>;
    /// Saves a report, replacing an earlier run for the same provider and day.
    async fn save_reconciliation(&self, report: &ReconciliationReport) -> Result<(), StoreError>;
    async fn get_reconciliation(
        &self,
        provider: PaymentProvider,
        day: Date,
    ) -> Result<Option<ReconciliationReport>, StoreError>;
}
