//! Provider notifications: verified by the provider's adapter, then applied by the rules of
//! [`decide_paid`]. A notification that repeats changes nothing; a forged, replayed or
//! mismatched one changes nothing and is raised as a security event.

use gatehouse_domain::order::OrderState;
use gatehouse_domain::payment::{
    decide_paid, Movement, PaidDecision, PaidNotice, PaymentProvider, Refund, RefundCause,
    RefundId, RefundState,
};
use gatehouse_domain::payment_gateway::{Notification, NotificationRefused};
use gatehouse_domain::store::{LedgerWrite, MoneyWrite};
use gatehouse_domain::BookingError;

use crate::{new_id, paid_by, PaymentError, PaymentService};

/// What a paid notice did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidOutcome {
    Confirmed,
    /// Seen before: nothing changed.
    Repeated,
    /// Taken and refunded in full (late or double payment).
    Refunded,
}

fn source(provider: PaymentProvider) -> &'static str {
    match provider {
        PaymentProvider::WeChatPay => "wechat_pay_notify",
        PaymentProvider::Alipay => "alipay_notify",
    }
}

impl PaymentService {
    /// Verifies and applies a notification as the provider sent it (`headers` with lower-case
    /// names). Ok means the provider may stop resending it.
    pub async fn notify(
        &self,
        provider: PaymentProvider,
        headers: &[(String, String)],
        body: &[u8],
        ip: Option<String>,
    ) -> Result<(), PaymentError> {
        let gateway = self.gateway(provider)?;
        match gateway.verify_notification(headers, body, self.clock.now()) {
            Ok(Notification::Paid(notice)) => {
                self.apply_paid(provider, &notice, ip).await.map(|_| ())
            }
            Ok(Notification::Refund { refund_id, outcome }) => self
                .apply_refund_outcome(&refund_id, outcome)
                .await
                .map(|_| ()),
            Ok(Notification::Ignored) => Ok(()),
            Err(refused) => {
                let kind = match refused {
                    NotificationRefused::Forged => Some("payment_notification_forged"),
                    NotificationRefused::Stale => Some("payment_notification_replayed"),
                    NotificationRefused::Malformed(_) => None,
                };
                if let Some(kind) = kind {
                    let detail = format!("{} bytes refused: {refused}", body.len());
                    self.security_event(kind, source(provider), detail, ip)
                        .await;
                }
                Err(refused.into())
            }
        }
    }

    /// Applies what a provider says was paid (from a notification or a query).
    pub async fn apply_paid(
        &self,
        provider: PaymentProvider,
        notice: &PaidNotice,
        ip: Option<String>,
    ) -> Result<PaidOutcome, PaymentError> {
        let found = self
            .store
            .get_payment(&notice.payment_id)
            .await
            .map_err(|e| self.store_error(e))?
            .filter(|p| p.provider == provider);
        let Some(first_look) = found else {
            return self
                .mismatch(provider, notice, "unknown payment".into(), ip)
                .await;
        };
        let _guard = self.booking.order_lock(&first_look.order_id).lock().await;
        // Read again under the order's lock: a copy of this notice may have just been applied.
        let payment = self
            .store
            .get_payment(&notice.payment_id)
            .await
            .map_err(|e| self.store_error(e))?;
        let order = self
            .booking
            .order(&first_look.order_id)
            .await?
            .ok_or(BookingError::NotFound { what: "order" })?;
        let ledger = if order.state == OrderState::PendingPayment {
            Vec::new()
        } else {
            self.store
                .money_ledger(&order.id)
                .await
                .map_err(|e| self.store_error(e))?
        };
        let paid = paid_by(&ledger)
            .filter(|_| matches!(order.state, OrderState::Confirmed | OrderState::Refunded));
        let now = self.clock.now();
        let decision = decide_paid(payment.as_ref(), order.state, paid.as_ref(), notice);
        let taken = || {
            vec![
                LedgerWrite::Money(MoneyWrite::PaymentPaid {
                    payment: notice.payment_id.clone(),
                    provider_txn: notice.provider_txn.clone(),
                }),
                LedgerWrite::Money(MoneyWrite::Line {
                    order_id: order.id.clone(),
                    movement: Movement::Charge {
                        payment: notice.payment_id.clone(),
                        amount_fen: notice.amount_fen,
                    },
                    reference: notice.provider_txn.clone(),
                    at: notice.paid_at.unwrap_or(now),
                }),
            ]
        };
        let cause = match decision {
            PaidDecision::Refuse(why) => {
                drop(_guard);
                return self
                    .mismatch(provider, notice, format!("{why:?}"), ip)
                    .await;
            }
            PaidDecision::AlreadyApplied => return Ok(PaidOutcome::Repeated),
            PaidDecision::Confirm => {
                self.booking
                    .confirm_paid(&order, format!("paid via {}", provider.as_str()), taken())
                    .await?;
                return Ok(PaidOutcome::Confirmed);
            }
            PaidDecision::RefundDuplicate => RefundCause::DuplicatePayment,
            PaidDecision::RefundLate => RefundCause::LatePayment,
        };
        let refund = Refund {
            id: RefundId(new_id()),
            order_id: order.id.clone(),
            payment_id: notice.payment_id.clone(),
            provider,
            amount_fen: notice.amount_fen,
            cause,
            reason: match cause {
                RefundCause::DuplicatePayment => "the order was already paid".into(),
                _ => format!("paid after the order was {}", order.state.as_str()),
            },
            state: RefundState::Requested,
            provider_refund_id: None,
            created_at: now,
            finished_at: None,
        };
        let mut unit = taken();
        unit.push(LedgerWrite::Money(MoneyWrite::OpenRefund(refund.clone())));
        unit.push(LedgerWrite::Money(MoneyWrite::Line {
            order_id: order.id.clone(),
            movement: Movement::Refund {
                payment: notice.payment_id.clone(),
                amount_fen: notice.amount_fen,
            },
            reference: refund.id.0.clone(),
            at: now,
        }));
        self.booking.commit_money(unit).await?;
        drop(_guard);
        tracing::info!(order = %order.id.0, cause = cause.as_str(), "payment taken and refunded");
        // Durable now: the provider is asked at once, and again by housekeeping if this fails.
        if let Err(e) = self.drive_refund(&refund).await {
            tracing::warn!(refund = %refund.id.0, error = %e, "refund not yet accepted; will retry");
        }
        Ok(PaidOutcome::Refunded)
    }

    async fn mismatch<T>(
        &self,
        provider: PaymentProvider,
        notice: &PaidNotice,
        why: String,
        ip: Option<String>,
    ) -> Result<T, PaymentError> {
        let detail = format!(
            "payment {} transaction {} amount {} fen: {why}",
            notice.payment_id.0, notice.provider_txn, notice.amount_fen
        );
        self.security_event(
            "payment_notification_mismatch",
            source(provider),
            detail,
            ip,
        )
        .await;
        Err(PaymentError::Mismatch(why))
    }
}
