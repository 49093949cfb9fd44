//! The one error type of the booking domain. Each variant has a stable machine code (see
//! [`BookingError::code`]); the HTTP adapter maps variants to statuses in one place.

use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error(
        "booking for this slot is not open now; it opens at {opens_at} and closes at {closes_at}"
    )]
    WindowClosed {
        opens_at: Timestamp,
        closes_at: Timestamp,
    },
    #[error("not enough tickets left for this slot ({remaining} left)")]
    SoldOut { remaining: u32 },
    #[error("visitor {visitor} already holds the most tickets allowed for this day ({limit})")]
    IdLimit { visitor: usize, limit: u16 },
    #[error("this account already has the most orders allowed for this day ({limit})")]
    OrderLimit { limit: u16 },
    #[error("seat {seat} is already taken")]
    SeatTaken { visitor: usize, seat: String },
    #[error("no {wanted} seats side by side are left; choose seats yourself")]
    NoAdjacentSeats { wanted: usize },
    #[error("an order takes at most {max} visitors")]
    TooManyVisitors { max: u16 },
    #[error("this account is locked from booking until {until}")]
    AccountLocked { until: Timestamp },
    #[error("visitor {visitor}'s ID number is locked from booking until {until} after repeated no-shows")]
    IdLocked { visitor: usize, until: Timestamp },
    #[error("the visiting notice has changed; accept version {current}")]
    NoticeOutdated { current: u32 },
    #[error("the order is {state} and cannot be {action}")]
    InvalidState {
        state: &'static str,
        action: &'static str,
    },
    #[error("the slot has started; its tickets can no longer be refunded")]
    RefundClosed,
    #[error("capacity cannot go below the {taken} tickets already held or sold")]
    CapacityBelowTaken { taken: u32 },
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyMismatch,
    #[error("{what} still has bookings and cannot be removed")]
    InUse { what: &'static str },
    #[error("this product needs a passed face verification of one of the order's visitors")]
    FaceVerificationRequired,
    #[error("not allowed")]
    Forbidden,
    #[error("storage is unavailable")]
    Unavailable,
}

impl BookingError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A stable code clients can branch on; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::NotFound { .. } => "not_found",
            Self::WindowClosed { .. } => "window_closed",
            Self::SoldOut { .. } => "sold_out",
            Self::IdLimit { .. } => "id_limit_reached",
            Self::OrderLimit { .. } => "order_limit_reached",
            Self::TooManyVisitors { .. } => "too_many_visitors",
            Self::AccountLocked { .. } => "account_locked",
            Self::IdLocked { .. } => "id_locked",
            Self::SeatTaken { .. } => "seat_taken",
            Self::NoAdjacentSeats { .. } => "no_adjacent_seats",
            Self::NoticeOutdated { .. } => "notice_outdated",
            Self::InvalidState { .. } => "invalid_state",
            Self::RefundClosed => "refund_closed",
            Self::CapacityBelowTaken { .. } => "capacity_below_taken",
            Self::IdempotencyMismatch => "idempotency_key_reused",
            Self::InUse { .. } => "in_use",
            Self::FaceVerificationRequired => "face_verification_required",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
        }
    }

    /// The request field the error concerns, when there is one.
    pub fn field(&self) -> Option<String> {
        match self {
            Self::Invalid { field, .. } => Some(field.clone()),
            Self::IdLimit { visitor, .. } | Self::IdLocked { visitor, .. } => {
                Some(format!("tickets[{visitor}].visitor.id_number"))
            }
            Self::SeatTaken { visitor, .. } => Some(format!("tickets[{visitor}].seat")),
            Self::TooManyVisitors { .. }
            | Self::FaceVerificationRequired
            | Self::NoAdjacentSeats { .. } => Some("tickets".into()),
            Self::NoticeOutdated { .. } => Some("notice_version".into()),
            Self::SoldOut { .. } | Self::WindowClosed { .. } => Some("slot_id".into()),
            Self::CapacityBelowTaken { .. } => Some("capacity".into()),
            _ => None,
        }
    }
}
