//! Who is looking at a page: the visitor signed in through the `gh_session` cookie (the same
//! session the API accepts, with the same CSRF token), or nobody.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::error::ApiError;
use maud::html;

use crate::forms::FormError;
use crate::i18n::Lang;
use crate::layout::{Page, Section};
use gatehouse_api::AppState;
use gatehouse_identity::Authenticated;

/// A signed-in visitor, with the CSRF token their forms carry.
pub struct SignedIn {
    pub session: Authenticated,
    pub csrf: String,
}

/// The signed-in visitor, if any (an expired or revoked cookie is nobody). An account on the
/// block list gets the refusal the API gives it, as a page: the edge usually stops it before
/// any route, and this catches a session the edge could not yet tell the account of.
pub struct Viewer(pub Option<SignedIn>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) =
            gatehouse_api::auth::cookie(&parts.headers, gatehouse_api::auth::SESSION_COOKIE)
        else {
            return Ok(Self(None));
        };
        let session = state.identity.authenticate(token).await.ok().flatten();
        if let Some((entry, _)) = session
            .as_ref()
            .and_then(|s| state.edge.account_blocked(s.account.id))
        {
            let lang = Lang::of(parts);
            let error = FormError::from_api(ApiError::Blocked(entry), lang);
            let page = Page {
                lang,
                title: &error.text,
                section: Section::Home,
                path: "/",
            };
            return Err((
                StatusCode::FORBIDDEN,
                page.render(html! { p.error role="alert" { (error.text) } }),
            )
                .into_response());
        }
        Ok(Self(session.map(|session| SignedIn {
            session,
            csrf: gatehouse_api::auth::csrf_token(token),
        })))
    }
}

/// Where someone who is not signed in goes: the sign-in page, then back to `path`.
pub fn to_sign_in(path: &str) -> Response {
    let query = serde_urlencoded::to_string([("back", path)]).unwrap_or_default();
    Redirect::to(&format!("/signin?{query}")).into_response()
}
