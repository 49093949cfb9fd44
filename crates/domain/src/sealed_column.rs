//! The columns that hold sealed personal values, and the context each value is sealed to. A
//! value is bound to its record and field (`ticket/<id>/id_number`), so a ciphertext copied to
//! another row or column does not open. One table here gives every sealing site its context and
//! lets the legacy re-sealer walk every column (values sealed under the key file's old single
//! data key, before per-person keys, are sealed again under their owner's key).

use async_trait::async_trait;

use crate::data_key::DataSubject;
use crate::personal::Sealed;
use crate::store::StoreError;

/// A column that holds sealed personal values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedColumn {
    /// `accounts.phone_sealed`, bound to the phone's blind index (hex).
    AccountPhone,
    /// `staff_credentials.totp_secret`, bound to the username.
    StaffTotp,
    VisitorName,
    VisitorIdNumber,
    VisitorPhone,
    OrderContactPhone,
    TicketVisitorName,
    TicketIdNumber,
    /// `data_requests.detail`, sealed under the account's key from the start (never legacy).
    RequestDetail,
}

impl SealedColumn {
    /// Every column whose values may predate per-person keys.
    pub const LEGACY_CAPABLE: [Self; 8] = [
        Self::AccountPhone,
        Self::StaffTotp,
        Self::VisitorName,
        Self::VisitorIdNumber,
        Self::VisitorPhone,
        Self::OrderContactPhone,
        Self::TicketVisitorName,
        Self::TicketIdNumber,
    ];

    /// Where it lives (`table.column`), as the personal-data catalogue names it.
    pub fn location(self) -> &'static str {
        match self {
            Self::AccountPhone => "accounts.phone_sealed",
            Self::StaffTotp => "staff_credentials.totp_secret",
            Self::VisitorName => "frequent_visitors.name",
            Self::VisitorIdNumber => "frequent_visitors.id_number",
            Self::VisitorPhone => "frequent_visitors.phone",
            Self::OrderContactPhone => "orders.contact_phone",
            Self::TicketVisitorName => "tickets.visitor_name",
            Self::TicketIdNumber => "tickets.id_number",
            Self::RequestDetail => "data_requests.detail",
        }
    }

    fn record_and_field(self) -> (&'static str, &'static str) {
        match self {
            Self::AccountPhone => ("account", "phone"),
            Self::StaffTotp => ("staff", "totp_secret"),
            Self::VisitorName => ("visitor", "name"),
            Self::VisitorIdNumber => ("visitor", "id_number"),
            Self::VisitorPhone => ("visitor", "phone"),
            Self::OrderContactPhone => ("order", "contact_phone"),
            Self::TicketVisitorName => ("ticket", "visitor_name"),
            Self::TicketIdNumber => ("ticket", "id_number"),
            Self::RequestDetail => ("data_request", "detail"),
        }
    }

    /// The context a value of record `id` in this column is sealed to.
    pub fn context(self, id: &str) -> String {
        let (record, field) = self.record_and_field();
        format!("{record}/{id}/{field}")
    }
}

/// One value still sealed under the legacy key, with what sealing it again needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySealed {
    pub column: SealedColumn,
    /// The row's key in its table (account id, username, visitor/order/ticket id).
    pub row: String,
    /// The record id its context names (for an account's phone: its blind index in hex).
    pub context_id: String,
    pub owner: DataSubject,
    pub sealed: Sealed,
}

/// Finds and replaces values sealed under the legacy key (their first byte is the legacy format).
#[async_trait]
pub trait LegacySealStore: Send + Sync + 'static {
    /// Up to `limit` values of `column` whose first byte is `format`, in order of row after
    /// `after` (paging: a column is read once however many rows it has).
    async fn sealed_with_format(
        &self,
        column: SealedColumn,
        format: u8,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LegacySealed>, StoreError>;
    /// Replaces one value if it is still `old` (a concurrent erasure or correction wins);
    /// whether it was replaced.
    async fn replace_sealed(
        &self,
        column: SealedColumn,
        row: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_in_the_personal_data_catalogue() {
        let known: Vec<&str> = crate::personal_data::CATALOGUE
            .iter()
            .flat_map(|spec| spec.locations.iter().copied())
            .collect();
        // A staff member's TOTP secret is a credential, not personal data about them.
        for column in SealedColumn::LEGACY_CAPABLE
            .into_iter()
            .chain([SealedColumn::RequestDetail])
            .filter(|c| *c != SealedColumn::StaffTotp)
        {
            assert!(
                known.contains(&column.location()),
                "{} is not catalogued",
                column.location()
            );
        }
    }

    #[test]
    fn contexts_name_record_id_and_field() {
        assert_eq!(
            SealedColumn::TicketIdNumber.context("t-1"),
            "ticket/t-1/id_number"
        );
        assert_eq!(
            SealedColumn::AccountPhone.context("ab12"),
            "account/ab12/phone"
        );
        assert_eq!(
            SealedColumn::StaffTotp.context("alice"),
            "staff/alice/totp_secret"
        );
    }
}
