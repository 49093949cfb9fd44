//! My orders: the list by kind, and one order with its slot, state, contact (masked), total and
//! tickets — visitors masked, a QR code per valid ticket — with cancelling while it is unpaid.
//! Paying and refunding join these pages with the payment pages.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::AppState;
use gatehouse_booking::OrderDetails;
use gatehouse_domain::catalogue::ProductKind;
use gatehouse_domain::order::{OrderId, OrderState, TicketState};
use gatehouse_domain::payment::PaymentChannel;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;

use crate::forms::{self, Field, FormError};
use crate::i18n::{Lang, Msg};
use crate::layout::{Page, Section};
use crate::session::{to_sign_in, SignedIn, Viewer};

const KINDS: [(&str, ProductKind, Msg); 4] = [
    ("entry", ProductKind::Entry, Msg::KindEntry),
    ("hall", ProductKind::Hall, Msg::KindHall),
    ("activity", ProductKind::Activity, Msg::KindActivity),
    ("cinema", ProductKind::Cinema, Msg::KindCinema),
];

#[derive(Deserialize, Default)]
pub struct KindQuery {
    kind: Option<String>,
}

fn render(lang: Lang, title: &str, path: &str, content: Markup) -> Response {
    Page {
        lang,
        title,
        section: Section::Orders,
        path,
    }
    .render(content)
}

pub(crate) fn state_label(state: OrderState) -> Msg {
    match state {
        OrderState::PendingPayment => Msg::StatePending,
        OrderState::Confirmed => Msg::StateConfirmed,
        OrderState::Cancelled => Msg::StateCancelled,
        OrderState::Expired => Msg::StateExpired,
        OrderState::Refunded => Msg::StateRefunded,
    }
}

pub(crate) fn ticket_label(state: TicketState) -> Msg {
    match state {
        TicketState::Held => Msg::TicketHeld,
        TicketState::Valid => Msg::TicketValid,
        TicketState::Refunded => Msg::StateRefunded,
        TicketState::Released => Msg::TicketReleased,
    }
}

pub(crate) fn slot_text(o: &OrderDetails) -> String {
    o.slot.as_ref().map_or_else(
        || o.order.day.to_string(),
        |s| {
            format!(
                "{} {}–{}",
                s.date,
                s.start.strftime("%H:%M"),
                s.end.strftime("%H:%M")
            )
        },
    )
}

pub(crate) fn money(fen: u64, lang: Lang) -> String {
    if fen == 0 {
        Msg::Free.text(lang).to_owned()
    } else {
        format!("¥{}.{:02}", fen / 100, fen % 100)
    }
}

/// `GET /orders?kind=…`
pub async fn list(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    Query(q): Query<KindQuery>,
) -> Response {
    let Some(me) = viewer else {
        return to_sign_in("/orders");
    };
    let t = |m: Msg| m.text(lang);
    let kind = KINDS
        .iter()
        .find(|(code, ..)| Some(*code) == q.kind.as_deref());
    let orders = app
        .service
        .list_orders(me.session.account.id, kind.map(|(_, k, _)| *k), 50)
        .await
        .unwrap_or_default();
    let content = html! {
        h1 { (t(Msg::NavOrders)) }
        nav.tabs aria-label=(t(Msg::OrderKinds)) {
            ul {
                li { a href="/orders" aria-current=[kind.is_none().then_some("page")] { (t(Msg::AllKinds)) } }
                @for (code, _, label) in KINDS {
                    li { a href=(format!("/orders?kind={code}")) aria-current=[(kind.is_some_and(|k| k.0 == code)).then_some("page")] { (t(label)) } }
                }
            }
        }
        @if orders.is_empty() { p { (t(Msg::NoOrders)) } }
        ul.cards {
            @for o in &orders {
                li.card {
                    h2 { a href=(format!("/orders/{}", o.order.id.0)) { (o.product_name) } }
                    p.meta { (slot_text(o)) " · " (o.tickets.len()) " " (t(Msg::TicketsCount)) }
                    p.state { (t(state_label(o.order.state))) }
                }
            }
        }
    };
    render(lang, t(Msg::NavOrders), "/orders", content)
}

fn details(
    o: &OrderDetails,
    me: &SignedIn,
    app: &AppState,
    lang: Lang,
    error: Option<&FormError>,
) -> Markup {
    let t = |m: Msg| m.text(lang);
    let tz = app.service.museum_tz().clone();
    html! {
        h1 { (o.product_name) }
        (forms::form_error(error, &["contact_phone"]))
        dl.facts {
            dt { (t(Msg::OrderNumber)) } dd { (o.order.id.0) }
            dt { (t(Msg::When)) } dd { (slot_text(o)) }
            dt { (t(Msg::OrderState)) } dd { (t(state_label(o.order.state))) }
            dt { (t(Msg::ContactPhone)) } dd { (o.contact_phone) }
            dt { (t(Msg::Total)) } dd { (money(o.order.total_fen, lang)) }
            @if let (OrderState::PendingPayment, Some(by)) = (o.order.state, o.order.expires_at) {
                dt { (t(Msg::PayBy)) } dd { (by.to_zoned(tz.clone()).strftime("%H:%M")) }
            }
        }
        h2 { (t(Msg::Visitors)) }
        ul.tickets {
            @for tk in &o.tickets {
                li.ticket {
                    p { strong { (tk.visitor_name) } " · " (tk.id_number) }
                    p.meta { (tk.ticket_type_name) @if let Some(seat) = &tk.ticket.seat { " · " (seat) } " · " (t(ticket_label(tk.ticket.state))) }
                    @if let Some(code) = &tk.code {
                        @if let Ok(svg) = gatehouse_tickets::qr::svg(code) {
                            figure.qr role="img" aria-label=(format!("{} {}", t(Msg::QrFor), tk.visitor_name)) {
                                (PreEscaped(svg.split_once("?>").map_or(svg.as_str(), |(_, rest)| rest)))
                            }
                        }
                    }
                }
            }
        }
        @if o.order.state == OrderState::PendingPayment {
            form method="post" action=(format!("/orders/{}/pay", o.order.id.0)) {
                input type="hidden" name="csrf" value=(me.csrf);
                button.button type="submit" { (t(Msg::PayAlipay)) }
            }
            form method="post" action=(format!("/orders/{}/cancel", o.order.id.0)) {
                input type="hidden" name="csrf" value=(me.csrf);
                button.button.secondary type="submit" { (t(Msg::CancelOrder)) }
            }
        }
        @let refundable: Vec<_> = o.tickets.iter().filter(|tk| tk.ticket.state == TicketState::Valid).collect();
        @if o.order.state == OrderState::Confirmed && !refundable.is_empty() {
            form method="post" action=(format!("/orders/{}/refund", o.order.id.0)) {
                fieldset {
                    legend { (t(Msg::RefundTitle)) }
                    @for tk in &refundable {
                        div.option {
                            input type="checkbox" name="ticket" id=(format!("r-{}", tk.ticket.id.0)) value=(tk.ticket.id.0);
                            label for=(format!("r-{}", tk.ticket.id.0)) { (tk.visitor_name) " · " (tk.ticket_type_name) }
                        }
                    }
                    input type="hidden" name="csrf" value=(me.csrf);
                    button.button.secondary type="submit" { (t(Msg::RefundSelected)) }
                }
            }
        }
        @if matches!(o.order.state, OrderState::PendingPayment | OrderState::Confirmed) {
            form method="post" action=(format!("/orders/{}/contact-phone", o.order.id.0)) novalidate {
                fieldset {
                    legend { (t(Msg::CorrectPhone)) }
                    input type="hidden" name="csrf" value=(me.csrf);
                    (Field { name: "contact_phone", label: t(Msg::NewContactPhone), kind: "tel", value: "",
                             autocomplete: "tel-national", inputmode: Some("numeric"), hint: None, required: true }.render(error, lang))
                    button.button.secondary type="submit" { (t(Msg::CorrectPhone)) }
                }
            }
        }
        p { a href="/orders" { (t(Msg::BackToOrders)) } }
    }
}

/// An order's page answered with `status`, with `error` at its top; 404 if it is not theirs.
async fn order_page(
    app: &AppState,
    me: &SignedIn,
    order: &OrderId,
    lang: Lang,
    status: StatusCode,
    error: Option<&FormError>,
) -> Response {
    let path = format!("/orders/{}", order.0);
    match app.service.get_order(&me.session.account, order).await {
        Ok(o) => (
            status,
            render(
                lang,
                &o.product_name.clone(),
                &path,
                details(&o, me, app, lang, error),
            ),
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            render(
                lang,
                Msg::NotFound.text(lang),
                &path,
                html! { h1 { (Msg::NotFound.text(lang)) } },
            ),
        )
            .into_response(),
    }
}

/// What an order's form post answers: back to the order when it was done, else the order's
/// page again with the error (`failed` its status).
async fn answered(
    app: &AppState,
    me: &SignedIn,
    id: String,
    lang: Lang,
    failed: StatusCode,
    result: Result<(), FormError>,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/orders/{id}")).into_response(),
        Err(e) => order_page(app, me, &OrderId(id), lang, failed, Some(&e)).await,
    }
}

/// `POST /orders/{id}/contact-phone`: corrects the order's contact phone (audited, masked).
pub async fn correct_phone(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/orders/{id}");
    let (me, fields) = match forms::signed_post(&headers, viewer, &body, lang, &path) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let phone = fields
        .get("contact_phone")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let result =
        gatehouse_api::routes_requests::correct_phone(&app, &me.session.account, &id, phone)
            .await
            .map_err(|e| FormError::from_api(e, lang));
    answered(
        &app,
        &me,
        id,
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        result,
    )
    .await
}

/// `GET /orders/{id}`
pub async fn show(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/orders/{id}");
    let Some(me) = viewer else {
        return to_sign_in(&path);
    };
    order_page(&app, &me, &OrderId(id), lang, StatusCode::OK, None).await
}

/// `POST /orders/{id}/pay`: opens the payment at Alipay's web cashier and sends the visitor
/// there. The way there is a link (followed at once by the script), not a redirect: the CSP's
/// `form-action 'self'` rightly stops a form post from ending on another site.
pub async fn pay(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/orders/{id}");
    let (me, _) = match forms::signed_post(&headers, viewer, &body, lang, &path) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let t = |m: Msg| m.text(lang);
    let order = OrderId(id);
    match app
        .payments
        .pay(
            &me.session.account,
            &order,
            PaymentChannel::AlipayPage,
            None,
        )
        .await
    {
        Ok(checkout) => {
            let Some((_, url)) = checkout.client.iter().find(|(k, _)| k == "url") else {
                return (
                    StatusCode::BAD_GATEWAY,
                    render(
                        lang,
                        t(Msg::PayAlipay),
                        &path,
                        html! { p.error role="alert" { (t(Msg::ErrorUnavailable)) } },
                    ),
                )
                    .into_response();
            };
            let content = html! {
                h1 { (t(Msg::PayAlipay)) }
                p { (t(Msg::GoingToAlipay)) }
                p { a.button #pay-continue href=(url) data-follow="now" { (t(Msg::ContinueToAlipay)) } }
            };
            render(lang, t(Msg::PayAlipay), &path, content)
        }
        Err(e) => {
            let e = FormError::from_api(gatehouse_api::error::ApiError::from(e), lang);
            order_page(&app, &me, &order, lang, StatusCode::CONFLICT, Some(&e)).await
        }
    }
}

/// `POST /orders/{id}/refund`: refunds the chosen tickets (money back through the provider).
pub async fn refund(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/orders/{id}");
    let (me, fields) = match forms::signed_post(&headers, viewer, &body, lang, &path) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let tickets = fields.all("ticket");
    let result = if tickets.is_empty() {
        Err(FormError::form(Msg::ChooseTickets.text(lang)))
    } else {
        let request = gatehouse_api::wire::RefundRequest {
            ticket_ids: tickets,
            reason: None,
        };
        gatehouse_api::routes_orders::refund_order(&app, &me.session.account, id.clone(), request)
            .await
            .map(drop)
            .map_err(|e| FormError::from_api(e, lang))
    };
    answered(
        &app,
        &me,
        id,
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        result,
    )
    .await
}

/// `POST /orders/{id}/cancel`: cancels an unpaid order (its tickets go back on sale at once).
pub async fn cancel(
    State(app): State<AppState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/orders/{id}");
    let (me, _) = match forms::signed_post(&headers, viewer, &body, lang, &path) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let result = app
        .payments
        .cancel_order(&me.session.account, &OrderId(id.clone()))
        .await
        .map(drop)
        .map_err(|e| FormError::from_api(gatehouse_api::error::ApiError::from(e), lang));
    answered(&app, &me, id, lang, StatusCode::CONFLICT, result).await
}
