//! Sign-in by phone and one-time code. A code is 6 random digits, valid for a few minutes and a
//! few attempts, stored only as a keyed MAC (a database dump does not reveal live codes, and
//! the MAC key is not in the database). Sends are limited per phone and per IP; wrong codes per
//! IP. The answer to "send me a code" is the same whether or not the phone has an account, and
//! a new phone gets an account on its first successful sign-in.

use gatehouse_domain::account::{OtpAttempt, OtpChallenge, SignInMethod};
use gatehouse_domain::data_key::DataSubject;
use gatehouse_domain::identity::Phone;
use gatehouse_domain::personal::{BlindIndex, PHONE_INDEX};
use gatehouse_domain::sealed_column::SealedColumn;
use jiff::{SignedDuration, Timestamp};
use rand::Rng;

use crate::sessions::IssuedSession;
use crate::sms::SmsMessage;
use crate::{IdentityError, IdentityService};

/// How one-time codes behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct OtpPolicy {
    pub valid_secs: u32,
    pub attempts: u8,
}

impl Default for OtpPolicy {
    fn default() -> Self {
        Self {
            valid_secs: 300,
            attempts: 5,
        }
    }
}

/// What the client is told after a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSent {
    pub expires_at: Timestamp,
    /// The earliest a new code can be asked for this phone.
    pub resend_after: Timestamp,
}

pub(crate) fn code_mac(service: &IdentityService, phone: &Phone, code: &str) -> [u8; 32] {
    service
        .vault
        .blind_index("otp", &format!("{}:{code}", phone.as_str()))
}

/// The sealing context of an account's sign-in phone: bound to the phone's blind index, which
/// is what the account row is keyed by.
pub(crate) fn phone_context(index: &BlindIndex) -> String {
    SealedColumn::AccountPhone.context(&hex::encode(index.0))
}

fn parse_phone(raw: &str) -> Result<Phone, IdentityError> {
    Phone::parse(raw).map_err(|m| IdentityError::invalid("phone", m))
}

/// A refusal by a rate limit, with the wait rounded up to whole seconds.
pub(crate) fn limited(wait: SignedDuration) -> IdentityError {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(0);
    IdentityError::RateLimited {
        retry_after_secs: ms.div_ceil(1000).max(1),
    }
}

impl IdentityService {
    /// Sends a sign-in code to a phone.
    pub async fn send_phone_code(&self, phone: &str, ip: &str) -> Result<CodeSent, IdentityError> {
        let phone = parse_phone(phone)?;
        let now = self.clock.now();
        let limits = &self.limits;
        limits.code_sends_per_ip.hit(ip, now).map_err(limited)?;
        limits
            .code_sends_per_phone
            .hit(phone.as_str(), now)
            .map_err(limited)?;
        limits
            .code_sends_per_phone_hourly
            .hit(phone.as_str(), now)
            .map_err(limited)?;

        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let policy = self.config.otp;
        let expires_at = crate::later(now, SignedDuration::from_secs(i64::from(policy.valid_secs)));
        let index = BlindIndex(self.vault.blind_index(PHONE_INDEX, phone.as_str()));
        self.store
            .put_otp(&OtpChallenge {
                phone: index,
                code_mac: code_mac(self, &phone, &code),
                expires_at,
                attempts_left: policy.attempts,
            })
            .await
            .map_err(IdentityError::store)?;
        let minutes = policy.valid_secs.div_ceil(60);
        self.sms
            .send(SmsMessage {
                phone: phone.as_str().to_owned(),
                text: format!(
                    "【{}】您的登录验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。",
                    self.config.sms_signature
                ),
                sent_at: now,
            })
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "sign-in code not sent");
                IdentityError::Unavailable
            })?;
        let resend_after = crate::later(
            now,
            SignedDuration::from_secs(
                i64::try_from(self.config.limits.code_sends_per_phone.period_secs).unwrap_or(60)
                    / i64::from(self.config.limits.code_sends_per_phone.burst.max(1)),
            ),
        );
        Ok(CodeSent {
            expires_at,
            resend_after,
        })
    }

    /// Checks the code sent to a phone and uses it up. Wrong codes count against the phone's
    /// attempts and the address's failures; each failure is audited (phone masked).
    pub async fn verify_phone_code(
        &self,
        phone: &str,
        code: &str,
        ip: &str,
    ) -> Result<Phone, IdentityError> {
        let phone = parse_phone(phone)?;
        let now = self.clock.now();
        let failures = &self.limits.code_failures_per_ip;
        failures.check(ip, now).map_err(limited)?;
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            let _ = failures.hit(ip, now);
            return Err(IdentityError::invalid("code", "is 6 digits"));
        }
        let index = BlindIndex(self.vault.blind_index(PHONE_INDEX, phone.as_str()));
        let attempt = self
            .store
            .attempt_otp(index, &code_mac(self, &phone, code), now)
            .await
            .map_err(IdentityError::store)?;
        let refused = match attempt {
            OtpAttempt::Accepted => None,
            OtpAttempt::Wrong { attempts_left } => Some(IdentityError::CodeWrong { attempts_left }),
            OtpAttempt::NoChallenge => Some(IdentityError::CodeExpired),
        };
        if let Some(refused) = refused {
            let _ = failures.hit(ip, now);
            self.audit(
                None,
                "sign_in_failed",
                &format!("phone {} ({})", phone.masked(), refused.code()),
            )
            .await;
            return Err(refused);
        }
        Ok(phone)
    }

    /// Signs in with a phone and the code sent to it; creates the account on first sign-in.
    pub async fn sign_in_with_phone(
        &self,
        phone: &str,
        code: &str,
        ip: &str,
    ) -> Result<IssuedSession, IdentityError> {
        let phone = self.verify_phone_code(phone, code, ip).await?;
        let now = self.clock.now();
        let index = BlindIndex(self.vault.blind_index(PHONE_INDEX, phone.as_str()));
        let (account, phone_sealed) = self
            .store
            .phone_account(index, &phone.masked(), now)
            .await
            .map_err(IdentityError::store)?;
        if !phone_sealed {
            // A new account (or one whose first sign-in stopped half-way): its key is new too.
            let key = self
                .vault
                .new_key(&DataSubject::Account(account.id))
                .await
                .map_err(crate::vault_error)?;
            self.store
                .seal_account_phone(
                    account.id,
                    &key.seal(phone.as_str(), &phone_context(&index)),
                )
                .await
                .map_err(IdentityError::store)?;
        }
        self.audit(
            Some(account.id),
            "sign_in",
            &format!("phone code, {}", phone.masked()),
        )
        .await;
        self.issue_session(account, SignInMethod::PhoneCode).await
    }
}
