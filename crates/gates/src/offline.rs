//! The gate side, offline: with the day's bundle a gate checks codes on its own — signature,
//! window, revocations, and its own earlier entries — and journals every entry it makes, to
//! upload when it reconnects. Two gates offline at once cannot know of each other's entries;
//! the server finds those double uses from the uploads. A group code admits the members the
//! bundle lists for its order, each decided as a ticket and journalled on a line of its own.

use std::collections::HashMap;

use base64::Engine;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::check_in::{decide_scan, tally_group, Entry, ScanRefused};
use gatehouse_domain::order::{TicketId, TicketState};
use gatehouse_tickets::{CodeClaims, GroupClaims, TicketClaims, TicketVerifier, TokenRefused};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::bundle::GateBundle;
use crate::scan::GroupAdmitted;
use crate::GateError;

/// What an offline gate let in (one ticket, or a group's members still to come in), and the
/// journal lines that record it, one per ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub slot: SlotId,
    pub entry: Entry,
    pub tickets: Vec<TicketId>,
    pub group: Option<GroupAdmitted>,
    pub lines: Vec<JournalLine>,
}

/// One entry in a gate's journal: the code it let in and when, and for a group code the
/// member's ticket. The code (not just the ticket) is kept so the server can check the
/// upload's authenticity itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub at: Timestamp,
    pub code: String,
    /// The member a group code let in (None for a ticket's own code).
    pub ticket: Option<String>,
}

impl JournalLine {
    /// `at<TAB>code`, or `at<TAB>code<TAB>ticket` for a group's member, one per line.
    pub fn to_line(&self) -> String {
        match &self.ticket {
            None => format!("{}\t{}", self.at, self.code),
            Some(t) => format!("{}\t{}\t{t}", self.at, self.code),
        }
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut parts = line.trim_end().split('\t');
        let at = parts.next()?.parse().ok()?;
        let code = parts.next()?.to_owned();
        let ticket = parts.next().map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Self { at, code, ticket })
    }
}

/// A gate working from its bundle.
pub struct OfflineGate {
    day: Date,
    gate: String,
    verifier: TicketVerifier,
    revoked: HashMap<String, ScanRefused>,
    used: HashMap<String, Entry>,
    /// Each group order's members, by order id.
    groups: HashMap<String, Vec<String>>,
    expected: usize,
    museum_tz: TimeZone,
}

impl OfflineGate {
    /// A gate for the bundle's day. A bundle with a malformed day, key or entry is refused.
    pub fn from_bundle(bundle: &GateBundle) -> Result<Self, GateError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut keys = Vec::with_capacity(bundle.keys.len());
        for (i, k) in bundle.keys.iter().enumerate() {
            let key: [u8; 32] = b64
                .decode(&k.public_key)
                .ok()
                .and_then(|raw| raw.try_into().ok())
                .ok_or_else(|| {
                    GateError::invalid(format!("keys[{i}]"), "is not an Ed25519 public key")
                })?;
            keys.push((k.key_id, key));
        }
        let revoked = bundle
            .revoked
            .iter()
            .map(|r| {
                let refusal = match r.reason.as_str() {
                    "ticket_refunded" => ScanRefused::Refunded,
                    _ => ScanRefused::Cancelled,
                };
                (r.ticket.clone(), refusal)
            })
            .collect();
        let mut used = HashMap::with_capacity(bundle.used.len());
        for (i, u) in bundle.used.iter().enumerate() {
            let at = u
                .at
                .parse()
                .map_err(|_| GateError::invalid(format!("used[{i}].at"), "is not an instant"))?;
            used.insert(
                u.ticket.clone(),
                Entry {
                    at,
                    gate: u.gate.clone(),
                },
            );
        }
        Ok(Self {
            day: bundle
                .day
                .parse()
                .map_err(|_| GateError::invalid("day", "is not a date"))?,
            gate: bundle.gate.clone(),
            verifier: TicketVerifier::new(keys),
            revoked,
            used,
            groups: bundle
                .groups
                .iter()
                .map(|g| (g.order.clone(), g.tickets.clone()))
                .collect(),
            expected: bundle.expected.len(),
            museum_tz: TimeZone::get(&bundle.time_zone)
                .map_err(|_| GateError::invalid("time_zone", "is not a known time zone"))?,
        })
    }

    pub fn day(&self) -> Date {
        self.day
    }

    /// What the gate shows for a refusal, on the museum's clock.
    pub fn describe(&self, refused: &ScanRefused) -> String {
        refused.describe(&self.museum_tz)
    }

    /// How many valid tickets the bundle expected, and how many this gate knows were let in.
    pub fn progress(&self) -> (usize, usize) {
        (self.expected, self.used.len())
    }

    /// Decides a scanned code now; what it admits is remembered and its journal lines given.
    pub fn scan(&mut self, code: &str, now: Timestamp) -> Result<Admitted, GateError> {
        let claims = self.verifier.verify(code)?;
        self.decide(code, claims, now)
    }

    /// Decides queued scans at once (their signatures verified in one batch), in order.
    pub fn scan_many(
        &mut self,
        codes: &[&str],
        now: Timestamp,
    ) -> Vec<Result<Admitted, GateError>> {
        let verified = self.verifier.verify_many(codes);
        codes
            .iter()
            .zip(verified)
            .map(|(code, claims)| self.decide(code, claims?, now))
            .collect()
    }

    /// The gate's name (its entries are made under it).
    pub fn name(&self) -> &str {
        &self.gate
    }

    /// Remembers an entry this gate did not decide offline: an online admission or refusal
    /// ("already used"), or its own journal replayed after a restart. For a group code,
    /// `ticket` names the member (from a journal line); without it every member the bundle
    /// lists is taken as in (what the server's admission or "already used" means). A code that
    /// does not verify is refused. An earlier entry is kept.
    pub fn remember(
        &mut self,
        code: &str,
        ticket: Option<&str>,
        entry: Entry,
    ) -> Result<(), TokenRefused> {
        let members = match self.verifier.verify(code)? {
            CodeClaims::Ticket(claims) => vec![claims.ticket_id.0],
            CodeClaims::Group(claims) => match ticket {
                Some(t) => vec![t.to_owned()],
                None => self
                    .groups
                    .get(&claims.order_id.0)
                    .cloned()
                    .unwrap_or_default(),
            },
        };
        for member in members {
            self.used.entry(member).or_insert_with(|| entry.clone());
        }
        Ok(())
    }

    fn decide(
        &mut self,
        code: &str,
        claims: CodeClaims,
        now: Timestamp,
    ) -> Result<Admitted, GateError> {
        match claims {
            CodeClaims::Ticket(claims) => self.decide_ticket(code, claims, now),
            CodeClaims::Group(claims) => self.decide_group(code, claims, now),
        }
    }

    /// One ticket's decision from what the gate knows, without recording it.
    fn decide_member(
        &self,
        ticket: &str,
        valid_from: Timestamp,
        valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Entry, ScanRefused> {
        if let Some(refusal) = self.revoked.get(ticket) {
            return Err(refusal.clone());
        }
        decide_scan(
            valid_from,
            valid_until,
            Some(TicketState::Valid),
            self.used.get(ticket),
            now,
        )?;
        Ok(Entry {
            at: now,
            gate: self.gate.clone(),
        })
    }

    fn decide_ticket(
        &mut self,
        code: &str,
        claims: TicketClaims,
        now: Timestamp,
    ) -> Result<Admitted, GateError> {
        let key = &claims.ticket_id.0;
        let entry = self
            .decide_member(key, claims.valid_from, claims.valid_until, now)
            .map_err(GateError::Refused)?;
        self.used.insert(key.clone(), entry.clone());
        Ok(Admitted {
            slot: claims.slot_id,
            entry,
            tickets: vec![claims.ticket_id],
            group: None,
            lines: vec![JournalLine {
                at: now,
                code: code.to_owned(),
                ticket: None,
            }],
        })
    }

    fn decide_group(
        &mut self,
        code: &str,
        claims: GroupClaims,
        now: Timestamp,
    ) -> Result<Admitted, GateError> {
        // A group booked after the download is not in the bundle: its members' own codes
        // still work, its group code needs the server.
        let members = self
            .groups
            .get(&claims.order_id.0)
            .cloned()
            .unwrap_or_default();
        let decided: Vec<Result<Entry, ScanRefused>> = members
            .iter()
            .map(|m| self.decide_member(m, claims.valid_from, claims.valid_until, now))
            .collect();
        let tally = tally_group(&decided).map_err(GateError::Refused)?;
        let entry = Entry {
            at: now,
            gate: self.gate.clone(),
        };
        let mut tickets = Vec::new();
        let mut lines = Vec::new();
        for (member, decision) in members.into_iter().zip(decided) {
            if decision.is_ok() {
                self.used.insert(member.clone(), entry.clone());
                lines.push(JournalLine {
                    at: now,
                    code: code.to_owned(),
                    ticket: Some(member.clone()),
                });
                tickets.push(TicketId(member));
            }
        }
        Ok(Admitted {
            slot: claims.slot_id,
            entry,
            tickets,
            group: Some(GroupAdmitted {
                order: claims.order_id,
                head_count: claims.head_count,
                tally,
            }),
            lines,
        })
    }
}
