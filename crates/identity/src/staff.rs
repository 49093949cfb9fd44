//! The local break-glass administrator, for when the identity provider is down: a user name,
//! an Argon2id password and a TOTP second factor (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps,
//! one step of clock drift either way). A TOTP step is accepted once, so an observed code
//! cannot be replayed. Failures are limited per user name and per IP; an unknown user name
//! costs the same Argon2 work as a known one.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::{Account, SignInMethod, StaffCredential};
use gatehouse_domain::data_key::DataSubject;
use gatehouse_domain::sealed_column::SealedColumn;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::sessions::IssuedSession;
use crate::{IdentityError, IdentityService};

const TOTP_STEP_SECS: i64 = 30;

/// The RFC 4226 HOTP value of `secret` at `counter`, as 6 digits.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.get(19).copied().unwrap_or(0) & 0x0f);
    let word = digest
        .get(offset..offset + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes);
    (word & 0x7fff_ffff) % 1_000_000
}

/// The TOTP time step of an instant.
pub fn totp_step(at: Timestamp) -> i64 {
    at.as_second().div_euclid(TOTP_STEP_SECS)
}

/// The 6-digit TOTP code of `secret` at `at` (what an authenticator app shows).
pub fn totp_code(secret: &[u8], at: Timestamp) -> String {
    format!(
        "{:06}",
        hotp(secret, u64::try_from(totp_step(at)).unwrap_or(0))
    )
}

/// A new break-glass administrator's secrets, shown once.
pub struct BreakGlassSecrets {
    pub account: Account,
    pub password: Zeroizing<String>,
    /// The TOTP secret in base32, for an authenticator app.
    pub totp_secret_base32: Zeroizing<String>,
    /// An `otpauth://` URI for the same.
    pub otpauth_uri: Zeroizing<String>,
}

fn credential_context(username: &str) -> String {
    SealedColumn::StaffTotp.context(username)
}

fn hash_password(password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| IdentityError::Unavailable)
}

impl IdentityService {
    /// Creates (or resets) the break-glass administrator `username` with a fresh random
    /// password and TOTP secret. Run from the server's console, never over the network.
    pub async fn create_break_glass(
        &self,
        username: &str,
    ) -> Result<BreakGlassSecrets, IdentityError> {
        if username.is_empty()
            || username.len() > 64
            || !username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(IdentityError::invalid(
                "username",
                "is 1–64 letters, digits, '.', '_' or '-'",
            ));
        }
        let mut raw = [0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let password = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&raw).to_lowercase());
        let mut secret = Zeroizing::new([0u8; 20]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        let secret_b32 = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(secret.as_ref()));
        let password_hash = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|_| IdentityError::Unavailable)??
        };
        let account = match self
            .store
            .staff_credential(username)
            .await
            .map_err(IdentityError::store)?
        {
            Some(existing) => self
                .store
                .account(existing.account)
                .await
                .map_err(IdentityError::store)?
                .ok_or(IdentityError::NotFound { what: "account" })?,
            None => self
                .store
                .create_account(
                    &format!("{username} (break glass)"),
                    Roles::of(&[Role::Administrator]),
                    self.clock.now(),
                )
                .await
                .map_err(IdentityError::store)?,
        };
        let secret_hex = Zeroizing::new(hex::encode(secret.as_ref()));
        let key = self
            .sealing_key(&DataSubject::Staff(username.to_owned()))
            .await?;
        self.store
            .put_staff_credential(&StaffCredential {
                account: account.id,
                username: username.to_owned(),
                password_hash,
                totp_secret: key.seal(&secret_hex, &credential_context(username)),
                last_totp_step: 0,
            })
            .await
            .map_err(IdentityError::store)?;
        self.audit(Some(account.id), "break_glass_created", username)
            .await;
        let uri = format!(
            "otpauth://totp/Gatehouse:{username}?secret={}&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30",
            secret_b32.as_str()
        );
        Ok(BreakGlassSecrets {
            account,
            password,
            totp_secret_base32: secret_b32,
            otpauth_uri: Zeroizing::new(uri),
        })
    }

    /// Signs the break-glass administrator in.
    pub async fn sign_in_break_glass(
        &self,
        username: &str,
        password: &str,
        totp: &str,
        ip: &str,
    ) -> Result<IssuedSession, IdentityError> {
        let now = self.clock.now();
        let limits = &self.limits;
        let limited = crate::phone::limited;
        limits
            .staff_failures_per_ip
            .check(ip, now)
            .map_err(limited)?;
        limits
            .staff_failures_per_user
            .check(username, now)
            .map_err(limited)?;
        if username.len() > 64 || password.len() > 256 || totp.len() > 16 {
            return Err(IdentityError::CredentialsInvalid);
        }
        let credential = self
            .store
            .staff_credential(username)
            .await
            .map_err(IdentityError::store)?;
        let accepted = match &credential {
            Some(c) => self.check_staff_factors(c, password, totp, now).await?,
            None => {
                // Spend the same Argon2 work so timing does not tell which user names exist.
                let _ = self.verify_password(&self.dummy_hash, password).await;
                false
            }
        };
        let Some(credential) = credential.filter(|_| accepted) else {
            let _ = limits.staff_failures_per_ip.hit(ip, now);
            let _ = limits.staff_failures_per_user.hit(username, now);
            self.audit(
                None,
                "staff_sign_in_failed",
                &format!("break glass {username:?}"),
            )
            .await;
            return Err(IdentityError::CredentialsInvalid);
        };
        let account = self
            .store
            .account(credential.account)
            .await
            .map_err(IdentityError::store)?
            .filter(|a| a.roles.contains(Role::Administrator))
            .ok_or(IdentityError::CredentialsInvalid)?;
        limits.staff_failures_per_user.reset(username);
        self.audit(
            Some(account.id),
            "staff_sign_in",
            &format!("break glass {username}"),
        )
        .await;
        self.issue_session(account, SignInMethod::BreakGlass).await
    }

    async fn verify_password(&self, hash: &str, password: &str) -> bool {
        let (hash, password) = (hash.to_owned(), Zeroizing::new(password.to_owned()));
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false)
    }

    /// Password, then TOTP (within one step of drift, never a step twice).
    async fn check_staff_factors(
        &self,
        credential: &StaffCredential,
        password: &str,
        totp: &str,
        now: Timestamp,
    ) -> Result<bool, IdentityError> {
        if !self
            .verify_password(&credential.password_hash, password)
            .await
        {
            return Ok(false);
        }
        let key = self
            .opening_key(&DataSubject::Staff(credential.username.clone()))
            .await?;
        let Ok(secret_hex) = key.open(
            &credential.totp_secret,
            &credential_context(&credential.username),
        ) else {
            tracing::error!("a staff TOTP secret does not open with the current keys");
            return Err(IdentityError::Unavailable);
        };
        let Ok(secret) = hex::decode(secret_hex.as_bytes()).map(Zeroizing::new) else {
            return Err(IdentityError::Unavailable);
        };
        let current = totp_step(now);
        for step in [current - 1, current, current + 1] {
            let code = format!("{:06}", hotp(&secret, u64::try_from(step).unwrap_or(0)));
            if bool::from(code.as_bytes().ct_eq(totp.as_bytes())) {
                return self
                    .store
                    .advance_totp_step(credential.account, step)
                    .await
                    .map_err(IdentityError::store);
            }
        }
        Ok(false)
    }
}

/// An Argon2id hash of nothing anyone knows, verified against for unknown user names.
pub(crate) fn dummy_hash() -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hash_password(&hex::encode(raw)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows, reduced to 6 digits.
    #[test]
    fn totp_matches_the_rfc_vectors() {
        let secret = b"12345678901234567890";
        for (secs, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let at = Timestamp::from_second(secs).unwrap();
            assert_eq!(totp_code(secret, at), eight_digits[2..], "at {secs}");
        }
    }

    #[test]
    fn hotp_matches_rfc_4226() {
        let secret = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64), want);
        }
    }
}
