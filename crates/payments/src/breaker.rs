//! A circuit breaker around each payment provider: [`Guarded`] wraps any
//! [`PaymentGateway`] and counts its calls. When the provider keeps failing to answer (not when
//! it answers "no"), the breaker opens and calls fail at once with "unavailable" for a few
//! seconds instead of each waiting for its own timeout; then one probe call decides whether it
//! closes. Verifying notifications is local work and never refused.

use async_trait::async_trait;
use gatehouse_domain::breaker::{BreakerPolicy, GuardedCalls};
use gatehouse_domain::payment::{PaymentChannel, PaymentId, PaymentProvider, RefundId};
use gatehouse_domain::payment_gateway::{
    BillLine, CheckoutRequest, GatewayError, Notification, NotificationRefused, PaymentGateway,
    ProviderTrade, RefundAsk, RefundOutcome,
};
use jiff::civil::Date;
use jiff::Timestamp;

/// A provider behind a circuit breaker.
pub struct Guarded {
    inner: std::sync::Arc<dyn PaymentGateway>,
    calls: GuardedCalls,
}

impl Guarded {
    pub fn new(inner: std::sync::Arc<dyn PaymentGateway>, policy: BreakerPolicy) -> Self {
        let calls = GuardedCalls::new(inner.provider().as_str(), policy);
        Self { inner, calls }
    }

    /// Runs one provider call through the breaker.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        // A provider that answered "no" is working; only failures to answer count.
        let failed =
            |r: &Result<T, GatewayError>| matches!(r, Err(GatewayError::Unavailable { .. }));
        self.calls.run(call, failed).await.unwrap_or_else(|open| {
            Err(GatewayError::Unavailable {
                provider: self.inner.provider().as_str(),
                reason: format!(
                    "circuit open after repeated failures; try again in {} s",
                    open.retry_after.as_secs().max(1)
                ),
            })
        })
    }
}

#[async_trait]
impl PaymentGateway for Guarded {
    fn provider(&self) -> PaymentProvider {
        self.inner.provider()
    }

    async fn create(&self, req: &CheckoutRequest) -> Result<String, GatewayError> {
        self.call(self.inner.create(req)).await
    }

    fn client_params(
        &self,
        channel: PaymentChannel,
        checkout: &str,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>, GatewayError> {
        self.inner.client_params(channel, checkout, now)
    }

    async fn query(&self, payment: &PaymentId) -> Result<ProviderTrade, GatewayError> {
        self.call(self.inner.query(payment)).await
    }

    async fn close(&self, payment: &PaymentId) -> Result<(), GatewayError> {
        self.call(self.inner.close(payment)).await
    }

    async fn refund(&self, ask: &RefundAsk) -> Result<RefundOutcome, GatewayError> {
        self.call(self.inner.refund(ask)).await
    }

    async fn query_refund(
        &self,
        refund: &RefundId,
        payment: &PaymentId,
    ) -> Result<RefundOutcome, GatewayError> {
        self.call(self.inner.query_refund(refund, payment)).await
    }

    async fn bill(&self, day: Date) -> Result<Vec<BillLine>, GatewayError> {
        self.call(self.inner.bill(day)).await
    }

    fn verify_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notification, NotificationRefused> {
        self.inner.verify_notification(headers, body, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// A provider that cannot be reached, counting the calls that got to it.
    struct Down(AtomicU32);

    #[async_trait]
    impl PaymentGateway for Down {
        fn provider(&self) -> PaymentProvider {
            PaymentProvider::WeChatPay
        }
        async fn create(&self, _: &CheckoutRequest) -> Result<String, GatewayError> {
            unreachable_call()
        }
        fn client_params(
            &self,
            _: PaymentChannel,
            _: &str,
            _: Timestamp,
        ) -> Result<Vec<(String, String)>, GatewayError> {
            Ok(Vec::new())
        }
        async fn query(&self, _: &PaymentId) -> Result<ProviderTrade, GatewayError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Err(GatewayError::Unavailable {
                provider: "wechat_pay",
                reason: "connection refused".into(),
            })
        }
        async fn close(&self, _: &PaymentId) -> Result<(), GatewayError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Err(GatewayError::Refused {
                provider: "wechat_pay",
                code: "ORDERPAID".into(),
                message: "paid".into(),
            })
        }
        async fn refund(&self, _: &RefundAsk) -> Result<RefundOutcome, GatewayError> {
            unreachable_call()
        }
        async fn query_refund(
            &self,
            _: &RefundId,
            _: &PaymentId,
        ) -> Result<RefundOutcome, GatewayError> {
            unreachable_call()
        }
        async fn bill(&self, _: Date) -> Result<Vec<BillLine>, GatewayError> {
            unreachable_call()
        }
        fn verify_notification(
            &self,
            _: &[(String, String)],
            _: &[u8],
            _: Timestamp,
        ) -> Result<Notification, NotificationRefused> {
            Ok(Notification::Ignored)
        }
    }

    fn unreachable_call<T>() -> Result<T, GatewayError> {
        panic!("not called in these tests")
    }

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            min_calls: 5,
            open_for: Duration::from_millis(200),
            ..BreakerPolicy::default()
        }
    }

    #[tokio::test]
    async fn a_provider_that_keeps_failing_is_not_called_until_the_probe() {
        let down = Arc::new(Down(AtomicU32::new(0)));
        let guarded = Guarded::new(down.clone(), policy());
        let p = PaymentId("p1".into());
        for _ in 0..5 {
            assert!(guarded.query(&p).await.is_err());
        }
        assert_eq!(down.0.load(Ordering::Relaxed), 5);
        for _ in 0..100 {
            match guarded.query(&p).await {
                Err(GatewayError::Unavailable { reason, .. }) => {
                    assert!(reason.contains("circuit open"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            down.0.load(Ordering::Relaxed),
            5,
            "refused without calling the provider"
        );
        // After open_for one probe goes through (and fails: open again).
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(guarded.query(&p).await.is_err());
        assert!(guarded.query(&p).await.is_err());
        assert_eq!(down.0.load(Ordering::Relaxed), 6, "one probe");
        // Notifications are verified whatever the breaker says.
        assert_eq!(
            guarded.verify_notification(&[], b"", Timestamp::UNIX_EPOCH),
            Ok(Notification::Ignored)
        );
    }

    #[tokio::test]
    async fn a_provider_saying_no_is_a_working_provider() {
        let down = Arc::new(Down(AtomicU32::new(0)));
        let guarded = Guarded::new(down.clone(), policy());
        for _ in 0..50 {
            assert!(matches!(
                guarded.close(&PaymentId("p".into())).await,
                Err(GatewayError::Refused { .. })
            ));
        }
        assert_eq!(down.0.load(Ordering::Relaxed), 50, "never opened");
    }
}
