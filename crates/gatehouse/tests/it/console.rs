//! The staff console on the real binary: the break-glass administrator signs in with password
//! and one-time code; staff see only the areas their roles allow and are refused the rest;
//! support finds an order by its number, sees it masked, and reveals one field only with a
//! purpose, which the auditor then finds in the audit log; the administrator reads the day's
//! check-ins and changes the catalogue, with bad input answered beside its field.

use hyper::Method;
use serde_json::Value;

use super::web::{assert_secure, cookie_of, get, input_value, post, web_sign_in};
use super::{
    admin_token, booking, command, rush_product, send, token_with_roles, visitor_token, Db, Server,
};

/// RFC 4648 base32 without padding, as authenticator apps read TOTP secrets.
fn base32(text: &str) -> Vec<u8> {
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        value = (value << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((value >> bits) & 0xff).unwrap());
        }
    }
    out
}

fn session_cookie(token: &str) -> String {
    format!("gh_session={token}")
}

#[tokio::test]
async fn staff_see_what_their_roles_allow_and_reveal_only_with_a_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let support =
        session_cookie(&token_with_roles(dir.path(), &Db::Sqlite, "customer_support").await);
    let auditor = session_cookie(&token_with_roles(dir.path(), &Db::Sqlite, "auditor").await);
    let out = command(dir.path(), &Db::Sqlite)
        .args(["admin", "break-glass", "--username", "root"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let secrets: Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;
    let addr = server.addr.as_str();

    // Nobody signed in goes to the staff sign-in and comes back; a visitor is refused.
    let anon = get(addr, "/staff/orders", &[]).await;
    assert_eq!(anon.status, 303);
    assert_eq!(
        anon.header("location"),
        Some("/staff/signin?back=%2Fstaff%2Forders")
    );
    let signin = get(addr, "/staff/signin?back=/staff/orders", &[]).await;
    assert_eq!(signin.status, 200);
    assert_secure(&signin);
    assert!(signin.body.contains("autocomplete=\"one-time-code\""));
    assert!(
        !signin.body.contains("sso/start"),
        "no single sign-on configured"
    );
    let (visitor_web, _) = web_sign_in(addr, &admin, "13700000041").await;
    let refused = get(addr, "/staff", &[("cookie", &visitor_web)]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("仅限工作人员"));

    // The break-glass administrator: a wrong code is refused beside the form, no session set.
    let password = secrets["password"].as_str().unwrap();
    let secret = base32(secrets["totp_secret"].as_str().unwrap());
    let wrong = post(
        addr,
        "/staff/signin",
        &[],
        &[
            ("username", "root"),
            ("password", password),
            ("totp", "000000"),
            ("back", "/staff/orders"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong
        .all("set-cookie")
        .iter()
        .all(|c| !c.starts_with("gh_session=")));
    let code = gatehouse_identity::staff::totp_code(
        &secret,
        gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock),
    );
    let signed = post(
        addr,
        "/staff/signin",
        &[],
        &[
            ("username", "root"),
            ("password", password),
            ("totp", &code),
            ("back", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(
        signed.header("location"),
        Some("/staff"),
        "never another site"
    );
    let root = cookie_of(&signed, "gh_session");
    let home = get(addr, "/staff", &[("cookie", &root)]).await;
    assert_eq!(home.status, 200);
    for area in [
        "/staff/catalogue",
        "/staff/orders",
        "/staff/check-in",
        "/staff/privacy",
        "/staff/audit",
    ] {
        assert!(home.body.contains(&format!("href=\"{area}\"")), "{area}");
    }

    // A visitor's order, paid for nothing (free tickets are confirmed at once).
    let (slot, tt) = rush_product(addr, &admin, 10).await;
    let visitor = visitor_token(addr, &admin, "13700000042").await;
    let id_number = gatehouse_domain::identity::synthetic_resident_id(42);
    let (s, order) = send(
        addr,
        Method::POST,
        "/api/v1/orders",
        Some(&visitor),
        Some(booking(slot, tt, "李四", &id_number, "13700000042")),
    )
    .await;
    assert_eq!(s, 201, "{order}");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let ticket_id = order["tickets"][0]["id"].as_str().unwrap().to_owned();

    // Support: orders and privacy in the navigation, nothing else, and refused elsewhere.
    let home = get(addr, "/staff", &[("cookie", &support)]).await;
    assert!(
        home.body.contains("href=\"/staff/orders\"")
            && home.body.contains("href=\"/staff/privacy\"")
    );
    assert!(
        !home.body.contains("href=\"/staff/audit\"")
            && !home.body.contains("href=\"/staff/catalogue\"")
    );
    for path in ["/staff/audit", "/staff/catalogue", "/staff/check-in"] {
        assert_eq!(
            get(addr, path, &[("cookie", &support)]).await.status,
            403,
            "{path}"
        );
    }

    // Found by its number (the search is posted: no tail in a URL), shown masked.
    let form = get(addr, "/staff/orders", &[("cookie", &support)]).await;
    assert_eq!(form.status, 200);
    let csrf = input_value(&form.body, "csrf").to_owned();
    let search = |q: String| {
        let (support, csrf) = (support.clone(), csrf.clone());
        async move {
            post(
                addr,
                "/staff/orders",
                &[("cookie", &support)],
                &[("csrf", &csrf), ("q", &q)],
            )
            .await
        }
    };
    let found = search(order_id.clone()).await;
    assert_eq!(found.status, 303);
    let path = format!("/staff/orders/{order_id}");
    assert_eq!(found.header("location"), Some(path.as_str()));
    let shown = get(addr, &path, &[("cookie", &support)]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains("137****0042"));
    assert!(!shown.body.contains("13700000042") && !shown.body.contains(&id_number));
    assert!(!shown.body.contains("<svg"), "no ticket codes for staff");
    // By the contact phone's last four, or the ID number's, listed masked.
    let id_tail = &id_number[id_number.len() - 4..];
    for tail in ["0042", id_tail] {
        let listed = search(tail.to_owned()).await;
        assert_eq!(listed.status, 200);
        assert!(
            listed.body.contains(&format!("href=\"{path}\"")),
            "{tail}: {}",
            listed.body
        );
        assert!(!listed.body.contains("13700000042") && !listed.body.contains(&id_number));
    }
    assert!(search("9999".into()).await.body.contains("没有找到订单"));
    let bad = search("00-4".into()).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"q-error\""));
    let none = search("no-such-order".into()).await;
    assert_eq!(none.status, 200);
    assert!(none.body.contains("没有找到订单"));

    // Revealing: refused from another site, without the form's token, or without a purpose.
    let reveal = format!("{path}/reveal");
    let what = format!("id_number:{ticket_id}");
    let cross = super::web::post_from(
        addr,
        &reveal,
        "cross-site",
        &[("cookie", &support)],
        &[
            ("csrf", &csrf),
            ("what", "contact_phone"),
            ("purpose", "calling back about a lost bag"),
        ],
    )
    .await;
    assert_eq!(cross.status, 403);
    let forged = post(
        addr,
        &reveal,
        &[("cookie", &support)],
        &[
            ("csrf", "0000"),
            ("what", "contact_phone"),
            ("purpose", "calling back about a lost bag"),
        ],
    )
    .await;
    assert_eq!(forged.status, 403);
    let short = post(
        addr,
        &reveal,
        &[("cookie", &support)],
        &[("csrf", &csrf), ("what", &what), ("purpose", "why")],
    )
    .await;
    assert_eq!(short.status, 422, "{}", short.body);
    assert!(
        short.body.contains("id=\"purpose-error\"") && short.body.contains("aria-invalid=\"true\"")
    );
    assert!(!short.body.contains(&id_number));
    let purpose = "visitor called: checking the ID number at the counter";
    let revealed = post(
        addr,
        &reveal,
        &[("cookie", &support)],
        &[("csrf", &csrf), ("what", &what), ("purpose", purpose)],
    )
    .await;
    assert_eq!(revealed.status, 200, "{}", revealed.body);
    assert!(revealed
        .body
        .contains(&format!("<span id=\"revealed-value\">{id_number}</span>")));
    assert_eq!(revealed.header("cache-control"), Some("no-store"));
    // Shown once: the order's page shows it masked again.
    assert!(!get(addr, &path, &[("cookie", &support)])
        .await
        .body
        .contains(&id_number));

    // The auditor reads the reveal in the log (who, field, purpose), but cannot reveal.
    let audit = get(addr, "/staff/audit?action=reveal", &[("cookie", &auditor)]).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.contains(purpose) && audit.body.contains("id_number"));
    assert!(audit.body.contains("customer_support"));
    assert_eq!(get(addr, &path, &[("cookie", &auditor)]).await.status, 403);
    let bad = get(addr, "/staff/audit?actor=abc", &[("cookie", &auditor)]).await;
    assert!(bad.body.contains("id=\"actor-error\""));

    // Check-in: tomorrow's slot with its one ticket sold, none in yet.
    let tomorrow = gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date()
        .tomorrow()
        .unwrap();
    let counts = get(
        addr,
        &format!("/staff/check-in?date={tomorrow}"),
        &[("cookie", &root)],
    )
    .await;
    assert_eq!(counts.status, 200);
    assert!(
        counts.body.contains("<td>1</td><td>0</td>"),
        "{}",
        counts.body
    );
    assert_eq!(
        get(addr, "/staff/check-in?date=soon", &[("cookie", &root)])
            .await
            .status,
        422
    );

    // Catalogue: a capacity below what is taken is refused beside its field, and nothing changes.
    let product = format!("/staff/catalogue/{}", product_of(addr, slot).await);
    let page = get(addr, &product, &[("cookie", &root)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = input_value(&page.body, "csrf").to_owned();
    let capacity = format!("/staff/slots/{slot}/capacity");
    let below = post(
        addr,
        &capacity,
        &[("cookie", &root)],
        &[("csrf", &csrf), ("capacity", "0")],
    )
    .await;
    assert_eq!(below.status, 422, "{}", below.body);
    assert!(below
        .body
        .contains(&format!("id=\"capacity-{slot}-error\"")));
    let (_, s) = send(
        addr,
        Method::GET,
        &format!("/api/v1/slots/{slot}"),
        None,
        None,
    )
    .await;
    assert_eq!(s["capacity"], 10);
    let raised = post(
        addr,
        &capacity,
        &[("cookie", &root)],
        &[("csrf", &csrf), ("capacity", "12")],
    )
    .await;
    assert_eq!(raised.status, 303, "{}", raised.body);
    let (_, s) = send(
        addr,
        Method::GET,
        &format!("/api/v1/slots/{slot}"),
        None,
        None,
    )
    .await;
    assert_eq!(s["capacity"], 12);

    // Rules: a limit that is not a number is refused; a good one is saved.
    let mut rules = vec![
        ("csrf", csrf.as_str()),
        ("open_days_before", "30"),
        ("open_at", "09:00"),
        ("close_minutes_before_start", "0"),
        ("id_limit_per_day", "many"),
        ("max_visitors_per_order", "5"),
        ("max_orders_per_account_per_day", "50"),
        ("hold_minutes", "15"),
    ];
    let refused = post(
        addr,
        &format!("{product}/rules"),
        &[("cookie", &root)],
        &rules,
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"id_limit_per_day-error\""));
    rules[4].1 = "3";
    let saved = post(
        addr,
        &format!("{product}/rules"),
        &[("cookie", &root)],
        &rules,
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let page = get(addr, &product, &[("cookie", &root)]).await;
    assert_eq!(input_value(&page.body, "id_limit_per_day"), "3");

    // A slot whose end is before its start is refused; a good one appears.
    let day = tomorrow.tomorrow().unwrap().to_string();
    let backwards = post(
        addr,
        &format!("{product}/slots"),
        &[("cookie", &root)],
        &[
            ("csrf", &csrf),
            ("date", &day),
            ("start", "15:00"),
            ("end", "14:00"),
            ("capacity", "20"),
        ],
    )
    .await;
    assert_eq!(backwards.status, 422, "{}", backwards.body);
    let added = post(
        addr,
        &format!("{product}/slots"),
        &[("cookie", &root)],
        &[
            ("csrf", &csrf),
            ("date", &day),
            ("start", "14:00"),
            ("end", "15:00"),
            ("capacity", "20"),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert!(get(addr, &product, &[("cookie", &root)])
        .await
        .body
        .contains(&format!("{day} 14:00–15:00")));

    // Support refunds the ticket from the order's page.
    let refund = |reason: &'static str| {
        let csrf = input_value(&shown.body, "csrf").to_owned();
        let (support, ticket_id, path) = (support.clone(), ticket_id.clone(), path.clone());
        async move {
            post(
                addr,
                &format!("{path}/refund"),
                &[("cookie", &support)],
                &[("csrf", &csrf), ("ticket", &ticket_id), ("reason", reason)],
            )
            .await
        }
    };
    let unexplained = refund("").await;
    assert_eq!(unexplained.status, 422, "staff say why they refund");
    assert!(unexplained.body.contains("id=\"reason-error\""));
    let refunded = refund("the hall closed for repairs that day").await;
    assert_eq!(refunded.status, 303, "{}", refunded.body);
    let (_, o) = send(
        addr,
        Method::GET,
        &format!("/api/v1/orders/{order_id}"),
        Some(&visitor),
        None,
    )
    .await;
    assert_eq!(o["tickets"][0]["state"], "refunded", "{o}");
    server.stop().await;
}

/// The product a slot belongs to.
async fn product_of(addr: &str, slot: i64) -> i64 {
    let (_, s) = send(
        addr,
        Method::GET,
        &format!("/api/v1/slots/{slot}"),
        None,
        None,
    )
    .await;
    s["product_id"].as_i64().unwrap()
}

/// The rest of the console's work on the real binary: a product added (and refused without a
/// name), a seat map typed as text (a line without its row refused beside the map), a
/// visitor's erasure request carried out (not merely marked done), a request taken by phone
/// filed for a visitor, a breach record opened (refused without the kinds of data) and its
/// notices sent.
#[tokio::test]
async fn staff_add_products_seat_maps_and_handle_requests_and_breaches() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let root = session_cookie(&admin);
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;
    let addr = server.addr.as_str();
    let me = [("cookie", root.as_str())];
    let catalogue = get(addr, "/staff/catalogue", &me).await;
    assert_eq!(catalogue.status, 200);
    let csrf = input_value(&catalogue.body, "csrf").to_owned();

    // A product: refused without a name, else made with the default rules.
    let nameless = post(
        addr,
        "/staff/catalogue",
        &me,
        &[("csrf", &csrf), ("kind", "hall"), ("name", "")],
    )
    .await;
    assert_eq!(nameless.status, 422);
    assert!(
        nameless.body.contains("id=\"name-error\""),
        "{}",
        nameless.body
    );
    let made = post(
        addr,
        "/staff/catalogue",
        &me,
        &[
            ("csrf", &csrf),
            ("kind", "hall"),
            ("name", "航天展厅"),
            ("introduction", "rockets"),
            ("featured", "on"),
        ],
    )
    .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let product = made.header("location").unwrap().to_owned();
    assert!(get(addr, &product, &me).await.body.contains("航天展厅"));
    assert!(
        get(addr, "/", &[]).await.body.contains("航天展厅"),
        "featured on the home page"
    );

    // A seat map as text.
    let bad = post(
        addr,
        "/staff/seat-maps",
        &me,
        &[
            ("csrf", &csrf),
            ("theatre", "4d"),
            ("layout", "A: 1 2 3\nno row here"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"layout-error\""), "{}", bad.body);
    let saved = post(
        addr,
        "/staff/seat-maps",
        &me,
        &[
            ("csrf", &csrf),
            ("theatre", "4d"),
            ("layout", "A: 1 2 _ 3 4w\nB: 1 2 _ 3x 4"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let edit = get(addr, saved.header("location").unwrap(), &me).await;
    assert!(
        edit.body.contains("A: 1 2 _ 3 4w\nB: 1 2 _ 3x 4"),
        "{}",
        edit.body
    );
    let (_, maps) = send(
        addr,
        Method::GET,
        "/api/v1/admin/seat-maps",
        Some(&admin),
        None,
    )
    .await;
    assert!(
        maps.as_array()
            .unwrap()
            .iter()
            .any(|m| m["theatre"] == "4d" && m["sellable"] == 7),
        "{maps}"
    );

    // A visitor asks to be erased; marking it done is refused, carrying it out erases them.
    let visitor = visitor_token(addr, &admin, "13700000051").await;
    let (s, request) = send(
        addr,
        Method::POST,
        "/api/v1/me/data-requests",
        Some(&visitor),
        Some(serde_json::json!({"kind": "erasure", "request_text": "please delete me"})),
    )
    .await;
    assert_eq!(s, 201, "{request}");
    let id = request["id"].as_str().unwrap().to_owned();
    let privacy = get(addr, "/staff/privacy", &me).await;
    assert!(
        privacy.body.contains("please delete me"),
        "{}",
        privacy.body
    );
    let done = post(
        addr,
        &format!("/staff/data-requests/{id}"),
        &me,
        &[("csrf", &csrf), ("status", "done"), ("outcome", "done")],
    )
    .await;
    assert_eq!(done.status, 409, "{}", done.body);
    let erased = post(
        addr,
        &format!("/staff/data-requests/{id}/erase"),
        &me,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(erased.status, 303, "{}", erased.body);
    let (s, _) = send(addr, Method::GET, "/api/v1/me", Some(&visitor), None).await;
    assert_eq!(s, 401, "the erased visitor's session is gone");

    // A request taken by phone, filed for another visitor.
    let other = visitor_token(addr, &admin, "13700000052").await;
    let (_, profile) = send(addr, Method::GET, "/api/v1/me", Some(&other), None).await;
    let account = profile["account"]["id"].as_i64().unwrap().to_string();
    let filed = post(
        addr,
        "/staff/data-requests",
        &me,
        &[
            ("csrf", &csrf),
            ("account_id", &account),
            ("kind", "export"),
            ("channel", "phone"),
            ("request_text", "wants a copy by post"),
        ],
    )
    .await;
    assert_eq!(filed.status, 303, "{}", filed.body);
    let (_, mine) = send(
        addr,
        Method::GET,
        "/api/v1/me/data-requests",
        Some(&other),
        None,
    )
    .await;
    assert_eq!(mine[0]["channel"], "phone", "{mine}");
    let unknown = post(
        addr,
        "/staff/data-requests",
        &me,
        &[
            ("csrf", &csrf),
            ("account_id", "x"),
            ("kind", "export"),
            ("channel", "phone"),
            ("request_text", "t"),
        ],
    )
    .await;
    assert_eq!(unknown.status, 422);

    // A breach record: refused without the kinds of data, then opened and its notices sent.
    let breach = |fields: &'static [&'static str]| {
        let (me, csrf) = (root.clone(), csrf.clone());
        async move {
            let mut form: Vec<(&str, &str)> = vec![
                ("csrf", &csrf),
                ("title", "Backup left readable"),
                (
                    "what_happened",
                    "a backup file was readable by an outside address for two hours",
                ),
                ("occurred_at", "2026-11-20T08:00"),
                ("discovered_at", "2026-11-20T10:00"),
                ("systems", "backup storage"),
                ("measures", "access closed, keys rotated"),
                ("advice", "watch for calls asking for codes"),
                ("contact", "privacy@museum.example"),
            ];
            form.extend(fields.iter().map(|f| ("fields", *f)));
            post(addr, "/staff/breaches", &[("cookie", &me)], &form).await
        }
    };
    let without = breach(&[]).await;
    assert_eq!(without.status, 422, "{}", without.body);
    let opened = breach(&["contact_phone"]).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let (_, list) = send(
        addr,
        Method::GET,
        "/api/v1/admin/breaches",
        Some(&admin),
        None,
    )
    .await;
    let breach_id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        list[0]["occurred_at"], "2026-11-20T00:00:00Z",
        "museum time: {list}"
    );
    let sent = post(
        addr,
        &format!("/staff/breaches/{breach_id}/notify"),
        &me,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let (_, after) = send(
        addr,
        Method::GET,
        &format!("/api/v1/admin/breaches/{breach_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(after["notices_pending"], 0, "{after}");
    server.stop().await;
}
