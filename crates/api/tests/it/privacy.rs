//! Reveal with purpose, through the real router: only a role with `personal_data_reveal` sees
//! a field in clear, only after stating why, and every reveal is in the audit log (who, role,
//! record, field, purpose, network) before the value leaves; everything else stays masked.

use axum::http::StatusCode;
use gatehouse_domain::access::Role;
use gatehouse_domain::identity::synthetic_resident_id;
use serde_json::{json, Value};

use super::{api, call, session};

async fn reveals(a: &super::Api) -> Vec<Value> {
    let (s, trail) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?action=reveal",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{trail}");
    trail["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn staff_reveal_one_field_with_a_purpose_and_every_reveal_is_audited() {
    let a = api().await;
    let order = a.book(&a.visitor, "11010519491231002X").await;
    let id = order["id"].as_str().unwrap();
    let ticket = order["tickets"][0]["id"].as_str().unwrap();
    let uri = format!("/api/v1/admin/orders/{id}/reveal");
    let support = session(&a.identity, "support", &[Role::CustomerSupport]).await;
    let operator = session(&a.identity, "operator", &[Role::CatalogueOperator]).await;
    let purpose = "the visitor called to change the visit date";

    // A role without the permission cannot reveal, and nothing is recorded.
    let (s, body) = call(
        &a.app,
        "POST",
        &uri,
        Some(&operator),
        Some(json!({"field": "contact_phone", "purpose": purpose})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, _) = call(
        &a.app,
        "POST",
        &uri,
        Some(&a.visitor),
        Some(json!({"field": "contact_phone", "purpose": purpose})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(reveals(&a).await.is_empty());

    // Bad requests name their field and reveal nothing.
    for (body, field) in [
        (json!({"field": "contact_phone", "purpose": "x"}), "purpose"),
        (
            json!({"field": "contact_phone", "purpose": "   "}),
            "purpose",
        ),
        (json!({"field": "password", "purpose": purpose}), "field"),
        (
            json!({"field": "id_number", "purpose": purpose}),
            "ticket_id",
        ),
    ] {
        let (s, err) = call(&a.app, "POST", &uri, Some(&support), Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["field"], field, "{err}");
        assert!(!err.to_string().contains("13812345678"));
    }
    let (s, _) = call(
        &a.app,
        "POST",
        &uri,
        Some(&support),
        Some(json!({"field": "id_number", "ticket_id": "nope", "purpose": purpose})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/admin/orders/nope/reveal",
        Some(&support),
        Some(json!({"field": "contact_phone", "purpose": purpose})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        reveals(&a).await.is_empty(),
        "refused requests reveal nothing"
    );

    // The permitted reveal: the value in clear, and its audit record first.
    let (s, phone) = call(
        &a.app,
        "POST",
        &uri,
        Some(&support),
        Some(json!({"field": "contact_phone", "purpose": purpose})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{phone}");
    assert_eq!(phone["value"], "13812345678");
    let (s, id_number) = call(&a.app, "POST", &uri, Some(&a.admin), Some(json!({"field": "id_number", "ticket_id": ticket, "purpose": "checking a refund claim at the desk"}))).await;
    assert_eq!(s, StatusCode::OK, "{id_number}");
    assert_eq!(id_number["value"], "11010519491231002X");
    let (s, name) = call(
        &a.app,
        "POST",
        &uri,
        Some(&support),
        Some(json!({"field": "visitor_name", "ticket_id": ticket, "purpose": purpose})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(name["value"], "张三");

    let records = reveals(&a).await;
    assert_eq!(records.len(), 3);
    let phone_record = records
        .iter()
        .find(|r| r["seq"] == phone["audit_seq"])
        .unwrap();
    assert_eq!(phone_record["subject"], format!("order:{id}"));
    assert_eq!(phone_record["field"], "contact_phone");
    assert_eq!(phone_record["purpose"], purpose);
    assert!(phone_record["role"]
        .as_str()
        .unwrap()
        .contains("customer_support"));
    assert!(phone_record["actor"].as_i64().is_some());
    assert!(phone_record["origin"].is_string());
    let id_record = records
        .iter()
        .find(|r| r["seq"] == id_number["audit_seq"])
        .unwrap();
    assert_eq!(id_record["subject"], format!("ticket:{ticket}"));
    // The log itself holds no clear personal data.
    let all = serde_json::to_string(&records).unwrap();
    for clear in ["13812345678", "11010519491231002X", "张三"] {
        assert!(!all.contains(clear), "{clear} in the audit log");
    }
    // Everything else staff see stays masked.
    let (_, view) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/orders/{id}"),
        Some(&support),
        None,
    )
    .await;
    assert_eq!(view["contact_phone"], "138****5678");
    assert_eq!(
        view["tickets"][0]["visitor"]["id_number"],
        "110105********002X"
    );
}

#[tokio::test]
async fn a_visitor_exports_everything_held_about_them_and_only_that() {
    let a = api().await;
    let (friend_id, other_id) = (synthetic_resident_id(7_001), synthetic_resident_id(7_002));
    let (s, _) = call(&a.app, "POST", "/api/v1/me/visitors", Some(&a.visitor),
        Some(json!({"name": "司马相如", "id_type": "resident_id", "id_number": friend_id, "phone": "13511112222"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, text) = call(&a.app, "GET", "/api/v1/face/consent-text", None, None).await;
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-consent",
        Some(&a.visitor),
        Some(json!({"text_version": text["version"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let order = a.book(&a.visitor, "11010519491231002X").await;
    // Another person's order must not show in this export.
    let _ = a.book(&a.other, &other_id).await;

    let (s, export) = call(
        &a.app,
        "GET",
        "/api/v1/me/data-export",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{export}");
    let visitors = export["frequent_visitors"].as_array().unwrap();
    assert_eq!(visitors.len(), 1);
    assert_eq!(visitors[0]["name"], "司马相如");
    assert_eq!(visitors[0]["id_number"], friend_id.as_str());
    assert_eq!(visitors[0]["phone"], "13511112222");
    let orders = export["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "only this person's orders");
    assert_eq!(orders[0]["id"], order["id"]);
    assert_eq!(orders[0]["contact_phone"], "13812345678");
    assert_eq!(orders[0]["tickets"][0]["visitor_name"], "张三");
    assert_eq!(orders[0]["tickets"][0]["id_number"], "11010519491231002X");
    assert_eq!(export["consents"][0]["purpose"], "face_verification");
    assert!(export["what_we_hold"].as_array().unwrap().len() >= 10);
    assert!(!export.to_string().contains(&other_id));

    let (_, trail) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?action=data_export",
        Some(&a.admin),
        None,
    )
    .await;
    let records = trail["events"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{trail}");
    assert!(records[0]["subject"]
        .as_str()
        .unwrap()
        .starts_with("account:"));
    assert!(!trail.to_string().contains("13511112222"));
    // Without a session there is nothing to export.
    let (s, _) = call(&a.app, "GET", "/api/v1/me/data-export", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn visitors_personal_data_is_erased_after_the_retention_period_and_facts_stay() {
    let a = api().await;
    let order = a.book(&a.visitor, "11010519491231002X").await;
    let id = order["id"].as_str().unwrap();
    let (_, me) = call(&a.app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    let visitor_id = gatehouse_domain::order::AccountId(me["account"]["id"].as_i64().unwrap());
    // The visit (2026-11-25) is 29 days ago: kept.
    a.clock.set("2026-12-24T04:00:00Z".parse().unwrap());
    let kept = a.state.service.purge_personal_data(30).await.unwrap();
    assert_eq!(kept.orders, 0);
    // 31 days after: erased, once.
    a.clock.set("2026-12-26T04:00:00Z".parse().unwrap());
    let purged = a.state.service.purge_personal_data(30).await.unwrap();
    assert_eq!((purged.orders, purged.tickets), (1, 1));
    assert_eq!(
        a.state
            .service
            .purge_personal_data(30)
            .await
            .unwrap()
            .orders,
        0,
        "once"
    );
    // A month on, sessions have ended: sign the visitor and an administrator in again.
    let visitor_account = a.identity.profile(visitor_id).await.unwrap().account;
    let visitor = a
        .identity
        .issue_session(
            visitor_account,
            gatehouse_domain::account::SignInMethod::Console,
        )
        .await
        .unwrap()
        .access_token;
    let admin = session(&a.identity, "admin later", &[Role::Administrator]).await;

    let (s, view) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(view["contact_phone"], "(erased)");
    assert_eq!(view["tickets"][0]["visitor"]["name"], "(erased)");
    assert_eq!(view["tickets"][0]["visitor"]["id_number"], "(erased)");
    assert_eq!(view["total_fen"], order["total_fen"], "the money stays");
    assert_eq!(
        view["tickets"].as_array().unwrap().len(),
        1,
        "the count stays"
    );
    let (s, _) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/orders/{id}/reveal"),
        Some(&admin),
        Some(json!({"field": "contact_phone", "purpose": "checking an old complaint"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing left to reveal");
    let (_, export) = call(
        &a.app,
        "GET",
        "/api/v1/me/data-export",
        Some(&visitor),
        None,
    )
    .await;
    assert_eq!(export["orders"][0]["contact_phone"], Value::Null);
    assert_eq!(export["orders"][0]["tickets"][0]["id_number"], Value::Null);
    assert!(!export.to_string().contains("11010519491231002X"));
}

#[tokio::test]
async fn the_consent_ledger_records_gives_and_withdrawals_and_withdrawal_takes_effect() {
    let a = api().await;
    let (s, texts) = call(&a.app, "GET", "/api/v1/consent-texts", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let version = |purpose: &str| {
        texts["texts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["purpose"] == purpose)
            .unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (risk, face) = (version("risk_assessment"), version("face_verification"));
    for (body, field) in [
        (
            json!({"purpose": "marketing", "text_version": risk}),
            "purpose",
        ),
        (
            json!({"purpose": "risk_assessment", "text_version": "old"}),
            "text_version",
        ),
    ] {
        let (s, err) = call(
            &a.app,
            "POST",
            "/api/v1/me/consents",
            Some(&a.visitor),
            Some(body),
        )
        .await;
        assert_eq!(
            (s, err["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{err}"
        );
    }
    for (purpose, version) in [("risk_assessment", &risk), ("face_verification", &face)] {
        let (s, given) = call(
            &a.app,
            "POST",
            "/api/v1/me/consents",
            Some(&a.visitor),
            Some(json!({"purpose": purpose, "text_version": version})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{given}");
        assert_eq!(given["withdrawn_at"], Value::Null);
    }
    a.book(&a.visitor, "11010519491231002X").await;
    // Withdrawing face verification takes effect: a verification no longer starts.
    let (s, _) = call(
        &a.app,
        "DELETE",
        "/api/v1/me/consents/face_verification",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &a.app,
        "GET",
        "/api/v1/me/face-consent",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no current face consent");
    let (s, refused) = call(&a.app, "POST", "/api/v1/me/face-verifications", Some(&a.visitor),
        Some(json!({"name": "张三", "id_type": "resident_id", "id_number": "11010519491231002X", "return_url": "https://museum.example/back"}))).await;
    assert!(s.is_client_error(), "{s} {refused}");
    let (s, _) = call(
        &a.app,
        "DELETE",
        "/api/v1/me/consents/marketing",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, ledger) = call(&a.app, "GET", "/api/v1/me/consents", Some(&a.visitor), None).await;
    assert_eq!(s, StatusCode::OK, "{ledger}");
    let consents = ledger["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 2, "{ledger}");
    let of = |purpose: &str| {
        consents
            .iter()
            .find(|c| c["purpose"] == purpose)
            .unwrap()
            .clone()
    };
    assert!(
        of("face_verification")["withdrawn_at"].is_string(),
        "withdrawal recorded"
    );
    assert_eq!(of("risk_assessment")["withdrawn_at"], Value::Null);
    assert_eq!(of("risk_assessment")["text_version"], risk.as_str());
    assert_eq!(ledger["booking_notices"][0]["notice_version"], 1);
    let (_, trail) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?action=consent_withdrawn",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(trail["events"].as_array().unwrap().len(), 1);
}

/// A visitor erases their account: refused while a visit is ahead, then done. Afterwards the old
/// session is dead, staff cannot reveal the order's personal data, the phone signs in to a new
/// empty account, and the ledger of requests and the audit log say what happened.
#[tokio::test]
async fn a_visitor_erases_their_account_and_nothing_leads_back() {
    let a = api().await;
    let phone = "13712345678";
    let (token, _) = super::identity::phone_session(&a, phone).await;
    let number = synthetic_resident_id(41);
    let (s, v) = call(
        &a.app,
        "POST",
        "/api/v1/me/visitors",
        Some(&token),
        Some(json!({"name": "李四", "id_type": "resident_id", "id_number": number})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let order = a.book(&token, &number).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let ticket = order["tickets"][0]["id"].as_str().unwrap().to_owned();

    // A correction of the order's contact phone, then a bad one.
    let uri = format!("/api/v1/orders/{id}/contact-phone");
    let (s, _) = call(
        &a.app,
        "PUT",
        &uri,
        Some(&token),
        Some(json!({"contact_phone": "13900001111"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, err) = call(
        &a.app,
        "PUT",
        &uri,
        Some(&token),
        Some(json!({"contact_phone": "12"})),
    )
    .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("contact_phone"))
    );
    let (s, err) = call(
        &a.app,
        "PUT",
        &uri,
        Some(&a.other),
        Some(json!({"contact_phone": "13900002222"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "someone else's order: {err}");
    let (_, mine) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(mine["contact_phone"], "139****1111");

    let erase = |confirm: &str| json!({ "confirm": confirm });
    let (s, err) = call(
        &a.app,
        "DELETE",
        "/api/v1/me",
        Some(&token),
        Some(erase("yes")),
    )
    .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("confirm"))
    );
    let (s, err) = call(
        &a.app,
        "DELETE",
        "/api/v1/me",
        Some(&token),
        Some(erase("erase my account")),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("erasure_waits_for_visits")),
        "{err}"
    );
    let (s, _) = call(&a.app, "GET", "/api/v1/me/visitors", Some(&token), None).await;
    assert_eq!(s, StatusCode::OK, "a refused erasure changed nothing");

    let (s, c) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{id}/refund"),
        Some(&token),
        Some(json!({"ticket_ids": [ticket]})),
    )
    .await;
    assert!(s.is_success(), "{c}");
    let (s, erased) = call(
        &a.app,
        "DELETE",
        "/api/v1/me",
        Some(&token),
        Some(erase("erase my account")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{erased}");
    assert_eq!(
        (
            erased["orders_kept_without_personal_data"].as_u64(),
            erased["frequent_visitors_deleted"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // The old session is gone.
    let (s, _) = call(&a.app, "GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Staff still see the order's facts, but nothing of the person, and cannot reveal it.
    let (s, seen) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/orders/{id}"),
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert!(
        !seen.to_string().contains("1111") && !seen.to_string().contains("李"),
        "{seen}"
    );
    for field in [
        json!({"field": "contact_phone"}),
        json!({"field": "id_number", "ticket_id": ticket}),
    ] {
        let mut body = field.clone();
        body["purpose"] = json!("checking what is left after an erasure");
        let (s, err) = call(
            &a.app,
            "POST",
            &format!("/api/v1/admin/orders/{id}/reveal"),
            Some(&a.admin),
            Some(body),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{err}");
    }
    // The same phone starts afresh (once the code may be sent again): nothing of the old
    // account comes back.
    a.clock.advance(jiff::SignedDuration::from_mins(10));
    let (again, _) = super::identity::phone_session(&a, phone).await;
    let (_, export) = call(&a.app, "GET", "/api/v1/me/data-export", Some(&again), None).await;
    assert_eq!(export["orders"], json!([]));
    assert_eq!(export["frequent_visitors"], json!([]));
    let (_, requests) = call(
        &a.app,
        "GET",
        "/api/v1/me/data-requests",
        Some(&again),
        None,
    )
    .await;
    assert_eq!(
        requests.as_array().unwrap().len(),
        1,
        "only the new account's export: {requests}"
    );
    let (_, trail) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?action=account_erased",
        Some(&a.admin),
        None,
    )
    .await;
    let events = trail["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{trail}");
    assert!(!trail.to_string().contains(phone) && !trail.to_string().contains(&number));
}

/// A request taken by staff has a deadline and a status; only the permission's holders see
/// the queue (and seeing it is audited); an erasure request is done by carrying it out.
#[tokio::test]
async fn staff_track_data_requests_to_their_deadline() {
    let a = api().await;
    let support = session(&a.identity, "support", &[Role::CustomerSupport]).await;
    let operator = session(&a.identity, "operator", &[Role::CatalogueOperator]).await;
    let (s, filed) = call(
        &a.app,
        "POST",
        "/api/v1/me/data-requests",
        Some(&a.visitor),
        Some(json!({"kind": "correction", "request_text": "my name on ticket X is 张三 but should be 张叁"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{filed}");
    assert_eq!(filed["status"], "open");
    let received: jiff::Timestamp = filed["received_at"].as_str().unwrap().parse().unwrap();
    let due: jiff::Timestamp = filed["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        due.duration_since(received),
        jiff::SignedDuration::from_hours(15 * 24)
    );
    for (body, field) in [
        (
            json!({"kind": "correction", "request_text": ""}),
            "request_text",
        ),
        (json!({"kind": "rename", "request_text": "x"}), "kind"),
        (
            json!({"kind": "export", "request_text": "x".repeat(1001)}),
            "request_text",
        ),
    ] {
        let (s, err) = call(
            &a.app,
            "POST",
            "/api/v1/me/data-requests",
            Some(&a.visitor),
            Some(body),
        )
        .await;
        assert_eq!(
            (s, err["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{err}"
        );
    }
    let (s, _) = call(
        &a.app,
        "GET",
        "/api/v1/admin/data-requests",
        Some(&operator),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, queue) = call(
        &a.app,
        "GET",
        "/api/v1/admin/data-requests?status=open",
        Some(&support),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{queue}");
    assert_eq!(
        queue[0]["request_text"],
        "my name on ticket X is 张三 but should be 张叁"
    );
    let (_, overdue) = call(
        &a.app,
        "GET",
        "/api/v1/admin/data-requests?overdue=true",
        Some(&support),
        None,
    )
    .await;
    assert_eq!(overdue, json!([]));
    a.clock
        .advance(jiff::SignedDuration::from_hours(15 * 24 + 1));
    // Staff sessions are short: sign in again after two weeks.
    let support = session(&a.identity, "support2", &[Role::CustomerSupport]).await;
    let (_, overdue) = call(
        &a.app,
        "GET",
        "/api/v1/admin/data-requests?overdue=true",
        Some(&support),
        None,
    )
    .await;
    assert_eq!(overdue.as_array().unwrap().len(), 1);
    assert_eq!(overdue[0]["overdue"], true);

    let id = filed["id"].as_str().unwrap();
    let answer =
        |status: &str, outcome: Option<&str>| json!({"status": status, "outcome": outcome});
    let uri = format!("/api/v1/admin/data-requests/{id}");
    let (s, err) = call(
        &a.app,
        "POST",
        &uri,
        Some(&support),
        Some(answer("refused", None)),
    )
    .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("outcome"))
    );
    let (s, taken) = call(
        &a.app,
        "POST",
        &uri,
        Some(&support),
        Some(answer("in_progress", None)),
    )
    .await;
    assert_eq!(
        (s, taken["status"].as_str()),
        (StatusCode::OK, Some("in_progress")),
        "{taken}"
    );
    let (s, done) = call(
        &a.app,
        "POST",
        &uri,
        Some(&support),
        Some(answer("done", Some("ticket rebooked under the right name"))),
    )
    .await;
    assert_eq!(
        (s, done["status"].as_str()),
        (StatusCode::OK, Some("done")),
        "{done}"
    );
    let (s, err) = call(
        &a.app,
        "POST",
        &uri,
        Some(&support),
        Some(answer("refused", Some("too late"))),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("state_conflict")),
        "an answer is final"
    );
    let (s, answered) = call(
        &a.app,
        "GET",
        "/api/v1/admin/data-requests?status=done",
        Some(&support),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{answered}");
    assert_eq!(
        answered[0]["outcome"],
        "ticket rebooked under the right name"
    );

    // An erasure request taken by phone, carried out by support.
    let person = session(&a.identity, "person", &[Role::Visitor]).await;
    let (_, me) = call(&a.app, "GET", "/api/v1/me", Some(&person), None).await;
    let other_id = me["account"]["id"].as_i64().unwrap();
    let (s, erasure) = call(
        &a.app,
        "POST",
        "/api/v1/admin/data-requests",
        Some(&support),
        Some(json!({"account_id": other_id, "kind": "erasure", "channel": "phone"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{erasure}");
    let eid = erasure["id"].as_str().unwrap();
    let (s, err) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/data-requests/{eid}"),
        Some(&support),
        Some(answer("done", Some("x"))),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("erasure_not_done"))
    );
    let (s, erased) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/data-requests/{eid}/erase"),
        Some(&support),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{erased}");
    let (s, _) = call(&a.app, "GET", "/api/v1/me", Some(&person), None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the erased account's session ended"
    );
    let (s, _) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/data-requests/{eid}/erase"),
        Some(&support),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "once");
    let auditor = session(&a.identity, "auditor", &[Role::Auditor]).await;
    let (_, listed) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?action=data_requests_listed",
        Some(&auditor),
        None,
    )
    .await;
    assert!(
        listed["events"].as_array().unwrap().len() >= 3,
        "each look at the queue is audited"
    );
}
