//! The cinema, as the museum runs it: theatre type (the dome, 4D…) → date → film → showing,
//! then the booking form of that showing (ticket types per visitor, the seat map, the contact
//! phone). Availability is live on every step; the theatre and date travel in the query.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_api::wire::SlotStatus;
use gatehouse_api::AppState;
use gatehouse_booking::SlotAvailability;
use gatehouse_domain::catalogue::{Product, ProductKind};
use jiff::civil::Date;
use jiff::ToSpan;
use maud::html;
use serde::Deserialize;

use crate::book::{availability, weekday, DAYS_SHOWN};
use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};

#[derive(Deserialize, Default)]
pub struct CinemaQuery {
    theatre: Option<String>,
    date: Option<String>,
}

/// A theatre type's name for people (the catalogue stores a short code).
pub fn theatre_name(code: &str, lang: Lang) -> String {
    match code {
        "dome" => Msg::TheatreDome.text(lang).to_owned(),
        "4d" => Msg::Theatre4d.text(lang).to_owned(),
        "3d" => Msg::Theatre3d.text(lang).to_owned(),
        other => other.to_owned(),
    }
}

fn films(app: &AppState) -> Vec<Product> {
    app.service
        .list_products()
        .products
        .into_iter()
        .filter(|p| p.spec.kind == ProductKind::Cinema && p.spec.theatre_type.is_some())
        .collect()
}

fn link(theatre: &str, date: Option<Date>) -> String {
    let date = date.map(|d| d.to_string());
    let mut pairs = vec![("theatre", theatre)];
    if let Some(d) = date.as_deref() {
        pairs.push(("date", d));
    }
    format!(
        "/cinema?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// `GET /cinema`, `GET /cinema?theatre=…` and `GET /cinema?theatre=…&date=…`.
pub async fn page(
    State(app): State<AppState>,
    lang: Lang,
    Query(q): Query<CinemaQuery>,
) -> Response {
    let t = |m: Msg| m.text(lang);
    let all = films(&app);
    let now = app.service.clock().now();
    let today = now.to_zoned(app.service.museum_tz().clone()).date();
    let render = |title: &str, path: &str, content| {
        Page {
            lang,
            title,
            section: Section::Home,
            path,
        }
        .render(content)
    };
    let Some(theatre) = q.theatre.as_deref() else {
        let mut theatres: Vec<&str> = all
            .iter()
            .filter_map(|p| p.spec.theatre_type.as_deref())
            .collect();
        theatres.sort_unstable();
        theatres.dedup();
        let content = html! {
            h1 { (t(Msg::KindCinema)) }
            h2 { (t(Msg::ChooseTheatre)) }
            @if theatres.is_empty() { p { (t(Msg::NoDates)) } }
            ul.choices {
                @for code in &theatres {
                    @let count = all.iter().filter(|p| p.spec.theatre_type.as_deref() == Some(*code)).count();
                    li { a.choice href=(link(code, None)) { span.when { (theatre_name(code, lang)) } span.state { (count) " " (t(Msg::FilmsCount)) } } }
                }
            }
        };
        return render(t(Msg::KindCinema), "/cinema", content);
    };
    let showing: Vec<&Product> = all
        .iter()
        .filter(|p| p.spec.theatre_type.as_deref() == Some(theatre))
        .collect();
    if showing.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            render(
                t(Msg::NotFound),
                "/cinema",
                html! { h1 { (t(Msg::NotFound)) } p { a href="/cinema" { (t(Msg::KindCinema)) } } },
            ),
        )
            .into_response();
    }
    let name = theatre_name(theatre, lang);
    let chosen = q.date.as_deref().and_then(|d| d.parse::<Date>().ok());
    let from = chosen.unwrap_or(today);
    let to = from
        .checked_add(if chosen.is_some() { 0 } else { DAYS_SHOWN - 1 }.days())
        .unwrap_or(from);
    let mut slots: Vec<(&Product, Vec<SlotAvailability>)> = Vec::new();
    for p in &showing {
        slots.push((
            p,
            app.service.slots(p.id, from, to).await.unwrap_or_default(),
        ));
    }
    let path = link(theatre, chosen);
    let content = match chosen {
        None => {
            let dates: Vec<Date> = (0..DAYS_SHOWN)
                .filter_map(|i| from.checked_add(i.days()).ok())
                .collect();
            html! {
                h1 { (name) }
                p { a href="/cinema" { (t(Msg::OtherTheatre)) } }
                h2 { (t(Msg::ChooseDate)) }
                ul.choices {
                    @for date in &dates {
                        @let of_day: Vec<&SlotAvailability> = slots.iter().flat_map(|(_, s)| s.iter()).filter(|a| a.slot.date == *date).collect();
                        @if !of_day.is_empty() {
                            @let open = of_day.iter().any(|a| SlotStatus::of(a, now) == SlotStatus::Open);
                            li { a.choice href=(link(theatre, Some(*date))) {
                                span.when { (date.strftime("%m-%d")) " " (weekday(*date, lang)) }
                                span.state { @if open { (t(Msg::Available)) } @else { (of_day.first().map(|a| availability(a, now, &app, lang)).unwrap_or_default()) } }
                            } }
                        }
                    }
                }
            }
        }
        Some(date) => html! {
            h1 { (name) }
            p { a href=(link(theatre, None)) { (t(Msg::OtherDate)) } }
            h2 { (t(Msg::ChooseFilm)) " · " (date.strftime("%m-%d")) " " (weekday(date, lang)) }
            @for (film, list) in &slots {
                section.film aria-labelledby=(format!("film-{}", film.id.0)) {
                    h3 #(format!("film-{}", film.id.0)) { (film.spec.film.as_deref().unwrap_or(&film.spec.name)) }
                    @if list.is_empty() { p { (t(Msg::NoDates)) } }
                    ul.choices {
                        @for a in list {
                            @let label = format!("{}–{}", a.slot.start.strftime("%H:%M"), a.slot.end.strftime("%H:%M"));
                            li {
                                @if SlotStatus::of(a, now) == SlotStatus::Open {
                                    a.choice href=(format!("/book/{}/slot/{}", film.id.0, a.slot.id.0)) {
                                        span.when { (label) } span.state { (availability(a, now, &app, lang)) }
                                    }
                                } @else {
                                    div.choice.unavailable { span.when { (label) } span.state { (availability(a, now, &app, lang)) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    };
    render(&name, &path, content)
}
