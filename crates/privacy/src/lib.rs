//! Personal data at rest: every value (a visitor's name, ID number, phone) is sealed with
//! AES-256-GCM under a fresh 96-bit nonce, with associated data naming its record and field so a
//! ciphertext moved to another row or column fails to open. Equality lookups (the per-ID limit)
//! use a blind index, HMAC-SHA256 under a separate key, so they never need the plaintext.
//!
//! Keys come from a key file created with mode 0600 on first run, or from the environment.
//! Sealed values start with a key-version byte so that rotation (a later issue) can add keys.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

const KEY_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const FILE_PREFIX: &str = "gatehouse-keys-v1";

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("key material is malformed: {0}")]
    BadKeys(String),
    #[error("key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a sealed value failed to open (wrong key, wrong record, or tampered)")]
    OpenFailed,
}

/// The keys that protect personal data. Never printed: `Debug` shows nothing of them.
pub struct Keyring {
    cipher: Aes256Gcm,
    index_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

impl Keyring {
    /// Builds a keyring from a 32-byte data key and a 32-byte index key.
    pub fn from_keys(data_key: &[u8; 32], index_key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(data_key)),
            index_key: Zeroizing::new(*index_key),
        }
    }

    /// Parses the key file's text form: `gatehouse-keys-v1:<64 hex data key>:<64 hex index key>`.
    pub fn from_text(text: &str) -> Result<Self, PrivacyError> {
        let mut parts = text.trim().split(':');
        if parts.next() != Some(FILE_PREFIX) {
            return Err(PrivacyError::BadKeys(format!(
                "expected it to start with {FILE_PREFIX}:"
            )));
        }
        let mut key = |what: &str| -> Result<Zeroizing<[u8; 32]>, PrivacyError> {
            let hex_text = parts
                .next()
                .ok_or_else(|| PrivacyError::BadKeys(format!("the {what} key is missing")))?;
            let mut out = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(hex_text, out.as_mut_slice()).map_err(|_| {
                PrivacyError::BadKeys(format!("the {what} key is not 64 hex digits"))
            })?;
            Ok(out)
        };
        let data = key("data")?;
        let index = key("index")?;
        if data == index {
            return Err(PrivacyError::BadKeys(
                "the data and index keys must differ".into(),
            ));
        }
        Ok(Self::from_keys(&data, &index))
    }

    /// Fresh random keys in the key file's text form.
    pub fn generate_text() -> Zeroizing<String> {
        let mut data = Zeroizing::new([0u8; 32]);
        let mut index = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(data.as_mut_slice());
        OsRng.fill_bytes(index.as_mut_slice());
        Zeroizing::new(format!(
            "{FILE_PREFIX}:{}:{}\n",
            hex::encode(data.as_slice()),
            hex::encode(index.as_slice())
        ))
    }

    /// Loads the key file at `path`, creating it (mode 0600) with fresh keys if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, PrivacyError> {
        let io_err = |source| PrivacyError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let text = Self::generate_text();
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(text.as_bytes()).map_err(io_err)?;
                    file.sync_all().map_err(io_err)?;
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_err)?);
        Self::from_text(&text)
    }

    /// Seals `plaintext`, bound to `context` (record and field, e.g. `ticket/<id>/id_number`).
    pub fn seal(&self, plaintext: &str, context: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(KEY_VERSION);
        out.extend_from_slice(&nonce);
        // Encryption with a valid key and nonce cannot fail for inputs under 64 GiB.
        if let Ok(ct) = self.cipher.encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: context.as_bytes(),
            },
        ) {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// Opens a value sealed by [`Keyring::seal`] with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Zeroizing<String>, PrivacyError> {
        let (version, rest) = sealed.split_first().ok_or(PrivacyError::OpenFailed)?;
        if *version != KEY_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(PrivacyError::OpenFailed);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| PrivacyError::OpenFailed)?;
        String::from_utf8(plain)
            .map(Zeroizing::new)
            .map_err(|_| PrivacyError::OpenFailed)
    }

    /// The blind index of a normalised value in a namespace (e.g. `id_number`), so indexes of
    /// different kinds of value never collide.
    pub fn blind_index(&self, namespace: &str, normalised: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.index_key.as_slice())
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(namespace.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

// HMAC accepts keys of any length; this is never reached.
#[allow(clippy::panic)]
fn unreachable_hmac() -> Hmac<Sha256> {
    panic!("HMAC-SHA256 rejected a 32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::from_text(&Keyring::generate_text()).unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_fresh_nonces() {
        let k = keyring();
        let a = k.seal("11010519491231002X", "ticket/1/id_number");
        let b = k.seal("11010519491231002X", "ticket/1/id_number");
        assert_ne!(a, b, "each seal uses a fresh nonce");
        assert_eq!(
            k.open(&a, "ticket/1/id_number").unwrap().as_str(),
            "11010519491231002X"
        );
        assert!(!a.windows(18).any(|w| w == b"11010519491231002X"));
    }

    #[test]
    fn a_value_moved_to_another_record_or_field_does_not_open() {
        let k = keyring();
        let sealed = k.seal("张三", "ticket/1/name");
        assert!(k.open(&sealed, "ticket/2/name").is_err());
        assert!(k.open(&sealed, "ticket/1/id_number").is_err());
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(k.open(&tampered, "ticket/1/name").is_err());
        assert!(
            keyring().open(&sealed, "ticket/1/name").is_err(),
            "another key cannot open it"
        );
        assert!(k.open(&[], "x").is_err());
    }

    #[test]
    fn blind_index_is_keyed_and_namespaced() {
        let k = keyring();
        assert_eq!(k.blind_index("id", "X1"), k.blind_index("id", "X1"));
        assert_ne!(k.blind_index("id", "X1"), k.blind_index("phone", "X1"));
        assert_ne!(k.blind_index("id", "X1"), keyring().blind_index("id", "X1"));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let first = Keyring::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = Keyring::load_or_create(&path).unwrap();
        let sealed = first.seal("13812345678", "order/1/phone");
        assert_eq!(
            again.open(&sealed, "order/1/phone").unwrap().as_str(),
            "13812345678"
        );
        assert!(format!("{first:?}") == "Keyring(..)");
    }

    #[test]
    fn malformed_key_text_is_refused() {
        assert!(Keyring::from_text("nope").is_err());
        assert!(Keyring::from_text("gatehouse-keys-v1:abcd:ef").is_err());
        let same = format!("gatehouse-keys-v1:{0}:{0}", "11".repeat(32));
        assert!(Keyring::from_text(&same).is_err());
    }
}
