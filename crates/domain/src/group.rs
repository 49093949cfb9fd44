//! Group bookings' organisations: schools, companies and tour operators register under a
//! visitor account; where the museum requires it, staff approve them before they book as a
//! group. The storage port for them.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::order::AccountId;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganisationId(pub i64);

/// The most members a group books, and with its leader the most tickets of a group order.
pub const MAX_GROUP_MEMBERS: usize = 500;
pub const MAX_GROUP_SIZE: usize = MAX_GROUP_MEMBERS + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganisationState {
    /// Waiting for staff.
    Pending,
    Approved,
    Rejected,
}

impl OrganisationState {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Approved, Self::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: String,
    /// The account that registered it and books for it.
    pub account: AccountId,
    pub state: OrganisationState,
    pub created_at: Timestamp,
    /// Staff's decision: when and why.
    pub decided: Option<(Timestamp, String)>,
}

/// Checks an organisation's name: 2–100 characters, no control characters.
pub fn valid_organisation_name(name: &str) -> Result<&str, &'static str> {
    let name = name.trim();
    let len = name.chars().count();
    if !(2..=100).contains(&len) {
        return Err("must be 2–100 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(name)
}

#[async_trait]
pub trait GroupStore: Send + Sync + 'static {
    async fn create_organisation(
        &self,
        name: &str,
        account: AccountId,
        state: OrganisationState,
        at: Timestamp,
    ) -> Result<Organisation, StoreError>;
    async fn organisations_of(&self, account: AccountId) -> Result<Vec<Organisation>, StoreError>;
    /// Newest first, optionally in one state.
    async fn organisations(
        &self,
        state: Option<OrganisationState>,
        limit: u32,
    ) -> Result<Vec<Organisation>, StoreError>;
    /// Approves or rejects a pending organisation; `NotFound`, or `Conflict` if it was decided.
    async fn decide_organisation(
        &self,
        id: OrganisationId,
        to: OrganisationState,
        reason: &str,
        at: Timestamp,
    ) -> Result<Organisation, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_names_and_states() {
        assert_eq!(valid_organisation_name(" 实验小学 "), Ok("实验小学"));
        assert!(valid_organisation_name("x").is_err());
        assert!(valid_organisation_name(&"x".repeat(101)).is_err());
        assert!(valid_organisation_name("a\nb").is_err());
        for s in OrganisationState::ALL {
            assert_eq!(OrganisationState::parse(s.as_str()), Some(s));
        }
    }
}
