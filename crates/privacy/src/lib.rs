//! Personal data at rest, by envelope encryption. Every value (a visitor's name, ID number,
//! phone) is sealed with AES-256-GCM under its owner's own data key, with a fresh 96-bit nonce
//! and associated data naming its record and field, so a ciphertext moved to another row or
//! column fails to open. Data keys are stored only wrapped by a versioned master key
//! ([`master`]: the key file, or a KMS behind [`MasterKeys`]); rotating the master re-wraps the
//! data keys, not the data. Erasing a person destroys their data key: every copy of their
//! ciphertext becomes noise ([`vault`]).
//!
//! Equality lookups (the per-ID limit, sign-in by phone) use blind indexes, HMAC-SHA256 under a
//! key of their own that rotation never changes, so indexes keep matching across rotations.

mod legacy;
pub mod master;
mod reader;
mod sealing;
pub mod shred_list;
pub mod vault;

pub use legacy::{legacy_left, Resealed};
pub use master::{KeySet, LocalMasterKeys, MasterKeys};
pub use shred_list::ShredList;
pub use vault::{SubjectKey, Vault};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("key material is malformed: {0}")]
    BadKeys(String),
    #[error("key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a sealed value or data key failed to open (wrong key, wrong record, or tampered)")]
    OpenFailed,
    #[error(
        "master key version {0} is not known (retired, or the key file is not this deployment's)"
    )]
    UnknownVersion(u32),
    #[error("the owner's data key was destroyed: the value is erased")]
    Shredded,
    #[error("data keys: {0}")]
    Store(#[from] gatehouse_domain::store::StoreError),
}

/// HMAC-SHA256 of `value` in `namespace` under `key`: blind indexes, and keys derived from the
/// index key under a label of their own (ticket signing, traffic passes).
pub(crate) fn keyed_hash(key: &[u8; 32], namespace: &str, value: &str) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(namespace.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    mac.finalize().into_bytes().into()
}

// HMAC accepts keys of any length; this is never reached.
#[allow(clippy::panic)]
pub(crate) fn unreachable_hmac() -> hmac::Hmac<sha2::Sha256> {
    panic!("HMAC-SHA256 rejected a 32-byte key")
}
