//! Privacy work for staff: visitors' data requests with their deadlines (taken on, done or
//! refused through the API's own `answer_request`; listing them is audited, since it shows the
//! people's words), breach records with their notices' progress, and the audit log viewer with
//! its filters and an export (the API's, which records each export).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::auth::ClientIp;
use gatehouse_api::routes_requests::{answer_request, AnswerRequest};
use gatehouse_api::AppState;
use gatehouse_domain::access::Permission;
use gatehouse_domain::audit::AuditFilter;
use gatehouse_domain::data_request::RequestFilter;
use gatehouse_domain::order::AccountId;
use maud::{html, Markup};
use serde::Deserialize;

use super::text::Cm;
use super::{staff_post, Area, Staff};
use crate::forms::FormError;
use crate::i18n::Lang;

fn when(app: &AppState, at: jiff::Timestamp) -> String {
    at.to_zoned(app.service.museum_tz().clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

async fn requests(
    app: &AppState,
    staff: &Staff,
    ip: &ClientIp,
    lang: Lang,
    error: Option<(&str, &FormError)>,
) -> Markup {
    let t = |m: Cm| m.text(lang);
    let views = app
        .identity
        .data_requests_for_staff(
            &staff.0.session.account,
            &RequestFilter::default(),
            100,
            Some(ip.origin()),
        )
        .await
        .unwrap_or_default();
    html! {
        h2 #requests { (t(Cm::DataRequests)) }
        @if let Some((at, e)) = error {
            @if !views.iter().any(|v| v.request.id == at) { p.error role="alert" { (e.text) } }
        }
        @if views.is_empty() { p { (t(Cm::NoRequests)) } }
        ul.cards {
            @for v in &views {
                @let r = &v.request;
                li.card {
                    h3 { (r.kind.as_str()) " · " (r.status.as_str()) @if v.overdue { " · " strong.error { (t(Cm::Overdue)) } } }
                    dl.facts {
                        dt { (t(Cm::Account)) } dd { (r.account.0) }
                        dt { (t(Cm::Channel)) } dd { (r.channel) }
                        dt { (t(Cm::Received)) } dd { (when(app, r.received_at)) }
                        dt { (t(Cm::Due)) } dd { (when(app, r.due_at)) }
                        dt { (t(Cm::RequestText)) } dd { (v.request_text.expose()) }
                        @if let Some(outcome) = &r.outcome { dt { (t(Cm::Outcome)) } dd { (outcome) } }
                    }
                    @if !r.status.is_final() {
                        @let id = format!("outcome-{}", r.id);
                        @let failed = error.filter(|(at, _)| *at == r.id).map(|(_, e)| e);
                        form method="post" action=(format!("/staff/data-requests/{}", r.id)) novalidate {
                            input type="hidden" name="csrf" value=(staff.0.csrf);
                            div.field {
                                label for=(id) { (t(Cm::Outcome)) }
                                input #(id) name="outcome" type="text" maxlength="500"
                                    aria-invalid=[failed.map(|_| "true")] aria-describedby=[failed.map(|_| format!("{id}-error"))];
                                @if let Some(e) = failed { p.error #(format!("{id}-error")) { (e.text) } }
                            }
                            div.actions {
                                button.button.secondary type="submit" name="status" value="in_progress" { (t(Cm::TakeOn)) }
                                button.button.secondary type="submit" name="status" value="done" { (t(Cm::MarkDone)) }
                                button.button.secondary type="submit" name="status" value="refused" { (t(Cm::Refuse)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn breaches(app: &AppState, lang: Lang) -> Markup {
    let t = |m: Cm| m.text(lang);
    let views = app.identity.breaches(100).await.unwrap_or_default();
    html! {
        h2 #breaches { (t(Cm::Breaches)) }
        @if views.is_empty() { p { (t(Cm::NoBreaches)) } }
        ul.cards {
            @for v in &views {
                @let b = &v.breach;
                li.card {
                    h3 { (b.report.title) @if v.overdue { " · " strong.error { (t(Cm::Overdue)) } } }
                    dl.facts {
                        dt { (t(Cm::Opened)) } dd { (when(app, b.opened_at)) }
                        dt { (t(Cm::Deadline)) } dd { (when(app, b.deadline_at)) }
                        dt { (t(Cm::Affected)) } dd { (b.affected) }
                        dt { (t(Cm::NoticesSent)) } dd { (v.progress.sent) " / " (v.progress.pending) " / " (v.progress.failed) }
                    }
                }
            }
        }
    }
}

async fn render(
    app: &AppState,
    staff: &Staff,
    ip: &ClientIp,
    lang: Lang,
    error: Option<(&str, &FormError)>,
) -> Response {
    let t = |m: Cm| m.text(lang);
    let content = html! {
        h1 { (t(Cm::AreaPrivacy)) }
        @if staff.may(Permission::DataRequestsManage) { (requests(app, staff, ip, lang, error).await) }
        @if staff.may(Permission::BreachManage) { (breaches(app, lang).await) }
    };
    staff.page(
        lang,
        Area::Privacy,
        t(Cm::AreaPrivacy),
        "/staff/privacy",
        content,
    )
}

/// `GET /staff/privacy`
pub async fn page(State(app): State<AppState>, lang: Lang, staff: Staff, ip: ClientIp) -> Response {
    if !staff.may(Permission::DataRequestsManage) {
        if let Some(refused) = staff.refuses(Permission::BreachManage, lang) {
            return refused;
        }
    }
    render(&app, &staff, &ip, lang, None).await
}

/// `POST /staff/data-requests/{id}`: takes a request on, or closes it with what was done.
pub async fn answer(
    State(app): State<AppState>,
    lang: Lang,
    staff: Staff,
    ip: ClientIp,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, fields) = match staff_post(
        &headers,
        staff,
        &body,
        lang,
        "/staff/privacy",
        Permission::DataRequestsManage,
    ) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let request = AnswerRequest {
        status: fields.get("status").unwrap_or_default().to_owned(),
        outcome: fields
            .get("outcome")
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned),
    };
    match answer_request(&app, &staff.0.session.account, &id, &request).await {
        Ok(_) => Redirect::to("/staff/privacy#requests").into_response(),
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            (
                status,
                render(&app, &staff, &ip, lang, Some((&id, &e))).await,
            )
                .into_response()
        }
    }
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    subject: Option<String>,
}

/// `GET /staff/audit?actor=&action=&subject=`: the newest 200 records that match.
pub async fn audit(
    State(app): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<AuditQuery>,
) -> Response {
    if let Some(refused) = staff.refuses(Permission::AuditRead, lang) {
        return refused;
    }
    let t = |m: Cm| m.text(lang);
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let actor_text = given(&q.actor);
    let actor = actor_text.as_deref().map(str::parse::<i64>);
    let bad_actor = matches!(actor, Some(Err(_)));
    let filter = AuditFilter {
        actor: actor.and_then(Result::ok).map(AccountId),
        action: given(&q.action),
        subject: given(&q.subject),
        ..AuditFilter::default()
    };
    let records = if bad_actor {
        Vec::new()
    } else {
        app.identity
            .audit_trail(&filter, 200)
            .await
            .unwrap_or_default()
    };
    let export = serde_urlencoded::to_string(
        [
            ("format", Some("jsonl")),
            ("actor", actor_text.as_deref()),
            ("action", filter.action.as_deref()),
            ("subject", filter.subject.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let content = html! {
        h1 { (t(Cm::AreaAudit)) }
        form method="get" action="/staff/audit" {
            fieldset {
                legend { (t(Cm::Filter)) }
                div.field {
                    label for="actor" { (t(Cm::Actor)) }
                    input #actor name="actor" type="text" inputmode="numeric" value=(actor_text.as_deref().unwrap_or_default())
                        aria-invalid=[bad_actor.then_some("true")] aria-describedby=[bad_actor.then_some("actor-error")];
                    @if bad_actor { p.error #actor-error { (t(Cm::Actor)) } }
                }
                div.field {
                    label for="action" { (t(Cm::Action)) }
                    input #action name="action" type="text" value=(filter.action.as_deref().unwrap_or_default());
                }
                div.field {
                    label for="subject" { (t(Cm::Record)) }
                    input #subject name="subject" type="text" value=(filter.subject.as_deref().unwrap_or_default());
                }
                button.button.secondary type="submit" { (t(Cm::Show)) }
            }
        }
        p { a href=(format!("/api/v1/admin/audit?{export}")) download { (t(Cm::ExportJsonl)) } }
        @if records.is_empty() { p { (t(Cm::NoRecords)) } }
        @else {
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { (t(Cm::At)) } th scope="col" { (t(Cm::Actor)) }
                        th scope="col" { (t(Cm::Action)) } th scope="col" { (t(Cm::Record)) } th scope="col" { (t(Cm::Field)) }
                        th scope="col" { (t(Cm::Purpose)) } th scope="col" { (t(Cm::Origin)) } th scope="col" { (t(Cm::Detail)) }
                    } }
                    tbody {
                        @for r in &records {
                            @let e = &r.entry;
                            tr {
                                td { (r.seq) }
                                td { (when(&app, e.at)) }
                                td { (e.actor.map(|a| a.0.to_string()).unwrap_or_default()) @if let Some(role) = &e.role { " (" (role) ")" } }
                                td { (e.action) }
                                td { (e.subject.as_deref().unwrap_or_default()) }
                                td { (e.field.as_deref().unwrap_or_default()) }
                                td { (e.purpose.as_deref().unwrap_or_default()) }
                                td { (e.origin.as_deref().unwrap_or_default()) }
                                td { (e.detail) }
                            }
                        }
                    }
                }
            }
        }
    };
    staff.page(lang, Area::Audit, t(Cm::AreaAudit), "/staff/audit", content)
}
