//! Accounts and bearer tokens. A token is 32 random bytes shown once; only its SHA-256 is
//! stored, so a leaked database does not leak working tokens.

use gatehouse_domain::order::AccountId;
use gatehouse_domain::store::Account;
use gatehouse_domain::BookingError;
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::BookingService;

const TOKEN_PREFIX: &str = "gh_";

/// A freshly minted token: shown to its owner once.
pub struct IssuedToken(pub String);

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl BookingService {
    /// Creates an account and returns it with its bearer token.
    pub async fn create_account(&self, display_name: &str, is_admin: bool) -> Result<(Account, IssuedToken), BookingError> {
        gatehouse_domain::catalogue::text_field("display_name", display_name, 1, 64)?;
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
        let account = self.store.create_account(display_name, &token_hash(&token), is_admin, self.clock.now()).await.map_err(|e| self.store_error(e))?;
        Ok((account, IssuedToken(token)))
    }

    /// The account a bearer token belongs to, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Account>, BookingError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 64 {
            return Ok(None);
        }
        self.store.account_by_token(&token_hash(token)).await.map_err(|e| self.store_error(e))
    }

    /// Locks an account from booking until `until` (or lifts the lock with `None`).
    pub async fn set_account_lock(&self, id: AccountId, until: Option<Timestamp>) -> Result<Account, BookingError> {
        self.store.set_account_lock(id, until).await.map_err(|e| self.store_error(e))?;
        self.store.get_account(id).await.map_err(|e| self.store_error(e))?.ok_or(BookingError::NotFound { what: "account" })
    }
}
