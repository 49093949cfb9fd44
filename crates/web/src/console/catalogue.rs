//! The catalogue for staff: every product, and per product its booking window and limits
//! (edited in place), ticket types (added), the next two weeks of slots with their capacity
//! (changed, never below what is taken) and new slots, the visiting notice (a new version
//! published), and the seat maps of the theatres. Changes go through the booking service,
//! which validates them as it does for the API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::auth::perm;
use gatehouse_api::AppState;
use gatehouse_booking::ProductDetails;
use gatehouse_domain::access::Permission;
use gatehouse_domain::catalogue::{
    NewSlot, ProductId, ProductKind, ProductRules, ProductSpec, SlotId,
};
use jiff::ToSpan;
use maud::{html, Markup};

use super::text::Cm;
use super::{Area, Staff, StaffForm};
use crate::forms::{self, Field, Fields, FormError};
use crate::i18n::{Lang, Msg};

/// How many days of slots a product's page lists.
const DAYS_LISTED: i64 = 14;

fn kind_label(kind: ProductKind) -> Msg {
    match kind {
        ProductKind::Entry => Msg::KindEntry,
        ProductKind::Hall => Msg::KindHall,
        ProductKind::Activity => Msg::KindActivity,
        ProductKind::Cinema => Msg::KindCinema,
    }
}

/// `GET /staff/catalogue`
pub async fn list(State(app): State<AppState>, lang: Lang, staff: Staff) -> Response {
    if let Some(refused) = staff.refuses(Permission::CatalogueManage, lang) {
        return refused;
    }
    list_page(&app, &staff, lang, None)
}

const KINDS: [ProductKind; 4] = [
    ProductKind::Entry,
    ProductKind::Hall,
    ProductKind::Activity,
    ProductKind::Cinema,
];

fn list_page(app: &AppState, staff: &Staff, lang: Lang, error: Option<&FormError>) -> Response {
    let t = |m: Cm| m.text(lang);
    let products = app.service.list_products().products;
    let maps = app.service.seat_maps();
    let content = html! {
        h1 { (t(Cm::Products)) }
        ul.cards {
            @for p in &products {
                li.card {
                    p.kind { (kind_label(p.spec.kind).text(lang)) @if p.spec.featured { " · " (t(Cm::Featured)) } }
                    h2 { a href=(format!("/staff/catalogue/{}", p.id.0)) { (p.spec.name) } }
                    @if let (Some(theatre), Some(film)) = (&p.spec.theatre_type, &p.spec.film) { p.meta { (theatre) " · " (film) } }
                }
            }
        }
        form method="post" action="/staff/catalogue" novalidate {
            fieldset {
                legend { (t(Cm::NewProduct)) }
                (forms::form_error(error, &["kind", "name", "introduction", "theatre_type", "film"]))
                input type="hidden" name="csrf" value=(staff.0.csrf);
                div.field {
                    label for="kind" { (t(Cm::Kind)) }
                    select #kind name="kind" {
                        @for kind in KINDS { option value=(kind.as_str()) { (kind_label(kind).text(lang)) } }
                    }
                }
                (Field { name: "name", label: t(Cm::Name), kind: "text", value: "", autocomplete: "off", inputmode: None, hint: None, required: true }.render(error, lang))
                div.field {
                    label for="introduction" { (t(Cm::Introduction)) }
                    textarea #introduction name="introduction" rows="3" {}
                }
                (Field { name: "theatre_type", label: t(Cm::TheatreType), kind: "text", value: "", autocomplete: "off", inputmode: None, hint: None, required: false }.render(error, lang))
                (Field { name: "film", label: t(Cm::Film), kind: "text", value: "", autocomplete: "off", inputmode: None, hint: None, required: false }.render(error, lang))
                div.option {
                    input #featured type="checkbox" name="featured" value="on";
                    label for="featured" { (t(Cm::FeaturedLabel)) }
                }
                button.button.secondary type="submit" { (t(Cm::NewProduct)) }
            }
        }
        h2 { (t(Cm::SeatMaps)) }
        @if maps.is_empty() { p { (t(Cm::NoSeatMaps)) } }
        ul.rows {
            @for (theatre, map) in &maps {
                li {
                    span { (theatre) " · " (map.sellable()) " " (t(Cm::SeatsCount)) }
                    a href=(format!("/staff/seat-maps?{}", serde_urlencoded::to_string([("theatre", theatre.as_str())]).unwrap_or_default())) { (t(Cm::Edit)) }
                }
            }
        }
        p { a href="/staff/seat-maps" { "+ " (t(Cm::NewSeatMap)) } }
    };
    staff.page(
        lang,
        Area::Catalogue,
        t(Cm::Products),
        "/staff/catalogue",
        content,
    )
}

/// `POST /staff/catalogue`: a new product with the default booking rules (edited on its page).
pub async fn create(
    State(app): State<AppState>,
    lang: Lang,
    StaffForm { staff, fields, .. }: StaffForm<perm::CatalogueManage>,
) -> Response {
    let given = |name: &str| {
        fields
            .get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let Some(kind) = fields.get("kind").and_then(ProductKind::parse) else {
        let e = FormError {
            field: Some("kind".into()),
            text: Msg::ErrorForm.text(lang).to_owned(),
        };
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            list_page(&app, &staff, lang, Some(&e)),
        )
            .into_response();
    };
    let spec = ProductSpec {
        kind,
        name: given("name").unwrap_or_default(),
        introduction: given("introduction").unwrap_or_default(),
        theatre_type: given("theatre_type"),
        film: given("film"),
        featured: fields.get("featured") == Some("on"),
        rules: ProductRules::default(),
    };
    match app.service.create_product(spec).await {
        Ok(p) => Redirect::to(&format!("/staff/catalogue/{}", p.id.0)).into_response(),
        Err(e) => {
            let e = FormError::from_api(e, lang);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                list_page(&app, &staff, lang, Some(&e)),
            )
                .into_response()
        }
    }
}

/// Which form an error belongs to, so it shows beside that form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Rules,
    TicketType,
    Slot,
    Capacity(i64),
    Notice,
}

fn number(label: &str, name: &str, value: &str, error: Option<&FormError>, lang: Lang) -> Markup {
    Field {
        name,
        label,
        kind: "text",
        value,
        autocomplete: "off",
        inputmode: Some("numeric"),
        hint: None,
        required: true,
    }
    .render(error, lang)
}

async fn product_page(
    app: &AppState,
    staff: &Staff,
    d: &ProductDetails,
    lang: Lang,
    error: Option<(Form, &FormError)>,
) -> Markup {
    let t = |m: Cm| m.text(lang);
    let id = d.product.id.0;
    let r = &d.product.spec.rules;
    let err = |form: Form| error.filter(|(f, _)| *f == form).map(|(_, e)| e);
    let today = app.gates.today();
    let slots = app
        .service
        .slots(
            d.product.id,
            today,
            today.saturating_add(DAYS_LISTED.days()),
        )
        .await
        .unwrap_or_default();
    html! {
        h1 { (d.product.spec.name) }
        p.kind { (kind_label(d.product.spec.kind).text(lang)) }
        form method="post" action=(format!("/staff/catalogue/{id}/rules")) novalidate {
            fieldset {
                legend { (t(Cm::Rules)) }
                (forms::form_error(err(Form::Rules), &["open_days_before", "open_at", "close_minutes_before_start", "id_limit_per_day", "max_visitors_per_order", "max_orders_per_account_per_day", "hold_minutes"]))
                input type="hidden" name="csrf" value=(staff.0.csrf);
                (number(t(Cm::OpensDaysBefore), "open_days_before", &r.open_days_before.to_string(), err(Form::Rules), lang))
                (Field { name: "open_at", label: t(Cm::OpensAt), kind: "time", value: &r.open_at.strftime("%H:%M").to_string(), autocomplete: "off", inputmode: None, hint: None, required: true }.render(err(Form::Rules), lang))
                (number(t(Cm::ClosesBefore), "close_minutes_before_start", &r.close_minutes_before_start.to_string(), err(Form::Rules), lang))
                (number(t(Cm::IdLimit), "id_limit_per_day", &r.id_limit_per_day.to_string(), err(Form::Rules), lang))
                (number(t(Cm::MaxVisitors), "max_visitors_per_order", &r.max_visitors_per_order.to_string(), err(Form::Rules), lang))
                (number(t(Cm::MaxOrders), "max_orders_per_account_per_day", &r.max_orders_per_account_per_day.to_string(), err(Form::Rules), lang))
                (number(t(Cm::HoldMinutes), "hold_minutes", &r.hold_minutes.to_string(), err(Form::Rules), lang))
                div.option {
                    input #face type="checkbox" name="face_verification_required" value="on" checked[r.face_verification_required];
                    label for="face" { (t(Cm::FaceRequired)) }
                }
                button.button type="submit" { (Msg::Save.text(lang)) }
            }
        }
        h2 { (t(Cm::TicketTypes)) }
        ul.rows {
            @for tt in &d.ticket_types { li { span { (tt.name) } span { (crate::orders::money(u64::from(tt.price_fen), lang)) } } }
        }
        form method="post" action=(format!("/staff/catalogue/{id}/ticket-types")) novalidate {
            fieldset {
                legend { (t(Cm::AddTicketType)) }
                (forms::form_error(err(Form::TicketType), &["name", "price_fen"]))
                input type="hidden" name="csrf" value=(staff.0.csrf);
                (Field { name: "name", label: t(Cm::Name), kind: "text", value: "", autocomplete: "off", inputmode: None, hint: None, required: true }.render(err(Form::TicketType), lang))
                (number(t(Cm::PriceFen), "price_fen", "0", err(Form::TicketType), lang))
                button.button.secondary type="submit" { (t(Cm::AddTicketType)) }
            }
        }
        h2 #slots { (t(Cm::Slots)) }
        @if let Some((Form::Capacity(at), e)) = error {
            @if !slots.iter().any(|s| s.slot.id.0 == at) { p.error role="alert" { (e.text) } }
        }
        ul.rows {
            @for a in &slots {
                @let s = &a.slot;
                @let field = format!("capacity-{}", s.id.0);
                @let failed = err(Form::Capacity(s.id.0));
                li {
                    span { (s.date) " " (s.start.strftime("%H:%M")) "–" (s.end.strftime("%H:%M")) " · " (t(Cm::Taken)) " " (s.taken) }
                    form.inline method="post" action=(format!("/staff/slots/{}/capacity", s.id.0)) novalidate {
                        input type="hidden" name="csrf" value=(staff.0.csrf);
                        input type="hidden" name="product" value=(id);
                        label for=(field) { (t(Cm::Capacity)) }
                        input #(field) name="capacity" type="text" inputmode="numeric" size="6" value=(s.capacity)
                            aria-invalid=[failed.map(|_| "true")] aria-describedby=[failed.map(|_| format!("{field}-error"))];
                        button.button.secondary type="submit" { (t(Cm::SetCapacity)) }
                        @if let Some(e) = failed { p.error #(format!("{field}-error")) { (e.text) } }
                    }
                }
            }
        }
        form method="post" action=(format!("/staff/catalogue/{id}/slots")) novalidate {
            fieldset {
                legend { (t(Cm::AddSlot)) }
                (forms::form_error(err(Form::Slot), &["date", "start", "end", "capacity"]))
                input type="hidden" name="csrf" value=(staff.0.csrf);
                (Field { name: "date", label: t(Cm::Date), kind: "date", value: "", autocomplete: "off", inputmode: None, hint: None, required: true }.render(err(Form::Slot), lang))
                (Field { name: "start", label: t(Cm::Start), kind: "time", value: "", autocomplete: "off", inputmode: None, hint: None, required: true }.render(err(Form::Slot), lang))
                (Field { name: "end", label: t(Cm::End), kind: "time", value: "", autocomplete: "off", inputmode: None, hint: None, required: true }.render(err(Form::Slot), lang))
                (number(t(Cm::Capacity), "capacity", "", err(Form::Slot), lang))
                button.button.secondary type="submit" { (t(Cm::AddSlot)) }
            }
        }
        h2 { (t(Cm::Notice)) }
        @if let Some(n) = &d.notice {
            p.meta { (t(Cm::NoticeVersion)) " " (n.version) }
            div.notice { @for line in n.text.lines() { p { (line) } } }
        }
        form method="post" action=(format!("/staff/catalogue/{id}/notice")) novalidate {
            fieldset {
                legend { (t(Cm::PublishNotice)) }
                (forms::form_error(err(Form::Notice), &[]))
                input type="hidden" name="csrf" value=(staff.0.csrf);
                div.field {
                    label for="notice-text" { (t(Cm::NoticeText)) }
                    textarea #notice-text name="text" rows="6" required aria-required="true" {}
                }
                button.button.secondary type="submit" { (t(Cm::PublishNotice)) }
            }
        }
        p { a href="/staff/catalogue" { "← " (t(Cm::Products)) } }
    }
}

async fn render(
    app: &AppState,
    staff: &Staff,
    id: i64,
    lang: Lang,
    status: StatusCode,
    error: Option<(Form, &FormError)>,
) -> Response {
    let path = format!("/staff/catalogue/{id}");
    match app.service.product_details(ProductId(id)).await {
        Ok(d) => {
            let content = product_page(app, staff, &d, lang, error).await;
            (
                status,
                staff.page(lang, Area::Catalogue, &d.product.spec.name, &path, content),
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::NOT_FOUND,
            staff.page(
                lang,
                Area::Catalogue,
                Msg::NotFound.text(lang),
                &path,
                html! { h1 { (Msg::NotFound.text(lang)) } },
            ),
        )
            .into_response(),
    }
}

/// `GET /staff/catalogue/{id}`
pub async fn product(
    State(app): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<i64>,
) -> Response {
    if let Some(refused) = staff.refuses(Permission::CatalogueManage, lang) {
        return refused;
    }
    render(&app, &staff, id, lang, StatusCode::OK, None).await
}

/// Back to the product's page when `result` is done, else its page with the error by `form`.
async fn answered(
    app: &AppState,
    staff: &Staff,
    id: i64,
    lang: Lang,
    form: Form,
    result: Result<(), FormError>,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/staff/catalogue/{id}")).into_response(),
        Err(e) => {
            render(
                app,
                staff,
                id,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((form, &e)),
            )
            .await
        }
    }
}

/// A whole number from the form, or the error beside its field.
fn whole<T: std::str::FromStr>(fields: &Fields, name: &str, lang: Lang) -> Result<T, FormError> {
    fields
        .get(name)
        .map(str::trim)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| FormError {
            field: Some(name.to_owned()),
            text: Msg::ErrorForm.text(lang).to_owned(),
        })
}

fn time(fields: &Fields, name: &str, lang: Lang) -> Result<jiff::civil::Time, FormError> {
    fields
        .get(name)
        .and_then(|v| jiff::civil::Time::strptime("%H:%M", v.trim()).ok())
        .ok_or_else(|| FormError {
            field: Some(name.to_owned()),
            text: Msg::ErrorForm.text(lang).to_owned(),
        })
}

fn rules_of(fields: &Fields, lang: Lang) -> Result<ProductRules, FormError> {
    Ok(ProductRules {
        open_days_before: whole(fields, "open_days_before", lang)?,
        open_at: time(fields, "open_at", lang)?,
        close_minutes_before_start: whole(fields, "close_minutes_before_start", lang)?,
        id_limit_per_day: whole(fields, "id_limit_per_day", lang)?,
        max_visitors_per_order: whole(fields, "max_visitors_per_order", lang)?,
        max_orders_per_account_per_day: whole(fields, "max_orders_per_account_per_day", lang)?,
        hold_minutes: whole(fields, "hold_minutes", lang)?,
        face_verification_required: fields.get("face_verification_required") == Some("on"),
    })
}

/// `POST /staff/catalogue/{id}/rules`: the booking window and limits.
pub async fn update_rules(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    StaffForm { staff, fields, .. }: StaffForm<perm::CatalogueManage>,
) -> Response {
    let result = async {
        let rules = rules_of(&fields, lang)?;
        let current = app
            .service
            .product_details(ProductId(id))
            .await
            .map_err(|e| FormError::from_api(e, lang))?;
        let mut spec = current.product.spec;
        spec.rules = rules;
        app.service
            .update_product(ProductId(id), spec)
            .await
            .map(drop)
            .map_err(|e| FormError::from_api(e, lang))
    }
    .await;
    answered(&app, &staff, id, lang, Form::Rules, result).await
}

/// `POST /staff/catalogue/{id}/ticket-types`
pub async fn add_ticket_type(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    StaffForm { staff, fields, .. }: StaffForm<perm::CatalogueManage>,
) -> Response {
    let result = async {
        let price: u32 = whole(&fields, "price_fen", lang)?;
        let name = fields.get("name").unwrap_or_default().trim().to_owned();
        app.service
            .create_ticket_type(ProductId(id), &name, price)
            .await
            .map(drop)
            .map_err(|e| FormError::from_api(e, lang))
    }
    .await;
    answered(&app, &staff, id, lang, Form::TicketType, result).await
}

/// `POST /staff/catalogue/{id}/slots`
pub async fn add_slot(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    StaffForm { staff, fields, .. }: StaffForm<perm::CatalogueManage>,
) -> Response {
    let result = async {
        let date = fields
            .get("date")
            .and_then(|d| d.trim().parse().ok())
            .ok_or_else(|| FormError {
                field: Some("date".into()),
                text: Msg::ErrorForm.text(lang).to_owned(),
            })?;
        let new = NewSlot {
            product_id: ProductId(id),
            date,
            start: time(&fields, "start", lang)?,
            end: time(&fields, "end", lang)?,
            capacity: whole(&fields, "capacity", lang)?,
        };
        app.service
            .create_slot(new)
            .await
            .map(drop)
            .map_err(|e| FormError::from_api(e, lang))
    }
    .await;
    answered(&app, &staff, id, lang, Form::Slot, result).await
}

/// `POST /staff/catalogue/{id}/notice`
pub async fn publish_notice(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    StaffForm { staff, fields, .. }: StaffForm<perm::CatalogueManage>,
) -> Response {
    let text = fields.get("text").unwrap_or_default().to_owned();
    let result = app
        .service
        .publish_notice(ProductId(id), &text)
        .await
        .map(drop)
        .map_err(|e| FormError::from_api(e, lang));
    answered(&app, &staff, id, lang, Form::Notice, result).await
}

/// `POST /staff/slots/{id}/capacity` (the form says which product's page to go back to).
pub async fn set_capacity(
    State(app): State<AppState>,
    lang: Lang,
    Path(slot): Path<i64>,
    StaffForm { staff, fields, .. }: StaffForm<perm::CatalogueManage>,
) -> Response {
    let product = app
        .service
        .slot_availability(SlotId(slot))
        .map(|a| a.slot.product_id.0);
    let Ok(product) = product else {
        return (
            StatusCode::NOT_FOUND,
            staff.page(
                lang,
                Area::Catalogue,
                Msg::NotFound.text(lang),
                "/staff/catalogue",
                html! { h1 { (Msg::NotFound.text(lang)) } },
            ),
        )
            .into_response();
    };
    let result = async {
        let capacity: u32 = whole(&fields, "capacity", lang)?;
        app.service
            .set_slot_capacity(SlotId(slot), capacity)
            .await
            .map(drop)
            .map_err(|e| FormError::from_api(e, lang))
    }
    .await
    .map_err(|e| FormError {
        field: Some(format!("capacity-{slot}")),
        ..e
    });
    answered(&app, &staff, product, lang, Form::Capacity(slot), result).await
}
