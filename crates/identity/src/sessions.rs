//! Sessions: opaque random tokens (32 bytes from the OS), stored only as their SHA-256, with an
//! expiry, a rotating refresh token, sign-out and "sign out everywhere".
//!
//! Every request authenticates, so live sessions are cached in memory (sharded, bounded, with a
//! short time to live so a sign-out on another node is seen within it); a hit costs one SHA-256
//! and one hash-map lookup. Misses are looked up in batches ([`SessionReader`]): at 09:00
//! thousands of first requests miss at once, and one query for a few hundred tokens costs about
//! what one query for one token does.
//!
//! A refresh rotates: the old session is revoked and a new one of the same family issued. A
//! refresh token presented after it was rotated means it was copied, so the whole family is
//! revoked (the thief and the owner both sign in again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gatehouse_domain::account::{Account, AccountStore, NewSession, SessionRecord, SignInMethod};
use gatehouse_domain::order::AccountId;
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::IdentityError;

const ACCESS_PREFIX: &str = "gh_";
const REFRESH_PREFIX: &str = "ghr_";
const CACHE_SHARDS: usize = 16;
const CACHE_SHARD_CAPACITY: usize = 16_384;

/// A signed-in caller, as every request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub account: Account,
    pub session_id: i64,
    pub family: [u8; 16],
    pub method: SignInMethod,
    pub expires_at: Timestamp,
}

/// Tokens handed to a client once, at sign-in or refresh.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub account: Account,
    pub access_token: String,
    pub expires_at: Timestamp,
    pub refresh_token: Option<String>,
    pub refresh_expires_at: Option<Timestamp>,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub visitor_access: SignedDuration,
    pub visitor_refresh: SignedDuration,
    /// Staff sessions are short and are not refreshed: staff sign in again.
    pub staff_access: SignedDuration,
    /// How long a validated session is trusted from memory before the store is asked again.
    pub cache_ttl: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            visitor_access: SignedDuration::from_hours(2),
            visitor_refresh: SignedDuration::from_hours(24 * 30),
            staff_access: SignedDuration::from_hours(8),
            cache_ttl: Duration::from_secs(60),
        }
    }
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn well_formed(token: &str, prefix: &str) -> bool {
    token.len() == prefix.len() + 64
        && token.starts_with(prefix)
        && token
            .bytes()
            .skip(prefix.len())
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn mint(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{prefix}{}", hex::encode(raw))
}

/// Looks up uncached tokens in batches: whatever queued while the previous lookup ran goes into
/// the next one.
pub(crate) type SessionReader = crate::batch::BatchReader<[u8; 32], SessionRecord>;

/// Starts the session lookups on the current runtime.
pub(crate) fn session_reader(
    store: Arc<dyn AccountStore>,
    clock: Arc<dyn gatehouse_domain::Clock>,
) -> SessionReader {
    crate::batch::BatchReader::start("session", 0, move |hashes: Vec<[u8; 32]>| {
        let (store, now) = (store.clone(), clock.now());
        async move {
            let found = store.sessions_by_tokens(&hashes, now).await?;
            Ok(found.into_iter().collect())
        }
    })
}

type Shard = HashMap<[u8; 32], (Authenticated, Instant)>;

/// Live sessions by token hash.
pub(crate) struct SessionCache {
    shards: Vec<Mutex<Shard>>,
    ttl: Duration,
}

impl SessionCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            shards: (0..CACHE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            ttl,
        }
    }

    fn shard(&self, hash: &[u8; 32]) -> Option<MutexGuard<'_, Shard>> {
        let shard = self.shards.get(usize::from(hash[0]) % CACHE_SHARDS)?;
        Some(
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn get(&self, hash: &[u8; 32]) -> Option<Authenticated> {
        let shard = self.shard(hash)?;
        shard
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(a, _)| a.clone())
    }

    fn put(&self, hash: [u8; 32], session: Authenticated) {
        if let Some(mut shard) = self.shard(&hash) {
            if shard.len() >= CACHE_SHARD_CAPACITY {
                shard.clear();
            }
            shard.insert(hash, (session, Instant::now()));
        }
    }

    pub(crate) fn forget(&self, keep: impl Fn(&Authenticated) -> bool) {
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|_, (a, _)| keep(a));
        }
    }
}

impl crate::IdentityService {
    /// Starts a session for an account.
    pub async fn issue_session(
        &self,
        account: Account,
        method: SignInMethod,
    ) -> Result<IssuedSession, IdentityError> {
        let mut family = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut family);
        self.issue_in_family(account, method, family).await
    }

    async fn issue_in_family(
        &self,
        account: Account,
        method: SignInMethod,
        family: [u8; 16],
    ) -> Result<IssuedSession, IdentityError> {
        let now = self.clock.now();
        let staff = account.roles.is_staff();
        let policy = self.config.sessions;
        let expires_at = crate::later(
            now,
            if staff {
                policy.staff_access
            } else {
                policy.visitor_access
            },
        );
        let refresh = (!staff).then(|| {
            (
                mint(REFRESH_PREFIX),
                crate::later(now, policy.visitor_refresh),
            )
        });
        let access_token = mint(ACCESS_PREFIX);
        let hash = token_hash(&access_token);
        let session = NewSession {
            account: account.id,
            token_hash: hash,
            refresh_hash: refresh.as_ref().map(|(t, _)| token_hash(t)),
            family,
            method,
            created_at: now,
            expires_at,
            refresh_expires_at: refresh.as_ref().map(|(_, at)| *at),
        };
        let session_id = self
            .store
            .insert_session(&session)
            .await
            .map_err(IdentityError::store)?;
        self.cache.put(
            hash,
            Authenticated {
                account: account.clone(),
                session_id,
                family,
                method,
                expires_at,
            },
        );
        Ok(IssuedSession {
            account,
            access_token,
            expires_at,
            refresh_token: refresh.as_ref().map(|(t, _)| t.clone()),
            refresh_expires_at: refresh.map(|(_, at)| at),
        })
    }

    /// The caller a bearer token belongs to, if it names a live session. The hot path: one
    /// SHA-256 and one cache lookup.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Authenticated>, IdentityError> {
        if !well_formed(token, ACCESS_PREFIX) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let now = self.clock.now();
        if let Some(found) = self.cache.get(&hash) {
            return Ok((found.expires_at > now).then_some(found));
        }
        let Some(record) = self.reader.get(hash).await.map_err(IdentityError::store)? else {
            return Ok(None);
        };
        let found = Authenticated {
            account: record.account,
            session_id: record.id,
            family: record.family,
            method: record.method,
            expires_at: record.expires_at,
        };
        self.cache.put(hash, found.clone());
        Ok(Some(found))
    }

    /// Exchanges a refresh token for a new session (rotation; see the module comment).
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedSession, IdentityError> {
        if !well_formed(refresh_token, REFRESH_PREFIX) {
            return Err(IdentityError::SessionInvalid);
        }
        let now = self.clock.now();
        let record = self
            .store
            .session_by_refresh(&token_hash(refresh_token))
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::SessionInvalid)?;
        if record.revoked_at.is_some() {
            let family = record.family;
            let n = self
                .store
                .revoke_family(&family, now)
                .await
                .map_err(IdentityError::store)?;
            self.cache.forget(|a| a.family != family);
            self.audit(
                Some(record.account.id),
                "refresh_reuse",
                &format!("a rotated refresh token came back; {n} sessions of its family revoked"),
            )
            .await;
            return Err(IdentityError::SessionInvalid);
        }
        if record.refresh_expires_at.is_none_or(|at| at <= now) {
            return Err(IdentityError::SessionInvalid);
        }
        // Revoking first makes two racing refreshes of one token yield one new session.
        if !self
            .store
            .revoke_session(record.id, now)
            .await
            .map_err(IdentityError::store)?
        {
            return Err(IdentityError::SessionInvalid);
        }
        self.cache.forget(|a| a.session_id != record.id);
        let account = self
            .store
            .account(record.account.id)
            .await
            .map_err(IdentityError::store)?
            .ok_or(IdentityError::SessionInvalid)?;
        self.issue_in_family(account, record.method, record.family)
            .await
    }

    /// Signs one session out.
    pub async fn sign_out(&self, session: &Authenticated) -> Result<(), IdentityError> {
        self.store
            .revoke_session(session.session_id, self.clock.now())
            .await
            .map_err(IdentityError::store)?;
        let id = session.session_id;
        self.cache.forget(|a| a.session_id != id);
        Ok(())
    }

    /// Signs every session of an account out; how many there were.
    pub async fn sign_out_everywhere(&self, account: AccountId) -> Result<u64, IdentityError> {
        let n = self
            .store
            .revoke_account_sessions(account, self.clock.now())
            .await
            .map_err(IdentityError::store)?;
        self.forget_account(account);
        self.audit(
            Some(account),
            "sign_out_everywhere",
            &format!("{n} sessions"),
        )
        .await;
        Ok(n)
    }

    /// The account a bearer token belongs to, if its live session is in the cache — no lookup
    /// beyond it. For the traffic edge, which must not wait on the database before its verdict.
    pub fn cached_account(&self, token: &str) -> Option<AccountId> {
        if !well_formed(token, ACCESS_PREFIX) {
            return None;
        }
        let now = self.clock.now();
        self.cache
            .get(&token_hash(token))
            .filter(|found| found.expires_at > now)
            .map(|found| found.account.id)
    }

    /// Drops an account's cached sessions (after its roles or lock changed), so the next request
    /// reads the account afresh.
    pub fn forget_account(&self, account: AccountId) {
        self.cache.forget(|a| a.account.id != account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_are_looked_up() {
        let t = mint(ACCESS_PREFIX);
        assert!(well_formed(&t, ACCESS_PREFIX));
        assert!(!well_formed(&t, REFRESH_PREFIX));
        assert!(!well_formed(&t.to_uppercase(), ACCESS_PREFIX));
        assert!(!well_formed(&t[..t.len() - 1], ACCESS_PREFIX));
        assert!(!well_formed("gh_", ACCESS_PREFIX));
        assert_ne!(mint(ACCESS_PREFIX), t);
    }
}
