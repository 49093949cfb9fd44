//! The sealed-value format. Byte 0 says what sealed it: `2` is a person's data key (envelope
//! encryption), `1` the single data key of databases sealed before it (opened with the key
//! file's `legacy` key). Then the 96-bit nonce, then ciphertext and tag.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::PrivacyError;

pub(crate) const LEGACY: u8 = 1;
pub(crate) const ENVELOPE: u8 = 2;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

pub(crate) fn seal(cipher: &Aes256Gcm, format: u8, plaintext: &str, context: &str) -> Vec<u8> {
    // The thread's CSPRNG (ChaCha12, seeded and reseeded from the OS): a nonce per value without
    // a system call per value, which was half the cost of a seal. Random 96-bit nonces are safe
    // far beyond what one person's key ever seals.
    let nonce = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(format);
    out.extend_from_slice(&nonce);
    // Encryption with a valid key and nonce cannot fail for inputs under 64 GiB.
    if let Ok(ct) = cipher.encrypt(
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

/// The format byte of a sealed value, if it is long enough to be one.
pub(crate) fn format_of(sealed: &[u8]) -> Option<u8> {
    (sealed.len() >= 1 + NONCE_LEN + TAG_LEN)
        .then(|| sealed.first().copied())
        .flatten()
}

pub(crate) fn open(
    cipher: &Aes256Gcm,
    sealed: &[u8],
    context: &str,
) -> Result<Zeroizing<String>, PrivacyError> {
    let rest = sealed.get(1..).ok_or(PrivacyError::OpenFailed)?;
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(PrivacyError::OpenFailed);
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let plain = cipher
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
