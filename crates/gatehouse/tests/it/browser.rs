//! Traffic protection's challenge page in a real browser (GH_TEST_BROWSER=1; needs Debian's
//! `chromium` and `npm ci --prefix tests/browser`, which `.ci/run` installs). For each kind of
//! work — SHA-256 and the memory-hard Balloon — the real server challenges a page; a
//! phone-sized Chromium must get the bilingual page, solve it with the served solver, come back
//! with a pass and see the page; the same pass carried into another browser must not work.

use super::*;

fn node_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/challenge.mjs")
}

async fn browse(url: &str) -> Value {
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        Command::new("node").arg(node_script()).arg(url).output(),
    )
    .await
    .expect("the browser did not finish")
    .expect("node runs (apt-get install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn a_browser_solves_the_challenge_page_and_its_pass_works_nowhere_else() {
    if std::env::var("GH_TEST_BROWSER").is_err() {
        eprintln!("skipped: set GH_TEST_BROWSER=1 (needs chromium and tests/browser's packages)");
        return;
    }
    for work in [
        "work = \"sha256\"\ndifficulty = 16",
        "work = \"balloon\"\ndifficulty = 3",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("challenge.toml");
        std::fs::write(
            &policy,
            format!(
                "version = 1\n[challenges]\n{work}\n\n[[challenge]]\nname = \"catalogue\"\n\
                 route = \"GET /api/v1/products\"\nwhen = \"always\"\n"
            ),
        )
        .unwrap();
        let server = Server::start_with(
            dir.path(),
            &Db::Sqlite,
            &dir.path().join("log"),
            true,
            &[(
                "GATEHOUSE_SHIELD__POLICY".into(),
                policy.display().to_string(),
            )],
        )
        .await;
        let url = format!("http://{}/api/v1/products", server.addr);
        let seen = browse(&url).await;
        assert!(seen["error"].is_null(), "{work}: {seen}");
        assert_eq!(seen["first_status"], 403, "{work}: {seen}");
        assert!(
            seen["title"].as_str().unwrap().contains("正在验证"),
            "Chinese first: {seen}"
        );
        assert_eq!(seen["lang"], "zh-CN");
        assert_eq!(
            seen["wider_than_screen"], false,
            "fits a 360-px phone: {seen}"
        );
        assert_eq!(seen["sms_offered"], true);
        assert_eq!(seen["app_stylesheet"], true, "the app's look: {seen}");
        assert_eq!(seen["site_header"], 1, "{seen}");
        assert_eq!(seen["axe_serious"], json!([]), "{seen}");
        assert!(
            seen["english_title"]
                .as_str()
                .unwrap()
                .contains("Checking your browser"),
            "{seen}"
        );
        assert_eq!(seen["english_lang"], "en");
        assert_eq!(seen["page_errors"], json!([]), "{seen}");
        assert_eq!(seen["pass_cookie"], true, "{work}: {seen}");
        assert_eq!(seen["pass_http_only"], true);
        assert!(
            seen["body_after"]
                .as_str()
                .unwrap()
                .contains("\"products\""),
            "the page itself after the pass: {seen}"
        );
        assert_eq!(seen["again_status"], 200, "the pass keeps working: {seen}");
        assert_eq!(
            seen["replayed_status"], 403,
            "a pass carried to another browser is refused: {seen}"
        );
        eprintln!(
            "{}: solved in {} ms",
            work.replace('\n', ", "),
            seen["solved_ms"]
        );
        server.stop().await;
    }
}

/// The web app's journey in Chromium (`tests/browser/journey.mjs`): home, a date, a slot,
/// signing in with the texted code, adding a visitor, booking, the order with its QR code, My
/// orders, the personal centre, a dome showing's seat map, paying for it at the local Alipay
/// cashier and refunding it, a hall and an activity; a gate lets the entry ticket in; the
/// break-glass administrator signs in to the console, finds the order by the phone's last four,
/// reveals the ID number with a purpose, and sees the check-in and the audit record; the
/// visitor downloads their data, and another deletes their account — each page free of serious or critical axe-core violations, CSP violations and
/// script errors, fitting a 360-px screen, and photographed at phone and desktop sizes under
/// `target/browser-shots/` (kept for people to look at).
#[tokio::test]
async fn a_visitor_books_in_a_real_browser_and_every_page_passes_axe() {
    if std::env::var("GH_TEST_BROWSER").is_err() {
        eprintln!("skipped: set GH_TEST_BROWSER=1 (needs chromium and tests/browser's packages)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let out = command(dir.path(), &Db::Sqlite)
        .args(["admin", "break-glass", "--username", "root"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let break_glass: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The gate admits tickets of the next days too, whichever day the first open slot is.
    let server = Server::start_with(
        dir.path(),
        &Db::Sqlite,
        &dir.path().join("log"),
        true,
        &[(
            "GATEHOUSE_TICKETS__EARLY_ENTRY_MINUTES".into(),
            "10080".into(),
        )],
    )
    .await;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-shots");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/journey.mjs");
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        Command::new("node")
            .arg(script)
            .arg(format!("http://{}", server.addr))
            .arg(&admin)
            .arg(&shots)
            .env(
                "GH_ID_NUMBER",
                gatehouse_domain::identity::synthetic_resident_id(41),
            )
            .env(
                "GH_BREAK_GLASS_PASSWORD",
                break_glass["password"].as_str().unwrap(),
            )
            .env(
                "GH_TOTP_SECRET",
                break_glass["totp_secret"].as_str().unwrap(),
            )
            .output(),
    )
    .await
    .expect("the browser did not finish")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(seen["error"].is_null(), "{seen}");
    let pages = seen["pages"].as_array().unwrap();
    let names: Vec<&str> = pages.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "home",
            "dates",
            "slots",
            "sign-in",
            "code",
            "booking-form",
            "add-visitor",
            "order",
            "orders",
            "me",
            "theatres",
            "cinema-dates",
            "films",
            "seat-map",
            "cinema-order",
            "cinema-paid",
            "cinema-refunded",
            "hall-order",
            "activity-order",
            "queue",
            "queue-joined",
            "staff-sign-in",
            "console",
            "staff-search",
            "staff-order",
            "staff-reveal",
            "staff-check-in",
            "staff-audit",
            "staff-catalogue",
            "staff-product",
            "staff-privacy",
            "erase",
            "erase-waits",
            "erased"
        ]
    );
    for p in pages {
        assert_eq!(p["axe_serious"], json!([]), "{}: {p}", p["name"]);
        assert_eq!(p["wider_than_screen"], false, "{}: fits a phone", p["name"]);
        assert_eq!(p["lang"], "zh-CN", "{}", p["name"]);
        for size in ["phone", "desktop"] {
            let shot = shots.join(format!("{}-{size}.png", p["name"].as_str().unwrap()));
            assert!(
                std::fs::metadata(&shot).unwrap().len() > 1_000,
                "{}",
                shot.display()
            );
        }
    }
    assert_eq!(seen["csp_errors"], json!([]), "{seen}");
    assert_eq!(seen["page_errors"], json!([]), "{seen}");
    assert_eq!(seen["order_state"], true, "{seen}");
    assert_eq!(seen["qr_codes"], 1, "{seen}");
    assert_eq!(seen["cinema_seat"], true, "{seen}");
    assert_eq!(seen["cinema_paid"], true, "paid at the cashier: {seen}");
    assert_eq!(seen["cinema_qr"], 1, "{seen}");
    assert_eq!(seen["cinema_refunded"], true, "{seen}");
    assert!(
        seen["queue_status"]
            .as_str()
            .is_some_and(|s| s.contains("您已加入排队")),
        "the waiting page shows the place: {seen}"
    );
    assert!(
        seen["queue_polls"]
            .as_array()
            .is_some_and(|p| !p.is_empty() && p.iter().all(|s| s == 200)),
        "the waiting page polls its place's address: {seen}"
    );
    assert_eq!(seen["hall-order"], true, "{seen}");
    assert_eq!(seen["activity-order"], true, "{seen}");
    assert_eq!(
        seen["gate_status"], 200,
        "the gate lets the entry ticket in: {seen}"
    );
    assert_eq!(
        seen["revealed"],
        gatehouse_domain::identity::synthetic_resident_id(41),
        "{seen}"
    );
    assert_eq!(seen["checked_in_rows"], 1, "{seen}");
    assert_eq!(seen["audit_has_reveal"], true, "{seen}");
    assert_eq!(seen["export_has_visitor"], true, "{seen}");
    assert_eq!(seen["erase_waits"], true, "{seen}");
    assert_eq!(seen["erased"], true, "{seen}");
    server.stop().await;
}
