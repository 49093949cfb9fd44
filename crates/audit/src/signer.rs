//! Signed checkpoints: an Ed25519 signature over (place, hash, time) of the chain's head, so a
//! log rewritten from some record on — every hash recomputed — still fails against the last
//! checkpoint it cannot forge. The signing key lives in its own file (mode 0600, created on
//! first run), apart from the database the log is in.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use gatehouse_domain::audit::Checkpoint;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const FILE_PREFIX: &str = "gatehouse-audit-key-v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("audit key file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("audit key file {path} is malformed: {reason}")]
    Malformed { path: String, reason: String },
}

/// The key that signs checkpoints. `Debug` shows only its id.
pub struct CheckpointSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointSigner({})", self.key_id())
    }
}

pub use ed25519_dalek::VerifyingKey as PublicKey;

/// A public key from its 64 hex digits (what `gatehouse audit public-key` prints).
pub fn public_key_from_hex(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| "is not 64 hex digits".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "is not an Ed25519 public key".to_owned())
}

/// A public key's 64 hex digits.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// A key's id: the first 16 hex digits of SHA-256 over its public key.
pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(public.as_bytes()).get(..8).unwrap_or(&[]))
}

/// The bytes a checkpoint's signature covers.
pub fn message(seq: u64, hash: &[u8; 32], at: Timestamp) -> Vec<u8> {
    let mut m = b"gatehouse-audit-checkpoint-v1".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&at.as_millisecond().to_be_bytes());
    m
}

/// Whether `checkpoint` carries a valid signature by `public`.
pub fn verify(public: &VerifyingKey, checkpoint: &Checkpoint) -> bool {
    let Ok(signature) = Signature::from_slice(&checkpoint.signature) else {
        return false;
    };
    checkpoint.key_id == key_id(public)
        && public
            .verify(
                &message(checkpoint.seq, &checkpoint.hash, checkpoint.at),
                &signature,
            )
            .is_ok()
}

impl CheckpointSigner {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// Loads the key file, creating it (mode 0600) with a fresh key if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            let mut seed = Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut_slice());
            let text = Zeroizing::new(format!("{FILE_PREFIX}:{}\n", hex::encode(seed.as_slice())));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(text.as_bytes()).map_err(io)?;
                    file.sync_all().map_err(io)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let malformed = |reason: &str| KeyError::Malformed {
            path: path.display().to_string(),
            reason: reason.into(),
        };
        let hex_seed = text
            .trim()
            .strip_prefix(FILE_PREFIX)
            .and_then(|rest| rest.strip_prefix(':'))
            .ok_or_else(|| malformed(&format!("it must start with {FILE_PREFIX}:")))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_seed, seed.as_mut_slice())
            .map_err(|_| malformed("the key is not 64 hex digits"))?;
        Ok(Self::from_seed(&seed))
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn key_id(&self) -> String {
        key_id(&self.public())
    }

    /// A signed checkpoint of the chain at `seq` ending in `hash`.
    pub fn sign(&self, seq: u64, hash: [u8; 32], at: Timestamp) -> Checkpoint {
        let at = Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at);
        Checkpoint {
            seq,
            hash,
            at,
            key_id: self.key_id(),
            signature: self.key.sign(&message(seq, &hash, at)).to_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checkpoints_verify_only_as_signed_and_the_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let signer = CheckpointSigner::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = CheckpointSigner::load_or_create(&path).unwrap();
        assert_eq!(signer.key_id(), again.key_id());
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let c = signer.sign(42, [7; 32], at);
        assert!(verify(&again.public(), &c));
        let mut moved = c.clone();
        moved.seq = 41;
        assert!(!verify(&signer.public(), &moved));
        let mut rehashed = c.clone();
        rehashed.hash = [8; 32];
        assert!(!verify(&signer.public(), &rehashed));
        let other = CheckpointSigner::from_seed(&[1; 32]);
        assert!(!verify(&other.public(), &c), "another key");
        std::fs::write(&path, "nonsense").unwrap();
        assert!(CheckpointSigner::load_or_create(&path).is_err());
    }
}
