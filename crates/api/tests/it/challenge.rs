//! Challenges through the router: a challenged route answers 403 `challenge_required` with a
//! challenge bound to the client (JSON for API clients, a page with the solver for browsers)
//! before any booking logic; a solved challenge earns a pass that works only for that client,
//! browser, session and sale; wrong or foreign answers get clear errors; the SMS path earns
//! the same pass; the JavaScript solver's answers (run in Node, GH_TEST_PEERS=1) are accepted.

use super::edge::protected;
use super::identity::texted_code;
use super::*;
use axum::extract::ConnectInfo;

const CHALLENGED: &str = r#"
version = 1
[challenges]
difficulty = 8
[[challenge]]
name = "morning release"
route = "POST /api/v1/orders"
when = "always"
[[challenge]]
name = "browsing"
route = "GET /api/v1/products"
when = "always"
"#;

const MEMORY_HARD: &str = r#"
version = 1
[challenges]
work = "balloon"
memory_kib = 16
difficulty = 2
[[challenge]]
name = "morning release"
route = "POST /api/v1/orders"
when = "always"
"#;

const UA: &str = "Mozilla/5.0 (iPhone) museum-test";

/// A request from `peer` with a browser's user agent; the status, headers and JSON (or text).
pub(crate) async fn send(
    app: &Router,
    peer: &str,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if !headers.iter().any(|(k, _)| *k == "user-agent") {
        req = req.header("user-agent", UA);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body.to_owned())).unwrap();
    let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, value)
}

/// Finds the counter the challenge asks for, as the server computes the work.
pub(crate) fn solve(challenge: &Value) -> u64 {
    let token = challenge["token"].as_str().unwrap();
    let work = match challenge["work"].as_str().unwrap() {
        "sha256" => gatehouse_shield::Work::Sha256,
        _ => gatehouse_shield::Work::Balloon {
            memory_kib: u16::try_from(challenge["memory_kib"].as_u64().unwrap()).unwrap(),
        },
    };
    let bits = u32::try_from(challenge["difficulty"].as_u64().unwrap()).unwrap();
    (0..)
        .find(|c| {
            gatehouse_shield::leading_zero_bits(&gatehouse_shield::work_hash(work, token, *c))
                >= bits
        })
        .unwrap()
}

/// The first counter that does not solve `challenge` (a wrong answer).
fn unsolving(challenge: &Value) -> u64 {
    let token = challenge["token"].as_str().unwrap();
    let bits = u32::try_from(challenge["difficulty"].as_u64().unwrap()).unwrap();
    (0..)
        .find(|c| {
            gatehouse_shield::leading_zero_bits(&gatehouse_shield::work_hash(
                gatehouse_shield::Work::Sha256,
                token,
                *c,
            )) < bits
        })
        .unwrap()
}

/// Posts `body` as an answer to a challenge from `peer`.
async fn post_answer(
    app: &Router,
    peer: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    send(app, peer, "POST", "/.gatehouse/challenge", headers, body).await
}

pub(crate) fn answer(challenge: &Value, counter: u64) -> String {
    json!({"token": challenge["token"], "sale": challenge["sale"], "counter": counter}).to_string()
}

#[tokio::test]
async fn a_solved_challenge_earns_a_pass_for_that_client_only() {
    let a = api().await;
    let (app, _) = protected(&a, CHALLENGED);
    let bearer = format!("Bearer {}", a.visitor);
    let auth = [("authorization", bearer.as_str())];
    let order = a.booking("11010519491231002X").to_string();
    let before = a.remaining().await;
    let (s, _, e) = send(
        &app,
        "198.51.100.7",
        "POST",
        "/api/v1/orders",
        &auth,
        &order,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "challenge_required");
    let challenge = e["challenge"].clone();
    assert_eq!(challenge["sale"], "morning release");
    assert_eq!(challenge["work"], "sha256");
    assert_eq!(challenge["difficulty"], 8);
    assert_eq!(a.remaining().await, before, "nothing was booked");

    let counter = solve(&challenge);
    // A wrong counter, a tampered token, and the right answer from another network are refused.
    let wrong = unsolving(&challenge);
    let (s, _, e) = post_answer(&app, "198.51.100.7", &auth, &answer(&challenge, wrong)).await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("work_insufficient"),
            Some("counter")
        )
    );
    let mut tampered = challenge.clone();
    let t = tampered["token"].as_str().unwrap().to_owned();
    let flipped = if t.ends_with('A') { "B" } else { "A" };
    tampered["token"] = json!(format!("{}{flipped}", &t[..t.len() - 1]));
    let (s, _, e) = post_answer(&app, "198.51.100.7", &auth, &answer(&tampered, counter)).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("challenge_invalid")),
        "{e}"
    );
    let (s, _, e) = post_answer(&app, "203.0.113.50", &auth, &answer(&challenge, counter)).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_other_client")),
        "{e}"
    );
    let (s, _, e) = post_answer(&app, "198.51.100.7", &auth, "{\"token\": 1}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    // The right answer earns a pass, as a cookie and in JSON.
    let (s, headers, p) =
        post_answer(&app, "198.51.100.7", &auth, &answer(&challenge, counter)).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let pass = p["pass"].as_str().unwrap().to_owned();
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("gh_pass={pass};")) && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // With the pass, the booking goes through (same /24 counts as the same client)…
    let header = [auth[0], ("x-gatehouse-pass", pass.as_str())];
    let (s, _, o) = send(
        &app,
        "198.51.100.99",
        "POST",
        "/api/v1/orders",
        &header,
        &order,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    // …but not from another network, without the session it was earned in, or for another sale.
    let (s, _, _) = send(
        &app,
        "203.0.113.50",
        "POST",
        "/api/v1/orders",
        &header,
        &order,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, e) = send(
        &app,
        "198.51.100.7",
        "POST",
        "/api/v1/orders",
        &[("x-gatehouse-pass", pass.as_str())],
        &order,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_required"))
    );
    let (s, _, e) = send(&app, "198.51.100.7", "GET", "/api/v1/products", &header, "").await;
    assert_eq!(
        (s, e["challenge"]["sale"].as_str()),
        (StatusCode::FORBIDDEN, Some("browsing"))
    );
    // The cookie works as well as the header.
    let cookie_header = format!("gh_pass={pass}");
    let (s, _, e) = send(
        &app,
        "198.51.100.7",
        "POST",
        "/api/v1/orders",
        &[auth[0], ("cookie", cookie_header.as_str())],
        "{not json",
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "past the challenge, the route reads the body: {e}"
    );
}

#[tokio::test]
async fn browsers_get_a_page_with_the_solver_and_answers_are_limited() {
    let a = api().await;
    let (app, _) = protected(&a, CHALLENGED);
    let (s, headers, page) = send(
        &app,
        "198.51.100.7",
        "GET",
        "/api/v1/products",
        &[("accept", "text/html,application/xhtml+xml")],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = page.as_str().unwrap();
    assert!(
        page.contains("/.gatehouse/solver.js") && page.contains("\"sale\":\"browsing\""),
        "{page}"
    );
    assert!(page.contains("lang=\"zh-CN\"") && page.contains("Verify by SMS"));
    let (s, headers, script) = send(
        &app,
        "198.51.100.7",
        "GET",
        "/.gatehouse/solver.js",
        &[],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.as_str().unwrap().contains("balloon"));
    // Guessing is limited per address.
    let (_, _, e) = send(&app, "198.51.100.7", "GET", "/api/v1/products", &[], "").await;
    let guess = answer(&e["challenge"], 0);
    let mut statuses = Vec::new();
    for _ in 0..31 {
        statuses.push(post_answer(&app, "198.51.100.7", &[], &guess).await.0);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_memory_hard_work_and_the_sms_path_earn_passes_too() {
    let a = api().await;
    let (app, _) = protected(&a, MEMORY_HARD);
    let bearer = format!("Bearer {}", a.visitor);
    let auth = [("authorization", bearer.as_str())];
    let order = a.booking("11010519491231002X").to_string();
    let (_, _, e) = send(
        &app,
        "198.51.100.7",
        "POST",
        "/api/v1/orders",
        &auth,
        &order,
    )
    .await;
    let challenge = e["challenge"].clone();
    assert_eq!(
        (challenge["work"].as_str(), challenge["memory_kib"].as_u64()),
        (Some("balloon-sha256"), Some(16))
    );
    let (s, _, p) = post_answer(
        &app,
        "198.51.100.7",
        &auth,
        &answer(&challenge, solve(&challenge)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");

    // Someone who cannot run the work verifies by SMS instead.
    let phone = "13912345678";
    let (s, _, sent) = send(
        &app,
        "203.0.113.9",
        "POST",
        "/.gatehouse/sms/code",
        &auth,
        &json!({"phone": phone}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{sent}");
    let (_, _, e) = send(&app, "203.0.113.9", "POST", "/api/v1/orders", &auth, &order).await;
    let challenge = e["challenge"].clone();
    let verify = |code: &str| {
        json!({"phone": phone, "code": code, "token": challenge["token"], "sale": challenge["sale"]}).to_string()
    };
    let (s, _, e) = send(
        &app,
        "203.0.113.9",
        "POST",
        "/.gatehouse/sms/verify",
        &auth,
        &verify("000000"),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("code_wrong")),
        "{e}"
    );
    let code = texted_code(&a, phone).await;
    let (s, _, p) = send(
        &app,
        "203.0.113.9",
        "POST",
        "/.gatehouse/sms/verify",
        &auth,
        &verify(&code),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let pass = p["pass"].as_str().unwrap();
    let other = a.booking(&synthetic_resident_id(5)).to_string();
    let (s, _, o) = send(
        &app,
        "203.0.113.9",
        "POST",
        "/api/v1/orders",
        &[auth[0], ("x-gatehouse-pass", pass)],
        &other,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let (_, trail) = call(&app, "GET", "/api/v1/admin/audit", Some(&a.admin), None).await;
    assert!(
        trail.to_string().contains("challenge_passed_by_sms"),
        "{trail}"
    );
    assert!(
        !trail.to_string().contains(phone),
        "the phone is masked in the audit trail"
    );
}

/// The solver script the page loads, run in Node: its answers to both kinds of work are the
/// server's answers.
#[tokio::test]
async fn the_javascript_solver_answers_as_the_server_checks() {
    if std::env::var("GH_TEST_PEERS").is_err() {
        eprintln!("skipped: set GH_TEST_PEERS=1 (needs node)");
        return;
    }
    let a = api().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../edge/assets/solver.js");
    for policy in [CHALLENGED, MEMORY_HARD] {
        let (app, _) = protected(&a, policy);
        let (_, _, e) = send(&app, "198.51.100.7", "POST", "/api/v1/orders", &[], "{}").await;
        let challenge = e["challenge"].clone();
        let out = std::process::Command::new("node")
            .arg(script)
            .arg(challenge.to_string())
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let counter: u64 = String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            counter,
            solve(&challenge),
            "the first solution, as the server finds it"
        );
        let (s, _, p) = post_answer(&app, "198.51.100.7", &[], &answer(&challenge, counter)).await;
        assert_eq!(s, StatusCode::OK, "{p}");
    }
}

/// A desktop browser's user agent.
pub(crate) const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

/// The headers a person's browser sends with an API call, with the session's `bearer`.
pub(crate) fn browser(bearer: &str) -> [(&str, &str); 5] {
    [
        ("authorization", bearer),
        ("user-agent", CHROME),
        ("accept", "application/json"),
        ("accept-language", "zh-CN,zh;q=0.9"),
        ("sec-fetch-mode", "cors"),
    ]
}

const SCORED: &str = r#"
version = 1
[signals]
challenge_at = 50
block_at = 100
bad_networks = ["203.0.113.0/24"]
except = ["/api/v1/gate/*"]
[signals.weights]
headers_inconsistent = 50
[challenges]
difficulty = 4
[[challenge]]
name = "booking"
route = "POST /api/v1/orders"
when = "suspicious"
"#;

#[tokio::test]
async fn bot_signals_challenge_suspicious_clients_and_block_bad_ones_with_reasons() {
    let a = api().await;
    let (app, edge) = protected(&a, SCORED);
    let bearer = format!("Bearer {}", a.visitor);
    let chrome = CHROME;
    let person = browser(&bearer);
    let order = a.booking("11010519491231002X").to_string();
    let (s, _, o) = send(
        &app,
        "198.51.100.7",
        "POST",
        "/api/v1/orders",
        &person,
        &order,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "a person is not challenged: {o}");

    // A script: challenged before booking, with the reason in the security event.
    let script = [
        ("authorization", bearer.as_str()),
        ("user-agent", "python-requests/2.32.3"),
    ];
    let other = a.booking(&synthetic_resident_id(9)).to_string();
    let (s, _, e) = send(
        &app,
        "198.51.100.8",
        "POST",
        "/api/v1/orders",
        &script,
        &other,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_required")),
        "{e}"
    );
    // A browser's user agent without a browser's headers is no better (weighed at 50 here).
    let pretender = [("authorization", bearer.as_str()), ("user-agent", chrome)];
    let (s, _, e) = send(
        &app,
        "198.51.100.9",
        "POST",
        "/api/v1/orders",
        &pretender,
        &other,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_required")),
        "{e}"
    );
    // Reading the catalogue is not challenged, whoever asks.
    let (s, _, _) = send(&app, "198.51.100.8", "GET", "/api/v1/products", &script, "").await;
    assert_eq!(s, StatusCode::OK);

    // A known-bad network is refused outright, even looking like a person.
    let (s, _, e) = send(
        &app,
        "203.0.113.40",
        "GET",
        "/api/v1/products",
        &person[1..],
        "",
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("bot_blocked")),
        "{e}"
    );

    edge.flush_refusals(a.traffic.as_ref()).await;
    let (_, events) = call(
        &app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.admin),
        None,
    )
    .await;
    let text = events.to_string();
    assert!(
        text.contains("traffic_bot_blocked") && text.contains("bad_network"),
        "{text}"
    );
    assert!(
        text.contains("challenged for booking (score 60: automation_user_agent)"),
        "{text}"
    );
    assert!(text.contains("headers_inconsistent"), "{text}");
}

/// Joining a waiting room under a policy that asks every place for a challenge: no place
/// without a pass, a pass earned for one account does not join another (a bot farm pays per
/// place), and the fairness report counts the challenges, passes and failed answers.
#[tokio::test]
async fn joining_a_waiting_room_can_cost_a_challenge_per_place() {
    const JOIN_CHALLENGED: &str = r#"
version = 1
[challenges]
difficulty = 8
[[challenge]]
name = "waiting room"
route = "POST /api/v1/releases/{id}/join"
when = "always"
"#;
    let a = api().await;
    let release = super::releases::in_prequeue(&a, &a.app).await;
    let join = format!("/api/v1/releases/{release}/join");
    let (app, _) = protected(&a, JOIN_CHALLENGED);
    let visitor = session(&a.identity, "challenged-joiner", &[Role::Visitor]).await;
    let farm = session(&a.identity, "farm-account", &[Role::Visitor]).await;
    let bearer = format!("Bearer {visitor}");
    let auth = [("authorization", bearer.as_str())];
    let peer = "198.51.100.7";

    let (s, _, e) = send(&app, peer, "POST", &join, &auth, "").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_required")),
        "{e}"
    );
    let challenge = e["challenge"].clone();
    assert_eq!(challenge["sale"], "waiting room");
    let counter = solve(&challenge);
    let wrong = unsolving(&challenge);
    let (s, _, _) = post_answer(&app, peer, &auth, &answer(&challenge, wrong)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, p) = post_answer(&app, peer, &auth, &answer(&challenge, counter)).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let pass = p["pass"].as_str().unwrap().to_owned();
    let (s, _, place) = send(
        &app,
        peer,
        "POST",
        &join,
        &[auth[0], ("x-gatehouse-pass", &pass)],
        "",
    )
    .await;
    assert_eq!(
        (s, &place["standing"]),
        (StatusCode::OK, &json!("waiting")),
        "{place}"
    );

    // The same client's pass does not join another account: each place pays.
    let farm_bearer = format!("Bearer {farm}");
    let (s, _, e) = send(
        &app,
        peer,
        "POST",
        &join,
        &[
            ("authorization", farm_bearer.as_str()),
            ("x-gatehouse-pass", &pass),
        ],
        "",
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_required")),
        "{e}"
    );

    let staff = session(&a.identity, "challenge-report", &[Role::Administrator]).await;
    let staff_bearer = format!("Bearer {staff}");
    let report_path = format!("/api/v1/admin/releases/{release}/report");
    let (s, _, report) = send(
        &app,
        peer,
        "GET",
        &report_path,
        &[("authorization", staff_bearer.as_str())],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(
        report["join_challenges"],
        json!({"sales": ["waiting room"], "challenged": 2, "passed": 1, "failed": 1}),
        "{report}"
    );
    assert_eq!(report["joined"], 1);
}
