//! The consent ledger: every consent a visitor gives (face verification, the risk service's use
//! of their data) with the text version, what is collected and why as shown, the time and the
//! session; withdrawal is recorded and takes effect — whoever needs a consent asks
//! [`IdentityService::has_consent`] (face verification refuses to start without one). Booking
//! notices are accepted per order and kept on the order (its notice version and time).

use gatehouse_domain::face::{Consent, FACE_PURPOSE, RISK_PURPOSE};
use gatehouse_domain::order::AccountId;

use crate::face::ConsentText;
use crate::sessions::Authenticated;
use crate::{IdentityError, IdentityService};

/// The risk service's consent text, as the museum ships it.
pub fn default_risk_text() -> ConsentText {
    ConsentText {
        version: "risk-2026-11".into(),
        collected: "登录与预约行为（时间、频率、页面路径）、设备标识、网络地址、预约所用证件号码的加密索引".into(),
        reason: "识别黄牛、刷单与自动化程序，保障公平预约".into(),
        text: "为保障公平预约，博物馆的风险识别服务会使用您登录与预约的行为数据、设备标识和网络地址，以及证件号码的加密索引（不含证件号码本身），判断是否存在倒卖、刷单或自动化抢票。数据仅用于本目的，保留不超过 180 天。您可以随时撤回同意；撤回后相关数据不再用于风险识别，部分预约可能需要额外验证。".into(),
    }
}

/// The purposes a visitor can consent to here.
pub const PURPOSES: [&str; 2] = [FACE_PURPOSE, RISK_PURPOSE];

impl IdentityService {
    /// The current text for `purpose`; `None` for a purpose not consented to here.
    pub fn consent_text_for(&self, purpose: &str) -> Option<&ConsentText> {
        match purpose {
            FACE_PURPOSE => Some(&self.config.face.consent),
            RISK_PURPOSE => Some(&self.config.risk_consent),
            _ => None,
        }
    }

    /// Records the visitor's consent to the current text of `purpose`.
    pub async fn give_consent(
        &self,
        session: &Authenticated,
        purpose: &str,
        text_version: &str,
    ) -> Result<Consent, IdentityError> {
        let text = self.consent_text_for(purpose).ok_or_else(|| {
            IdentityError::invalid("purpose", format!("is one of {}", PURPOSES.join(", ")))
        })?;
        if text_version != text.version {
            return Err(IdentityError::invalid(
                "text_version",
                format!("the current consent text is version {}", text.version),
            ));
        }
        let consent = Consent {
            id: uuid::Uuid::new_v4().simple().to_string(),
            account: session.account.id,
            purpose: purpose.to_owned(),
            text_version: text.version.clone(),
            collected: text.collected.clone(),
            reason: text.reason.clone(),
            session_id: session.session_id,
            given_at: self.clock.now(),
            withdrawn_at: None,
        };
        self.store
            .insert_consent(&consent)
            .await
            .map_err(IdentityError::store)?;
        self.audit(
            Some(session.account.id),
            "consent_given",
            &format!("{purpose} {}", text.version),
        )
        .await;
        Ok(consent)
    }

    /// Withdraws every consent of `account` for `purpose`; how many there were.
    pub async fn withdraw_consent(
        &self,
        account: AccountId,
        purpose: &str,
    ) -> Result<u64, IdentityError> {
        if self.consent_text_for(purpose).is_none() {
            return Err(IdentityError::invalid(
                "purpose",
                format!("is one of {}", PURPOSES.join(", ")),
            ));
        }
        let n = self
            .store
            .withdraw_consent(account, purpose, self.clock.now())
            .await
            .map_err(IdentityError::store)?;
        self.audit(Some(account), "consent_withdrawn", purpose)
            .await;
        Ok(n)
    }

    /// Whether `account` holds a consent for `purpose` that is not withdrawn.
    pub async fn has_consent(
        &self,
        account: AccountId,
        purpose: &str,
    ) -> Result<bool, IdentityError> {
        Ok(self
            .store
            .current_consent(account, purpose)
            .await
            .map_err(IdentityError::store)?
            .is_some())
    }

    /// Every consent `account` gave, withdrawn ones too, oldest first.
    pub async fn consents(&self, account: AccountId) -> Result<Vec<Consent>, IdentityError> {
        self.store
            .list_consents(account)
            .await
            .map_err(IdentityError::store)
    }
}
