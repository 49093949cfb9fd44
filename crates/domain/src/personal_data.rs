//! The catalogue of every personal field Gatehouse holds: what it is, its class and grade
//! (PIPL art. 28 and GB/T 35273 call ID numbers and biometrics *sensitive*), how it is protected
//! at rest, where it lives, and how long it is kept. Data-subject exports, erasure, retention and
//! breach notices read this table; so does the tidy test (`tests/it/tidy.rs`), which fails the
//! build when a catalogued field is stored or logged outside its protection.

use serde::Serialize;

/// One kind of personal value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonalField {
    /// A visitor's name as on the document (tickets, frequent visitors).
    VisitorName,
    /// A resident ID, passport or permit number.
    IdNumber,
    /// The phone an account signs in with.
    AccountPhone,
    /// The contact phone given with an order.
    ContactPhone,
    /// A frequent visitor's phone.
    VisitorPhone,
    /// That a face verification took place and its outcome (never an image: the provider keeps
    /// it); bound to the ID number's blind index.
    FaceVerification,
    /// The account's id at WeChat, Alipay or the museum's SSO.
    ExternalAccount,
    /// The payer's id at the payment provider (openid, buyer id).
    PayerAccount,
    /// A client's IP address.
    IpAddress,
    /// A device identifier (traffic protection's device lists, gate devices are not personal).
    DeviceId,
    /// The name an account shows (a masked phone unless the person set one).
    DisplayName,
    /// A data request in the person's own words (it may name anyone or anything).
    RequestText,
}

/// What a value says about the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    Identity,
    Contact,
    Biometric,
    Account,
    Financial,
    Network,
    Device,
}

/// How much harm its leak does, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Links records to one person without naming them (an IP, a device, a provider id).
    Linkable,
    /// Names or reaches the person (a name, a phone).
    Personal,
    /// Sensitive personal information (PIPL art. 28): identity documents, biometrics.
    Sensitive,
}

/// How the value is kept at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// Encrypted (AES-256-GCM, bound to its record and field).
    Sealed,
    /// Encrypted, with a keyed blind index for equality lookups (limits, locks, sign-in).
    SealedAndIndexed,
    /// Only its keyed blind index is kept.
    IndexOnly,
    /// Only a masked form is kept (an IP's network, `138****5678`).
    MaskedOnly,
    /// Kept as given: an identifier that names nobody outside its provider.
    Plain,
}

/// How long the value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "days")]
pub enum Retention {
    /// Purged the configured number of days after the visit (`privacy.visitor_retention_days`).
    AfterVisit,
    /// Until the person deletes it or their account.
    UntilErased,
    /// A fixed number of days (security records the Cybersecurity Law asks to keep six months).
    Days(u32),
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FieldSpec {
    pub field: PersonalField,
    pub class: DataClass,
    pub grade: Grade,
    pub protection: Protection,
    pub retention: Retention,
    /// Where it lives (`table.column`).
    pub locations: &'static [&'static str],
    /// The names the source code gives it (struct fields, variables): the tidy test looks for
    /// them stored or logged in clear.
    #[serde(skip)]
    pub identifiers: &'static [&'static str],
    pub description: &'static str,
}

/// Security records (IPs, devices) are kept this long.
pub const SECURITY_RECORD_DAYS: u32 = 180;

/// Every personal field, one row each.
pub const CATALOGUE: &[FieldSpec] = &[
    FieldSpec {
        field: PersonalField::VisitorName,
        class: DataClass::Identity,
        grade: Grade::Personal,
        protection: Protection::Sealed,
        retention: Retention::AfterVisit,
        locations: &["tickets.visitor_name", "frequent_visitors.name"],
        identifiers: &["visitor_name", "person_name"],
        description: "a visitor's name as on their document",
    },
    FieldSpec {
        field: PersonalField::IdNumber,
        class: DataClass::Identity,
        grade: Grade::Sensitive,
        protection: Protection::SealedAndIndexed,
        retention: Retention::AfterVisit,
        locations: &[
            "tickets.id_number",
            "tickets.id_blind",
            "frequent_visitors.id_number",
            "frequent_visitors.id_blind",
            "no_shows.id_blind",
            "no_show_locks.id_blind",
        ],
        identifiers: &["id_number", "document_number"],
        description: "a resident ID, passport or permit number",
    },
    FieldSpec {
        field: PersonalField::AccountPhone,
        class: DataClass::Contact,
        grade: Grade::Personal,
        protection: Protection::SealedAndIndexed,
        retention: Retention::UntilErased,
        locations: &["accounts.phone_sealed", "accounts.phone_index"],
        identifiers: &["phone", "account_phone"],
        description: "the phone an account signs in with",
    },
    FieldSpec {
        field: PersonalField::ContactPhone,
        class: DataClass::Contact,
        grade: Grade::Personal,
        protection: Protection::Sealed,
        retention: Retention::AfterVisit,
        locations: &["orders.contact_phone"],
        identifiers: &["contact_phone"],
        description: "the contact phone given with an order",
    },
    FieldSpec {
        field: PersonalField::VisitorPhone,
        class: DataClass::Contact,
        grade: Grade::Personal,
        protection: Protection::Sealed,
        retention: Retention::UntilErased,
        locations: &["frequent_visitors.phone"],
        identifiers: &["visitor_phone"],
        description: "a frequent visitor's phone",
    },
    FieldSpec {
        field: PersonalField::FaceVerification,
        class: DataClass::Biometric,
        grade: Grade::Sensitive,
        protection: Protection::IndexOnly,
        retention: Retention::Days(30),
        locations: &[
            "face_verifications.state",
            "face_verifications.id_blind",
            "face_verifications.certify_id",
        ],
        identifiers: &["face_image", "face_data"],
        description: "that a face verification took place and its outcome; no image is held",
    },
    FieldSpec {
        field: PersonalField::ExternalAccount,
        class: DataClass::Account,
        grade: Grade::Linkable,
        protection: Protection::Plain,
        retention: Retention::UntilErased,
        locations: &["account_links.subject"],
        identifiers: &[],
        description: "the account's id at WeChat, Alipay or the museum's SSO",
    },
    FieldSpec {
        field: PersonalField::PayerAccount,
        class: DataClass::Financial,
        grade: Grade::Linkable,
        protection: Protection::Plain,
        retention: Retention::UntilErased,
        locations: &[],
        identifiers: &[],
        description: "the payer's id at the payment provider, passed through and not kept",
    },
    FieldSpec {
        field: PersonalField::IpAddress,
        class: DataClass::Network,
        grade: Grade::Linkable,
        protection: Protection::MaskedOnly,
        retention: Retention::Days(SECURITY_RECORD_DAYS),
        locations: &["security_events.ip", "traffic_lists.value"],
        identifiers: &[],
        description: "a client's IP address (logs keep its network only)",
    },
    FieldSpec {
        field: PersonalField::DeviceId,
        class: DataClass::Device,
        grade: Grade::Linkable,
        protection: Protection::Plain,
        retention: Retention::Days(SECURITY_RECORD_DAYS),
        locations: &["traffic_lists.value"],
        identifiers: &[],
        description: "a device identifier traffic protection lists",
    },
    FieldSpec {
        field: PersonalField::DisplayName,
        class: DataClass::Account,
        grade: Grade::Personal,
        protection: Protection::Plain,
        retention: Retention::UntilErased,
        locations: &["accounts.display_name"],
        identifiers: &[],
        description: "the name an account shows (a masked phone unless the person chose one)",
    },
    FieldSpec {
        field: PersonalField::RequestText,
        class: DataClass::Identity,
        grade: Grade::Personal,
        protection: Protection::Sealed,
        retention: Retention::UntilErased,
        locations: &["data_requests.detail"],
        identifiers: &["request_text"],
        description: "a data request in the person's own words",
    },
];

impl PersonalField {
    /// The stable name (as serialised): `id_number`, `contact_phone`…
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VisitorName => "visitor_name",
            Self::IdNumber => "id_number",
            Self::AccountPhone => "account_phone",
            Self::ContactPhone => "contact_phone",
            Self::VisitorPhone => "visitor_phone",
            Self::FaceVerification => "face_verification",
            Self::ExternalAccount => "external_account",
            Self::PayerAccount => "payer_account",
            Self::IpAddress => "ip_address",
            Self::DeviceId => "device_id",
            Self::DisplayName => "display_name",
            Self::RequestText => "request_text",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ALL_FIELDS.into_iter().find(|f| f.as_str() == s)
    }
}

/// The catalogue's row for `field`.
pub fn spec(field: PersonalField) -> &'static FieldSpec {
    CATALOGUE
        .iter()
        .find(|s| s.field == field)
        .unwrap_or(&FALLBACK)
}

// Never returned: every field has a row (a unit test checks it).
const FALLBACK: FieldSpec = FieldSpec {
    field: PersonalField::DisplayName,
    class: DataClass::Account,
    grade: Grade::Sensitive,
    protection: Protection::Sealed,
    retention: Retention::UntilErased,
    locations: &[],
    identifiers: &[],
    description: "",
};

/// Every field, in catalogue order.
pub const ALL_FIELDS: [PersonalField; 12] = [
    PersonalField::VisitorName,
    PersonalField::IdNumber,
    PersonalField::AccountPhone,
    PersonalField::ContactPhone,
    PersonalField::VisitorPhone,
    PersonalField::FaceVerification,
    PersonalField::ExternalAccount,
    PersonalField::PayerAccount,
    PersonalField::IpAddress,
    PersonalField::DeviceId,
    PersonalField::DisplayName,
    PersonalField::RequestText,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_exactly_one_row_and_sensitive_ones_are_encrypted_or_indexed() {
        for field in ALL_FIELDS {
            assert_eq!(PersonalField::parse(field.as_str()), Some(field));
            assert_eq!(
                serde_json::to_value(field).unwrap(),
                serde_json::json!(field.as_str())
            );
            let rows = CATALOGUE.iter().filter(|s| s.field == field).count();
            assert_eq!(rows, 1, "{field:?}");
            let s = spec(field);
            assert_eq!(s.field, field);
            if s.grade == Grade::Sensitive {
                assert!(
                    matches!(
                        s.protection,
                        Protection::Sealed | Protection::SealedAndIndexed | Protection::IndexOnly
                    ),
                    "{field:?} is sensitive but kept {:?}",
                    s.protection
                );
            }
        }
        assert_eq!(CATALOGUE.len(), ALL_FIELDS.len());
    }
}
