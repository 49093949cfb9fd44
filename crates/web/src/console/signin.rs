//! Staff sign-in: single sign-on when the museum configured it (the API's own start and
//! callback; the callback sends a browser on to the console), and the break-glass
//! administrator's username, password and one-time code for when single sign-on is down.
//! Either way the session is the API's, in the same cookies as a visitor's.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_api::auth::ClientIp;
use gatehouse_api::AppState;
use maud::{html, Markup};
use serde::Deserialize;

use super::text::Cm;
use crate::forms::{self, Field, FormError};
use crate::i18n::{local_path, Lang};
use crate::layout::{Page, Section};

#[derive(Deserialize, Default)]
pub struct Back {
    back: Option<String>,
}

#[derive(Deserialize)]
struct BreakGlassForm {
    username: String,
    password: String,
    totp: String,
    back: Option<String>,
}

fn page(
    lang: Lang,
    app: &AppState,
    back: &str,
    username: &str,
    error: Option<&FormError>,
) -> Markup {
    let t = |m: Cm| m.text(lang);
    html! {
        h1 { (t(Cm::StaffSignIn)) }
        @if app.identity.has_staff_sso() {
            section {
                p { (t(Cm::SsoLead)) }
                p { a.button href="/api/v1/auth/staff/sso/start" { (t(Cm::SsoSignIn)) } }
            }
        }
        section {
            h2 { (t(Cm::BreakGlass)) }
            p.hint { (t(Cm::BreakGlassLead)) }
            (forms::form_error(error, &["username", "totp"]))
            form method="post" action="/staff/signin" novalidate {
                input type="hidden" name="back" value=(back);
                (Field { name: "username", label: t(Cm::Username), kind: "text", value: username,
                         autocomplete: "username", inputmode: None, hint: None, required: true }.render(error, lang))
                (Field { name: "password", label: t(Cm::Password), kind: "password", value: "",
                         autocomplete: "current-password", inputmode: None, hint: None, required: true }.render(error, lang))
                (Field { name: "totp", label: t(Cm::TotpCode), kind: "text", value: "",
                         autocomplete: "one-time-code", inputmode: Some("numeric"), hint: None, required: true }.render(error, lang))
                button.button type="submit" { (t(Cm::SignIn)) }
            }
        }
    }
}

fn render(lang: Lang, content: Markup) -> Response {
    Page {
        lang,
        title: Cm::StaffSignIn.text(lang),
        section: Section::Home,
        path: "/staff/signin",
    }
    .render_nav(Cm::Console.text(lang), "/staff", &[], content)
}

/// Where a console sign-in may go back to: a console page, else the console's home.
fn console_path(back: Option<&str>) -> &str {
    let path = local_path(back);
    if path.starts_with("/staff") {
        path
    } else {
        "/staff"
    }
}

/// `GET /staff/signin`
pub async fn start(State(app): State<AppState>, lang: Lang, Query(q): Query<Back>) -> Response {
    let back = console_path(q.back.as_deref());
    render(lang, page(lang, &app, back, "", None))
}

/// `POST /staff/signin`: the break-glass administrator's sign-in.
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
    let form: BreakGlassForm = match forms::parse(&body, lang) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                render(lang, page(lang, &app, "/staff", "", Some(&e))),
            )
                .into_response()
        }
    };
    let back = console_path(form.back.as_deref());
    match app
        .identity
        .sign_in_break_glass(
            form.username.trim(),
            &form.password,
            form.totp.trim(),
            &ip.0,
        )
        .await
    {
        Ok(session) => crate::signin::signed_in(&app, &session, back),
        Err(e) => {
            let e = FormError::from_api(e, lang);
            (
                StatusCode::UNAUTHORIZED,
                render(lang, page(lang, &app, back, &form.username, Some(&e))),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::console_path;

    #[test]
    fn a_console_sign_in_goes_back_only_to_the_console() {
        assert_eq!(console_path(Some("/staff/orders?q=1")), "/staff/orders?q=1");
        assert_eq!(console_path(Some("/orders")), "/staff");
        assert_eq!(console_path(Some("//evil.example/staff")), "/staff");
        assert_eq!(console_path(None), "/staff");
    }
}
