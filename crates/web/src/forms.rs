//! Forms: reading a posted form, refusing one posted from another site, the CSRF token a
//! signed-in form carries, and a labelled field that shows its error beside it (and tells
//! screen readers, `aria-invalid` and `aria-describedby`).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_api::error::{ApiError, ErrorBody};
use maud::{html, Markup};
use serde::de::DeserializeOwned;

use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, SignedIn};

/// A form error: the field it concerns (none: the whole form) and what to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub field: Option<String>,
    pub text: String,
}

impl FormError {
    pub fn form(text: &str) -> Self {
        Self {
            field: None,
            text: text.into(),
        }
    }

    /// An error from the services, in the page's language where we have the words for its code.
    pub fn from_api(e: impl Into<ApiError>, lang: Lang) -> Self {
        Self::with_status(e, lang).1
    }

    /// The status the API answers the error with, and the error as [`FormError::from_api`].
    pub fn with_status(e: impl Into<ApiError>, lang: Lang) -> (StatusCode, Self) {
        let answer = e.into().answer();
        (answer.status, Self::from_body(answer.body, lang))
    }

    fn from_body(body: ErrorBody, lang: Lang) -> Self {
        let ErrorBody {
            code,
            message,
            field,
            ..
        } = body;
        let known = match code {
            "rate_limited" => Some(Msg::ErrorRateLimited),
            "code_wrong" => Some(Msg::ErrorCodeWrong),
            "code_expired" => Some(Msg::ErrorCodeExpired),
            "provider_unavailable" | "unavailable" => Some(Msg::ErrorUnavailable),
            "sold_out" => Some(Msg::ErrorSoldOut),
            "window_closed" => Some(Msg::ErrorWindowClosed),
            "account_locked" | "id_locked" => Some(Msg::ErrorLocked),
            _ => None,
        };
        Self {
            field,
            text: match (known, lang) {
                (Some(m), _) => m.text(lang).to_owned(),
                // The services word field errors in English; say so plainly in Chinese too.
                (None, Lang::Zh) => format!("{}（{message}）", Msg::ErrorInvalid.text(lang)),
                (None, Lang::En) => message,
            },
        }
    }

    fn concerns(&self, name: &str) -> bool {
        self.field.as_deref() == Some(name)
    }
}

fn refused(lang: Lang, status: StatusCode, text: Msg) -> Response {
    let content = html! { p.error role="alert" { (text.text(lang)) } };
    let page = Page {
        lang,
        title: text.text(lang),
        section: Section::Home,
        path: "/",
    };
    (status, page.render(content)).into_response()
}

/// A form posted from another site: refused, nothing done.
pub fn cross_site(lang: Lang) -> Response {
    refused(lang, StatusCode::FORBIDDEN, Msg::ErrorCrossSite)
}

/// A signed-in form whose CSRF token is not its session's (an old page, or forged).
pub fn expired(lang: Lang) -> Response {
    refused(lang, StatusCode::FORBIDDEN, Msg::ErrorSessionForm)
}

/// A posted form's fields, in order (a name may come more than once: checkboxes).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Self(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The checks every signed-in form post passes before it does anything: posted from this site,
/// by someone signed in (else to sign-in, then back to `back`), carrying their session's CSRF
/// token. The visitor and the form's fields, or the page that refuses it (boxed: a response is
/// large beside the fields).
pub fn signed_post(
    headers: &HeaderMap,
    viewer: Option<SignedIn>,
    body: &[u8],
    lang: Lang,
    back: &str,
) -> Result<(SignedIn, Fields), Box<Response>> {
    if !same_site(headers) {
        return Err(Box::new(cross_site(lang)));
    }
    let Some(me) = viewer else {
        return Err(Box::new(to_sign_in(back)));
    };
    let fields = Fields::parse(body);
    if fields.get("csrf") != Some(me.csrf.as_str()) {
        return Err(Box::new(expired(lang)));
    }
    Ok((me, fields))
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn parse<T: DeserializeOwned>(body: &[u8], lang: Lang) -> Result<T, FormError> {
    serde_urlencoded::from_bytes(body).map_err(|_| FormError::form(Msg::ErrorForm.text(lang)))
}

/// Whether a form post came from this site: browsers say so in `Sec-Fetch-Site`, or in
/// `Origin`, which must then name this host. A post that says neither (an old browser, a
/// script) is let through: the session cookie is `SameSite=Lax` and signed-in forms carry the
/// CSRF token besides.
pub fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub value: &'a str,
    pub autocomplete: &'a str,
    pub inputmode: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub required: bool,
}

impl Field<'_> {
    pub fn render(&self, error: Option<&FormError>, lang: Lang) -> Markup {
        let error = error.filter(|e| e.concerns(self.name));
        let hint_id = format!("{}-hint", self.name);
        let error_id = format!("{}-error", self.name);
        let described: Vec<&str> = [
            self.hint.map(|_| hint_id.as_str()),
            error.map(|_| error_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        html! {
            div.field {
                label for=(self.name) {
                    (self.label)
                    @if self.required { " " abbr.required title=(Msg::Required.text(lang)) aria-hidden="true" { "*" } }
                }
                @if let Some(hint) = self.hint { p.hint #(hint_id) { (hint) } }
                input #(self.name) name=(self.name) type=(self.kind) value=(self.value)
                    autocomplete=(self.autocomplete) inputmode=[self.inputmode]
                    required[self.required] aria-required=[self.required.then_some("true")]
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[(!described.is_empty()).then(|| described.join(" "))];
                @if let Some(e) = error { p.error #(error_id) { (e.text) } }
            }
        }
    }
}

/// The error about the form as a whole (or a field the form does not show), at its top.
pub fn form_error(error: Option<&FormError>, shown: &[&str]) -> Markup {
    let whole = error.filter(|e| e.field.as_deref().is_none_or(|f| !shown.contains(&f)));
    html! {
        @if let Some(e) = whole { p.error role="alert" { (e.text) } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn posts_from_another_site_are_refused() {
        assert!(same_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_site(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(
            same_site(&headers(&[])),
            "neither header: the token decides"
        );
    }

    #[test]
    fn a_field_error_is_shown_beside_its_field_and_announced() {
        let e = FormError {
            field: Some("phone".into()),
            text: "bad".into(),
        };
        let field = Field {
            name: "phone",
            label: "Phone",
            kind: "tel",
            value: "1",
            autocomplete: "tel",
            inputmode: Some("numeric"),
            hint: None,
            required: true,
        };
        let html = field.render(Some(&e), Lang::En).into_string();
        assert!(html.contains("aria-invalid=\"true\""), "{html}");
        assert!(html.contains("aria-describedby=\"phone-error\""), "{html}");
        assert!(
            html.contains("<p class=\"error\" id=\"phone-error\">bad</p>"),
            "{html}"
        );
        let other = field.render(
            Some(&FormError {
                field: Some("code".into()),
                text: "x".into(),
            }),
            Lang::En,
        );
        assert!(!other.into_string().contains("aria-invalid"));
        assert_eq!(
            form_error(Some(&e), &["code"]).into_string(),
            "<p class=\"error\" role=\"alert\">bad</p>"
        );
    }
}
