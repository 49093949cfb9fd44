//! Refunds: tickets refunded with the money they cost (by the visitor within the product's
//! rules, or by staff with a reason), and every refund driven to its final state through the
//! provider's answers, notifications and queries.

use gatehouse_booking::OrderDetails;
use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_domain::payment::{
    check_refund, Movement, Refund, RefundCause, RefundId, RefundState,
};
use gatehouse_domain::payment_gateway::{GatewayError, RefundAsk, RefundOutcome};
use gatehouse_domain::store::{Account, LedgerWrite, MoneyWrite};
use gatehouse_domain::BookingError;

use crate::{new_id, paid_by, PaymentError, PaymentService};

impl PaymentService {
    /// Refunds tickets of a paid order; their stock returns and their price goes back through
    /// the provider that took it. Staff (refunding someone else's order) must give a reason.
    pub async fn refund_tickets(
        &self,
        account: &Account,
        order_id: &OrderId,
        ticket_ids: &[TicketId],
        reason: Option<&str>,
    ) -> Result<OrderDetails, PaymentError> {
        let ledger = self
            .store
            .money_ledger(order_id)
            .await
            .map_err(|e| self.store_error(e))?;
        let now = self.clock.now();
        let mut requested: Option<Refund> = None;
        let details = self
            .booking
            .refund_tickets(account, order_id, ticket_ids, reason, |order, tickets| {
                let by_staff = order.account_id != account.id;
                if by_staff && reason.is_none_or(|r| r.trim().is_empty()) {
                    return Err(BookingError::invalid(
                        "reason",
                        "staff must say why they refund",
                    ));
                }
                let amount: u64 = tickets.iter().map(|t| u64::from(t.price_fen)).sum();
                if amount == 0 {
                    return Ok(Vec::new());
                }
                let Some(payment) = paid_by(&ledger) else {
                    return Err(BookingError::InvalidState {
                        state: "unpaid",
                        action: "refunded",
                    });
                };
                check_refund(
                    &ledger
                        .iter()
                        .map(|l| l.movement.clone())
                        .collect::<Vec<_>>(),
                    &payment,
                    amount,
                )
                .map_err(|e| BookingError::invalid("ticket_ids", e.to_string()))?;
                let refund = Refund {
                    id: RefundId(new_id()),
                    order_id: order.id.clone(),
                    payment_id: payment.clone(),
                    provider: ledger
                        .iter()
                        .find(|l| *l.movement.payment() == payment)
                        .map(|l| l.provider)
                        .ok_or(BookingError::Unavailable)?,
                    amount_fen: amount,
                    cause: if by_staff {
                        RefundCause::Staff
                    } else {
                        RefundCause::Visitor
                    },
                    reason: reason.unwrap_or("refunded by the visitor").to_owned(),
                    state: RefundState::Requested,
                    provider_refund_id: None,
                    created_at: now,
                    finished_at: None,
                };
                let writes = vec![
                    LedgerWrite::Money(MoneyWrite::OpenRefund(refund.clone())),
                    LedgerWrite::Money(MoneyWrite::Line {
                        order_id: order.id.clone(),
                        movement: Movement::Refund {
                            payment,
                            amount_fen: amount,
                        },
                        reference: refund.id.0.clone(),
                        at: now,
                    }),
                ];
                requested = Some(refund);
                Ok(writes)
            })
            .await?;
        if let Some(refund) = requested {
            if let Err(e) = self.drive_refund(&refund).await {
                tracing::warn!(refund = %refund.id.0, error = %e, "refund not yet accepted; will retry");
            }
        }
        Ok(details)
    }

    /// Moves a refund on: asks the provider to refund (again, with the same refund number, if
    /// an earlier ask was lost) or asks where it stands. Returns the state it is in now.
    pub async fn drive_refund(&self, refund: &Refund) -> Result<RefundState, PaymentError> {
        let gateway = self.gateway(refund.provider)?;
        let outcome = match refund.state {
            RefundState::Requested => {
                let payment = self
                    .store
                    .get_payment(&refund.payment_id)
                    .await
                    .map_err(|e| self.store_error(e))?
                    .ok_or(BookingError::NotFound { what: "payment" })?;
                let ask = RefundAsk {
                    refund_id: refund.id.clone(),
                    payment_id: payment.id.clone(),
                    provider_txn: payment.provider_txn.clone().unwrap_or_default(),
                    refund_fen: refund.amount_fen,
                    total_fen: payment.amount_fen,
                    reason: refund.reason.clone(),
                };
                gateway.refund(&ask).await
            }
            RefundState::Processing => gateway.query_refund(&refund.id, &refund.payment_id).await,
            done => return Ok(done),
        };
        let outcome = match outcome {
            Ok(o) => o,
            // The provider said no: retrying the same ask will not change its mind; staff must.
            Err(GatewayError::Refused { code, message, .. }) => {
                tracing::error!(refund = %refund.id.0, code = %code, message = %message, "provider refused a refund");
                RefundOutcome::Abnormal {
                    provider_refund_id: String::new(),
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.apply_refund_outcome(&refund.id, outcome).await
    }

    /// Records what the provider says of a refund. Idempotent; a final state is never left.
    pub async fn apply_refund_outcome(
        &self,
        id: &RefundId,
        outcome: RefundOutcome,
    ) -> Result<RefundState, PaymentError> {
        let (to, provider_refund_id) = match outcome {
            RefundOutcome::Processing { provider_refund_id } => {
                (RefundState::Processing, provider_refund_id)
            }
            RefundOutcome::Succeeded { provider_refund_id } => {
                (RefundState::Succeeded, provider_refund_id)
            }
            RefundOutcome::Abnormal { provider_refund_id } => {
                (RefundState::Abnormal, provider_refund_id)
            }
        };
        let Some(first_look) = self
            .store
            .get_refund(id)
            .await
            .map_err(|e| self.store_error(e))?
        else {
            return Err(PaymentError::Mismatch(format!("unknown refund {}", id.0)));
        };
        let _guard = self.booking.order_lock(&first_look.order_id).lock().await;
        let refund = self
            .store
            .get_refund(id)
            .await
            .map_err(|e| self.store_error(e))?
            .unwrap_or(first_look);
        if refund.state == to || refund.state.is_final() {
            return Ok(refund.state);
        }
        self.booking
            .commit_money(vec![LedgerWrite::Money(MoneyWrite::RefundMoved {
                refund: refund.id.clone(),
                from: refund.state,
                to,
                provider_refund_id: (!provider_refund_id.is_empty()).then_some(provider_refund_id),
                at: self.clock.now(),
            })])
            .await?;
        if to == RefundState::Abnormal {
            tracing::error!(refund = %refund.id.0, "refund abnormal: staff must return the money by hand");
        }
        Ok(to)
    }
}
