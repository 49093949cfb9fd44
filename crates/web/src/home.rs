//! The home page: the entry tickets first (the museum's main booking), then the featured halls
//! and activities, then the films now showing, each card leading straight into booking it.

use axum::extract::State;
use axum::response::Response;
use gatehouse_api::AppState;
use gatehouse_domain::catalogue::{Product, ProductKind};
use maud::{html, Markup};

use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};

/// The first characters of an introduction shown on a card.
const EXCERPT_CHARS: usize = 80;

fn kind_label(kind: ProductKind) -> Msg {
    match kind {
        ProductKind::Entry => Msg::KindEntry,
        ProductKind::Hall => Msg::KindHall,
        ProductKind::Activity => Msg::KindActivity,
        ProductKind::Cinema => Msg::KindCinema,
    }
}

fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

fn card(p: &Product, lang: Lang, action: Msg) -> Markup {
    let t = |m: Msg| m.text(lang);
    let heading = format!("product-{}", p.id.0);
    html! {
        li.card aria-labelledby=(heading) {
            p.kind { (t(kind_label(p.spec.kind))) }
            h3 #(heading) { (p.spec.name) }
            @if let (Some(theatre), Some(film)) = (&p.spec.theatre_type, &p.spec.film) {
                p.meta { (crate::cinema::theatre_name(theatre, lang)) " · " (film) }
            }
            @if !p.spec.introduction.is_empty() {
                p { (excerpt(&p.spec.introduction)) }
            }
            a.button href=(format!("/book/{}", p.id.0)) aria-describedby=(heading) { (t(action)) }
        }
    }
}

fn section(title: Msg, products: &[&Product], lang: Lang, action: Msg) -> Markup {
    let id = format!("{title:?}").to_lowercase();
    html! {
        @if !products.is_empty() {
            section aria-labelledby=(id) {
                h2 #(id) { (title.text(lang)) }
                ul.cards {
                    @for p in products { (card(p, lang, action)) }
                }
            }
        }
    }
}

pub async fn page(State(app): State<AppState>, lang: Lang) -> Response {
    let t = |m: Msg| m.text(lang);
    let products = app.service.list_products().products;
    let of = |kinds: &[ProductKind], featured_only: bool| -> Vec<&Product> {
        products
            .iter()
            .filter(|p| kinds.contains(&p.spec.kind) && (p.spec.featured || !featured_only))
            .collect()
    };
    let entry = of(&[ProductKind::Entry], false);
    let halls = of(&[ProductKind::Hall, ProductKind::Activity], true);
    let films = of(&[ProductKind::Cinema], true);
    let content = html! {
        section.hero aria-labelledby="home-title" {
            h1 #home-title { (t(Msg::HomeTitle)) }
            p { (t(Msg::HomeLead)) }
        }
        (section(Msg::EntryTickets, &entry, lang, Msg::BookEntry))
        (section(Msg::FeaturedHalls, &halls, lang, Msg::Book))
        (section(Msg::FeaturedFilms, &films, lang, Msg::Book))
        @if !films.is_empty() { p { a.button.secondary href="/cinema" { (t(Msg::ByTheatre)) } } }
        @if entry.is_empty() && halls.is_empty() && films.is_empty() {
            p { (t(Msg::NothingFeatured)) }
        }
    };
    Page {
        lang,
        title: t(Msg::HomeTitle),
        section: Section::Home,
        path: "/",
    }
    .render(content)
}
