//! Privacy work for staff: visitors' data requests with their deadlines (taken on, done or
//! refused through the API's own `answer_request`; listing them is audited, since it shows the
//! people's words), breach records with their notices' progress, and the audit log viewer with
//! its filters and an export (the API's, which records each export).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::auth::perm;
use gatehouse_api::auth::ClientIp;
use gatehouse_api::routes_breaches::BreachRequest;
use gatehouse_api::routes_requests::{answer_request, carry_out, AnswerRequest};
use gatehouse_api::AppState;
use gatehouse_domain::access::Permission;
use gatehouse_domain::audit::AuditFilter;
use gatehouse_domain::data_request::{RequestFilter, RequestKind};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::{PersonalField, Sensitive};
use gatehouse_domain::personal_data::ALL_FIELDS;
use maud::{html, Markup};
use serde::Deserialize;

use super::text::Cm;
use super::{Area, Staff, StaffForm};
use crate::forms::{self, Field, FormError};
use crate::i18n::{Lang, Msg};

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
                                @if r.kind != RequestKind::Erasure {
                                    button.button.secondary type="submit" name="status" value="done" { (t(Cm::MarkDone)) }
                                }
                                button.button.secondary type="submit" name="status" value="refused" { (t(Cm::Refuse)) }
                            }
                        }
                        @if r.kind == RequestKind::Erasure {
                            form method="post" action=(format!("/staff/data-requests/{}/erase", r.id)) {
                                input type="hidden" name="csrf" value=(staff.0.csrf);
                                button.button.danger type="submit" { (t(Cm::CarryOutErasure)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn file_form(staff: &Staff, lang: Lang, error: Option<&FormError>) -> Markup {
    let t = |m: Cm| m.text(lang);
    html! {
        form method="post" action="/staff/data-requests" novalidate {
            fieldset {
                legend { (t(Cm::FileRequest)) }
                (forms::form_error(error, &["account_id", "request_text"]))
                input type="hidden" name="csrf" value=(staff.0.csrf);
                (Field { name: "account_id", label: t(Cm::Account), kind: "text", value: "", autocomplete: "off",
                         inputmode: Some("numeric"), hint: None, required: true }.render(error, lang))
                div.field {
                    label for="request-kind" { (t(Cm::Kind)) }
                    select #request-kind name="kind" {
                        @for k in [RequestKind::Export, RequestKind::Correction, RequestKind::Erasure] { option value=(k.as_str()) { (k.as_str()) } }
                    }
                }
                div.field {
                    label for="request-channel" { (t(Cm::Channel)) }
                    select #request-channel name="channel" {
                        @for c in ["phone", "counter", "letter"] { option value=(c) { (c) } }
                    }
                }
                @let failed = error.filter(|e| e.field.as_deref() == Some("request_text"));
                div.field {
                    label for="request_text" { (t(Cm::RequestText)) }
                    textarea #request_text name="request_text" rows="3" required aria-required="true"
                        aria-invalid=[failed.map(|_| "true")] aria-describedby=[failed.map(|_| "request_text-error")] {}
                    @if let Some(e) = failed { p.error #request_text-error { (e.text) } }
                }
                button.button.secondary type="submit" { (t(Cm::FileRequest)) }
            }
        }
    }
}

fn breach_form(staff: &Staff, lang: Lang, error: Option<&FormError>) -> Markup {
    let t = |m: Cm| m.text(lang);
    let text = |name: &'static str, label: Cm, kind: &'static str| {
        Field {
            name,
            label: t(label),
            kind,
            value: "",
            autocomplete: "off",
            inputmode: None,
            hint: None,
            required: true,
        }
        .render(error, lang)
    };
    html! {
        form method="post" action="/staff/breaches" novalidate {
            fieldset {
                legend { (t(Cm::OpenBreach)) }
                (forms::form_error(error, &["title", "what_happened", "occurred_at", "discovered_at", "fields", "systems", "measures", "advice", "contact"]))
                input type="hidden" name="csrf" value=(staff.0.csrf);
                (text("title", Cm::BreachTitle, "text"))
                (text("what_happened", Cm::WhatHappened, "text"))
                (text("occurred_at", Cm::OccurredAt, "datetime-local"))
                (text("discovered_at", Cm::DiscoveredAt, "datetime-local"))
                fieldset {
                    legend { (t(Cm::DataInvolved)) }
                    @for f in ALL_FIELDS {
                        div.option {
                            input type="checkbox" name="fields" id=(format!("f-{}", f.as_str())) value=(f.as_str());
                            label for=(format!("f-{}", f.as_str())) { (f.as_str()) }
                        }
                    }
                    @if let Some(e) = error.filter(|e| e.field.as_deref().is_some_and(|f| f.starts_with("fields"))) { p.error { (e.text) } }
                }
                (text("systems", Cm::Systems, "text"))
                (text("measures", Cm::Measures, "text"))
                (text("advice", Cm::Advice, "text"))
                (text("contact", Cm::ContactForPeople, "text"))
                button.button.secondary type="submit" { (t(Cm::OpenBreach)) }
            }
        }
    }
}

async fn breaches(app: &AppState, staff: &Staff, lang: Lang) -> Markup {
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
                    @if v.progress.pending + v.progress.failed > 0 {
                        form method="post" action=(format!("/staff/breaches/{}/notify", b.id)) {
                            input type="hidden" name="csrf" value=(staff.0.csrf);
                            button.button.secondary type="submit" { (t(Cm::SendNotices)) }
                        }
                    }
                }
            }
        }
    }
}

/// Which form a failure belongs to, so it shows there.
#[derive(Clone, Copy)]
enum Failed<'a> {
    Request(&'a str, &'a FormError),
    File(&'a FormError),
    Breach(&'a FormError),
    Notify(&'a FormError),
}

async fn render(
    app: &AppState,
    staff: &Staff,
    ip: &ClientIp,
    lang: Lang,
    failed: Option<Failed<'_>>,
) -> Response {
    let t = |m: Cm| m.text(lang);
    let on_request = match failed {
        Some(Failed::Request(id, e)) => Some((id, e)),
        _ => None,
    };
    let file_error = match failed {
        Some(Failed::File(e)) => Some(e),
        _ => None,
    };
    let breach_error = match failed {
        Some(Failed::Breach(e)) => Some(e),
        _ => None,
    };
    let content = html! {
        h1 { (t(Cm::AreaPrivacy)) }
        @if staff.may(Permission::DataRequestsManage) {
            (requests(app, staff, ip, lang, on_request).await)
            (file_form(staff, lang, file_error))
        }
        @if staff.may(Permission::BreachManage) {
            @if let Some(Failed::Notify(e)) = failed { p.error role="alert" { (e.text) } }
            (breaches(app, staff, lang).await)
            (breach_form(staff, lang, breach_error))
        }
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
    ip: ClientIp,
    Path(id): Path<String>,
    StaffForm { staff, fields, .. }: StaffForm<perm::DataRequestsManage>,
) -> Response {
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
                render(&app, &staff, &ip, lang, Some(Failed::Request(&id, &e))).await,
            )
                .into_response()
        }
    }
}

/// `POST /staff/data-requests/{id}/erase`: carries out an erasure request.
pub async fn erase(
    State(app): State<AppState>,
    lang: Lang,
    ip: ClientIp,
    Path(id): Path<String>,
    StaffForm { staff, .. }: StaffForm<perm::DataRequestsManage>,
) -> Response {
    match carry_out(&app, &staff.0.session.account, &id).await {
        Ok(_) => Redirect::to("/staff/privacy#requests").into_response(),
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            (
                status,
                render(&app, &staff, &ip, lang, Some(Failed::Request(&id, &e))).await,
            )
                .into_response()
        }
    }
}

/// `POST /staff/data-requests`: files a request a visitor made by phone, at the counter or by
/// letter (their words sealed under their key, like their own requests).
pub async fn file(
    State(app): State<AppState>,
    lang: Lang,
    ip: ClientIp,
    StaffForm { staff, fields, .. }: StaffForm<perm::DataRequestsManage>,
) -> Response {
    let bad = |field: &str| FormError {
        field: Some(field.to_owned()),
        text: Msg::ErrorForm.text(lang).to_owned(),
    };
    let result = async {
        let account = fields
            .get("account_id")
            .and_then(|a| a.trim().parse::<i64>().ok())
            .ok_or_else(|| bad("account_id"))?;
        let kind = fields
            .get("kind")
            .and_then(RequestKind::parse)
            .ok_or_else(|| bad("kind"))?;
        let channel = fields
            .get("channel")
            .filter(|c| ["phone", "counter", "letter"].contains(c))
            .ok_or_else(|| bad("channel"))?;
        let text = Sensitive::new(
            PersonalField::RequestText,
            fields.get("request_text").unwrap_or_default().trim(),
        );
        app.identity
            .file_data_request(
                &staff.0.session.account,
                AccountId(account),
                kind,
                &text,
                channel,
            )
            .await
            .map(drop)
            .map_err(|e| FormError::from_api(e, lang))
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/staff/privacy#requests").into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&app, &staff, &ip, lang, Some(Failed::File(&e))).await,
        )
            .into_response(),
    }
}

/// A `datetime-local` value (museum time) as the RFC 3339 instant the API reads.
fn instant(app: &AppState, value: &str) -> String {
    value
        .trim()
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(app.service.museum_tz().clone()).ok())
        .map(|z| z.timestamp().to_string())
        .unwrap_or_else(|| value.to_owned())
}

/// `POST /staff/breaches`: opens a breach record (the people affected found, the notice drafted).
pub async fn open_breach(
    State(app): State<AppState>,
    lang: Lang,
    ip: ClientIp,
    StaffForm { staff, fields, .. }: StaffForm<perm::BreachManage>,
) -> Response {
    let text = |name: &str| fields.get(name).unwrap_or_default().trim().to_owned();
    let request = BreachRequest {
        title: text("title"),
        what_happened: text("what_happened"),
        occurred_at: instant(&app, &text("occurred_at")),
        discovered_at: instant(&app, &text("discovered_at")),
        fields: fields.all("fields"),
        systems: text("systems"),
        measures: text("measures"),
        advice: text("advice"),
        contact: text("contact"),
    };
    match gatehouse_api::routes_breaches::open_breach(&app, &staff.0.session.account, request).await
    {
        Ok(_) => Redirect::to("/staff/privacy#breaches").into_response(),
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            (
                status,
                render(&app, &staff, &ip, lang, Some(Failed::Breach(&e))).await,
            )
                .into_response()
        }
    }
}

/// `POST /staff/breaches/{id}/notify`: sends the notices not yet sent (failed ones again).
pub async fn notify(
    State(app): State<AppState>,
    lang: Lang,
    ip: ClientIp,
    Path(id): Path<String>,
    StaffForm { staff, .. }: StaffForm<perm::BreachManage>,
) -> Response {
    match app
        .identity
        .send_breach_notices(&staff.0.session.account, &id, Some(ip.origin()))
        .await
    {
        Ok(_) => Redirect::to("/staff/privacy#breaches").into_response(),
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            (
                status,
                render(&app, &staff, &ip, lang, Some(Failed::Notify(&e))).await,
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
