//! The personal centre: who is signed in, and signing out. Frequent visitors, consents, the
//! data-subject rights and any no-show lock join it as the app grows.

use axum::extract::State;
use axum::response::Response;
use gatehouse_api::AppState;
use maud::html;

use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, Viewer};

/// `GET /me`
pub async fn page(State(app): State<AppState>, lang: Lang, Viewer(viewer): Viewer) -> Response {
    let Some(me) = viewer else {
        return to_sign_in("/me");
    };
    let t = |m: Msg| m.text(lang);
    let visitors = app
        .identity
        .list_visitors(me.session.account.id)
        .await
        .unwrap_or_default();
    let content = html! {
        h1 { (t(Msg::MeTitle)) }
        p { (t(Msg::SignedInAs)) " " strong { (me.session.account.display_name) } }
        (crate::visitors::list(&visitors, &me, lang))
        form method="post" action="/signout" {
            input type="hidden" name="csrf" value=(me.csrf);
            button.button.secondary type="submit" { (t(Msg::SignOut)) }
        }
    };
    Page {
        lang,
        title: t(Msg::MeTitle),
        section: Section::Me,
        path: "/me",
    }
    .render(content)
}
