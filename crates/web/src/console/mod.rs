//! The staff console under `/staff`: sign-in (single sign-on, or the break-glass administrator
//! with password and one-time code), and one area per kind of work — catalogue, orders,
//! check-in, privacy, the audit log. What a member of staff sees is decided by the same
//! permission table as the API (`gatehouse_domain::access`): the navigation shows only the
//! areas their roles allow, every page checks its permission again, and the actions call the
//! API's own functions, which check it a third time.

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use gatehouse_api::auth::Needs;
use gatehouse_api::AppState;
use gatehouse_domain::access::Permission;
use maud::{html, Markup};

use crate::forms::{self, Fields};
use crate::i18n::Lang;
use crate::layout::{Page, Section};
use crate::session::{SignedIn, Viewer};

mod catalogue;
mod checkin;
mod orders;
mod privacy;
mod seat_maps;
mod signin;
pub mod text;

use text::Cm;

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/staff", get(home))
        .route("/staff/signin", get(signin::start).post(signin::finish))
        .route(
            "/staff/catalogue",
            get(catalogue::list).post(catalogue::create),
        )
        .route(
            "/staff/seat-maps",
            get(seat_maps::edit).post(seat_maps::save),
        )
        .route("/staff/catalogue/{id}", get(catalogue::product))
        .route("/staff/catalogue/{id}/rules", post(catalogue::update_rules))
        .route("/staff/catalogue/{id}/slots", post(catalogue::add_slot))
        .route(
            "/staff/catalogue/{id}/notice",
            post(catalogue::publish_notice),
        )
        .route(
            "/staff/catalogue/{id}/ticket-types",
            post(catalogue::add_ticket_type),
        )
        .route("/staff/slots/{id}/capacity", post(catalogue::set_capacity))
        .route(
            "/staff/orders",
            get(orders::search_form).post(orders::search),
        )
        .route("/staff/orders/{id}", get(orders::show))
        .route("/staff/orders/{id}/reveal", post(orders::reveal))
        .route("/staff/orders/{id}/cancel", post(orders::cancel))
        .route("/staff/orders/{id}/refund", post(orders::refund))
        .route("/staff/check-in", get(checkin::page))
        .route("/staff/no-show-locks/{id}/lift", post(checkin::lift))
        .route("/staff/privacy", get(privacy::page))
        .route("/staff/data-requests", post(privacy::file))
        .route("/staff/data-requests/{id}", post(privacy::answer))
        .route("/staff/data-requests/{id}/erase", post(privacy::erase))
        .route("/staff/breaches", post(privacy::open_breach))
        .route("/staff/breaches/{id}/notify", post(privacy::notify))
        .route("/staff/audit", get(privacy::audit))
}

/// An area of the console: where it lives, its name, and the permissions that open it (any
/// one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Home,
    Catalogue,
    Orders,
    CheckIn,
    Privacy,
    Audit,
}

impl Area {
    const NAV: [Area; 5] = [
        Area::Catalogue,
        Area::Orders,
        Area::CheckIn,
        Area::Privacy,
        Area::Audit,
    ];

    fn href(self) -> &'static str {
        match self {
            Area::Home => "/staff",
            Area::Catalogue => "/staff/catalogue",
            Area::Orders => "/staff/orders",
            Area::CheckIn => "/staff/check-in",
            Area::Privacy => "/staff/privacy",
            Area::Audit => "/staff/audit",
        }
    }

    fn label(self) -> Cm {
        match self {
            Area::Home => Cm::Console,
            Area::Catalogue => Cm::AreaCatalogue,
            Area::Orders => Cm::AreaOrders,
            Area::CheckIn => Cm::AreaCheckIn,
            Area::Privacy => Cm::AreaPrivacy,
            Area::Audit => Cm::AreaAudit,
        }
    }

    /// The permissions that open this area (any one).
    pub fn opened_by(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Area::Home => &[],
            Area::Catalogue => &[CatalogueManage],
            Area::Orders => &[OrdersRead],
            Area::CheckIn => &[CheckIn, AccountsLock],
            Area::Privacy => &[DataRequestsManage, BreachManage],
            Area::Audit => &[AuditRead],
        }
    }
}

/// A signed-in member of staff (any staff role). Anyone else is sent to the staff sign-in, or,
/// signed in as a visitor, told the console is for staff.
pub struct Staff(pub SignedIn);

impl Staff {
    /// Whether their roles grant `p`.
    pub fn may(&self, p: Permission) -> bool {
        self.0.session.account.roles.allow(p)
    }

    fn opens(&self, area: Area) -> bool {
        area.opened_by().iter().any(|p| self.may(*p))
    }

    /// The 403 page if their roles do not grant `p`.
    pub fn refuses(&self, p: Permission, lang: Lang) -> Option<Response> {
        (!self.may(p)).then(|| refusal(lang, StatusCode::FORBIDDEN, Cm::NotAllowed))
    }

    /// A page of `area` with the navigation their roles allow.
    pub fn page(
        &self,
        lang: Lang,
        area: Area,
        title: &str,
        path: &str,
        content: Markup,
    ) -> Response {
        let nav: Vec<(&str, &str, bool)> = Area::NAV
            .iter()
            .filter(|a| self.opens(**a))
            .map(|a| (a.href(), a.label().text(lang), *a == area))
            .collect();
        Page {
            lang,
            title,
            section: Section::Home,
            path,
        }
        .render_nav(Cm::Console.text(lang), "/staff", &nav, content)
    }
}

fn refusal(lang: Lang, status: StatusCode, text: Cm) -> Response {
    let page = Page {
        lang,
        title: text.text(lang),
        section: Section::Home,
        path: "/staff",
    };
    (
        status,
        page.render_nav(
            Cm::Console.text(lang),
            "/staff",
            &[],
            html! { p.error role="alert" { (text.text(lang)) } p { a href="/staff/signin" { (Cm::StaffSignIn.text(lang)) } } },
        ),
    )
        .into_response()
}

/// Where someone not signed in goes: the staff sign-in, then back to `path`.
fn to_staff_sign_in(path: &str) -> Response {
    let query = serde_urlencoded::to_string([("back", path)]).unwrap_or_default();
    Redirect::to(&format!("/staff/signin?{query}")).into_response()
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Viewer(viewer) = Viewer::from_request_parts(parts, state).await?;
        let lang = Lang::of(parts);
        match viewer {
            None => Err(to_staff_sign_in(
                parts.uri.path_and_query().map_or("/staff", |p| p.as_str()),
            )),
            Some(me) if me.session.account.roles.is_staff() => Ok(Staff(me)),
            Some(_) => Err(refusal(lang, StatusCode::FORBIDDEN, Cm::StaffOnly)),
        }
    }
}

/// A console form post that passed every check: from this site, by staff whose roles grant
/// `P`, carrying their session's CSRF token. Anything else is answered with the refusal (the
/// staff sign-in, 403) before the handler runs.
pub struct StaffForm<P: Needs> {
    pub staff: Staff,
    pub fields: Fields,
    needs: PhantomData<P>,
}

impl<P: Needs> FromRequest<AppState> for StaffForm<P> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let lang = Lang::of(&parts);
        let staff = Staff::from_request_parts(&mut parts, state).await?;
        if let Some(refused) = staff.refuses(P::PERMISSION, lang) {
            return Err(refused);
        }
        let Ok(body) = axum::body::to_bytes(body, gatehouse_api::MAX_BODY_BYTES).await else {
            return Err(refusal(lang, StatusCode::PAYLOAD_TOO_LARGE, Cm::NotAllowed));
        };
        let (me, fields) = forms::signed_post(&parts.headers, Some(staff.0), &body, lang, "/staff")
            .map_err(|refused| *refused)?;
        Ok(Self {
            staff: Staff(me),
            fields,
            needs: PhantomData,
        })
    }
}

/// `GET /staff`: the areas this member of staff may open.
async fn home(lang: Lang, staff: Staff) -> Response {
    let t = |m: Cm| m.text(lang);
    let roles = staff.0.session.account.roles.to_string();
    let content = html! {
        h1 { (t(Cm::Console)) }
        p { (t(Cm::ConsoleLead)) }
        p.meta { (t(Cm::RolesLabel)) ": " (roles) }
        ul.cards {
            @for area in Area::NAV.iter().filter(|a| staff.opens(**a)) {
                li.card { h2 { a href=(area.href()) { (t(area.label())) } } }
            }
        }
    };
    staff.page(lang, Area::Home, t(Cm::Console), "/staff", content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_domain::access::{Role, Roles};

    /// The console's areas follow the permission table: a role opens an area exactly when
    /// the table grants it one of the area's permissions.
    #[test]
    fn each_role_opens_the_areas_its_permissions_allow() {
        let opens = |role: Role| -> Vec<Area> {
            let roles = Roles::of(&[role]);
            Area::NAV
                .into_iter()
                .filter(|a| a.opened_by().iter().any(|p| roles.allow(*p)))
                .collect()
        };
        assert_eq!(opens(Role::Administrator), Area::NAV.to_vec());
        assert_eq!(opens(Role::CatalogueOperator), vec![Area::Catalogue]);
        assert_eq!(opens(Role::GateStaff), vec![Area::CheckIn]);
        assert_eq!(
            opens(Role::CustomerSupport),
            vec![Area::Orders, Area::Privacy]
        );
        assert_eq!(
            opens(Role::SecurityAnalyst),
            vec![Area::CheckIn, Area::Privacy]
        );
        assert_eq!(opens(Role::Auditor), vec![Area::Audit]);
        assert!(opens(Role::Visitor).is_empty());
        assert!(opens(Role::Finance).is_empty());
    }
}
