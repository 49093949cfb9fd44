//! Cinema seats through the router: staff draw a theatre's seat map; visitors see a showing's
//! seats, pick theirs or take the best available side by side; a seat is never sold twice,
//! is held with its order and freed when the order is cancelled; bad seat labels and bad maps
//! are refused on their field.

use super::*;

/// A cinema product in theatre "dome" (4 rows of 8 with an aisle; A1 wheelchair, A2
/// companion, D8 blocked) and a Wednesday showing. Returns (slot, ticket type).
async fn showing(a: &Api) -> (i64, i64) {
    showing_priced(a, 0).await
}

async fn showing_priced(a: &Api, price_fen: u32) -> (i64, i64) {
    let row = |l: &str| json!({"label": l, "cells": ["1", "2", "3", "4", "_", "5", "6", "7", "8"]});
    let map = json!({"rows": [
        {"label": "A", "cells": ["1w", "2c", "3", "4", "_", "5", "6", "7", "8"]},
        row("B"), row("C"),
        {"label": "D", "cells": ["1", "2", "3", "4", "_", "5", "6", "7", "8x"]},
    ]});
    let (s, m) = call(
        &a.app,
        "PUT",
        "/api/v1/admin/seat-maps/dome",
        Some(&a.admin),
        Some(map),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["sellable"], 31);
    let (s, p) = call(&a.app, "POST", "/api/v1/admin/products", Some(&a.admin),
        Some(json!({"kind": "cinema", "name": "宇宙之旅", "theatre_type": "dome", "film": "Cosmos", "rules": {"max_visitors_per_order": 5, "id_limit_per_day": 5}}))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let product = p["id"].as_i64().unwrap();
    let (_, tt) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{product}/ticket-types"),
        Some(&a.admin),
        Some(json!({"name": "seat", "price_fen": price_fen})),
    )
    .await;
    call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{product}/notices"),
        Some(&a.admin),
        Some(json!({"text": "no food"})),
    )
    .await;
    let (s, slot) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{product}/slots"),
        Some(&a.admin),
        Some(json!({"date": "2026-11-25", "start": "14:00", "end": "15:30", "capacity": 31})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    (slot["id"].as_i64().unwrap(), tt["id"].as_i64().unwrap())
}

fn seated(slot: i64, tt: i64, seats: &[Option<&str>], first_id: u32) -> Value {
    let tickets: Vec<Value> = seats
        .iter()
        .enumerate()
        .map(|(i, seat)| {
            let mut t = json!({"ticket_type_id": tt, "visitor": {"name": "张三", "id_type": "resident_id", "id_number": synthetic_resident_id(first_id + i as u32)}});
            if let Some(seat) = seat {
                t["seat"] = json!(seat);
            }
            t
        })
        .collect();
    json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13812345678", "tickets": tickets})
}

#[tokio::test]
async fn visitors_pick_seats_or_get_the_best_together_and_no_seat_is_sold_twice() {
    let a = api().await;
    let (slot, tt) = showing(&a).await;
    let (s, o) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(seated(slot, tt, &[Some("c3"), Some("C4")], 1)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["tickets"][0]["seat"], "C3");
    assert_eq!(o["tickets"][1]["seat"], "C4");
    let first = o["id"].as_str().unwrap().to_owned();
    let first_tickets = json!([o["tickets"][0]["id"], o["tickets"][1]["id"]]);

    for (seats, status, code, field) in [
        (
            vec![Some("C3")],
            StatusCode::CONFLICT,
            "seat_taken",
            "tickets[0].seat",
        ),
        (
            vec![Some("B1"), Some("B1")],
            StatusCode::CONFLICT,
            "seat_taken",
            "tickets[1].seat",
        ),
        (
            vec![Some("Z9")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "tickets[0].seat",
        ),
        (
            vec![Some("D8")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "tickets[0].seat",
        ),
        (
            vec![Some("B1"), None],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "tickets",
        ),
    ] {
        let before = a.remaining_of(slot).await;
        let (s, e) = call(
            &a.app,
            "POST",
            "/api/v1/orders",
            Some(&a.other),
            Some(seated(slot, tt, &seats, 10)),
        )
        .await;
        assert_eq!(
            (s, e["code"].as_str(), e["field"].as_str()),
            (status, Some(code), Some(field)),
            "{seats:?}: {e}"
        );
        assert_eq!(
            a.remaining_of(slot).await,
            before,
            "a refused order changes nothing"
        );
    }

    // Best available: two together, never a wheelchair or companion place, never C3/C4.
    let (s, o) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(seated(slot, tt, &[None, None, None], 20)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let got: Vec<&str> = o["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["seat"].as_str().unwrap())
        .collect();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|s| s.starts_with(&got[0][..1])),
        "one row: {got:?}"
    );
    assert!(!got.contains(&"C3") && !got.contains(&"C4") && !got.contains(&"A1"));

    let (s, view) = call(
        &a.app,
        "GET",
        &format!("/api/v1/slots/{slot}/seats"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["free"], 31 - 5);
    let cell = |row: usize, i: usize| view["rows"][row]["cells"][i].clone();
    assert_eq!(cell(2, 2)["seat"], "C3");
    assert_eq!(cell(2, 2)["available"], false);
    assert_eq!(cell(0, 0)["kind"], "wheelchair");
    assert_eq!(cell(0, 4)["seat"], Value::Null, "an aisle");
    assert_eq!(cell(3, 8)["available"], false, "blocked");

    // Refunding frees the seats at once.
    let (s, r) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{first}/refund"),
        Some(&a.visitor),
        Some(json!({"ticket_ids": first_tickets})),
    )
    .await;
    assert!(s.is_success(), "{s} {r}");
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(seated(slot, tt, &[Some("C3")], 30)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, e) = call(
        &a.app,
        "GET",
        &format!("/api/v1/slots/{}/seats", a.slot),
        None,
        None,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "an unseated slot"
    );
}

#[tokio::test]
async fn bad_seat_maps_are_refused_on_their_field() {
    let a = api().await;
    for (body, field) in [
        (json!({"rows": []}), "rows"),
        (
            json!({"rows": [{"label": "A", "cells": ["1", "1"]}]}),
            "rows[0].cells[1]",
        ),
        (
            json!({"rows": [{"label": "A", "cells": ["1"]}, {"label": "a", "cells": ["1"]}]}),
            "rows[1].label",
        ),
        (
            json!({"rows": [{"label": "A", "cells": ["seat"]}]}),
            "rows[0].cells[0]",
        ),
        (json!({"rows": [{"label": "A", "cells": ["1x"]}]}), "rows"),
    ] {
        let (s, e) = call(
            &a.app,
            "PUT",
            "/api/v1/admin/seat-maps/dome",
            Some(&a.admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {e}"
        );
    }
    let (s, e) = call(
        &a.app,
        "PUT",
        "/api/v1/admin/seat-maps/dome",
        Some(&a.admin),
        Some(json!({"rows": "A1"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (_, list) = call(
        &a.app,
        "GET",
        "/api/v1/admin/seat-maps",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(list, json!([]), "nothing stored");
}

#[tokio::test]
async fn a_held_seat_is_freed_when_its_unpaid_hold_expires() {
    let a = api().await;
    let (slot, tt) = showing_priced(&a, 4500).await;
    let (s, o) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(seated(slot, tt, &[Some("B5")], 1)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["state"], "pending_payment");
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(seated(slot, tt, &[Some("B5")], 2)),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("seat_taken")),
        "held with the order"
    );
    // The hold ends unpaid; housekeeping expires it and the seat returns.
    a.clock.advance(jiff::SignedDuration::from_hours(2));
    assert_eq!(a.state.service.tick().await, 1);
    let other = session(&a.identity, "later", &[Role::Visitor]).await;
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&other),
        Some(seated(slot, tt, &[Some("B5")], 2)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
}

#[tokio::test]
async fn a_school_group_too_big_for_a_row_sits_in_neighbouring_rows() {
    let a = api().await;
    let (slot, tt) = showing(&a).await;
    let (s, c) = call(
        &a.app,
        "PUT",
        &format!("/api/v1/admin/slots/{slot}/group-capacity"),
        Some(&a.admin),
        Some(json!({"group_capacity": 12})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let (_, org) = call(
        &a.app,
        "POST",
        "/api/v1/groups/organisations",
        Some(&a.visitor),
        Some(json!({"name": "实验小学"})),
    )
    .await;
    call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/organisations/{}/decide", org["id"]),
        Some(&a.admin),
        Some(json!({"approve": true, "reason": "letter seen"})),
    )
    .await;
    let csv: String = (500..509)
        .map(|i| format!("学生{i},{}\n", synthetic_resident_id(i)))
        .collect();
    let (s, order) = call(
        &a.app,
        "POST",
        "/api/v1/groups/bookings",
        Some(&a.visitor),
        Some(json!({"organisation_id": org["id"], "slot_id": slot, "ticket_type_id": tt,
            "notice_version": 1, "contact_phone": "13812345678",
            "leader": {"name": "王老师", "id_type": "resident_id", "id_number": "11010519491231002X"},
            "csv": csv})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    let seats: Vec<&str> = order["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["seat"].as_str().unwrap())
        .collect();
    assert_eq!(seats.len(), 10, "no row holds 10 (an aisle splits each)");
    let distinct: std::collections::HashSet<&&str> = seats.iter().collect();
    assert_eq!(distinct.len(), 10);
    let mut rows: Vec<char> = seats.iter().map(|s| s.chars().next().unwrap()).collect();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), 2, "two rows: {seats:?}");
    assert_eq!(
        rows[1] as u32 - rows[0] as u32,
        1,
        "neighbouring rows: {seats:?}"
    );
    assert!(!seats.contains(&"A1") && !seats.contains(&"A2") && !seats.contains(&"D8"));
}
