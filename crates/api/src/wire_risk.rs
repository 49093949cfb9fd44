//! Wire types of risk control: the assessment asked and answered, recorded decisions, policy
//! versions, replays and usage.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Who acts. Phone, ID numbers, device and payment account are blinded on arrival (a keyed
/// MAC): neither the engine nor the stored decision keeps them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskSubject {
    pub account_id: Option<i64>,
    /// Mainland mobile, 11 digits (`+86` allowed).
    pub phone: Option<String>,
    /// The ID numbers the event names (a booking's visitors), at most 20.
    #[serde(default)]
    pub id_numbers: Vec<String>,
    /// The client's device id (as traffic protection's `X-Device-Id`), at most 128 characters.
    pub device_id: Option<String>,
    pub ip: Option<String>,
    /// The payer's account at the provider (an openid, a buyer id), at most 128 characters.
    pub payment_account: Option<String>,
}

/// What is about to happen, with what the request shows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskEvent {
    /// `sign_in`, `join_queue`, `book`, `pay`, `refund` or `check_in`.
    pub kind: String,
    /// For `book`: tickets in the booking (1 to 50).
    pub tickets: Option<u32>,
    /// Milliseconds from the page being shown to the submit.
    pub ms_page_to_submit: Option<u64>,
    /// Milliseconds from the waiting room's admission to the submit.
    pub ms_admission_to_submit: Option<u64>,
    /// The pages before this one were not visited.
    pub skipped_pages: Option<bool>,
    /// Traffic protection's client consistency check failed.
    pub client_inconsistent: Option<bool>,
    /// When the account was created (RFC 3339).
    pub account_created_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessRequest {
    /// `fraud`, `marketing_abuse`, `scalping`, `order_brushing` or `bad_debt`.
    pub scenario: String,
    #[serde(default)]
    pub subject: RiskSubject,
    pub event: RiskEvent,
}

/// One condition of a matched rule, with the feature's value.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskBecause {
    pub feature: String,
    pub value: Option<f64>,
    pub compare: String,
    pub threshold: f64,
}

/// A rule that matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskReason {
    pub rule: String,
    pub weight: u8,
    pub because: Vec<RiskBecause>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssessResponse {
    pub scenario: String,
    /// `pass`, `challenge`, `review` or `reject`.
    pub level: String,
    /// 0–100.
    pub score: u8,
    pub reasons: Vec<RiskReason>,
    pub policy_version: u32,
}

/// Which decisions to read, newest first.
#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    pub account_id: Option<i64>,
    pub scenario: Option<String>,
    pub level: Option<String>,
    /// Decisions older than this id (the last page's smallest).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResponse {
    pub id: i64,
    pub at: String,
    pub scenario: String,
    pub event: String,
    pub source: String,
    pub account_id: Option<i64>,
    pub level: String,
    pub score: u8,
    pub policy_version: u32,
    #[schema(value_type = Object)]
    pub reasons: Value,
    /// What the shadow policy said, when one ran.
    #[schema(value_type = Object)]
    pub shadow: Option<Value>,
    /// The features' values the decision was made on.
    #[schema(value_type = Object)]
    pub features: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionsResponse {
    pub decisions: Vec<DecisionResponse>,
}

/// A new policy version: the rules file's text (TOML).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadPolicyRequest {
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyVersionResponse {
    pub version: u32,
    pub text: String,
    /// The staff account that loaded it (none for the shipped version 1).
    pub loaded_by: Option<i64>,
    pub loaded_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PoliciesResponse {
    pub live: u32,
    pub shadow: Option<u32>,
    pub versions: Vec<PolicyVersionResponse>,
}

/// Which versions run: live (never below the running one) and, optionally, one in shadow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoosePoliciesRequest {
    pub live: u32,
    pub shadow: Option<u32>,
    /// Why (kept in the audit trail).
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub version: u32,
    pub scenario: Option<String>,
    /// Only decisions from this instant on (RFC 3339).
    pub since: Option<String>,
    /// At most this many of the newest decisions (default and limit 50,000).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayChangeResponse {
    pub decision_id: i64,
    pub scenario: String,
    pub account_id: Option<i64>,
    pub recorded: String,
    pub replayed: String,
    pub replayed_score: u8,
    pub rules: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResponse {
    pub version: u32,
    pub decisions: usize,
    /// Recorded answers per level.
    #[schema(value_type = Object)]
    pub recorded: Value,
    /// What the version would have answered, per level.
    #[schema(value_type = Object)]
    pub replayed: Value,
    pub changed: usize,
    /// The first 100 changed answers, newest first.
    pub changes: Vec<ReplayChangeResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RiskUsageResponse {
    /// Every assessment answered, on every node.
    pub calls: u64,
    pub pass: u64,
    pub challenge: u64,
    pub review: u64,
    pub reject: u64,
    pub quota: Option<u64>,
    pub remaining: Option<u64>,
    pub exhausted: bool,
}
