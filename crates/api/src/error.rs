//! The one mapping from errors to HTTP. Every error answers `{code, message, field}` (plus the
//! instants or counts that help the client, e.g. when a window opens); a 5xx never shows its
//! cause, which is logged with the request id instead.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_domain::check_in::ScanRefused;
use gatehouse_domain::BookingError;
use gatehouse_gates::GateError;
use gatehouse_identity::IdentityError;
use gatehouse_payments::PaymentError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `sold_out`, `window_closed`, `invalid_field`.
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
    /// The request field the error concerns (a JSON path such as `tickets[0].visitor.id_number`).
    pub field: Option<String>,
    /// For `window_closed`: when booking opens (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    /// For `window_closed`: when booking closes (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<String>,
    /// For `account_locked`: when the lock ends (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// For `sold_out`: how many tickets are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// For `already_used`: when and where the ticket was let in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] BookingError),
    #[error("sign in first: send Authorization: Bearer <token> or the session cookie")]
    Unauthorized,
    #[error(transparent)]
    Identity(#[from] gatehouse_identity::IdentityError),
    #[error("this needs the {0} permission, which none of your roles grants")]
    Forbidden(&'static str),
    #[error("send the session's CSRF token in X-CSRF-Token")]
    CsrfMismatch,
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("JSON nests deeper than {0} levels")]
    TooDeep(usize),
    #[error("the body is larger than the limit")]
    PayloadTooLarge,
    #[error("send Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    BadField { field: String, message: String },
    #[error("no such route")]
    NoRoute,
    /// The request is valid but the record's state does not allow it now.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A booking during a protected release without a valid admission from the waiting room.
    #[error("{message}")]
    Admission { code: &'static str, message: String },
    #[error("request headers are too large")]
    HeadersTooLarge,
    #[error("internal error")]
    Internal,
    #[error(transparent)]
    Payment(gatehouse_payments::PaymentError),
    /// A service the request needs (the waiting room's shared log) did not answer; nothing
    /// changed, try again.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    Group(#[from] gatehouse_groups::GroupError),
    #[error(transparent)]
    Traffic(#[from] gatehouse_edge::ListError),
    /// The signed-in account is on a block list (caught here when the edge could not yet tell
    /// whose session it was).
    #[error("requests from this account are blocked; if this is a mistake, contact the museum quoting reference {0}")]
    Blocked(i64),
    /// A phone or an ID number the request names is over a traffic-protection limit.
    #[error("{limited}")]
    SubjectLimited {
        field: String,
        limited: gatehouse_edge::SubjectLimited,
    },
    #[error(transparent)]
    Risk(#[from] gatehouse_risk_service::RiskError),
    /// Risk control answered `reject` (or `challenge`, until passed) for what the caller is
    /// doing: nothing was done. The message says how to contest it.
    #[error("{message}")]
    RiskRefused { code: &'static str, message: String },
    /// Risk control asks for a challenge first: the edge's challenge, answered as is.
    #[error("solve the challenge, then send the request again with its pass")]
    RiskChallenge(Box<Response>),
    /// A ticket the gate must not let in, with what the gate shows.
    #[error("{message}")]
    ScanRefused {
        refused: ScanRefused,
        message: String,
    },
}

impl ApiError {
    /// A gate error, with refusals described on the museum's clock.
    pub fn gate(app: &crate::AppState, e: GateError) -> Self {
        match e {
            GateError::Refused(refused) => ApiError::ScanRefused {
                message: app.gates.describe(&refused),
                refused,
            },
            other => ApiError::Gate(other),
        }
    }
}

fn gate_status(e: &GateError) -> (StatusCode, &'static str, Option<String>) {
    use gatehouse_tickets::TokenRefused;
    let code = Some("code".to_owned());
    match e {
        GateError::Code(TokenRefused::Malformed(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_code_malformed",
            code,
        ),
        GateError::Code(TokenRefused::UnknownKey(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_code_unknown_key",
            code,
        ),
        GateError::Code(TokenRefused::BadSignature) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "ticket_code_forged", code)
        }
        GateError::Refused(r) => (StatusCode::CONFLICT, r.code(), None),
        GateError::DeviceUnknown => (StatusCode::UNAUTHORIZED, "device_unknown", None),
        GateError::Invalid { field, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some(field.clone()),
        ),
        GateError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
        GateError::Conflict(_) => (StatusCode::CONFLICT, "invalid_state", None),
        GateError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        match e {
            // Booking's own errors keep their one mapping.
            PaymentError::Booking(b) => ApiError::Domain(b),
            other => ApiError::Payment(other),
        }
    }
}

fn payment_status(e: &PaymentError) -> (StatusCode, &'static str, Option<String>) {
    use gatehouse_domain::payment_gateway::{GatewayError, NotificationRefused};
    match e {
        PaymentError::Booking(b) => (status_of(b), b.code(), b.field()),
        PaymentError::NothingToPay => (StatusCode::CONFLICT, "nothing_to_pay", None),
        PaymentError::ProviderNotConfigured { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_not_configured",
            Some("channel".into()),
        ),
        PaymentError::Provider(GatewayError::Refused { .. }) => {
            (StatusCode::BAD_GATEWAY, "provider_refused", None)
        }
        PaymentError::Provider(GatewayError::Unavailable { .. }) => {
            (StatusCode::BAD_GATEWAY, "provider_unavailable", None)
        }
        PaymentError::Notification(NotificationRefused::Forged) => {
            (StatusCode::UNAUTHORIZED, "notification_forged", None)
        }
        PaymentError::Notification(NotificationRefused::Stale) => {
            (StatusCode::BAD_REQUEST, "notification_stale", None)
        }
        PaymentError::Notification(NotificationRefused::Malformed(_)) => {
            (StatusCode::BAD_REQUEST, "notification_malformed", None)
        }
        PaymentError::Mismatch(_) => (StatusCode::BAD_REQUEST, "payment_mismatch", None),
        PaymentError::Invalid { field, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some(field.clone()),
        ),
    }
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadField {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn status_of(e: &BookingError) -> StatusCode {
    use BookingError::*;
    match e {
        Invalid { .. } | TooManyVisitors { .. } | IdempotencyMismatch => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        NotFound { .. } => StatusCode::NOT_FOUND,
        WindowClosed { .. }
        | SoldOut { .. }
        | IdLimit { .. }
        | OrderLimit { .. }
        | NoticeOutdated { .. }
        | InvalidState { .. }
        | SeatTaken { .. }
        | NoAdjacentSeats { .. }
        | RefundClosed
        | CapacityBelowTaken { .. }
        | InUse { .. } => StatusCode::CONFLICT,
        AccountLocked { .. } | IdLocked { .. } | Forbidden | FaceVerificationRequired => {
            StatusCode::FORBIDDEN
        }
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn identity_status(e: &IdentityError) -> StatusCode {
    use IdentityError::*;
    match e {
        Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        CodeWrong { .. }
        | CodeExpired
        | SessionInvalid
        | CredentialsInvalid
        | ProviderRefused { .. } => StatusCode::UNAUTHORIZED,
        ProviderUnavailable { .. } => StatusCode::BAD_GATEWAY,
        ConsentRequired | Forbidden => StatusCode::FORBIDDEN,
        NotFound { .. } | NotConfigured { .. } => StatusCode::NOT_FOUND,
        VisitorLimit { .. } | DuplicateVisitor | StateConflict { .. } => StatusCode::CONFLICT,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// What an error answers: its status, its body, and how long to wait before retrying (if the
/// caller was rate limited). The API sends it as JSON; the web pages show it next to the field.
pub struct Answer {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::RiskChallenge(challenge) = self {
            return *challenge;
        }
        let Answer {
            status,
            body,
            retry_after,
        } = self.answer();
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl ApiError {
    pub fn answer(self) -> Answer {
        let mut body = ErrorBody {
            code: "",
            message: self.to_string(),
            field: None,
            opens_at: None,
            closes_at: None,
            until: None,
            remaining: None,
            used_at: None,
            gate: None,
        };
        let mut retry_after = None;
        let status = match &self {
            ApiError::Domain(e) => {
                body.code = e.code();
                body.field = e.field();
                match e {
                    BookingError::WindowClosed {
                        opens_at,
                        closes_at,
                    } => {
                        body.opens_at = Some(opens_at.to_string());
                        body.closes_at = Some(closes_at.to_string());
                    }
                    BookingError::AccountLocked { until }
                    | BookingError::IdLocked { until, .. } => body.until = Some(until.to_string()),
                    BookingError::SoldOut { remaining } => body.remaining = Some(*remaining),
                    _ => {}
                }
                status_of(e)
            }
            ApiError::Unauthorized => {
                body.code = "unauthorized";
                StatusCode::UNAUTHORIZED
            }
            ApiError::Identity(e) => {
                body.code = e.code();
                body.field = e.field();
                if let IdentityError::RateLimited { retry_after_secs } = e {
                    retry_after = Some(*retry_after_secs);
                }
                identity_status(e)
            }
            ApiError::Forbidden(_) => {
                body.code = "forbidden";
                StatusCode::FORBIDDEN
            }
            ApiError::CsrfMismatch => {
                body.code = "csrf_mismatch";
                StatusCode::FORBIDDEN
            }
            ApiError::MalformedJson(_) => {
                body.code = "malformed_json";
                StatusCode::BAD_REQUEST
            }
            ApiError::TooDeep(_) => {
                body.code = "json_too_deep";
                StatusCode::BAD_REQUEST
            }
            ApiError::PayloadTooLarge => {
                body.code = "payload_too_large";
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType => {
                body.code = "unsupported_media_type";
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::BadField { field, .. } => {
                body.code = "invalid_field";
                body.field = Some(field.clone());
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::NoRoute => {
                body.code = "not_found";
                StatusCode::NOT_FOUND
            }
            ApiError::Conflict { code, .. } => {
                body.code = code;
                StatusCode::CONFLICT
            }
            ApiError::Admission { code, .. } => {
                body.code = code;
                body.field = Some(crate::routes_releases::ADMISSION_HEADER.to_owned());
                StatusCode::FORBIDDEN
            }
            ApiError::HeadersTooLarge => {
                body.code = "headers_too_large";
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ApiError::Internal => {
                body.code = "internal";
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Unavailable(_) => {
                body.code = "unavailable";
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Payment(e) => {
                let (status, code, field) = payment_status(e);
                body.code = code;
                body.field = field;
                status
            }
            ApiError::Gate(e) => {
                let (status, code, field) = gate_status(e);
                body.code = code;
                body.field = field;
                status
            }
            ApiError::Group(e) => {
                use gatehouse_groups::GroupError;
                let (status, code, field) = match e {
                    GroupError::Invalid { field, .. } => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_field",
                        Some(field.clone()),
                    ),
                    GroupError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
                    GroupError::Conflict(_) => (StatusCode::CONFLICT, "invalid_state", None),
                    GroupError::Unavailable => {
                        (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None)
                    }
                };
                body.code = code;
                body.field = field;
                status
            }
            ApiError::Traffic(e) => {
                use gatehouse_edge::ListError;
                let (status, code, field) = match e {
                    ListError::Invalid(i) => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_field",
                        Some(i.field.to_owned()),
                    ),
                    ListError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
                    ListError::NoStore => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
                    ListError::Store(_) => {
                        body.message = "internal error".into();
                        (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
                    }
                };
                body.code = code;
                body.field = field;
                status
            }
            ApiError::Risk(e) => {
                use gatehouse_risk_service::RiskError;
                let (status, code, field) = match e {
                    RiskError::Invalid { field, .. } => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_field",
                        Some(field.clone()),
                    ),
                    RiskError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
                    RiskError::Conflict(_) => (StatusCode::CONFLICT, "risk_policy_conflict", None),
                    RiskError::Store(s) => {
                        tracing::error!(error = %s, "risk control's storage failed");
                        body.message =
                            "risk control is unavailable; nothing changed, try again".into();
                        (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None)
                    }
                };
                body.code = code;
                body.field = field;
                status
            }
            ApiError::RiskChallenge(_) => {
                body.code = "challenge_required";
                StatusCode::FORBIDDEN
            }
            ApiError::RiskRefused { code, .. } => {
                body.code = code;
                StatusCode::FORBIDDEN
            }
            ApiError::Blocked(_) => {
                body.code = "blocked";
                StatusCode::FORBIDDEN
            }
            ApiError::SubjectLimited { field, limited } => {
                body.code = "rate_limited";
                body.field = Some(field.clone());
                retry_after = Some(limited.retry_after_secs);
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::ScanRefused { refused, .. } => {
                body.code = refused.code();
                match refused {
                    ScanRefused::AlreadyUsed(entry) => {
                        body.used_at = Some(entry.at.to_string());
                        body.gate = Some(entry.gate.clone());
                    }
                    ScanRefused::TooEarly { opens_at } => {
                        body.opens_at = Some(opens_at.to_string())
                    }
                    ScanRefused::TooLate { closed_at } => {
                        body.closes_at = Some(closed_at.to_string())
                    }
                    _ => {}
                }
                StatusCode::CONFLICT
            }
        };
        Answer {
            status,
            body,
            retry_after,
        }
    }
}
