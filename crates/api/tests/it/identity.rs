//! Sign-in, sessions, cookies and CSRF, frequent visitors, isolation between visitors, the
//! break-glass administrator and the audit trail, through the real router.

use super::*;
use axum::http::HeaderMap;
use gatehouse_domain::Clock;

/// A call that also returns the response headers.
async fn call_full(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

/// The newest code texted to `phone`, read from the local provider's outbox as staff.
pub(crate) async fn texted_code(a: &Api, phone: &str) -> String {
    let (s, outbox) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/sms-outbox?phone={phone}"),
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{outbox}");
    let text = outbox["messages"].as_array().unwrap().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    text.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()[..6]
        .to_owned()
}

async fn send_code(a: &Api, phone: &str) -> (StatusCode, Value) {
    call(
        &a.app,
        "POST",
        "/api/v1/auth/phone/code",
        None,
        Some(json!({"phone": phone})),
    )
    .await
}

async fn sign_in(a: &Api, phone: &str, code: &str) -> (StatusCode, Value) {
    call(
        &a.app,
        "POST",
        "/api/v1/auth/phone/sign-in",
        None,
        Some(json!({"phone": phone, "code": code})),
    )
    .await
}

/// Signs a phone in and returns (access token, refresh token).
pub(super) async fn phone_session(a: &Api, phone: &str) -> (String, String) {
    assert_eq!(send_code(a, phone).await.0, StatusCode::ACCEPTED);
    let code = texted_code(a, phone).await;
    let (s, session) = sign_in(a, phone, &code).await;
    assert_eq!(s, StatusCode::OK, "{session}");
    (
        session["access_token"].as_str().unwrap().to_owned(),
        session["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_phone_signs_in_with_a_texted_code() {
    let a = api().await;
    let phone = "13912345678";
    let (s, sent) = send_code(&a, phone).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(sent["sent"], true);
    let code = texted_code(&a, phone).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let (s, e) = sign_in(&a, phone, wrong).await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("code_wrong"), Some("code"))
    );
    let (s, session) = sign_in(&a, phone, &code).await;
    assert_eq!(s, StatusCode::OK, "{session}");
    assert_eq!(session["account"]["roles"], json!(["visitor"]));
    let token = session["access_token"].as_str().unwrap();
    let (s, me) = call(&a.app, "GET", "/api/v1/me", Some(token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (me["phone"].as_str(), me["signed_in_with"].as_str()),
        (Some("139****5678"), Some("phone_code"))
    );
    // A code works once.
    let (s, e) = sign_in(&a, phone, &code).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("code_expired"))
    );
    // The same phone signs in to the same account next time.
    a.clock.advance(jiff::SignedDuration::from_secs(61));
    let (again, _) = phone_session(&a, phone).await;
    let (_, me2) = call(&a.app, "GET", "/api/v1/me", Some(&again), None).await;
    assert_eq!(me2["account"]["id"], me["account"]["id"]);
}

#[tokio::test]
async fn codes_expire_and_die_after_five_wrong_tries() {
    let a = api().await;
    let phone = "13700000001";
    send_code(&a, phone).await;
    let code = texted_code(&a, phone).await;
    a.clock.advance(jiff::SignedDuration::from_secs(301));
    let (s, e) = sign_in(&a, phone, &code).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("code_expired"))
    );

    a.clock.advance(jiff::SignedDuration::from_secs(60));
    send_code(&a, phone).await;
    let code = texted_code(&a, phone).await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for left in (0..5).rev() {
        let (s, e) = sign_in(&a, phone, wrong).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("code_wrong"))
        );
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} attempts")),
            "{e}"
        );
    }
    let (s, e) = sign_in(&a, phone, &code).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("code_expired")),
        "the right code after five wrong ones"
    );
}

#[tokio::test]
async fn sends_are_limited_per_phone_and_answers_do_not_reveal_accounts() {
    let a = api().await;
    let (known, unknown) = ("13800000001", "13800000002");
    phone_session(&a, known).await;
    a.clock.advance(jiff::SignedDuration::from_secs(61));
    let (s1, r1) = send_code(&a, known).await;
    let (s2, r2) = send_code(&a, unknown).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&r1), keys(&r2));
    assert_eq!(r1["expires_at"], r2["expires_at"]);
    // A second send within a minute is refused, with when to retry.
    let (s, h, e) = call_full(
        &a.app,
        "POST",
        "/api/v1/auth/phone/code",
        Some(json!({"phone": unknown})),
        &[],
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Bad phones are a clear 422 and send nothing.
    let (s, e) = send_code(&a, "12345").await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_field"),
            Some("phone")
        )
    );
    let (s, e) = sign_in(&a, unknown, "12ab56").await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code"))
    );
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/auth/phone/code",
        None,
        Some(json!({"phone": "1".repeat(70_000)})),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_signs_the_chain_out() {
    let a = api().await;
    let (access, refresh) = phone_session(&a, "13600000001").await;
    let (s, next) = call(
        &a.app,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{next}");
    let new_access = next["access_token"].as_str().unwrap();
    assert_ne!(new_access, access);
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me", Some(&access), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "the rotated session ended"
    );
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me", Some(new_access), None)
            .await
            .0,
        StatusCode::OK
    );
    // Someone replays the old refresh token: both the replay and the live session are refused.
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_invalid"))
    );
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me", Some(new_access), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Tampered and expired tokens.
    let mut tampered = new_access.to_owned();
    tampered.replace_range(5..6, if &new_access[5..6] == "a" { "b" } else { "a" });
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me", Some(&tampered), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (fresh, _) = phone_session(&a, "13600000002").await;
    a.clock.advance(jiff::SignedDuration::from_hours(3));
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me", Some(&fresh), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "visitor sessions last 2 h"
    );
}

#[tokio::test]
async fn sign_out_and_sign_out_everywhere() {
    let a = api().await;
    let phone = "13500000001";
    let (one, _) = phone_session(&a, phone).await;
    a.clock.advance(jiff::SignedDuration::from_secs(61));
    let (two, _) = phone_session(&a, phone).await;
    a.clock.advance(jiff::SignedDuration::from_secs(61));
    let (three, _) = phone_session(&a, phone).await;
    let (s, r) = call(&a.app, "POST", "/api/v1/auth/sign-out", Some(&one), None).await;
    assert_eq!((s, r["sessions"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me", Some(&one), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me", Some(&two), None).await.0,
        StatusCode::OK
    );
    let (s, r) = call(
        &a.app,
        "POST",
        "/api/v1/auth/sign-out-everywhere",
        Some(&two),
        None,
    )
    .await;
    assert_eq!((s, r["sessions"].as_u64()), (StatusCode::OK, Some(2)));
    for t in [&two, &three] {
        assert_eq!(
            call(&a.app, "GET", "/api/v1/me", Some(t), None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn the_web_gets_http_only_cookies_and_must_send_the_csrf_token() {
    let a = api().await;
    let phone = "13400000001";
    send_code(&a, phone).await;
    let code = texted_code(&a, phone).await;
    let (s, h, body) = call_full(
        &a.app,
        "POST",
        "/api/v1/auth/phone/sign-in",
        Some(json!({"phone": phone, "code": code, "mode": "cookie"})),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "{body}"
    );
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let cookies: Vec<&str> = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("gh_session="))
        .unwrap();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("gh_refresh="))
        .unwrap();
    assert!(
        refresh.contains("HttpOnly")
            && refresh.contains("SameSite=Strict")
            && refresh.contains("Path=/api/v1/auth"),
        "{refresh}"
    );
    let jar = cookies
        .iter()
        .map(|c| c.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ");

    let (s, _, _) = call_full(&a.app, "GET", "/api/v1/me", None, &[("cookie", &jar)]).await;
    assert_eq!(s, StatusCode::OK);
    let visitor =
        json!({"name": "李四", "id_type": "resident_id", "id_number": synthetic_resident_id(5)});
    let (s, _, e) = call_full(
        &a.app,
        "POST",
        "/api/v1/me/visitors",
        Some(visitor.clone()),
        &[("cookie", &jar)],
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_mismatch"))
    );
    let (s, _, e) = call_full(
        &a.app,
        "POST",
        "/api/v1/me/visitors",
        Some(visitor.clone()),
        &[("cookie", &jar), ("x-csrf-token", "0000")],
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_mismatch"))
    );
    let (_, list) = call(&a.app, "GET", "/api/v1/me/visitors", Some(&a.visitor), None).await;
    assert_eq!(
        list["visitors"],
        json!([]),
        "nothing was added by the refused requests"
    );
    let (s, _, e) = call_full(
        &a.app,
        "POST",
        "/api/v1/me/visitors",
        Some(visitor),
        &[("cookie", &jar), ("x-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    // Refresh from the cookie, then sign out clears the cookies.
    let (s, h, body) = call_full(
        &a.app,
        "POST",
        "/api/v1/auth/refresh",
        Some(json!({"mode": "cookie"})),
        &[("cookie", &jar)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let jar: String = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = body["csrf_token"].as_str().unwrap();
    let (s, h, _) = call_full(
        &a.app,
        "POST",
        "/api/v1/auth/sign-out",
        None,
        &[("cookie", &jar), ("x-csrf-token", csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h
        .get_all("set-cookie")
        .iter()
        .all(|v| v.to_str().unwrap().contains("Max-Age=0")));
    let (s, _, _) = call_full(&a.app, "GET", "/api/v1/me", None, &[("cookie", &jar)]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn frequent_visitors_are_validated_masked_limited_and_private() {
    let a = api().await;
    let v = Some(a.visitor.as_str());
    let person = |n: u32| json!({"name": "王小明", "id_type": "resident_id", "id_number": synthetic_resident_id(n), "phone": "13811112222"});
    let (s, added) = call(&a.app, "POST", "/api/v1/me/visitors", v, Some(person(1))).await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    assert_eq!(
        (added["name"].as_str(), added["phone"].as_str()),
        (Some("王**"), Some("138****2222"))
    );
    assert!(added["id_number"].as_str().unwrap().contains('*'));
    let id = added["id"].as_str().unwrap().to_owned();
    // Bad input: clear field errors, nothing stored.
    for (body, field) in [
        (
            json!({"name": "王", "id_type": "resident_id", "id_number": "110105194912310020"}),
            "id_number",
        ),
        (
            json!({"name": "", "id_type": "resident_id", "id_number": synthetic_resident_id(2)}),
            "name",
        ),
        (
            json!({"name": "王", "id_type": "resident_id", "id_number": synthetic_resident_id(2), "phone": "12"}),
            "phone",
        ),
        (json!({"name": "王", "id_type": "resident_id"}), "id_number"),
        (
            json!({"name": "王", "id_type": "driver_licence", "id_number": "x"}),
            "id_type",
        ),
    ] {
        let (s, e) = call(&a.app, "POST", "/api/v1/me/visitors", v, Some(body)).await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{e}"
        );
    }
    let (s, e) = call(&a.app, "POST", "/api/v1/me/visitors", v, Some(person(1))).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate_visitor"))
    );
    let (_, list) = call(&a.app, "GET", "/api/v1/me/visitors", v, None).await;
    assert_eq!(
        (
            list["visitors"].as_array().unwrap().len(),
            list["max"].as_u64()
        ),
        (1, Some(20))
    );
    for n in 2..=20 {
        assert_eq!(
            call(&a.app, "POST", "/api/v1/me/visitors", v, Some(person(n)))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let (s, e) = call(&a.app, "POST", "/api/v1/me/visitors", v, Some(person(21))).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("visitor_limit_reached"))
    );
    // Edit.
    let mut edited = person(30);
    edited["name"] = json!("王大明");
    edited["phone"] = Value::Null;
    let (s, e) = call(
        &a.app,
        "PUT",
        &format!("/api/v1/me/visitors/{id}"),
        v,
        Some(edited),
    )
    .await;
    assert_eq!(
        (s, e["name"].as_str(), e["phone"].clone()),
        (StatusCode::OK, Some("王**"), Value::Null)
    );
    // Another visitor cannot see, change or delete it, nor book with it: 404 like a guessed id.
    let other = Some(a.other.as_str());
    for (method, body) in [("GET", None), ("PUT", Some(person(40))), ("DELETE", None)] {
        let (s, e) = call(
            &a.app,
            method,
            &format!("/api/v1/me/visitors/{id}"),
            other,
            body,
        )
        .await;
        assert_eq!(
            (s, e["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{method}"
        );
    }
    let mut booking = a.booking("");
    booking["tickets"][0] = json!({"ticket_type_id": a.ticket_type, "visitor_id": id});
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        other,
        Some(booking.clone()),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("tickets[0].visitor_id")
        )
    );
    // The owner books with it.
    let (s, order) = call(&a.app, "POST", "/api/v1/orders", v, Some(booking)).await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    assert_eq!(order["tickets"][0]["visitor"]["name"], "王**");
    let mut both = a.booking(&synthetic_resident_id(50));
    both["tickets"][0]["visitor_id"] = json!(id);
    let (s, e) = call(&a.app, "POST", "/api/v1/orders", v, Some(both)).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("tickets[0]"))
    );
    // Delete.
    assert_eq!(
        call(
            &a.app,
            "DELETE",
            &format!("/api/v1/me/visitors/{id}"),
            v,
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&a.app, "GET", &format!("/api/v1/me/visitors/{id}"), v, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_visitor_never_reaches_another_visitors_orders_but_support_can() {
    let a = api().await;
    let (s, order) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking(&synthetic_resident_id(3))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = order["id"].as_str().unwrap();
    let other = Some(a.other.as_str());
    for (method, path, body) in [
        ("GET", format!("/api/v1/orders/{id}"), None),
        ("POST", format!("/api/v1/orders/{id}/cancel"), None),
        (
            "POST",
            format!("/api/v1/orders/{id}/refund"),
            Some(json!({"ticket_ids": [order["tickets"][0]["id"]]})),
        ),
    ] {
        let (s, e) = call(&a.app, method, &path, other, body.clone()).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}"
        );
        let (s, _) = call(
            &a.app,
            method,
            &path.replace(id, "0000000000000000"),
            other,
            body,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "a guessed id answers the same");
    }
    let (_, list) = call(&a.app, "GET", "/api/v1/orders", other, None).await;
    assert_eq!(list["orders"], json!([]));
    let support = session(&a.identity, "support", &[Role::CustomerSupport]).await;
    let gate = session(&a.identity, "gate", &[Role::GateStaff]).await;
    let (s, seen) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/orders/{id}"),
        Some(&support),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        seen["tickets"][0]["visitor"]["id_number"]
            .as_str()
            .unwrap()
            .contains('*'),
        "support sees personal data masked"
    );
    let (s, _) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/orders/{id}"),
        Some(&gate),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&support),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "staff do not use the visitor routes"
    );
}

#[tokio::test]
async fn break_glass_needs_the_password_and_a_fresh_totp_code() {
    let a = api().await;
    let secrets = a.identity.create_break_glass("root-local").await.unwrap();
    let secret = data_encoding::BASE32_NOPAD
        .decode(secrets.totp_secret_base32.as_bytes())
        .unwrap();
    let totp = gatehouse_identity::staff::totp_code(&secret, a.clock.now());
    let body = |password: &str, totp: &str| json!({"username": "root-local", "password": password, "totp": totp});
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/break-glass",
        None,
        Some(body("wrong", &totp)),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("credentials_invalid"))
    );
    let (s, session) = call(
        &a.app,
        "POST",
        "/api/v1/auth/break-glass",
        None,
        Some(body(&secrets.password, &totp)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{session}");
    assert_eq!(session["account"]["roles"], json!(["administrator"]));
    assert!(
        session.get("refresh_token").is_none(),
        "staff sessions are not refreshed"
    );
    let token = session["access_token"].as_str().unwrap();
    assert_eq!(
        call(&a.app, "GET", "/api/v1/admin/audit", Some(token), None)
            .await
            .0,
        StatusCode::OK
    );
    // The same code again is a replay.
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/auth/break-glass",
        None,
        Some(body(&secrets.password, &totp)),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An unknown user answers exactly like a wrong password.
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/break-glass",
        None,
        Some(json!({"username": "nobody", "password": "x", "totp": "123456"})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("credentials_invalid"))
    );
    // Guessing is limited per user name (5 failures since the last success; the replay above
    // was one); the limit eases after a few minutes.
    for _ in 0..4 {
        call(
            &a.app,
            "POST",
            "/api/v1/auth/break-glass",
            None,
            Some(body("guess", "000000")),
        )
        .await;
    }
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/break-glass",
        None,
        Some(body("guess", "000000")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    a.clock.advance(jiff::SignedDuration::from_mins(4));
    let totp = gatehouse_identity::staff::totp_code(&secret, a.clock.now());
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/auth/break-glass",
        None,
        Some(body(&secrets.password, &totp)),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the real administrator is not locked out for long"
    );
}

#[tokio::test]
async fn the_audit_trail_records_sign_ins_without_personal_data() {
    let a = api().await;
    let phone = "13300000001";
    phone_session(&a, phone).await;
    sign_in(&a, "13300000002", "123456").await;
    let auditor = session(&a.identity, "auditor", &[Role::Auditor]).await;
    let (s, trail) = call(&a.app, "GET", "/api/v1/admin/audit", Some(&auditor), None).await;
    assert_eq!(s, StatusCode::OK);
    let text = trail.to_string();
    assert!(
        text.contains("\"sign_in\"") && text.contains("\"sign_in_failed\""),
        "{text}"
    );
    assert!(text.contains("133****0001"));
    assert!(
        !text.contains(phone) && !text.contains("13300000002"),
        "{text}"
    );
}

#[tokio::test]
async fn mini_programs_sign_in_with_alipay_and_wechat_codes() {
    use gatehouse_providers::{
        alipay, alipay_fake::FakeAlipay, rsa_keys, wechat, wechat_fake::FakeWeChat, FakeServer,
    };
    let a = api().await;
    let body = |code: &str| json!({"code": code});
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/alipay/sign-in",
        None,
        Some(body("abc")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("provider_not_configured"))
    );

    let (private, public) = rsa_keys::generate_pem().unwrap();
    let fake_alipay = FakeAlipay::new("2021000000000002", &public).unwrap();
    let alipay_server = FakeServer::start(fake_alipay.router()).await.unwrap();
    let config = alipay::AlipayConfig {
        gateway: alipay_server.url("/gateway.do"),
        app_id: "2021000000000002".into(),
        app_private_key: private,
        alipay_public_key: fake_alipay.alipay_public_key_pem().to_owned(),
    };
    a.identity.register_external(Arc::new(
        alipay::AlipayClient::new(&config, Arc::new(gatehouse_domain::SystemClock)).unwrap(),
    ));
    let fake_wechat = FakeWeChat::new("wxapp", "wxsecret");
    let wechat_server = FakeServer::start(fake_wechat.router()).await.unwrap();
    a.identity
        .register_external(Arc::new(wechat::WeChatClient::new(wechat::WeChatConfig {
            api_base: wechat_server.url(""),
            app_id: "wxapp".into(),
            app_secret: "wxsecret".into(),
        })));

    let (s, first) = call(
        &a.app,
        "POST",
        "/api/v1/auth/alipay/sign-in",
        None,
        Some(body(&fake_alipay.issue_code("2088000000000077"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["account"]["roles"], json!(["visitor"]));
    let token = first["access_token"].as_str().unwrap();
    let (_, me) = call(&a.app, "GET", "/api/v1/me", Some(token), None).await;
    assert_eq!(me["signed_in_with"], "alipay");
    let (_, again) = call(
        &a.app,
        "POST",
        "/api/v1/auth/alipay/sign-in",
        None,
        Some(body(&fake_alipay.issue_code("2088000000000077"))),
    )
    .await;
    assert_eq!(
        again["account"]["id"], first["account"]["id"],
        "the same Alipay user, the same account"
    );
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/alipay/sign-in",
        None,
        Some(body("forged-code")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("provider_refused"))
    );

    let (s, wx) = call(
        &a.app,
        "POST",
        "/api/v1/auth/wechat/sign-in",
        None,
        Some(body(&fake_wechat.issue_code("oWx123"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{wx}");
    assert_ne!(wx["account"]["id"], first["account"]["id"]);
    let code = fake_wechat.issue_code("oWx123");
    call(
        &a.app,
        "POST",
        "/api/v1/auth/wechat/sign-in",
        None,
        Some(body(&code)),
    )
    .await;
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/wechat/sign-in",
        None,
        Some(body(&code)),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("provider_refused")),
        "a replayed code"
    );
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/auth/wechat/sign-in",
        None,
        Some(json!({"code": "x".repeat(300)})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code"))
    );
}
