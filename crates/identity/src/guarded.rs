//! Circuit breakers around the identity providers: the face-verification provider and the
//! sign-in providers (Alipay, WeChat) are each wrapped when registered. When a provider keeps
//! failing to answer (not when it answers "no"), calls fail at once as unavailable for a few
//! seconds instead of each waiting out its timeout; then one probe decides.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::breaker::{BreakerOpen, BreakerPolicy, GuardedCalls};

use crate::external::{ExternalIdentity, ProviderFailure};
use crate::face::{FaceOutcome, FaceProvider, FaceStart, FaceStarted};

/// Runs one provider call through `calls`: only "did not answer" counts as a failure, and an
/// open breaker answers as the provider being unavailable.
async fn guarded<T>(
    calls: &GuardedCalls,
    call: impl Future<Output = Result<T, ProviderFailure>>,
) -> Result<T, ProviderFailure> {
    let failed = |r: &Result<T, ProviderFailure>| matches!(r, Err(ProviderFailure::Unavailable(_)));
    calls
        .run(call, failed)
        .await
        .unwrap_or_else(|open: BreakerOpen| {
            Err(ProviderFailure::Unavailable(format!(
                "circuit open after repeated failures; try again in {} s",
                open.retry_after.as_secs().max(1)
            )))
        })
}

/// A face-verification provider behind a breaker.
pub(crate) struct GuardedFace {
    inner: Arc<dyn FaceProvider>,
    calls: GuardedCalls,
}

impl GuardedFace {
    pub(crate) fn new(inner: Arc<dyn FaceProvider>, policy: BreakerPolicy) -> Self {
        let calls = GuardedCalls::new(inner.name(), policy);
        Self { inner, calls }
    }
}

#[async_trait]
impl FaceProvider for GuardedFace {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn start(&self, request: FaceStart<'_>) -> Result<FaceStarted, ProviderFailure> {
        guarded(&self.calls, self.inner.start(request)).await
    }

    async fn outcome(&self, certify_id: &str) -> Result<FaceOutcome, ProviderFailure> {
        guarded(&self.calls, self.inner.outcome(certify_id)).await
    }
}

/// A sign-in provider behind a breaker.
pub(crate) struct GuardedExternal {
    inner: Arc<dyn ExternalIdentity>,
    calls: GuardedCalls,
}

impl GuardedExternal {
    pub(crate) fn new(inner: Arc<dyn ExternalIdentity>, policy: BreakerPolicy) -> Self {
        let calls = GuardedCalls::new(inner.provider(), policy);
        Self { inner, calls }
    }
}

#[async_trait]
impl ExternalIdentity for GuardedExternal {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    async fn subject_for_code(&self, code: &str) -> Result<String, ProviderFailure> {
        guarded(&self.calls, self.inner.subject_for_code(code)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// A face provider that is down, or that refuses, counting the calls that reached it.
    struct Provider {
        calls: AtomicU32,
        down: bool,
    }

    #[async_trait]
    impl FaceProvider for Provider {
        fn name(&self) -> &'static str {
            "face verification"
        }
        async fn start(&self, _: FaceStart<'_>) -> Result<FaceStarted, ProviderFailure> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            Err(if self.down {
                ProviderFailure::Unavailable("connection refused".into())
            } else {
                ProviderFailure::Refused("401 name and number do not match".into())
            })
        }
        async fn outcome(&self, _: &str) -> Result<FaceOutcome, ProviderFailure> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            Ok(FaceOutcome::Passed {
                sub_code: "200".into(),
            })
        }
    }

    fn request() -> FaceStart<'static> {
        FaceStart {
            outer_order_no: "o",
            cert_name: "张三",
            cert_no: "110101199003070011",
            return_url: "https://museum.example/back",
            callback_url: "https://museum.example/cb",
            callback_token: "t",
        }
    }

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            min_calls: 5,
            open_for: Duration::from_millis(200),
            ..BreakerPolicy::default()
        }
    }

    #[tokio::test]
    async fn a_provider_that_is_down_is_not_called_until_the_breaker_probes_it() {
        let provider = Arc::new(Provider {
            calls: AtomicU32::new(0),
            down: true,
        });
        let guarded = GuardedFace::new(provider.clone(), policy());
        for _ in 0..5 {
            assert!(guarded.start(request()).await.is_err());
        }
        assert_eq!(provider.calls.load(Ordering::Relaxed), 5);
        for _ in 0..100 {
            let e = guarded.start(request()).await.unwrap_err();
            assert!(matches!(e, ProviderFailure::Unavailable(m) if m.contains("circuit open")));
        }
        assert_eq!(provider.calls.load(Ordering::Relaxed), 5, "refused at once");
        tokio::time::sleep(Duration::from_millis(250)).await;
        // The probe reaches the provider; it answers, so the breaker closes.
        assert!(guarded.outcome("c").await.is_ok());
        assert_eq!(provider.calls.load(Ordering::Relaxed), 6);
        assert!(guarded.outcome("c").await.is_ok());
    }

    #[tokio::test]
    async fn a_provider_that_says_no_is_working() {
        let provider = Arc::new(Provider {
            calls: AtomicU32::new(0),
            down: false,
        });
        let guarded = GuardedFace::new(provider.clone(), policy());
        for _ in 0..50 {
            let e = guarded.start(request()).await.unwrap_err();
            assert!(matches!(e, ProviderFailure::Refused(_)));
        }
        assert_eq!(provider.calls.load(Ordering::Relaxed), 50);
    }
}
