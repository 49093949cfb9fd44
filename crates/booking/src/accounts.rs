//! Booking locks on accounts. Sign-in and sessions live in gatehouse-identity; a lock only
//! stops an account from booking (risk control sets it), and the caller must also drop the
//! account's cached sessions so the lock is seen at once.

use gatehouse_domain::order::AccountId;
use gatehouse_domain::store::Account;
use gatehouse_domain::BookingError;
use jiff::Timestamp;

use crate::BookingService;

impl BookingService {
    /// Locks an account from booking until `until` (or lifts the lock with `None`).
    pub async fn set_account_lock(
        &self,
        id: AccountId,
        until: Option<Timestamp>,
    ) -> Result<Account, BookingError> {
        self.store
            .set_account_lock(id, until)
            .await
            .map_err(|e| self.store_error(e))?;
        self.store
            .get_account(id)
            .await
            .map_err(|e| self.store_error(e))?
            .ok_or(BookingError::NotFound { what: "account" })
    }
}
