//! Challenges and passes. A client a challenge rule covers must show a pass; without one it gets
//! a proof-of-work challenge. Both are stateless, signed tokens (HMAC-SHA256 under the pass key),
//! so checking them takes no lock and no lookup:
//!
//! - a **challenge** carries the work asked (SHA-256, or Balloon-SHA-256 over `memory_kib` for
//!   the memory-hard option), its difficulty, when it was issued, a random nonce and the
//!   client's **binding**;
//! - the work: find a counter whose hash — `SHA-256(token ‖ counter)`, or Balloon with password
//!   `counter` and salt `token` (t = 1, δ = 3, as RustCrypto's `balloon-hash` computes it) —
//!   starts with `difficulty` zero bits (`counter` is 8 bytes little-endian);
//! - a **pass** carries its end, how it was earned (work or SMS) and the same binding.
//!
//! The binding is a digest of the client's IPv4 /24 or IPv6 /64, its user agent, its session
//! credential and the sale (the challenge rule's name), so a pass or a solved challenge is no
//! use to another client, another browser, another session or another sale.

use std::net::IpAddr;

use balloon_hash::{Algorithm, Balloon, Params};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::client_ip::prefix_key;

type HmacSha256 = Hmac<Sha256>;

const CHALLENGE_VERSION: u8 = 1;
const PASS_VERSION: u8 = 1;
const MAC_LEN: usize = 16;
/// version, work, difficulty, memory_kib (2), issued (8), nonce (16), binding (16), mac.
const CHALLENGE_LEN: usize = 1 + 1 + 1 + 2 + 8 + 16 + 16 + MAC_LEN;
/// version, via, ends (8), binding (16), mac.
const PASS_LEN: usize = 1 + 1 + 8 + 16 + MAC_LEN;
/// The longest token text read (longer input is refused before decoding).
const MAX_TOKEN_TEXT: usize = 128;

/// Which work a challenge asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Sha256,
    /// Memory-hard: Balloon-SHA-256 over this many KiB.
    Balloon {
        memory_kib: u16,
    },
}

impl Work {
    pub fn name(self) -> &'static str {
        match self {
            Work::Sha256 => "sha256",
            Work::Balloon { .. } => "balloon-sha256",
        }
    }

    fn code(self) -> u8 {
        match self {
            Work::Sha256 => 1,
            Work::Balloon { .. } => 2,
        }
    }

    pub fn memory_kib(self) -> u16 {
        match self {
            Work::Sha256 => 0,
            Work::Balloon { memory_kib } => memory_kib,
        }
    }
}

/// How a pass was earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Work,
    /// A code sent by SMS, for people who cannot run the work.
    Sms,
}

/// The digest tying a token to one client, browser, session and sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding(pub [u8; 16]);

impl Binding {
    pub fn of(client: IpAddr, user_agent: &str, session: &str, sale: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"gatehouse-binding-v1\0");
        h.update(prefix_key(client));
        for part in [user_agent, session, sale] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
        Binding(out)
    }
}

/// An open challenge, read back from its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    pub work: Work,
    pub difficulty: u8,
    pub issued_unix: u64,
    pub binding: Binding,
}

/// Why a token was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match")]
    Forged,
    #[error("the token has expired")]
    Expired,
    #[error("the token belongs to another client, browser, session or sale")]
    OtherClient,
    #[error("the work does not meet the difficulty")]
    WorkInsufficient,
}

/// Signs and checks challenges and passes.
#[derive(Clone)]
pub struct PassKey {
    /// Always present: HMAC takes a key of any length. Should it ever refuse one, nothing
    /// verifies (fail closed).
    mac: Option<HmacSha256>,
}

impl std::fmt::Debug for PassKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassKey(..)")
    }
}

fn decode<const N: usize>(text: &str) -> Result<[u8; N], TokenRefused> {
    if text.len() > MAX_TOKEN_TEXT {
        return Err(TokenRefused::Malformed);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| TokenRefused::Malformed)?;
    <[u8; N]>::try_from(raw.as_slice()).map_err(|_| TokenRefused::Malformed)
}

fn u64_at(raw: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = raw.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

fn binding_at(raw: &[u8], at: usize) -> Binding {
    let mut b = [0u8; 16];
    if let Some(src) = raw.get(at..at + 16) {
        b.copy_from_slice(src);
    }
    Binding(b)
}

impl PassKey {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            mac: <HmacSha256 as Mac>::new_from_slice(key).ok(),
        }
    }

    fn tag(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let mut out = [0u8; MAC_LEN];
        if let Some(mut m) = self.mac.clone() {
            m.update(body);
            let full = m.finalize().into_bytes();
            out.copy_from_slice(full.get(..MAC_LEN).unwrap_or(&[0u8; MAC_LEN]));
        }
        out
    }

    fn verify_tag(&self, body: &[u8], tag: &[u8]) -> Result<(), TokenRefused> {
        let mut m = self.mac.clone().ok_or(TokenRefused::Forged)?;
        m.update(body);
        m.verify_truncated_left(tag)
            .map_err(|_| TokenRefused::Forged)
    }

    /// A person a request names (a phone, an ID number), blinded for the limits keyed by them:
    /// the same on every node (they share the key), and nothing in it reveals the person — not
    /// in memory, not in Redis.
    pub fn blind_subject(&self, kind: &str, normalised: &str) -> [u8; MAC_LEN] {
        let mut body = Vec::with_capacity(16 + kind.len() + normalised.len());
        body.extend_from_slice(b"subject-limit\0");
        body.extend_from_slice(kind.as_bytes());
        body.push(0);
        body.extend_from_slice(normalised.as_bytes());
        self.tag(&body)
    }

    /// A challenge for `binding`, issued at `unix_now` with a fresh random `nonce`.
    pub fn challenge(
        &self,
        work: Work,
        difficulty: u8,
        binding: Binding,
        unix_now: u64,
        nonce: [u8; 16],
    ) -> String {
        let mut raw = Vec::with_capacity(CHALLENGE_LEN);
        raw.push(CHALLENGE_VERSION);
        raw.push(work.code());
        raw.push(difficulty);
        raw.extend_from_slice(&work.memory_kib().to_le_bytes());
        raw.extend_from_slice(&unix_now.to_le_bytes());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&binding.0);
        let tag = self.tag(&raw);
        raw.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a challenge token back: its signature, its age (at most `solve_secs`) and that it
    /// was issued to `binding`.
    pub fn open_challenge(
        &self,
        token: &str,
        binding: Binding,
        unix_now: u64,
        solve_secs: u64,
    ) -> Result<Challenge, TokenRefused> {
        let raw: [u8; CHALLENGE_LEN] = decode(token)?;
        let (body, tag) = raw.split_at(CHALLENGE_LEN - MAC_LEN);
        if body.first() != Some(&CHALLENGE_VERSION) {
            return Err(TokenRefused::Malformed);
        }
        self.verify_tag(body, tag)?;
        let memory_kib = u16::from_le_bytes([raw[3], raw[4]]);
        let work = match raw[1] {
            1 => Work::Sha256,
            2 => Work::Balloon { memory_kib },
            _ => return Err(TokenRefused::Malformed),
        };
        let issued_unix = u64_at(&raw, 5);
        if unix_now.saturating_sub(issued_unix) > solve_secs || issued_unix > unix_now + 60 {
            return Err(TokenRefused::Expired);
        }
        let challenge = Challenge {
            work,
            difficulty: raw[2],
            issued_unix,
            binding: binding_at(&raw, 29),
        };
        if challenge.binding != binding {
            return Err(TokenRefused::OtherClient);
        }
        Ok(challenge)
    }

    /// A pass for `binding` until `unix_now + pass_secs`.
    pub fn pass(&self, binding: Binding, via: Via, unix_now: u64, pass_secs: u64) -> String {
        let mut raw = Vec::with_capacity(PASS_LEN);
        raw.push(PASS_VERSION);
        raw.push(match via {
            Via::Work => 1,
            Via::Sms => 2,
        });
        raw.extend_from_slice(&unix_now.saturating_add(pass_secs).to_le_bytes());
        raw.extend_from_slice(&binding.0);
        let tag = self.tag(&raw);
        raw.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a pass: signed by us, not ended, issued to `binding`.
    pub fn check_pass(
        &self,
        token: &str,
        binding: Binding,
        unix_now: u64,
    ) -> Result<Via, TokenRefused> {
        let raw: [u8; PASS_LEN] = decode(token)?;
        let (body, tag) = raw.split_at(PASS_LEN - MAC_LEN);
        if body.first() != Some(&PASS_VERSION) {
            return Err(TokenRefused::Malformed);
        }
        self.verify_tag(body, tag)?;
        if u64_at(&raw, 2) <= unix_now {
            return Err(TokenRefused::Expired);
        }
        if binding_at(&raw, 10) != binding {
            return Err(TokenRefused::OtherClient);
        }
        match raw[1] {
            1 => Ok(Via::Work),
            2 => Ok(Via::Sms),
            _ => Err(TokenRefused::Malformed),
        }
    }
}

/// The number of leading zero bits of a hash.
pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for b in hash {
        if *b == 0 {
            bits += 8;
        } else {
            return bits + b.leading_zeros();
        }
    }
    bits
}

/// The work's hash for `token` and `counter`.
pub fn work_hash(work: Work, token: &str, counter: u64) -> [u8; 32] {
    match work {
        Work::Sha256 => {
            let mut h = Sha256::new();
            h.update(token.as_bytes());
            h.update(counter.to_le_bytes());
            h.finalize().into()
        }
        Work::Balloon { memory_kib } => {
            let blocks = (u32::from(memory_kib) * 1024 / 32).max(1);
            let params = Params::new(blocks, 1, 1);
            let out = params.ok().and_then(|p| {
                Balloon::<Sha256>::new(Algorithm::Balloon, p, None)
                    .hash(&counter.to_le_bytes(), token.as_bytes())
                    .ok()
            });
            // Parameters come from our own policy checks; if the library still refuses them,
            // no hash has zero bits to spare.
            out.map_or([0xff; 32], Into::into)
        }
    }
}

/// Whether `counter` solves the challenge `token` asks.
pub fn solves(challenge: &Challenge, token: &str, counter: u64) -> bool {
    leading_zero_bits(&work_hash(challenge.work, token, counter)) >= u32::from(challenge.difficulty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PassKey {
        PassKey::new(&[9; 32])
    }

    fn solve(work: Work, token: &str, difficulty: u8) -> u64 {
        (0..)
            .find(|c| leading_zero_bits(&work_hash(work, token, *c)) >= u32::from(difficulty))
            .unwrap()
    }

    fn client() -> Binding {
        Binding::of(
            "198.51.100.7".parse().unwrap(),
            "Mozilla/5.0",
            "",
            "release",
        )
    }

    #[test]
    fn a_solved_challenge_opens_and_checks_only_for_its_client() {
        let k = key();
        let token = k.challenge(Work::Sha256, 8, client(), 1_000, [1; 16]);
        let c = k.open_challenge(&token, client(), 1_010, 300).unwrap();
        assert_eq!(
            (c.work, c.difficulty, c.issued_unix),
            (Work::Sha256, 8, 1_000)
        );
        let counter = solve(Work::Sha256, &token, 8);
        assert!(solves(&c, &token, counter));
        let easier_than_found = (0..counter).all(|c2| !solves(&c, &token, c2));
        assert!(easier_than_found, "the first solution is the one found");
        // Same /24, same browser: same client. Another network, browser, session or sale: not.
        let neighbour = Binding::of(
            "198.51.100.99".parse().unwrap(),
            "Mozilla/5.0",
            "",
            "release",
        );
        assert!(k.open_challenge(&token, neighbour, 1_010, 300).is_ok());
        for other in [
            Binding::of(
                "198.51.101.7".parse().unwrap(),
                "Mozilla/5.0",
                "",
                "release",
            ),
            Binding::of("198.51.100.7".parse().unwrap(), "curl/8", "", "release"),
            Binding::of(
                "198.51.100.7".parse().unwrap(),
                "Mozilla/5.0",
                "s",
                "release",
            ),
            Binding::of("198.51.100.7".parse().unwrap(), "Mozilla/5.0", "", "cinema"),
        ] {
            assert_eq!(
                k.open_challenge(&token, other, 1_010, 300),
                Err(TokenRefused::OtherClient)
            );
        }
        assert_eq!(
            k.open_challenge(&token, client(), 1_301, 300),
            Err(TokenRefused::Expired)
        );
    }

    #[test]
    fn tokens_cannot_be_forged_or_altered() {
        let k = key();
        let token = k.challenge(Work::Sha256, 20, client(), 1_000, [1; 16]);
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        raw[2] = 1; // an easier difficulty
        let altered = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(
            k.open_challenge(&altered, client(), 1_000, 300),
            Err(TokenRefused::Forged)
        );
        let stranger = PassKey::new(&[8; 32]);
        let theirs = stranger.pass(client(), Via::Work, 1_000, 600);
        assert_eq!(
            k.check_pass(&theirs, client(), 1_001),
            Err(TokenRefused::Forged)
        );
        for junk in ["", "!!", "AAAA", &"A".repeat(500), &token] {
            assert!(k.check_pass(junk, client(), 1_001).is_err(), "{junk}");
        }
    }

    #[test]
    fn a_pass_holds_for_its_client_until_it_ends() {
        let k = key();
        let pass = k.pass(client(), Via::Sms, 1_000, 600);
        assert_eq!(k.check_pass(&pass, client(), 1_599), Ok(Via::Sms));
        assert_eq!(
            k.check_pass(&pass, client(), 1_600),
            Err(TokenRefused::Expired)
        );
        let other = Binding::of("203.0.113.1".parse().unwrap(), "Mozilla/5.0", "", "release");
        assert_eq!(
            k.check_pass(&pass, other, 1_001),
            Err(TokenRefused::OtherClient)
        );
    }

    #[test]
    fn the_memory_hard_work_is_balloon_hashing_as_rustcrypto_computes_it() {
        let token = "tok";
        let h = work_hash(Work::Balloon { memory_kib: 1 }, token, 7);
        let expected =
            Balloon::<Sha256>::new(Algorithm::Balloon, Params::new(32, 1, 1).unwrap(), None)
                .hash(&7u64.to_le_bytes(), b"tok")
                .unwrap();
        assert_eq!(h.as_slice(), expected.as_slice());
        assert_ne!(h, work_hash(Work::Balloon { memory_kib: 1 }, token, 8));
    }

    #[test]
    fn leading_zero_bits_count_across_bytes() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x10, 0xff]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0; 4]), 32);
    }
}
