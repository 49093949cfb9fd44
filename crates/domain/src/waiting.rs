//! Protected releases as stored: a product's day whose opening the waiting room guards, with
//! its pre-queue opening, how long an admitted person has to book, and the seed that decides
//! the pre-queue's order (its SHA-256 is published when the release is protected; the seed
//! itself once the release opens). The lines themselves live in the waiting room.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::Timestamp;

use crate::catalogue::ProductId;
use crate::order::AccountId;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProtectedRelease {
    pub product: ProductId,
    pub day: Date,
    pub prequeue_opens_at: Timestamp,
    pub opens_at: Timestamp,
    pub window_secs: u32,
    pub seed: [u8; 32],
    pub created_by: AccountId,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedRelease {
    pub id: i64,
    pub release: NewProtectedRelease,
}

#[async_trait]
pub trait ProtectedReleaseStore: Send + Sync + 'static {
    /// Stores a new protected release; `Conflict` if that product's day is protected already.
    async fn protect_release(
        &self,
        new: &NewProtectedRelease,
    ) -> Result<ProtectedRelease, StoreError>;
    /// Protected releases whose day is `from` or later, soonest first.
    async fn protected_releases(&self, from: Date) -> Result<Vec<ProtectedRelease>, StoreError>;
}
