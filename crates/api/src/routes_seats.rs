//! Cinema seats: staff edit each theatre's seat map; anyone sees a showing's seats and which
//! are taken, to pick seats before booking (`tickets[i].seat` in `POST /api/v1/orders`).

use axum::extract::State;
use axum::Json;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::seats::{Cell, RowLayout, SeatKind, SeatMap, SeatMapLayout};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// A theatre's seat map: rows of cells. A cell is `"7"` (seat 7), `"7w"` (wheelchair place),
/// `"7c"` (companion seat), `"7x"` (blocked, never sold) or `"_"` (aisle).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatMapBody {
    pub rows: Vec<SeatRowBody>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatRowBody {
    /// 1–3 letters or digits, e.g. `F`.
    pub label: String,
    pub cells: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TheatreSeatMap {
    pub theatre: String,
    /// Seats that can be sold (not blocked).
    pub sellable: usize,
    pub map: SeatMapBody,
}

fn body_of(map: &SeatMap) -> SeatMapBody {
    SeatMapBody {
        rows: map
            .layout()
            .rows
            .into_iter()
            .map(|r| SeatRowBody {
                label: r.label,
                cells: r.cells,
            })
            .collect(),
    }
}

/// Create or replace a theatre's seat map. Cinema products whose `theatre_type` names it sell
/// its seats; seats already sold keep their labels.
#[utoipa::path(put, path = "/api/v1/admin/seat-maps/{id}", tag = "catalogue", security(("bearer" = ["catalogue_manage"])),
    params(("id" = String, Path, description = "The theatre's name, as products' `theatre_type` gives it")),
    request_body = SeatMapBody,
    responses((status = 200, body = TheatreSeatMap), (status = 422, body = ErrorBody)))]
pub async fn put_seat_map(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::CatalogueManage>,
    ApiPath(theatre): ApiPath<String>,
    ApiJson(body): ApiJson<SeatMapBody>,
) -> Result<Json<TheatreSeatMap>, ApiError> {
    let layout = SeatMapLayout {
        rows: body
            .rows
            .into_iter()
            .map(|r| RowLayout {
                label: r.label,
                cells: r.cells,
            })
            .collect(),
    };
    let map = app.service.put_seat_map(&theatre, &layout).await?;
    Ok(Json(TheatreSeatMap {
        theatre: theatre.trim().to_owned(),
        sellable: map.sellable(),
        map: body_of(&map),
    }))
}

/// Every theatre's seat map.
#[utoipa::path(get, path = "/api/v1/admin/seat-maps", tag = "catalogue", security(("bearer" = ["catalogue_manage"])),
    responses((status = 200, body = Vec<TheatreSeatMap>)))]
pub async fn list_seat_maps(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::CatalogueManage>,
) -> Json<Vec<TheatreSeatMap>> {
    Json(
        app.service
            .seat_maps()
            .into_iter()
            .map(|(theatre, map)| TheatreSeatMap {
                theatre,
                sellable: map.sellable(),
                map: body_of(&map),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShowingSeatsResponse {
    pub slot: i64,
    pub theatre: String,
    /// Seats not held or sold.
    pub free: usize,
    pub rows: Vec<ShowingRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShowingRow {
    pub label: String,
    pub cells: Vec<ShowingCell>,
}

/// An aisle (`seat` is null) or a seat.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowingCell {
    pub seat: Option<String>,
    /// `standard`, `wheelchair` or `companion`.
    pub kind: Option<String>,
    /// Not for sale, or already held or sold.
    pub available: bool,
}

/// A showing's seats and which are free.
#[utoipa::path(get, path = "/api/v1/slots/{id}/seats", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = ShowingSeatsResponse), (status = 404, body = ErrorBody)))]
pub async fn showing_seats(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ShowingSeatsResponse>, ApiError> {
    let seats = app.service.showing_seats(SlotId(id))?;
    let taken: std::collections::HashSet<&str> = seats.taken.iter().map(String::as_str).collect();
    let mut free = 0;
    let rows = seats
        .map
        .rows
        .iter()
        .map(|r| ShowingRow {
            label: r.label.clone(),
            cells: r
                .cells
                .iter()
                .map(|c| match c {
                    Cell::Aisle => ShowingCell {
                        seat: None,
                        kind: None,
                        available: false,
                    },
                    Cell::Seat {
                        label,
                        kind,
                        blocked,
                    } => {
                        let available = !blocked && !taken.contains(label.as_str());
                        free += usize::from(available);
                        ShowingCell {
                            seat: Some(label.clone()),
                            kind: Some(
                                match kind {
                                    SeatKind::Standard => "standard",
                                    SeatKind::Wheelchair => "wheelchair",
                                    SeatKind::Companion => "companion",
                                }
                                .to_owned(),
                            ),
                            available,
                        }
                    }
                })
                .collect(),
        })
        .collect();
    Ok(Json(ShowingSeatsResponse {
        slot: id,
        theatre: seats.theatre,
        free,
        rows,
    }))
}
