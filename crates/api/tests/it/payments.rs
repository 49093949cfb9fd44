//! The payment routes through the real router: paying, the WeChat Pay notification endpoint
//! (genuine, repeated, forged, malformed), the order's money, refunds with money, security
//! events and reconciliation reports, and the error answers for bad input.

use super::*;

/// A paid ticket type (60.00 yuan) on the harness's product; returns its id.
async fn paid_ticket_type(a: &Api) -> i64 {
    let (s, tt) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{}/ticket-types", a.product),
        Some(&a.admin),
        Some(json!({"name": "adult", "price_fen": 6000})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{tt}");
    tt["id"].as_i64().unwrap()
}

async fn paid_order(a: &Api, tt: i64, id_number: &str) -> String {
    let mut body = a.booking(id_number);
    body["tickets"][0]["ticket_type_id"] = json!(tt);
    let (s, order) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    assert_eq!(order["state"], "pending_payment");
    order["id"].as_str().unwrap().to_owned()
}

async fn notify(a: &Api, n: &gatehouse_providers::courier::Outgoing) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = n
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    call_raw(
        &a.app,
        "POST",
        "/api/v1/payments/notify/wechat_pay",
        None,
        Some(&n.body),
        &headers,
    )
    .await
}

#[tokio::test]
async fn a_visitor_pays_with_wechat_and_the_notification_confirms_the_order() {
    let a = api().await;
    let tt = paid_ticket_type(&a).await;
    let id = paid_order(&a, tt, "11010519491231002X").await;
    let (s, checkout) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{id}/pay"),
        Some(&a.visitor),
        Some(json!({"channel": "wechat_jsapi", "payer": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{checkout}");
    assert!(checkout["client"]["package"]
        .as_str()
        .unwrap()
        .starts_with("prepay_id="));
    assert_eq!(checkout["payment"]["amount_fen"], 6000);
    let payment_id = checkout["payment"]["id"].as_str().unwrap().to_owned();
    a.wechat.pay(&payment_id).await.unwrap();
    let genuine = a.wechat.paid_notification(&payment_id, None).unwrap();

    // A forged copy first: refused, a security event, nothing changed.
    let (s, e) = notify(&a, &genuine.forged()).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("notification_forged"))
    );
    let (_, order) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(order["state"], "pending_payment");

    let (s, _) = notify(&a, &genuine).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = notify(&a, &genuine).await;
    assert_eq!(
        s,
        StatusCode::NO_CONTENT,
        "a repeated notification is acknowledged"
    );
    let (_, order) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(order["state"], "confirmed");
    let (s, money) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}/payments"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(money["ledger"].as_array().unwrap().len(), 1);
    assert_eq!(money["ledger"][0]["kind"], "charge");
    assert_eq!(money["payments"][0]["state"], "paid");
    // Another visitor sees nothing of it.
    let (s, _) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}/payments"),
        Some(&a.other),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Refunding the ticket returns the money through WeChat Pay.
    let ticket = order["tickets"][0]["id"].as_str().unwrap();
    let (s, refunded) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{id}/refund"),
        Some(&a.visitor),
        Some(json!({"ticket_ids": [ticket]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["state"], "refunded");
    let (_, money) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/orders/{id}/payments"),
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(money["refunds"][0]["state"], "processing");
    assert_eq!(money["refunds"][0]["amount_fen"], 6000);
    assert_eq!(money["ledger"][1]["kind"], "refund");

    let (s, events) = call(
        &a.app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(events["events"][0]["kind"], "payment_notification_forged");
    let (s, _) = call(
        &a.app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Finance reconciles the day: the charge and the refund match WeChat Pay's bill.
    let finance = session(&a.identity, "finance", &[Role::Finance]).await;
    let (s, report) = call(
        &a.app,
        "POST",
        "/api/v1/admin/reconciliations",
        Some(&finance),
        Some(json!({"provider": "wechat_pay", "day": "2026-11-23"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(
        (
            report["matched"].as_u64(),
            report["differences"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0))
    );
    let (s, stored) = call(
        &a.app,
        "GET",
        "/api/v1/admin/reconciliations?provider=wechat_pay&day=2026-11-23",
        Some(&finance),
        None,
    )
    .await;
    assert_eq!((s, &stored), (StatusCode::OK, &report));
}

#[tokio::test]
async fn bad_payment_requests_get_clear_errors_and_change_nothing() {
    let a = api().await;
    let tt = paid_ticket_type(&a).await;
    let id = paid_order(&a, tt, "11010519491231002X").await;
    let pay = |body: Value| {
        let uri = format!("/api/v1/orders/{id}/pay");
        let app = a.app.clone();
        let token = a.visitor.clone();
        async move { call(&app, "POST", &uri, Some(&token), Some(body)).await }
    };
    for (body, status, code, field) in [
        (
            json!({"channel": "bitcoin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "channel",
        ),
        (
            json!({"channel": "wechat_jsapi"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "payer",
        ),
        (
            json!({"channel": "wechat_jsapi", "payer": "a b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "payer",
        ),
        (
            json!({"channel": "alipay_qr"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "provider_not_configured",
            "channel",
        ),
        (
            json!({"channel": "wechat_jsapi", "payer": "o", "amount_fen": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "amount_fen",
        ),
    ] {
        let (s, e) = pay(body.clone()).await;
        assert_eq!(
            (s, e["code"].as_str(), e["field"].as_str()),
            (status, Some(code), Some(field)),
            "{body}: {e}"
        );
    }
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders/nope/pay",
        Some(&a.visitor),
        Some(json!({"channel": "wechat_jsapi", "payer": "o"})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    // A free order has nothing to pay.
    let (_, free) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking(&synthetic_resident_id(7))),
    )
    .await;
    assert_eq!(free["state"], "confirmed", "{free}");
    let (s, e) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{}/pay", free["id"].as_str().unwrap()),
        Some(&a.visitor),
        Some(json!({"channel": "wechat_jsapi", "payer": "o"})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_to_pay")),
        "{e}"
    );
    // Notifications that are not notifications.
    for (body, headers) in [
        ("{}", vec![]),
        (
            "not json",
            vec![
                ("wechatpay-serial", "x"),
                ("wechatpay-timestamp", "1"),
                ("wechatpay-nonce", "n"),
                ("wechatpay-signature", "s"),
            ],
        ),
    ] {
        let (s, e) = call_raw(
            &a.app,
            "POST",
            "/api/v1/payments/notify/wechat_pay",
            None,
            Some(body),
            &headers,
        )
        .await;
        assert!(s.is_client_error(), "{body}: {s} {e}");
    }
    let (s, e) = call_raw(
        &a.app,
        "POST",
        "/api/v1/payments/notify/alipay",
        None,
        Some("a=b"),
        &[],
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("provider_not_configured")
        )
    );
    // Reconciliation input.
    let (s, e) = call(
        &a.app,
        "GET",
        "/api/v1/admin/reconciliations?provider=paypal&day=2026-11-23",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("provider"))
    );
    let (s, e) = call(
        &a.app,
        "GET",
        "/api/v1/admin/reconciliations?provider=wechat_pay&day=yesterday",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("day"))
    );
    let (s, _) = call(
        &a.app,
        "GET",
        "/api/v1/admin/reconciliations?provider=wechat_pay&day=2026-11-01",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, money) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}/payments"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert!(money["payments"].as_array().unwrap().is_empty(), "{money}");
}
