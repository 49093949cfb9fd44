//! Seat maps for staff: each theatre's map as text — one row per line, `F: 1 2 3 _ 4 5w 6c 7x`
//! (a seat number; `w` a wheelchair place, `c` a companion seat, `x` blocked; `_` an aisle) —
//! edited and saved through the booking service, which validates it as for the API. Cinema
//! products whose theatre type names the theatre sell its seats.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_api::auth::perm;
use gatehouse_api::AppState;
use gatehouse_domain::access::Permission;
use gatehouse_domain::seats::{RowLayout, SeatMapLayout};
use maud::html;
use serde::Deserialize;

use super::text::Cm;
use super::{Area, Staff, StaffForm};
use crate::forms::{self, Field, FormError};
use crate::i18n::{Lang, Msg};

#[derive(Deserialize, Default)]
pub struct TheatreQuery {
    theatre: Option<String>,
}

/// A layout as the text staff edit.
pub fn to_text(layout: &SeatMapLayout) -> String {
    layout
        .rows
        .iter()
        .map(|r| format!("{}: {}", r.label, r.cells.join(" ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text staff typed as a layout (the booking service checks the cells and labels); the
/// line that has no `label:` is refused.
pub fn from_text(text: &str) -> Result<SeatMapLayout, usize> {
    let mut rows = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (label, cells) = line.split_once(':').ok_or(i + 1)?;
        rows.push(RowLayout {
            label: label.trim().to_owned(),
            cells: cells.split_whitespace().map(str::to_owned).collect(),
        });
    }
    Ok(SeatMapLayout { rows })
}

fn page(
    staff: &Staff,
    lang: Lang,
    theatre: &str,
    text: &str,
    error: Option<&FormError>,
) -> Response {
    let t = |m: Cm| m.text(lang);
    let content = html! {
        h1 { (t(Cm::SeatMaps)) @if !theatre.is_empty() { " · " (theatre) } }
        p.hint { (t(Cm::SeatMapHelp)) }
        (forms::form_error(error, &["theatre", "layout"]))
        form method="post" action="/staff/seat-maps" novalidate {
            input type="hidden" name="csrf" value=(staff.0.csrf);
            (Field { name: "theatre", label: t(Cm::Theatre), kind: "text", value: theatre, autocomplete: "off",
                     inputmode: None, hint: None, required: true }.render(error, lang))
            @let failed = error.filter(|e| e.field.as_deref() == Some("layout"));
            div.field {
                label for="layout" { (t(Cm::SeatMapText)) }
                textarea #layout name="layout" rows="14" spellcheck="false" required aria-required="true"
                    aria-invalid=[failed.map(|_| "true")] aria-describedby=[failed.map(|_| "layout-error")] { (text) }
                @if let Some(e) = failed { p.error #layout-error { (e.text) } }
            }
            button.button type="submit" { (Msg::Save.text(lang)) }
        }
        p { a href="/staff/catalogue" { "← " (t(Cm::Products)) } }
    };
    staff.page(
        lang,
        Area::Catalogue,
        t(Cm::SeatMaps),
        "/staff/seat-maps",
        content,
    )
}

/// `GET /staff/seat-maps?theatre=…`: a theatre's map to edit (none given: a new one).
pub async fn edit(
    State(app): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<TheatreQuery>,
) -> Response {
    if let Some(refused) = staff.refuses(Permission::CatalogueManage, lang) {
        return refused;
    }
    let theatre = q.theatre.unwrap_or_default();
    let text = app
        .service
        .seat_maps()
        .into_iter()
        .find(|(name, _)| *name == theatre)
        .map(|(_, map)| to_text(&map.layout()))
        .unwrap_or_default();
    page(&staff, lang, &theatre, &text, None)
}

/// `POST /staff/seat-maps`: saves a theatre's map.
pub async fn save(
    State(app): State<AppState>,
    lang: Lang,
    StaffForm { staff, fields, .. }: StaffForm<perm::CatalogueManage>,
) -> Response {
    let theatre = fields.get("theatre").unwrap_or_default().trim().to_owned();
    let text = fields.get("layout").unwrap_or_default().to_owned();
    let result = match from_text(&text) {
        Err(line) => Err(FormError {
            field: Some("layout".into()),
            text: format!("{} {line}", Cm::SeatMapBadLine.text(lang)),
        }),
        Ok(layout) => app
            .service
            .put_seat_map(&theatre, &layout)
            .await
            .map(drop)
            .map_err(|e| {
                let mut e = FormError::from_api(e, lang);
                if e.field.as_deref() != Some("theatre") {
                    e.field = Some("layout".into());
                }
                e
            }),
    };
    match result {
        Ok(()) => {
            let query =
                serde_urlencoded::to_string([("theatre", theatre.as_str())]).unwrap_or_default();
            Redirect::to(&format!("/staff/seat-maps?{query}")).into_response()
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page(&staff, lang, &theatre, &text, Some(&e)),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips_and_names_a_bad_line() {
        let text = "A: 1 2 _ 3 4w\nB: 1c 2 _ 3x 4";
        let layout = from_text(text).unwrap();
        assert_eq!(layout.rows.len(), 2);
        assert_eq!(layout.rows[1].cells, ["1c", "2", "_", "3x", "4"]);
        assert_eq!(to_text(&layout), text);
        assert_eq!(from_text("A: 1 2\n\nno label here"), Err(3));
    }
}
