//! No-show locks for staff: the locks in force, and lifting one with a reason (audited). The
//! sweep that places them runs in housekeeping through [`sweep_no_shows`].

use axum::extract::State;
use axum::Json;

use gatehouse_domain::access::Permission;
use gatehouse_domain::account::Account;
use gatehouse_domain::no_show::NoShowLock;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::wire_gates::{LiftLockRequest, NoShowLockResponse};
use crate::AppState;

/// No-show locks in force (accounts and ID numbers; ID numbers are never shown).
#[utoipa::path(get, path = "/api/v1/admin/no-show-locks", tag = "gates", security(("bearer" = ["accounts_lock"])),
    responses((status = 200, body = Vec<NoShowLockResponse>)))]
pub async fn list_locks(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::AccountsLock>,
) -> Result<Json<Vec<NoShowLockResponse>>, ApiError> {
    let locks = app.gates.active_no_show_locks().await?;
    Ok(Json(locks.into_iter().map(Into::into).collect()))
}

/// Lift a no-show lock, with a reason; the lift is audited and takes effect at once.
#[utoipa::path(post, path = "/api/v1/admin/no-show-locks/{id}/lift", tag = "gates", security(("bearer" = ["accounts_lock"])), params(("id" = i64, Path)),
    request_body = LiftLockRequest,
    responses((status = 200, body = NoShowLockResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lift_lock(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::AccountsLock>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<LiftLockRequest>,
) -> Result<Json<NoShowLockResponse>, ApiError> {
    Ok(Json(
        lift(&app, &staff.account, id, &req.reason).await?.into(),
    ))
}

/// Lifts no-show lock `id` for `staff` (who must hold `accounts_lock`, checked here too) with
/// a reason: effective at once on this node, and audited.
pub async fn lift(
    app: &AppState,
    staff: &Account,
    id: i64,
    reason: &str,
) -> Result<NoShowLock, ApiError> {
    if !staff.roles.allow(Permission::AccountsLock) {
        return Err(ApiError::Forbidden(Permission::AccountsLock.as_str()));
    }
    let lock = app.gates.lift_no_show_lock(id, reason).await?;
    app.identity.forget_account(lock.account);
    app.service.refresh_id_locks().await?;
    app.identity
        .audit(
            Some(staff.id),
            "no_show_lock_lifted",
            &format!("lock {id} of account {}: {}", lock.account.0, reason.trim()),
        )
        .await;
    Ok(lock)
}

/// Records the no-shows of slots whose entry closed and applies the no-show rule; new locks
/// take effect at once on this node (sessions forgotten, ID locks reloaded) and are audited.
pub async fn sweep_no_shows(app: &AppState) -> Result<gatehouse_gates::SweepOutcome, ApiError> {
    let outcome = app.gates.sweep_no_shows().await?;
    for account in &outcome.no_shows_of {
        crate::risk_checks::history(app, *account, gatehouse_risk::features::Happening::NoShow);
    }
    for lock in &outcome.locks {
        app.identity.forget_account(lock.account);
        app.identity
            .audit(
                None,
                "no_show_lock",
                &format!(
                    "lock {} of account {} until {}: {}",
                    lock.id, lock.account.0, lock.until, lock.reason
                ),
            )
            .await;
    }
    if !outcome.locks.is_empty() {
        app.service.refresh_id_locks().await?;
    }
    Ok(outcome)
}
