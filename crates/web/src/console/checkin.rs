//! Check-in for staff: a day's live counts per slot — sold, let in, and per gate — which the
//! page's script refreshes every 15 seconds; and the no-show locks in force, each lifted with a
//! reason (through the API's own `lift`, audited). ID-number locks never show the number.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::auth::perm;
use gatehouse_api::AppState;
use gatehouse_domain::access::Permission;
use gatehouse_domain::no_show::LockSubject;
use jiff::civil::Date;
use maud::{html, Markup};
use serde::Deserialize;

use super::text::Cm;
use super::{Area, Staff, StaffForm};
use crate::forms::FormError;
use crate::i18n::Lang;

#[derive(Deserialize, Default)]
pub struct DayQuery {
    date: Option<String>,
}

async fn counts(app: &AppState, day: Date, lang: Lang) -> Markup {
    let t = |m: Cm| m.text(lang);
    let tz = app.service.museum_tz().clone();
    let names: std::collections::HashMap<_, _> = app
        .service
        .list_products()
        .products
        .into_iter()
        .map(|p| (p.id, p.spec.name))
        .collect();
    let slots = app.gates.counts(day).await.unwrap_or_default();
    html! {
        @if slots.is_empty() { p { (t(Cm::NoSlots)) } }
        @else {
            div.scroll {
                table {
                    caption { (t(Cm::AreaCheckIn)) " · " (day) }
                    thead { tr { th scope="col" { (t(Cm::Slot)) } th scope="col" { (t(Cm::Sold)) } th scope="col" { (t(Cm::CheckedIn)) } th scope="col" { (t(Cm::ByGate)) } } }
                    tbody {
                        @for s in &slots {
                            tr {
                                th scope="row" {
                                    (names.get(&s.product).map_or("", String::as_str)) " "
                                    (s.starts_at.to_zoned(tz.clone()).strftime("%H:%M")) "–" (s.ends_at.to_zoned(tz.clone()).strftime("%H:%M"))
                                }
                                td { (s.sold) }
                                td { (s.checked_in) }
                                td { @for (i, (gate, n)) in s.by_gate.iter().enumerate() { @if i > 0 { ", " } (gate) " " (n) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn locks(
    app: &AppState,
    staff: &Staff,
    lang: Lang,
    error: Option<(i64, &FormError)>,
) -> Markup {
    let t = |m: Cm| m.text(lang);
    let tz = app.service.museum_tz().clone();
    let locks = app.gates.active_no_show_locks().await.unwrap_or_default();
    html! {
        h2 #locks { (t(Cm::NoShowLocks)) }
        @if let Some((at, e)) = error {
            @if !locks.iter().any(|l| l.id == at) { p.error role="alert" { (e.text) } }
        }
        @if locks.is_empty() { p { (t(Cm::NoLocks)) } }
        ul.cards {
            @for lock in &locks {
                li.card {
                    h3 {
                        @match lock.subject {
                            LockSubject::Account(a) => { (t(Cm::AccountWord)) " " (a.0) }
                            LockSubject::IdNumber(_) => { (t(Cm::IdNumberWord)) " · " (t(Cm::AccountWord)) " " (lock.account.0) }
                        }
                    }
                    p.meta { (t(Cm::Until)) " " (lock.until.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M")) " · " (lock.reason) }
                    form method="post" action=(format!("/staff/no-show-locks/{}/lift", lock.id)) novalidate {
                        input type="hidden" name="csrf" value=(staff.0.csrf);
                        @let id = format!("reason-{}", lock.id);
                        @let failed = error.filter(|(at, _)| *at == lock.id).map(|(_, e)| e);
                        div.field {
                            label for=(id) { (t(Cm::LiftReason)) }
                            input #(id) name="reason" type="text" required aria-required="true" maxlength="500"
                                aria-invalid=[failed.map(|_| "true")] aria-describedby=[failed.map(|_| format!("{id}-error"))];
                            @if let Some(e) = failed { p.error #(format!("{id}-error")) { (e.text) } }
                        }
                        button.button.secondary type="submit" { (t(Cm::Lift)) }
                    }
                }
            }
        }
    }
}

async fn render(
    app: &AppState,
    staff: &Staff,
    lang: Lang,
    day: Date,
    error: Option<(i64, &FormError)>,
) -> Response {
    let t = |m: Cm| m.text(lang);
    let content = html! {
        h1 { (t(Cm::AreaCheckIn)) }
        @if staff.may(Permission::CheckIn) {
            form method="get" action="/staff/check-in" {
                div.field {
                    label for="date" { (t(Cm::Date)) }
                    input #date name="date" type="date" value=(day);
                }
                button.button.secondary type="submit" { (t(Cm::Show)) }
            }
            div #counts data-refresh="15" { (counts(app, day, lang).await) }
        }
        @if staff.may(Permission::AccountsLock) { (locks(app, staff, lang, error).await) }
    };
    let path = format!("/staff/check-in?date={day}");
    staff.page(lang, Area::CheckIn, t(Cm::AreaCheckIn), &path, content)
}

/// `GET /staff/check-in?date=…`
pub async fn page(
    State(app): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<DayQuery>,
) -> Response {
    if !staff.may(Permission::CheckIn) {
        if let Some(refused) = staff.refuses(Permission::AccountsLock, lang) {
            return refused;
        }
    }
    let day = match q.date.as_deref().map(str::parse::<Date>) {
        None => app.gates.today(),
        Some(Ok(d)) => d,
        Some(Err(_)) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                staff.page(lang, Area::CheckIn, Cm::AreaCheckIn.text(lang), "/staff/check-in",
                    html! { p.error role="alert" { (Cm::Date.text(lang)) ": YYYY-MM-DD" } p { a href="/staff/check-in" { (Cm::AreaCheckIn.text(lang)) } } }),
            )
                .into_response()
        }
    };
    render(&app, &staff, lang, day, None).await
}

/// `POST /staff/no-show-locks/{id}/lift`
pub async fn lift(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    StaffForm { staff, fields, .. }: StaffForm<perm::AccountsLock>,
) -> Response {
    let reason = fields.get("reason").unwrap_or_default();
    match gatehouse_api::routes_no_shows::lift(&app, &staff.0.session.account, id, reason).await {
        Ok(_) => Redirect::to("/staff/check-in#locks").into_response(),
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            let day = app.gates.today();
            (
                status,
                render(&app, &staff, lang, day, Some((id, &e))).await,
            )
                .into_response()
        }
    }
}
