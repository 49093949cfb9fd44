//! The web app's pages on the real binary: the home page from the demo catalogue in Chinese by
//! default and in English on request, with the security headers on every page, the language
//! switch that never leaves the site, and the embedded assets cached by content.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{admin_token, send, Db, Server};

pub(super) struct Page {
    pub(super) status: u16,
    headers: Vec<(String, String)>,
    pub(super) body: String,
}

impl Page {
    /// Every value of a header (`Set-Cookie` comes once per cookie).
    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 GET over a fresh connection, read to the end.
pub(super) async fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Page {
    request(addr, "GET", path, headers, "").await
}

/// A form post, as a browser on this site sends it.
pub(super) async fn post(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> Page {
    post_from(addr, path, "same-origin", headers, form).await
}

/// A form post whose browser says it came from `site` (`Sec-Fetch-Site`).
pub(super) async fn post_from(
    addr: &str,
    path: &str,
    site: &str,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> Page {
    let body = serde_urlencoded::to_string(form).unwrap();
    let mut all = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("sec-fetch-site", site),
    ];
    all.extend_from_slice(headers);
    request(addr, "POST", path, &all, &body).await
}

async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Page {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Page {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub(super) fn assert_secure(page: &Page) {
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    for part in [
        "frame-ancestors 'none'",
        "script-src 'self'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
}

/// The value of the first `attr="…"` after `marker` in `html`.
pub(super) fn attr_after<'a>(html: &'a str, marker: &str, attr: &str) -> &'a str {
    let from = &html[html.find(marker).unwrap()..];
    let start = from.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
    let rest = &from[start..];
    &rest[..rest.find('"').unwrap()]
}

#[tokio::test]
async fn the_home_page_leads_into_booking_in_chinese_or_english_with_secure_headers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;

    let home = get(&server.addr, "/", &[]).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_secure(&home);
    assert!(
        home.body
            .starts_with("<!DOCTYPE html><html lang=\"zh-CN\">"),
        "{}",
        &home.body[..200]
    );
    for shown in [
        "预约参观",
        "科技馆入馆预约",
        "球幕影院",
        "精选展厅与活动",
        "正在上映",
        "href=\"/book/",
    ] {
        assert!(home.body.contains(shown), "{shown} on the home page");
    }
    assert!(home.body.contains("href=\"#main\""), "a skip link");

    let english = get(&server.addr, "/", &[("accept-language", "en-US,en;q=0.9")]).await;
    assert!(english.body.contains("<html lang=\"en\">"));
    assert!(english.body.contains("Book your visit") && english.body.contains("Now showing"));

    // The switch remembers the language and goes back, but only within the site.
    let switched = get(&server.addr, "/lang?to=en&back=/", &[]).await;
    assert_eq!(switched.status, 303);
    assert_eq!(switched.header("location"), Some("/"));
    assert!(switched
        .header("set-cookie")
        .unwrap()
        .starts_with("gh_lang=en;"));
    let away = get(&server.addr, "/lang?to=en&back=//evil.example/", &[]).await;
    assert_eq!(away.header("location"), Some("/"), "never another site");
    let chosen = get(
        &server.addr,
        "/",
        &[("cookie", "gh_lang=en"), ("accept-language", "zh-CN")],
    )
    .await;
    assert!(
        chosen.body.contains("<html lang=\"en\">"),
        "the cookie wins"
    );

    // The assets are embedded, named by content and kept for a year.
    let css = get(
        &server.addr,
        attr_after(&home.body, "rel=\"stylesheet\"", "href"),
        &[],
    )
    .await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("cache-control").unwrap().contains("immutable"));
    let js = get(&server.addr, attr_after(&home.body, "<script", "src"), &[]).await;
    assert_eq!(js.status, 200);
    assert_eq!(
        get(&server.addr, "/assets/app-000000000000.css", &[])
            .await
            .status,
        404
    );
    // Light: the page with its stylesheet and script, uncompressed.
    let total = home.body.len() + css.body.len() + js.body.len();
    assert!(total < 100_000, "{total} bytes");
    server.stop().await;
}

/// The `name=value` of the cookie `name` among a response's `Set-Cookie` headers.
pub(super) fn cookie_of(page: &Page, name: &str) -> String {
    page.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_visitor_signs_in_with_a_texted_code_and_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;
    let addr = server.addr.as_str();
    let phone = "13600000021";
    let outbox = |admin: String| async move {
        let (_, texts) = send(
            addr,
            hyper::Method::GET,
            &format!("/api/v1/admin/sms-outbox?phone={phone}"),
            Some(&admin),
            None,
        )
        .await;
        texts["messages"].as_array().unwrap().len()
    };

    let me = get(addr, "/me", &[]).await;
    assert_eq!(
        (me.status, me.header("location")),
        (303, Some("/signin?back=%2Fme"))
    );
    let form = get(addr, "/signin?back=/me", &[("accept-language", "en")]).await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("autocomplete=\"tel-national\""),
        "{}",
        form.body
    );

    // A post from another site is refused and texts nothing.
    let forged = request(
        addr,
        "POST",
        "/signin/code",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("sec-fetch-site", "cross-site"),
        ],
        &format!("phone={phone}&back=/me"),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert_eq!(outbox(admin.clone()).await, 0);
    // A bad phone is shown beside its field.
    let bad = post(
        addr,
        "/signin/code",
        &[("accept-language", "en")],
        &[("phone", "12"), ("back", "/me")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("aria-invalid=\"true\"") && bad.body.contains("id=\"phone-error\""),
        "{}",
        bad.body
    );

    let sent = post(
        addr,
        "/signin/code",
        &[],
        &[("phone", phone), ("back", "/me")],
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(
        sent.body.contains("136****0021") && sent.body.contains("autocomplete=\"one-time-code\"")
    );
    assert_eq!(outbox(admin.clone()).await, 1);
    let (_, texts) = send(
        addr,
        hyper::Method::GET,
        &format!("/api/v1/admin/sms-outbox?phone={phone}"),
        Some(&admin),
        None,
    )
    .await;
    let code: String = texts["messages"][0]["text"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();

    let wrong = post(
        addr,
        "/signin",
        &[],
        &[("phone", phone), ("code", "000000"), ("back", "/me")],
    )
    .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("验证码不正确") && wrong.body.contains("id=\"code-error\""),
        "{}",
        wrong.body
    );
    let signed = post(
        addr,
        "/signin",
        &[],
        &[("phone", phone), ("code", &code), ("back", "/me")],
    )
    .await;
    assert_eq!(
        (signed.status, signed.header("location")),
        (303, Some("/me")),
        "{}",
        signed.body
    );
    let session = cookie_of(&signed, "gh_session");
    let csrf = cookie_of(&signed, "gh_csrf");
    assert!(signed
        .all("set-cookie")
        .iter()
        .any(|c| c.starts_with("gh_session=") && c.contains("HttpOnly")));

    let me = get(addr, "/me", &[("cookie", &session)]).await;
    assert_eq!(me.status, 200);
    assert!(
        me.body.contains("136****0021") && !me.body.contains(phone),
        "masked: {}",
        me.body
    );
    assert_secure(&me);

    // Signing out needs the session's CSRF token.
    let refused = post(
        addr,
        "/signout",
        &[("cookie", &session)],
        &[("csrf", "0000")],
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        get(addr, "/me", &[("cookie", &session)]).await.status,
        200,
        "still signed in"
    );
    let token = csrf.trim_start_matches("gh_csrf=");
    let out = post(
        addr,
        "/signout",
        &[("cookie", &session)],
        &[("csrf", token)],
    )
    .await;
    assert_eq!((out.status, out.header("location")), (303, Some("/")));
    assert!(out
        .all("set-cookie")
        .iter()
        .any(|c| c.starts_with("gh_session=;") && c.contains("Max-Age=0")));
    assert_eq!(
        get(addr, "/me", &[("cookie", &session)]).await.status,
        303,
        "the session is over"
    );
    server.stop().await;
}

/// Signs `phone` in through the pages; the session cookie (`gh_session=…`) and its CSRF token.
pub(super) async fn web_sign_in(addr: &str, admin: &str, phone: &str) -> (String, String) {
    let sent = post(
        addr,
        "/signin/code",
        &[],
        &[("phone", phone), ("back", "/")],
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let (_, texts) = send(
        addr,
        hyper::Method::GET,
        &format!("/api/v1/admin/sms-outbox?phone={phone}"),
        Some(admin),
        None,
    )
    .await;
    let text = texts["messages"].as_array().unwrap().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let signed = post(
        addr,
        "/signin",
        &[],
        &[("phone", phone), ("code", &code), ("back", "/")],
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let csrf = cookie_of(&signed, "gh_csrf")
        .trim_start_matches("gh_csrf=")
        .to_owned();
    (cookie_of(&signed, "gh_session"), csrf)
}

fn as_refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Every `href="<prefix>…"` in a page, in order.
fn links<'a>(html: &'a str, prefix: &str) -> Vec<&'a str> {
    html.match_indices(&format!("href=\"{prefix}"))
        .map(|(i, _)| {
            let rest = &html[i + 6..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

/// The first slot open for booking, from a product's dates.
async fn first_open_slot(addr: &str, product: &str) -> String {
    let dates = get(addr, product, &[]).await;
    assert_eq!(dates.status, 200);
    for date in links(&dates.body, &format!("{product}?date=")) {
        let slots = get(addr, date, &[]).await;
        if let Some(link) = links(&slots.body, &format!("{product}/slot/")).first() {
            return link.to_string();
        }
    }
    panic!("no open slot for {product} in the demo catalogue")
}

/// The `value` of the first input named `name`.
pub(super) fn input_value<'a>(html: &'a str, name: &str) -> &'a str {
    attr_after(html, &format!("name=\"{name}\""), "value")
}

#[tokio::test]
async fn a_visitor_books_pays_refunds_cancels_and_manages_their_data_through_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;
    let addr = server.addr.as_str();
    let (session, csrf) = web_sign_in(addr, &admin, "13600000031").await;
    let me = [("cookie", session.as_str())];

    // Home → the entry product → a date → an open slot.
    let home = get(addr, "/", &[]).await;
    let slot = first_open_slot(addr, attr_after(&home.body, "科技馆入馆预约", "href")).await;

    // The form asks to sign in first, then has no visitors: add one and come back.
    assert_eq!(get(addr, &slot, &[]).await.status, 303);
    let form = get(addr, &slot, &me).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("参观须知") && form.body.contains("还没有常用参观人"));
    let id_number = gatehouse_domain::identity::synthetic_resident_id(31);
    let added = post(
        addr,
        "/me/visitors",
        &me,
        &[
            ("csrf", &csrf),
            ("back", &slot),
            ("name", "王小明"),
            ("id_type", "resident_id"),
            ("id_number", &id_number),
            ("phone", ""),
        ],
    )
    .await;
    assert_eq!(
        (added.status, added.header("location")),
        (303, Some(slot.as_str())),
        "{}",
        added.body
    );
    let form = get(addr, &slot, &me).await;
    assert!(
        form.body.contains("王**") && !form.body.contains(&id_number),
        "masked"
    );
    let visitor = input_value(&form.body, "visitor").to_owned();
    let ticket_type = input_value(&form.body, "ticket_type").to_owned();
    let fields = |accept: bool, key: &str| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("key", key.to_owned()),
            (
                "notice_version",
                input_value(&form.body, "notice_version").to_owned(),
            ),
            ("ticket_type", ticket_type.clone()),
            ("visitor", visitor.clone()),
            ("contact_phone", "13800000031".to_owned()),
        ];
        if accept {
            f.push(("accept_notice", "yes".to_owned()));
        }
        f
    };
    let key = input_value(&form.body, "key").to_owned();

    let unaccepted = post(addr, &slot, &me, &as_refs(&fields(false, &key))).await;
    assert_eq!(unaccepted.status, 422);
    assert!(
        unaccepted.body.contains("id=\"notice-error\""),
        "{}",
        unaccepted.body
    );
    let forged = post(addr, &slot, &me, &as_refs(&[("csrf", "0".to_owned())])).await;
    assert_eq!(forged.status, 403);

    let booked = post(addr, &slot, &me, &as_refs(&fields(true, &key))).await;
    assert_eq!(booked.status, 303, "{}", booked.body);
    let order = booked.header("location").unwrap().to_owned();
    assert!(order.starts_with("/orders/"));
    let again = post(addr, &slot, &me, &as_refs(&fields(true, &key))).await;
    assert_eq!(
        again.header("location"),
        Some(order.as_str()),
        "the same form twice is one order"
    );

    // Entry is free: booked at once, a QR code per ticket.
    let page = get(addr, &order, &me).await;
    assert_eq!(page.status, 200);
    assert_secure(&page);
    for shown in ["已预约", "王**", "138****0031", "class=\"qr\"", "<svg"] {
        assert!(page.body.contains(shown), "{shown} on the order page");
    }
    assert!(!page.body.contains("13800000031") && !page.body.contains(&id_number));
    let list = get(addr, "/orders?kind=entry", &me).await;
    assert!(list.body.contains(&format!("href=\"{order}\"")));
    assert!(!get(addr, "/orders?kind=cinema", &me)
        .await
        .body
        .contains(&order));
    let other = web_sign_in(addr, &admin, "13600000032").await;
    assert_eq!(
        get(addr, &order, &[("cookie", other.0.as_str())])
            .await
            .status,
        404,
        "not theirs"
    );

    // The workshop costs ¥20: held until paid, and an unpaid order can be cancelled.
    let workshop = first_open_slot(addr, attr_after(&home.body, "机器人编程工作坊", "href")).await;
    let form = get(addr, &workshop, &me).await;
    let booked = post(
        addr,
        &workshop,
        &me,
        &[
            ("csrf", &csrf),
            ("key", input_value(&form.body, "key")),
            ("notice_version", input_value(&form.body, "notice_version")),
            ("ticket_type", input_value(&form.body, "ticket_type")),
            ("visitor", &visitor),
            ("contact_phone", "13800000031"),
            ("accept_notice", "yes"),
        ],
    )
    .await;
    assert_eq!(booked.status, 303, "{}", booked.body);
    let unpaid = booked.header("location").unwrap().to_owned();
    let page = get(addr, &unpaid, &me).await;
    assert!(
        page.body.contains("待支付")
            && page.body.contains("¥20.00")
            && page.body.contains("取消订单")
    );
    assert!(!page.body.contains("<svg"), "no code before payment");
    let forged = post(addr, &format!("{unpaid}/cancel"), &me, &[("csrf", "0")]).await;
    assert_eq!(forged.status, 403);
    let cancelled = post(addr, &format!("{unpaid}/cancel"), &me, &[("csrf", &csrf)]).await;
    assert_eq!(cancelled.status, 303);
    assert!(get(addr, &unpaid, &me).await.body.contains("已取消"));

    // Booked again and paid at the (local) Alipay cashier: the notification confirms it.
    let form = get(addr, &workshop, &me).await;
    let booked = post(
        addr,
        &workshop,
        &me,
        &[
            ("csrf", &csrf),
            ("key", input_value(&form.body, "key")),
            ("notice_version", input_value(&form.body, "notice_version")),
            ("ticket_type", input_value(&form.body, "ticket_type")),
            ("visitor", &visitor),
            ("contact_phone", "13800000031"),
            ("accept_notice", "yes"),
        ],
    )
    .await;
    assert_eq!(booked.status, 303, "{}", booked.body);
    let paid = booked.header("location").unwrap().to_owned();
    let forged = post(addr, &format!("{paid}/pay"), &me, &[("csrf", "0")]).await;
    assert_eq!(forged.status, 403);
    let going = post(addr, &format!("{paid}/pay"), &me, &[("csrf", &csrf)]).await;
    assert_eq!(going.status, 200, "{}", going.body);
    let cashier_url = attr_after(&going.body, "id=\"pay-continue\"", "href").replace("&amp;", "&");
    let (cashier_addr, cashier_path) = cashier_url
        .trim_start_matches("http://")
        .split_once('/')
        .unwrap();
    let cashier = get(cashier_addr, &format!("/{cashier_path}"), &[]).await;
    assert!(cashier.body.contains("支付宝收银台"), "{}", cashier.body);
    let back = request(
        cashier_addr,
        "POST",
        "/_fake/cashier",
        &[("content-type", "application/x-www-form-urlencoded")],
        &serde_urlencoded::to_string([
            ("out_trade_no", input_value(&cashier.body, "out_trade_no")),
            (
                "return_url",
                &input_value(&cashier.body, "return_url").replace("&amp;", "&"),
            ),
        ])
        .unwrap(),
    )
    .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.header("location")
            .unwrap()
            .starts_with(&format!("http://{addr}/orders?")),
        "back to my orders"
    );
    let mut page = get(addr, &paid, &me).await;
    for _ in 0..100 {
        if page.body.contains("已预约") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = get(addr, &paid, &me).await;
    }
    assert!(
        page.body.contains("已预约") && page.body.contains("<svg"),
        "paid: {}",
        page.body
    );

    // Refunding: nothing chosen is an error; the chosen ticket is refunded.
    let none = post(addr, &format!("{paid}/refund"), &me, &[("csrf", &csrf)]).await;
    assert_eq!(none.status, 422);
    assert!(none.body.contains("请选择要退的门票"));
    let ticket = input_value(&page.body, "ticket").to_owned();
    let refunded = post(
        addr,
        &format!("{paid}/refund"),
        &me,
        &[("csrf", &csrf), ("ticket", &ticket)],
    )
    .await;
    assert_eq!(refunded.status, 303, "{}", refunded.body);
    let page = get(addr, &paid, &me).await;
    assert!(
        page.body.contains("已退票") && !page.body.contains("<svg"),
        "{}",
        page.body
    );

    // The dome: the same steps, plus the seat map.
    let showing = first_open_slot(addr, attr_after(&home.body, "球幕影院：宇宙之旅", "href")).await;
    let form = get(addr, &showing, &me).await;
    assert!(
        form.body.contains("name=\"seat\" value=\"F7\""),
        "a seat map"
    );
    let seat_form = |seats: &[&'static str]| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("key", input_value(&form.body, "key").to_owned()),
            (
                "notice_version",
                input_value(&form.body, "notice_version").to_owned(),
            ),
            (
                "ticket_type",
                input_value(&form.body, "ticket_type").to_owned(),
            ),
            ("visitor", visitor.clone()),
            ("contact_phone", "13800000031".to_owned()),
            ("accept_notice", "yes".to_owned()),
        ];
        f.extend(seats.iter().map(|s| ("seat", (*s).to_owned())));
        f
    };
    let two = post(addr, &showing, &me, &as_refs(&seat_form(&["F7", "F8"]))).await;
    assert_eq!(two.status, 422);
    assert!(two.body.contains("id=\"seats-error\""), "{}", two.body);
    let seated = post(addr, &showing, &me, &as_refs(&seat_form(&["F7"]))).await;
    assert_eq!(seated.status, 303, "{}", seated.body);
    let film = seated.header("location").unwrap().to_owned();
    let page = get(addr, &film, &me).await;
    assert!(
        page.body.contains("F7") && page.body.contains("¥30.00"),
        "{}",
        page.body
    );
    let again = get(addr, &showing, &me).await;
    assert!(
        again.body.contains("name=\"seat\" value=\"F7\" disabled"),
        "F7 is taken now"
    );

    // Correcting: the order's contact phone, and a frequent visitor (filled in whole again).
    let bad = post(
        addr,
        &format!("{order}/contact-phone"),
        &me,
        &[("csrf", &csrf), ("contact_phone", "12")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("id=\"contact_phone-error\""),
        "{}",
        bad.body
    );
    let fixed = post(
        addr,
        &format!("{order}/contact-phone"),
        &me,
        &[("csrf", &csrf), ("contact_phone", "13900000099")],
    )
    .await;
    assert_eq!(fixed.status, 303, "{}", fixed.body);
    assert!(get(addr, &order, &me).await.body.contains("139****0099"));
    let edit = get(addr, &format!("/me/visitors/{visitor}/edit"), &me).await;
    assert_eq!(edit.status, 200);
    assert!(
        edit.body
            .contains(&format!("action=\"/me/visitors/{visitor}\""))
            && !edit.body.contains(&id_number)
    );
    let renumbered = gatehouse_domain::identity::synthetic_resident_id(33);
    let edited = post(
        addr,
        &format!("/me/visitors/{visitor}"),
        &me,
        &[
            ("csrf", &csrf),
            ("back", "/me"),
            ("name", "王大明"),
            ("id_type", "resident_id"),
            ("id_number", &renumbered),
            ("phone", ""),
        ],
    )
    .await;
    assert_eq!(
        (edited.status, edited.header("location")),
        (303, Some("/me")),
        "{}",
        edited.body
    );
    let masked = gatehouse_domain::identity::mask_id_number(
        gatehouse_domain::identity::IdKind::ResidentId,
        &renumbered,
    );
    assert!(
        get(addr, "/me", &me).await.body.contains(&masked),
        "the new number, masked"
    );

    // My data: the export downloads with the page's session; deleting waits for the visit ahead.
    let centre = get(addr, "/me", &me).await;
    assert!(
        centre.body.contains("href=\"/api/v1/me/data-export\"") && centre.body.contains("王**")
    );
    let export = get(addr, "/api/v1/me/data-export", &me).await;
    assert_eq!(export.status, 200);
    assert!(
        export.body.contains("13600000031") && export.body.contains(&id_number),
        "in clear, for its owner"
    );
    let mistyped = post(
        addr,
        "/me/erase",
        &me,
        &[("csrf", &csrf), ("confirm", "erase")],
    )
    .await;
    assert_eq!(mistyped.status, 422);
    assert!(mistyped.body.contains("id=\"confirm-error\""));
    let waits = post(
        addr,
        "/me/erase",
        &me,
        &[("csrf", &csrf), ("confirm", "erase my account")],
    )
    .await;
    assert_eq!(
        waits.status, 409,
        "the entry visit is ahead: {}",
        waits.body
    );
    assert_eq!(get(addr, "/me", &me).await.status, 200, "nothing erased");
    let (other_session, other_csrf) = other;
    let gone = post(
        addr,
        "/me/erase",
        &[("cookie", other_session.as_str())],
        &[("csrf", &other_csrf), ("confirm", "erase my account")],
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert!(gone.body.contains("账户已删除"));
    assert!(gone
        .all("set-cookie")
        .iter()
        .any(|c| c.starts_with("gh_session=;")));
    assert_eq!(
        get(addr, "/me", &[("cookie", other_session.as_str())])
            .await
            .status,
        303,
        "signed out for good"
    );

    // An account on the block list is refused by the pages as by the API.
    let (_, me_json) = {
        let page = request(addr, "GET", "/api/v1/me", &me, "").await;
        (
            page.status,
            serde_json::from_str::<serde_json::Value>(&page.body).unwrap(),
        )
    };
    let number = me_json["account"]["id"].as_i64().unwrap();
    let (s, _) = send(addr, hyper::Method::POST, "/api/v1/admin/traffic/lists", Some(&admin), Some(serde_json::json!({"action": "block", "kind": "account", "value": number.to_string(), "reason": "resold tickets"}))).await;
    assert_eq!(s, 201);
    let blocked = get(addr, "/me", &me).await;
    assert_eq!(blocked.status, 403, "{}", blocked.body);
    assert_eq!(
        post(
            addr,
            "/me/erase",
            &me,
            &[("csrf", &csrf), ("confirm", "erase my account")]
        )
        .await
        .status,
        403
    );
    server.stop().await;
}

/// Each visitor on an order has their own ticket type (a child's ticket for the child), chosen
/// beside them on the form; a type that is not the product's is refused beside the visitors.
#[tokio::test]
async fn each_visitor_gets_the_ticket_type_chosen_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;
    let addr = server.addr.as_str();
    let (session, csrf) = web_sign_in(addr, &admin, "13600000035").await;
    let me = [("cookie", session.as_str())];
    for (name, n) in [("张大人", 35), ("张小孩", 36)] {
        let id_number = gatehouse_domain::identity::synthetic_resident_id(n);
        let added = post(
            addr,
            "/me/visitors",
            &me,
            &[
                ("csrf", &csrf),
                ("back", "/me"),
                ("name", name),
                ("id_type", "resident_id"),
                ("id_number", &id_number),
                ("phone", ""),
            ],
        )
        .await;
        assert_eq!(added.status, 303, "{}", added.body);
    }
    let home = get(addr, "/", &[]).await;
    let slot = first_open_slot(addr, attr_after(&home.body, "科技馆入馆预约", "href")).await;
    let form = get(addr, &slot, &me).await;
    let visitors: Vec<&str> = form
        .body
        .match_indices("name=\"visitor\" id=\"v-")
        .map(|(i, _)| attr_after(&form.body[i..], "name=\"visitor\"", "value"))
        .collect();
    assert_eq!(visitors.len(), 2, "{}", form.body);
    // The product's ticket types, from the first visitor's select: individual, child, senior.
    let types: Vec<&str> = form
        .body
        .match_indices(&format!("<option value=\"{}:", visitors[0]))
        .map(|(i, _)| {
            let rest = &form.body[i + 15..];
            let value = &rest[..rest.find('"').unwrap()];
            value.split_once(':').unwrap().1
        })
        .collect();
    assert_eq!(types.len(), 3, "{}", form.body);
    let post_with = |second_type: String| {
        let (csrf, key) = (csrf.clone(), input_value(&form.body, "key").to_owned());
        let notice = input_value(&form.body, "notice_version").to_owned();
        let (a, b) = (visitors[0].to_owned(), visitors[1].to_owned());
        let (first_type, slot, session) = (types[0].to_owned(), slot.clone(), session.clone());
        async move {
            post(
                addr,
                &slot,
                &[("cookie", &session)],
                &[
                    ("csrf", &csrf),
                    ("key", &key),
                    ("notice_version", &notice),
                    ("visitor", &a),
                    ("visitor", &b),
                    ("ticket_type", &format!("{a}:{first_type}")),
                    ("ticket_type", &format!("{b}:{second_type}")),
                    ("contact_phone", "13800000035"),
                    ("accept_notice", "yes"),
                ],
            )
            .await
        }
    };
    let foreign = post_with("999999".into()).await;
    assert_eq!(foreign.status, 422, "{}", foreign.body);
    assert!(
        foreign.body.contains("id=\"visitors-error\""),
        "{}",
        foreign.body
    );
    let booked = post_with(types[1].to_owned()).await;
    assert_eq!(booked.status, 303, "{}", booked.body);
    let order = get(addr, booked.header("location").unwrap(), &me).await;
    assert!(order.body.contains("张** · ") && order.body.contains("个人参观 Individual visit"));
    assert!(order.body.contains("儿童 Child"), "{}", order.body);
    server.stop().await;
}

/// The cinema's steps: theatre type, then a date, then the films with their showings, each
/// showing leading to its booking form; an unknown theatre is not found.
#[tokio::test]
async fn the_cinema_goes_theatre_then_date_then_film_and_showing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;
    let addr = server.addr.as_str();
    let home = get(addr, "/", &[]).await;
    assert!(home.body.contains("href=\"/cinema\""));
    let theatres = get(addr, "/cinema", &[]).await;
    assert_eq!(theatres.status, 200);
    assert_secure(&theatres);
    assert!(
        theatres.body.contains("球幕影院") && theatres.body.contains("2 部影片"),
        "{}",
        theatres.body
    );
    let dome = get(addr, "/cinema?theatre=dome", &[]).await;
    assert_eq!(dome.status, 200);
    let dates = links(&dome.body, "/cinema?theatre=dome&amp;date=");
    assert!(!dates.is_empty(), "{}", dome.body);
    // Some date within the week has an open showing of each film.
    let mut films_seen = false;
    for date in dates {
        let day = get(addr, &date.replace("&amp;", "&"), &[]).await;
        assert_eq!(day.status, 200);
        assert!(day.body.contains("宇宙之旅") && day.body.contains("深海奇观"));
        if let Some(showing) = links(&day.body, "/book/").first() {
            assert!(showing.contains("/slot/"));
            assert_eq!(
                get(addr, showing, &[]).await.status,
                303,
                "the form asks to sign in"
            );
            films_seen = true;
            break;
        }
    }
    assert!(films_seen);
    let english = get(addr, "/cinema", &[("cookie", "gh_lang=en")]).await;
    assert!(english.body.contains("Dome theatre"));
    assert_eq!(get(addr, "/cinema?theatre=imax", &[]).await.status, 404);
    server.stop().await;
}

/// A protected day's booking form sends the visitor to the waiting room: they join once (the
/// page then says the order is drawn at the opening, whatever time they joined), the
/// commitment to the seed is on the page, and booking without an admission takes nothing.
#[tokio::test]
async fn a_protected_days_booking_goes_through_the_waiting_page() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let server = Server::start(dir.path(), &Db::Sqlite, &log, true).await;
    let addr = server.addr.as_str();
    // A product whose day opens in ten minutes, so its pre-queue (30 minutes) is open now.
    let opens = gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .checked_add(jiff::SignedDuration::from_mins(10))
        .unwrap();
    let day = opens.date().tomorrow().unwrap();
    let (s, p) = send(
        addr,
        hyper::Method::POST,
        "/api/v1/admin/products",
        Some(&admin),
        Some(serde_json::json!({
        "kind": "hall", "name": "热门展厅",
        "rules": {"open_days_before": 1, "open_at": opens.strftime("%H:%M").to_string()}})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let product = p["id"].as_i64().unwrap();
    let (_, tt) = send(
        addr,
        hyper::Method::POST,
        &format!("/api/v1/admin/products/{product}/ticket-types"),
        Some(&admin),
        Some(serde_json::json!({"name": "t", "price_fen": 0})),
    )
    .await;
    send(
        addr,
        hyper::Method::POST,
        &format!("/api/v1/admin/products/{product}/notices"),
        Some(&admin),
        Some(serde_json::json!({"text": "n"})),
    )
    .await;
    let (s, slot) = send(addr, hyper::Method::POST, &format!("/api/v1/admin/products/{product}/slots"), Some(&admin),
        Some(serde_json::json!({"date": day.to_string(), "start": "10:00", "end": "11:00", "capacity": 10}))).await;
    assert_eq!(s, 201, "{slot}");
    let slot = slot["id"].as_i64().unwrap();
    let (s, release) = send(
        addr,
        hyper::Method::POST,
        "/api/v1/admin/releases",
        Some(&admin),
        Some(serde_json::json!({"product_id": product, "date": day.to_string()})),
    )
    .await;
    assert_eq!(s, 201, "{release}");
    let id = release["id"].as_u64().unwrap();

    let (session, csrf) = web_sign_in(addr, &admin, "13600000039").await;
    let me = [("cookie", session.as_str())];
    let form_path = format!("/book/{product}/slot/{slot}");
    let sent = get(addr, &form_path, &me).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let queue = sent.header("location").unwrap().to_owned();
    assert!(queue.starts_with(&format!("/queue/{id}?back=")), "{queue}");
    let page = get(addr, &queue, &me).await;
    assert_eq!(page.status, 200);
    assert_secure(&page);
    assert!(
        page.body.contains("加入排队")
            && page
                .body
                .contains(release["seed_commitment"].as_str().unwrap())
    );
    let joined = post(
        addr,
        &format!("/queue/{id}/join"),
        &me,
        &[("csrf", &csrf), ("back", &form_path)],
    )
    .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    let page = get(addr, joined.header("location").unwrap(), &me).await;
    assert!(page.body.contains("您已加入排队"), "{}", page.body);
    // The booking form's own post without an admission is refused by the waiting room before
    // the order is looked at (the visitor named does not even exist).
    let ticket_type = format!("v1:{}", tt["id"]);
    let refused = post(
        addr,
        &form_path,
        &me,
        &[
            ("csrf", &csrf),
            ("notice_version", "1"),
            ("accept_notice", "yes"),
            ("visitor", "v1"),
            ("ticket_type", &ticket_type),
            ("contact_phone", "13600000039"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("pass the waiting room"),
        "{}",
        refused.body
    );
    assert!(
        page.body.contains("data-poll=\"/q/") && page.body.contains("data-standing=\"waiting\""),
        "the place polls its own address: {}",
        page.body
    );
    assert!(
        page.body.contains("data-refresh"),
        "the place refreshes itself"
    );
    // Joining again (another tab) keeps the one place; another site cannot join for them.
    let again = post(
        addr,
        &format!("/queue/{id}/join"),
        &me,
        &[("csrf", &csrf), ("back", &form_path)],
    )
    .await;
    assert_eq!(again.status, 303);
    let forged = post(
        addr,
        &format!("/queue/{id}/join"),
        &me,
        &[("csrf", "0"), ("back", &form_path)],
    )
    .await;
    assert_eq!(forged.status, 403);
    // The API says the same, and booking without an admission takes nothing.
    let (s, place) = send(
        addr,
        hyper::Method::GET,
        &format!("/api/v1/releases/{id}/me"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 401, "{place}");
    let (s, refused) = send(
        addr,
        hyper::Method::POST,
        "/api/v1/orders",
        Some(session.trim_start_matches("gh_session=")),
        Some(super::booking(
            slot,
            0,
            "王五",
            &gatehouse_domain::identity::synthetic_resident_id(39),
            "13600000039",
        )),
    )
    .await;
    assert_eq!(
        (s, refused["code"].as_str()),
        (403, Some("admission_required")),
        "{refused}"
    );
    let (_, s) = send(
        addr,
        hyper::Method::GET,
        &format!("/api/v1/slots/{slot}"),
        None,
        None,
    )
    .await;
    assert_eq!(s["remaining"], 10);
    server.stop().await;
}
