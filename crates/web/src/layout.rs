//! The page shell: language, stylesheet and script, the header with the museum's name, the
//! navigation and the language switch, a slot above the content for notices (the waiting room
//! will show its banner there), the content, and the footer. Mobile first: one column on a
//! phone, wider on a desktop; a skip link and landmarks for screen readers.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::assets;
use crate::i18n::{Lang, Msg};

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Orders,
    Me,
}

pub struct Page<'a> {
    pub lang: Lang,
    pub title: &'a str,
    pub section: Section,
    /// The path of this page (for the language switch to come back to).
    pub path: &'a str,
}

impl Page<'_> {
    /// The page with the visitor's navigation.
    pub fn render(&self, content: Markup) -> Response {
        let entries = [
            (Section::Home, "/", Msg::NavHome),
            (Section::Orders, "/orders", Msg::NavOrders),
            (Section::Me, "/me", Msg::NavMe),
        ];
        let nav: Vec<(&str, &str, bool)> = entries
            .iter()
            .map(|(section, href, label)| (*href, label.text(self.lang), *section == self.section))
            .collect();
        self.render_nav(Msg::NavHome.text(self.lang), "/", &nav, content)
    }

    /// The page with a navigation of `(href, label, current)` entries, named `nav_label` for
    /// screen readers; the museum's name leads to `home`.
    pub fn render_nav(
        &self,
        nav_label: &str,
        home: &str,
        nav: &[(&str, &str, bool)],
        content: Markup,
    ) -> Response {
        let t = |m: Msg| m.text(self.lang);
        let other = self.lang.other();
        let switch = format!(
            "/lang?to={}&back={}",
            match other {
                Lang::Zh => "zh",
                Lang::En => "en",
            },
            self.path
        );
        let markup = html! {
            (DOCTYPE)
            html lang=(self.lang.tag()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · " (t(Msg::MuseumName)) }
                    link rel="stylesheet" href=(assets::css_path());
                    script src=(assets::js_path()) defer {}
                }
                body {
                    a.skip href="#main" { (t(Msg::SkipToContent)) }
                    header.site {
                        a.brand href=(home) { (t(Msg::MuseumName)) }
                        nav aria-label=(nav_label) {
                            ul {
                                @for (href, label, current) in nav {
                                    li {
                                        @if *current {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        a.lang href=(switch) hreflang=(other.tag()) lang=(other.tag()) aria-label=(t(Msg::LanguageLabel)) { (t(Msg::Language)) }
                    }
                    div #notices role="status" aria-live="polite" {}
                    main #main tabindex="-1" {
                        (content)
                    }
                    footer.site { p { (t(Msg::Footer)) } }
                }
            }
        };
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // Pages may show personal data (masked, but still a person's): never kept in a cache.
                (header::CACHE_CONTROL, "no-store"),
                (header::VARY, "Cookie, Accept-Language"),
            ],
            markup.into_string(),
        )
            .into_response()
    }
}
