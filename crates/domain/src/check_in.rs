//! What a scan at the gate decides, online or offline: pure rules over a verified ticket code,
//! the ticket's state and its first use. Also the reconciliation of offline gates' uploads:
//! which tickets were let in more than once across gates.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::order::{TicketId, TicketState};

/// A ticket let in: when and by which gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: Timestamp,
    pub gate: String,
}

/// Why a scan does not admit. Shown at the gate as is: no personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanRefused {
    #[error("not a ticket of this venue")]
    UnknownTicket,
    #[error("already used at {}, {}", .0.at, .0.gate)]
    AlreadyUsed(Entry),
    #[error("this ticket was refunded")]
    Refunded,
    #[error("this ticket's order was cancelled or expired")]
    Cancelled,
    #[error("this ticket was never paid for")]
    NotPaid,
    #[error("too early: entry opens at {opens_at}")]
    TooEarly { opens_at: Timestamp },
    #[error("too late: entry closed at {closed_at}")]
    TooLate { closed_at: Timestamp },
}

impl ScanRefused {
    /// A stable code for gates and the API.
    pub fn code(&self) -> &'static str {
        match self {
            ScanRefused::UnknownTicket => "unknown_ticket",
            ScanRefused::AlreadyUsed(_) => "already_used",
            ScanRefused::Refunded => "ticket_refunded",
            ScanRefused::Cancelled => "ticket_cancelled",
            ScanRefused::NotPaid => "ticket_not_paid",
            ScanRefused::TooEarly { .. } => "too_early",
            ScanRefused::TooLate { .. } => "too_late",
        }
    }

    /// The refusal a ticket in `state` gets whatever the time, if any (a valid ticket has none).
    pub fn of_state(state: TicketState) -> Option<Self> {
        match state {
            TicketState::Refunded => Some(ScanRefused::Refunded),
            TicketState::Released => Some(ScanRefused::Cancelled),
            TicketState::Held => Some(ScanRefused::NotPaid),
            TicketState::Valid => None,
        }
    }

    /// What the gate shows, with times on the museum's clock ("already used at 09:12 by
    /// gate 3"); the instants stay in [`ScanRefused`] for machines.
    pub fn describe(&self, tz: &jiff::tz::TimeZone) -> String {
        let local = |at: &Timestamp| {
            let zoned = at.to_zoned(tz.clone());
            format!("{:02}:{:02}", zoned.hour(), zoned.minute())
        };
        match self {
            ScanRefused::AlreadyUsed(e) => {
                format!("already used at {}, {}", local(&e.at), e.gate)
            }
            ScanRefused::TooEarly { opens_at } => {
                format!("too early: entry opens at {}", local(opens_at))
            }
            ScanRefused::TooLate { closed_at } => {
                format!("too late: entry closed at {}", local(closed_at))
            }
            other => other.to_string(),
        }
    }
}

/// Decides a scan of a ticket whose code verified with validity window `[valid_from,
/// valid_until]`. `state` is the ticket's state (None: no such ticket), `first_use` its earlier
/// entry if any.
pub fn decide_scan(
    valid_from: Timestamp,
    valid_until: Timestamp,
    state: Option<TicketState>,
    first_use: Option<&Entry>,
    now: Timestamp,
) -> Result<(), ScanRefused> {
    match state {
        None => return Err(ScanRefused::UnknownTicket),
        Some(state) => {
            if let Some(refused) = ScanRefused::of_state(state) {
                return Err(refused);
            }
        }
    }
    if let Some(entry) = first_use {
        return Err(ScanRefused::AlreadyUsed(entry.clone()));
    }
    if now < valid_from {
        return Err(ScanRefused::TooEarly {
            opens_at: valid_from,
        });
    }
    if now > valid_until {
        return Err(ScanRefused::TooLate {
            closed_at: valid_until,
        });
    }
    Ok(())
}

/// What a group code's scan let in: its members are decided one by one (each as a ticket of its
/// own, so a member who came in with their own code is not let in again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTally {
    pub admitted: u32,
    /// Members already let in (with their own code, or by an earlier scan of the group's).
    pub already_in: u32,
    /// Members whose tickets were refunded, cancelled or never paid.
    pub not_admissible: u32,
}

/// Decides a group scan from its members' decisions: the group is admitted if any member is.
/// Otherwise the refusal speaks for the group: the window (the same for every member), then
/// "already used" with the earliest entry, then the first member's own refusal. A group with
/// no members is unknown.
pub fn tally_group(decisions: &[Result<Entry, ScanRefused>]) -> Result<GroupTally, ScanRefused> {
    let mut tally = GroupTally::default();
    let mut window = None;
    let mut earliest: Option<&Entry> = None;
    let mut other = None;
    for decision in decisions {
        match decision {
            Ok(_) => tally.admitted += 1,
            Err(ScanRefused::AlreadyUsed(e)) => {
                tally.already_in += 1;
                if earliest.is_none_or(|x| e.at < x.at) {
                    earliest = Some(e);
                }
            }
            Err(r @ (ScanRefused::TooEarly { .. } | ScanRefused::TooLate { .. })) => {
                window.get_or_insert(r);
            }
            Err(r) => {
                tally.not_admissible += 1;
                other.get_or_insert(r);
            }
        }
    }
    if tally.admitted > 0 {
        return Ok(tally);
    }
    if let Some(r) = window {
        return Err(r.clone());
    }
    if let Some(e) = earliest {
        return Err(ScanRefused::AlreadyUsed(e.clone()));
    }
    Err(other.cloned().unwrap_or(ScanRefused::UnknownTicket))
}

/// A ticket let in more than once, with every entry, earliest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleUse {
    pub ticket: TicketId,
    pub entries: Vec<Entry>,
}

/// From the entries offline gates uploaded (and those made online), the tickets let in more
/// than once. The same entry uploaded twice (a gate retrying its upload) is one entry.
pub fn double_uses(entries: &[(TicketId, Entry)]) -> Vec<DoubleUse> {
    let mut by_ticket: BTreeMap<&TicketId, Vec<&Entry>> = BTreeMap::new();
    for (ticket, entry) in entries {
        let seen = by_ticket.entry(ticket).or_default();
        if !seen.contains(&entry) {
            seen.push(entry);
        }
    }
    by_ticket
        .into_iter()
        .filter(|(_, e)| e.len() > 1)
        .map(|(ticket, mut e)| {
            e.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.gate.cmp(&b.gate)));
            DoubleUse {
                ticket: ticket.clone(),
                entries: e.into_iter().cloned().collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_group_is_let_in_if_any_member_is_and_otherwise_refused_for_the_group() {
        let entry = |at: &str, gate: &str| Entry {
            at: t(at),
            gate: gate.into(),
        };
        let early = entry("2026-11-25T01:00:00Z", "Gate 1");
        let later = entry("2026-11-25T01:05:00Z", "Gate 2");
        let now = entry("2026-11-25T01:10:00Z", "Gate 3");
        let mixed = [
            Ok(now.clone()),
            Err(ScanRefused::AlreadyUsed(early.clone())),
            Err(ScanRefused::Refunded),
            Ok(now.clone()),
        ];
        assert_eq!(
            tally_group(&mixed),
            Ok(GroupTally {
                admitted: 2,
                already_in: 1,
                not_admissible: 1
            })
        );
        let all_in = [
            Err(ScanRefused::AlreadyUsed(later)),
            Err(ScanRefused::Refunded),
            Err(ScanRefused::AlreadyUsed(early.clone())),
        ];
        assert_eq!(tally_group(&all_in), Err(ScanRefused::AlreadyUsed(early)));
        let closed = ScanRefused::TooLate {
            closed_at: t("2026-11-25T03:00:00Z"),
        };
        assert_eq!(
            tally_group(&[Err(ScanRefused::Cancelled), Err(closed.clone())]),
            Err(closed)
        );
        assert_eq!(
            tally_group(&[Err(ScanRefused::Refunded), Err(ScanRefused::Cancelled)]),
            Err(ScanRefused::Refunded)
        );
        assert_eq!(tally_group(&[]), Err(ScanRefused::UnknownTicket));
    }

    #[test]
    fn a_scan_admits_only_a_valid_unused_ticket_inside_its_window() {
        let (from, until) = (t("2026-11-25T00:30:00Z"), t("2026-11-25T02:30:00Z"));
        let now = t("2026-11-25T01:12:00Z");
        let valid = Some(TicketState::Valid);
        assert_eq!(decide_scan(from, until, valid, None, now), Ok(()));
        assert_eq!(
            decide_scan(from, until, valid, None, from),
            Ok(()),
            "the window is inclusive"
        );
        assert_eq!(decide_scan(from, until, valid, None, until), Ok(()));
        let entry = Entry {
            at: t("2026-11-25T01:12:00Z"),
            gate: "gate 3".into(),
        };
        let used = decide_scan(from, until, valid, Some(&entry), now).unwrap_err();
        assert_eq!(
            used.to_string(),
            "already used at 2026-11-25T01:12:00Z, gate 3"
        );
        assert_eq!(used.code(), "already_used");
        let beijing = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        assert_eq!(used.describe(&beijing), "already used at 09:12, gate 3");
        assert_eq!(
            ScanRefused::TooEarly { opens_at: from }.describe(&beijing),
            "too early: entry opens at 08:30"
        );
        for (state, code) in [
            (None, "unknown_ticket"),
            (Some(TicketState::Refunded), "ticket_refunded"),
            (Some(TicketState::Released), "ticket_cancelled"),
            (Some(TicketState::Held), "ticket_not_paid"),
        ] {
            assert_eq!(
                decide_scan(from, until, state, None, now)
                    .unwrap_err()
                    .code(),
                code
            );
        }
        assert_eq!(
            decide_scan(from, until, valid, None, t("2026-11-25T00:29:59Z")),
            Err(ScanRefused::TooEarly { opens_at: from })
        );
        assert_eq!(
            decide_scan(from, until, valid, None, t("2026-11-25T02:30:01Z")),
            Err(ScanRefused::TooLate { closed_at: until })
        );
    }

    #[test]
    fn tickets_let_in_twice_across_gates_are_reported_once_each() {
        let e = |s: &str, gate: &str| Entry {
            at: t(s),
            gate: gate.into(),
        };
        let a = TicketId("a".into());
        let b = TicketId("b".into());
        let entries = vec![
            (a.clone(), e("2026-11-25T01:20:00Z", "2")),
            (b.clone(), e("2026-11-25T01:00:00Z", "1")),
            (a.clone(), e("2026-11-25T01:10:00Z", "1")),
            // Gate 1 uploaded its entry of b again: not a second entry.
            (b.clone(), e("2026-11-25T01:00:00Z", "1")),
        ];
        assert_eq!(
            double_uses(&entries),
            vec![DoubleUse {
                ticket: a,
                entries: vec![
                    e("2026-11-25T01:10:00Z", "1"),
                    e("2026-11-25T01:20:00Z", "2")
                ],
            }]
        );
    }

    proptest! {
        /// A ticket is reported exactly when it has two or more distinct entries, with all of them.
        #[test]
        fn double_uses_are_exactly_the_tickets_with_distinct_repeated_entries(
            raw in proptest::collection::vec((0u8..6, 0i64..5, 0u8..3), 0..40)
        ) {
            let entries: Vec<(TicketId, Entry)> = raw
                .iter()
                .map(|(ticket, minute, gate)| (
                    TicketId(format!("t{ticket}")),
                    Entry { at: Timestamp::from_second(1_790_000_000 + minute * 60).unwrap(), gate: gate.to_string() },
                ))
                .collect();
            let reported = double_uses(&entries);
            for ticket in 0u8..6 {
                let id = TicketId(format!("t{ticket}"));
                let mut distinct: Vec<&Entry> = entries.iter().filter(|(t, _)| *t == id).map(|(_, e)| e).collect();
                distinct.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.gate.cmp(&b.gate)));
                distinct.dedup();
                let found = reported.iter().find(|d| d.ticket == id);
                if distinct.len() > 1 {
                    let found = found.expect("a ticket used twice must be reported");
                    prop_assert_eq!(found.entries.len(), distinct.len());
                } else {
                    prop_assert!(found.is_none());
                }
            }
        }
    }
}
