//! What an offline gate downloads for a day, in the form the API serves and the gate reads:
//! the ticket-code public keys, the day's valid tickets, the tickets revoked since they were
//! sold, the tickets already let in, and the members of each group order. It holds no personal
//! data.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One day's bundle for offline gates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GateBundle {
    /// The day the bundle is for (the museum's calendar), `YYYY-MM-DD`.
    pub day: String,
    /// When the server made it (RFC 3339).
    pub generated_at: String,
    /// The device the bundle was made for: its entries are journalled under this name.
    pub gate: String,
    /// The museum's time zone (IANA name): what the gate shows is on the museum's clock.
    pub time_zone: String,
    /// The keys ticket codes are signed with.
    pub keys: Vec<BundleKey>,
    /// The day's valid tickets (codes sold after the download are still admitted: their
    /// signature proves them).
    pub expected: Vec<BundleTicket>,
    /// Tickets of the day that must be refused.
    pub revoked: Vec<RevokedTicket>,
    /// Tickets already let in, with their first entry.
    pub used: Vec<BundleEntry>,
    /// The day's group orders and their members' tickets: what a group code admits.
    #[serde(default)]
    pub groups: Vec<BundleGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleGroup {
    pub order: String,
    pub tickets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleKey {
    pub key_id: u16,
    /// The Ed25519 public key, base64url without padding.
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleTicket {
    pub ticket: String,
    pub slot: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokedTicket {
    pub ticket: String,
    /// The refusal's stable code: `ticket_refunded` or `ticket_cancelled`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    pub ticket: String,
    /// When it was let in (RFC 3339).
    pub at: String,
    /// The gate that let it in.
    pub gate: String,
}
