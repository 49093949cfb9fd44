//! Traffic protection's stored side: the staff's block and allow lists (an address or network,
//! an account, a device — each with a reason and an optional end) and the storage port the edge
//! reads them through, together with the security events it writes.
//!
//! The entries are checked here for shape (what a staff member may type); the edge compiles
//! them into its lookup tables.

use std::net::IpAddr;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::order::AccountId;
use crate::security::SecurityEvent;
use crate::store::StoreError;

/// Which list an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListAction {
    /// Refused at the edge (403 `blocked`), before anything else runs.
    Block,
    /// Let past the per-client limits, challenges and bot scoring (never past a route's flow
    /// rules or shedding, which protect the service as a whole). Allow wins over block.
    Allow,
}

impl ListAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ListAction::Block => "block",
            ListAction::Allow => "allow",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "block" => Some(ListAction::Block),
            "allow" => Some(ListAction::Allow),
            _ => None,
        }
    }
}

/// What an entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListSubject {
    /// An address, or a network in CIDR form, kept canonical (`203.0.113.0/24`, `2001:db8::/48`;
    /// a single address is a /32 or /128).
    Network {
        addr: IpAddr,
        prefix: u8,
    },
    Account(AccountId),
    /// A client's device id (`X-Device-Id`).
    Device(String),
}

/// The longest device id a list accepts (longer ones are not ids a client of ours sends).
pub const MAX_DEVICE_ID: usize = 128;
/// The longest reason a list entry keeps.
pub const MAX_REASON: usize = 200;

/// Why a subject cannot go on a list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ListEntryInvalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ListEntryInvalid {
    ListEntryInvalid {
        field,
        message: message.into(),
    }
}

impl ListSubject {
    /// Reads a subject as staff type it: `kind` is `ip`, `account` or `device`.
    pub fn parse(kind: &str, value: &str) -> Result<Self, ListEntryInvalid> {
        let value = value.trim();
        match kind {
            "ip" => {
                let (addr, prefix) = match value.split_once('/') {
                    Some((a, p)) => (a, Some(p)),
                    None => (value, None),
                };
                let addr: IpAddr = addr.parse().map_err(|_| {
                    invalid(
                        "value",
                        "not an IP address or CIDR network (e.g. 203.0.113.0/24)",
                    )
                })?;
                let addr = match addr {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
                    v4 => v4,
                };
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix =
                    match prefix {
                        None => max,
                        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                            invalid("value", format!("the prefix must be 0–{max}"))
                        })?,
                    };
                if prefix < if addr.is_ipv4() { 8 } else { 16 } {
                    return Err(invalid(
                        "value",
                        "a network that wide would take in much of the internet; use /8 (IPv4) or /16 (IPv6) at most",
                    ));
                }
                Ok(ListSubject::Network {
                    addr: mask(addr, prefix),
                    prefix,
                })
            }
            "account" => value
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .map(|id| ListSubject::Account(AccountId(id)))
                .ok_or_else(|| invalid("value", "an account is named by its number")),
            "device" => {
                if value.is_empty()
                    || value.len() > MAX_DEVICE_ID
                    || !value.bytes().all(|b| b.is_ascii_graphic())
                {
                    Err(invalid(
                        "value",
                        format!("a device id is 1–{MAX_DEVICE_ID} printable ASCII characters"),
                    ))
                } else {
                    Ok(ListSubject::Device(value.to_owned()))
                }
            }
            _ => Err(invalid("kind", "kind is one of ip, account, device")),
        }
    }

    /// `ip`, `account` or `device`.
    pub fn kind(&self) -> &'static str {
        match self {
            ListSubject::Network { .. } => "ip",
            ListSubject::Account(_) => "account",
            ListSubject::Device(_) => "device",
        }
    }

    /// The value as stored and shown (`203.0.113.0/24`, `42`, `dev-1`).
    pub fn value(&self) -> String {
        match self {
            ListSubject::Network { addr, prefix } => format!("{addr}/{prefix}"),
            ListSubject::Account(id) => id.0.to_string(),
            ListSubject::Device(d) => d.clone(),
        }
    }
}

/// `addr` with the bits past `prefix` cleared.
pub fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

/// An entry as staff add it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewListEntry {
    pub action: ListAction,
    pub subject: ListSubject,
    pub reason: String,
    /// When it stops applying; `None` keeps it until removed.
    pub expires_at: Option<Timestamp>,
    /// The staff account that added it; `None` when Gatehouse added it itself (cleaning's top
    /// offenders, a threat-intel feed).
    pub added_by: Option<AccountId>,
    pub added_at: Timestamp,
}

impl NewListEntry {
    /// Checks what a person typed: a reason of 1–200 characters, an end in the future.
    pub fn check(&self) -> Result<(), ListEntryInvalid> {
        let reason = self.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(invalid(
                "reason",
                format!("say why, in 1–{MAX_REASON} characters"),
            ));
        }
        if let Some(end) = self.expires_at {
            if end <= self.added_at {
                return Err(invalid("expires_at", "the end must be in the future"));
            }
        }
        Ok(())
    }
}

/// An entry on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub id: i64,
    pub entry: NewListEntry,
}

/// Metered calls, by what they came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub passed: u64,
    pub refused: u64,
    pub challenged: u64,
    pub blocked: u64,
}

impl Usage {
    /// Every call counted.
    pub fn calls(&self) -> u64 {
        self.passed + self.refused + self.challenged + self.blocked
    }
}

/// The edge's storage port: the lists, metered usage, and the security events it records.
#[async_trait]
pub trait TrafficStore: Send + Sync + 'static {
    /// Saves one node's counters as absolute totals (a repeat save changes nothing).
    async fn save_usage(&self, node: &str, usage: &Usage, at: Timestamp) -> Result<(), StoreError>;
    /// Every node's counters added up.
    async fn usage(&self) -> Result<Usage, StoreError>;
    async fn add_list_entry(&self, entry: &NewListEntry) -> Result<ListEntry, StoreError>;
    /// Removes an entry; false when there was none with that id.
    async fn remove_list_entry(&self, id: i64) -> Result<bool, StoreError>;
    /// Entries still in force at `now`, oldest first.
    async fn list_entries(&self, now: Timestamp) -> Result<Vec<ListEntry>, StoreError>;
    async fn record_security_event(&self, event: &SecurityEvent) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(v: &str) -> String {
        ListSubject::parse("ip", v).unwrap().value()
    }

    #[test]
    fn networks_are_kept_canonical() {
        assert_eq!(net("203.0.113.7"), "203.0.113.7/32");
        assert_eq!(net("203.0.113.7/24"), "203.0.113.0/24");
        assert_eq!(net("::ffff:203.0.113.7"), "203.0.113.7/32");
        assert_eq!(net("2001:db8::1/48"), "2001:db8::/48");
        assert_eq!(net(" 10.1.2.3/8 "), "10.0.0.0/8");
    }

    #[test]
    fn bad_subjects_name_their_field() {
        for (kind, value, field) in [
            ("ip", "example.com", "value"),
            ("ip", "10.0.0.0/33", "value"),
            ("ip", "10.0.0.0/7", "value"),
            ("ip", "2001:db8::/15", "value"),
            ("account", "-3", "value"),
            ("account", "abc", "value"),
            ("device", "", "value"),
            ("device", "has space", "value"),
            ("phone", "1", "kind"),
        ] {
            assert_eq!(
                ListSubject::parse(kind, value).unwrap_err().field,
                field,
                "{kind} {value}"
            );
        }
        let long = "d".repeat(MAX_DEVICE_ID + 1);
        assert!(ListSubject::parse("device", &long).is_err());
    }

    #[test]
    fn an_entry_needs_a_reason_and_a_future_end() {
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let mut e = NewListEntry {
            action: ListAction::Block,
            subject: ListSubject::Account(AccountId(1)),
            reason: "scalper".into(),
            expires_at: Some(Timestamp::from_second(1_800_000_060).unwrap()),
            added_by: None,
            added_at: at,
        };
        assert!(e.check().is_ok());
        e.expires_at = Some(at);
        assert_eq!(e.check().unwrap_err().field, "expires_at");
        e.expires_at = None;
        e.reason = "  ".into();
        assert_eq!(e.check().unwrap_err().field, "reason");
        e.reason = "x".repeat(MAX_REASON + 1);
        assert_eq!(e.check().unwrap_err().field, "reason");
    }
}
