//! Gates and handheld scanners: registered devices with credentials of their own, the check-ins
//! they make online and upload after working offline, what an offline gate downloads for a day,
//! and the storage port for all of it.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::Timestamp;

use crate::catalogue::{ProductId, SlotId};
use crate::check_in::{Entry, ScanRefused};
use crate::order::{OrderId, TicketId, TicketState};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GateDeviceId(pub String);

/// A registered gate or handheld scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateDevice {
    pub id: GateDeviceId,
    /// What staff call it ("Gate 3", "Handheld 2"); shown in "already used … by gate 3".
    pub name: String,
    pub created_at: Timestamp,
    pub revoked: Option<Revocation>,
}

impl GateDevice {
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: Timestamp,
    pub reason: String,
}

/// The longest device name staff may give.
pub const MAX_DEVICE_NAME: usize = 64;

/// Checks a device name: 1–64 characters, no control characters.
pub fn valid_device_name(name: &str) -> Result<&str, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > MAX_DEVICE_NAME {
        return Err("must be at most 64 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(name)
}

/// A scan to admit now, by a gate that is online. The window comes from the verified code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInAttempt {
    pub ticket: TicketId,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
    pub at: Timestamp,
    pub gate: GateDeviceId,
    pub gate_name: String,
}

/// An entry an offline gate made and uploads later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineEntry {
    pub ticket: TicketId,
    pub at: Timestamp,
    pub gate: GateDeviceId,
    pub gate_name: String,
}

/// What an upload of offline entries changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadOutcome {
    /// First entries of their tickets, now recorded as check-ins.
    pub recorded: u32,
    /// Entries already known (the same gate uploading again).
    pub repeated: u32,
    /// Entries of tickets that had been let in before, elsewhere or earlier: double uses.
    pub double_uses: u32,
    /// Entries naming tickets this venue never sold.
    pub unknown: u32,
}

/// What an offline gate needs for one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateDay {
    /// Valid tickets of the day's slots.
    pub expected: Vec<(TicketId, SlotId)>,
    /// Tickets of the day that must not be let in, with their state: refunded, or released
    /// with their cancelled order.
    pub revoked: Vec<(TicketId, TicketState)>,
    /// Tickets already let in, with their first entry.
    pub used: Vec<(TicketId, Entry)>,
    /// The day's group orders and their members' tickets (whatever their state): what a group
    /// code admits.
    pub groups: Vec<(OrderId, Vec<TicketId>)>,
}

/// Check-ins of one slot, for staff watching the gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotCheckIns {
    pub slot: SlotId,
    pub product: ProductId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// Valid tickets (entered or not).
    pub sold: u32,
    pub checked_in: u32,
    /// Check-ins per gate name, by name.
    pub by_gate: Vec<(String, u32)>,
}

#[async_trait]
pub trait GateStore: Send + Sync + 'static {
    /// Registers a device; its credential is stored only as `token_hash`.
    async fn add_gate_device(
        &self,
        device: &GateDevice,
        token_hash: &[u8; 32],
    ) -> Result<(), StoreError>;
    async fn gate_devices(&self) -> Result<Vec<GateDevice>, StoreError>;
    async fn gate_device_by_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<GateDevice>, StoreError>;
    /// Revokes a device; `NotFound` if there is none, `Conflict` if it was already revoked.
    async fn revoke_gate_device(
        &self,
        id: &GateDeviceId,
        revocation: &Revocation,
    ) -> Result<GateDevice, StoreError>;
    /// Decides each attempt by [`crate::check_in::decide_scan`] against the stored ticket and
    /// its first entry, recording each admitted one, all in one transaction: a ticket is
    /// admitted at most once however the attempts race. Answers in the attempts' order.
    async fn check_in(
        &self,
        attempts: &[CheckInAttempt],
    ) -> Result<Vec<Result<Entry, ScanRefused>>, StoreError>;
    /// The tickets of a group order, whatever their state; none if `order` is not a group
    /// order. A group code admits these.
    async fn group_tickets(&self, order: &OrderId) -> Result<Vec<TicketId>, StoreError>;
    /// Records entries offline gates made: a ticket's first entry becomes its check-in, later
    /// ones are kept as double uses; the same entry uploaded again changes nothing.
    async fn record_offline_entries(
        &self,
        entries: &[OfflineEntry],
        uploaded_at: Timestamp,
    ) -> Result<UploadOutcome, StoreError>;
    async fn gate_day(&self, day: Date) -> Result<GateDay, StoreError>;
    /// Every entry of the day's tickets: first entries and the double uses after them.
    async fn entries_of_day(&self, day: Date) -> Result<Vec<(TicketId, Entry)>, StoreError>;
    async fn check_in_counts(&self, day: Date) -> Result<Vec<SlotCheckIns>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_checked() {
        assert_eq!(valid_device_name("  Gate 3 "), Ok("Gate 3"));
        assert!(valid_device_name("").is_err());
        assert!(valid_device_name("   ").is_err());
        assert!(valid_device_name("a\u{0}b").is_err());
        assert!(valid_device_name(&"g".repeat(65)).is_err());
        assert!(valid_device_name(&"门".repeat(64)).is_ok());
    }
}
