//! The gate side, offline: with the day's bundle a gate checks codes on its own — signature,
//! window, revocations, and its own earlier entries — and journals every entry it makes, to
//! upload when it reconnects. Two gates offline at once cannot know of each other's entries;
//! the server finds those double uses from the uploads.

use std::collections::HashMap;

use base64::Engine;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::check_in::{decide_scan, Entry, ScanRefused};
use gatehouse_domain::order::{TicketId, TicketState};
use gatehouse_tickets::{TicketClaims, TicketVerifier, TokenRefused};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::bundle::GateBundle;
use crate::GateError;

/// A ticket an offline gate let in, and the journal line that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub ticket: TicketId,
    pub slot: SlotId,
    pub entry: Entry,
    pub line: JournalLine,
}

/// One entry in a gate's journal: the code it let in and when. The code (not just the ticket)
/// is kept so the server can check the upload's authenticity itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub at: Timestamp,
    pub code: String,
}

impl JournalLine {
    /// `at<TAB>code`, one per line.
    pub fn to_line(&self) -> String {
        format!("{}\t{}", self.at, self.code)
    }

    pub fn parse(line: &str) -> Option<Self> {
        let (at, code) = line.trim_end().split_once('\t')?;
        Some(Self {
            at: at.parse().ok()?,
            code: code.to_owned(),
        })
    }
}

/// A gate working from its bundle.
pub struct OfflineGate {
    day: Date,
    gate: String,
    verifier: TicketVerifier,
    revoked: HashMap<String, ScanRefused>,
    used: HashMap<String, Entry>,
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

    /// Decides a scanned code now; an admitted ticket is remembered and its journal line given.
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
    /// ("already used"), or its own journal replayed after a restart. A code that does not
    /// verify is refused. An earlier entry is kept.
    pub fn remember(&mut self, code: &str, entry: Entry) -> Result<TicketId, TokenRefused> {
        let claims = self.verifier.verify(code)?;
        self.used.entry(claims.ticket_id.0.clone()).or_insert(entry);
        Ok(claims.ticket_id)
    }

    fn decide(
        &mut self,
        code: &str,
        claims: TicketClaims,
        now: Timestamp,
    ) -> Result<Admitted, GateError> {
        let key = &claims.ticket_id.0;
        if let Some(refusal) = self.revoked.get(key) {
            return Err(GateError::Refused(refusal.clone()));
        }
        decide_scan(
            claims.valid_from,
            claims.valid_until,
            Some(TicketState::Valid),
            self.used.get(key),
            now,
        )
        .map_err(GateError::Refused)?;
        let entry = Entry {
            at: now,
            gate: self.gate.clone(),
        };
        self.used.insert(key.clone(), entry.clone());
        Ok(Admitted {
            ticket: claims.ticket_id,
            slot: claims.slot_id,
            entry,
            line: JournalLine {
                at: now,
                code: code.to_owned(),
            },
        })
    }
}
