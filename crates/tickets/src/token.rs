//! The signed token: its binary layout, signing and verification.
//!
//! A ticket code (version 1), 99 bytes before encoding:
//! `version:1 | key_id:2 | ticket uuid:16 | slot id:8 | valid_from:4 | valid_until:4 | signature:64`.
//! A group code (version 2) admits a group order's members at once, 101 bytes:
//! `version:2 | key_id:2 | order uuid:16 | slot id:8 | valid_from:4 | valid_until:4 | head_count:2 | signature:64`.
//! Integers are big-endian, instants Unix seconds. The signature covers a domain-separation
//! label of the code's kind and the body. The text form is `GH1` followed by the bytes in base32
//! without padding: uppercase letters and digits only, which QR codes store in alphanumeric mode.

use std::collections::HashMap;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, VerifyingKey};
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::order::{OrderId, TicketId};
use jiff::Timestamp;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// What every ticket code starts with.
pub const TOKEN_PREFIX: &str = "GH1";
const TICKET_VERSION: u8 = 1;
const GROUP_VERSION: u8 = 2;
/// version, key id, uuid, slot, window: what both kinds begin with.
const COMMON_LEN: usize = 35;
const GROUP_BODY_LEN: usize = COMMON_LEN + 2;
const SIGNATURE_LEN: usize = 64;
/// Signed before the body, so a signature made for anything else can never pass as a ticket,
/// and a ticket's signature never as a group's.
const TICKET_LABEL: &[u8] = b"gatehouse ticket code v1\0";
const GROUP_LABEL: &[u8] = b"gatehouse group code v1\0";
/// The longest text a valid code can be (with a little slack for surrounding whitespace).
const MAX_TEXT_LEN: usize = 256;

/// What a ticket code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaims {
    pub ticket_id: TicketId,
    pub slot_id: SlotId,
    /// The code admits from this instant (the slot's start less the early margin)…
    pub valid_from: Timestamp,
    /// …until this one (the slot's end plus the late margin).
    pub valid_until: Timestamp,
}

/// What a group code says: one order's members, admitted together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupClaims {
    pub order_id: OrderId,
    pub slot_id: SlotId,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
    /// How many people the order held when the code was made (the gate admits those of them
    /// still valid and not yet in).
    pub head_count: u16,
}

/// What an authentic code says: one ticket, or one group order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeClaims {
    Ticket(TicketClaims),
    Group(GroupClaims),
}

impl CodeClaims {
    pub fn slot_id(&self) -> SlotId {
        match self {
            CodeClaims::Ticket(t) => t.slot_id,
            CodeClaims::Group(g) => g.slot_id,
        }
    }

    /// The claims of a ticket code; a group code is refused.
    pub fn ticket(self) -> Result<TicketClaims, TokenRefused> {
        match self {
            CodeClaims::Ticket(t) => Ok(t),
            CodeClaims::Group(_) => Err(TokenRefused::Malformed("a group code, not a ticket code")),
        }
    }
}

/// Why a code is not an authentic ticket code. Each names no personal data, so it can be shown
/// at the gate and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    #[error("not a ticket code: {0}")]
    Malformed(&'static str),
    #[error("signed with key {0}, which this gate does not know (or which was retired)")]
    UnknownKey(u16),
    #[error("the code's signature does not verify: it was altered or forged")]
    BadSignature,
}

fn secs(t: Timestamp) -> Result<u32, TokenRefused> {
    u32::try_from(t.as_second()).map_err(|_| TokenRefused::Malformed("instant out of range"))
}

/// The part both kinds of code begin with.
fn common(
    version: u8,
    key_id: u16,
    id: &str,
    slot: SlotId,
    valid_from: Timestamp,
    valid_until: Timestamp,
) -> Result<Vec<u8>, TokenRefused> {
    let uuid =
        uuid::Uuid::parse_str(id).map_err(|_| TokenRefused::Malformed("id is not a UUID"))?;
    let slot = u64::try_from(slot.0).map_err(|_| TokenRefused::Malformed("negative slot id"))?;
    let mut out = Vec::with_capacity(GROUP_BODY_LEN);
    out.push(version);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(uuid.as_bytes());
    out.extend_from_slice(&slot.to_be_bytes());
    out.extend_from_slice(&secs(valid_from)?.to_be_bytes());
    out.extend_from_slice(&secs(valid_until)?.to_be_bytes());
    Ok(out)
}

/// The signed part of a ticket code.
fn body(key_id: u16, claims: &TicketClaims) -> Result<Vec<u8>, TokenRefused> {
    common(
        TICKET_VERSION,
        key_id,
        &claims.ticket_id.0,
        claims.slot_id,
        claims.valid_from,
        claims.valid_until,
    )
}

/// The signed part of a group code.
fn group_body(key_id: u16, claims: &GroupClaims) -> Result<Vec<u8>, TokenRefused> {
    if claims.head_count == 0 {
        return Err(TokenRefused::Malformed("a group of nobody"));
    }
    let mut out = common(
        GROUP_VERSION,
        key_id,
        &claims.order_id.0,
        claims.slot_id,
        claims.valid_from,
        claims.valid_until,
    )?;
    out.extend_from_slice(&claims.head_count.to_be_bytes());
    Ok(out)
}

fn signed_message(label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + body.len());
    m.extend_from_slice(label);
    m.extend_from_slice(body);
    m
}

/// Signs ticket codes with the current key.
pub struct TicketSigner {
    key_id: u16,
    key: Ed25519KeyPair,
}

impl TicketSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(key_id: u16, seed: &[u8; 32]) -> Result<Self, TokenRefused> {
        let key = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| TokenRefused::Malformed("not an Ed25519 seed"))?;
        Ok(Self { key_id, key })
    }

    pub fn key_id(&self) -> u16 {
        self.key_id
    }

    /// The public key gates verify with.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (o, b) in out.iter_mut().zip(self.key.public_key().as_ref()) {
            *o = *b;
        }
        out
    }

    /// The code for `claims`, ready for a QR code.
    pub fn sign(&self, claims: &TicketClaims) -> Result<String, TokenRefused> {
        Ok(self.seal(TICKET_LABEL, body(self.key_id, claims)?))
    }

    /// The one code of a group order.
    pub fn sign_group(&self, claims: &GroupClaims) -> Result<String, TokenRefused> {
        Ok(self.seal(GROUP_LABEL, group_body(self.key_id, claims)?))
    }

    fn seal(&self, label: &[u8], mut body: Vec<u8>) -> String {
        let signature = self.key.sign(&signed_message(label, &body));
        body.extend_from_slice(signature.as_ref());
        format!("{TOKEN_PREFIX}{}", BASE32_NOPAD.encode(&body))
    }
}

/// Verifies ticket codes with the public keys it was given (online: the server's; offline: the
/// ones a gate downloaded). Keys are kept decompressed, and queued scans can be verified in a
/// batch, which costs about half as much per code.
#[derive(Clone, Default)]
pub struct TicketVerifier {
    keys: HashMap<u16, VerifyingKey>,
}

/// A code whose format checked out, waiting for its signature to be checked.
struct Parsed {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
    claims: CodeClaims,
}

impl TicketVerifier {
    /// A verifier for these keys; a key that is not a valid Ed25519 point is left out (codes
    /// naming it are then refused as signed by an unknown key).
    pub fn new(keys: impl IntoIterator<Item = (u16, [u8; 32])>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .filter_map(|(id, bytes)| Some((id, VerifyingKey::from_bytes(&bytes).ok()?)))
                .collect(),
        }
    }

    /// Verifies many codes at once (a gate's queued scans, an upload): one batch equation for
    /// all of them, and one by one only if the batch fails, to find the bad ones. Answers in
    /// the order given.
    pub fn verify_many(&self, texts: &[&str]) -> Vec<Result<CodeClaims, TokenRefused>> {
        let parsed: Vec<Result<Parsed, TokenRefused>> =
            texts.iter().map(|t| self.parse(t)).collect();
        let ok: Vec<&Parsed> = parsed.iter().filter_map(|p| p.as_ref().ok()).collect();
        let messages: Vec<&[u8]> = ok.iter().map(|p| p.message.as_slice()).collect();
        let signatures: Vec<Signature> = ok.iter().map(|p| p.signature).collect();
        let keys: Vec<VerifyingKey> = ok.iter().map(|p| p.key).collect();
        let all_good = ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
        parsed
            .into_iter()
            .map(|p| {
                let p = p?;
                if all_good || p.key.verify_strict(&p.message, &p.signature).is_ok() {
                    Ok(p.claims)
                } else {
                    Err(TokenRefused::BadSignature)
                }
            })
            .collect()
    }

    /// The claims of an authentic code. Checks the format strictly (any other length, prefix,
    /// alphabet or version is refused) before the signature.
    pub fn verify(&self, text: &str) -> Result<CodeClaims, TokenRefused> {
        let p = self.parse(text)?;
        p.key
            .verify_strict(&p.message, &p.signature)
            .map_err(|_| TokenRefused::BadSignature)?;
        Ok(p.claims)
    }

    fn parse(&self, text: &str) -> Result<Parsed, TokenRefused> {
        if text.len() > MAX_TEXT_LEN {
            return Err(TokenRefused::Malformed("too long"));
        }
        let encoded = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenRefused::Malformed("does not start with GH1"))?;
        let raw = BASE32_NOPAD
            .decode(encoded.as_bytes())
            .map_err(|_| TokenRefused::Malformed("not base32"))?;
        let body_len = match raw.first() {
            Some(&TICKET_VERSION) => COMMON_LEN,
            Some(&GROUP_VERSION) => GROUP_BODY_LEN,
            _ => return Err(TokenRefused::Malformed("unknown version")),
        };
        let (body, signature) = match (raw.get(..body_len), raw.get(body_len..)) {
            (Some(b), Some(s)) if raw.len() == body_len + SIGNATURE_LEN => (b, s),
            _ => return Err(TokenRefused::Malformed("wrong length")),
        };
        let field = |from: usize, to: usize| {
            body.get(from..to)
                .ok_or(TokenRefused::Malformed("wrong length"))
        };
        let key_id = u16::from_be_bytes(
            field(1, 3)?
                .try_into()
                .map_err(|_| TokenRefused::Malformed("key id"))?,
        );
        let key = *self
            .keys
            .get(&key_id)
            .ok_or(TokenRefused::UnknownKey(key_id))?;
        let signature =
            Signature::from_slice(signature).map_err(|_| TokenRefused::Malformed("signature"))?;
        let uuid = uuid::Uuid::from_slice(field(3, 19)?)
            .map_err(|_| TokenRefused::Malformed("id"))?
            .hyphenated()
            .to_string();
        let n8 = |from| -> Result<u64, TokenRefused> {
            Ok(u64::from_be_bytes(
                field(from, from + 8)?
                    .try_into()
                    .map_err(|_| TokenRefused::Malformed("slot"))?,
            ))
        };
        let n4 = |from| -> Result<u32, TokenRefused> {
            Ok(u32::from_be_bytes(
                field(from, from + 4)?
                    .try_into()
                    .map_err(|_| TokenRefused::Malformed("instant"))?,
            ))
        };
        let instant = |s: u32| {
            Timestamp::from_second(i64::from(s)).map_err(|_| TokenRefused::Malformed("instant"))
        };
        let slot_id = SlotId(i64::try_from(n8(19)?).map_err(|_| TokenRefused::Malformed("slot"))?);
        let valid_from = instant(n4(27)?)?;
        let valid_until = instant(n4(31)?)?;
        let (label, claims) = if body_len == COMMON_LEN {
            let claims = TicketClaims {
                ticket_id: TicketId(uuid),
                slot_id,
                valid_from,
                valid_until,
            };
            (TICKET_LABEL, CodeClaims::Ticket(claims))
        } else {
            let head_count = u16::from_be_bytes(
                field(35, 37)?
                    .try_into()
                    .map_err(|_| TokenRefused::Malformed("head count"))?,
            );
            if head_count == 0 {
                return Err(TokenRefused::Malformed("a group of nobody"));
            }
            let claims = GroupClaims {
                order_id: OrderId(uuid),
                slot_id,
                valid_from,
                valid_until,
                head_count,
            };
            (GROUP_LABEL, CodeClaims::Group(claims))
        };
        Ok(Parsed {
            key,
            message: signed_message(label, body),
            signature,
            claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            ticket_id: TicketId("01a20b17-fda1-7241-81bd-255356377510".into()),
            slot_id: SlotId(42),
            valid_from: "2026-11-25T00:30:00Z".parse().unwrap(),
            valid_until: "2026-11-25T03:00:00Z".parse().unwrap(),
        }
    }

    fn signer(key_id: u16, seed: u8) -> TicketSigner {
        TicketSigner::from_seed(key_id, &[seed; 32]).unwrap()
    }

    #[test]
    fn a_code_round_trips_and_is_small_and_qr_alphanumeric() {
        let s = signer(7, 1);
        let code = s.sign(&claims()).unwrap();
        assert_eq!(code.len(), 3 + 159);
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{code}"
        );
        let v = TicketVerifier::new([(7, s.public_key())]);
        assert_eq!(v.verify(&code).unwrap(), CodeClaims::Ticket(claims()));
        assert_eq!(
            v.verify(&format!("  {code}\n")).unwrap().ticket().unwrap(),
            claims(),
            "scanner whitespace"
        );
    }

    #[test]
    fn a_batch_finds_its_bad_codes_and_keeps_their_order() {
        let s = signer(7, 1);
        let v = TicketVerifier::new([(7, s.public_key())]);
        let good: Vec<String> = (0..5).map(|_| s.sign(&claims()).unwrap()).collect();
        let forged = signer(7, 2).sign(&claims()).unwrap();
        let texts = [
            good[0].as_str(),
            forged.as_str(),
            good[1].as_str(),
            "GH1",
            good[2].as_str(),
        ];
        let out = v.verify_many(&texts);
        assert_eq!(out[0], Ok(CodeClaims::Ticket(claims())));
        assert_eq!(out[1], Err(TokenRefused::BadSignature));
        assert_eq!(out[2], Ok(CodeClaims::Ticket(claims())));
        assert!(matches!(out[3], Err(TokenRefused::Malformed(_))));
        assert_eq!(out[4], Ok(CodeClaims::Ticket(claims())));
        let all_good: Vec<&str> = good.iter().map(String::as_str).collect();
        assert!(v.verify_many(&all_good).iter().all(Result::is_ok));
        assert!(v.verify_many(&[]).is_empty());
    }

    #[test]
    fn forged_truncated_and_foreign_codes_are_refused() {
        let s = signer(7, 1);
        let code = s.sign(&claims()).unwrap();
        let v = TicketVerifier::new([(7, s.public_key())]);
        // Another key claiming to be key 7.
        let forged = signer(7, 2).sign(&claims()).unwrap();
        assert_eq!(v.verify(&forged), Err(TokenRefused::BadSignature));
        // A key this gate does not know.
        assert_eq!(
            v.verify(&signer(8, 1).sign(&claims()).unwrap()),
            Err(TokenRefused::UnknownKey(8))
        );
        assert!(matches!(
            v.verify(&code[..code.len() - 8]),
            Err(TokenRefused::Malformed(_))
        ));
        // Well-formed base32 of the wrong length.
        let short = format!("GH1{}", BASE32_NOPAD.encode(&[1u8; 98]));
        assert_eq!(
            v.verify(&short),
            Err(TokenRefused::Malformed("wrong length"))
        );
        assert!(matches!(
            v.verify(&code.to_lowercase()),
            Err(TokenRefused::Malformed(_))
        ));
        assert!(matches!(v.verify(""), Err(TokenRefused::Malformed(_))));
        assert!(matches!(
            v.verify(&"GH1A".repeat(100)),
            Err(TokenRefused::Malformed("too long"))
        ));
        // A valid signature over something that is not a ticket code cannot be reused.
        let key = Ed25519KeyPair::from_seed_unchecked(&[1; 32]).unwrap();
        let mut raw = body(7, &claims()).unwrap().to_vec();
        raw.extend_from_slice(key.sign(&raw.clone()).as_ref());
        assert_eq!(
            v.verify(&format!("GH1{}", BASE32_NOPAD.encode(&raw))),
            Err(TokenRefused::BadSignature)
        );
        // Bad claims never become a code.
        let mut bad = claims();
        bad.ticket_id = TicketId("not-a-uuid".into());
        assert!(s.sign(&bad).is_err());
        bad = claims();
        bad.slot_id = SlotId(-1);
        assert!(s.sign(&bad).is_err());
    }

    fn group() -> GroupClaims {
        GroupClaims {
            order_id: OrderId("01a20b17-fda1-7241-81bd-255356377511".into()),
            slot_id: SlotId(42),
            valid_from: "2026-11-25T00:30:00Z".parse().unwrap(),
            valid_until: "2026-11-25T03:00:00Z".parse().unwrap(),
            head_count: 40,
        }
    }

    #[test]
    fn a_group_code_round_trips_and_never_passes_for_a_ticket() {
        let s = signer(7, 1);
        let v = TicketVerifier::new([(7, s.public_key())]);
        let code = s.sign_group(&group()).unwrap();
        assert_eq!(code.len(), 3 + 162);
        assert_eq!(v.verify(&code).unwrap(), CodeClaims::Group(group()));
        assert!(v.verify(&code).unwrap().ticket().is_err());
        // The same body bytes relabelled as a ticket (version 1) are the wrong length; and a
        // group signature over a ticket-shaped body does not verify as a ticket.
        let raw = BASE32_NOPAD.decode(&code.as_bytes()[3..]).unwrap();
        let mut as_ticket = raw.clone();
        as_ticket[0] = TICKET_VERSION;
        as_ticket.drain(35..37);
        assert_eq!(
            v.verify(&format!("GH1{}", BASE32_NOPAD.encode(&as_ticket))),
            Err(TokenRefused::BadSignature)
        );
        // A ticket signature relabelled as a group code does not verify either.
        let ticket = BASE32_NOPAD
            .decode(&s.sign(&claims()).unwrap().as_bytes()[3..])
            .unwrap();
        let mut as_group = ticket[..35].to_vec();
        as_group[0] = GROUP_VERSION;
        as_group.extend_from_slice(&1u16.to_be_bytes());
        as_group.extend_from_slice(&ticket[35..]);
        assert_eq!(
            v.verify(&format!("GH1{}", BASE32_NOPAD.encode(&as_group))),
            Err(TokenRefused::BadSignature)
        );
        let mut nobody = group();
        nobody.head_count = 0;
        assert!(s.sign_group(&nobody).is_err());
        // A group of nobody is refused before its signature.
        let mut zero = raw;
        zero[35] = 0;
        zero[36] = 0;
        assert_eq!(
            v.verify(&format!("GH1{}", BASE32_NOPAD.encode(&zero))),
            Err(TokenRefused::Malformed("a group of nobody"))
        );
    }

    proptest! {
        #[test]
        fn changing_any_character_of_a_group_code_breaks_it(position in 3usize..165, replacement in "[A-Z2-7]") {
            let s = signer(7, 1);
            let v = TicketVerifier::new([(7, s.public_key())]);
            let code = s.sign_group(&group()).unwrap();
            let mut changed = code.clone();
            changed.replace_range(position..=position, &replacement);
            prop_assume!(changed != code);
            prop_assert!(v.verify(&changed).is_err());
        }

        #[test]
        fn every_group_round_trips(slot in 0i64..i64::MAX, from in 0u32..u32::MAX, heads in 1u16..=u16::MAX, id in any::<u128>()) {
            let s = signer(3, 9);
            let v = TicketVerifier::new([(3, s.public_key())]);
            let g = GroupClaims {
                order_id: OrderId(uuid::Uuid::from_u128(id).hyphenated().to_string()),
                slot_id: SlotId(slot),
                valid_from: Timestamp::from_second(i64::from(from)).unwrap(),
                valid_until: Timestamp::from_second(i64::from(from.saturating_add(60))).unwrap(),
                head_count: heads,
            };
            prop_assert_eq!(v.verify(&s.sign_group(&g).unwrap()).unwrap(), CodeClaims::Group(g));
        }

        /// Whatever a scanner reads, verification answers without panicking, and only the exact
        /// code verifies.
        #[test]
        fn any_text_is_refused_or_verified_without_panic(text in ".{0,300}") {
            let s = signer(7, 1);
            let v = TicketVerifier::new([(7, s.public_key())]);
            let _ = v.verify(&text);
        }

        #[test]
        fn changing_any_character_of_a_code_breaks_it(position in 3usize..162, replacement in "[A-Z2-7]") {
            let s = signer(7, 1);
            let v = TicketVerifier::new([(7, s.public_key())]);
            let code = s.sign(&claims()).unwrap();
            let mut changed = code.clone();
            changed.replace_range(position..=position, &replacement);
            prop_assume!(changed != code);
            prop_assert!(v.verify(&changed).is_err());
        }

        #[test]
        fn every_ticket_round_trips(slot in 0i64..i64::MAX, from in 0u32..u32::MAX, len in 0u32..86_400, id in any::<u128>()) {
            let s = signer(3, 9);
            let v = TicketVerifier::new([(3, s.public_key())]);
            let c = TicketClaims {
                ticket_id: TicketId(uuid::Uuid::from_u128(id).hyphenated().to_string()),
                slot_id: SlotId(slot),
                valid_from: Timestamp::from_second(i64::from(from)).unwrap(),
                valid_until: Timestamp::from_second(i64::from(from.saturating_add(len))).unwrap(),
            };
            prop_assert_eq!(v.verify(&s.sign(&c).unwrap()).unwrap(), CodeClaims::Ticket(c));
        }
    }
}
