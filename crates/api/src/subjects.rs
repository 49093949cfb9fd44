//! The routes' side of the limits keyed by a person (traffic protection's `phone` and
//! `id_number` limits): the route reads the phone or the ID number from the body, normalises it
//! as the services do, and has the edge count it before any work is done. A value that does not
//! parse is left to the service, which refuses it with its own error.

use gatehouse_domain::identity::{IdDocument, Phone};
use gatehouse_edge::KeyKind;

use crate::error::ApiError;
use crate::AppState;

/// Counts a phone a `method` request to `path` names (at `field`).
pub async fn count_phone(
    app: &AppState,
    method: &str,
    path: &str,
    raw: &str,
    field: &str,
) -> Result<(), ApiError> {
    let Ok(phone) = Phone::parse(raw) else {
        return Ok(());
    };
    count(app, KeyKind::Phone, method, path, phone.as_str(), field).await
}

/// Counts an ID number a `method` request to `path` names (at `field`), whatever its kind.
pub async fn count_id_number(
    app: &AppState,
    method: &str,
    path: &str,
    raw: &str,
    field: &str,
) -> Result<(), ApiError> {
    let normalised = IdDocument::normalised_number(raw);
    if normalised.is_empty() {
        return Ok(());
    }
    count(app, KeyKind::IdNumber, method, path, &normalised, field).await
}

async fn count(
    app: &AppState,
    kind: KeyKind,
    method: &str,
    path: &str,
    normalised: &str,
    field: &str,
) -> Result<(), ApiError> {
    app.edge
        .count_subject(kind, method, path, normalised)
        .await
        .map_err(|limited| ApiError::SubjectLimited {
            field: field.to_owned(),
            limited,
        })
}
