//! The web app's pages on the real binary: the home page from the demo catalogue in Chinese by
//! default and in English on request, with the security headers on every page, the language
//! switch that never leaves the site, and the embedded assets cached by content.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{admin_token, send, Db, Server};

struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    /// Every value of a header (`Set-Cookie` comes once per cookie).
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 GET over a fresh connection, read to the end.
async fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Page {
    request(addr, "GET", path, headers, "").await
}

/// A form post, as a browser on this site sends it.
async fn post(addr: &str, path: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Page {
    let body = serde_urlencoded::to_string(form).unwrap();
    let mut all = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("sec-fetch-site", "same-origin"),
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

fn assert_secure(page: &Page) {
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
fn attr_after<'a>(html: &'a str, marker: &str, attr: &str) -> &'a str {
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
fn cookie_of(page: &Page, name: &str) -> String {
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
