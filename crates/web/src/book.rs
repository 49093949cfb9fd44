//! Booking entry, hall and activity tickets, step by step as the museum runs them: the product
//! and its dates (live: open, few left, sold out, opens at 09:00 on …), the slots of a date,
//! then one form in the museum's order — ticket type, the visiting notice to accept, the
//! visitors (from the frequent-visitor list), the contact phone — whose submit confirms and
//! holds the tickets; the order page then takes payment. The steps before the form carry only
//! the product, date and slot in their URLs; everything personal travels in the form body. The
//! order is placed through the API's own `place` (frequent visitors opened, ID numbers counted
//! by traffic protection), so the pages and the API refuse the same things.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::wire::{PlaceOrderRequest, SlotStatus, TicketRequest};
use gatehouse_api::AppState;
use gatehouse_booking::{ProductDetails, SlotAvailability};
use gatehouse_domain::catalogue::{ProductId, ProductKind, SlotId};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use maud::{html, Markup};
use serde::Deserialize;

use crate::forms::{self, Field, FormError};
use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, SignedIn, Viewer};

/// How many days of dates the first step shows.
pub(crate) const DAYS_SHOWN: i64 = 7;
/// "Few left" below this share of a slot's capacity (or 20 tickets, whichever is more).
const FEW_LEFT_PERCENT: u32 = 10;

#[derive(Deserialize, Default)]
pub struct DateQuery {
    date: Option<String>,
}

fn render(lang: Lang, title: &str, path: &str, content: Markup) -> Response {
    Page {
        lang,
        title,
        section: Section::Home,
        path,
    }
    .render(content)
}

fn not_found(lang: Lang) -> Response {
    (
        StatusCode::NOT_FOUND,
        render(lang, Msg::NotFound.text(lang), "/", html! { h1 { (Msg::NotFound.text(lang)) } p { a href="/" { (Msg::NavHome.text(lang)) } } }),
    )
        .into_response()
}

/// The product's page heading and, after the first step, the way back to it.
fn product_header(d: &ProductDetails, lang: Lang) -> Markup {
    let p = &d.product.spec;
    html! {
        h1 { (p.name) }
        @if let (Some(theatre), Some(film)) = (&p.theatre_type, &p.film) { p.meta { (crate::cinema::theatre_name(theatre, lang)) " · " (film) } }
    }
}

fn few_left(a: &SlotAvailability) -> bool {
    a.remaining > 0 && a.remaining <= (a.slot.capacity * FEW_LEFT_PERCENT / 100).max(20)
}

/// What a slot or a date shows about its availability.
pub(crate) fn availability(
    a: &SlotAvailability,
    now: Timestamp,
    app: &AppState,
    lang: Lang,
) -> String {
    let t = |m: Msg| m.text(lang);
    match SlotStatus::of(a, now) {
        SlotStatus::Open if few_left(a) => format!("{} {}", t(Msg::FewLeft), a.remaining),
        SlotStatus::Open => format!("{} {}", t(Msg::Remaining), a.remaining),
        SlotStatus::SoldOut => t(Msg::SoldOut).to_owned(),
        SlotStatus::Closed => t(Msg::Closed).to_owned(),
        SlotStatus::NotYetOpen => {
            let at = a.window.opens_at.to_zoned(app.service.museum_tz().clone());
            format!("{} {}", t(Msg::OpensAt), at.strftime("%m-%d %H:%M"))
        }
    }
}

/// Step 1 and 2: `GET /book/{product}` (its dates) and `GET /book/{product}?date=…` (the
/// slots of that date).
pub async fn product(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    Query(q): Query<DateQuery>,
) -> Response {
    let t = |m: Msg| m.text(lang);
    let Ok(details) = app.service.product_details(ProductId(id)).await else {
        return not_found(lang);
    };
    let now = app.service.clock().now();
    let today = now.to_zoned(app.service.museum_tz().clone()).date();
    let chosen = q.date.as_deref().and_then(|d| d.parse::<Date>().ok());
    let from = chosen.unwrap_or(today);
    let to = from
        .checked_add(if chosen.is_some() { 0 } else { DAYS_SHOWN - 1 }.days())
        .unwrap_or(from);
    let slots = app
        .service
        .slots(ProductId(id), from, to)
        .await
        .unwrap_or_default();
    let path = format!("/book/{id}");
    let content = match chosen {
        None => {
            let mut dates: Vec<(Date, Vec<&SlotAvailability>)> = Vec::new();
            for a in &slots {
                match dates.last_mut() {
                    Some((d, list)) if *d == a.slot.date => list.push(a),
                    _ => dates.push((a.slot.date, vec![a])),
                }
            }
            html! {
                (product_header(&details, lang))
                @if !details.product.spec.introduction.is_empty() { p.intro { (details.product.spec.introduction) } }
                h2 { (t(Msg::ChooseDate)) }
                @if dates.is_empty() { p { (t(Msg::NoDates)) } }
                ul.choices {
                    @for (date, list) in &dates {
                        @let open = list.iter().any(|a| SlotStatus::of(a, now) == SlotStatus::Open);
                        @let summary = if open {
                            t(Msg::Available).to_owned()
                        } else {
                            list.first().map(|a| availability(a, now, &app, lang)).unwrap_or_default()
                        };
                        li {
                            a.choice href=(format!("{path}?date={date}")) {
                                span.when { (date.strftime("%m-%d")) " " (weekday(*date, lang)) }
                                span.state { (summary) }
                            }
                        }
                    }
                }
            }
        }
        Some(date) => html! {
            (product_header(&details, lang))
            p { a href=(path) { (t(Msg::OtherDate)) } }
            h2 { (t(Msg::ChooseSlot)) " · " (date.strftime("%m-%d")) " " (weekday(date, lang)) }
            @if slots.is_empty() { p { (t(Msg::NoDates)) } }
            ul.choices {
                @for a in &slots {
                    @let label = format!("{}–{}", a.slot.start.strftime("%H:%M"), a.slot.end.strftime("%H:%M"));
                    li {
                        @if SlotStatus::of(a, now) == SlotStatus::Open {
                            a.choice href=(format!("{path}/slot/{}", a.slot.id.0)) {
                                span.when { (label) }
                                span.state { (availability(a, now, &app, lang)) }
                            }
                        } @else {
                            div.choice.unavailable {
                                span.when { (label) }
                                span.state { (availability(a, now, &app, lang)) }
                            }
                        }
                    }
                }
            }
        },
    };
    render(lang, &details.product.spec.name, &path, content)
}

pub(crate) fn weekday(date: Date, lang: Lang) -> &'static str {
    let i = date.weekday().to_monday_zero_offset();
    let zh = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
    let en = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let names = match lang {
        Lang::Zh => zh,
        Lang::En => en,
    };
    names
        .get(usize::from(i.unsigned_abs()))
        .copied()
        .unwrap_or("")
}

/// What the booking form was filled with (to show it again beside an error).
#[derive(Default)]
struct Filled {
    /// Each visitor's ticket type, as `visitor:type` pairs (one select per visitor); a bare
    /// type applies to every visitor without one of their own.
    ticket_types: Vec<String>,
    accepted: bool,
    visitors: Vec<String>,
    seats: Vec<String>,
    contact_phone: String,
}

/// The ticket type chosen for visitor `id` (their own, else one for everyone).
fn type_of(filled: &Filled, id: &str) -> Option<i64> {
    let own = filled.ticket_types.iter().find_map(|v| {
        v.split_once(':')
            .filter(|(visitor, _)| *visitor == id)
            .and_then(|(_, tt)| tt.parse().ok())
    });
    own.or_else(|| {
        filled
            .ticket_types
            .iter()
            .find(|v| !v.contains(':'))
            .and_then(|v| v.parse().ok())
    })
}

/// Where an error from placing the order belongs on the form.
fn form_field(field: Option<&str>) -> Option<String> {
    let f = field?;
    Some(
        if f == "contact_phone" {
            "contact_phone"
        } else if f == "notice_version" {
            "notice"
        } else if f.starts_with("tickets") && f.ends_with("seat") {
            "seats"
        } else if f.starts_with("tickets") {
            "visitors"
        } else {
            return None;
        }
        .to_owned(),
    )
}

async fn booking_form(
    app: &AppState,
    lang: Lang,
    me: &SignedIn,
    details: &ProductDetails,
    a: &SlotAvailability,
    filled: &Filled,
    error: Option<&FormError>,
) -> Markup {
    let t = |m: Msg| m.text(lang);
    let visitors = app
        .identity
        .list_visitors(me.session.account.id)
        .await
        .unwrap_or_default();
    let id = details.product.id.0;
    let slot_path = format!("/book/{id}/slot/{}", a.slot.id.0);
    let add_visitor = format!(
        "/me/visitors/new?{}",
        serde_urlencoded::to_string([("back", slot_path.as_str())]).unwrap_or_default()
    );
    let error_for = |name: &str| error.filter(|e| e.field.as_deref() == Some(name));
    let notice = details.notice.as_ref();
    let key = form_key();
    html! {
        (product_header(details, lang))
        p.meta {
            (a.slot.date.strftime("%Y-%m-%d")) " " (weekday(a.slot.date, lang)) " "
            (a.slot.start.strftime("%H:%M")) "–" (a.slot.end.strftime("%H:%M")) " · "
            (availability(a, app.service.clock().now(), app, lang))
        }
        (forms::form_error(error, &["notice", "visitors", "contact_phone"]))
        form method="post" action=(slot_path) novalidate {
            input type="hidden" name="csrf" value=(me.csrf);
            input type="hidden" name="key" value=(key);
            input type="hidden" name="notice_version" value=(notice.map_or(0, |n| n.version));
            section.step aria-labelledby="types-heading" {
                h2 #types-heading { "1. " (t(Msg::TicketType)) }
                ul.rows {
                    @for tt in &details.ticket_types { li { span { (tt.name) } span { (price(tt.price_fen, lang)) } } }
                }
                p.hint { (t(Msg::TicketTypePerVisitor)) }
            }
            fieldset aria-describedby=[error_for("notice").map(|_| "notice-error")] {
                legend { "2. " (t(Msg::Notice)) }
                @if let Some(n) = notice {
                    div.notice tabindex="0" role="region" aria-label=(t(Msg::Notice)) {
                        @for line in n.text.lines() { p { (line) } }
                    }
                }
                div.option {
                    input type="checkbox" name="accept_notice" id="accept_notice" value="yes" required checked[filled.accepted]
                        aria-invalid=[error_for("notice").map(|_| "true")];
                    label for="accept_notice" { (t(Msg::AcceptNotice)) }
                }
                @if let Some(e) = error_for("notice") { p.error #notice-error { (e.text) } }
            }
            fieldset aria-describedby=[error_for("visitors").map(|_| "visitors-error")] {
                legend { "3. " (t(Msg::VisitorsAndTypes)) }
                @if visitors.is_empty() { p { (t(Msg::NoVisitorsYet)) } }
                @for v in &visitors {
                    @let chosen = type_of(filled, &v.id);
                    div.visitor {
                        div.option {
                            input type="checkbox" name="visitor" id=(format!("v-{}", v.id)) value=(v.id) checked[filled.visitors.contains(&v.id)];
                            label for=(format!("v-{}", v.id)) { (v.name) " · " (v.id_number) }
                        }
                        select name="ticket_type" aria-label=(format!("{} · {}", t(Msg::TicketType), v.name)) {
                            @for (i, tt) in details.ticket_types.iter().enumerate() {
                                option value=(format!("{}:{}", v.id, tt.id.0)) selected[chosen.map_or(i == 0, |c| c == tt.id.0)] {
                                    (tt.name) " · " (price(tt.price_fen, lang))
                                }
                            }
                        }
                    }
                }
                p { a href=(add_visitor) { "+ " (t(Msg::AddVisitor)) } }
                @if let Some(e) = error_for("visitors") { p.error #visitors-error { (e.text) } }
            }
            @if details.product.spec.kind == ProductKind::Cinema {
                (seat_picker(app, lang, a, filled, error_for("seats")))
            }
            fieldset {
                legend { (if details.product.spec.kind == ProductKind::Cinema { "5. " } else { "4. " }) (t(Msg::ContactPhone)) }
                (Field { name: "contact_phone", label: t(Msg::PhoneLabel), kind: "tel", value: &filled.contact_phone,
                         autocomplete: "tel-national", inputmode: Some("numeric"), hint: Some(t(Msg::ContactPhoneHint)), required: true }
                    .render(error, lang))
            }
            button.button type="submit" { (t(Msg::ConfirmBooking)) }
        }
    }
}

/// The showing's seat map: a checkbox per free seat (its row and number read out), taken and
/// blocked seats shown but not choosable, aisles as gaps. Wide rows scroll inside their box so
/// the page stays the width of a phone.
fn seat_picker(
    app: &AppState,
    lang: Lang,
    a: &SlotAvailability,
    filled: &Filled,
    error: Option<&FormError>,
) -> Markup {
    use gatehouse_domain::seats::Cell;
    let t = |m: Msg| m.text(lang);
    let Ok(seats) = app.service.showing_seats(a.slot.id) else {
        return html! {};
    };
    let taken: std::collections::HashSet<&str> = seats.taken.iter().map(String::as_str).collect();
    html! {
        fieldset aria-describedby=[error.map(|_| "seats-error")] {
            legend { "4. " (t(Msg::Seats)) }
            p.hint { (t(Msg::SeatsHint)) }
            p.screen aria-hidden="true" { (t(Msg::Screen)) }
            div.seatmap role="group" aria-label=(t(Msg::Seats)) tabindex="0" {
                @for row in &seats.map.rows {
                    div.seatrow {
                        span.rowlabel aria-hidden="true" { (row.label) }
                        @for cell in &row.cells {
                            @match cell {
                                Cell::Aisle => { span.gap {} }
                                Cell::Seat { label, blocked, .. } => {
                                    @let free = !blocked && !taken.contains(label.as_str());
                                    @let number = label.trim_start_matches(row.label.as_str());
                                    label.seat title=(label) {
                                        input type="checkbox" name="seat" value=(label) disabled[!free]
                                            checked[filled.seats.contains(label)]
                                            aria-label=(format!("{} {} {} {}", t(Msg::Row), row.label, t(Msg::SeatNumber), number));
                                        span aria-hidden="true" { (number) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(e) = error { p.error #seats-error { (e.text) } }
        }
    }
}

fn price(fen: u32, lang: Lang) -> String {
    if fen == 0 {
        Msg::Free.text(lang).to_owned()
    } else {
        format!("¥{}.{:02}", fen / 100, fen % 100)
    }
}

/// An idempotency key for one rendering of the form: submitting it twice places one order.
fn form_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn slot_of(app: &AppState, id: i64, slot: i64) -> Option<(ProductDetails, SlotAvailability)> {
    let details = app.service.product_details(ProductId(id)).await.ok()?;
    let a = app.service.slot_availability(SlotId(slot)).ok()?;
    (a.slot.product_id == details.product.id).then_some((details, a))
}

/// Steps 3 to 6: `GET /book/{product}/slot/{slot}`, the form (signed in).
pub async fn form(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path((id, slot)): Path<(i64, i64)>,
) -> Response {
    let path = format!("/book/{id}/slot/{slot}");
    let Some(me) = viewer else {
        return to_sign_in(&path);
    };
    let Some((details, a)) = slot_of(&app, id, slot).await else {
        return not_found(lang);
    };
    // A protected day: through the waiting room first, unless admitted.
    if let Some(release) = gatehouse_api::routes_releases::protected_now(&app, slot) {
        if gatehouse_api::routes_releases::check_admission(&app, &me.session, &headers, &release)
            .await
            .is_err()
        {
            let query = serde_urlencoded::to_string([("back", path.as_str())]).unwrap_or_default();
            return Redirect::to(&format!("/queue/{}?{query}", release.id)).into_response();
        }
    }
    // Risk control reads how long after its page a booking is submitted.
    app.risk.viewed(me.session.account.id);
    let content = booking_form(&app, lang, &me, &details, &a, &Filled::default(), None).await;
    render(lang, &details.product.spec.name, &path, content)
}

/// `POST /book/{product}/slot/{slot}`: places the order and goes to it, or shows the form
/// again with the error beside its field.
pub async fn submit(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Path((id, slot)): Path<(i64, i64)>,
    body: Bytes,
) -> Response {
    let path = format!("/book/{id}/slot/{slot}");
    let (me, fields) = match forms::signed_post(&headers, viewer, &body, lang, &path) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let Some((details, a)) = slot_of(&app, id, slot).await else {
        return not_found(lang);
    };
    let value = |name: &str| fields.get(name);
    let filled = Filled {
        ticket_types: fields.all("ticket_type"),
        accepted: value("accept_notice") == Some("yes"),
        visitors: fields.all("visitor"),
        seats: fields.all("seat"),
        contact_phone: value("contact_phone").unwrap_or_default().trim().to_owned(),
    };
    let error = match check(&filled, lang) {
        Err(e) => e,
        Ok(types) => {
            let request = PlaceOrderRequest {
                slot_id: slot,
                notice_version: value("notice_version")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                contact_phone: filled.contact_phone.clone(),
                tickets: filled
                    .visitors
                    .iter()
                    .zip(types)
                    .enumerate()
                    .map(|(i, (v, ticket_type))| TicketRequest {
                        ticket_type_id: ticket_type,
                        visitor: None,
                        visitor_id: Some(v.clone()),
                        seat: filled.seats.get(i).cloned(),
                    })
                    .collect(),
            };
            let key = value("key")
                .filter(|k| k.len() <= 64)
                .map(|k| format!("web-{k}"));
            let acting = gatehouse_api::routes_orders::Acting {
                session: &me.session,
                headers: &headers,
                extensions: &extensions,
                method: &axum::http::Method::GET,
                path: &path,
            };
            match gatehouse_api::routes_orders::place(&app, &acting, request, key).await {
                Ok(order) => {
                    return Redirect::to(&format!("/orders/{}", order.order.id.0)).into_response()
                }
                // Risk control asks for a challenge: its page, which comes back to this form.
                Err(gatehouse_api::error::ApiError::RiskChallenge(page)) => return *page,
                Err(e) => {
                    let mut e = FormError::from_api(e, lang);
                    e.field = form_field(e.field.as_deref());
                    e
                }
            }
        }
    };
    let content = booking_form(&app, lang, &me, &details, &a, &filled, Some(&error)).await;
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        render(lang, &details.product.spec.name, &path, content),
    )
        .into_response()
}

/// What the form must have before an order is tried: the notice accepted, a visitor, and a
/// ticket type for each (which it answers, in the visitors' order).
fn check(filled: &Filled, lang: Lang) -> Result<Vec<i64>, FormError> {
    let refuse = |field: &str, m: Msg| FormError {
        field: Some(field.into()),
        text: m.text(lang).into(),
    };
    if !filled.accepted {
        return Err(refuse("notice", Msg::MustAcceptNotice));
    }
    if filled.visitors.is_empty() {
        return Err(refuse("visitors", Msg::ChooseVisitors));
    }
    if !filled.seats.is_empty() && filled.seats.len() != filled.visitors.len() {
        return Err(refuse("seats", Msg::SeatsMatchVisitors));
    }
    filled
        .visitors
        .iter()
        .map(|v| type_of(filled, v).ok_or_else(|| refuse("visitors", Msg::ChooseTicketType)))
        .collect()
}
