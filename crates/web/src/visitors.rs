//! Frequent visitors in the personal centre: the list (masked), adding one (required fields
//! marked; the booking form links here and comes back), editing one, and deleting one. Added through the
//! API's own `add`, so the ID number is checked and counted exactly as for the API.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::wire::IdType;
use gatehouse_api::wire_identity::FrequentVisitorRequest;
use gatehouse_api::AppState;
use gatehouse_identity::MaskedVisitor;
use maud::{html, Markup};
use serde::Deserialize;

use crate::forms::{self, Field, FormError};
use crate::i18n::{local_path, Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, SignedIn, Viewer};

#[derive(Deserialize, Default)]
pub struct Back {
    back: Option<String>,
}

#[derive(Deserialize)]
struct VisitorForm {
    back: Option<String>,
    name: String,
    id_type: String,
    id_number: String,
    phone: Option<String>,
}

const ID_TYPES: [(&str, IdType, Msg); 4] = [
    ("resident_id", IdType::ResidentId, Msg::IdResident),
    ("passport", IdType::Passport, Msg::IdPassport),
    ("hk_macau_permit", IdType::HkMacauPermit, Msg::IdHkMacau),
    ("taiwan_permit", IdType::TaiwanPermit, Msg::IdTaiwan),
];

fn render(lang: Lang, path: &str, content: Markup) -> Response {
    Page {
        lang,
        title: Msg::AddVisitor.text(lang),
        section: Section::Me,
        path,
    }
    .render(content)
}

/// The list with a delete button each (for the personal centre).
pub fn list(visitors: &[MaskedVisitor], me: &SignedIn, lang: Lang) -> Markup {
    let t = |m: Msg| m.text(lang);
    html! {
        h2 { (t(Msg::Visitors)) }
        @if visitors.is_empty() { p { (t(Msg::NoVisitorsYet)) } }
        ul.rows {
            @for v in visitors {
                li {
                    span { (v.name) " · " (v.id_number) @if let Some(p) = &v.phone { " · " (p) } }
                    a href=(format!("/me/visitors/{}/edit", v.id)) aria-label=(format!("{} {}", t(Msg::Edit), v.name)) { (t(Msg::Edit)) }
                    form method="post" action=(format!("/me/visitors/{}/delete", v.id)) {
                        input type="hidden" name="csrf" value=(me.csrf);
                        button.link type="submit" aria-label=(format!("{} {}", t(Msg::Delete), v.name)) { (t(Msg::Delete)) }
                    }
                }
            }
        }
        p { a.button href="/me/visitors/new" { "+ " (t(Msg::AddVisitor)) } }
    }
}

fn form(
    lang: Lang,
    me: &SignedIn,
    back: &str,
    filled: Option<&VisitorForm>,
    error: Option<&FormError>,
    editing: Option<&str>,
) -> Markup {
    let t = |m: Msg| m.text(lang);
    let value = |f: fn(&VisitorForm) -> &str| filled.map(f).unwrap_or_default();
    let chosen = filled.map_or("resident_id", |f| f.id_type.as_str());
    html! {
        h1 { (t(if editing.is_some() { Msg::EditVisitor } else { Msg::AddVisitor })) }
        @if editing.is_some() { p { (t(Msg::EditVisitorLead)) } }
        p { (t(Msg::RequiredNote)) }
        (forms::form_error(error, &["name", "id_type", "id_number", "phone"]))
        form method="post" action=(editing.map_or("/me/visitors".to_owned(), |id| format!("/me/visitors/{id}"))) novalidate {
            input type="hidden" name="csrf" value=(me.csrf);
            input type="hidden" name="back" value=(back);
            (Field { name: "name", label: t(Msg::VisitorName), kind: "text", value: value(|f| &f.name),
                     autocomplete: "off", inputmode: None, hint: Some(t(Msg::VisitorNameHint)), required: true }.render(error, lang))
            div.field {
                label for="id_type" { (t(Msg::IdType)) " " abbr.required title=(t(Msg::Required)) aria-hidden="true" { "*" } }
                select #id_type name="id_type" required aria-required="true" {
                    @for (code, _, label) in ID_TYPES {
                        option value=(code) selected[code == chosen] { (t(label)) }
                    }
                }
            }
            (Field { name: "id_number", label: t(Msg::IdNumber), kind: "text", value: value(|f| &f.id_number),
                     autocomplete: "off", inputmode: None, hint: None, required: true }.render(error, lang))
            (Field { name: "phone", label: t(Msg::VisitorPhone), kind: "tel", value: filled.and_then(|f| f.phone.as_deref()).unwrap_or_default(),
                     autocomplete: "off", inputmode: Some("numeric"), hint: None, required: false }.render(error, lang))
            button.button type="submit" { (t(Msg::Save)) }
        }
    }
}

/// `GET /me/visitors/new?back=/…`
pub async fn new(lang: Lang, Viewer(viewer): Viewer, Query(q): Query<Back>) -> Response {
    let back = local_path(q.back.as_deref()).to_owned();
    let Some(me) = viewer else {
        return to_sign_in("/me/visitors/new");
    };
    render(
        lang,
        "/me/visitors/new",
        form(lang, &me, &back, None, None, None),
    )
}

/// `POST /me/visitors`: adds the visitor and goes back (to the booking form, or the centre).
pub async fn add(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    submit(app, lang, viewer, headers, body, None).await
}

/// `GET /me/visitors/{id}/edit`: the form again, to be filled in whole (the current values are
/// not shown in clear on a page).
pub async fn edit(lang: Lang, Viewer(viewer): Viewer, Path(id): Path<String>) -> Response {
    let Some(me) = viewer else {
        return to_sign_in("/me");
    };
    render(lang, "/me", form(lang, &me, "/me", None, None, Some(&id)))
}

/// `POST /me/visitors/{id}`: replaces the visitor's fields.
pub async fn update(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    submit(app, lang, viewer, headers, body, Some(id)).await
}

async fn submit(
    app: AppState,
    lang: Lang,
    viewer: Option<SignedIn>,
    headers: HeaderMap,
    body: Bytes,
    editing: Option<String>,
) -> Response {
    let (me, _) = match forms::signed_post(&headers, viewer, &body, lang, "/me/visitors/new") {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let filled: VisitorForm = match forms::parse(&body, lang) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                render(
                    lang,
                    "/me/visitors/new",
                    form(lang, &me, "/me", None, Some(&e), editing.as_deref()),
                ),
            )
                .into_response()
        }
    };
    let back = local_path(filled.back.as_deref()).to_owned();
    let Some((_, id_type, _)) = ID_TYPES
        .into_iter()
        .find(|(code, ..)| *code == filled.id_type)
    else {
        let e = FormError {
            field: Some("id_type".into()),
            text: Msg::ErrorInvalid.text(lang).into(),
        };
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            render(
                lang,
                "/me/visitors/new",
                form(
                    lang,
                    &me,
                    &back,
                    Some(&filled),
                    Some(&e),
                    editing.as_deref(),
                ),
            ),
        )
            .into_response();
    };
    let request = FrequentVisitorRequest {
        name: filled.name.trim().to_owned(),
        id_type,
        id_number: filled.id_number.trim().to_owned(),
        phone: filled
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    };
    match gatehouse_api::routes_me::save(&app, me.session.account.id, editing.as_deref(), request)
        .await
    {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => {
            let e = FormError::from_api(e, lang);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                render(
                    lang,
                    "/me/visitors/new",
                    form(
                        lang,
                        &me,
                        &back,
                        Some(&filled),
                        Some(&e),
                        editing.as_deref(),
                    ),
                ),
            )
                .into_response()
        }
    }
}

/// `POST /me/visitors/{id}/delete`
pub async fn delete(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (me, _) = match forms::signed_post(&headers, viewer, &body, lang, "/me") {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    match app
        .identity
        .delete_visitor(me.session.account.id, &id)
        .await
    {
        // Someone else's id, or one already gone: nothing to delete; the list shows the truth.
        Ok(()) | Err(gatehouse_identity::IdentityError::NotFound { .. }) => {
            Redirect::to("/me").into_response()
        }
        Err(e) => {
            let e = FormError::from_api(e, lang);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                render(lang, "/me", html! { p.error role="alert" { (e.text) } }),
            )
                .into_response()
        }
    }
}
