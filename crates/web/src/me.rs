//! The personal centre: who is signed in, and signing out. Frequent visitors, consents, the
//! data-subject rights and any no-show lock join it as the app grows.

use axum::response::Response;
use maud::html;

use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, Viewer};

/// `GET /me`
pub async fn page(lang: Lang, Viewer(viewer): Viewer) -> Response {
    let Some(me) = viewer else {
        return to_sign_in("/me");
    };
    let t = |m: Msg| m.text(lang);
    let content = html! {
        h1 { (t(Msg::MeTitle)) }
        p { (t(Msg::SignedInAs)) " " strong { (me.session.account.display_name) } }
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
