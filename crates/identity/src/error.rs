//! The identity service's one error type, each variant with a stable machine code; the HTTP
//! adapter maps variants to statuses in one place.

use gatehouse_domain::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the code is wrong ({attempts_left} attempts left)")]
    CodeWrong { attempts_left: u8 },
    #[error("no code is pending for this phone, or it expired or was used up; request a new one")]
    CodeExpired,
    #[error("the session is unknown, expired or signed out")]
    SessionInvalid,
    #[error("the user name, password or one-time code is wrong")]
    CredentialsInvalid,
    #[error("{provider} refused the sign-in: {message}")]
    ProviderRefused {
        provider: &'static str,
        message: String,
    },
    #[error("{provider} could not be reached or answered something that failed verification")]
    ProviderUnavailable { provider: &'static str },
    #[error("sign-in with {provider} is not configured on this server")]
    NotConfigured { provider: &'static str },
    #[error("record the visitor's consent to face verification first")]
    ConsentRequired,
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("the frequent-visitor list is full ({max} people)")]
    VisitorLimit { max: u32 },
    #[error("this ID number is already on the frequent-visitor list")]
    DuplicateVisitor,
    #[error("not allowed")]
    Forbidden,
    #[error("{message}")]
    StateConflict { message: String },
    #[error("storage is unavailable")]
    Unavailable,
}

impl IdentityError {
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
            Self::RateLimited { .. } => "rate_limited",
            Self::CodeWrong { .. } => "code_wrong",
            Self::CodeExpired => "code_expired",
            Self::SessionInvalid => "session_invalid",
            Self::CredentialsInvalid => "credentials_invalid",
            Self::ProviderRefused { .. } => "provider_refused",
            Self::ProviderUnavailable { .. } => "provider_unavailable",
            Self::NotConfigured { .. } => "provider_not_configured",
            Self::ConsentRequired => "consent_required",
            Self::NotFound { .. } => "not_found",
            Self::VisitorLimit { .. } => "visitor_limit_reached",
            Self::DuplicateVisitor => "duplicate_visitor",
            Self::Forbidden => "forbidden",
            Self::StateConflict { .. } => "state_conflict",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn field(&self) -> Option<String> {
        match self {
            Self::Invalid { field, .. } => Some(field.clone()),
            Self::CodeWrong { .. } | Self::CodeExpired => Some("code".into()),
            Self::DuplicateVisitor => Some("id_number".into()),
            _ => None,
        }
    }

    /// Logs a storage failure and hides its cause from the caller.
    pub(crate) fn store(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound { what },
            other => {
                tracing::error!(error = %other, "identity storage failed");
                Self::Unavailable
            }
        }
    }
}
