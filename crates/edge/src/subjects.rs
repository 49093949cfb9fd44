//! Limits keyed by a person a request names — a phone (sign-in codes) or an ID number
//! (bookings) — which only the route that reads the body can count. The route hands the value
//! over, normalised; the shield blinds it and counts it here, or in Redis when limits are shared
//! (exactly across nodes), falling back to this node's count when Redis does not answer.

use std::sync::Arc;

use gatehouse_shield::KeyKind;

use crate::shared::SharedVerdict;
use crate::Edge;

/// A person over a limit: the limit's name and when to try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many requests for this {kind} ({limit}); try again in {retry_after_secs} s")]
pub struct SubjectLimited {
    pub kind: &'static str,
    pub limit: Arc<str>,
    pub retry_after_secs: u64,
}

impl Edge {
    /// Counts the person `normalised` (of `kind`) named by a `method` request to `path` against
    /// the policy's limits of that kind for the route.
    pub async fn count_subject(
        &self,
        kind: KeyKind,
        method: &str,
        path: &str,
        normalised: &str,
    ) -> Result<(), SubjectLimited> {
        if !self.enabled {
            return Ok(());
        }
        let refused = |limit: Arc<str>, retry_after_us: u64| SubjectLimited {
            kind: kind.as_str(),
            limit,
            retry_after_secs: retry_after_us.div_ceil(1_000_000).max(1),
        };
        let checks = self
            .shield
            .check_subject(kind, method, path, normalised, self.now_us())
            .map_err(|(limit, over)| refused(limit, over.retry_after_us))?;
        if checks.is_empty() {
            return Ok(());
        }
        match self.check_shared(&checks).await {
            SharedVerdict::Allowed => Ok(()),
            SharedVerdict::Over {
                limit,
                retry_after_us,
            } => Err(refused(limit, retry_after_us)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gatehouse_shield::Policy;

    const POLICY: &str = r#"
version = 1
[[limit]]
name = "orders per ID number"
route = "POST /api/v1/orders"
key = "id_number"
burst = 2
per_secs = 60
"#;

    #[tokio::test]
    async fn a_person_is_counted_on_the_routes_the_policy_names() {
        let edge = Edge::new(Policy::from_toml(POLICY).unwrap());
        let count = |id: &'static str, path: &'static str| {
            let edge = edge.clone();
            async move {
                edge.count_subject(KeyKind::IdNumber, "POST", path, id)
                    .await
            }
        };
        let id = "11010119900307001X";
        assert!(count(id, "/api/v1/orders").await.is_ok());
        assert!(count(id, "/api/v1/orders").await.is_ok());
        let refused = count(id, "/api/v1/orders").await.unwrap_err();
        assert_eq!(&*refused.limit, "orders per ID number");
        assert_eq!(refused.kind, "id_number");
        assert!((1..=30).contains(&refused.retry_after_secs));
        // Another person, and another route, are not counted by it.
        assert!(count("110101199003070011", "/api/v1/orders").await.is_ok());
        for _ in 0..5 {
            assert!(count(id, "/api/v1/me/visitors").await.is_ok());
        }
        // A disabled edge counts nothing.
        let off = Edge::disabled();
        for _ in 0..5 {
            assert!(off
                .count_subject(KeyKind::IdNumber, "POST", "/api/v1/orders", id)
                .await
                .is_ok());
        }
    }
}
