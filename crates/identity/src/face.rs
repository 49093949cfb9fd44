//! Face verification (the real-person check), with consent first.
//!
//! Before anything is sent to the provider the visitor's consent is recorded: the consent text
//! version, what is collected, why, when, from which session. Then: initialise at the provider
//! (its certify id and the URL where the person does the liveness check), the person completes
//! it there, and the server asks the provider for the outcome, either when the provider's
//! callback arrives (which must carry the one-time token we gave it; anything else is a forgery
//! and changes nothing) or when the visitor comes back. A pass is bound to the verified ID
//! number (its blind index) and valid for a configured time. No face image is ever stored.

use async_trait::async_trait;
use gatehouse_domain::face::{Consent, FaceState, FaceVerification, FACE_PURPOSE};
use gatehouse_domain::identity::{IdDocument, IdKind, PersonName};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::{BlindIndex, ID_NUMBER_INDEX};
use jiff::SignedDuration;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::external::ProviderFailure;
use crate::sessions::Authenticated;
use crate::{IdentityError, IdentityService};

/// The provider's name in errors.
const FACE_PROVIDER: &str = "face verification";

/// What the provider needs to start a verification.
pub struct FaceStart<'a> {
    /// Our id of the verification (the provider's "outer order number").
    pub outer_order_no: &'a str,
    pub cert_name: &'a str,
    pub cert_no: &'a str,
    /// Where the provider sends the person back to.
    pub return_url: &'a str,
    /// Where the provider reports completion, with `callback_token`.
    pub callback_url: &'a str,
    pub callback_token: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceStarted {
    pub certify_id: String,
    pub certify_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceOutcome {
    Passed { sub_code: String },
    Failed { sub_code: String },
}

/// A liveness-and-identity provider (Alibaba Cloud's real-person verification).
#[async_trait]
pub trait FaceProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn start(&self, request: FaceStart<'_>) -> Result<FaceStarted, ProviderFailure>;
    async fn outcome(&self, certify_id: &str) -> Result<FaceOutcome, ProviderFailure>;
}

/// The consent text a visitor agrees to, in one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentText {
    pub version: String,
    pub collected: String,
    pub reason: String,
    pub text: String,
}

impl Default for ConsentText {
    fn default() -> Self {
        Self {
            version: "face-2026-11".into(),
            collected: "姓名、身份证号码，以及由认证服务商采集的人脸图像与活体检测视频（Gatehouse 只保存认证结果，不保存任何人脸图像）".into(),
            reason: "核验预约人是否为证件持有人本人，防止冒名预约与倒卖".into(),
            text: "为防止冒名预约和倒卖门票，本产品需要进行实人认证。您的姓名和身份证号码将提交给认证服务商（阿里云实人认证），由其采集人脸图像并与权威数据比对。博物馆只保存认证是否通过、认证编号和时间，认证通过的有效期到期后失效。您可以随时撤回同意；撤回后需要实人认证的产品将无法预约。".into(),
        }
    }
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl IdentityService {
    fn face_provider(&self) -> Result<std::sync::Arc<dyn FaceProvider>, IdentityError> {
        self.face
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(IdentityError::NotConfigured {
                provider: "face verification",
            })
    }

    /// Makes a face-verification provider available (at start, from configuration), behind a
    /// breaker.
    pub fn register_face_provider(&self, provider: std::sync::Arc<dyn FaceProvider>) {
        let provider: std::sync::Arc<dyn FaceProvider> = std::sync::Arc::new(
            crate::guarded::GuardedFace::new(provider, self.config.provider_breaker),
        );
        *self
            .face
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(provider);
    }

    pub fn consent_text(&self) -> &ConsentText {
        &self.config.face.consent
    }

    /// Records the visitor's consent to the current face-verification text.
    pub async fn give_face_consent(
        &self,
        session: &Authenticated,
        text_version: &str,
    ) -> Result<Consent, IdentityError> {
        self.give_consent(session, FACE_PURPOSE, text_version).await
    }

    pub async fn current_face_consent(
        &self,
        account: AccountId,
    ) -> Result<Option<Consent>, IdentityError> {
        self.store
            .current_consent(account, FACE_PURPOSE)
            .await
            .map_err(IdentityError::store)
    }

    pub async fn withdraw_face_consent(&self, account: AccountId) -> Result<u64, IdentityError> {
        self.withdraw_consent(account, FACE_PURPOSE).await
    }

    /// Starts a verification of the person named, after checking consent.
    pub async fn start_face_verification(
        &self,
        session: &Authenticated,
        name: &str,
        id_kind: IdKind,
        id_number: &str,
        return_url: &str,
    ) -> Result<(FaceVerification, String), IdentityError> {
        let consent = self
            .current_face_consent(session.account.id)
            .await?
            .filter(|c| c.text_version == self.config.face.consent.version)
            .ok_or(IdentityError::ConsentRequired)?;
        let name = PersonName::parse(name).map_err(|m| IdentityError::invalid("name", m))?;
        if id_kind != IdKind::ResidentId {
            return Err(IdentityError::invalid(
                "id_type",
                "face verification checks resident ID cards only",
            ));
        }
        let today = self
            .clock
            .now()
            .to_zoned(self.config.museum_tz.clone())
            .date();
        let document = IdDocument::parse(id_kind, id_number, today)
            .map_err(|m| IdentityError::invalid("id_number", m))?;
        if !(return_url.starts_with("https://") || return_url.starts_with("http://"))
            || return_url.len() > 512
        {
            return Err(IdentityError::invalid(
                "return_url",
                "is an http(s) URL of at most 512 characters",
            ));
        }
        let provider = self.face_provider()?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let callback_token = hex::encode(raw);
        let started = provider
            .start(FaceStart {
                outer_order_no: &id,
                cert_name: name.as_str(),
                cert_no: document.normalised(),
                return_url,
                callback_url: &self.config.face.callback_url,
                callback_token: &callback_token,
            })
            .await
            .map_err(|e| e.into_error(FACE_PROVIDER))?;
        let face = FaceVerification {
            id,
            account: session.account.id,
            consent_id: consent.id,
            id_blind: BlindIndex(
                self.vault
                    .blind_index(ID_NUMBER_INDEX, document.normalised()),
            ),
            provider: provider.name().into(),
            certify_id: started.certify_id,
            callback_token_hash: token_hash(&callback_token),
            state: FaceState::Pending,
            detail: String::new(),
            started_at: self.clock.now(),
            completed_at: None,
            valid_until: None,
        };
        self.store
            .insert_face(&face)
            .await
            .map_err(IdentityError::store)?;
        self.audit(
            Some(session.account.id),
            "face_started",
            &format!("{} for {}", face.id, document.masked()),
        )
        .await;
        Ok((face, started.certify_url))
    }

    /// Asks the provider for the outcome of a pending verification and records it.
    async fn settle(&self, face: FaceVerification) -> Result<FaceVerification, IdentityError> {
        if face.state != FaceState::Pending {
            return Ok(face);
        }
        let outcome = self
            .face_provider()?
            .outcome(&face.certify_id)
            .await
            .map_err(|e| e.into_error(FACE_PROVIDER))?;
        let now = self.clock.now();
        let (state, detail, valid_until) = match outcome {
            FaceOutcome::Passed { sub_code } => (
                FaceState::Passed,
                sub_code,
                Some(crate::later(
                    now,
                    SignedDuration::from_hours(i64::from(self.config.face.pass_valid_hours)),
                )),
            ),
            FaceOutcome::Failed { sub_code } => (FaceState::Failed, sub_code, None),
        };
        // Only a pending verification changes; a concurrent settle of the same one is a no-op.
        self.store
            .complete_face(&face.id, state, &detail, now, valid_until)
            .await
            .map_err(IdentityError::store)?;
        self.audit(
            Some(face.account),
            "face_completed",
            &format!("{} {}", face.id, state.as_str()),
        )
        .await;
        self.store
            .face(face.account, &face.id)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::NotFound {
                what: "face verification",
            })
    }

    /// A verification of the account, without asking the provider.
    pub async fn face_verification(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<FaceVerification, IdentityError> {
        self.store
            .face(account, id)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::NotFound {
                what: "face verification",
            })
    }

    /// The visitor is back from the provider's page: fetch and record the outcome.
    pub async fn check_face_verification(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<FaceVerification, IdentityError> {
        let face = self.face_verification(account, id).await?;
        self.settle(face).await
    }

    /// The provider's completion callback. A callback that does not carry the token issued for
    /// that verification is a forgery: audited, refused, nothing changes. A repeated callback
    /// finds the verification settled and changes nothing either.
    pub async fn face_callback(
        &self,
        certify_id: &str,
        token: &str,
    ) -> Result<FaceState, IdentityError> {
        let face = self
            .store
            .face_by_certify_id(certify_id)
            .await
            .map_err(IdentityError::store)?;
        let genuine = face
            .as_ref()
            .is_some_and(|f| bool::from(f.callback_token_hash.ct_eq(&token_hash(token))));
        let Some(face) = face.filter(|_| genuine) else {
            self.audit(
                None,
                "face_callback_forged",
                "a face-verification callback with an unknown certify id or a wrong token",
            )
            .await;
            return Err(IdentityError::NotFound {
                what: "face verification",
            });
        };
        Ok(self.settle(face).await?.state)
    }

    /// The ID numbers the account holds a valid pass for.
    pub async fn face_passes(&self, account: AccountId) -> Result<Vec<BlindIndex>, IdentityError> {
        self.store
            .face_passes(account, self.clock.now())
            .await
            .map_err(IdentityError::store)
    }
}
