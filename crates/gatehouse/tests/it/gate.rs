//! `gatehouse gate` end to end: two gates read codes on stdin; the server is killed mid-shift
//! (the online check-in it acknowledged survives), both gates carry on offline and let the same
//! ticket in (and one lets a school group in by its one group code), the server comes back on
//! the same address, the gates upload their journals, and staff see the double use and every
//! group member counted.

use super::*;
use tokio::io::AsyncWriteExt;
use tokio::io::Lines;
use tokio::process::ChildStdin;

struct GateProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines<BufReader<tokio::process::ChildStdout>>,
}

impl GateProcess {
    fn start(addr: &str, token: &str, state: &Path, day: jiff::civil::Date) -> Self {
        let mut child = Command::new(BIN)
            .args(["gate", "--server", &format!("http://{addr}"), "--state-dir"])
            .arg(state)
            .args(["--date", &day.to_string()])
            .env("GATEHOUSE_GATE_TOKEN", token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdin, out }
    }

    /// Feeds one scanned code and returns the gate's verdict line.
    async fn scan(&mut self, code: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{code}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        self.line().await
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(30), self.out.next_line())
            .await
            .expect("the gate did not answer")
            .unwrap()
            .expect("the gate exited")
    }

    /// Ends the input; returns the summary the gate prints after its last upload.
    async fn finish(mut self) -> Value {
        drop(self.stdin.take());
        let line = self.line().await;
        let summary = line
            .strip_prefix("SUMMARY ")
            .unwrap_or_else(|| panic!("{line}"));
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
        serde_json::from_str(summary).unwrap()
    }
}

async fn register(addr: &str, admin: &str, name: &str) -> String {
    let (s, d) = send(
        addr,
        Method::POST,
        "/api/v1/admin/gates",
        Some(admin),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    d["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_work_through_an_outage_and_their_uploads_reveal_double_uses() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // Tomorrow's slot admits from now on: two days' early entry.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = [
        (
            "GATEHOUSE_TICKETS__EARLY_ENTRY_MINUTES".to_owned(),
            "2880".to_owned(),
        ),
        ("GATEHOUSE_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
    ];
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let mut server = Server::start_with(dir.path(), &Db::Sqlite, &log, false, &env).await;
    let addr = server.addr.clone();
    let (slot, tt) = rush_product(&addr, &admin, 10).await;
    let visitor = visitor_token(&addr, &admin, "13700000001").await;
    let mut codes = Vec::new();
    for n in 0..3 {
        let (s, o) = send(
            &addr,
            Method::POST,
            "/api/v1/orders",
            Some(&visitor),
            Some(booking(
                slot,
                tt,
                "游客",
                &synthetic_resident_id(n),
                "13700000001",
            )),
        )
        .await;
        assert_eq!(s, 201, "{o}");
        codes.push(o["tickets"][0]["code"].as_str().unwrap().to_owned());
    }
    let group_code = school_group(&addr, &admin, &visitor, slot, tt).await;
    let east_token = register(&addr, &admin, "east").await;
    let west_token = register(&addr, &admin, "west").await;
    // The gates work tomorrow's entries (the slot's day).
    let tomorrow = gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date()
        .tomorrow()
        .unwrap();
    let mut east = GateProcess::start(&addr, &east_token, &dir.path().join("east"), tomorrow);
    let mut west = GateProcess::start(&addr, &west_token, &dir.path().join("west"), tomorrow);

    let verdict = east.scan(&codes[0]).await;
    assert!(
        verdict.starts_with("ADMIT ") && verdict.ends_with(" online"),
        "{verdict}"
    );
    let verdict = west.scan(&codes[0]).await;
    assert!(
        verdict.starts_with("REFUSE already_used already used at ") && verdict.ends_with(", east"),
        "{verdict}"
    );

    // The server dies; the gates carry on from their bundles.
    server.kill9();
    let _ = server.child.wait().await;
    let verdict = east.scan(&codes[1]).await;
    assert!(
        verdict.starts_with("ADMIT ") && verdict.ends_with(" offline"),
        "{verdict}"
    );
    let verdict = east.scan(&codes[1]).await;
    assert!(verdict.starts_with("REFUSE already_used"), "{verdict}");
    let verdict = east.scan(&group_code).await;
    assert!(
        verdict.starts_with("ADMIT group=")
            && verdict.contains(" people=3 ")
            && verdict.ends_with(" offline"),
        "the leader and two pupils: {verdict}"
    );
    let verdict = east.scan(&group_code).await;
    assert!(verdict.starts_with("REFUSE already_used"), "{verdict}");
    // West cannot know: it lets the same ticket in.
    let verdict = west.scan(&codes[1]).await;
    assert!(verdict.ends_with(" offline"), "{verdict}");
    let verdict = west.scan(&codes[0]).await;
    assert!(
        verdict.starts_with("REFUSE already_used"),
        "the bundle knew ticket 0 was used: {verdict}"
    );
    let mut forged = codes[2].clone();
    forged.replace_range(100..101, if &codes[2][100..101] == "A" { "B" } else { "A" });
    let verdict = west.scan(&forged).await;
    assert!(
        verdict.starts_with("REFUSE ticket_code_invalid"),
        "{verdict}"
    );
    assert!(east
        .scan("not a code")
        .await
        .starts_with("REFUSE ticket_code_invalid"));

    // Back on the same address: the gates upload what they journalled.
    let server = Server::start_with(dir.path(), &Db::Sqlite, &log, false, &env).await;
    let east = east.finish().await;
    let west = west.finish().await;
    assert_eq!(
        (
            east["admitted"].as_u64(),
            east["uploaded"].as_u64(),
            east["pending"].as_u64()
        ),
        (Some(5), Some(4), Some(0)),
        "{east}"
    );
    assert_eq!(
        (west["uploaded"].as_u64(), west["pending"].as_u64()),
        (Some(1), Some(0)),
        "{west}"
    );

    let (s, doubles) = send(
        &server.addr,
        Method::GET,
        &format!("/api/v1/admin/check-ins/double-uses?date={tomorrow}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{doubles}");
    let tickets = doubles["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1, "{doubles}");
    let gates: Vec<&str> = tickets[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["gate"].as_str().unwrap())
        .collect();
    assert_eq!(gates, ["east", "west"]);
    let (_, counts) = send(
        &server.addr,
        Method::GET,
        &format!("/api/v1/admin/check-ins?date={tomorrow}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(counts["slots"][0]["sold"], 6);
    assert_eq!(
        counts["slots"][0]["checked_in"], 5,
        "the online entry survived kill -9, the group counts per person: {counts}"
    );
    server.stop().await;
}

/// An approved school books a leader and two pupils from the slot's group capacity; the
/// order's one group code.
async fn school_group(addr: &str, admin: &str, visitor: &str, slot: i64, tt: i64) -> String {
    let (s, org) = send(
        addr,
        Method::POST,
        "/api/v1/groups/organisations",
        Some(visitor),
        Some(json!({"name": "实验小学"})),
    )
    .await;
    assert_eq!(s, 201, "{org}");
    let (s, d) = send(
        addr,
        Method::POST,
        &format!("/api/v1/admin/organisations/{}/decide", org["id"]),
        Some(admin),
        Some(json!({"approve": true, "reason": "letter seen"})),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    let (s, c) = send(
        addr,
        Method::PUT,
        &format!("/api/v1/admin/slots/{slot}/group-capacity"),
        Some(admin),
        Some(json!({"group_capacity": 10})),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let csv = format!(
        "学生甲,{}\n学生乙,{}\n",
        synthetic_resident_id(11),
        synthetic_resident_id(12)
    );
    let (s, o) = send(
        addr,
        Method::POST,
        "/api/v1/groups/bookings",
        Some(visitor),
        Some(json!({"organisation_id": org["id"], "slot_id": slot, "ticket_type_id": tt,
            "notice_version": 1, "contact_phone": "13700000001",
            "leader": {"name": "王老师", "id_type": "resident_id", "id_number": synthetic_resident_id(10)},
            "csv": csv})),
    )
    .await;
    assert_eq!(s, 201, "{o}");
    o["group_code"].as_str().unwrap().to_owned()
}
