//! Organisations, service side: a visitor account registers one (approved at once unless the
//! museum requires staff approval), sees its own, and staff approve or reject pending ones
//! with a reason.

use std::sync::Arc;

use gatehouse_domain::group::{
    valid_organisation_name, GroupStore, Organisation, OrganisationId, OrganisationState,
};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::store::StoreError;
use gatehouse_domain::Clock;

/// The most organisations one account registers.
pub const MAX_PER_ACCOUNT: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("storage is unavailable")]
    Unavailable,
}

impl GroupError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for GroupError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(why) => Self::Conflict(why),
            other => {
                tracing::error!(error = %other, "group storage failed");
                Self::Unavailable
            }
        }
    }
}

pub struct GroupService {
    store: Arc<dyn GroupStore>,
    clock: Arc<dyn Clock>,
    /// Whether staff approve organisations before they book as groups.
    require_approval: bool,
}

impl GroupService {
    pub fn new(store: Arc<dyn GroupStore>, clock: Arc<dyn Clock>, require_approval: bool) -> Self {
        Self {
            store,
            clock,
            require_approval,
        }
    }

    pub async fn register(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Organisation, GroupError> {
        let name = valid_organisation_name(name).map_err(|m| GroupError::invalid("name", m))?;
        let mine = self.store.organisations_of(account).await?;
        if mine.len() >= MAX_PER_ACCOUNT {
            return Err(GroupError::Conflict(format!(
                "an account registers at most {MAX_PER_ACCOUNT} organisations"
            )));
        }
        if mine
            .iter()
            .any(|o| o.name == name && o.state != OrganisationState::Rejected)
        {
            return Err(GroupError::Conflict(
                "this account already registered it".into(),
            ));
        }
        let state = if self.require_approval {
            OrganisationState::Pending
        } else {
            OrganisationState::Approved
        };
        Ok(self
            .store
            .create_organisation(name, account, state, self.clock.now())
            .await?)
    }

    pub async fn organisations_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<Organisation>, GroupError> {
        Ok(self.store.organisations_of(account).await?)
    }

    pub async fn organisations(
        &self,
        state: Option<OrganisationState>,
    ) -> Result<Vec<Organisation>, GroupError> {
        Ok(self.store.organisations(state, 200).await?)
    }

    /// Staff approve or reject a pending organisation, with a reason (the caller audits it).
    pub async fn decide(
        &self,
        id: OrganisationId,
        approve: bool,
        reason: &str,
    ) -> Result<Organisation, GroupError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(GroupError::invalid("reason", "must be 1–500 characters"));
        }
        let to = if approve {
            OrganisationState::Approved
        } else {
            OrganisationState::Rejected
        };
        Ok(self
            .store
            .decide_organisation(id, to, reason, self.clock.now())
            .await?)
    }
}

impl GroupService {
    /// The organisation `account` books for: its own, and approved.
    pub async fn bookable(
        &self,
        account: AccountId,
        id: OrganisationId,
    ) -> Result<Organisation, GroupError> {
        let org = self
            .store
            .organisations_of(account)
            .await?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or(GroupError::NotFound("organisation"))?;
        match org.state {
            OrganisationState::Approved => Ok(org),
            OrganisationState::Pending => Err(GroupError::Conflict(
                "the organisation is waiting for staff approval".into(),
            )),
            OrganisationState::Rejected => Err(GroupError::Conflict(
                "the organisation was not approved".into(),
            )),
        }
    }
}
