//! Accounts and bearer tokens. A token is 32 random bytes shown once; only its SHA-256 is
//! stored, so a leaked database does not leak working tokens.
//!
//! Every booking request authenticates, so resolved tokens are cached in memory (bounded,
//! sharded, ten minutes to live), filled when a token is issued and when it is first used;
//! changing an account through the service drops its entries at once. With several nodes
//! (a later issue) a change must also reach the other nodes' caches.
//!
//! Cache misses are looked up in batches ([`TokenReader`]): at 09:00 thousands of first
//! requests miss at once, and one query for a few hundred tokens costs about what one query for
//! one token does.

use gatehouse_domain::order::AccountId;
use gatehouse_domain::store::Account;
use gatehouse_domain::BookingError;
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::BookingService;
use gatehouse_domain::store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// The most token hashes one lookup carries.
const MAX_LOOKUP_BATCH: usize = 256;

type Waiter = (
    [u8; 32],
    oneshot::Sender<Result<Option<Account>, StoreError>>,
);

/// Looks up uncached tokens in batches: whatever queued while the previous lookup ran goes into
/// the next one.
#[derive(Clone)]
pub(crate) struct TokenReader {
    tx: mpsc::Sender<Waiter>,
}

impl TokenReader {
    /// Starts the lookup task on the current runtime.
    pub(crate) fn start(store: std::sync::Arc<dyn Store>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Waiter>(MAX_LOOKUP_BATCH * 16);
        tokio::spawn(async move {
            let mut waiting: Vec<Waiter> = Vec::with_capacity(MAX_LOOKUP_BATCH);
            while let Some(first) = rx.recv().await {
                waiting.push(first);
                while waiting.len() < MAX_LOOKUP_BATCH {
                    match rx.try_recv() {
                        Ok(w) => waiting.push(w),
                        Err(_) => break,
                    }
                }
                let mut hashes: Vec<[u8; 32]> = waiting.iter().map(|(h, _)| *h).collect();
                hashes.sort_unstable();
                hashes.dedup();
                match store.accounts_by_tokens(&hashes).await {
                    Ok(found) => {
                        let found: HashMap<[u8; 32], Account> = found.into_iter().collect();
                        for (hash, done) in waiting.drain(..) {
                            let _ = done.send(Ok(found.get(&hash).cloned()));
                        }
                    }
                    Err(e) => {
                        for (_, done) in waiting.drain(..) {
                            let _ = done.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    pub(crate) async fn lookup(&self, hash: [u8; 32]) -> Result<Option<Account>, StoreError> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send((hash, done))
            .await
            .map_err(|_| StoreError::Backend("token reader stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("token reader stopped".into()))?
    }
}

const CACHE_SHARDS: usize = 16;
/// Entries per shard before the shard is emptied (a cheap bound: tokens cannot be minted by
/// callers, only by staff, but unknown tokens are never cached either).
const CACHE_SHARD_CAPACITY: usize = 16_384;
const CACHE_TTL: Duration = Duration::from_secs(600);

/// Accounts by token hash, with when each was cached.
type Shard = HashMap<[u8; 32], (Account, Instant)>;

/// Resolved bearer tokens, by token hash.
pub(crate) struct TokenCache {
    shards: Vec<Mutex<Shard>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            shards: (0..CACHE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }
}

impl TokenCache {
    fn shard(&self, hash: &[u8; 32]) -> Option<std::sync::MutexGuard<'_, Shard>> {
        let shard = self.shards.get(usize::from(hash[0]) % CACHE_SHARDS)?;
        Some(
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn get(&self, hash: &[u8; 32]) -> Option<Account> {
        let shard = self.shard(hash)?;
        shard
            .get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(a, _)| a.clone())
    }

    fn put(&self, hash: [u8; 32], account: Account) {
        if let Some(mut shard) = self.shard(&hash) {
            if shard.len() >= CACHE_SHARD_CAPACITY {
                shard.clear();
            }
            shard.insert(hash, (account, Instant::now()));
        }
    }

    fn forget_account(&self, id: AccountId) {
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|_, (a, _)| a.id != id);
        }
    }
}

const TOKEN_PREFIX: &str = "gh_";

/// A freshly minted token: shown to its owner once.
pub struct IssuedToken(pub String);

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl BookingService {
    /// Creates an account and returns it with its bearer token.
    pub async fn create_account(
        &self,
        display_name: &str,
        is_admin: bool,
    ) -> Result<(Account, IssuedToken), BookingError> {
        gatehouse_domain::catalogue::text_field("display_name", display_name, 1, 64)?;
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
        let hash = token_hash(&token);
        let account = self
            .store
            .create_account(display_name, &hash, is_admin, self.clock.now())
            .await
            .map_err(|e| self.store_error(e))?;
        self.tokens.put(hash, account.clone());
        Ok((account, IssuedToken(token)))
    }

    /// The account a bearer token belongs to, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Account>, BookingError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 64 {
            return Ok(None);
        }
        let hash = token_hash(token);
        if let Some(account) = self.tokens.get(&hash) {
            return Ok(Some(account));
        }
        let found = self
            .token_reader
            .lookup(hash)
            .await
            .map_err(|e| self.store_error(e))?;
        if let Some(account) = &found {
            self.tokens.put(hash, account.clone());
        }
        Ok(found)
    }

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
        self.tokens.forget_account(id);
        self.store
            .get_account(id)
            .await
            .map_err(|e| self.store_error(e))?
            .ok_or(BookingError::NotFound { what: "account" })
    }
}
