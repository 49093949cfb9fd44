//! Master keys: the versions of the key that wraps every person's data key, behind
//! [`MasterKeys`] (the interface an external KMS implements), and the local implementation over
//! the key file. The file also holds the blind-index key (never rotated: indexes must keep
//! matching) and, for databases sealed before envelope encryption, the old single data key.
//!
//! The file's text is `gatehouse-keys-v2` followed by `name=hex` items, one per line (or `;`
//! separated, so it fits an environment variable):
//! `index=…`, `legacy=…` (optional), `master.<n>=…` per live version, `current=<n>`.
//! The first format (`gatehouse-keys-v1:<data>:<index>`) is read as a v2 set whose master
//! version 1 is derived from the old data key, so either text gives the same keys every start.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::PrivacyError;

const V1_PREFIX: &str = "gatehouse-keys-v1";
const V2_HEADER: &str = "gatehouse-keys-v2";
const NONCE_LEN: usize = 12;

type KeyBytes = Zeroizing<[u8; 32]>;

/// Where data keys are wrapped: the key file here, or a KMS. Wrapping binds the subject and
/// version, so a wrapped key copied to another person's row does not unwrap.
#[async_trait]
pub trait MasterKeys: Send + Sync + 'static {
    /// The version new data keys are wrapped with.
    fn current_version(&self) -> u32;
    async fn wrap(
        &self,
        version: u32,
        subject: &str,
        data_key: &[u8; 32],
    ) -> Result<Vec<u8>, PrivacyError>;
    async fn unwrap(
        &self,
        version: u32,
        subject: &str,
        wrapped: &[u8],
    ) -> Result<KeyBytes, PrivacyError>;
    /// Learns of versions added or retired elsewhere (a rotation by `gatehouse keys rotate`);
    /// true if the current version changed.
    async fn refresh(&self) -> Result<bool, PrivacyError>;
}

/// Everything the key file holds.
pub struct KeySet {
    pub(crate) index: KeyBytes,
    pub(crate) legacy: Option<KeyBytes>,
    masters: BTreeMap<u32, KeyBytes>,
    current: u32,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySet(versions {:?}, current {})",
            self.masters.keys().collect::<Vec<_>>(),
            self.current
        )
    }
}

fn random_key() -> KeyBytes {
    let mut key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(key.as_mut_slice());
    key
}

fn hex_key(what: &str, text: &str) -> Result<KeyBytes, PrivacyError> {
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, out.as_mut_slice())
        .map_err(|_| PrivacyError::BadKeys(format!("the {what} key is not 64 hex digits")))?;
    Ok(out)
}

/// Master version 1 of a v1 key text: derived from its data key under a label of its own, so
/// the master never equals a key that sealed values directly.
fn derived_master(legacy: &[u8; 32]) -> KeyBytes {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(legacy).unwrap_or_else(|_| crate::unreachable_hmac());
    mac.update(b"gatehouse master key v1 from the v1 data key");
    Zeroizing::new(mac.finalize().into_bytes().into())
}

impl KeySet {
    /// A fresh set: a random index key and master version 1.
    pub fn generate() -> Self {
        Self {
            index: random_key(),
            legacy: None,
            masters: BTreeMap::from([(1, random_key())]),
            current: 1,
        }
    }

    pub fn parse(text: &str) -> Result<Self, PrivacyError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix(V1_PREFIX) {
            return Self::parse_v1(rest);
        }
        let mut items = text
            .split(|c: char| c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty());
        if items.next() != Some(V2_HEADER) {
            return Err(PrivacyError::BadKeys(format!(
                "expected it to start with {V2_HEADER} (or {V1_PREFIX}:)"
            )));
        }
        let (mut index, mut legacy, mut masters, mut current) = (None, None, BTreeMap::new(), None);
        for item in items {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| PrivacyError::BadKeys(format!("`{item}` is not name=value")))?;
            match name {
                "index" => index = Some(hex_key("index", value)?),
                "legacy" => legacy = Some(hex_key("legacy", value)?),
                "current" => {
                    current = Some(value.parse::<u32>().map_err(|_| {
                        PrivacyError::BadKeys("current is not a version number".into())
                    })?)
                }
                _ => {
                    let version = name
                        .strip_prefix("master.")
                        .and_then(|v| v.parse::<u32>().ok())
                        .filter(|v| *v > 0)
                        .ok_or_else(|| PrivacyError::BadKeys(format!("unknown item `{name}`")))?;
                    masters.insert(version, hex_key("master", value)?);
                }
            }
        }
        let index =
            index.ok_or_else(|| PrivacyError::BadKeys("the index key is missing".into()))?;
        let current = current
            .ok_or_else(|| PrivacyError::BadKeys("the current version is missing".into()))?;
        if !masters.contains_key(&current) {
            return Err(PrivacyError::BadKeys(format!(
                "the current master version {current} is not in the file"
            )));
        }
        let set = Self {
            index,
            legacy,
            masters,
            current,
        };
        set.check_distinct()?;
        Ok(set)
    }

    fn parse_v1(rest: &str) -> Result<Self, PrivacyError> {
        let mut parts = rest.strip_prefix(':').unwrap_or(rest).split(':');
        let mut next = |what: &str| {
            parts
                .next()
                .ok_or_else(|| PrivacyError::BadKeys(format!("the {what} key is missing")))
                .and_then(|t| hex_key(what, t))
        };
        let legacy = next("data")?;
        let index = next("index")?;
        let set = Self {
            masters: BTreeMap::from([(1, derived_master(&legacy))]),
            index,
            legacy: Some(legacy),
            current: 1,
        };
        set.check_distinct()?;
        Ok(set)
    }

    fn check_distinct(&self) -> Result<(), PrivacyError> {
        let mut all: Vec<&[u8; 32]> = vec![&self.index];
        all.extend(self.legacy.iter().map(|k| &**k));
        all.extend(self.masters.values().map(|k| &**k));
        for (i, a) in all.iter().enumerate() {
            if all.iter().skip(i + 1).any(|b| a == b) {
                return Err(PrivacyError::BadKeys(
                    "every key in the set must differ".into(),
                ));
            }
        }
        Ok(())
    }

    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(format!("{V2_HEADER}\nindex={}\n", hex::encode(*self.index)));
        if let Some(legacy) = &self.legacy {
            out.push_str(&format!("legacy={}\n", hex::encode(**legacy)));
        }
        for (version, key) in &self.masters {
            out.push_str(&format!("master.{version}={}\n", hex::encode(**key)));
        }
        out.push_str(&format!("current={}\n", self.current));
        out
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    pub fn versions(&self) -> Vec<u32> {
        self.masters.keys().copied().collect()
    }

    /// A key derived from the index key under `label` (the same every start and on every node,
    /// and unchanged by rotation): what signs tickets and traffic passes.
    pub fn derived_key(&self, label: &str) -> [u8; 32] {
        crate::keyed_hash(&self.index, label, "1")
    }

    pub fn has_legacy(&self) -> bool {
        self.legacy.is_some()
    }

    /// Adds a fresh master version and makes it current; answers it.
    pub fn rotate(&mut self) -> u32 {
        let next = self.masters.keys().max().copied().unwrap_or(0) + 1;
        self.masters.insert(next, random_key());
        self.current = next;
        next
    }

    /// Forgets master `version` (never the current one); true if it was there.
    pub fn retire(&mut self, version: u32) -> bool {
        version != self.current && self.masters.remove(&version).is_some()
    }

    /// Forgets the legacy key (once no value is sealed under it); true if it was there.
    pub fn retire_legacy(&mut self) -> bool {
        self.legacy.take().is_some()
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> PrivacyError + '_ {
    move |source| PrivacyError::KeyFile {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the key file, creating it (mode 0600) with a fresh set if it does not exist, and
/// rewriting a v1 file in the v2 form (same keys).
pub fn load_or_create(path: &Path) -> Result<KeySet, PrivacyError> {
    if !path.exists() {
        let text = KeySet::generate().to_text();
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).map_err(io_err(path))?;
                file.sync_all().map_err(io_err(path))?;
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_err(path))?);
    let set = KeySet::parse(&text)?;
    if text.trim_start().starts_with(V1_PREFIX) {
        save(path, &set)?;
    }
    Ok(set)
}

/// Replaces the key file with `set`, atomically (a private temporary file, synced, renamed over
/// it), so a crash leaves either the old file or the new one.
pub fn save(path: &Path, set: &KeySet) -> Result<(), PrivacyError> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
    file.write_all(set.to_text().as_bytes())
        .map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

struct Loaded {
    current: u32,
    ciphers: BTreeMap<u32, Aes256Gcm>,
}

/// The master keys of the key file (or of key text from the environment, which cannot rotate).
/// A version retired from the file stays known to a running process until it restarts, so a
/// data key it wrapped just before it noticed the rotation can still be re-wrapped.
pub struct LocalMasterKeys {
    path: Option<PathBuf>,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for LocalMasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalMasterKeys(..)")
    }
}

fn ciphers(set: &KeySet) -> BTreeMap<u32, Aes256Gcm> {
    set.masters
        .iter()
        .map(|(v, k)| {
            (
                *v,
                Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(k.as_slice())),
            )
        })
        .collect()
}

fn wrap_aad(subject: &str, version: u32) -> Vec<u8> {
    format!("gatehouse-data-key\0{subject}\0{version}").into_bytes()
}

impl LocalMasterKeys {
    /// Keys read from `path` now and again on [`MasterKeys::refresh`].
    pub fn from_file(path: &Path, set: &KeySet) -> Self {
        Self {
            path: Some(path.to_path_buf()),
            loaded: RwLock::new(Loaded {
                current: set.current,
                ciphers: ciphers(set),
            }),
        }
    }

    /// Fixed keys (text from the environment, tests, benches).
    pub fn fixed(set: &KeySet) -> Self {
        Self {
            path: None,
            loaded: RwLock::new(Loaded {
                current: set.current,
                ciphers: ciphers(set),
            }),
        }
    }

    fn cipher<T>(&self, version: u32, use_it: impl FnOnce(&Aes256Gcm) -> T) -> Option<T> {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loaded.ciphers.get(&version).map(use_it)
    }
}

#[async_trait]
impl MasterKeys for LocalMasterKeys {
    fn current_version(&self) -> u32 {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .current
    }

    async fn wrap(
        &self,
        version: u32,
        subject: &str,
        data_key: &[u8; 32],
    ) -> Result<Vec<u8>, PrivacyError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = wrap_aad(subject, version);
        let ct = self
            .cipher(version, |c| {
                c.encrypt(
                    &nonce,
                    Payload {
                        msg: data_key,
                        aad: &aad,
                    },
                )
            })
            .ok_or(PrivacyError::UnknownVersion(version))?
            .map_err(|_| PrivacyError::OpenFailed)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    async fn unwrap(
        &self,
        version: u32,
        subject: &str,
        wrapped: &[u8],
    ) -> Result<KeyBytes, PrivacyError> {
        if wrapped.len() < NONCE_LEN + 16 {
            return Err(PrivacyError::OpenFailed);
        }
        let (nonce, ct) = wrapped.split_at(NONCE_LEN);
        let aad = wrap_aad(subject, version);
        let plain = Zeroizing::new(
            self.cipher(version, |c| {
                c.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            })
            .ok_or(PrivacyError::UnknownVersion(version))?
            .map_err(|_| PrivacyError::OpenFailed)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(PrivacyError::OpenFailed);
        }
        key.copy_from_slice(&plain);
        Ok(key)
    }

    async fn refresh(&self) -> Result<bool, PrivacyError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_err(path))?);
        let set = KeySet::parse(&text)?;
        let mut loaded = self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (version, cipher) in ciphers(&set) {
            loaded.ciphers.entry(version).or_insert(cipher);
        }
        let changed = loaded.current != set.current;
        loaded.current = set.current;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_round_trips_through_its_text_and_one_line_form() {
        let mut set = KeySet::generate();
        set.rotate();
        let text = set.to_text();
        let again = KeySet::parse(&text).unwrap();
        assert_eq!(again.versions(), vec![1, 2]);
        assert_eq!(again.current(), 2);
        let one_line = text.replace('\n', ";");
        assert_eq!(KeySet::parse(&one_line).unwrap().to_text(), text);
    }

    #[test]
    fn a_v1_text_reads_the_same_every_time_with_its_data_key_kept_as_legacy() {
        let v1 = format!("{V1_PREFIX}:{}:{}", "11".repeat(32), "22".repeat(32));
        let a = KeySet::parse(&v1).unwrap();
        let b = KeySet::parse(&v1).unwrap();
        assert!(a.has_legacy());
        assert_eq!(a.to_text(), b.to_text(), "master 1 is derived, not random");
        assert_eq!(*a.index, [0x22; 32]);
    }

    #[test]
    fn malformed_sets_are_refused_with_the_reason() {
        for (text, why) in [
            ("nope", "start with"),
            ("gatehouse-keys-v2;index=00", "64 hex"),
            ("gatehouse-keys-v2;current=1", "index key is missing"),
            (
                &format!(
                    "gatehouse-keys-v2;index={};master.1={};current=2",
                    "11".repeat(32),
                    "22".repeat(32)
                ),
                "not in the file",
            ),
            (
                &format!(
                    "gatehouse-keys-v2;index={0};master.1={0};current=1",
                    "11".repeat(32)
                ),
                "must differ",
            ),
            (
                &format!(
                    "gatehouse-keys-v2;index={};masterx={};current=1",
                    "11".repeat(32),
                    "22".repeat(32)
                ),
                "unknown item",
            ),
        ] {
            let err = KeySet::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn the_current_version_cannot_be_retired() {
        let mut set = KeySet::generate();
        assert!(!set.retire(1));
        set.rotate();
        assert!(set.retire(1));
        assert!(!set.retire(1));
        assert_eq!(set.versions(), vec![2]);
    }

    #[tokio::test]
    async fn wrapping_binds_subject_and_version_and_refresh_learns_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let set = load_or_create(&path).unwrap();
        let masters = LocalMasterKeys::from_file(&path, &set);
        let dek = [7u8; 32];
        let wrapped = masters.wrap(1, "account/1", &dek).await.unwrap();
        assert_eq!(
            *masters.unwrap(1, "account/1", &wrapped).await.unwrap(),
            dek
        );
        assert!(masters.unwrap(1, "account/2", &wrapped).await.is_err());
        assert!(matches!(
            masters.unwrap(2, "account/1", &wrapped).await,
            Err(PrivacyError::UnknownVersion(2))
        ));
        let mut on_disk = load_or_create(&path).unwrap();
        on_disk.rotate();
        save(&path, &on_disk).unwrap();
        assert!(masters.refresh().await.unwrap());
        assert_eq!(masters.current_version(), 2);
        on_disk.retire(1);
        save(&path, &on_disk).unwrap();
        assert!(!masters.refresh().await.unwrap());
        assert_eq!(
            *masters.unwrap(1, "account/1", &wrapped).await.unwrap(),
            dek,
            "a retired version stays known to a running process"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_v1_file_is_rewritten_as_v2_with_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let v1 = format!("{V1_PREFIX}:{}:{}\n", "33".repeat(32), "44".repeat(32));
        std::fs::write(&path, &v1).unwrap();
        let set = load_or_create(&path).unwrap();
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(on_disk.starts_with(V2_HEADER));
        assert_eq!(KeySet::parse(&on_disk).unwrap().to_text(), set.to_text());
        assert_eq!(set.to_text(), KeySet::parse(&v1).unwrap().to_text());
    }
}
