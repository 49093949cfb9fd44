//! RSA keys as providers hand them out: PEM (PKCS#8 or PKCS#1) or the bare base64 DER that the
//! Alipay open platform shows in its console. Signatures are RSASSA-PKCS1-v1_5 with SHA-256
//! ("RSA2"), base64 encoded.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(&'static str);

impl KeyError {
    pub fn new(why: &'static str) -> Self {
        Self(why)
    }
}

fn der_of(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

pub fn private_key(text: &str) -> Result<RsaPrivateKey, KeyError> {
    let der = der_of(text).ok_or(KeyError("not an RSA private key in PEM or base64 DER form"))?;
    RsaPrivateKey::from_pkcs8_der(&der)
        .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
        .map_err(|_| KeyError("not an RSA private key in PEM or base64 DER form"))
}

pub fn public_key(text: &str) -> Result<RsaPublicKey, KeyError> {
    let der = der_of(text).ok_or(KeyError("not an RSA public key in PEM or base64 DER form"))?;
    RsaPublicKey::from_public_key_der(&der)
        .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
        .map_err(|_| KeyError("not an RSA public key in PEM or base64 DER form"))
}

/// A new 2048-bit key pair as (PKCS#8 private PEM, SPKI public PEM), for fakes and tests.
pub fn generate_pem() -> Result<(String, String), KeyError> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|_| KeyError("could not generate an RSA key"))?;
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError("not an RSA private key in PEM or base64 DER form"))?
        .to_string();
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError("not an RSA public key in PEM or base64 DER form"))?;
    Ok((private, public))
}

/// SHA256withRSA over `content`, base64.
pub fn sign(key: &RsaPrivateKey, content: &str) -> String {
    let signer = SigningKey::<Sha256>::new(key.clone());
    STANDARD.encode(signer.sign(content.as_bytes()).to_bytes())
}

/// Checks a base64 SHA256withRSA signature over `content` (keys of 2048 to 8192 bits, as the
/// providers use). Verified with ring: every payment notification pays for one, and ring's
/// arithmetic is several times faster than the `rsa` crate's.
pub fn verify(key: &RsaPublicKey, content: &str, signature_b64: &str) -> bool {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let Ok(raw) = STANDARD.decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(der) = key.to_pkcs1_der() else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        der.as_bytes(),
    )
    .verify(content.as_bytes(), &raw)
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_load_in_every_form_and_signatures_bind_content() {
        let (private_pem, public_pem) = generate_pem().unwrap();
        let bare: String = private_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let key = private_key(&bare).unwrap();
        assert_eq!(key, private_key(&private_pem).unwrap());
        let public = public_key(&public_pem).unwrap();
        let signature = sign(&key, "a=1&b=2");
        assert!(verify(&public, "a=1&b=2", &signature));
        assert!(!verify(&public, "a=1&b=3", &signature));
        assert!(!verify(&public, "a=1&b=2", "not base64!"));
        assert!(
            private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
        );
    }
}
