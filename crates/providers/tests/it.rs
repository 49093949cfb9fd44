//! Provider adapters against their local fakes over real HTTP, and the Alipay signing checked
//! against a real peer implementation, python-alipay-sdk from PyPI: it verifies what we sign,
//! and we verify what it signs. The peer runs when `GH_TEST_PEERS=1` (`.ci/run` installs it and
//! sets it); without it those checks say they were skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::{Arc, OnceLock};

use gatehouse_domain::SystemClock;
use gatehouse_identity::{ExternalIdentity, ProviderFailure};
use gatehouse_providers::alipay::{self, AlipayClient, AlipayConfig};
use gatehouse_providers::alipay_fake::FakeAlipay;
use gatehouse_providers::rsa_keys;
use gatehouse_providers::wechat::{WeChatClient, WeChatConfig};
use gatehouse_providers::wechat_fake::FakeWeChat;
use gatehouse_providers::FakeServer;

const APP_ID: &str = "2021000000000001";

/// The application's key pair (generating RSA keys is slow in debug builds: once per binary).
fn app_keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| rsa_keys::generate_pem().unwrap())
}

async fn alipay() -> (FakeAlipay, FakeServer, AlipayClient) {
    let (private, public) = app_keys();
    let fake = FakeAlipay::new(APP_ID, public).unwrap();
    let server = FakeServer::start(fake.router()).await.unwrap();
    let config = AlipayConfig {
        gateway: server.url("/gateway.do"),
        app_id: APP_ID.into(),
        app_private_key: private.clone(),
        alipay_public_key: fake.alipay_public_key_pem().to_owned(),
    };
    let client = AlipayClient::new(&config, Arc::new(SystemClock)).unwrap();
    (fake, server, client)
}

#[tokio::test]
async fn alipay_sign_in_through_the_fake_gateway() {
    let (fake, server, client) = alipay().await;
    let code = fake.issue_code("2088102150477652");
    assert_eq!(
        client.subject_for_code(&code).await.unwrap(),
        "2088102150477652"
    );
    // A code works once; unknown codes are refused, verifiably.
    let again = client.subject_for_code(&code).await.unwrap_err();
    assert!(
        matches!(&again, ProviderFailure::Refused(m) if m.contains("isv.code-invalid")),
        "{again:?}"
    );
    assert!(matches!(
        client.subject_for_code("nope").await,
        Err(ProviderFailure::Refused(_))
    ));

    // A response signed by someone else than Alipay is not believed.
    let (private, _) = app_keys();
    let impostor = FakeAlipay::new(APP_ID, &app_keys().1).unwrap();
    let forged = AlipayClient::new(
        &AlipayConfig {
            gateway: server.url("/gateway.do"),
            app_id: APP_ID.into(),
            app_private_key: private.clone(),
            alipay_public_key: impostor.alipay_public_key_pem().to_owned(),
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let code = fake.issue_code("2088000000000001");
    let e = forged.subject_for_code(&code).await.unwrap_err();
    assert!(
        matches!(&e, ProviderFailure::Unavailable(m) if m.contains("signature")),
        "{e:?}"
    );

    // A request signed with another application's key is refused by the gateway.
    let (other_private, _) = rsa_keys::generate_pem().unwrap();
    let wrong_key = AlipayClient::new(
        &AlipayConfig {
            gateway: server.url("/gateway.do"),
            app_id: APP_ID.into(),
            app_private_key: other_private,
            alipay_public_key: fake.alipay_public_key_pem().to_owned(),
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let e = wrong_key
        .subject_for_code(&fake.issue_code("2088000000000002"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderFailure::Unavailable(m) if m.contains("isv.invalid-signature")),
        "{e:?}"
    );
    // Nobody home.
    drop(server);
    assert!(matches!(
        client.subject_for_code("x").await,
        Err(ProviderFailure::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_tampered_request_fails_verification() {
    let (_, _server, client) = alipay().await;
    let mut params = client.signed_params(
        alipay::OAUTH_TOKEN,
        &[("grant_type", "authorization_code"), ("code", "abc")],
    );
    let public = rsa_keys::public_key(&app_keys().1).unwrap();
    assert!(alipay::verify_request(&params, &public));
    params.insert("code".into(), "abd".into());
    assert!(!alipay::verify_request(&params, &public));
}

fn peers_enabled() -> bool {
    if std::env::var("GH_TEST_PEERS").as_deref() == Ok("1") {
        true
    } else {
        eprintln!("skipped: set GH_TEST_PEERS=1 with python-alipay-sdk and wechatpayv3 installed (.ci/run does)");
        false
    }
}

fn peer(args: &[&str], stdin: Option<&str>) -> String {
    run_peer("alipay_peer.py", args, stdin)
}

fn run_peer(script: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let script = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("python3")
        .arg(script)
        // The SDK stamps requests with the local time; Alipay reads them as Beijing time.
        .env("TZ", "Asia/Shanghai")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_alipay_sdk_talks_to_our_gateway_and_verifies_our_signatures() {
    if !peers_enabled() {
        return;
    }
    let (fake, server, client) = alipay().await;
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = app_keys();
    let private_file = dir.path().join("app_private.pem");
    let alipay_public_file = dir.path().join("alipay_public.pem");
    let app_public_file = dir.path().join("app_public.pem");
    std::fs::write(&private_file, private).unwrap();
    std::fs::write(&alipay_public_file, fake.alipay_public_key_pem()).unwrap();
    std::fs::write(&app_public_file, public).unwrap();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    // The SDK signs a request; our gateway verifies it and signs its answer; the SDK verifies that.
    let code = fake.issue_code("2088999999999999");
    let gateway = server.url("/gateway.do");
    let args: Vec<String> = vec![
        "call-gateway".into(),
        gateway,
        APP_ID.into(),
        path(&private_file),
        path(&alipay_public_file),
        code,
    ];
    // The SDK blocks on its HTTP call to our gateway, which runs on this runtime.
    let out = tokio::task::spawn_blocking(move || {
        peer(&args.iter().map(String::as_str).collect::<Vec<_>>(), None)
    })
    .await
    .unwrap();
    let token: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(token["user_id"], "2088999999999999");

    // We sign a request; the SDK's canonical form verifies it, and not a tampered copy.
    let params = client.signed_params(
        alipay::OAUTH_TOKEN,
        &[("grant_type", "authorization_code"), ("code", "c0de")],
    );
    let json = serde_json::to_string(&params).unwrap();
    let key = path(&app_public_file);
    assert_eq!(peer(&["verify-request", &key], Some(&json)), "valid");
    let tampered = json.replace("c0de", "c0df");
    assert_eq!(peer(&["verify-request", &key], Some(&tampered)), "invalid");

    // Notifications: the SDK verifies one our local provider signs, and we verify one it signs.
    let notification: std::collections::BTreeMap<String, String> = [
        ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
        ("notify_time", "2026-11-23 09:00:05"),
        ("notify_type", "trade_status_sync"),
        ("app_id", APP_ID),
        ("out_trade_no", "o-20261123-0001"),
        ("trade_no", "2026112322001404010000000001"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "60.00"),
        ("subject", "入馆 门票"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let app_key = rsa_keys::private_key(private).unwrap();
    let mut ours = notification.clone();
    alipay::sign_notification(&mut ours, &app_key);
    let json = serde_json::to_string(&ours).unwrap();
    assert_eq!(peer(&["verify-notification", &key], Some(&json)), "valid");
    let json = json.replace("60.00", "61.00");
    assert_eq!(
        peer(&["verify-notification", &key], Some(&json)),
        "invalid",
        "a changed amount"
    );
    let signed_by_sdk = peer(
        &["sign-notification", &path(&private_file)],
        Some(&serde_json::to_string(&notification).unwrap()),
    );
    let mut theirs = notification.clone();
    theirs.insert("sign".into(), signed_by_sdk);
    theirs.insert("sign_type".into(), "RSA2".into());
    let app_public = rsa_keys::public_key(public).unwrap();
    assert!(alipay::verify_notification(&theirs, &app_public));
    theirs.insert("total_amount".into(), "0.01".into());
    assert!(!alipay::verify_notification(&theirs, &app_public));
}

#[tokio::test]
async fn wechat_code2session_through_the_fake() {
    let fake = FakeWeChat::new("wx1234567890abcdef", "secret-1");
    let server = FakeServer::start(fake.router()).await.unwrap();
    let client = |secret: &str| {
        WeChatClient::new(WeChatConfig {
            api_base: server.url(""),
            app_id: "wx1234567890abcdef".into(),
            app_secret: secret.into(),
        })
    };
    let good = client("secret-1");
    let code = fake.issue_code("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    assert_eq!(
        good.subject_for_code(&code).await.unwrap(),
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    );
    let e = good.subject_for_code(&code).await.unwrap_err();
    assert!(
        matches!(&e, ProviderFailure::Refused(m) if m.starts_with("40163")),
        "{e:?}"
    );
    assert!(
        matches!(good.subject_for_code("forged").await, Err(ProviderFailure::Refused(m)) if m.starts_with("40029"))
    );
    let e = client("wrong")
        .subject_for_code(&fake.issue_code("o2"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderFailure::Unavailable(m) if m.starts_with("40125")),
        "{e:?}"
    );
}

/// ID token validation refuses every token a relying party must refuse: another signer, an
/// unknown key, another issuer or audience, a wrong nonce, an expired token, a MAC'd token.
#[tokio::test]
async fn id_tokens_are_validated_against_the_providers_jwks() {
    use axum::routing::get;
    use base64::Engine;
    use gatehouse_providers::oidc::{OidcClient, OidcConfig};
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    let (private, public) = app_keys();
    let key = rsa_keys::public_key(public).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
        "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be())}]});
    let issuer = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (i1, i2) = (issuer.clone(), issuer.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let iss = i1.lock().unwrap().clone();
                async move {
                    axum::Json(
                        json!({"issuer": iss, "authorization_endpoint": format!("{iss}/auth"),
                "token_endpoint": format!("{iss}/token"), "jwks_uri": format!("{iss}/jwks")}),
                    )
                }
            }),
        )
        .route(
            "/jwks",
            get(move || {
                let j = jwks.clone();
                async move { axum::Json(j) }
            }),
        );
    let server = FakeServer::start(app).await.unwrap();
    let iss = server.url("");
    *i2.lock().unwrap() = iss.clone();
    let client = OidcClient::new(
        OidcConfig {
            issuer: iss.clone(),
            client_id: "gatehouse-staff".into(),
            client_secret: "s".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            scopes: String::new(),
            role_claim: "roles".into(),
        },
        Arc::new(SystemClock),
    );
    #[allow(clippy::disallowed_methods)]
    let now = jiff::Timestamp::now().as_second();
    let good = json!({"iss": iss, "aud": "gatehouse-staff", "sub": "ann", "nonce": "n1", "iat": now, "exp": now + 300, "roles": ["auditor"]});
    let der = |pem: &str| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        rsa_keys::private_key(pem)
            .unwrap()
            .to_pkcs1_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    let ours = EncodingKey::from_rsa_der(&der(private));
    let sign = |claims: &serde_json::Value, key: &EncodingKey, kid: &str| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, claims, key).unwrap()
    };
    let claims = client
        .validate_id_token(&sign(&good, &ours, "k1"), "n1")
        .await
        .unwrap();
    assert_eq!(claims["sub"], "ann");

    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let (other_private, _) = rsa_keys::generate_pem().unwrap();
    let theirs = EncodingKey::from_rsa_der(&der(&other_private));
    let refused = [
        ("another signer", sign(&good, &theirs, "k1"), "n1"),
        ("an unknown key", sign(&good, &ours, "k9"), "n1"),
        (
            "another issuer",
            sign(&with("iss", json!("http://evil.example")), &ours, "k1"),
            "n1",
        ),
        (
            "another audience",
            sign(&with("aud", json!("someone-else")), &ours, "k1"),
            "n1",
        ),
        (
            "several audiences without our azp",
            sign(&with("aud", json!(["gatehouse-staff", "x"])), &ours, "k1"),
            "n1",
        ),
        ("a wrong nonce", sign(&good, &ours, "k1"), "n2"),
        (
            "an expired token",
            sign(&with("exp", json!(now - 3600)), &ours, "k1"),
            "n1",
        ),
        (
            "a MAC'd token",
            encode(
                &Header::new(Algorithm::HS256),
                &good,
                &EncodingKey::from_secret(b"s"),
            )
            .unwrap(),
            "n1",
        ),
        ("garbage", "a.b.c".to_owned(), "n1"),
    ];
    for (what, token, nonce) in refused {
        assert!(
            client.validate_id_token(&token, nonce).await.is_err(),
            "accepted {what}"
        );
    }
}

/// WeChat Pay v3 signing and resource encryption against the wechatpayv3 SDK: it verifies the
/// notification signatures we make and decrypts the resources we seal, and we accept the request
/// signatures it builds. A one-byte change fails on both sides.
#[test]
fn wechatpayv3_agrees_with_our_signatures_and_resource_encryption() {
    use gatehouse_providers::wechatpay_sign as wx;
    if !peers_enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = app_keys();
    let (private_file, public_file) = (
        dir.path().join("private.pem"),
        dir.path().join("public.pem"),
    );
    std::fs::write(&private_file, private).unwrap();
    std::fs::write(&public_file, public).unwrap();
    let (private_file, public_file) = (
        private_file.to_str().unwrap(),
        public_file.to_str().unwrap(),
    );
    let key = rsa_keys::private_key(private).unwrap();
    let public_key = rsa_keys::public_key(public).unwrap();

    // We sign a notification as the platform; the SDK verifies it, and refuses a changed byte.
    let body = r#"{"id":"EV-2018022511223320873","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS"}"#;
    let signature = wx::sign_response(
        &key,
        1_700_000_000,
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        body,
    );
    let notification = |body: &str| {
        serde_json::json!({"timestamp": "1700000000", "nonce": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "body": body, "signature": signature}).to_string()
    };
    assert_eq!(
        run_peer(
            "wechatpay_peer.py",
            &["verify-notification", public_file],
            Some(&notification(body))
        ),
        "valid"
    );
    let changed = body.replacen("TRANSACTION", "TRANSACTIOM", 1);
    assert_eq!(
        run_peer(
            "wechatpay_peer.py",
            &["verify-notification", public_file],
            Some(&notification(&changed))
        ),
        "invalid"
    );

    // We seal a resource with the APIv3 key; the SDK opens it, and not with other associated data.
    let api_v3_key = "0123456789abcdef0123456789abcdef";
    let plaintext = r#"{"out_trade_no":"1217752501201407033233368018","amount":{"total":100}}"#;
    let sealed = wx::encrypt_resource(
        api_v3_key.as_bytes().try_into().unwrap(),
        "transaction",
        "fdasflkja484",
        plaintext,
    )
    .unwrap();
    let resource = |aad: &str| {
        serde_json::json!({"nonce": "fdasflkja484", "ciphertext": sealed, "associated_data": aad})
            .to_string()
    };
    assert_eq!(
        run_peer(
            "wechatpay_peer.py",
            &["decrypt", api_v3_key],
            Some(&resource("transaction"))
        ),
        plaintext
    );
    assert_eq!(
        run_peer(
            "wechatpay_peer.py",
            &["decrypt", api_v3_key],
            Some(&resource("transactiom"))
        ),
        "invalid"
    );

    // The SDK signs a merchant request; we accept it, and not a changed body.
    let request = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","amount":{"total":100,"currency":"CNY"}}"#;
    let header = run_peer(
        "wechatpay_peer.py",
        &[
            "sign-request",
            private_file,
            "POST",
            "/v3/pay/transactions/jsapi",
            "1230000109",
            "SERIAL1",
        ],
        Some(request),
    );
    let parts = wx::parse_authorization(&header).unwrap();
    assert_eq!(
        (parts.mchid.as_str(), parts.serial_no.as_str()),
        ("1230000109", "SERIAL1")
    );
    assert!(wx::verify_request(
        &parts,
        &public_key,
        "POST",
        "/v3/pay/transactions/jsapi",
        request
    ));
    assert!(!wx::verify_request(
        &parts,
        &public_key,
        "POST",
        "/v3/pay/transactions/jsapi",
        &request.replacen("100", "101", 1)
    ));
}

/// The local providers' payment notifications and request checks, against the providers' own
/// SDKs: wechatpayv3 verifies what the local WeChat Pay signs and decrypts its resources, and
/// the local WeChat Pay accepts requests the SDK signs; python-alipay-sdk verifies what the
/// local Alipay signs, and our Alipay adapter accepts what the SDK signs. One changed byte fails
/// on every side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_and_our_local_providers_agree_on_payment_notifications() {
    use gatehouse_domain::payment::{PaymentChannel, PaymentId};
    use gatehouse_domain::payment_gateway::{
        CheckoutRequest, Notification, NotificationRefused, PaymentGateway,
    };
    use gatehouse_providers::alipay_pay::AlipayPay;
    use gatehouse_providers::wechatpay_fake::{FakeWeChatPay, FakeWeChatPayKeys};
    if !peers_enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };

    // WeChat Pay: a notification from the local provider, as sent.
    let keys = FakeWeChatPayKeys::generate().unwrap();
    let wechat = FakeWeChatPay::new(keys.clone(), Arc::new(SystemClock)).unwrap();
    let object = serde_json::json!({"mchid": keys.mchid, "out_trade_no": "01a20b", "transaction_id": "4200000001", "trade_state": "SUCCESS", "amount": {"total": 6000}});
    let n = wechat.notification("http://x", "TRANSACTION.SUCCESS", "transaction", &object);
    let header = |n: &gatehouse_providers::courier::Outgoing, k: &str| {
        n.headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let platform = file("platform.pem", &keys.platform_public_key);
    let as_sent = |n: &gatehouse_providers::courier::Outgoing| {
        serde_json::json!({"timestamp": header(n, "Wechatpay-Timestamp"), "nonce": header(n, "Wechatpay-Nonce"), "body": n.body, "signature": header(n, "Wechatpay-Signature")}).to_string()
    };
    assert_eq!(
        run_peer(
            "wechatpay_peer.py",
            &["verify-notification", &platform],
            Some(&as_sent(&n))
        ),
        "valid"
    );
    assert_eq!(
        run_peer(
            "wechatpay_peer.py",
            &["verify-notification", &platform],
            Some(&as_sent(&n.forged()))
        ),
        "invalid"
    );
    let body: serde_json::Value = serde_json::from_str(&n.body).unwrap();
    let resource = body.get("resource").unwrap().to_string();
    let plain = run_peer(
        "wechatpay_peer.py",
        &["decrypt", &keys.api_v3_key],
        Some(&resource),
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&plain).unwrap(),
        object
    );

    // The SDK signs a merchant request; the local WeChat Pay accepts it (and then answers that
    // the trade does not exist), and refuses it with one byte of the signature changed.
    let server = FakeServer::start(wechat.router()).await.unwrap();
    let merchant = file("merchant.pem", &keys.merchant_private_key);
    let path = format!(
        "/v3/pay/transactions/out-trade-no/01a20b?mchid={}",
        keys.mchid
    );
    let authorization = run_peer(
        "wechatpay_peer.py",
        &[
            "sign-request",
            &merchant,
            "GET",
            &path,
            &keys.mchid,
            &keys.merchant_serial,
        ],
        Some(""),
    );
    let get = |auth: String| {
        let url = server.url(&path);
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .header("Authorization", auth)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, answer) = get(authorization.clone()).await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer.contains("ORDER_NOT_EXIST"), "{answer}");
    let tampered = authorization.replacen("signature=\"", "signature=\"A", 1);
    let (status, answer) = get(tampered).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("SIGN_ERROR"), "{answer}");

    // Alipay: a paid trade's notification from the local Alipay, as sent.
    let (fake, alipay_server, _) = alipay().await;
    let (app_private, app_public) = app_keys();
    let gateway = AlipayPay::new(
        &AlipayConfig {
            gateway: alipay_server.url("/gateway.do"),
            app_id: APP_ID.into(),
            app_private_key: app_private.clone(),
            alipay_public_key: fake.alipay_public_key_pem().to_owned(),
        },
        "http://127.0.0.1:9/notify",
        "http://127.0.0.1:9/",
        Arc::new(SystemClock),
    )
    .unwrap();
    let checkout = CheckoutRequest {
        payment_id: PaymentId("01a20b17fda37412a09bc084012ed1c8".into()),
        channel: PaymentChannel::AlipayQr,
        amount_fen: 6000,
        description: "museum entry".into(),
        expires_at: gatehouse_domain::Clock::now(&SystemClock)
            + jiff::SignedDuration::from_mins(15),
        payer: None,
    };
    gateway.create(&checkout).await.unwrap();
    fake.pay(&checkout.payment_id.0).await.unwrap();
    let n = fake
        .paid_notification(&checkout.payment_id.0, None)
        .unwrap();
    let params = |body: &str| {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
        serde_json::Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        )
        .to_string()
    };
    let alipay_public = file("alipay.pem", fake.alipay_public_key_pem());
    assert_eq!(
        peer(
            &["verify-notification", &alipay_public],
            Some(&params(&n.body))
        ),
        "valid"
    );
    let changed = n
        .body
        .replacen("total_amount=60.00", "total_amount=60.01", 1);
    assert_ne!(changed, n.body);
    assert_eq!(
        peer(
            &["verify-notification", &alipay_public],
            Some(&params(&changed))
        ),
        "invalid"
    );
    assert!(matches!(
        gateway.verify_notification(
            &[],
            n.body.as_bytes(),
            gatehouse_domain::Clock::now(&SystemClock)
        ),
        Ok(Notification::Paid(_))
    ));

    // The SDK signs a notification (as Alipay, with a key our adapter trusts as Alipay's);
    // our adapter accepts it, and refuses it with one byte changed.
    let sdk_side = AlipayPay::new(
        &AlipayConfig {
            gateway: alipay_server.url("/gateway.do"),
            app_id: APP_ID.into(),
            app_private_key: app_private.clone(),
            alipay_public_key: app_public.clone(),
        },
        "http://127.0.0.1:9/notify",
        "http://127.0.0.1:9/",
        Arc::new(SystemClock),
    )
    .unwrap();
    let signer = file("signer.pem", app_private);
    let mut fields: std::collections::BTreeMap<String, String> = [
        ("app_id", APP_ID),
        ("notify_type", "trade_status_sync"),
        ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
        ("notify_time", "2026-11-23 09:05:00"),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("out_trade_no", "01a20b17fda37412a09bc084012ed1c8"),
        ("trade_no", "2026112322001404330506045201"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "60.00"),
        ("subject", "科学馆 入馆"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sign = peer(
        &["sign-notification", &signer],
        Some(&serde_json::to_string(&fields).unwrap()),
    );
    fields.insert("sign".into(), sign);
    fields.insert("sign_type".into(), "RSA2".into());
    let body = serde_urlencoded::to_string(&fields).unwrap();
    let now = gatehouse_domain::Clock::now(&SystemClock);
    assert!(matches!(
        sdk_side.verify_notification(&[], body.as_bytes(), now),
        Ok(Notification::Paid(ref p)) if p.amount_fen == 6000
    ));
    let changed = body.replacen("60.00", "60.01", 1);
    assert_eq!(
        sdk_side.verify_notification(&[], changed.as_bytes(), now),
        Err(NotificationRefused::Forged)
    );
}

/// Breach reports go through a real SMTP server, aiosmtpd (PyPI): the message arrives with its
/// sender, recipient, UTF-8 subject and body intact, and a recipient the server refuses is an
/// error, not a silent loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breach_mail_reaches_aiosmtpd_intact_and_a_refusal_is_an_error() {
    use gatehouse_identity::mail::{MailMessage, MailSender};
    use gatehouse_providers::smtp::SmtpMail;
    use tokio::io::{AsyncBufReadExt, BufReader};

    if !peers_enabled() {
        return;
    }
    let script = format!("{}/tests/peers/smtp_peer.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().unwrap();
    let mail = SmtpMail::new(
        &format!("smtp://127.0.0.1:{port}"),
        "Gatehouse <gatehouse@museum.example>",
    )
    .unwrap();
    let body = "个人信息安全事件 Personal-data breach b1\nPeople affected: 2\n".repeat(40);
    mail.send(MailMessage {
        to: "dpo@museum.example".into(),
        subject: "Personal-data breach report: 备份盘遗失 A backup disk was lost".into(),
        body: body.clone(),
        sent_at: jiff::Timestamp::UNIX_EPOCH,
    })
    .await
    .unwrap();
    let got: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(got["mail_from"], "gatehouse@museum.example");
    assert_eq!(got["rcpt_tos"], serde_json::json!(["dpo@museum.example"]));
    assert_eq!(got["to"], "dpo@museum.example");
    assert_eq!(
        got["subject"],
        "Personal-data breach report: 备份盘遗失 A backup disk was lost"
    );
    assert_eq!(
        (got["content_type"].as_str(), got["charset"].as_str()),
        (Some("text/plain"), Some("utf-8"))
    );
    assert_eq!(got["body"].as_str().unwrap().replace("\r\n", "\n"), body);

    let refused = mail
        .send(MailMessage {
            to: "refused@authority.example".into(),
            subject: "s".into(),
            body: "b".into(),
            sent_at: jiff::Timestamp::UNIX_EPOCH,
        })
        .await;
    assert!(
        refused.as_ref().is_err_and(|e| e.0.contains("550")),
        "{refused:?}"
    );
    drop(child.stdin.take());
    child.wait().await.unwrap();
}
