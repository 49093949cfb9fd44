//! Ticket codes through the router: every valid ticket of an order carries a signed code that
//! verifies with the gate's public key and names the ticket, its slot and a window around the
//! slot; its QR is served as SVG and PNG to the owner only.

use super::*;

fn verifier() -> gatehouse_tickets::TicketVerifier {
    let codes = gatehouse_tickets::TicketCodes::from_secret(
        1,
        TICKET_SECRET,
        jiff::SignedDuration::from_mins(30),
        jiff::SignedDuration::ZERO,
    )
    .unwrap();
    codes.verifier()
}

pub(crate) async fn get_raw(
    a: &Api,
    uri: &str,
    token: &str,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let response = a
        .app
        .clone()
        .oneshot(
            Request::builder()
                .uri(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, kind, body)
}

#[tokio::test]
async fn valid_tickets_carry_signed_codes_drawn_as_svg_and_png() {
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
    let id = order["id"].as_str().unwrap();
    let ticket = order["tickets"][0]["id"].as_str().unwrap();
    let code = order["tickets"][0]["code"].as_str().unwrap();
    let claims = verifier().verify(code).unwrap().ticket().unwrap();
    assert_eq!(claims.ticket_id.0, ticket);
    assert_eq!(claims.slot_id.0, a.slot);
    // The slot is Wednesday 09:00–10:30 Shanghai; the code admits from 08:30.
    assert_eq!(claims.valid_from, "2026-11-25T00:30:00Z".parse().unwrap());
    assert_eq!(claims.valid_until, "2026-11-25T02:30:00Z".parse().unwrap());
    assert!(
        !code.contains("张") && !code.contains("002X"),
        "no personal data in a code"
    );

    let (s, kind, svg) = get_raw(
        &a,
        &format!("/api/v1/orders/{id}/qr?ticket={ticket}"),
        &a.visitor,
    )
    .await;
    assert_eq!(
        (s, kind.as_deref()),
        (StatusCode::OK, Some("image/svg+xml"))
    );
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    let (s, kind, png) = get_raw(
        &a,
        &format!("/api/v1/orders/{id}/qr?ticket={ticket}&format=png"),
        &a.visitor,
    )
    .await;
    assert_eq!((s, kind.as_deref()), (StatusCode::OK, Some("image/png")));
    assert_eq!(png.get(..4), Some(&b"\x89PNG"[..]));

    // Someone else's order is not found; a wrong ticket or format names its field.
    let (s, _, _) = get_raw(
        &a,
        &format!("/api/v1/orders/{id}/qr?ticket={ticket}"),
        &a.other,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}/qr?ticket=nope"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ticket"))
    );
    let (s, e) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}/qr?ticket={ticket}&format=gif"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("format"))
    );

    // A refunded ticket has no code any more.
    let (s, refunded) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{id}/refund"),
        Some(&a.visitor),
        Some(json!({"ticket_ids": [ticket]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{refunded}");
    assert!(refunded["tickets"][0]["code"].is_null());
    let (s, e) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}/qr?ticket={ticket}"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_state"))
    );
}
