//! The visitor web app and the staff console as HTML pages, served by Gatehouse itself. Pages
//! are rendered on the server (maud, which escapes every value it is given) from the same
//! services the API uses, with a little progressive JavaScript; the stylesheet and script are
//! embedded in the binary, so the README's first command serves everything. Every page carries
//! the security headers of [`headers`] (a CSP without `unsafe-inline`, no framing, no referrer);
//! personal data never appears in a URL.

use axum::routing::{get, post};
use axum::Router;
use gatehouse_api::AppState;

mod assets;
mod book;
mod challenge;
mod cinema;
mod console;
mod forms;
mod headers;
mod home;
pub mod i18n;
mod layout;
mod me;
mod orders;
mod queue;
mod session;
mod signin;
mod visitors;

pub use challenge::page as challenge_page;

/// The pages, to be merged into the application's router (they pass the same edge
/// protection and firewall as the API).
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/lang", get(i18n::switch))
        .route("/signin", get(signin::start).post(signin::finish))
        .route("/signin/code", post(signin::send_code))
        .route("/signout", post(signin::sign_out))
        .route("/me", get(me::page))
        .route("/me/consents/{purpose}/withdraw", post(me::withdraw))
        .route("/me/erase", get(me::erase_page).post(me::erase))
        .route("/me/visitors", post(visitors::add))
        .route("/me/visitors/new", get(visitors::new))
        .route("/me/visitors/{id}", post(visitors::update))
        .route("/me/visitors/{id}/edit", get(visitors::edit))
        .route("/me/visitors/{id}/delete", post(visitors::delete))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::show))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/orders/{id}/pay", post(orders::pay))
        .route("/orders/{id}/refund", post(orders::refund))
        .route("/orders/{id}/contact-phone", post(orders::correct_phone))
        .route("/cinema", get(cinema::page))
        .route("/queue/{id}", get(queue::show))
        .route("/queue/{id}/join", post(queue::join))
        .route("/book/{id}", get(book::product))
        .route("/book/{id}/slot/{slot}", get(book::form).post(book::submit))
        .route("/assets/{name}", get(assets::serve))
        .merge(console::routes())
        .layer(axum::middleware::from_fn(headers::secure))
}
