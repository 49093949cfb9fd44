//! Traffic protection's challenge page in the web app's own look and the visitor's language:
//! the edge asks for it (through [`gatehouse_edge::ChallengePage`]) when a browser's request
//! needs a pass, so a visitor sent to prove they are not a script sees the museum's header,
//! stylesheet and words, not a foreign page. It keeps the ids the edge's solver script reads
//! and carries the pages' security headers.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, PreEscaped};

use crate::headers;
use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};

struct Challenge;

impl gatehouse_edge::ChallengePage for Challenge {
    fn render(&self, path: &str, request: &HeaderMap, challenge_json: &str, sms: bool) -> Response {
        let lang = Lang::of_headers(request);
        let t = |m: Msg| m.text(lang);
        let content = html! {
            h1 { (t(Msg::ChallengeHeading)) }
            p { (t(Msg::ChallengeLead)) }
            progress #gh-progress max="1" value="0" aria-label=(t(Msg::ChallengeTitle)) {}
            p #gh-status role="status" data-verifying=(t(Msg::ChallengeAlmost)) data-failed=(t(Msg::ChallengeFailed)) {
                (t(Msg::ChallengeWorking))
            }
            noscript { p { (t(Msg::ChallengeNoScript)) } }
            details #gh-sms hidden[!sms] {
                summary { (t(Msg::ChallengeSms)) }
                form #gh-sms-phone {
                    div.field {
                        label for="gh-phone" { (t(Msg::PhoneLabel)) }
                        input #gh-phone name="phone" type="tel" inputmode="numeric" autocomplete="tel" required;
                    }
                    button.button type="submit" { (t(Msg::SendCode)) }
                }
                form #gh-sms-code hidden {
                    div.field {
                        label for="gh-code" { (t(Msg::CodeLabel)) }
                        input #gh-code name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required;
                    }
                    button.button type="submit" { (t(Msg::Verify)) }
                }
                p.error #gh-sms-error role="alert" {}
            }
            // Data, not script (the CSP runs none inline): the edge made it safe to embed.
            script type="application/json" #gh-challenge { (PreEscaped(challenge_json)) }
            script src=(gatehouse_edge::challenge::SOLVER_PATH) {}
        };
        let page = Page {
            lang,
            title: t(Msg::ChallengeTitle),
            section: Section::Home,
            path,
        };
        let mut response = page.render_nav(t(Msg::NavHome), "/", &[], content);
        headers::apply(response.headers_mut());
        response
    }
}

/// The challenge page for [`gatehouse_edge::Edge::use_challenge_page`].
pub fn page() -> Arc<dyn gatehouse_edge::ChallengePage> {
    Arc::new(Challenge)
}
