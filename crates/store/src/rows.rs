//! Database rows and their conversion to domain types. Rows are plain structs that both
//! databases decode (`FromRow` is generic over the row type); domain types never touch SQL.

use jiff::civil::{Date, Time};
use jiff::Timestamp;
use sqlx::FromRow;

use gatehouse_domain::account::{
    AuditEvent, FrequentVisitor, SessionRecord, SignInMethod, StaffCredential,
};
use gatehouse_domain::catalogue::{
    Notice, Product, ProductId, ProductKind, ProductRules, ProductSpec, Slot, SlotId, TicketType,
    TicketTypeId,
};
use gatehouse_domain::face::{Consent, FaceState, FaceVerification};
use gatehouse_domain::identity::IdKind;
use gatehouse_domain::order::{
    AccountId, Order, OrderEvent, OrderId, OrderState, Ticket, TicketId, TicketState,
};
use gatehouse_domain::personal::{BlindIndex, Sealed};
use gatehouse_domain::store::{Account, StoreError};

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} is malformed"))
}

pub fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub fn from_ms(v: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(v).map_err(|_| corrupt("instant"))
}

pub fn date_text(d: Date) -> String {
    d.to_string()
}

pub fn parse_date(s: &str) -> Result<Date, StoreError> {
    s.parse().map_err(|_| corrupt("date"))
}

pub fn time_text(t: Time) -> String {
    t.strftime("%H:%M:%S").to_string()
}

fn parse_time(s: &str) -> Result<Time, StoreError> {
    s.parse().map_err(|_| corrupt("time"))
}

fn int<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| corrupt(what))
}

pub fn kind(s: &str) -> Result<ProductKind, StoreError> {
    ProductKind::parse(s).ok_or_else(|| corrupt("product kind"))
}

#[derive(FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub display_name: String,
    pub roles: String,
    pub locked_until: Option<i64>,
    pub created_at: i64,
}

/// An account found by its phone, and whether its phone is sealed yet.
#[derive(FromRow)]
pub struct PhoneAccountRow {
    #[sqlx(flatten)]
    pub account: AccountRow,
    pub phone_is_sealed: bool,
}

impl AccountRow {
    pub fn into_domain(self) -> Result<Account, StoreError> {
        Ok(Account {
            id: AccountId(self.id),
            display_name: self.display_name,
            roles: gatehouse_domain::access::Roles::parse(&self.roles)
                .map_err(|_| corrupt("roles"))?,
            locked_until: self.locked_until.map(from_ms).transpose()?,
            created_at: from_ms(self.created_at)?,
        })
    }
}

/// A session joined with its account (`session_cols!`).
#[derive(FromRow)]
pub struct SessionRow {
    pub session_id: i64,
    pub token_hash: Vec<u8>,
    pub family: Vec<u8>,
    pub method: String,
    pub expires_at: i64,
    pub refresh_expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    #[sqlx(flatten)]
    pub account: AccountRow,
}

impl SessionRow {
    pub fn into_domain(self) -> Result<([u8; 32], SessionRecord), StoreError> {
        let hash =
            <[u8; 32]>::try_from(self.token_hash.as_slice()).map_err(|_| corrupt("token hash"))?;
        Ok((
            hash,
            SessionRecord {
                id: self.session_id,
                account: self.account.into_domain()?,
                family: <[u8; 16]>::try_from(self.family.as_slice())
                    .map_err(|_| corrupt("session family"))?,
                method: SignInMethod::parse(&self.method)
                    .ok_or_else(|| corrupt("sign-in method"))?,
                expires_at: from_ms(self.expires_at)?,
                refresh_expires_at: self.refresh_expires_at.map(from_ms).transpose()?,
                revoked_at: self.revoked_at.map(from_ms).transpose()?,
            },
        ))
    }
}

#[derive(FromRow)]
pub struct VisitorRow {
    pub id: String,
    pub account_id: i64,
    pub name: Vec<u8>,
    pub id_kind: String,
    pub id_number: Vec<u8>,
    pub id_blind: Vec<u8>,
    pub phone: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl VisitorRow {
    pub fn into_domain(self) -> Result<FrequentVisitor, StoreError> {
        Ok(FrequentVisitor {
            id: self.id,
            account: AccountId(self.account_id),
            name: Sealed(self.name),
            id_kind: IdKind::parse(&self.id_kind).ok_or_else(|| corrupt("ID kind"))?,
            id_number: Sealed(self.id_number),
            id_blind: BlindIndex::from_slice(&self.id_blind)
                .ok_or_else(|| corrupt("blind index"))?,
            phone: self.phone.map(Sealed),
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

#[derive(FromRow)]
pub struct StaffCredentialRow {
    pub account_id: i64,
    pub username: String,
    pub password_hash: String,
    pub totp_secret: Vec<u8>,
    pub last_totp_step: i64,
}

impl StaffCredentialRow {
    pub fn into_domain(self) -> StaffCredential {
        StaffCredential {
            account: AccountId(self.account_id),
            username: self.username,
            password_hash: self.password_hash,
            totp_secret: Sealed(self.totp_secret),
            last_totp_step: self.last_totp_step,
        }
    }
}

#[derive(FromRow)]
pub struct ConsentRow {
    pub id: String,
    pub account_id: i64,
    pub purpose: String,
    pub text_version: String,
    pub collected: String,
    pub reason: String,
    pub session_id: i64,
    pub given_at: i64,
    pub withdrawn_at: Option<i64>,
}

impl ConsentRow {
    pub fn into_domain(self) -> Result<Consent, StoreError> {
        Ok(Consent {
            id: self.id,
            account: AccountId(self.account_id),
            purpose: self.purpose,
            text_version: self.text_version,
            collected: self.collected,
            reason: self.reason,
            session_id: self.session_id,
            given_at: from_ms(self.given_at)?,
            withdrawn_at: self.withdrawn_at.map(from_ms).transpose()?,
        })
    }
}

#[derive(FromRow)]
pub struct FaceRow {
    pub id: String,
    pub account_id: i64,
    pub consent_id: String,
    pub id_blind: Vec<u8>,
    pub provider: String,
    pub certify_id: String,
    pub callback_token_hash: Vec<u8>,
    pub state: String,
    pub detail: String,
    pub started_at: i64,
    pub completed_at: Option<i64>,
    pub valid_until: Option<i64>,
}

impl FaceRow {
    pub fn into_domain(self) -> Result<FaceVerification, StoreError> {
        Ok(FaceVerification {
            id: self.id,
            account: AccountId(self.account_id),
            consent_id: self.consent_id,
            id_blind: BlindIndex::from_slice(&self.id_blind)
                .ok_or_else(|| corrupt("blind index"))?,
            provider: self.provider,
            certify_id: self.certify_id,
            callback_token_hash: <[u8; 32]>::try_from(self.callback_token_hash.as_slice())
                .map_err(|_| corrupt("callback token hash"))?,
            state: FaceState::parse(&self.state).ok_or_else(|| corrupt("face state"))?,
            detail: self.detail,
            started_at: from_ms(self.started_at)?,
            completed_at: self.completed_at.map(from_ms).transpose()?,
            valid_until: self.valid_until.map(from_ms).transpose()?,
        })
    }
}

#[derive(FromRow)]
pub struct AuditRow {
    pub at: i64,
    pub actor: Option<i64>,
    pub action: String,
    pub detail: String,
}

impl AuditRow {
    pub fn into_domain(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            at: from_ms(self.at)?,
            actor: self.actor.map(AccountId),
            action: self.action,
            detail: self.detail,
        })
    }
}

#[derive(FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub introduction: String,
    pub theatre_type: Option<String>,
    pub film: Option<String>,
    pub featured: bool,
    pub open_days_before: i64,
    pub open_at: String,
    pub close_minutes_before_start: i64,
    pub id_limit_per_day: i64,
    pub max_visitors_per_order: i64,
    pub max_orders_per_account_per_day: i64,
    pub hold_minutes: i64,
    pub face_verification_required: bool,
    pub notice_version: i64,
}

impl ProductRow {
    pub fn into_domain(self) -> Result<Product, StoreError> {
        Ok(Product {
            id: ProductId(self.id),
            notice_version: int(self.notice_version, "notice version")?,
            spec: ProductSpec {
                kind: kind(&self.kind)?,
                name: self.name,
                introduction: self.introduction,
                theatre_type: self.theatre_type,
                film: self.film,
                featured: self.featured,
                rules: ProductRules {
                    open_days_before: int(self.open_days_before, "rule")?,
                    open_at: parse_time(&self.open_at)?,
                    close_minutes_before_start: int(self.close_minutes_before_start, "rule")?,
                    id_limit_per_day: int(self.id_limit_per_day, "rule")?,
                    max_visitors_per_order: int(self.max_visitors_per_order, "rule")?,
                    max_orders_per_account_per_day: int(
                        self.max_orders_per_account_per_day,
                        "rule",
                    )?,
                    hold_minutes: int(self.hold_minutes, "rule")?,
                    face_verification_required: self.face_verification_required,
                },
            },
        })
    }
}

#[derive(FromRow)]
pub struct NoticeRow {
    pub product_id: i64,
    pub version: i64,
    pub text: String,
    pub published_at: i64,
}

impl NoticeRow {
    pub fn into_domain(self) -> Result<Notice, StoreError> {
        Ok(Notice {
            product_id: ProductId(self.product_id),
            version: int(self.version, "notice version")?,
            text: self.text,
            published_at: from_ms(self.published_at)?,
        })
    }
}

#[derive(FromRow)]
pub struct TicketTypeRow {
    pub id: i64,
    pub product_id: i64,
    pub name: String,
    pub price_fen: i64,
}

impl TicketTypeRow {
    pub fn into_domain(self) -> Result<TicketType, StoreError> {
        Ok(TicketType {
            id: TicketTypeId(self.id),
            product_id: ProductId(self.product_id),
            name: self.name,
            price_fen: int(self.price_fen, "price")?,
        })
    }
}

#[derive(FromRow)]
pub struct SlotRow {
    pub id: i64,
    pub product_id: i64,
    pub date: String,
    pub start_time: String,
    pub end_time: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub capacity: i64,
    pub taken: i64,
}

impl SlotRow {
    pub fn into_domain(self) -> Result<Slot, StoreError> {
        Ok(Slot {
            id: SlotId(self.id),
            product_id: ProductId(self.product_id),
            date: parse_date(&self.date)?,
            start: parse_time(&self.start_time)?,
            end: parse_time(&self.end_time)?,
            starts_at: from_ms(self.starts_at)?,
            ends_at: from_ms(self.ends_at)?,
            capacity: int(self.capacity, "capacity")?,
            taken: int(self.taken, "taken")?,
        })
    }
}

#[derive(FromRow)]
pub struct SlotKindRow {
    #[sqlx(flatten)]
    pub slot: SlotRow,
    pub kind: String,
    pub group_capacity: i64,
    pub group_taken: i64,
}

#[derive(FromRow)]
pub struct OrderRow {
    pub id: String,
    pub account_id: i64,
    pub product_id: i64,
    pub kind: String,
    pub slot_id: i64,
    pub day: String,
    pub order_seq: i64,
    pub state: String,
    pub notice_version: i64,
    pub contact_phone: Vec<u8>,
    pub total_fen: i64,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub idempotency_key: Option<String>,
    pub request_digest: Option<String>,
    pub organisation_id: Option<i64>,
}

#[derive(FromRow)]
pub struct TicketRow {
    pub id: String,
    pub ticket_type_id: i64,
    pub price_fen: i64,
    pub visitor_name: Vec<u8>,
    pub id_kind: String,
    pub id_number: Vec<u8>,
    pub id_blind: Vec<u8>,
    pub claim_seq: i64,
    pub state: String,
    pub seat: Option<String>,
}

impl TicketRow {
    pub fn into_domain(self) -> Result<Ticket, StoreError> {
        Ok(Ticket {
            id: TicketId(self.id),
            ticket_type_id: TicketTypeId(self.ticket_type_id),
            price_fen: int(self.price_fen, "price")?,
            visitor_name: Sealed(self.visitor_name),
            id_kind: IdKind::parse(&self.id_kind).ok_or_else(|| corrupt("id kind"))?,
            id_number: Sealed(self.id_number),
            id_blind: BlindIndex::from_slice(&self.id_blind)
                .ok_or_else(|| corrupt("blind index"))?,
            claim_seq: int(self.claim_seq, "claim")?,
            state: TicketState::parse(&self.state).ok_or_else(|| corrupt("ticket state"))?,
            seat: self.seat,
        })
    }
}

#[derive(FromRow)]
pub struct EventRow {
    pub at: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: String,
}

fn order_state(s: &str) -> Result<OrderState, StoreError> {
    OrderState::parse(s).ok_or_else(|| corrupt("order state"))
}

impl EventRow {
    pub fn into_domain(self) -> Result<OrderEvent, StoreError> {
        Ok(OrderEvent {
            at: from_ms(self.at)?,
            from: self.from_state.as_deref().map(order_state).transpose()?,
            to: order_state(&self.to_state)?,
            note: self.note,
        })
    }
}

impl OrderRow {
    pub fn into_domain(
        self,
        tickets: Vec<TicketRow>,
        events: Vec<EventRow>,
    ) -> Result<Order, StoreError> {
        Ok(Order {
            id: OrderId(self.id),
            account_id: AccountId(self.account_id),
            product_id: ProductId(self.product_id),
            kind: kind(&self.kind)?,
            slot_id: SlotId(self.slot_id),
            day: parse_date(&self.day)?,
            order_seq: int(self.order_seq, "order claim")?,
            state: order_state(&self.state)?,
            notice_version: int(self.notice_version, "notice version")?,
            contact_phone: Sealed(self.contact_phone),
            total_fen: int(self.total_fen, "total")?,
            created_at: from_ms(self.created_at)?,
            expires_at: self.expires_at.map(from_ms).transpose()?,
            idempotency_key: self.idempotency_key,
            organisation: self
                .organisation_id
                .map(gatehouse_domain::group::OrganisationId),
            request_digest: self.request_digest,
            tickets: tickets
                .into_iter()
                .map(TicketRow::into_domain)
                .collect::<Result<_, _>>()?,
            history: events
                .into_iter()
                .map(EventRow::into_domain)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Maps a database error to the domain's storage error, naming constraint failures.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound("row"),
        sqlx::Error::Database(db) => {
            let msg = db.message().to_owned();
            let constraint = db.constraint().unwrap_or_default().to_owned();
            if db.is_unique_violation()
                && (msg.contains("idempotency_key") || constraint.contains("idempotency_key"))
            {
                StoreError::DuplicateIdempotencyKey
            } else if db.is_unique_violation() || db.is_check_violation() {
                StoreError::Conflict(if constraint.is_empty() {
                    msg
                } else {
                    constraint
                })
            } else if msg.starts_with("money ledger:") {
                // Raised by the money ledger's own triggers (append-only, refunds bounded).
                StoreError::Conflict(msg)
            } else if db.is_foreign_key_violation() {
                StoreError::InUse("record")
            } else {
                StoreError::Backend(msg)
            }
        }
        other => StoreError::Backend(other.to_string()),
    }
}
