//! Admission tokens: what an admitted person's booking requests carry during a protected
//! release. A token names the release, the place and the account, and when it ends; its MAC
//! (HMAC-SHA256 under the node's admission key) also covers the device session it was issued
//! to, without carrying it. So a token is refused when forged, expired, for another release,
//! on another account, or replayed from another session.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

use crate::line::PlaceId;

const PREFIX: &str = "gha1.";
const BODY_LEN: usize = 32;

/// The key admission tokens are signed with (shared by every node of a deployment).
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(…)")
    }
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub release: u64,
    pub place: PlaceId,
    pub account: i64,
    pub until: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    #[error("not an admission token we issued")]
    Forged,
    #[error("the admission has ended")]
    Expired,
    #[error("the admission is for another release")]
    OtherRelease,
    #[error("the admission belongs to another account or device")]
    OtherHolder,
}

impl TokenKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn mac(&self, body: &[u8], session: &[u8; 32]) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(b"gatehouse-admission\0");
        mac.update(body);
        mac.update(session);
        Some(mac)
    }

    /// The secret part of a place's poll address: a MAC over the release, the place and the
    /// session it is bound to, so only its holder can read where it stands without signing in
    /// again on every poll (16 bytes, base64url).
    pub fn poll_key(&self, release: u64, place: PlaceId, session: &[u8; 32]) -> String {
        let mut body = [0u8; 17];
        body[0] = b'p';
        if let Some(slot) = body.get_mut(1..9) {
            slot.copy_from_slice(&release.to_be_bytes());
        }
        if let Some(slot) = body.get_mut(9..17) {
            slot.copy_from_slice(&place.0.to_be_bytes());
        }
        let tag = self
            .mac(&body, session)
            .map(|m| m.finalize().into_bytes().to_vec())
            .unwrap_or_default();
        data_encoding::BASE64URL_NOPAD.encode(tag.get(..16).unwrap_or_default())
    }

    /// The token for `admission`, bound to `session` (a digest of the session token).
    pub fn sign(&self, admission: &Admission, session: &[u8; 32]) -> String {
        let body = body_of(admission);
        let tag = self
            .mac(&body, session)
            .map(|m| m.finalize().into_bytes().to_vec())
            .unwrap_or_default();
        let b64 = data_encoding::BASE64URL_NOPAD;
        format!("{PREFIX}{}.{}", b64.encode(&body), b64.encode(&tag))
    }

    /// Checks `token` for a request of `account` from `session` to `release` at `now`.
    pub fn verify(
        &self,
        token: &str,
        release: u64,
        account: i64,
        session: &[u8; 32],
        now: Timestamp,
    ) -> Result<Admission, TokenRefused> {
        let rest = token
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(TokenRefused::Forged)?;
        let (body, tag) = rest.split_once('.').ok_or(TokenRefused::Forged)?;
        let b64 = data_encoding::BASE64URL_NOPAD;
        let body = b64
            .decode(body.as_bytes())
            .map_err(|_| TokenRefused::Forged)?;
        let tag = b64
            .decode(tag.as_bytes())
            .map_err(|_| TokenRefused::Forged)?;
        let admission = admission_of(&body).ok_or(TokenRefused::Forged)?;
        if admission.account != account {
            return Err(TokenRefused::OtherHolder);
        }
        let mac = self.mac(&body, session).ok_or(TokenRefused::Forged)?;
        if mac.verify_slice(&tag).is_err() {
            // A genuine token presented from another session fails here too.
            return Err(TokenRefused::OtherHolder);
        }
        if admission.release != release {
            return Err(TokenRefused::OtherRelease);
        }
        if admission.until <= now {
            return Err(TokenRefused::Expired);
        }
        Ok(admission)
    }
}

fn body_of(a: &Admission) -> [u8; BODY_LEN] {
    let mut body = [0u8; BODY_LEN];
    let until = a.until.as_millisecond();
    for (i, part) in [
        a.release.to_be_bytes(),
        a.place.0.to_be_bytes(),
        a.account.to_be_bytes(),
        until.to_be_bytes(),
    ]
    .iter()
    .enumerate()
    {
        if let Some(slot) = body.get_mut(i * 8..i * 8 + 8) {
            slot.copy_from_slice(part);
        }
    }
    body
}

fn admission_of(body: &[u8]) -> Option<Admission> {
    if body.len() != BODY_LEN {
        return None;
    }
    let word = |i: usize| -> Option<[u8; 8]> { body.get(i * 8..i * 8 + 8)?.try_into().ok() };
    Some(Admission {
        release: u64::from_be_bytes(word(0)?),
        place: PlaceId(u64::from_be_bytes(word(1)?)),
        account: i64::from_be_bytes(word(2)?),
        until: Timestamp::from_millisecond(i64::from_be_bytes(word(3)?)).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_token_works_only_for_its_release_account_session_and_time() {
        let key = TokenKey::new([9; 32]);
        let session = [1u8; 32];
        let a = Admission {
            release: 7,
            place: PlaceId(42),
            account: 1001,
            until: at(600),
        };
        let token = key.sign(&a, &session);
        assert_eq!(key.verify(&token, 7, 1001, &session, at(0)), Ok(a));
        assert_eq!(
            key.verify(&token, 7, 1001, &session, at(600)),
            Err(TokenRefused::Expired)
        );
        assert_eq!(
            key.verify(&token, 8, 1001, &session, at(0)),
            Err(TokenRefused::OtherRelease)
        );
        assert_eq!(
            key.verify(&token, 7, 1002, &session, at(0)),
            Err(TokenRefused::OtherHolder)
        );
        assert_eq!(
            key.verify(&token, 7, 1001, &[2; 32], at(0)),
            Err(TokenRefused::OtherHolder)
        );
        assert_eq!(
            TokenKey::new([8; 32]).verify(&token, 7, 1001, &session, at(0)),
            Err(TokenRefused::OtherHolder)
        );
        for forged in [
            "",
            "gha1.",
            "gha1.AAAA.BBBB",
            "nope",
            &token.replace("gha1.", "gha2."),
        ] {
            assert_eq!(
                key.verify(forged, 7, 1001, &session, at(0)),
                Err(TokenRefused::Forged),
                "{forged}"
            );
        }
        // A body changed to a later end (or another place) no longer matches its MAC.
        let b64 = data_encoding::BASE64URL_NOPAD;
        let later = Admission {
            until: at(6000),
            ..a
        };
        let (_, tag) = token.rsplit_once('.').unwrap_or_default();
        let tampered = format!("gha1.{}.{tag}", b64.encode(&body_of(&later)));
        assert_eq!(
            key.verify(&tampered, 7, 1001, &session, at(0)),
            Err(TokenRefused::OtherHolder)
        );
    }
}
