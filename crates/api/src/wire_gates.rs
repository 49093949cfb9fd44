//! JSON shapes of the gate routes: devices, scans, offline uploads, live counts and double
//! uses. None carries personal data: gates see ticket ids, slots and times only.

use gatehouse_domain::check_in::DoubleUse;
use gatehouse_domain::gate::{GateDevice, SlotCheckIns, UploadOutcome};
use gatehouse_domain::no_show::{LockSubject, NoShowLock};
use gatehouse_gates::{CheckedIn, DeviceCredential};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDeviceRequest {
    /// What staff call the device, e.g. "gate 3" (1–64 characters).
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeDeviceRequest {
    /// Why (kept with the device), 1–500 characters.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceResponse {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

impl From<GateDevice> for DeviceResponse {
    fn from(d: GateDevice) -> Self {
        Self {
            id: d.id.0,
            name: d.name,
            created_at: d.created_at.to_string(),
            revoked_at: d.revoked.as_ref().map(|r| r.at.to_string()),
            revoked_reason: d.revoked.map(|r| r.reason),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredDevice {
    pub device: DeviceResponse,
    /// The device's credential (`Authorization: Bearer ghgate_…`), shown this once.
    pub token: String,
}

impl From<DeviceCredential> for RegisteredDevice {
    fn from(c: DeviceCredential) -> Self {
        Self {
            device: c.device.into(),
            token: c.token,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The code the QR holds (`GH1…`): a ticket's, or a group order's.
    pub code: String,
}

/// What a scan let in: a ticket, or a group's members not yet in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanAdmitted {
    /// The ticket let in (for a group code: the first member let in).
    pub ticket: String,
    pub slot: i64,
    pub at: String,
    pub gate: String,
    /// How many people to let through now: 1, or the group's members admitted.
    pub people: u32,
    /// Every ticket this scan let in.
    pub tickets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupScanResponse>,
}

/// How a group code's members came out.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupScanResponse {
    pub order: String,
    /// The head count the code was issued for.
    pub head_count: u16,
    /// Members already in before this scan (with their own code, or the group's).
    pub already_in: u32,
    /// Members whose tickets were refunded or cancelled.
    pub not_admissible: u32,
}

impl From<CheckedIn> for ScanAdmitted {
    fn from(c: CheckedIn) -> Self {
        let tickets: Vec<String> = c.tickets.into_iter().map(|t| t.0).collect();
        Self {
            ticket: tickets.first().cloned().unwrap_or_default(),
            slot: c.slot.0,
            at: c.entry.at.to_string(),
            gate: c.entry.gate,
            people: u32::try_from(tickets.len()).unwrap_or(u32::MAX),
            tickets,
            group: c.group.map(|g| GroupScanResponse {
                order: g.order.0,
                head_count: g.head_count,
                already_in: g.tally.already_in,
                not_admissible: g.tally.not_admissible,
            }),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The entries the gate made offline (at most 250 per upload).
    pub entries: Vec<UploadEntry>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadEntry {
    pub code: String,
    /// When the gate let the ticket in (RFC 3339).
    pub at: String,
    /// For an entry made with a group code: the member's ticket it let in.
    pub ticket: Option<String>,
}

impl From<UploadEntry> for gatehouse_gates::UploadedEntry {
    fn from(e: UploadEntry) -> Self {
        Self {
            code: e.code,
            at: e.at,
            ticket: e.ticket,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    pub recorded: u32,
    pub repeated: u32,
    pub double_uses: u32,
    pub unknown: u32,
}

impl From<UploadOutcome> for UploadResponse {
    fn from(o: UploadOutcome) -> Self {
        Self {
            recorded: o.recorded,
            repeated: o.repeated,
            double_uses: o.double_uses,
            unknown: o.unknown,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInCounts {
    pub date: String,
    pub slots: Vec<SlotCounts>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotCounts {
    pub slot: i64,
    pub product: i64,
    pub starts_at: String,
    pub ends_at: String,
    pub sold: u32,
    pub checked_in: u32,
    pub by_gate: Vec<GateCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GateCount {
    pub gate: String,
    pub checked_in: u32,
}

impl From<SlotCheckIns> for SlotCounts {
    fn from(s: SlotCheckIns) -> Self {
        Self {
            slot: s.slot.0,
            product: s.product.0,
            starts_at: s.starts_at.to_string(),
            ends_at: s.ends_at.to_string(),
            sold: s.sold,
            checked_in: s.checked_in,
            by_gate: s
                .by_gate
                .into_iter()
                .map(|(gate, checked_in)| GateCount { gate, checked_in })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoubleUses {
    pub date: String,
    pub tickets: Vec<DoubleUseResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoubleUseResponse {
    pub ticket: String,
    /// Every entry, earliest first.
    pub entries: Vec<EntryResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryResponse {
    pub at: String,
    pub gate: String,
}

impl From<DoubleUse> for DoubleUseResponse {
    fn from(d: DoubleUse) -> Self {
        Self {
            ticket: d.ticket.0,
            entries: d
                .entries
                .into_iter()
                .map(|e| EntryResponse {
                    at: e.at.to_string(),
                    gate: e.gate,
                })
                .collect(),
        }
    }
}

/// A lock the no-show rule placed. Never shows the ID number: an ID lock says only that the
/// ID number of one of the account's visitors is locked.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoShowLockResponse {
    pub id: i64,
    /// `account` or `id_number`.
    pub subject: String,
    /// The account whose booking led to the lock.
    pub account: i64,
    pub locked_at: String,
    pub until: String,
    pub reason: String,
    pub lifted_at: Option<String>,
    pub lifted_reason: Option<String>,
}

impl From<NoShowLock> for NoShowLockResponse {
    fn from(l: NoShowLock) -> Self {
        Self {
            id: l.id,
            subject: match l.subject {
                LockSubject::Account(_) => "account",
                LockSubject::IdNumber(_) => "id_number",
            }
            .to_owned(),
            account: l.account.0,
            locked_at: l.locked_at.to_string(),
            until: l.until.to_string(),
            reason: l.reason,
            lifted_at: l.lifted.as_ref().map(|x| x.at.to_string()),
            lifted_reason: l.lifted.map(|x| x.reason),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftLockRequest {
    /// Why staff lift it (kept with the lock and in the audit trail), 1–500 characters.
    pub reason: String,
}
