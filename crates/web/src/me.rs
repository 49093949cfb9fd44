//! The personal centre: who is signed in; any pause on booking after missed visits, with its
//! end; frequent visitors; the consents given (withdrawable); my data (download it as JSON,
//! delete the account); signing out.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::AppState;
use maud::{html, Markup};

use crate::forms::{self, Field, FormError};
use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, SignedIn, Viewer};

/// What the person types to confirm deleting their account (the API's own phrase).
const CONFIRM: &str = gatehouse_api::routes_requests::ERASE_CONFIRMATION;

fn render(lang: Lang, title: Msg, path: &str, content: Markup) -> Response {
    Page {
        lang,
        title: title.text(lang),
        section: Section::Me,
        path,
    }
    .render(content)
}

/// `GET /me`
pub async fn page(State(app): State<AppState>, lang: Lang, Viewer(viewer): Viewer) -> Response {
    let Some(me) = viewer else {
        return to_sign_in("/me");
    };
    let t = |m: Msg| m.text(lang);
    let account = me.session.account.id;
    let visitors = app
        .identity
        .list_visitors(account)
        .await
        .unwrap_or_default();
    let locks = app
        .gates
        .no_show_locks_of(account)
        .await
        .unwrap_or_default();
    let consents = app.identity.consents(account).await.unwrap_or_default();
    let tz = app.service.museum_tz().clone();
    let content = html! {
        h1 { (t(Msg::MeTitle)) }
        p { (t(Msg::SignedInAs)) " " strong { (me.session.account.display_name) } }
        @for lock in &locks {
            p.error role="status" {
                (t(Msg::BookingPausedUntil)) " " (lock.until.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M")) " · " (lock.reason)
            }
        }
        (crate::visitors::list(&visitors, &me, lang))
        h2 { (t(Msg::Consents)) }
        @if consents.is_empty() { p { (t(Msg::NoConsents)) } }
        ul.rows {
            @for c in &consents {
                li {
                    span {
                        strong { (c.purpose) } " · " (c.text_version) " · "
                        (c.given_at.to_zoned(tz.clone()).strftime("%Y-%m-%d"))
                        @if let Some(w) = c.withdrawn_at { " · " (t(Msg::Withdrawn)) " " (w.to_zoned(tz.clone()).strftime("%Y-%m-%d")) }
                    }
                    @if c.withdrawn_at.is_none() {
                        form method="post" action=(format!("/me/consents/{}/withdraw", c.purpose)) {
                            input type="hidden" name="csrf" value=(me.csrf);
                            button.link type="submit" aria-label=(format!("{} {}", t(Msg::Withdraw), c.purpose)) { (t(Msg::Withdraw)) }
                        }
                    }
                }
            }
        }
        h2 { (t(Msg::MyData)) }
        p { (t(Msg::MyDataLead)) }
        p { a.button.secondary href="/api/v1/me/data-export" download="gatehouse-my-data.json" { (t(Msg::DownloadMyData)) } }
        p { a href="/me/erase" { (t(Msg::DeleteAccount)) } }
        form method="post" action="/signout" {
            input type="hidden" name="csrf" value=(me.csrf);
            button.button.secondary type="submit" { (t(Msg::SignOut)) }
        }
    };
    render(lang, Msg::MeTitle, "/me", content)
}

/// `POST /me/consents/{purpose}/withdraw`: the consent stops counting at once.
pub async fn withdraw(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(purpose): Path<String>,
    body: Bytes,
) -> Response {
    let (me, _) = match forms::signed_post(&headers, viewer, &body, lang, "/me") {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    match app
        .identity
        .withdraw_consent(me.session.account.id, &purpose)
        .await
    {
        Ok(_) => Redirect::to("/me").into_response(),
        Err(e) => {
            let e = FormError::from_api(e, lang);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                render(
                    lang,
                    Msg::MeTitle,
                    "/me",
                    html! { p.error role="alert" { (e.text) } },
                ),
            )
                .into_response()
        }
    }
}

fn erase_form(lang: Lang, me: &SignedIn, error: Option<&FormError>) -> Markup {
    let t = |m: Msg| m.text(lang);
    html! {
        h1 { (t(Msg::DeleteAccount)) }
        p { (t(Msg::DeleteLead)) }
        (forms::form_error(error, &["confirm"]))
        form method="post" action="/me/erase" novalidate {
            input type="hidden" name="csrf" value=(me.csrf);
            (Field { name: "confirm", label: &format!("{} “{CONFIRM}”", t(Msg::TypeToConfirm)), kind: "text", value: "",
                     autocomplete: "off", inputmode: None, hint: None, required: true }.render(error, lang))
            button.button.danger type="submit" { (t(Msg::DeleteAccount)) }
        }
        p { a href="/me" { (t(Msg::KeepAccount)) } }
    }
}

/// `GET /me/erase`
pub async fn erase_page(lang: Lang, Viewer(viewer): Viewer) -> Response {
    let Some(me) = viewer else {
        return to_sign_in("/me/erase");
    };
    render(
        lang,
        Msg::DeleteAccount,
        "/me/erase",
        erase_form(lang, &me, None),
    )
}

/// `POST /me/erase`: erases the account (refused while a visit is ahead) and signs out.
pub async fn erase(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (me, fields) = match forms::signed_post(&headers, viewer, &body, lang, "/me/erase") {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let t = |m: Msg| m.text(lang);
    if fields.get("confirm").map(str::trim) != Some(CONFIRM) {
        let e = FormError {
            field: Some("confirm".into()),
            text: format!("{} “{CONFIRM}”", t(Msg::TypeToConfirm)),
        };
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(
                lang,
                Msg::DeleteAccount,
                "/me/erase",
                erase_form(lang, &me, Some(&e)),
            ),
        )
            .into_response();
    }
    match gatehouse_api::routes_requests::erase_self(&app, &me.session.account).await {
        Ok(_) => {
            let mut response = render(
                lang,
                Msg::AccountDeleted,
                "/",
                html! {
                    h1 { (t(Msg::AccountDeleted)) }
                    p { (t(Msg::AccountDeletedLead)) }
                    p { a href="/" { (t(Msg::NavHome)) } }
                },
            );
            gatehouse_api::auth::clear_session_cookies(response.headers_mut());
            response
        }
        Err(e) => {
            let e = FormError::from_api(e, lang);
            (
                StatusCode::CONFLICT,
                render(
                    lang,
                    Msg::DeleteAccount,
                    "/me/erase",
                    erase_form(lang, &me, Some(&e)),
                ),
            )
                .into_response()
        }
    }
}
