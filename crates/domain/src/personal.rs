//! Personal data as the domain sees it: opaque sealed bytes and keyed blind indexes. The domain
//! never holds the keys; an adapter (gatehouse-privacy) seals, opens and indexes.

use std::fmt;

pub use crate::personal_data::PersonalField;

/// The blind-index namespace of ID numbers: one namespace everywhere (tickets, frequent
/// visitors, face verifications), so the same person is recognised across them.
pub const ID_NUMBER_INDEX: &str = "id_number";
/// The blind-index namespace of search tails (the last four characters of a phone or ID number).
pub const SEARCH_TAIL_INDEX: &str = "search_tail";
/// The blind-index namespace of phone numbers.
pub const PHONE_INDEX: &str = "phone";

/// Ciphertext of one personal value, bound by its sealer to one record and field.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl Sealed {
    /// Whether the value was erased (retention, deletion): erased values are kept empty.
    pub fn is_erased(&self) -> bool {
        self.0.is_empty()
    }
}

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

/// A personal value in clear, held only where it has to be: on its way to being sealed, or
/// revealed to a member of staff who stated a purpose. It cannot be printed, logged or
/// serialised in clear by accident: `Debug`, `Display` and `Serialize` all give its mask (by its
/// catalogue field), and the clear text comes out only through [`Sensitive::expose`], which a
/// review can find. Its buffer is wiped when dropped.
pub struct Sensitive {
    field: PersonalField,
    value: String,
}

impl Sensitive {
    pub fn new(field: PersonalField, value: impl Into<String>) -> Self {
        Self {
            field,
            value: value.into(),
        }
    }

    pub fn field(&self) -> PersonalField {
        self.field
    }

    /// The clear text. Every call is a place personal data leaves its protection.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The value as displays show it (`张*`, `138****5678`, `410105********123X`).
    pub fn masked(&self) -> String {
        mask_as(self.field, &self.value)
    }
}

/// Masks `text` as its catalogue field is shown.
pub fn mask_as(field: PersonalField, text: &str) -> String {
    use crate::identity::{mask_id_number, mask_name, mask_phone, IdKind};
    match field {
        PersonalField::VisitorName | PersonalField::DisplayName => mask_name(text),
        PersonalField::RequestText => format!("({} characters)", text.chars().count()),
        PersonalField::IdNumber => mask_id_number(IdKind::ResidentId, text),
        PersonalField::AccountPhone | PersonalField::ContactPhone | PersonalField::VisitorPhone => {
            mask_phone(text)
        }
        PersonalField::IpAddress => text
            .parse::<std::net::IpAddr>()
            .map(|ip| {
                let prefix = if ip.is_ipv4() { 24 } else { 48 };
                format!("{}/{prefix}", crate::traffic::mask(ip, prefix))
            })
            .unwrap_or_else(|_| "***".into()),
        PersonalField::FaceVerification
        | PersonalField::ExternalAccount
        | PersonalField::PayerAccount
        | PersonalField::DeviceId => {
            let chars: Vec<char> = text.chars().collect();
            let keep = if chars.len() > 8 { 2 } else { 0 };
            chars
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i < keep || i + keep >= chars.len() {
                        *c
                    } else {
                        '*'
                    }
                })
                .collect()
        }
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sensitive({:?}, {})", self.field, self.masked())
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl serde::Serialize for Sensitive {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl Drop for Sensitive {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_never_show_in_clear_but_through_expose() {
        let name = Sensitive::new(PersonalField::VisitorName, "张三丰");
        let id = Sensitive::new(PersonalField::IdNumber, "11010519491231002X");
        let phone = Sensitive::new(PersonalField::ContactPhone, "13812345678");
        let ip = Sensitive::new(PersonalField::IpAddress, "203.0.113.77");
        for (value, clear, mask) in [
            (&name, "张三丰", "张**"),
            (&id, "11010519491231002X", "110105********002X"),
            (&phone, "13812345678", "138****5678"),
            (&ip, "203.0.113.77", "203.0.113.0/24"),
        ] {
            let shown = [
                format!("{value}"),
                format!("{value:?}"),
                format!("{value:#?}"),
                serde_json::to_string(value).unwrap_or_default(),
            ];
            for s in &shown {
                assert!(!s.contains(clear), "{s}");
                assert!(s.contains(mask), "{s} lacks {mask}");
            }
            assert_eq!(value.expose(), clear);
        }
    }
}
