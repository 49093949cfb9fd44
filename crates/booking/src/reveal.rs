//! Orders' personal data opened in clear, the two ways it may be: one field of one order for
//! staff who hold the permission (the order's contact phone, or a ticket's visitor name or ID
//! number), and every order of an account for that account's own data export. The service only
//! opens the values; the caller has already written the audit record (who, role, record,
//! field, purpose, when, from where) — a reveal or export that cannot be audited does not
//! happen: the value may be opened first, but it leaves the server only after the audit
//! record is durable.

use gatehouse_domain::access::Permission;
use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_domain::personal::{PersonalField, Sensitive};
use gatehouse_domain::sealed_column::SealedColumn;
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
                SealedColumn::OrderContactPhone.context(&found.id.0),
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
                        SealedColumn::TicketVisitorName.context(&ticket.id.0),
                    ),
                    _ => (
                        &ticket.id_number,
                        SealedColumn::TicketIdNumber.context(&ticket.id.0),
                    ),
                }
            }
        };
        if sealed.is_erased() {
            return Err(BookingError::NotFound {
                what: "personal data (erased after the visit)",
            });
        }
        let key = self.opening_key(found.account_id).await?;
        let clear = key.open(sealed, &context).map_err(|_| {
            tracing::error!(context, "a sealed value did not open for a reveal");
            BookingError::Unavailable
        })?;
        Ok(Sensitive::new(field.personal_field(), clear.as_str()))
    }
}

/// A ticket of an exported order, its visitor opened.
#[derive(Debug)]
pub struct ExportedTicket {
    pub id: String,
    pub visitor_name: Sensitive,
    pub id_kind: gatehouse_domain::identity::IdKind,
    pub id_number: Sensitive,
    pub state: &'static str,
    pub seat: Option<String>,
    pub price_fen: u32,
}

/// An order opened for the account that placed it (its data-subject export).
#[derive(Debug)]
pub struct ExportedOrder {
    pub id: String,
    pub product: String,
    pub day: jiff::civil::Date,
    pub state: &'static str,
    pub contact_phone: Sensitive,
    pub total_fen: u64,
    pub created_at: jiff::Timestamp,
    pub notice_version: u32,
    pub tickets: Vec<ExportedTicket>,
}

/// The most orders one export holds (an account places a few a day at most).
const EXPORT_MAX_ORDERS: u32 = 10_000;

impl BookingService {
    /// Every order `account` placed, opened for that account's own export.
    pub async fn export_orders(
        &self,
        account: gatehouse_domain::order::AccountId,
    ) -> Result<Vec<ExportedOrder>, BookingError> {
        let orders = self
            .store
            .list_orders(account, None, EXPORT_MAX_ORDERS)
            .await
            .map_err(|e| self.store_error(e))?;
        let key = self.opening_key(account).await?;
        let open =
            |field: PersonalField, sealed: &gatehouse_domain::personal::Sealed, context: String| {
                // Erased after the visit: an empty value.
                if sealed.is_erased() {
                    return Ok(Sensitive::new(field, ""));
                }
                key.open(sealed, &context)
                    .map(|clear| Sensitive::new(field, clear.as_str()))
                    .map_err(|_| {
                        tracing::error!(context, "a sealed value did not open for an export");
                        BookingError::Unavailable
                    })
            };
        let mut out = Vec::with_capacity(orders.len());
        for order in orders {
            let mut tickets = Vec::with_capacity(order.tickets.len());
            for t in &order.tickets {
                tickets.push(ExportedTicket {
                    visitor_name: open(
                        PersonalField::VisitorName,
                        &t.visitor_name,
                        SealedColumn::TicketVisitorName.context(&t.id.0),
                    )?,
                    id_number: open(
                        PersonalField::IdNumber,
                        &t.id_number,
                        SealedColumn::TicketIdNumber.context(&t.id.0),
                    )?,
                    id: t.id.0.clone(),
                    id_kind: t.id_kind,
                    state: t.state.as_str(),
                    seat: t.seat.clone(),
                    price_fen: t.price_fen,
                });
            }
            out.push(ExportedOrder {
                contact_phone: open(
                    PersonalField::ContactPhone,
                    &order.contact_phone,
                    SealedColumn::OrderContactPhone.context(&order.id.0),
                )?,
                product: self
                    .cached_product(order.product_id)
                    .map(|p| p.spec.name)
                    .unwrap_or_default(),
                id: order.id.0,
                day: order.day,
                state: order.state.as_str(),
                total_fen: order.total_fen,
                created_at: order.created_at,
                notice_version: order.notice_version,
                tickets,
            });
        }
        Ok(out)
    }
}
