//! Housekeeping: before an unpaid order's hold runs out its open payments are queried at the
//! provider (a lost notification must not cost the visitor the tickets they paid for) and then
//! closed; unfinished refunds are driven on; the booking service expires what is due; and once
//! a day each provider's bill of the day before is reconciled.

use std::sync::Arc;

use gatehouse_domain::payment::{PaymentId, PaymentProvider};
use gatehouse_domain::payment_gateway::ProviderTrade;
use gatehouse_domain::reconcile::{reconcile, ReconciliationReport};
use gatehouse_domain::store::{LedgerWrite, MoneyWrite};
use jiff::civil::Date;
use jiff::Timestamp;

use crate::{PaymentError, PaymentService};

/// What one round of housekeeping did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Payments found paid by a query (their notification never came).
    pub paid_by_query: usize,
    pub payments_closed: usize,
    pub refunds_moved: usize,
    pub holds_expired: usize,
    pub reconciled: usize,
}

impl PaymentService {
    /// One round of housekeeping at the clock's now.
    pub async fn tick(&self) -> TickReport {
        let now = self.clock.now();
        let mut report = TickReport::default();
        if let Err(e) = self.settle_due_payments(now, &mut report).await {
            tracing::warn!(error = %e, "settling due payments failed; will retry");
        }
        match self.store.unfinished_refunds(200).await {
            Ok(refunds) => {
                for r in refunds {
                    match self.drive_refund(&r).await {
                        Ok(state) if state != r.state => report.refunds_moved += 1,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(refund = %r.id.0, error = %e, "refund still pending")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list unfinished refunds"),
        }
        report.holds_expired = self.booking.tick().await;
        report.reconciled = self.reconcile_due(now).await;
        report
    }

    async fn settle_due_payments(
        &self,
        now: Timestamp,
        report: &mut TickReport,
    ) -> Result<(), PaymentError> {
        let due = self
            .store
            .open_payments_due(now + self.config.query_lead, 200)
            .await
            .map_err(|e| self.store_error(e))?;
        for payment in due {
            let gateway = self.gateway(payment.provider)?;
            let trade = match gateway.query(&payment.id).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(payment = %payment.id.0, error = %e, "payment query failed");
                    continue;
                }
            };
            match trade {
                ProviderTrade::Paid(notice) => {
                    match self.apply_paid(payment.provider, &notice, None).await {
                        Ok(_) => report.paid_by_query += 1,
                        Err(e) => {
                            tracing::warn!(payment = %payment.id.0, error = %e, "queried payment not applied")
                        }
                    }
                }
                ProviderTrade::NotPaid | ProviderTrade::Closed => {
                    let hold_over = self
                        .booking
                        .order(&payment.order_id)
                        .await?
                        .is_some_and(|o| o.is_expired_hold(now));
                    if !hold_over {
                        continue;
                    }
                    if trade == ProviderTrade::NotPaid {
                        if let Err(e) = gateway.close(&payment.id).await {
                            // Perhaps paid this very moment: the next query will tell.
                            tracing::warn!(payment = %payment.id.0, error = %e, "payment not closed");
                            continue;
                        }
                    }
                    self.mark_closed(&payment.id).await?;
                    report.payments_closed += 1;
                }
            }
        }
        Ok(())
    }

    /// Cancels an unpaid order (see [`gatehouse_booking::BookingService::cancel_order`]) and
    /// closes its open payments at their providers, so none can be paid afterwards. A payment
    /// the provider will not close (paid this moment) is refunded when its notice arrives.
    pub async fn cancel_order(
        &self,
        account: &gatehouse_domain::store::Account,
        id: &gatehouse_domain::order::OrderId,
    ) -> Result<gatehouse_booking::OrderDetails, PaymentError> {
        let details = self.booking.cancel_order(account, id).await?;
        let open = self
            .store
            .payments_of_order(id)
            .await
            .map_err(|e| self.store_error(e))?
            .into_iter()
            .filter(|p| p.state == gatehouse_domain::payment::PaymentState::Open);
        for payment in open {
            let closed = match self.gateway(payment.provider) {
                Ok(g) => g.close(&payment.id).await,
                Err(_) => continue,
            };
            match closed {
                Ok(()) => self.mark_closed(&payment.id).await?,
                Err(e) => {
                    tracing::warn!(payment = %payment.id.0, error = %e, "payment of a cancelled order not closed")
                }
            }
        }
        Ok(details)
    }

    async fn mark_closed(&self, id: &PaymentId) -> Result<(), PaymentError> {
        match self
            .booking
            .commit_money(vec![LedgerWrite::Money(MoneyWrite::PaymentClosed {
                payment: id.clone(),
            })])
            .await
        {
            // Paid or closed meanwhile: nothing left to close.
            Err(gatehouse_domain::BookingError::InvalidState { .. }) => Ok(()),
            other => other.map_err(Into::into),
        }
    }

    /// Reconciles yesterday (Beijing time) for every provider without a report yet, once the
    /// configured time of day has passed. Returns how many reports were made.
    async fn reconcile_due(&self, now: Timestamp) -> usize {
        let here = now.to_zoned(gatehouse_domain::payment::provider_time_zone());
        if here.time() < self.config.reconcile_at {
            return 0;
        }
        let Ok(yesterday) = here.date().yesterday() else {
            return 0;
        };
        let mut made = 0;
        for provider in self.providers() {
            match self.store.get_reconciliation(provider, yesterday).await {
                Ok(Some(_)) => {}
                Ok(None) => match self.reconcile(provider, yesterday).await {
                    Ok(_) => made += 1,
                    Err(e) => {
                        tracing::warn!(provider = provider.as_str(), error = %e, "reconciliation failed; will retry")
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot read reconciliation reports"),
            }
        }
        made
    }

    /// Downloads `provider`'s bill of `day`, matches it with the money ledger of that day and
    /// stores the report (replacing an earlier run).
    pub async fn reconcile(
        &self,
        provider: PaymentProvider,
        day: Date,
    ) -> Result<ReconciliationReport, PaymentError> {
        let gateway = self.gateway(provider)?;
        let bill = gateway.bill(day).await?;
        let tz = gatehouse_domain::payment::provider_time_zone();
        let bad_day = |_| PaymentError::invalid("day", "is out of range");
        let from = day.to_zoned(tz.clone()).map_err(bad_day)?.timestamp();
        let to = day
            .tomorrow()
            .map_err(bad_day)?
            .to_zoned(tz)
            .map_err(bad_day)?
            .timestamp();
        let ledger = self
            .store
            .money_lines_between(provider, from, to)
            .await
            .map_err(|e| self.store_error(e))?;
        let report = reconcile(provider, day, self.clock.now(), &ledger, &bill);
        self.store
            .save_reconciliation(&report)
            .await
            .map_err(|e| self.store_error(e))?;
        if !report.differences.is_empty() {
            tracing::warn!(provider = provider.as_str(), day = %day, differences = report.differences.len(), "reconciliation found differences");
        }
        Ok(report)
    }

    /// A stored reconciliation report.
    pub async fn reconciliation(
        &self,
        provider: PaymentProvider,
        day: Date,
    ) -> Result<Option<ReconciliationReport>, PaymentError> {
        self.store
            .get_reconciliation(provider, day)
            .await
            .map_err(|e| self.store_error(e))
    }

    /// Runs [`PaymentService::tick`] (which includes the booking service's) every `every` until
    /// the service is dropped.
    pub fn spawn_housekeeping(self: &Arc<Self>, every: std::time::Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(service) = weak.upgrade() else { break };
                service.tick().await;
            }
        });
    }
}
