//! The vault: finds, creates, caches and re-wraps each person's data key, and hands out
//! [`SubjectKey`]s that seal and open that person's values. Fetching a key is async (it may read
//! the database and unwrap); sealing and opening with it are plain function calls, so a request
//! fetches its subject's key once and then seals or opens every field it needs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key};
use gatehouse_domain::data_key::{DataKeyStore, DataSubject, Erasure, WrappedDataKey};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::Sealed;
use gatehouse_domain::store::StoreError;
use gatehouse_domain::Clock;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::master::{KeySet, LocalMasterKeys, MasterKeys};
use crate::reader::KeyReader;
use crate::{sealing, PrivacyError, ShredList};

/// How long a node trusts a cached data key before reading it again (another node may have
/// shredded it meanwhile).
const CACHE_TTL: Duration = Duration::from_secs(600);
/// Keys cached at most; past it the cache starts over (a rush touches far fewer people).
const CACHE_MAX: usize = 200_000;
/// Keys re-wrapped per database round trip.
const REWRAP_BATCH: u32 = 256;

/// One person's key: seals their values and opens them (and values sealed before envelope
/// encryption, with the key file's legacy key). A shredded key opens nothing of theirs.
pub struct SubjectKey {
    cipher: Option<Aes256Gcm>,
    legacy: Option<Arc<Aes256Gcm>>,
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.cipher.is_some() {
            "SubjectKey(..)"
        } else {
            "SubjectKey(shredded)"
        })
    }
}

impl SubjectKey {
    /// Seals `plaintext` bound to `context` (record and field, e.g. `ticket/<id>/id_number`).
    /// A key fetched for sealing always has its cipher; one without (shredded) seals nothing and
    /// gives the erased value.
    pub fn seal(&self, plaintext: &str, context: &str) -> Sealed {
        match &self.cipher {
            Some(cipher) => Sealed(sealing::seal(cipher, sealing::ENVELOPE, plaintext, context)),
            None => Sealed(Vec::new()),
        }
    }

    /// Opens a value sealed for this person with the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Zeroizing<String>, PrivacyError> {
        match sealing::format_of(&sealed.0) {
            Some(sealing::ENVELOPE) => match &self.cipher {
                Some(cipher) => sealing::open(cipher, &sealed.0, context),
                None => Err(PrivacyError::Shredded),
            },
            Some(sealing::LEGACY) => match &self.legacy {
                Some(legacy) => sealing::open(legacy, &sealed.0, context),
                None => Err(PrivacyError::OpenFailed),
            },
            _ => Err(PrivacyError::OpenFailed),
        }
    }

    /// Whether the person's key was destroyed (or never made).
    pub fn is_shredded(&self) -> bool {
        self.cipher.is_none()
    }
}

/// See the module documentation.
pub struct Vault {
    masters: Arc<dyn MasterKeys>,
    legacy: Option<Arc<Aes256Gcm>>,
    index_key: Zeroizing<[u8; 32]>,
    store: Arc<dyn DataKeyStore>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, (Instant, Arc<SubjectKey>)>>,
    shred_list: Option<ShredList>,
    /// Started on first use (inside the runtime).
    reader: std::sync::OnceLock<KeyReader>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

fn cipher_of(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

impl Vault {
    /// A vault over `set`'s index and legacy keys, wrapping with `masters` (the set's own file,
    /// or a KMS).
    pub fn new(
        set: &KeySet,
        masters: Arc<dyn MasterKeys>,
        store: Arc<dyn DataKeyStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            masters,
            legacy: set.legacy.as_ref().map(|k| Arc::new(cipher_of(k))),
            index_key: Zeroizing::new(*set.index),
            store,
            clock,
            cache: Mutex::new(HashMap::new()),
            shred_list: None,
            reader: std::sync::OnceLock::new(),
        }
    }

    /// Whether this vault holds the legacy key (values sealed before per-person keys may exist).
    pub fn has_legacy(&self) -> bool {
        self.legacy.is_some()
    }

    /// Keeps every erasure on `list` too (beside the key file), so that a restored backup
    /// can be erased again by [`Vault::replay_shred_list`].
    pub fn with_shred_list(mut self, list: ShredList) -> Self {
        self.shred_list = Some(list);
        self
    }

    /// A vault over fresh random keys held only in memory (tests, benches).
    pub fn ephemeral(store: Arc<dyn DataKeyStore>, clock: Arc<dyn Clock>) -> Self {
        let set = KeySet::generate();
        Self::new(&set, Arc::new(LocalMasterKeys::fixed(&set)), store, clock)
    }

    /// The blind index of a normalised value in a namespace (e.g. `id_number`), so indexes of
    /// different kinds of value never collide.
    pub fn blind_index(&self, namespace: &str, normalised: &str) -> [u8; 32] {
        crate::keyed_hash(&self.index_key, namespace, normalised)
    }

    fn cached(&self, subject: &str) -> Option<Arc<SubjectKey>> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(subject)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, key)| key.clone())
    }

    fn remember(&self, subject: String, key: Arc<SubjectKey>) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(subject, (Instant::now(), key));
    }

    /// Drops a subject's key from this node's cache (after it was shredded).
    pub fn forget(&self, subject: &DataSubject) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&subject.to_string());
    }

    async fn unwrap(&self, stored: &WrappedDataKey) -> Result<Zeroizing<[u8; 32]>, PrivacyError> {
        let attempt = self
            .masters
            .unwrap(stored.master_version, &stored.subject, &stored.wrapped)
            .await;
        match attempt {
            // Rotated by another process since we last looked: learn of it, then try again.
            Err(PrivacyError::UnknownVersion(_)) => {
                self.masters.refresh().await?;
                self.masters
                    .unwrap(stored.master_version, &stored.subject, &stored.wrapped)
                    .await
            }
            other => other,
        }
    }

    fn subject_key(&self, data_key: Option<&[u8; 32]>) -> Arc<SubjectKey> {
        Arc::new(SubjectKey {
            cipher: data_key.map(cipher_of),
            legacy: self.legacy.clone(),
        })
    }

    /// The subject's key for opening their values: shredded if they have none.
    pub async fn opening_key(
        &self,
        subject: &DataSubject,
    ) -> Result<Arc<SubjectKey>, PrivacyError> {
        let name = subject.to_string();
        if let Some(key) = self.cached(&name) {
            return Ok(key);
        }
        let reader = self
            .reader
            .get_or_init(|| KeyReader::start(self.store.clone()));
        match reader.read(name.clone()).await? {
            Some(stored) => {
                let key = self.subject_key(Some(&*self.unwrap(&stored).await?));
                self.remember(name, key.clone());
                Ok(key)
            }
            None => Ok(self.subject_key(None)),
        }
    }

    /// The subject's key for sealing: made (and stored wrapped) on first use.
    pub async fn sealing_key(
        &self,
        subject: &DataSubject,
    ) -> Result<Arc<SubjectKey>, PrivacyError> {
        let key = self.opening_key(subject).await?;
        if !key.is_shredded() {
            return Ok(key);
        }
        self.new_key(subject).await
    }

    /// The key of a subject just created (an account that did not exist a moment ago): made
    /// without looking for one first — or, if one exists after all, that one.
    pub async fn new_key(&self, subject: &DataSubject) -> Result<Arc<SubjectKey>, PrivacyError> {
        let name = subject.to_string();
        let mut fresh = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(fresh.as_mut_slice());
        let version = self.masters.current_version();
        let wrapped = self.masters.wrap(version, &name, &fresh).await?;
        let mine = WrappedDataKey {
            subject: name.clone(),
            master_version: version,
            wrapped,
        };
        let stored = self.store.create_data_key(&mine, self.clock.now()).await?;
        // Another node made the subject's key first: use theirs.
        let key = if stored == mine {
            self.subject_key(Some(&fresh))
        } else {
            self.subject_key(Some(&*self.unwrap(&stored).await?))
        };
        self.remember(name, key.clone());
        Ok(key)
    }

    /// Re-wraps every data key not under the current master version; answers how many moved.
    /// Safe beside other nodes doing the same (each update is conditional on the old version).
    pub async fn rewrap_all(&self) -> Result<u64, PrivacyError> {
        let mut moved = 0;
        loop {
            let current = self.masters.current_version();
            let batch = self.store.data_keys_not_at(current, REWRAP_BATCH).await?;
            if batch.is_empty() {
                return Ok(moved);
            }
            let mut progressed = false;
            for stored in batch {
                let key = self.unwrap(&stored).await?;
                let rewrapped = WrappedDataKey {
                    wrapped: self.masters.wrap(current, &stored.subject, &key).await?,
                    master_version: current,
                    subject: stored.subject.clone(),
                };
                if self
                    .store
                    .rewrap_data_key(&rewrapped, stored.master_version)
                    .await?
                {
                    moved += 1;
                    progressed = true;
                }
            }
            if !progressed && self.masters.current_version() == current {
                // Every key of the batch moved under us (another node re-wrapping): look again
                // only if that changed something, else stop rather than spin.
                let again = self.store.data_keys_not_at(current, 1).await?;
                if !again.is_empty() {
                    return Err(PrivacyError::BadKeys(
                        "data keys keep moving while being re-wrapped".into(),
                    ));
                }
            }
        }
    }

    /// Learns of a rotation done elsewhere and, if there was one, re-wraps the keys still under
    /// an older version; answers how many moved.
    pub async fn refresh(&self) -> Result<u64, PrivacyError> {
        if self.masters.refresh().await? {
            return self.rewrap_all().await;
        }
        Ok(0)
    }

    /// Erases an account: first on the shred list (durably), then in the database in one
    /// transaction (its data key shredded, its personal data emptied or made unlinkable, see
    /// [`DataKeyStore::erase_account`]), then out of this node's cache.
    pub async fn erase_account(&self, account: AccountId) -> Result<Erasure, PrivacyError> {
        let subject = DataSubject::Account(account);
        if let Some(list) = &self.shred_list {
            list.append(&subject)?;
        }
        let erased = self.store.erase_account(account, self.clock.now()).await?;
        self.forget(&subject);
        Ok(erased)
    }

    /// Erases again everyone on the shred list whom the database does not show as erased (it
    /// was restored from a backup taken before), and shreds any data key of theirs it holds;
    /// answers how many were erased again.
    pub async fn replay_shred_list(&self) -> Result<usize, PrivacyError> {
        let Some(list) = &self.shred_list else {
            return Ok(0);
        };
        let listed = list.read()?;
        if listed.is_empty() {
            return Ok(0);
        }
        let erased = self.store.erased_accounts().await?;
        // One query for the whole list, not one per person at every start.
        let names: Vec<String> = listed.iter().map(ToString::to_string).collect();
        let keys_back: std::collections::HashSet<String> = self
            .store
            .data_keys_of(&names)
            .await?
            .into_iter()
            .map(|k| k.subject)
            .collect();
        let mut again = 0;
        for subject in listed {
            let key_back = keys_back.contains(&subject.to_string());
            match subject {
                DataSubject::Account(account) if !erased.contains(&account) || key_back => {
                    match self.store.erase_account(account, self.clock.now()).await {
                        Ok(_) => again += 1,
                        // Not in this database at all (restored from before it existed).
                        Err(StoreError::NotFound(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.forget(&subject);
                }
                DataSubject::Staff(_) if key_back => {
                    self.store.shred_data_key(&subject.to_string()).await?;
                    self.forget(&subject);
                    again += 1;
                }
                _ => {}
            }
        }
        Ok(again)
    }

    /// How many data keys each master version wraps.
    /// Releases the ID-number indexes of erased people's no-show locks that have ended; how
    /// many (run hourly, beside retention).
    pub async fn release_ended_locks(&self) -> Result<u64, PrivacyError> {
        Ok(self
            .store
            .release_ended_locks_of_erased(self.clock.now())
            .await?)
    }

    pub async fn versions_in_use(&self) -> Result<Vec<(u32, u64)>, PrivacyError> {
        Ok(self.store.data_key_versions().await?)
    }
}
