//! Revealing one personal field of one order in clear, for staff who hold the permission: the
//! order's contact phone, or a ticket's visitor name or ID number. The service only opens the
//! value; the caller has already written the audit record (who, role, record, field, purpose,
//! when, from where) — a reveal that cannot be audited does not happen.

use gatehouse_domain::access::Permission;
use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_domain::personal::{PersonalField, Sensitive};
use gatehouse_domain::store::Account;
use gatehouse_domain::BookingError;

use crate::BookingService;

/// Which field of an order to reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevealField {
    ContactPhone,
    VisitorName(TicketId),
    IdNumber(TicketId),
}

impl RevealField {
    pub fn personal_field(&self) -> PersonalField {
        match self {
            RevealField::ContactPhone => PersonalField::ContactPhone,
            RevealField::VisitorName(_) => PersonalField::VisitorName,
            RevealField::IdNumber(_) => PersonalField::IdNumber,
        }
    }

    /// The audit record's subject (`order:…` or `ticket:…`) and field name.
    pub fn audit_subject(&self, order: &OrderId) -> (String, &'static str) {
        match self {
            RevealField::ContactPhone => (format!("order:{}", order.0), "contact_phone"),
            RevealField::VisitorName(t) => (format!("ticket:{}", t.0), "visitor_name"),
            RevealField::IdNumber(t) => (format!("ticket:{}", t.0), "id_number"),
        }
    }
}

impl BookingService {
    /// Whether `order` exists and `field` names something in it (checked before the audit
    /// record is written, so a mistyped ticket id is a 404, not an audited reveal).
    pub async fn revealable(
        &self,
        staff: &Account,
        order: &OrderId,
        field: &RevealField,
    ) -> Result<(), BookingError> {
        let found = self
            .owned_order(staff, order, Permission::PersonalDataReveal)
            .await?;
        match field {
            RevealField::ContactPhone => Ok(()),
            RevealField::VisitorName(t) | RevealField::IdNumber(t) => found
                .tickets
                .iter()
                .any(|x| x.id == *t)
                .then_some(())
                .ok_or(BookingError::NotFound { what: "ticket" }),
        }
    }

    /// The field in clear.
    pub async fn reveal(
        &self,
        staff: &Account,
        order: &OrderId,
        field: &RevealField,
    ) -> Result<Sensitive, BookingError> {
        let found = self
            .owned_order(staff, order, Permission::PersonalDataReveal)
            .await?;
        let (sealed, context) = match field {
            RevealField::ContactPhone => (
                &found.contact_phone,
                crate::orders::ctx("order", &found.id.0, "contact_phone"),
            ),
            RevealField::VisitorName(t) | RevealField::IdNumber(t) => {
                let ticket = found
                    .tickets
                    .iter()
                    .find(|x| x.id == *t)
                    .ok_or(BookingError::NotFound { what: "ticket" })?;
                match field {
                    RevealField::VisitorName(_) => (
                        &ticket.visitor_name,
                        crate::orders::ctx("ticket", &ticket.id.0, "visitor_name"),
                    ),
                    _ => (
                        &ticket.id_number,
                        crate::orders::ctx("ticket", &ticket.id.0, "id_number"),
                    ),
                }
            }
        };
        let clear = self.keys.open(&sealed.0, &context).map_err(|_| {
            tracing::error!(context, "a sealed value did not open for a reveal");
            BookingError::Unavailable
        })?;
        Ok(Sensitive::new(field.personal_field(), clear.as_str()))
    }
}
