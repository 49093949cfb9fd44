//! The risk engine's records as stored: every decision with its reasons (for audit and for
//! replaying another policy over what was decided), the policies staff loaded (each version
//! kept, one live and at most one in shadow), and the metered assessments per node. The engine
//! itself is `gatehouse-risk`; its service keeps these through [`RiskStore`].
//!
//! A decision names the account it was about, never the person's phone, ID number or address:
//! what the engine saw of them were keyed MACs, and only the features' numbers are kept.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::order::AccountId;
use crate::store::StoreError;

/// A decision to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRiskDecision {
    pub at: Timestamp,
    /// `fraud`, `marketing_abuse`, `scalping`, `order_brushing` or `bad_debt`.
    pub scenario: String,
    /// `sign_in`, `join_queue`, `book`, `pay`, `refund` or `check_in`.
    pub event: String,
    /// Who asked: `api` (the assessment endpoint) or the path that acted on it (`booking`, …).
    pub source: String,
    pub account: Option<AccountId>,
    /// `pass`, `challenge`, `review` or `reject`.
    pub level: String,
    pub score: u8,
    pub policy_version: u32,
    /// The matched rules with their conditions' features and values (JSON).
    pub reasons: String,
    /// What the shadow policy said (JSON: version, level, score, rules), when one ran.
    pub shadow: Option<String>,
    /// The features' values the decision was made on (JSON object of name to number): what a
    /// replay judges again.
    pub features: String,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskDecision {
    pub id: i64,
    pub decision: NewRiskDecision,
}

/// Which decisions to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionFilter {
    pub account: Option<AccountId>,
    pub scenario: Option<String>,
    pub level: Option<String>,
    /// Only decisions with an id below this one (paging backwards).
    pub before: Option<i64>,
    pub since: Option<Timestamp>,
    pub limit: u32,
}

/// A policy as loaded by staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRiskPolicy {
    pub version: u32,
    pub text: String,
    pub loaded_by: AccountId,
    pub loaded_at: Timestamp,
}

/// Which versions run: the live one, and the one in shadow beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskPolicyRoles {
    pub live: Option<u32>,
    pub shadow: Option<u32>,
}

/// Metered assessments, by the level answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskUsage {
    pub pass: u64,
    pub challenge: u64,
    pub review: u64,
    pub reject: u64,
}

impl RiskUsage {
    /// Every assessment counted.
    pub fn calls(&self) -> u64 {
        self.pass + self.challenge + self.review + self.reject
    }
}

#[async_trait]
pub trait RiskStore: Send + Sync + 'static {
    /// Records decisions, all or none, in one transaction.
    async fn record_decisions(&self, decisions: &[NewRiskDecision]) -> Result<(), StoreError>;
    /// Decisions matching `filter`, newest first.
    async fn risk_decisions(
        &self,
        filter: &DecisionFilter,
    ) -> Result<Vec<RiskDecision>, StoreError>;
    /// Keeps a policy version; `Conflict` if that version exists.
    async fn save_risk_policy(&self, policy: &StoredRiskPolicy) -> Result<(), StoreError>;
    async fn risk_policy(&self, version: u32) -> Result<Option<StoredRiskPolicy>, StoreError>;
    /// Every kept version, newest first, without their texts' bodies changed.
    async fn risk_policies(&self) -> Result<Vec<StoredRiskPolicy>, StoreError>;
    /// Sets which versions run. The live version never goes back: one below the stored live
    /// version is refused with `Conflict`, whichever node asks (the same one may stay while
    /// the shadow changes).
    async fn set_risk_policy_roles(
        &self,
        roles: RiskPolicyRoles,
        by: AccountId,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn risk_policy_roles(&self) -> Result<RiskPolicyRoles, StoreError>;
    /// Saves one node's counters as absolute totals (a repeat or late save lowers nothing).
    async fn save_risk_usage(
        &self,
        node: &str,
        usage: &RiskUsage,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Every node's counters added up.
    async fn risk_usage(&self) -> Result<RiskUsage, StoreError>;
}
