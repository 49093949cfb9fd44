//! Gates through the router: staff register a device and get its credential once; the device
//! checks tickets in (a second scan is a 409 saying when and where), downloads the day's bundle
//! and uploads offline entries; bad codes, bad dates and revoked devices are refused with
//! stable codes; staff read live counts and double uses.

use super::*;

async fn device(a: &Api, name: &str) -> (String, String) {
    let (s, d) = call(
        &a.app,
        "POST",
        "/api/v1/admin/gates",
        Some(&a.admin),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    (
        d["device"]["id"].as_str().unwrap().to_owned(),
        d["token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_gate_checks_tickets_in_once_and_staff_watch_the_counts() {
    let a = api().await;
    let (s, order) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    let code = order["tickets"][0]["code"].as_str().unwrap().to_owned();
    let (gate_id, gate) = device(&a, "gate 3").await;
    let (_, other_gate) = device(&a, "gate 4").await;

    a.clock.set("2026-11-25T01:12:00Z".parse().unwrap());
    // Two days on, the morning's sessions have expired: staff sign in again.
    let admin = session(&a.identity, "gate lead", &[Role::Administrator]).await;
    let scan = |token: String, body: Value| {
        let app = a.app.clone();
        async move { call(&app, "POST", "/api/v1/gate/scan", Some(&token), Some(body)).await }
    };
    let (s, admitted) = scan(gate.clone(), json!({"code": code})).await;
    assert_eq!(s, StatusCode::OK, "{admitted}");
    assert_eq!(admitted["ticket"], order["tickets"][0]["id"]);
    assert_eq!(admitted["gate"], "gate 3");
    let (s, again) = scan(other_gate.clone(), json!({"code": code})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(again["code"], "already_used");
    assert_eq!(again["message"], "already used at 09:12, gate 3");
    assert_eq!(again["gate"], "gate 3");
    assert_eq!(again["used_at"], "2026-11-25T01:12:00Z");

    // Bad input: forged and truncated codes, missing fields, a staff session instead of a device.
    let mut forged = code.clone();
    forged.replace_range(100..101, if &code[100..101] == "A" { "B" } else { "A" });
    for (body, status, want) in [
        (
            json!({"code": forged}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_code_forged",
        ),
        (
            json!({"code": &code[..50]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "ticket_code_malformed",
        ),
        (
            json!({"code": 7}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
    ] {
        let (s, e) = scan(other_gate.clone(), body.clone()).await;
        assert_eq!(
            (s, e["code"].as_str().unwrap()),
            (status, want),
            "{body}: {e}"
        );
        assert!(
            e["field"].as_str().is_some_and(|f| f.starts_with("code")),
            "{e}"
        );
    }
    let (s, e) = scan(admin.clone(), json!({"code": code})).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("device_unknown"))
    );

    let (s, counts) = call(
        &a.app,
        "GET",
        "/api/v1/admin/check-ins?date=2026-11-25",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{counts}");
    assert_eq!(counts["slots"][0]["sold"], 1);
    assert_eq!(counts["slots"][0]["checked_in"], 1);
    assert_eq!(
        counts["slots"][0]["by_gate"],
        json!([{"gate": "gate 3", "checked_in": 1}])
    );
    for bad in ["2026-13-01", "yesterday", ""] {
        let (s, e) = call(
            &a.app,
            "GET",
            &format!("/api/v1/admin/check-ins?date={bad}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("date")),
            "{bad}"
        );
    }
    let visitor = session(&a.identity, "visitor again", &[Role::Visitor]).await;
    let (s, _) = call(
        &a.app,
        "GET",
        "/api/v1/admin/check-ins",
        Some(&visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Revoked: refused from now on.
    let (s, d) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/gates/{gate_id}/revoke"),
        Some(&admin),
        Some(json!({"reason": "stolen"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["revoked_reason"], "stolen");
    let (s, e) = scan(gate, json!({"code": code})).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("device_unknown"))
    );
    let (_, list) = call(&a.app, "GET", "/api/v1/admin/gates", Some(&admin), None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn offline_gates_download_the_day_and_their_uploads_reveal_double_uses() {
    let a = api().await;
    let (_, order) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    let code = order["tickets"][0]["code"].as_str().unwrap().to_owned();
    let (_, east) = device(&a, "east").await;
    let (_, west) = device(&a, "west").await;
    let (s, bundle) = call(
        &a.app,
        "GET",
        "/api/v1/gate/bundle?date=2026-11-25",
        Some(&east),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{bundle}");
    assert_eq!(bundle["gate"], "east");
    assert_eq!(bundle["expected"][0]["ticket"], order["tickets"][0]["id"]);
    assert_eq!(bundle["keys"][0]["key_id"], 1);
    let text = serde_json::to_string(&bundle).unwrap();
    assert!(
        !text.contains("张") && !text.contains("1101"),
        "no personal data in a bundle"
    );
    let parsed: gatehouse_gates::GateBundle = serde_json::from_value(bundle).unwrap();
    let mut gate = gatehouse_gates::OfflineGate::from_bundle(&parsed).unwrap();
    let admitted = gate
        .scan(&code, "2026-11-25T01:00:00Z".parse().unwrap())
        .unwrap();

    a.clock.set("2026-11-25T01:30:00Z".parse().unwrap());
    let admin = session(&a.identity, "gate lead", &[Role::Administrator]).await;
    let entry = json!({"code": admitted.lines[0].code, "at": admitted.lines[0].at.to_string()});
    let (s, up) = call(
        &a.app,
        "POST",
        "/api/v1/gate/entries",
        Some(&east),
        Some(json!({"entries": [entry]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["recorded"], 1);
    let second = json!({"code": code, "at": "2026-11-25T01:05:00Z"});
    let (_, up) = call(
        &a.app,
        "POST",
        "/api/v1/gate/entries",
        Some(&west),
        Some(json!({"entries": [second]})),
    )
    .await;
    assert_eq!(up["double_uses"], 1);
    let (s, doubles) = call(
        &a.app,
        "GET",
        "/api/v1/admin/check-ins/double-uses?date=2026-11-25",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        doubles["tickets"][0]["entries"].as_array().unwrap().len(),
        2
    );
    assert_eq!(doubles["tickets"][0]["entries"][1]["gate"], "west");

    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/gate/entries",
        Some(&west),
        Some(json!({"entries": [{"code": "GH1", "at": "2026-11-25T01:05:00Z"}]})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("entries[0].code"))
    );
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/gate/entries",
        Some(&west),
        Some(json!({"entries": []})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("entries"))
    );
}

#[tokio::test]
async fn a_no_show_lock_is_shown_to_the_visitor_and_lifted_by_staff_with_a_reason() {
    let a = api().await;
    // A slot later today (the harness locks after one no-show).
    let (s, slot) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{}/slots", a.product),
        Some(&a.admin),
        Some(json!({"date": "2026-11-23", "start": "10:00", "end": "10:30", "capacity": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    let mut booking = a.booking("11010519491231002X");
    booking["slot_id"] = slot["id"].clone();
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(booking.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    a.clock.set("2026-11-23T02:31:00Z".parse().unwrap());
    let swept = gatehouse_api::sweep_no_shows(&a.state).await.unwrap();
    assert_eq!((swept.recorded, swept.locks.len()), (1, 2));
    // Risk control counts it in the account's history.
    let (_, me) = call(&a.app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    let (s, r) = call(
        &a.app,
        "POST",
        "/api/v1/risk/assess",
        Some(&a.admin),
        Some(json!({"scenario": "bad_debt", "subject": {"account_id": me["account"]["id"]}, "event": {"kind": "pay"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, d) = call(
        &a.app,
        "GET",
        "/api/v1/admin/risk/decisions?limit=1",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(d["decisions"][0]["features"]["no_shows_90d"], 1.0, "{d}");

    let (s, me) = call(&a.app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let locks = me["booking_locks"].as_array().unwrap();
    assert_eq!(locks.len(), 2);
    assert_eq!(
        locks[0]["reason"],
        "1 no-shows within 90 days (the limit is 1)"
    );
    assert_eq!(locks[0]["until"], "2026-12-23T02:31:00Z");
    assert!(
        !me.to_string().contains("11010519491231002X"),
        "no ID number shown"
    );
    // Booking is refused with why and until when.
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_locked")),
        "{e}"
    );
    assert_eq!(e["until"], "2026-12-23T02:31:00Z");
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("id_locked"),
            Some("tickets[0].visitor.id_number")
        ),
        "{e}"
    );

    let (_, list) = call(
        &a.app,
        "GET",
        "/api/v1/admin/no-show-locks",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    for lock in list.as_array().unwrap() {
        let uri = format!("/api/v1/admin/no-show-locks/{}/lift", lock["id"]);
        let (s, e) = call(
            &a.app,
            "POST",
            &uri,
            Some(&a.admin),
            Some(json!({"reason": ""})),
        )
        .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let (s, lifted) = call(
            &a.app,
            "POST",
            &uri,
            Some(&a.admin),
            Some(json!({"reason": "train was cancelled"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{lifted}");
        assert_eq!(lifted["lifted_reason"], "train was cancelled");
        let (s, _) = call(
            &a.app,
            "POST",
            &uri,
            Some(&a.admin),
            Some(json!({"reason": "again"})),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT);
    }
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "lifted at once: {e}");
    let (_, me) = call(&a.app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    assert_eq!(me["booking_locks"], json!([]));
    assert_eq!(me["account"]["locked_until"], Value::Null);
    let (_, trail) = call(&a.app, "GET", "/api/v1/admin/audit", Some(&a.admin), None).await;
    let text = trail.to_string();
    assert!(
        text.contains("no_show_lock_lifted") && text.contains("train was cancelled"),
        "{text}"
    );
    assert!(text.contains("\"no_show_lock\""), "{text}");
}
