//! The waiting room's page: a visitor booking a protected day is sent here, joins the line with
//! one button, and watches their place — before the opening that the order will be drawn at
//! 09:00 whatever time they joined; then the people ahead and an estimated wait, refreshed
//! every few seconds by the page's script (a cheap read from this node's memory); once
//! admitted, the admission goes into a cookie the booking form carries, with the time it lasts.
//! Sold out is said at once.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::routes_releases::{poll_path, session_key, ADMISSION_COOKIE};
use gatehouse_api::AppState;
use gatehouse_queue::Standing;
use maud::html;
use serde::Deserialize;

use crate::forms::{self, FormError};
use crate::i18n::{local_path, Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, Viewer};

#[derive(Deserialize, Default)]
pub struct Back {
    back: Option<String>,
}

fn page_path(id: u64, back: &str) -> String {
    let query = serde_urlencoded::to_string([("back", back)]).unwrap_or_default();
    format!("/queue/{id}?{query}")
}

/// `GET /queue/{release}?back=…`: where the visitor stands.
pub async fn show(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    Path(id): Path<u64>,
    Query(q): Query<Back>,
) -> Response {
    let back = local_path(q.back.as_deref()).to_owned();
    let path = page_path(id, &back);
    let Some(me) = viewer else {
        return to_sign_in(&path);
    };
    let t = |m: Msg| m.text(lang);
    let now = app.queue.now();
    let tz = app.service.museum_tz().clone();
    let release = app.queue.published_release(id);
    let Some(release) = release else {
        return (
            StatusCode::NOT_FOUND,
            render(lang, &path, html! { h1 { (t(Msg::NotFound)) } }),
        )
            .into_response();
    };
    let account = me.session.account.id.0;
    let status = app
        .queue
        .status(id, account, &session_key(&me.session))
        .await
        .ok()
        .flatten();
    let opens = release
        .release
        .opens_at
        .to_zoned(tz.clone())
        .strftime("%m-%d %H:%M")
        .to_string();
    let mut admission: Option<(String, i64)> = None;
    let content = html! {
        h1 { (t(Msg::QueueTitle)) }
        p.meta { (t(Msg::QueueOpensAt)) " " (opens) }
        // Holding a place, the page polls the place's own address (answered from memory, no
        // session) and reloads only when the standing changes; without a place it refreshes.
        @let poll = status.as_ref().map(|s| {
            (poll_path(id, s), s.standing.name())
        });
        div #queue-status data-refresh="3" data-poll=[poll.as_ref().map(|p| p.0.as_str())]
            data-standing=[poll.as_ref().map(|p| p.1)] role="status" aria-live="polite" {
            @match status.as_ref().map(|s| (s.standing, s.wait_secs, s.token.clone())) {
                None => {
                    p { (t(Msg::QueueLead)) }
                    form method="post" action=(format!("/queue/{id}/join")) {
                        input type="hidden" name="csrf" value=(me.csrf);
                        input type="hidden" name="back" value=(back);
                        button.button type="submit" { (t(Msg::JoinQueue)) }
                    }
                }
                Some((Standing::Waiting, _, _)) => {
                    p.big { (t(Msg::QueueJoined)) }
                    p { (t(Msg::QueueShuffled)) }
                }
                Some((Standing::InLine { ahead }, wait, _)) => {
                    p.big { (t(Msg::PeopleAhead)) " " strong data-ahead { (ahead) } }
                    @if let Some(secs) = wait { p { (t(Msg::EstimatedWait)) " " span data-wait-minutes { (secs.div_ceil(60).max(1)) } " " (t(Msg::Minutes)) } }
                    p.hint { (t(Msg::KeepPageOpen)) }
                }
                Some((Standing::Admitted { until }, _, Some(token))) => {
                    @let secs = until.duration_since(now).as_secs().max(0);
                    @let _ = admission.replace((token, secs));
                    p.big { (t(Msg::YourTurn)) " " (until.to_zoned(tz.clone()).strftime("%H:%M")) }
                    p { a.button href=(back) { (t(Msg::ContinueBooking)) } }
                }
                Some((Standing::SoldOut, _, _)) => { p.big { (t(Msg::ErrorSoldOut)) } }
                Some(_) => { p { (t(Msg::QueueDone)) } }
            }
        }
        details {
            summary { (t(Msg::QueueFairness)) }
            p { (t(Msg::QueueFairnessLead)) }
            p.meta { "SHA-256(seed) = " code { (release.commitment) } }
            @if let Some(seed) = &release.seed { p.meta { "seed = " code { (seed) } } }
        }
    };
    let mut response = render(lang, &path, content);
    if let Some((token, secs)) = admission {
        // The booking form carries the admission (HttpOnly: no script reads it).
        let cookie = format!(
            "{ADMISSION_COOKIE}={token}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={secs}"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn render(lang: Lang, path: &str, content: maud::Markup) -> Response {
    Page {
        lang,
        title: Msg::QueueTitle.text(lang),
        section: Section::Home,
        path,
    }
    .render(content)
}

/// `POST /queue/{release}/join`
pub async fn join(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    client: gatehouse_api::risk_checks::RiskClient,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    let (me, fields) =
        match forms::signed_post(&headers, viewer, &body, lang, &format!("/queue/{id}")) {
            Ok(ok) => ok,
            Err(refused) => return *refused,
        };
    let back = local_path(fields.get("back")).to_owned();
    let joined = gatehouse_api::routes_releases::join_as(&app, id, &me.session).await;
    match joined {
        Ok(_) => {
            gatehouse_api::risk_checks::joined(&app, me.session.account.id, &client);
            Redirect::to(&page_path(id, &back)).into_response()
        }
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            (
                status,
                render(
                    lang,
                    &page_path(id, &back),
                    html! { h1 { (Msg::QueueTitle.text(lang)) } p.error role="alert" { (e.text) } },
                ),
            )
                .into_response()
        }
    }
}
