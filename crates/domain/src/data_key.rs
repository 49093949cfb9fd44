//! Per-person data keys as the domain sees them. Every personal value is sealed under its
//! owner's own data key (an account's visitors, orders and phone; a staff member's second
//! factor), and that key is kept only wrapped by a versioned master key. Deleting a person
//! destroys their data key (crypto-shredding): every copy of their ciphertext — replicas,
//! backups, logs of rows — becomes noise. The wrapping lives in `gatehouse-privacy`; this module
//! has the names and the storage port.

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::order::AccountId;
use crate::store::StoreError;

/// Whose data a key protects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataSubject {
    /// A visitor account: its sign-in phone, frequent visitors and the orders it placed.
    Account(AccountId),
    /// A member of staff's sealed credentials (the TOTP secret).
    Staff(String),
}

impl fmt::Display for DataSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account(id) => write!(f, "account/{}", id.0),
            Self::Staff(username) => write!(f, "staff/{username}"),
        }
    }
}

impl DataSubject {
    /// Parses the stored form (`account/17`, `staff/alice`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.split_once('/')? {
            ("account", id) => id.parse().ok().map(|id| Self::Account(AccountId(id))),
            ("staff", name) if !name.is_empty() => Some(Self::Staff(name.to_string())),
            _ => None,
        }
    }
}

/// One person's data key as stored: wrapped by master key `version`.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub subject: String,
    pub master_version: u32,
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WrappedDataKey({}, v{}, {} bytes)",
            self.subject,
            self.master_version,
            self.wrapped.len()
        )
    }
}

#[async_trait]
pub trait DataKeyStore: Send + Sync + 'static {
    /// The subject's key, if it has one (none yet, or shredded).
    async fn data_key(&self, subject: &str) -> Result<Option<WrappedDataKey>, StoreError>;
    /// The keys of several subjects at once (those that have one), for a reader that batches
    /// the first requests of many people after a restart.
    async fn data_keys_of(&self, subjects: &[String]) -> Result<Vec<WrappedDataKey>, StoreError>;
    /// Stores `key` unless the subject already has one; answers the stored key (the winner when
    /// two nodes create one at once).
    async fn create_data_key(
        &self,
        key: &WrappedDataKey,
        at: Timestamp,
    ) -> Result<WrappedDataKey, StoreError>;
    /// Up to `limit` keys wrapped by a version other than `current`.
    async fn data_keys_not_at(
        &self,
        current: u32,
        limit: u32,
    ) -> Result<Vec<WrappedDataKey>, StoreError>;
    /// Replaces a key's wrapping if it is still wrapped by `from_version` (false if it moved or
    /// went meanwhile).
    async fn rewrap_data_key(
        &self,
        key: &WrappedDataKey,
        from_version: u32,
    ) -> Result<bool, StoreError>;
    /// How many keys each master version wraps.
    async fn data_key_versions(&self) -> Result<Vec<(u32, u64)>, StoreError>;
    /// Destroys the subject's key (false if it had none).
    async fn shred_data_key(&self, subject: &str) -> Result<bool, StoreError>;
    /// Erases an account's personal data in one transaction, and may run again (a restored
    /// backup is erased again at start): its data key is shredded; its frequent visitors, links
    /// to WeChat/Alipay/SSO and sessions are deleted; its orders keep their counts, money,
    /// states and seats but their sealed values become empty and every blind index that could
    /// lead back (tickets, face verifications, past no-shows) becomes random; its sign-in phone
    /// is forgotten and its name becomes [`ERASED_NAME`]. A no-show lock still running at `at`
    /// keeps its index until it ends, so deleting an account does not lift a lock the museum's
    /// rules imposed (then [`DataKeyStore::release_ended_locks_of_erased`] releases it).
    async fn erase_account(&self, account: AccountId, at: Timestamp)
        -> Result<Erasure, StoreError>;
    /// Gives a fresh random index to every no-show lock of an erased account that has ended by
    /// `now` (a lock still running at the erasure kept its index to keep holding); how many.
    async fn release_ended_locks_of_erased(&self, now: Timestamp) -> Result<u64, StoreError>;
    /// Accounts erased so far, oldest first (the shred list is checked against them).
    async fn erased_accounts(&self) -> Result<Vec<AccountId>, StoreError>;
}

/// The name an erased account shows.
pub const ERASED_NAME: &str = "(erased)";

/// What one erasure touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erasure {
    pub orders: u64,
    pub tickets: u64,
    pub visitors: u64,
    /// Whether the account was erased before (a repeated erasure changes nothing new).
    pub already: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_through_their_stored_form() {
        for s in [
            DataSubject::Account(AccountId(17)),
            DataSubject::Staff("alice".into()),
        ] {
            assert_eq!(DataSubject::parse(&s.to_string()), Some(s));
        }
        assert_eq!(DataSubject::parse("account/x"), None);
        assert_eq!(DataSubject::parse("staff/"), None);
        assert_eq!(DataSubject::parse("order/1"), None);
    }
}
