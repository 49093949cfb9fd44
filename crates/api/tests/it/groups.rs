//! Group member lists through the router: every row reported (valid and masked, or why not —
//! bad name, ID type or number, duplicates, members already holding a ticket that day); whole
//! files refused when they are not text, empty, or too large; nothing personal echoed for bad
//! rows.

use super::*;

async fn check(a: &Api, body: Value) -> (StatusCode, Value) {
    call(
        &a.app,
        "POST",
        "/api/v1/groups/members/check",
        Some(&a.visitor),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_member_list_is_reported_row_by_row() {
    let a = api().await;
    let booked = "11010519491231002X";
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(a.booking(booked)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let fresh = synthetic_resident_id(77);
    let csv = format!(
        "姓名,证件类型,证件号码\n张三,resident_id,{booked}\n李四,{fresh}\n王五,身份证,{fresh}\n赵六,resident_id,110105194912310021\n钱七,licence,1\n"
    );
    let (s, r) = check(&a, json!({"slot_id": a.slot, "csv": csv})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["valid"].as_u64(), r["invalid"].as_u64()),
        (Some(1), Some(4)),
        "{r}"
    );
    let codes: Vec<(u64, String)> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["line"].as_u64().unwrap(),
                row["problems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["code"].as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (2, "already_booked".to_owned()),
            (3, String::new()),
            (4, "duplicate".to_owned()),
            (5, "invalid_id_number".to_owned()),
            (6, "invalid_id_type".to_owned()),
        ]
    );
    assert_eq!(r["rows"][1]["name"], "李*");
    assert_ne!(r["rows"][1]["id_number"].as_str().unwrap(), fresh, "masked");
    let text = r.to_string();
    assert!(
        !text.contains(booked) && !text.contains("110105194912310021") && !text.contains(&fresh),
        "no ID number echoed"
    );

    // The same list saved by a Chinese spreadsheet (GB18030), sent as base64.
    let (gbk, _, _) = encoding_rs::GB18030.encode(&csv);
    let b64 = data_encoding::BASE64.encode(&gbk);
    let (s, r2) = check(&a, json!({"slot_id": a.slot, "csv_base64": b64})).await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    assert_eq!(r2["rows"][1]["name"], "李*");
}

#[tokio::test]
async fn bad_member_files_are_refused_whole() {
    let a = api().await;
    for (body, field) in [
        (json!({"slot_id": a.slot}), "csv"),
        (
            json!({"slot_id": a.slot, "csv": "a", "csv_base64": "YQ=="}),
            "csv",
        ),
        (
            json!({"slot_id": a.slot, "csv_base64": "not base64!"}),
            "csv_base64",
        ),
        (
            json!({"slot_id": a.slot, "csv_base64": data_encoding::BASE64.encode(b"\xff\xfe\x00\x80\x81")}),
            "csv",
        ),
        (json!({"slot_id": a.slot, "csv": ""}), "csv"),
        (
            json!({"slot_id": 999999, "csv": format!("张三,{}", synthetic_resident_id(1))}),
            "slot_id",
        ),
    ] {
        let (s, e) = check(&a, body.clone()).await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {e}"
        );
    }
    let many: String = (0..501)
        .map(|n| format!("张三,{}\n", synthetic_resident_id(n)))
        .collect();
    let (s, e) = check(&a, json!({"slot_id": a.slot, "csv": many})).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("csv")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("500"));
    // 100,000 rows: refused before it is read.
    let huge: String = (0..100_000)
        .map(|n| format!("张三,{}\n", synthetic_resident_id(n)))
        .collect();
    let (s, e) = check(&a, json!({"slot_id": a.slot, "csv": huge})).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
        "{e}"
    );
}

#[tokio::test]
async fn organisations_register_and_staff_decide_once_with_a_reason() {
    let a = api().await;
    let (s, org) = call(
        &a.app,
        "POST",
        "/api/v1/groups/organisations",
        Some(&a.visitor),
        Some(json!({"name": "实验小学"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{org}");
    assert_eq!(org["state"], "pending", "the harness requires approval");
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/groups/organisations",
        Some(&a.visitor),
        Some(json!({"name": "实验小学"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    for bad in [json!({"name": "x"}), json!({"name": "a\u{0}b"}), json!({})] {
        let (s, e) = call(
            &a.app,
            "POST",
            "/api/v1/groups/organisations",
            Some(&a.visitor),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
    }
    let (_, pending) = call(
        &a.app,
        "GET",
        "/api/v1/admin/organisations?state=pending",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let (s, e) = call(
        &a.app,
        "GET",
        "/api/v1/admin/organisations?state=maybe",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("state"))
    );
    let uri = format!("/api/v1/admin/organisations/{}/decide", org["id"]);
    let (s, e) = call(
        &a.app,
        "POST",
        &uri,
        Some(&a.admin),
        Some(json!({"approve": true, "reason": " "})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let (s, decided) = call(
        &a.app,
        "POST",
        &uri,
        Some(&a.admin),
        Some(json!({"approve": true, "reason": "school letter checked"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "approved");
    let (s, _) = call(
        &a.app,
        "POST",
        &uri,
        Some(&a.admin),
        Some(json!({"approve": false, "reason": "changed my mind"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "decided once");
    let (_, mine) = call(
        &a.app,
        "GET",
        "/api/v1/groups/organisations",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(mine[0]["decision_reason"], "school letter checked");
    let (_, others) = call(
        &a.app,
        "GET",
        "/api/v1/groups/organisations",
        Some(&a.other),
        None,
    )
    .await;
    assert_eq!(others, json!([]), "an account sees only its own");
    let (_, trail) = call(&a.app, "GET", "/api/v1/admin/audit", Some(&a.admin), None).await;
    assert!(trail.to_string().contains("organisation_approved"));
}

#[tokio::test]
async fn an_approved_organisation_books_the_group_capacity_one_ticket_and_code_per_member() {
    let a = api().await;
    let (s, cap) = call(
        &a.app,
        "PUT",
        &format!("/api/v1/admin/slots/{}/group-capacity", a.slot),
        Some(&a.admin),
        Some(json!({"group_capacity": 8})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{cap}");
    assert_eq!(
        (cap["group_capacity"].as_u64(), cap["group_taken"].as_u64()),
        (Some(8), Some(0))
    );
    let (_, org) = call(
        &a.app,
        "POST",
        "/api/v1/groups/organisations",
        Some(&a.visitor),
        Some(json!({"name": "实验小学"})),
    )
    .await;
    let members = |from: u32, n: u32| -> String {
        (from..from + n)
            .map(|i| format!("学生{i},{}\n", synthetic_resident_id(i)))
            .collect()
    };
    let booking = |csv: String| {
        json!({"organisation_id": org["id"], "slot_id": a.slot, "ticket_type_id": a.ticket_type, "notice_version": 1, "contact_phone": "13812345678",
        "leader": {"name": "王老师", "id_type": "resident_id", "id_number": "11010519491231002X"}, "csv": csv})
    };
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/groups/bookings",
        Some(&a.visitor),
        Some(booking(members(100, 5))),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_state")),
        "pending organisations do not book: {e}"
    );
    call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/organisations/{}/decide", org["id"]),
        Some(&a.admin),
        Some(json!({"approve": true, "reason": "ok"})),
    )
    .await;

    let public_before = a.remaining().await;
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/groups/bookings",
        Some(&a.visitor),
        Some(booking(format!("{}坏,123\n", members(100, 5)))),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("csv")),
        "a bad row refuses the list: {e}"
    );
    let (s, order) = call(
        &a.app,
        "POST",
        "/api/v1/groups/bookings",
        Some(&a.visitor),
        Some(booking(members(100, 5))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    let tickets = order["tickets"].as_array().unwrap();
    assert_eq!(
        tickets.len(),
        6,
        "the leader and 5 members, above the per-order maximum of 5"
    );
    assert!(
        tickets
            .iter()
            .all(|t| t["code"].as_str().is_some_and(|c| c.starts_with("GH1"))),
        "a code per member"
    );
    assert_eq!(
        a.remaining().await,
        public_before,
        "the public stock is untouched"
    );
    group_code_admits_the_group(&a, &order).await;

    // The group stock is its own: 2 left, so 3 more people are refused; staff cannot go below 6.
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/groups/bookings",
        Some(&a.visitor),
        Some(booking(members(200, 2))),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("sold_out")),
        "{e}"
    );
    let (s, e) = call(
        &a.app,
        "PUT",
        &format!("/api/v1/admin/slots/{}/group-capacity", a.slot),
        Some(&a.admin),
        Some(json!({"group_capacity": 5})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("capacity_below_taken")),
        "{e}"
    );
    // Someone else's organisation is not found.
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/groups/bookings",
        Some(&a.other),
        Some(booking(members(300, 1))),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Whoever already holds a ticket that day is refused on their own ticket (here the leader,
    // who leads the group booked above).
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/groups/bookings",
        Some(&a.visitor),
        Some(booking(members(400, 1))),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("id_limit_reached"),
            Some("tickets[0].visitor.id_number")
        ),
        "{e}"
    );
}

/// The group order's one code: drawn as a QR without naming a ticket, and at the gate it lets
/// in every member at once (a member already in with their own code is not counted again).
async fn group_code_admits_the_group(a: &Api, order: &Value) {
    let id = order["id"].as_str().unwrap();
    let group_code = order["group_code"]
        .as_str()
        .expect("a group code")
        .to_owned();
    let (s, kind, svg) =
        super::tickets::get_raw(a, &format!("/api/v1/orders/{id}/qr"), &a.visitor).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kind.as_deref(), Some("image/svg+xml"));
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    let (_, gate) = call(
        &a.app,
        "POST",
        "/api/v1/admin/gates",
        Some(&a.admin),
        Some(json!({"name": "group gate"})),
    )
    .await;
    let token = gate["token"].as_str().unwrap().to_owned();
    a.clock.set("2026-11-25T01:00:00Z".parse().unwrap());
    let first = order["tickets"][0]["code"].as_str().unwrap();
    let scan = |code: String| {
        let app = a.app.clone();
        let token = token.clone();
        async move {
            call(
                &app,
                "POST",
                "/api/v1/gate/scan",
                Some(&token),
                Some(json!({"code": code})),
            )
            .await
        }
    };
    let (s, alone) = scan(first.to_owned()).await;
    assert_eq!(
        (s, alone["people"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{alone}"
    );
    let (s, admitted) = scan(group_code.clone()).await;
    assert_eq!(s, StatusCode::OK, "{admitted}");
    assert_eq!(admitted["people"], 5, "the other five");
    assert_eq!(admitted["tickets"].as_array().unwrap().len(), 5);
    assert_eq!(admitted["group"]["order"], order["id"]);
    assert_eq!(admitted["group"]["head_count"], 6);
    assert_eq!(admitted["group"]["already_in"], 1);
    let (s, again) = scan(group_code).await;
    assert_eq!(
        (s, again["code"].as_str(), again["message"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("already_used"),
            Some("already used at 09:00, group gate")
        ),
        "{again}"
    );
    a.clock.set("2026-11-23T01:00:00Z".parse().unwrap());
}

#[tokio::test]
async fn only_a_group_order_has_one_code_for_all() {
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
    assert!(order.get("group_code").is_none(), "{order}");
    let id = order["id"].as_str().unwrap();
    let (s, _, body) =
        super::tickets::get_raw(&a, &format!("/api/v1/orders/{id}/qr"), &a.visitor).await;
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ticket")),
        "{e}"
    );
}
