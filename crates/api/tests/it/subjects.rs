//! Limits keyed by a person the request names: an ID number on orders and frequent visitors, a
//! phone on both routes that send sign-in codes. The route counts them (the edge cannot read
//! bodies); a person over the limit gets 429 `rate_limited` naming the field, before the
//! service does anything — whichever address, account or formatting the requests use.

use super::edge::{from, protected};
use super::*;

const POLICY: &str = r#"
version = 1
[[limit]]
name = "orders per ID number"
route = "POST /api/v1/orders"
key = "id_number"
burst = 2
per_secs = 600

[[limit]]
name = "codes per phone"
route = "POST /api/v1/auth/phone/code"
key = "phone"
burst = 1
per_secs = 600

[[limit]]
name = "challenge codes per phone"
route = "POST /.gatehouse/sms/code"
key = "phone"
burst = 1
per_secs = 600
"#;

#[tokio::test]
async fn an_id_number_over_its_limit_is_refused_from_any_address() {
    let a = api().await;
    let (app, _) = protected(&a, POLICY);
    let id = "110101199003070011";
    let order = |peer: &'static str, id: &'static str| {
        let app = app.clone();
        let token = a.visitor.clone();
        let body = a.booking(id).to_string();
        async move {
            let key = format!("k-{peer}-{}", id.replace(' ', ""));
            from(
                &app,
                peer,
                "POST",
                "/api/v1/orders",
                Some(&token),
                &body,
                &[("idempotency-key", &key)],
            )
            .await
        }
    };
    // Two attempts naming the ID number count, whatever the service answers them.
    let (first, _, body) = order("198.51.100.1", id).await;
    assert_eq!(first, StatusCode::CREATED, "{body}");
    let (second, _, _) = order("198.51.100.2", id).await;
    assert_ne!(second, StatusCode::TOO_MANY_REQUESTS);
    // The third, from yet another address and with the number spaced out: refused.
    let (third, retry, body) = order("203.0.113.3", "1101 0119 9003 0700 11").await;
    assert_eq!(third, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["field"], "tickets[0]");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("orders per ID number"));
    assert!(retry.is_some());
    assert!(!body.to_string().contains(id), "the number is not echoed");
    // Another person still books.
    let (other, _, body) = order("198.51.100.1", "110101198506150027").await;
    assert_eq!(other, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_phone_over_its_limit_gets_no_more_codes_on_either_route() {
    let a = api().await;
    let (app, _) = protected(&a, POLICY);
    let code = |peer: &'static str, path: &'static str, phone: &'static str| {
        let app = app.clone();
        async move {
            from(
                &app,
                peer,
                "POST",
                path,
                None,
                &json!({ "phone": phone }).to_string(),
                &[],
            )
            .await
        }
    };
    let (s, _, body) = code("198.51.100.1", "/api/v1/auth/phone/code", "13900001111").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    // Same phone, written differently, from another address: the policy's limit refuses it
    // (not the identity service's own resend limit: the message names the policy's limit).
    let (s, _, body) = code(
        "203.0.113.2",
        "/api/v1/auth/phone/code",
        "+86 139-0000-1111",
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["field"], "phone");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("codes per phone"),
        "{body}"
    );
    // The challenge's SMS path has its own limit for the phone.
    let (s, _, body) = code("203.0.113.4", "/.gatehouse/sms/code", "13900002222").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let (s, _, body) = code("203.0.113.5", "/.gatehouse/sms/code", "13900002222").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("challenge codes per phone"),
        "{body}"
    );
}
