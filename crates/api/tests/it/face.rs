//! Face verification through the router against the local Alibaba Cloud fake: consent first,
//! a forged or replayed callback changes nothing, a pass is bound to the ID number it verified
//! and lets that person book a product that requires it, and no face material is stored.

use super::*;
use gatehouse_providers::aliyun_face::{AliyunFaceClient, AliyunFaceConfig};
use gatehouse_providers::aliyun_face_fake::FakeAliyunFace;
use gatehouse_providers::FakeServer;

async fn with_face(a: &Api) -> (FakeAliyunFace, FakeServer) {
    let fake = FakeAliyunFace::new("LTAI5tFake", "fake-secret", "1000000006");
    let server = FakeServer::start(fake.router()).await.unwrap();
    fake.set_base_url(&server.url(""));
    a.identity
        .register_face_provider(Arc::new(AliyunFaceClient::new(
            AliyunFaceConfig {
                endpoint: server.url("/"),
                access_key_id: "LTAI5tFake".into(),
                access_key_secret: "fake-secret".into(),
                scene_id: "1000000006".into(),
            },
            Arc::new(gatehouse_domain::SystemClock),
        )));
    (fake, server)
}

/// The path and query of a callback URL, to deliver it to the in-process router.
fn local(url: &str) -> String {
    let i = url.find("/api/").unwrap();
    url[i..].to_owned()
}

#[tokio::test]
async fn face_verification_with_consent_unlocks_a_product_that_requires_it() {
    let a = api().await;
    let (fake, _server) = with_face(&a).await;
    let v = Some(a.visitor.as_str());
    // A product that requires face verification.
    let admin = Some(a.admin.as_str());
    let (_, p) = call(&a.app, "PUT", &format!("/api/v1/admin/products/{}", a.product), admin,
        Some(json!({"kind": "entry", "name": "入馆", "introduction": "hello", "rules": {"face_verification_required": true}}))).await;
    assert_eq!(p["rules"]["face_verification_required"], true, "{p}");
    let me = synthetic_resident_id(77);
    let (s, e) = call(&a.app, "POST", "/api/v1/orders", v, Some(a.booking(&me))).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("face_verification_required"))
    );

    let start = json!({"name": "张三", "id_type": "resident_id", "id_number": me, "return_url": "https://museum.example/back"});
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-verifications",
        v,
        Some(start.clone()),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("consent_required"))
    );
    let (_, text) = call(&a.app, "GET", "/api/v1/face/consent-text", None, None).await;
    let version = text["version"].as_str().unwrap();
    assert!(text["collected"].as_str().unwrap().contains("人脸"));
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-consent",
        v,
        Some(json!({"text_version": "old"})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("text_version"))
    );
    let (s, consent) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-consent",
        v,
        Some(json!({"text_version": version})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(consent["text_version"], version);

    let (s, started) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-verifications",
        v,
        Some(start),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{started}");
    assert_eq!(started["state"], "pending");
    let id = started["id"].as_str().unwrap().to_owned();
    let certify_id = started["certify_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    // A forged callback (wrong token) and one for an unknown certify id change nothing.
    let (s, _) = call(
        &a.app,
        "GET",
        &format!("/api/v1/face/callback?certifyId={certify_id}&passed=T&callbackToken=forged"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &a.app,
        "GET",
        "/api/v1/face/callback?certifyId=nope&passed=T&callbackToken=x",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, still) = call(
        &a.app,
        "GET",
        &format!("/api/v1/me/face-verifications/{id}"),
        v,
        None,
    )
    .await;
    assert_eq!(still["state"], "pending");

    // The person passes; the provider's callback records it.
    let (callback, back) = fake.finish(&certify_id, true).unwrap();
    assert_eq!(back, "https://museum.example/back");
    let (s, r) = call(&a.app, "GET", &local(&callback), None, None).await;
    assert_eq!(
        (s, r["state"].as_str()),
        (StatusCode::OK, Some("passed")),
        "{r}"
    );
    let (_, done) = call(
        &a.app,
        "GET",
        &format!("/api/v1/me/face-verifications/{id}"),
        v,
        None,
    )
    .await;
    assert_eq!(done["state"], "passed");
    assert!(done["valid_until"].is_string());
    // A replayed callback changes nothing.
    let (s, _) = call(&a.app, "GET", &local(&callback), None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, again) = call(
        &a.app,
        "GET",
        &format!("/api/v1/me/face-verifications/{id}"),
        v,
        None,
    )
    .await;
    assert_eq!(again["completed_at"], done["completed_at"]);
    // Another visitor cannot see it.
    let (s, _) = call(
        &a.app,
        "GET",
        &format!("/api/v1/me/face-verifications/{id}"),
        Some(&a.other),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The pass is bound to that ID number: someone else's booking still needs one.
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        v,
        Some(a.booking(&synthetic_resident_id(78))),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("face_verification_required"))
    );
    let (s, order) = call(&a.app, "POST", "/api/v1/orders", v, Some(a.booking(&me))).await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    // The other account does not share the pass.
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(a.booking(&me)),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Passes expire (after 24 h; the visitor signs in again meanwhile).
    let (_, profile) = call(&a.app, "GET", "/api/v1/me", v, None).await;
    let account = gatehouse_domain::order::AccountId(profile["account"]["id"].as_i64().unwrap());
    a.clock.advance(jiff::SignedDuration::from_hours(25));
    let account = a.identity.profile(account).await.unwrap().account;
    let fresh = a
        .identity
        .issue_session(account, SignInMethod::Console)
        .await
        .unwrap()
        .access_token;
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&fresh),
        Some(a.booking(&me)),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("face_verification_required"))
    );
}

#[tokio::test]
async fn a_failed_check_and_a_withdrawn_consent() {
    let a = api().await;
    let (fake, _server) = with_face(&a).await;
    let v = Some(a.visitor.as_str());
    let (_, text) = call(&a.app, "GET", "/api/v1/face/consent-text", None, None).await;
    call(
        &a.app,
        "POST",
        "/api/v1/me/face-consent",
        v,
        Some(json!({"text_version": text["version"]})),
    )
    .await;
    let (_, friend) = call(&a.app, "POST", "/api/v1/me/visitors", v,
        Some(json!({"name": "李四", "id_type": "resident_id", "id_number": synthetic_resident_id(90)}))).await;
    let start = json!({"visitor_id": friend["id"], "return_url": "https://museum.example/back"});
    let (s, started) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-verifications",
        v,
        Some(start.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{started}");
    let id = started["id"].as_str().unwrap();
    let certify_id = started["certify_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    fake.finish(&certify_id, false).unwrap();
    let (s, checked) = call(
        &a.app,
        "POST",
        &format!("/api/v1/me/face-verifications/{id}/check"),
        v,
        None,
    )
    .await;
    assert_eq!(
        (s, checked["state"].as_str()),
        (StatusCode::OK, Some("failed"))
    );
    // Passports are not verifiable by this provider; bad return URLs are refused.
    let (s, e) = call(&a.app, "POST", "/api/v1/me/face-verifications", v,
        Some(json!({"name": "A B", "id_type": "passport", "id_number": "E12345678", "return_url": "https://x"}))).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("id_type"))
    );
    let mut bad = start.clone();
    bad["return_url"] = json!("javascript:alert(1)");
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-verifications",
        v,
        Some(bad),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("return_url"))
    );
    // Withdrawn consent stops new verifications.
    assert_eq!(
        call(&a.app, "DELETE", "/api/v1/me/face-consent", v, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/me/face-verifications",
        v,
        Some(start),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("consent_required"))
    );
    assert_eq!(
        call(&a.app, "GET", "/api/v1/me/face-consent", v, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
