//! Staff single sign-on against a real OpenID provider: panva's `oidc-provider` from npm,
//! started here (`tests/oidc`, installed by `.ci/run`; the test says it was skipped when
//! `GH_TEST_PEERS=1` is not set). A "browser" with a cookie jar follows the redirects: to the
//! provider, through its sign-in and consent pages, and back to Gatehouse's callback, which
//! exchanges the code (PKCE) and validates the ID token against the provider's JWKS.

use super::*;
use gatehouse_providers::oidc::{OidcClient, OidcConfig};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The provider process; killed when dropped.
struct Provider {
    _child: tokio::process::Child,
}

async fn start_provider(port: u16, redirect_uri: &str) -> Provider {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/oidc");
    let child = tokio::process::Command::new("node")
        .arg("provider.mjs")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect_uri)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node is needed for the single sign-on test");
    let discovery = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
    for _ in 0..100 {
        if reqwest::get(&discovery)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Provider { _child: child };
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("oidc-provider did not start");
}

/// Follows redirects from `url` until one points at `stop_prefix`, posting the provider's
/// sign-in (as `login`) and consent forms on the way. Returns the final URL.
async fn browse(browser: &reqwest::Client, url: &str, login: &str, stop_prefix: &str) -> String {
    let mut url = url.to_owned();
    for _ in 0..20 {
        if url.starts_with(stop_prefix) {
            return url;
        }
        let response = browser.get(&url).send().await.unwrap();
        if response.status().is_redirection() {
            let next = response.headers()["location"].to_str().unwrap().to_owned();
            url = if next.starts_with("http") {
                next
            } else {
                format!("{}{next}", origin(&url))
            };
            continue;
        }
        let page = response.text().await.unwrap();
        let form = if page.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else if page.contains("value=\"consent\"") {
            vec![("prompt", "consent")]
        } else {
            panic!("unexpected page at {url}: {page}");
        };
        let posted = browser.post(&url).form(&form).send().await.unwrap();
        assert!(posted.status().is_redirection(), "{}", posted.status());
        let next = posted.headers()["location"].to_str().unwrap().to_owned();
        url = if next.starts_with("http") {
            next
        } else {
            format!("{}{next}", origin(&url))
        };
    }
    panic!("too many redirects");
}

fn origin(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap();
    format!("http://{}", rest.split('/').next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_through_a_real_openid_provider() {
    if std::env::var("GH_TEST_PEERS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set GH_TEST_PEERS=1 with tests/oidc installed (npm ci), as .ci/run does"
        );
        return;
    }
    let a = api().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let app = a.app.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let callback = format!("http://{api_addr}/api/v1/auth/staff/sso/callback");
    let port = free_port();
    let _provider = start_provider(port, &callback).await;
    let issuer = format!("http://127.0.0.1:{port}");
    a.identity.register_staff_sso(Arc::new(OidcClient::new(
        OidcConfig {
            issuer: issuer.clone(),
            client_id: "gatehouse-staff".into(),
            client_secret: "gatehouse-test-secret".into(),
            redirect_uri: callback.clone(),
            scopes: "profile gatehouse".into(),
            role_claim: "roles".into(),
        },
        Arc::new(gatehouse_domain::SystemClock),
    )));
    let browser = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let start = format!("http://{api_addr}/api/v1/auth/staff/sso/start");

    // A gate-staff member signs in and gets exactly gate-staff powers.
    let b = browser();
    let back = browse(&b, &start, "gina@gate_staff", &callback).await;
    assert!(back.contains("code=") && back.contains("state="), "{back}");
    let done = b.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let cookies: Vec<String> = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("gh_session=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    let session: Value = done.json().await.unwrap();
    assert_eq!(session["account"]["roles"], json!(["gate_staff"]));
    // The code and state work once: replaying the redirect is refused.
    let replay = b.get(&back).send().await.unwrap();
    assert_eq!(replay.status(), 401);
    // The cookie session works on the API (reads need no CSRF token) with gate-staff powers.
    let me: Value = b
        .get(format!("http://{api_addr}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["signed_in_with"], "staff_sso");
    let audit = b
        .get(format!("http://{api_addr}/api/v1/admin/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        audit.status(),
        403,
        "gate staff cannot read the audit trail"
    );

    // An auditor: a second sign-in of another person, with their own role.
    let b = browser();
    let back = browse(&b, &start, "ada@auditor", &callback).await;
    let session: Value = b.get(&back).send().await.unwrap().json().await.unwrap();
    assert_eq!(session["account"]["roles"], json!(["auditor"]));
    assert_eq!(
        b.get(format!("http://{api_addr}/api/v1/admin/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A browser (it accepts HTML) lands on the staff console, signed in.
    let b = browser();
    let back = browse(&b, &start, "ada@auditor", &callback).await;
    let landed = b
        .get(&back)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(landed.status(), 303);
    assert_eq!(landed.headers()["location"], "/staff");
    assert!(landed
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("gh_session=")));

    // Someone the provider knows but who holds no Gatehouse role is refused.
    let b = browser();
    let back = browse(&b, &start, "eve@", &callback).await;
    let refused = b.get(&back).send().await.unwrap();
    assert_eq!(refused.status(), 403);

    // A forged state, or a state with someone else's code, is refused.
    let b = browser();
    let back = browse(&b, &start, "gina@gate_staff", &callback).await;
    let forged = back.replace("state=", "state=x");
    assert_eq!(b.get(&forged).send().await.unwrap().status(), 401);
    // A redirect claiming another issuer (RFC 9207) is refused.
    let b = browser();
    let back = browse(&b, &start, "gina@gate_staff", &callback).await;
    let mixed = format!("{back}&iss=http%3A%2F%2Fevil.example");
    let mixed = mixed.replacen(&format!("iss={}", urlenc(&issuer)), "", 1);
    assert_eq!(b.get(&mixed).send().await.unwrap().status(), 401);
    // The provider's refusal arrives as an error redirect.
    let (s, e) = call(
        &a.app,
        "GET",
        "/api/v1/auth/staff/sso/callback?error=access_denied&state=x",
        None,
        None,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("provider_refused"))
    );
}

fn urlenc(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}
