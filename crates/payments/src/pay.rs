//! Paying an order: a payment created at the provider the visitor chose, and what the client
//! needs to start paying. Asking again returns the same open payment.

use gatehouse_domain::order::{OrderId, OrderState};
use gatehouse_domain::payment::{Payment, PaymentChannel, PaymentId, PaymentState};
use gatehouse_domain::payment_gateway::CheckoutRequest;
use gatehouse_domain::store::{Account, LedgerWrite, MoneyWrite};
use gatehouse_domain::BookingError;

use crate::{new_id, PaymentError, PaymentService};

/// A payment and what the client pays it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub payment: Payment,
    /// Provider-specific fields for the client (WeChat's `requestPayment` arguments, Alipay's
    /// trade number, QR code or cashier URL).
    pub client: Vec<(String, String)>,
}

/// A payer id at a provider: openids and Alipay user ids are short ASCII tokens.
fn check_payer(channel: PaymentChannel, payer: Option<&str>) -> Result<(), PaymentError> {
    let needed = matches!(
        channel,
        PaymentChannel::WeChatJsapi | PaymentChannel::AlipayMiniProgram
    );
    match payer {
        None | Some("") if needed => Err(PaymentError::invalid(
            "payer",
            "this channel needs the payer's id at the provider",
        )),
        Some(p)
            if p.len() > 128
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Err(PaymentError::invalid(
                "payer",
                "must be at most 128 letters, digits, '_' or '-'",
            ))
        }
        _ => Ok(()),
    }
}

impl PaymentService {
    /// Starts paying `order_id` through `channel`. Only the order's owner pays it.
    pub async fn pay(
        &self,
        account: &Account,
        order_id: &OrderId,
        channel: PaymentChannel,
        payer: Option<&str>,
    ) -> Result<Checkout, PaymentError> {
        check_payer(channel, payer)?;
        let gateway = self.gateway(channel.provider())?;
        let _guard = self.booking.order_lock(order_id).lock().await;
        // Only the owner pays: staff roles do not widen this, and someone else's order is
        // "not found", exactly like an id that does not exist.
        let order = self
            .booking
            .order(order_id)
            .await?
            .filter(|o| o.account_id == account.id)
            .ok_or(BookingError::NotFound { what: "order" })?;
        if order.total_fen == 0 {
            return Err(PaymentError::NothingToPay);
        }
        let now = self.clock.now();
        if order.state != OrderState::PendingPayment || order.is_expired_hold(now) {
            let state = if order.state == OrderState::PendingPayment {
                OrderState::Expired.as_str()
            } else {
                order.state.as_str()
            };
            return Err(BookingError::InvalidState {
                state,
                action: "paid",
            }
            .into());
        }
        let existing = self
            .store
            .payments_of_order(order_id)
            .await
            .map_err(|e| self.store_error(e))?
            .into_iter()
            .find(|p| p.state == PaymentState::Open && p.channel == channel);
        if let Some(payment) = existing {
            if let Some(checkout) = &payment.checkout {
                let client = gateway.client_params(channel, checkout, now)?;
                return Ok(Checkout { payment, client });
            }
        }
        let id = PaymentId(new_id());
        let request = CheckoutRequest {
            payment_id: id.clone(),
            channel,
            amount_fen: order.total_fen,
            description: format!("{} {}", self.config.merchant_name, order.day),
            expires_at: order.expires_at.unwrap_or(now),
            payer: payer.map(str::to_owned),
        };
        // Created at the provider first: the client learns of the payment only after it is
        // recorded here, so nothing can be paid that we do not know.
        let checkout = gateway.create(&request).await?;
        let payment = Payment {
            id,
            order_id: order.id.clone(),
            provider: channel.provider(),
            channel,
            amount_fen: order.total_fen,
            state: PaymentState::Open,
            provider_txn: None,
            checkout: Some(checkout.clone()),
            created_at: now,
        };
        self.booking
            .commit_money(vec![LedgerWrite::Money(MoneyWrite::OpenPayment(
                payment.clone(),
            ))])
            .await?;
        let client = gateway.client_params(channel, &checkout, now)?;
        Ok(Checkout { payment, client })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payer_ids_are_required_where_the_channel_needs_them_and_checked() {
        assert!(check_payer(PaymentChannel::WeChatJsapi, None).is_err());
        assert!(check_payer(PaymentChannel::WeChatJsapi, Some("")).is_err());
        assert!(check_payer(
            PaymentChannel::WeChatJsapi,
            Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
        )
        .is_ok());
        assert!(check_payer(PaymentChannel::AlipayMiniProgram, Some("2088 1")).is_err());
        assert!(check_payer(PaymentChannel::AlipayQr, None).is_ok());
        assert!(check_payer(PaymentChannel::AlipayPage, Some(&"a".repeat(129))).is_err());
    }
}
