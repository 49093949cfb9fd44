//! JSON shapes of traffic protection's staff routes: block and allow list entries.

use gatehouse_domain::traffic::ListEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new block or allow entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewListEntryRequest {
    /// `block` or `allow` (allow wins over block; it skips per-client limits and challenges,
    /// never a route's flow rules or shedding).
    pub action: String,
    /// `ip` (an address or a CIDR network), `account` (its number) or `device` (`X-Device-Id`).
    pub kind: String,
    pub value: String,
    /// Why (1–200 characters); shown to staff and in security events, never to the client.
    pub reason: String,
    /// When the entry ends (RFC 3339); give this or `expires_in_secs`, or neither to keep it
    /// until removed.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// How long the entry lasts, in seconds (at most a year).
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
}

/// An entry on a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEntryResponse {
    pub id: i64,
    pub action: String,
    pub kind: String,
    /// Canonical: a network as `address/prefix`, an account by number.
    pub value: String,
    pub reason: String,
    pub expires_at: Option<String>,
    /// The staff account that added it; none when Gatehouse added it itself.
    pub added_by: Option<i64>,
    pub added_at: String,
}

impl From<ListEntry> for ListEntryResponse {
    fn from(e: ListEntry) -> Self {
        let n = e.entry;
        Self {
            id: e.id,
            action: n.action.as_str().to_owned(),
            kind: n.subject.kind().to_owned(),
            value: n.subject.value(),
            reason: n.reason,
            expires_at: n.expires_at.map(|t| t.to_string()),
            added_by: n.added_by.map(|a| a.0),
            added_at: n.added_at.to_string(),
        }
    }
}

/// The entries in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEntriesResponse {
    pub entries: Vec<ListEntryResponse>,
}

/// The SMS path's second step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsPassRequest {
    pub phone: String,
    /// The 6-digit code sent to the phone.
    pub code: String,
    /// The challenge token the client was given (`challenge.token`).
    pub token: String,
    /// The challenge's sale (`challenge.sale`).
    pub sale: String,
}

/// A pass: also set as the `gh_pass` cookie; API clients send it in `X-Gatehouse-Pass`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassResponse {
    pub pass: String,
    pub expires_in_secs: u64,
}

/// Metered calls of the traffic-protection product, across every node.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    /// Every call the protection handled.
    pub calls: u64,
    pub passed: u64,
    /// Refused by a limit, a flow rule, shedding or the quota.
    pub refused: u64,
    pub challenged: u64,
    /// Refused by a block list or the bot signals.
    pub blocked: u64,
    /// Calls bought (`[metering] quota`); none: no quota.
    pub quota: Option<u64>,
    pub remaining: Option<u64>,
    pub exhausted: bool,
    /// `keep`, `pass` or `refuse`.
    pub on_exhaustion: String,
}
