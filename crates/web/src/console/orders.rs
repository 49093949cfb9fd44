//! Orders for staff: find one by its number or by the last four characters of its contact
//! phone or an ID number (their keyed search tails), see it with every personal field masked, reveal
//! one field in clear with a stated purpose (through the API's own `reveal_field`, which makes
//! the audit record durable before the value is shown), cancel it while unpaid, refund tickets.
//! Ticket codes (QR) are never shown to staff: they would admit someone.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::auth::perm;
use gatehouse_api::auth::ClientIp;
use gatehouse_api::routes_reveal::{reveal_field, RevealRequest, RevealResponse};
use gatehouse_api::AppState;
use gatehouse_booking::OrderDetails;
use gatehouse_domain::access::Permission;
use gatehouse_domain::order::{OrderId, OrderState, TicketState, TAIL_LEN};
use maud::{html, Markup};

use super::text::Cm;
use super::{Area, Staff, StaffForm};
use crate::forms::{self, Field, FormError};
use crate::i18n::{Lang, Msg};
use crate::orders::{money, slot_text, state_label, ticket_label};

fn search_page(
    staff: &Staff,
    lang: Lang,
    q: &str,
    found: Option<&[OrderDetails]>,
    error: Option<&FormError>,
) -> Response {
    let t = |m: Cm| m.text(lang);
    let content = html! {
        h1 { (t(Cm::FindOrder)) }
        // Posted, not a query string: a phone's or ID number's tail stays out of URLs and history.
        form method="post" action="/staff/orders" role="search" novalidate {
            input type="hidden" name="csrf" value=(staff.0.csrf);
            (Field { name: "q", label: t(Cm::FindOrderQuery), kind: "search", value: q, autocomplete: "off",
                     inputmode: None, hint: Some(t(Cm::FindOrderHint)), required: true }.render(error, lang))
            button.button type="submit" { (t(Cm::Search)) }
        }
        @if let Some(found) = found {
            @if found.is_empty() { p role="status" { (t(Cm::NoMatch)) } }
            @else {
                h2 { (t(Cm::Matches)) }
                ul.cards {
                    @for o in found {
                        li.card {
                            h3 { a href=(format!("/staff/orders/{}", o.order.id.0)) { (o.product_name) " · " (slot_text(o)) } }
                            p.meta { (o.order.id.0) }
                            p.meta { (t(Cm::ContactPhone)) " " (o.contact_phone) " · " (o.tickets.iter().map(|tk| tk.id_number.as_str()).collect::<Vec<_>>().join(", ")) }
                            p.state { (state_label(o.order.state).text(lang)) }
                        }
                    }
                }
            }
        }
    };
    staff.page(
        lang,
        Area::Orders,
        t(Cm::FindOrder),
        "/staff/orders",
        content,
    )
}

/// `GET /staff/orders`: the search form.
pub async fn search_form(lang: Lang, staff: Staff) -> Response {
    if let Some(refused) = staff.refuses(Permission::OrdersRead, lang) {
        return refused;
    }
    search_page(&staff, lang, "", None, None)
}

/// `POST /staff/orders`: an order number leads to its page; four characters find the orders
/// whose contact phone or an ID number ends with them (by their search tails).
pub async fn search(
    State(app): State<AppState>,
    lang: Lang,
    StaffForm { staff, fields, .. }: StaffForm<perm::OrdersRead>,
) -> Response {
    let q = fields.get("q").unwrap_or_default().trim().to_owned();
    let account = &staff.0.session.account;
    if q.chars().count() == TAIL_LEN {
        return match app.service.find_orders_by_tail(account, &q, 50).await {
            Ok(found) => search_page(&staff, lang, &q, Some(&found), None),
            Err(e) => {
                let (status, e) = FormError::with_status(e, lang);
                let e = FormError {
                    field: Some("q".into()),
                    ..e
                };
                (status, search_page(&staff, lang, &q, None, Some(&e))).into_response()
            }
        };
    }
    if !q.is_empty() {
        if let Ok(o) = app.service.get_order(account, &OrderId(q.clone())).await {
            return Redirect::to(&format!("/staff/orders/{}", o.order.id.0)).into_response();
        }
    }
    search_page(&staff, lang, &q, Some(&[]), None)
}

/// What a reveal showed, once.
struct Shown {
    label: String,
    answer: RevealResponse,
}

fn details(
    o: &OrderDetails,
    staff: &Staff,
    lang: Lang,
    error: Option<&FormError>,
    shown: Option<&Shown>,
) -> Markup {
    let t = |m: Cm| m.text(lang);
    let m = |m: Msg| m.text(lang);
    let id = &o.order.id.0;
    html! {
        h1 { (o.product_name) }
        (forms::form_error(error, &["purpose", "reason"]))
        @if let Some(s) = shown {
            div.revealed role="status" {
                p { strong { (s.label) ": " } span #revealed-value { (s.answer.value) } }
                p.hint { (t(Cm::Revealed)) " " (s.answer.audit_seq) }
            }
        }
        dl.facts {
            dt { (m(Msg::OrderNumber)) } dd { (id) }
            dt { (t(Cm::Account)) } dd { (o.order.account_id.0) }
            dt { (m(Msg::When)) } dd { (slot_text(o)) }
            dt { (m(Msg::OrderState)) } dd { (m(state_label(o.order.state))) }
            dt { (t(Cm::ContactPhone)) } dd { (o.contact_phone) }
            dt { (m(Msg::Total)) } dd { (money(o.order.total_fen, lang)) }
        }
        h2 { (m(Msg::Visitors)) }
        ul.tickets {
            @for tk in &o.tickets {
                li.ticket {
                    p { strong { (tk.visitor_name) } " · " (tk.id_number) }
                    p.meta { (tk.ticket_type_name) @if let Some(seat) = &tk.ticket.seat { " · " (seat) } " · " (m(ticket_label(tk.ticket.state))) }
                }
            }
        }
        @if staff.may(Permission::PersonalDataReveal) {
            form method="post" action=(format!("/staff/orders/{id}/reveal")) novalidate {
                fieldset {
                    legend { (t(Cm::Reveal)) }
                    input type="hidden" name="csrf" value=(staff.0.csrf);
                    div.field {
                        label for="what" { (t(Cm::RevealWhat)) }
                        select #what name="what" {
                            option value="contact_phone" { (t(Cm::ContactPhone)) " " (o.contact_phone) }
                            @for tk in &o.tickets {
                                option value=(format!("visitor_name:{}", tk.ticket.id.0)) { (t(Cm::VisitorNameOf)) " " (tk.visitor_name) }
                                option value=(format!("id_number:{}", tk.ticket.id.0)) { (t(Cm::IdNumberOf)) " " (tk.id_number) }
                            }
                        }
                    }
                    @let purpose_error = error.filter(|e| e.field.as_deref() == Some("purpose"));
                    div.field {
                        label for="purpose" { (t(Cm::RevealPurpose)) " " abbr.required title=(m(Msg::Required)) aria-hidden="true" { "*" } }
                        textarea #purpose name="purpose" rows="2" required aria-required="true" minlength="10" maxlength="200"
                            aria-invalid=[purpose_error.map(|_| "true")] aria-describedby=[purpose_error.map(|_| "purpose-error")] {}
                        @if let Some(e) = purpose_error { p.error #purpose-error { (e.text) } }
                    }
                    button.button type="submit" { (t(Cm::Reveal)) }
                }
            }
        }
        @if staff.may(Permission::OrdersManage) {
            @if o.order.state == OrderState::PendingPayment {
                form method="post" action=(format!("/staff/orders/{id}/cancel")) {
                    input type="hidden" name="csrf" value=(staff.0.csrf);
                    button.button.secondary type="submit" { (m(Msg::CancelOrder)) }
                }
            }
            @let refundable: Vec<_> = o.tickets.iter().filter(|tk| tk.ticket.state == TicketState::Valid).collect();
            @if o.order.state == OrderState::Confirmed && !refundable.is_empty() {
                form method="post" action=(format!("/staff/orders/{id}/refund")) {
                    fieldset {
                        legend { (m(Msg::RefundTitle)) }
                        @for tk in &refundable {
                            div.option {
                                input type="checkbox" name="ticket" id=(format!("r-{}", tk.ticket.id.0)) value=(tk.ticket.id.0);
                                label for=(format!("r-{}", tk.ticket.id.0)) { (tk.visitor_name) " · " (tk.ticket_type_name) }
                            }
                        }
                        (Field { name: "reason", label: t(Cm::RefundReason), kind: "text", value: "", autocomplete: "off",
                                 inputmode: None, hint: None, required: true }.render(error, lang))
                        input type="hidden" name="csrf" value=(staff.0.csrf);
                        button.button.secondary type="submit" { (m(Msg::RefundSelected)) }
                    }
                }
            }
        }
        p { a href="/staff/orders" { "← " (t(Cm::FindOrder)) } }
    }
}

async fn order_page(
    app: &AppState,
    staff: &Staff,
    id: &str,
    lang: Lang,
    status: StatusCode,
    error: Option<&FormError>,
    shown: Option<&Shown>,
) -> Response {
    let path = format!("/staff/orders/{id}");
    match app
        .service
        .get_order(&staff.0.session.account, &OrderId(id.to_owned()))
        .await
    {
        Ok(o) => (
            status,
            staff.page(
                lang,
                Area::Orders,
                &o.order.id.0,
                &path,
                details(&o, staff, lang, error, shown),
            ),
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            staff.page(
                lang,
                Area::Orders,
                Msg::NotFound.text(lang),
                &path,
                html! { h1 { (Msg::NotFound.text(lang)) } },
            ),
        )
            .into_response(),
    }
}

/// `GET /staff/orders/{id}`
pub async fn show(
    State(app): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = staff.refuses(Permission::OrdersRead, lang) {
        return refused;
    }
    order_page(&app, &staff, &id, lang, StatusCode::OK, None, None).await
}

/// `POST /staff/orders/{id}/reveal`: one field in clear, with a purpose (audited first).
pub async fn reveal(
    State(app): State<AppState>,
    lang: Lang,
    ip: ClientIp,
    Path(id): Path<String>,
    StaffForm { staff, fields, .. }: StaffForm<perm::PersonalDataReveal>,
) -> Response {
    let what = fields.get("what").unwrap_or_default();
    let (field, ticket_id) = match what.split_once(':') {
        Some((f, ticket)) => (f, Some(ticket.to_owned())),
        None => (what, None),
    };
    let request = RevealRequest {
        field: field.to_owned(),
        ticket_id,
        purpose: fields.get("purpose").unwrap_or_default().to_owned(),
    };
    let label = match field {
        "visitor_name" => Cm::VisitorNameOf,
        "id_number" => Cm::IdNumberOf,
        _ => Cm::ContactPhone,
    }
    .text(lang)
    .to_owned();
    match reveal_field(&app, &staff.0.session, &ip, id.clone(), &request).await {
        Ok(answer) => {
            let shown = Shown { label, answer };
            order_page(&app, &staff, &id, lang, StatusCode::OK, None, Some(&shown)).await
        }
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            order_page(&app, &staff, &id, lang, status, Some(&e), None).await
        }
    }
}

/// What a staff order action answers: back to the order, or its page with the error.
async fn answered(
    app: &AppState,
    staff: &Staff,
    id: &str,
    lang: Lang,
    result: Result<(), gatehouse_api::error::ApiError>,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/staff/orders/{id}")).into_response(),
        Err(e) => {
            let (status, e) = FormError::with_status(e, lang);
            order_page(app, staff, id, lang, status, Some(&e), None).await
        }
    }
}

/// `POST /staff/orders/{id}/cancel`
pub async fn cancel(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<String>,
    StaffForm { staff, .. }: StaffForm<perm::OrdersManage>,
) -> Response {
    let result = gatehouse_api::routes_orders::cancel(&app, &staff.0.session.account, id.clone())
        .await
        .map(drop);
    answered(&app, &staff, &id, lang, result).await
}

/// `POST /staff/orders/{id}/refund`
pub async fn refund(
    State(app): State<AppState>,
    lang: Lang,
    Path(id): Path<String>,
    StaffForm { staff, fields, .. }: StaffForm<perm::OrdersManage>,
) -> Response {
    let tickets = fields.all("ticket");
    if tickets.is_empty() {
        let e = FormError::form(Msg::ChooseTickets.text(lang));
        return order_page(
            &app,
            &staff,
            &id,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&e),
            None,
        )
        .await;
    }
    let reason = fields
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let request = gatehouse_api::wire::RefundRequest {
        ticket_ids: tickets,
        reason: reason.map(str::to_owned),
    };
    let result = gatehouse_api::routes_orders::refund_order(
        &app,
        &staff.0.session.account,
        id.clone(),
        request,
    )
    .await
    .map(drop);
    answered(&app, &staff, &id, lang, result).await
}
