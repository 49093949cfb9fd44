//! Personal data as the domain sees it: opaque sealed bytes and keyed blind indexes. The domain
//! never holds the keys; an adapter (gatehouse-privacy) seals, opens and indexes.

use std::fmt;

/// The blind-index namespace of ID numbers: one namespace everywhere (tickets, frequent
/// visitors, face verifications), so the same person is recognised across them.
pub const ID_NUMBER_INDEX: &str = "id_number";
/// The blind-index namespace of phone numbers.
pub const PHONE_INDEX: &str = "phone";

/// Ciphertext of one personal value, bound by its sealer to one record and field.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// A keyed hash of a normalised value (an ID number): equal values give equal indexes, so limits
/// and locks can be checked without ever holding the plaintext.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlindIndex(pub [u8; 32]);

impl fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "BlindIndex({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

impl BlindIndex {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}
