//! A gate day, server side: the bundle offline gates download, the entries they upload when
//! they reconnect, the tickets let in more than once across gates, and live check-in counts.

use base64::Engine;
use gatehouse_domain::check_in::{double_uses, DoubleUse, ScanRefused};
use gatehouse_domain::gate::{GateDevice, OfflineEntry, SlotCheckIns, UploadOutcome};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use std::collections::HashMap;

use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_tickets::CodeClaims;

use crate::bundle::{BundleEntry, BundleGroup, BundleKey, BundleTicket, GateBundle, RevokedTicket};
use crate::{GateError, GateService};

/// The most entries one upload carries (a gate uploads its journal in pieces).
pub const MAX_UPLOAD: usize = 250;
/// One line of a gate's journal, as uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedEntry {
    pub code: String,
    /// When the gate let the ticket in (RFC 3339).
    pub at: String,
    /// For a group code, the member it let in.
    pub ticket: Option<String>,
}

/// How far back an uploaded entry may be: a gate offline for longer has a bigger problem.
const OLDEST_ENTRY: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How far ahead of our clock a gate's clock may run.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

impl GateService {
    /// The museum's calendar day now.
    pub fn today(&self) -> Date {
        self.clock
            .now()
            .to_zoned(self.config.museum_tz.clone())
            .date()
    }

    /// What `device` needs to work offline on `day`.
    pub async fn bundle(&self, device: &GateDevice, day: Date) -> Result<GateBundle, GateError> {
        let data = self.store.gate_day(day).await?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        Ok(GateBundle {
            day: day.to_string(),
            generated_at: self.clock.now().to_string(),
            gate: device.name.clone(),
            time_zone: self
                .config
                .museum_tz
                .iana_name()
                .unwrap_or("UTC")
                .to_owned(),
            keys: self
                .public_keys
                .iter()
                .map(|(key_id, key)| BundleKey {
                    key_id: *key_id,
                    public_key: b64.encode(key),
                })
                .collect(),
            expected: data
                .expected
                .into_iter()
                .map(|(ticket, slot)| BundleTicket {
                    ticket: ticket.0,
                    slot: slot.0,
                })
                .collect(),
            revoked: data
                .revoked
                .into_iter()
                .map(|(ticket, state)| RevokedTicket {
                    ticket: ticket.0,
                    reason: ScanRefused::of_state(state)
                        .unwrap_or(ScanRefused::Cancelled)
                        .code()
                        .to_owned(),
                })
                .collect(),
            used: data
                .used
                .into_iter()
                .map(|(ticket, e)| BundleEntry {
                    ticket: ticket.0,
                    at: e.at.to_string(),
                    gate: e.gate,
                })
                .collect(),
            groups: data
                .groups
                .into_iter()
                .map(|(order, tickets)| BundleGroup {
                    order: order.0,
                    tickets: tickets.into_iter().map(|t| t.0).collect(),
                })
                .collect(),
        })
    }

    /// Records the entries `device` made offline, from its journal. Every code must be
    /// authentic, every instant plausible and every group member a member of the code's order,
    /// or nothing is recorded.
    pub async fn upload(
        &self,
        device: &GateDevice,
        entries: &[UploadedEntry],
    ) -> Result<UploadOutcome, GateError> {
        if entries.is_empty() || entries.len() > MAX_UPLOAD {
            return Err(GateError::invalid(
                "entries",
                format!("must hold 1–{MAX_UPLOAD} entries"),
            ));
        }
        let now = self.clock.now();
        let codes: Vec<&str> = entries.iter().map(|e| e.code.as_str()).collect();
        let verified = self.verifier.verify_many(&codes);
        let mut offline = Vec::with_capacity(entries.len());
        let mut groups: HashMap<OrderId, Vec<TicketId>> = HashMap::new();
        for (i, (uploaded, claims)) in entries.iter().zip(verified).enumerate() {
            let claims = claims
                .map_err(|e| GateError::invalid(format!("entries[{i}].code"), e.to_string()))?;
            let ticket = match (claims, &uploaded.ticket) {
                (CodeClaims::Ticket(t), None) => t.ticket_id,
                (CodeClaims::Ticket(_), Some(_)) => {
                    return Err(GateError::invalid(
                        format!("entries[{i}].ticket"),
                        "is only for entries made with a group code",
                    ))
                }
                (CodeClaims::Group(_), None) => {
                    return Err(GateError::invalid(
                        format!("entries[{i}].ticket"),
                        "must name the member a group code let in",
                    ))
                }
                (CodeClaims::Group(g), Some(member)) => {
                    let members = match groups.entry(g.order_id) {
                        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            let found = self.store.group_tickets(v.key()).await?;
                            v.insert(found)
                        }
                    };
                    members
                        .iter()
                        .find(|t| t.0 == *member)
                        .cloned()
                        .ok_or_else(|| {
                            GateError::invalid(
                                format!("entries[{i}].ticket"),
                                "is not a member of the group the code names",
                            )
                        })?
                }
            };
            let at: Timestamp = uploaded.at.parse().map_err(|_| {
                GateError::invalid(format!("entries[{i}].at"), "must be an RFC 3339 instant")
            })?;
            let oldest = now.checked_sub(OLDEST_ENTRY).unwrap_or(now);
            let newest = now.checked_add(CLOCK_SKEW).unwrap_or(now);
            if at < oldest || at > newest {
                return Err(GateError::invalid(
                    format!("entries[{i}].at"),
                    "is more than a week old or in the future",
                ));
            }
            offline.push(OfflineEntry {
                ticket,
                at,
                gate: device.id.clone(),
                gate_name: device.name.clone(),
            });
        }
        let outcome = self.store.record_offline_entries(&offline, now).await?;
        if outcome.double_uses > 0 {
            tracing::warn!(device = %device.id.0, count = outcome.double_uses, "offline gate let tickets in that were already used");
        }
        Ok(outcome)
    }

    /// The tickets of `day` let in more than once (across gates, online and offline).
    pub async fn double_uses(&self, day: Date) -> Result<Vec<DoubleUse>, GateError> {
        Ok(double_uses(&self.store.entries_of_day(day).await?))
    }

    /// Sold and checked-in tickets of each slot of `day`, per gate.
    pub async fn counts(&self, day: Date) -> Result<Vec<SlotCheckIns>, GateError> {
        Ok(self.store.check_in_counts(day).await?)
    }
}
