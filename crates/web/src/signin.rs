//! Signing in on the web: the phone, then the code texted to it, then back to the page that
//! asked; and signing out. The phone travels in the form bodies, never in a URL. The session
//! is the API's own cookie session, so the pages and the API's cookie clients share it.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::auth::ClientIp;
use gatehouse_api::AppState;
use gatehouse_domain::identity::mask_phone;
use maud::{html, Markup};
use serde::Deserialize;

use crate::forms::{self, Field, FormError};
use crate::i18n::{local_path, Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::Viewer;

#[derive(Deserialize, Default)]
pub struct Back {
    back: Option<String>,
}

#[derive(Deserialize)]
struct PhoneForm {
    phone: String,
    back: Option<String>,
}

#[derive(Deserialize)]
struct CodeForm {
    phone: String,
    code: String,
    back: Option<String>,
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf: String,
}

fn page(lang: Lang, content: Markup) -> Response {
    Page {
        lang,
        title: Msg::SignInTitle.text(lang),
        section: Section::Me,
        path: "/signin",
    }
    .render(content)
}

fn phone_form(lang: Lang, back: &str, phone: &str, error: Option<&FormError>) -> Markup {
    let t = |m: Msg| m.text(lang);
    html! {
        h1 { (t(Msg::SignInTitle)) }
        p { (t(Msg::SignInLead)) }
        (forms::form_error(error, &["phone"]))
        form method="post" action="/signin/code" novalidate {
            input type="hidden" name="back" value=(back);
            (Field { name: "phone", label: t(Msg::PhoneLabel), kind: "tel", value: phone,
                     autocomplete: "tel-national", inputmode: Some("numeric"),
                     hint: Some(t(Msg::PhoneHint)), required: true }.render(error, lang))
            button.button type="submit" { (t(Msg::SendCode)) }
        }
    }
}

fn code_form(lang: Lang, back: &str, phone: &str, error: Option<&FormError>) -> Markup {
    let t = |m: Msg| m.text(lang);
    html! {
        h1 { (t(Msg::SignInTitle)) }
        p { (t(Msg::CodeSentTo)) " " strong { (mask_phone(phone)) } }
        (forms::form_error(error, &["code"]))
        form method="post" action="/signin" novalidate {
            input type="hidden" name="back" value=(back);
            input type="hidden" name="phone" value=(phone);
            (Field { name: "code", label: t(Msg::CodeLabel), kind: "text", value: "",
                     autocomplete: "one-time-code", inputmode: Some("numeric"),
                     hint: Some(t(Msg::CodeHint)), required: true }.render(error, lang))
            button.button type="submit" { (t(Msg::SignInButton)) }
        }
        p { a href=(format!("/signin?{}", serde_urlencoded::to_string([("back", back)]).unwrap_or_default())) { (t(Msg::OtherPhone)) } }
    }
}

/// `GET /signin?back=/…`
pub async fn start(lang: Lang, Query(q): Query<Back>) -> Response {
    page(
        lang,
        phone_form(lang, local_path(q.back.as_deref()), "", None),
    )
}

/// `POST /signin/code`: texts a code to the phone.
pub async fn send_code(
    State(app): State<AppState>,
    lang: Lang,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !forms::same_site(&headers) {
        return forms::cross_site(lang);
    }
    let form: PhoneForm = match forms::parse(&body, lang) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                page(lang, phone_form(lang, "/", "", Some(&e))),
            )
                .into_response()
        }
    };
    let back = local_path(form.back.as_deref());
    match app.identity.send_phone_code(&form.phone, &ip.0).await {
        Ok(_) => page(lang, code_form(lang, back, form.phone.trim(), None)),
        Err(e) => {
            let e = FormError::from_api(e, lang);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                page(lang, phone_form(lang, back, &form.phone, Some(&e))),
            )
                .into_response()
        }
    }
}

/// `POST /signin`: checks the code, sets the session cookies and goes back.
pub async fn finish(
    State(app): State<AppState>,
    lang: Lang,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !forms::same_site(&headers) {
        return forms::cross_site(lang);
    }
    let form: CodeForm = match forms::parse(&body, lang) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                page(lang, phone_form(lang, "/", "", Some(&e))),
            )
                .into_response()
        }
    };
    let back = local_path(form.back.as_deref());
    match app
        .identity
        .sign_in_with_phone(&form.phone, &form.code, &ip.0)
        .await
    {
        Ok(session) => signed_in(&app, &session, back),
        Err(e) => {
            let e = FormError::from_api(e, lang);
            let form_html = if e.field.as_deref() == Some("phone") {
                phone_form(lang, back, &form.phone, Some(&e))
            } else {
                code_form(lang, back, &form.phone, Some(&e))
            };
            (StatusCode::UNPROCESSABLE_ENTITY, page(lang, form_html)).into_response()
        }
    }
}

/// `POST /signout`: ends the session (its CSRF token required) and clears the cookies.
pub async fn sign_out(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !forms::same_site(&headers) {
        return forms::cross_site(lang);
    }
    let mut response = Redirect::to("/").into_response();
    if let Some(me) = viewer {
        let token_ok = forms::parse::<SignOutForm>(&body, lang).is_ok_and(|f| f.csrf == me.csrf);
        if !token_ok {
            return forms::expired(lang);
        }
        if let Err(e) = app.identity.sign_out(&me.session).await {
            let e = FormError::from_api(e, lang);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                page(lang, html! { p.error role="alert" { (e.text) } }),
            )
                .into_response();
        }
    }
    gatehouse_api::auth::clear_session_cookies(response.headers_mut());
    response
}

/// The answer to a successful sign-in (a visitor's or staff's): the session's cookies, and on
/// to `back`.
pub(crate) fn signed_in(
    app: &AppState,
    session: &gatehouse_identity::IssuedSession,
    back: &str,
) -> Response {
    let mut response = Redirect::to(back).into_response();
    gatehouse_api::auth::session_cookies(response.headers_mut(), session, app.identity.now());
    response
}
