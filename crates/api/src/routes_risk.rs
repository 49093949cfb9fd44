//! Risk control over HTTP: the assessment endpoint (the metered "risk identification" product:
//! a scenario, who acts and what they are about to do → a level, a score, the reasons, the
//! policy version), and for staff the recorded decisions, policy versions (load, choose live
//! and shadow: every node follows within its refresh), replays and usage against the quota.
//! Loading and choosing policies are audited.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::identity::{IdDocument, Phone};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::risk::{DecisionFilter, RiskDecision, StoredRiskPolicy};
use gatehouse_risk::engine::Assessment;
use gatehouse_risk::features::{Behaviour, Happening};
use gatehouse_risk::policy::{Level, Scenario};
use gatehouse_risk_service::{Asked, ReplayReport, Who};
use serde_json::Value;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::wire_risk::{
    AssessRequest, AssessResponse, ChoosePoliciesRequest, DecisionQuery, DecisionResponse,
    DecisionsResponse, LoadPolicyRequest, PoliciesResponse, PolicyVersionResponse,
    ReplayChangeResponse, ReplayRequest, ReplayResponse, RiskBecause, RiskEvent, RiskReason,
    RiskUsageResponse,
};
use crate::AppState;

const MAX_IDS: usize = 20;
const MAX_OPAQUE: usize = 128;
const MAX_TICKETS: u32 = 50;

fn scenario(raw: &str, field: &str) -> Result<Scenario, ApiError> {
    Scenario::parse(raw).ok_or_else(|| {
        ApiError::field(
            field,
            "one of fraud, marketing_abuse, scalping, order_brushing, bad_debt",
        )
    })
}

fn instant(raw: &str, field: &str) -> Result<jiff::Timestamp, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field(field, "an RFC 3339 instant, e.g. 2026-12-08T09:00:00+08:00"))
}

fn opaque<'a>(raw: &'a Option<String>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match raw.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(ApiError::field(field, "must not be empty")),
        Some(v) if v.chars().count() > MAX_OPAQUE => {
            Err(ApiError::field(field, "at most 128 characters"))
        }
        Some(v) => Ok(Some(v)),
    }
}

fn happening(e: &RiskEvent) -> Result<Happening, ApiError> {
    let what = match e.kind.as_str() {
        "sign_in" => Happening::SignIn,
        "join_queue" => Happening::JoinQueue,
        "book" => match e.tickets {
            Some(tickets @ 1..=MAX_TICKETS) => return Ok(Happening::Book { tickets }),
            _ => {
                return Err(ApiError::field(
                    "event.tickets",
                    "a booking has 1 to 50 tickets",
                ))
            }
        },
        "pay" => Happening::Pay,
        "refund" => Happening::Refund { soon: false },
        "check_in" => Happening::CheckIn,
        _ => {
            return Err(ApiError::field(
                "event.kind",
                "one of sign_in, join_queue, book, pay, refund, check_in",
            ))
        }
    };
    if e.tickets.is_some() {
        return Err(ApiError::field(
            "event.tickets",
            "only a book event has tickets",
        ));
    }
    Ok(what)
}

/// The answer as every caller sees it.
pub fn assess_response(a: &Assessment) -> AssessResponse {
    AssessResponse {
        scenario: a.scenario.as_str().into(),
        level: a.level.as_str().into(),
        score: a.score,
        reasons: a
            .reasons
            .iter()
            .map(|r| RiskReason {
                rule: r.rule.clone(),
                weight: r.weight,
                because: r
                    .because
                    .iter()
                    .map(|b| RiskBecause {
                        feature: b.feature.into(),
                        value: b.value.is_finite().then_some(b.value),
                        compare: b.compare.as_str().into(),
                        threshold: b.threshold,
                    })
                    .collect(),
            })
            .collect(),
        policy_version: a.policy_version,
    }
}

/// Assess a scenario for who acts and what they are about to do. Every answer is stored with
/// its reasons and counted for the "risk identification" product before it is given.
#[utoipa::path(post, path = "/api/v1/risk/assess", tag = "risk", security(("bearer" = ["risk_assess"])),
    request_body = AssessRequest,
    responses((status = 200, body = AssessResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the decision could not be stored: nothing was answered or counted")))]
pub async fn assess(
    State(app): State<AppState>,
    _: Allowed<perm::RiskAssess>,
    ApiJson(req): ApiJson<AssessRequest>,
) -> Result<Json<AssessResponse>, ApiError> {
    let scenario = scenario(&req.scenario, "scenario")?;
    let what = happening(&req.event)?;
    let s = &req.subject;
    let phone = s
        .phone
        .as_deref()
        .map(|raw| Phone::parse(raw).map_err(|m| ApiError::field("subject.phone", m)))
        .transpose()?;
    if s.id_numbers.len() > MAX_IDS {
        return Err(ApiError::field(
            "subject.id_numbers",
            "at most 20 ID numbers",
        ));
    }
    let ids = s
        .id_numbers
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let n = IdDocument::normalised_number(raw);
            if n.is_empty() || n.len() > 32 || !n.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Err(ApiError::field(
                    format!("subject.id_numbers[{i}]"),
                    "an ID number: 1 to 32 letters and digits",
                ))
            } else {
                Ok(n)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ip =
        s.ip.as_deref()
            .map(|raw| {
                raw.trim()
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| ApiError::field("subject.ip", "an IPv4 or IPv6 address"))
            })
            .transpose()?;
    let device = opaque(&s.device_id, "subject.device_id")?.map(crate::risk_checks::device_key);
    let payment_account = opaque(&s.payment_account, "subject.payment_account")?;
    let account = s.account_id.map(AccountId);
    if account.is_none()
        && phone.is_none()
        && ids.is_empty()
        && device.is_none()
        && ip.is_none()
        && payment_account.is_none()
    {
        return Err(ApiError::field("subject", "name at least one of who acts"));
    }
    let e = &req.event;
    let behaviour = Behaviour {
        ms_page_to_submit: e.ms_page_to_submit,
        ms_admission_to_submit: e.ms_admission_to_submit,
        skipped_pages: e.skipped_pages,
        client_inconsistent: e.client_inconsistent,
        account_created_at: e
            .account_created_at
            .as_deref()
            .map(|raw| instant(raw, "event.account_created_at").map(gatehouse_risk::millis))
            .transpose()?,
    };
    let who = app.risk.subject(&Who {
        account,
        phone: phone.as_ref().map(Phone::as_str),
        id_numbers: ids.iter().map(String::as_str).collect(),
        device: device.as_deref(),
        ip,
        payment_account,
    });
    let a = app
        .risk
        .assess(Asked {
            scenario,
            what,
            behaviour,
            who,
            account,
            source: "api",
        })
        .await?;
    Ok(Json(assess_response(&a)))
}

fn decision_response(d: RiskDecision) -> DecisionResponse {
    let json = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
    let r = d.decision;
    DecisionResponse {
        id: d.id,
        at: r.at.to_string(),
        scenario: r.scenario,
        event: r.event,
        source: r.source,
        account_id: r.account.map(|a| a.0),
        level: r.level,
        score: r.score,
        policy_version: r.policy_version,
        reasons: json(&r.reasons),
        shadow: r.shadow.as_deref().map(json),
        features: json(&r.features),
    }
}

/// Recorded decisions, newest first, with their reasons, the shadow's answer and the features
/// each was made on.
#[utoipa::path(get, path = "/api/v1/admin/risk/decisions", tag = "risk", security(("bearer" = ["risk_manage"])),
    params(DecisionQuery),
    responses((status = 200, body = DecisionsResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decisions(
    State(app): State<AppState>,
    _: Allowed<perm::RiskManage>,
    ApiQuery(q): ApiQuery<DecisionQuery>,
) -> Result<Json<DecisionsResponse>, ApiError> {
    if let Some(s) = &q.scenario {
        scenario(s, "scenario")?;
    }
    if let Some(l) = &q.level {
        Level::parse(l)
            .ok_or_else(|| ApiError::field("level", "one of pass, challenge, review, reject"))?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::field("limit", "1 to 1,000"));
    }
    let found = app
        .risk
        .decisions(&DecisionFilter {
            account: q.account_id.map(AccountId),
            scenario: q.scenario,
            level: q.level,
            before: q.before,
            since: None,
            limit,
        })
        .await?;
    Ok(Json(DecisionsResponse {
        decisions: found.into_iter().map(decision_response).collect(),
    }))
}

fn version_response(p: StoredRiskPolicy) -> PolicyVersionResponse {
    PolicyVersionResponse {
        version: p.version,
        text: p.text,
        loaded_by: (p.loaded_by.0 != 0).then_some(p.loaded_by.0),
        loaded_at: p.loaded_at.to_string(),
    }
}

async fn listing(app: &AppState) -> Result<PoliciesResponse, ApiError> {
    let l = app.risk.policies().await?;
    Ok(PoliciesResponse {
        live: l.live,
        shadow: l.shadow,
        versions: l.versions.into_iter().map(version_response).collect(),
    })
}

/// Every policy version (the shipped version 1 last), and which run live and in shadow.
#[utoipa::path(get, path = "/api/v1/admin/risk/policies", tag = "risk", security(("bearer" = ["risk_manage"])),
    responses((status = 200, body = PoliciesResponse), (status = 403, body = ErrorBody)))]
pub async fn policies(
    State(app): State<AppState>,
    _: Allowed<perm::RiskManage>,
) -> Result<Json<PoliciesResponse>, ApiError> {
    Ok(Json(listing(&app).await?))
}

/// Keep a new policy version (checked: every mistake answers 422 naming its field, e.g.
/// `policy.scenario[0].rule[2].when[0]`). It runs only once chosen.
#[utoipa::path(post, path = "/api/v1/admin/risk/policies", tag = "risk", security(("bearer" = ["risk_manage"])),
    request_body = LoadPolicyRequest,
    responses((status = 201, body = PolicyVersionResponse), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn load_policy(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::RiskManage>,
    ApiJson(req): ApiJson<LoadPolicyRequest>,
) -> Result<(StatusCode, Json<PolicyVersionResponse>), ApiError> {
    let stored = app.risk.load_policy(&req.text, staff.account.id).await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "risk_policy_loaded",
            &format!("version {}", stored.version),
        )
        .await;
    Ok((StatusCode::CREATED, Json(version_response(stored))))
}

/// Choose the live version (never below the running one) and the one in shadow (`null`: none).
/// In force here at once and on every node at its next refresh (2 s).
#[utoipa::path(put, path = "/api/v1/admin/risk/policies/running", tag = "risk", security(("bearer" = ["risk_manage"])),
    request_body = ChoosePoliciesRequest,
    responses((status = 200, body = PoliciesResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "risk_policy_conflict: the live version would go back"), (status = 422, body = ErrorBody)))]
pub async fn choose_policies(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::RiskManage>,
    ApiJson(req): ApiJson<ChoosePoliciesRequest>,
) -> Result<Json<PoliciesResponse>, ApiError> {
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::field("reason", "say why, in 1 to 500 characters"));
    }
    app.risk
        .choose_policies(req.live, req.shadow, staff.account.id)
        .await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "risk_policies_chosen",
            &format!("live {}, shadow {:?}: {reason}", req.live, req.shadow),
        )
        .await;
    Ok(Json(listing(&app).await?))
}

fn per_level(counts: &BTreeMap<Level, usize>) -> Value {
    Value::Object(
        Level::ALL
            .iter()
            .map(|l| {
                (
                    l.as_str().to_owned(),
                    counts.get(l).copied().unwrap_or(0).into(),
                )
            })
            .collect(),
    )
}

fn replay_response(r: ReplayReport) -> ReplayResponse {
    ReplayResponse {
        version: r.version,
        decisions: r.decisions,
        recorded: per_level(&r.recorded),
        replayed: per_level(&r.replayed),
        changed: r.changed,
        changes: r
            .changes
            .into_iter()
            .map(|c| ReplayChangeResponse {
                decision_id: c.decision,
                scenario: c.scenario.as_str().into(),
                account_id: c.account.map(|a| a.0),
                recorded: c.recorded.as_str().into(),
                replayed: c.replayed.as_str().into(),
                replayed_score: c.replayed_score,
                rules: c.rules,
            })
            .collect(),
    }
}

/// What a version would have answered over recorded decisions, judged on the features each
/// was made on. Changes nothing.
#[utoipa::path(post, path = "/api/v1/admin/risk/replay", tag = "risk", security(("bearer" = ["risk_manage"])),
    request_body = ReplayRequest,
    responses((status = 200, body = ReplayResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn replay(
    State(app): State<AppState>,
    _: Allowed<perm::RiskManage>,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> Result<Json<ReplayResponse>, ApiError> {
    if let Some(s) = &req.scenario {
        scenario(s, "scenario")?;
    }
    let limit = req.limit.unwrap_or(gatehouse_risk_service::REPLAY_LIMIT);
    if !(1..=gatehouse_risk_service::REPLAY_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "1 to 50,000"));
    }
    let filter = DecisionFilter {
        scenario: req.scenario,
        since: req
            .since
            .as_deref()
            .map(|s| instant(s, "since"))
            .transpose()?,
        limit,
        ..DecisionFilter::default()
    };
    Ok(Json(replay_response(
        app.risk.replay(req.version, &filter).await?,
    )))
}

/// Assessments answered on every node (this node's meter saved first), against the quota.
#[utoipa::path(get, path = "/api/v1/admin/risk/usage", tag = "risk", security(("bearer" = ["risk_manage"])),
    responses((status = 200, body = RiskUsageResponse), (status = 403, body = ErrorBody)))]
pub async fn usage(
    State(app): State<AppState>,
    _: Allowed<perm::RiskManage>,
) -> Result<Json<RiskUsageResponse>, ApiError> {
    let r = app.risk.fold_usage().await?;
    Ok(Json(RiskUsageResponse {
        calls: r.used.calls(),
        pass: r.used.pass,
        challenge: r.used.challenge,
        review: r.used.review,
        reject: r.used.reject,
        quota: r.quota,
        remaining: r.remaining(),
        exhausted: r.exhausted,
    }))
}
