//! Block and allow lists through the staff API: an entry is in force at once, refuses before
//! any route (403 `blocked`, a reference but never the reason), ends on time, is removed once,
//! and every refusal reaches the security events with the reason; an allow entry skips the
//! client's limits; bad entries get 422 on their field; only traffic staff may change them.

use super::edge::{from, protected, POLICY};
use super::*;

async fn add(app: &Router, staff: &str, body: Value) -> (StatusCode, Value) {
    call(
        app,
        "POST",
        "/api/v1/admin/traffic/lists",
        Some(staff),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_blocked_network_is_refused_before_any_route_until_the_entry_ends_or_goes() {
    let a = api().await;
    let (app, edge) = protected(&a, POLICY);
    let analyst = session(&a.identity, "analyst", &[Role::SecurityAnalyst]).await;
    let (s, entry) = add(
        &app,
        &analyst,
        json!({"action": "block", "kind": "ip", "value": "198.51.100.7/24",
               "reason": "scraper farm", "expires_in_secs": 3600}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{entry}");
    assert_eq!(entry["value"], "198.51.100.0/24");
    let id = entry["id"].as_i64().unwrap();

    let before = a.remaining().await;
    let order = a.booking("11010519491231002X").to_string();
    let (s, _, e) = from(
        &app,
        "198.51.100.99",
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        &order,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "blocked");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains(&id.to_string()), "{message}");
    assert!(
        !message.contains("scraper"),
        "the reason stays with staff: {message}"
    );
    assert_eq!(a.remaining().await, before, "nothing was booked");
    let slot = format!("/api/v1/slots/{}", a.slot);
    assert_eq!(
        from(&app, "198.51.100.1", "GET", &slot, None, "", &[])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        from(&app, "198.51.101.1", "GET", &slot, None, "", &[])
            .await
            .0,
        StatusCode::OK
    );

    // Every refusal reaches the security events, with the reason.
    edge.flush_refusals(a.traffic.as_ref()).await;
    let (_, events) = call(
        &app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.admin),
        None,
    )
    .await;
    let blocked = events_of(&events, "traffic_blocked");
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    assert!(blocked
        .iter()
        .all(|e| e["detail"].as_str().unwrap().contains("scraper farm")));
    assert!(blocked.iter().any(|e| e["ip"] == "198.51.100.99"));

    // The entry ends on time…
    a.clock.advance(jiff::SignedDuration::from_secs(3601));
    edge.refresh_lists().await.unwrap();
    assert_eq!(
        from(&app, "198.51.100.1", "GET", &slot, None, "", &[])
            .await
            .0,
        StatusCode::OK
    );
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/admin/traffic/lists",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(list["entries"], json!([]));

    // …and one without an end lasts until removed, once.
    let (_, entry) = add(
        &app,
        &analyst,
        json!({"action": "block", "kind": "ip", "value": "198.51.100.1", "reason": "again"}),
    )
    .await;
    let id = entry["id"].as_i64().unwrap();
    assert_eq!(
        from(&app, "198.51.100.1", "GET", &slot, None, "", &[])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let path = format!("/api/v1/admin/traffic/lists/{id}");
    assert_eq!(
        call(&app, "DELETE", &path, Some(&analyst), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        from(&app, "198.51.100.1", "GET", &slot, None, "", &[])
            .await
            .0,
        StatusCode::OK
    );
    let (s, e) = call(&app, "DELETE", &path, Some(&analyst), None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (_, trail) = call(&app, "GET", "/api/v1/admin/audit", Some(&a.admin), None).await;
    assert!(
        trail.to_string().contains("traffic_list_entry_removed"),
        "{trail}"
    );
}

#[tokio::test]
async fn a_blocked_account_is_refused_whether_or_not_the_edge_knows_its_session() {
    let a = api().await;
    let (app, _) = protected(&a, POLICY);
    let (_, me) = call(&app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    let account = me["account"]["id"].as_i64().unwrap();
    let (s, e) = add(
        &app,
        &a.admin,
        json!({"action": "block", "kind": "account", "value": account.to_string(), "reason": "resold tickets"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    // The session is cached: the edge refuses it.
    let (s, _, e) = from(
        &app,
        "203.0.113.5",
        "GET",
        "/api/v1/me",
        Some(&a.visitor),
        "",
        &[],
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("blocked"))
    );
    // Not cached (as on another node): the route's sign-in check refuses it.
    a.identity
        .forget_account(gatehouse_domain::AccountId(account));
    let (s, e) = call(&app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("blocked"))
    );
    // Other accounts are not affected.
    assert_eq!(
        call(&app, "GET", "/api/v1/me", Some(&a.other), None)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_allowed_address_skips_the_client_limits() {
    let a = api().await;
    let (app, _) = protected(&a, POLICY);
    let (s, _) = add(
        &app,
        &a.admin,
        json!({"action": "allow", "kind": "ip", "value": "192.0.2.0/24", "reason": "museum office"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for _ in 0..5 {
        let (s, _, _) = from(
            &app,
            "192.0.2.10",
            "POST",
            "/api/v1/orders",
            None,
            "{}",
            &[],
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "reaches the route every time");
    }
    for expected in [
        StatusCode::UNAUTHORIZED,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let (s, _, _) = from(
            &app,
            "192.0.3.10",
            "POST",
            "/api/v1/orders",
            None,
            "{}",
            &[],
        )
        .await;
        assert_eq!(s, expected, "an address outside the entry is limited");
    }
}

#[tokio::test]
async fn bad_entries_are_refused_on_their_field_and_only_traffic_staff_may_add() {
    let a = api().await;
    let app = &a.app;
    let entry = |action: &str, kind: &str, value: &str| json!({"action": action, "kind": kind, "value": value, "reason": "r"});
    let mut cases = vec![
        (entry("ban", "ip", "10.0.0.1"), "action"),
        (entry("block", "phone", "138"), "kind"),
        (entry("block", "ip", "10.0.0.0/4"), "value"),
        (entry("block", "ip", "not-an-ip"), "value"),
        (entry("block", "account", "x"), "value"),
        (entry("block", "device", "two words"), "value"),
        (
            json!({"action": "block", "kind": "ip", "value": "10.0.0.1", "reason": " "}),
            "reason",
        ),
    ];
    let mut timed = entry("block", "ip", "10.0.0.1");
    timed["expires_at"] = json!("2020-01-01T00:00:00Z");
    cases.push((timed.clone(), "expires_at"));
    timed["expires_at"] = json!("tomorrow");
    cases.push((timed, "expires_at"));
    let mut both = entry("block", "ip", "10.0.0.1");
    both["expires_at"] = json!("2030-01-01T00:00:00Z");
    both["expires_in_secs"] = json!(60);
    cases.push((both, "expires_in_secs"));
    let mut zero = entry("block", "ip", "10.0.0.1");
    zero["expires_in_secs"] = json!(0);
    cases.push((zero, "expires_in_secs"));
    for (body, field) in cases {
        let (s, e) = add(app, &a.admin, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {e}");
        assert_eq!(e["field"], field, "{body} → {e}");
    }
    let (s, e) = add(app, &a.visitor, entry("block", "ip", "10.0.0.1")).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (_, list) = call(
        app,
        "GET",
        "/api/v1/admin/traffic/lists",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(list["entries"], json!([]), "nothing was added");
}
