//! JSON types of the HTTP API: distinct from domain types and rows, so the API can stay stable
//! while they change. Requests reject unknown fields; personal data in responses is masked.

use gatehouse_booking::{OrderDetails, ProductDetails, SlotAvailability};
use gatehouse_domain::catalogue::{
    Notice, Product, ProductKind, ProductRules, ProductSpec, TicketType,
};
use gatehouse_domain::identity::IdKind;
use gatehouse_domain::order::{OrderEvent, OrderState, TicketState};
use gatehouse_domain::store::Account;
use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Entry,
    Hall,
    Activity,
    Cinema,
}

impl From<ProductKind> for Kind {
    fn from(k: ProductKind) -> Self {
        match k {
            ProductKind::Entry => Self::Entry,
            ProductKind::Hall => Self::Hall,
            ProductKind::Activity => Self::Activity,
            ProductKind::Cinema => Self::Cinema,
        }
    }
}

impl From<Kind> for ProductKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Entry => Self::Entry,
            Kind::Hall => Self::Hall,
            Kind::Activity => Self::Activity,
            Kind::Cinema => Self::Cinema,
        }
    }
}

/// The identity document a visitor books with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    ResidentId,
    Passport,
    HkMacauPermit,
    TaiwanPermit,
}

impl From<IdType> for IdKind {
    fn from(k: IdType) -> Self {
        match k {
            IdType::ResidentId => Self::ResidentId,
            IdType::Passport => Self::Passport,
            IdType::HkMacauPermit => Self::HkMacauPermit,
            IdType::TaiwanPermit => Self::TaiwanPermit,
        }
    }
}

impl From<IdKind> for IdType {
    fn from(k: IdKind) -> Self {
        match k {
            IdKind::ResidentId => Self::ResidentId,
            IdKind::Passport => Self::Passport,
            IdKind::HkMacauPermit => Self::HkMacauPermit,
            IdKind::TaiwanPermit => Self::TaiwanPermit,
        }
    }
}

fn hm(t: Time) -> String {
    t.strftime("%H:%M").to_string()
}

pub fn parse_date(field: &str, s: &str) -> Result<Date, ApiError> {
    s.parse()
        .map_err(|_| ApiError::field(field, "must be a date like 2026-11-25"))
}

pub fn parse_time(field: &str, s: &str) -> Result<Time, ApiError> {
    s.parse()
        .map_err(|_| ApiError::field(field, "must be a time like 09:00"))
}

/// Booking rules of a product.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesResponse {
    pub open_days_before: u16,
    /// Museum-local time of day booking opens, `HH:MM`.
    pub open_at: String,
    pub close_minutes_before_start: u32,
    pub id_limit_per_day: u16,
    pub max_visitors_per_order: u16,
    pub max_orders_per_account_per_day: u16,
    pub hold_minutes: u32,
    /// Booking needs a passed face verification of one of the order's visitors.
    pub face_verification_required: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    pub id: i64,
    pub kind: Kind,
    pub name: String,
    pub introduction: String,
    pub theatre_type: Option<String>,
    pub film: Option<String>,
    pub featured: bool,
    /// The visiting notice version a booking must accept (0: no notice yet).
    pub notice_version: u32,
    pub rules: RulesResponse,
}

impl From<Product> for ProductResponse {
    fn from(p: Product) -> Self {
        let r = p.spec.rules;
        Self {
            id: p.id.0,
            kind: p.spec.kind.into(),
            name: p.spec.name,
            introduction: p.spec.introduction,
            theatre_type: p.spec.theatre_type,
            film: p.spec.film,
            featured: p.spec.featured,
            notice_version: p.notice_version,
            rules: RulesResponse {
                open_days_before: r.open_days_before,
                open_at: hm(r.open_at),
                close_minutes_before_start: r.close_minutes_before_start,
                id_limit_per_day: r.id_limit_per_day,
                max_visitors_per_order: r.max_visitors_per_order,
                max_orders_per_account_per_day: r.max_orders_per_account_per_day,
                hold_minutes: r.hold_minutes,
                face_verification_required: r.face_verification_required,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketTypeResponse {
    pub id: i64,
    pub product_id: i64,
    pub name: String,
    /// Price in fen (1/100 yuan).
    pub price_fen: u32,
}

impl From<TicketType> for TicketTypeResponse {
    fn from(t: TicketType) -> Self {
        Self {
            id: t.id.0,
            product_id: t.product_id.0,
            name: t.name,
            price_fen: t.price_fen,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeResponse {
    pub version: u32,
    pub text: String,
    pub published_at: String,
}

impl From<Notice> for NoticeResponse {
    fn from(n: Notice) -> Self {
        Self {
            version: n.version,
            text: n.text,
            published_at: n.published_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductDetailsResponse {
    pub product: ProductResponse,
    pub ticket_types: Vec<TicketTypeResponse>,
    pub notice: Option<NoticeResponse>,
}

impl From<ProductDetails> for ProductDetailsResponse {
    fn from(d: ProductDetails) -> Self {
        Self {
            product: d.product.into(),
            ticket_types: d.ticket_types.into_iter().map(Into::into).collect(),
            notice: d.notice.map(Into::into),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductListResponse {
    pub products: Vec<ProductResponse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    /// Bookable now.
    Open,
    /// Booking opens at `opens_at`.
    NotYetOpen,
    /// Booking has closed.
    Closed,
    /// Open, but nothing left.
    SoldOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotResponse {
    pub id: i64,
    pub product_id: i64,
    pub date: String,
    pub start: String,
    pub end: String,
    pub starts_at: String,
    pub ends_at: String,
    pub capacity: u32,
    pub remaining: u32,
    pub status: SlotStatus,
    pub opens_at: String,
    pub closes_at: String,
}

impl SlotStatus {
    /// Where a slot stands at `now`: its booking window, then what is left.
    pub fn of(a: &SlotAvailability, now: jiff::Timestamp) -> Self {
        if now < a.window.opens_at {
            Self::NotYetOpen
        } else if now >= a.window.closes_at {
            Self::Closed
        } else if a.remaining == 0 {
            Self::SoldOut
        } else {
            Self::Open
        }
    }
}

impl SlotResponse {
    pub fn from_availability(a: SlotAvailability, now: jiff::Timestamp) -> Self {
        let status = SlotStatus::of(&a, now);
        let s = a.slot;
        Self {
            id: s.id.0,
            product_id: s.product_id.0,
            date: s.date.to_string(),
            start: hm(s.start),
            end: hm(s.end),
            starts_at: s.starts_at.to_string(),
            ends_at: s.ends_at.to_string(),
            capacity: s.capacity,
            remaining: a.remaining,
            status,
            opens_at: a.window.opens_at.to_string(),
            closes_at: a.window.closes_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotListResponse {
    pub slots: Vec<SlotResponse>,
}

/// A visitor named on a ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorRequest {
    /// The name as written on the document.
    pub name: String,
    pub id_type: IdType,
    /// Resident ID numbers are checked fully (region, birth date, check digit).
    pub id_number: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    pub ticket_type_id: i64,
    /// The visitor, written out; or give `visitor_id` instead.
    pub visitor: Option<VisitorRequest>,
    /// A person from the account's frequent-visitor list (`/api/v1/me/visitors`).
    pub visitor_id: Option<String>,
    /// For a seated showing: the seat (e.g. `F7`, see `/api/v1/slots/{id}/seats`). Give one for
    /// every ticket, or none for the best available seats side by side.
    pub seat: Option<String>,
}

/// Book one slot: one ticket per visitor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderRequest {
    pub slot_id: i64,
    /// The visiting notice version the visitor accepted; must be the product's current one.
    pub notice_version: u32,
    pub contact_phone: String,
    pub tickets: Vec<TicketRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub ticket_ids: Vec<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStateWire {
    PendingPayment,
    Confirmed,
    Cancelled,
    Expired,
    Refunded,
}

impl From<OrderState> for OrderStateWire {
    fn from(s: OrderState) -> Self {
        match s {
            OrderState::PendingPayment => Self::PendingPayment,
            OrderState::Confirmed => Self::Confirmed,
            OrderState::Cancelled => Self::Cancelled,
            OrderState::Expired => Self::Expired,
            OrderState::Refunded => Self::Refunded,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStateWire {
    Held,
    Valid,
    Refunded,
    Released,
}

impl From<TicketState> for TicketStateWire {
    fn from(s: TicketState) -> Self {
        match s {
            TicketState::Held => Self::Held,
            TicketState::Valid => Self::Valid,
            TicketState::Refunded => Self::Refunded,
            TicketState::Released => Self::Released,
        }
    }
}

/// A visitor as shown back: masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaskedVisitor {
    /// e.g. `张*`
    pub name: String,
    pub id_type: IdType,
    /// e.g. `410105********123X`
    pub id_number: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketResponse {
    pub id: String,
    pub ticket_type_id: i64,
    pub ticket_type_name: String,
    pub price_fen: u32,
    pub state: TicketStateWire,
    pub visitor: MaskedVisitor,
    /// The signed code the ticket's QR shows (valid tickets only). Draw it with
    /// `GET /api/v1/orders/{id}/qr?ticket=…&format=svg|png`, or with any QR library.
    pub code: Option<String>,
    /// The cinema seat, for a seated showing (e.g. `F7`).
    pub seat: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub at: String,
    pub from: Option<OrderStateWire>,
    pub to: OrderStateWire,
    pub note: String,
}

impl From<OrderEvent> for HistoryEntry {
    fn from(e: OrderEvent) -> Self {
        Self {
            at: e.at.to_string(),
            from: e.from.map(Into::into),
            to: e.to.into(),
            note: e.note,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotBrief {
    pub id: i64,
    pub date: String,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderResponse {
    pub id: String,
    pub state: OrderStateWire,
    pub kind: Kind,
    pub product_id: i64,
    pub product_name: String,
    pub slot: Option<SlotBrief>,
    pub notice_version: u32,
    /// Masked, e.g. `138****5678`.
    pub contact_phone: String,
    pub total_fen: u64,
    pub created_at: String,
    /// When an unpaid order's hold ends.
    pub expires_at: Option<String>,
    pub tickets: Vec<TicketResponse>,
    /// A group order's one code for all its members (`GET /api/v1/orders/{id}/qr` without a
    /// ticket draws it). Each member's own code works too; either admits a member once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_code: Option<String>,
    pub history: Vec<HistoryEntry>,
}

impl From<OrderDetails> for OrderResponse {
    fn from(d: OrderDetails) -> Self {
        let o = d.order;
        Self {
            id: o.id.0,
            state: o.state.into(),
            kind: o.kind.into(),
            product_id: o.product_id.0,
            product_name: d.product_name,
            slot: d.slot.map(|s| SlotBrief {
                id: s.id.0,
                date: s.date.to_string(),
                start: hm(s.start),
                end: hm(s.end),
            }),
            notice_version: o.notice_version,
            contact_phone: d.contact_phone,
            total_fen: o.total_fen,
            created_at: o.created_at.to_string(),
            expires_at: o.expires_at.map(|t| t.to_string()),
            tickets: d
                .tickets
                .into_iter()
                .map(|t| TicketResponse {
                    seat: t.ticket.seat.clone(),
                    id: t.ticket.id.0,
                    ticket_type_id: t.ticket.ticket_type_id.0,
                    ticket_type_name: t.ticket_type_name,
                    price_fen: t.ticket.price_fen,
                    state: t.ticket.state.into(),
                    visitor: MaskedVisitor {
                        name: t.visitor_name,
                        id_type: t.ticket.id_kind.into(),
                        id_number: t.id_number,
                    },
                    code: t.code,
                })
                .collect(),
            group_code: d.group_code,
            history: o.history.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderListResponse {
    pub orders: Vec<OrderResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountResponse {
    pub id: i64,
    pub display_name: String,
    /// `visitor`, or staff roles: `administrator`, `catalogue_operator`, `gate_staff`,
    /// `customer_support`, `security_analyst`, `auditor`.
    pub roles: Vec<String>,
    /// Booking is locked until this instant, if set and in the future.
    pub locked_until: Option<String>,
}

impl From<Account> for AccountResponse {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            display_name: a.display_name,
            roles: a.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            locked_until: a.locked_until.map(|t| t.to_string()),
        }
    }
}

// Staff requests.

/// Booking rules; omitted fields take their defaults.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesRequest {
    pub open_days_before: Option<u16>,
    /// `HH:MM`, museum time.
    pub open_at: Option<String>,
    pub close_minutes_before_start: Option<u32>,
    pub id_limit_per_day: Option<u16>,
    pub max_visitors_per_order: Option<u16>,
    pub max_orders_per_account_per_day: Option<u16>,
    pub hold_minutes: Option<u32>,
    pub face_verification_required: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    pub kind: Kind,
    pub name: String,
    #[serde(default)]
    pub introduction: String,
    pub theatre_type: Option<String>,
    pub film: Option<String>,
    #[serde(default)]
    pub featured: bool,
    pub rules: Option<RulesRequest>,
}

impl ProductRequest {
    pub fn into_spec(self) -> Result<ProductSpec, ApiError> {
        let d = ProductRules::default();
        let r = self.rules.unwrap_or_default();
        let rules = ProductRules {
            open_days_before: r.open_days_before.unwrap_or(d.open_days_before),
            open_at: match r.open_at {
                Some(t) => parse_time("rules.open_at", &t)?,
                None => d.open_at,
            },
            close_minutes_before_start: r
                .close_minutes_before_start
                .unwrap_or(d.close_minutes_before_start),
            id_limit_per_day: r.id_limit_per_day.unwrap_or(d.id_limit_per_day),
            max_visitors_per_order: r.max_visitors_per_order.unwrap_or(d.max_visitors_per_order),
            max_orders_per_account_per_day: r
                .max_orders_per_account_per_day
                .unwrap_or(d.max_orders_per_account_per_day),
            hold_minutes: r.hold_minutes.unwrap_or(d.hold_minutes),
            face_verification_required: r
                .face_verification_required
                .unwrap_or(d.face_verification_required),
        };
        Ok(ProductSpec {
            kind: self.kind.into(),
            name: self.name,
            introduction: self.introduction,
            theatre_type: self.theatre_type,
            film: self.film,
            featured: self.featured,
            rules,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeRequest {
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketTypeRequest {
    pub name: String,
    pub price_fen: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotRequest {
    /// `YYYY-MM-DD`
    pub date: String,
    /// `HH:MM`, museum time.
    pub start: String,
    /// `HH:MM`, museum time.
    pub end: String,
    pub capacity: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityRequest {
    pub capacity: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// RFC 3339 instant the lock ends; null lifts the lock.
    pub until: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotsQuery {
    /// First date, `YYYY-MM-DD` (default: today).
    pub from: Option<String>,
    /// Last date, `YYYY-MM-DD` (default: 7 days after `from`).
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    pub kind: Option<Kind>,
    pub limit: Option<u32>,
}
