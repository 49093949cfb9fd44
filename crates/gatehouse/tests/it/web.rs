//! The web app's pages on the real binary: the home page from the demo catalogue in Chinese by
//! default and in English on request, with the security headers on every page, the language
//! switch that never leaves the site, and the embedded assets cached by content.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Db, Server};

struct Page {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 GET over a fresh connection, read to the end.
async fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Page {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
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
