//! Risk control through the router: the assessment endpoint answers a level, a score, reasons
//! and the policy version, stores and counts each answer, and refuses bad input with the field
//! at fault while storing and counting nothing; the booking path asks a device farm for a
//! challenge (its pass lets the same booking through) and, under a stricter version chosen by
//! staff, refuses it with no stock taken while a family books; staff replay versions over the
//! recorded decisions; policy mistakes, versions going back and missing reasons are refused.

use super::challenge::{answer, send, solve};
use super::edge::protected;
use super::*;

async fn decisions(a: &Api) -> Vec<Value> {
    let (s, d) = call(
        &a.app,
        "GET",
        "/api/v1/admin/risk/decisions?limit=1000",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    d["decisions"].as_array().unwrap().clone()
}

async fn usage(a: &Api) -> Value {
    let (s, u) = call(
        &a.app,
        "GET",
        "/api/v1/admin/risk/usage",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    u
}

fn scripted() -> Value {
    json!({
        "scenario": "scalping",
        "subject": {"account_id": 12, "phone": "13812345678", "id_numbers": ["11010519491231002X"],
                    "device_id": "farm-7", "ip": "203.0.113.9", "payment_account": "o-abc"},
        "event": {"kind": "book", "tickets": 2, "ms_admission_to_submit": 300,
                  "skipped_pages": true, "client_inconsistent": true}
    })
}

#[tokio::test]
async fn an_assessment_answers_with_reasons_and_is_stored_and_counted_once() {
    let a = api().await;
    let dir = tempfile::tempdir().unwrap();
    let meter = Arc::new(gatehouse_meter::CallMeter::open(&dir.path().join("meter")).unwrap());
    a.state.risk.attach_meter(meter.clone());

    let (s, r) = call(
        &a.app,
        "POST",
        "/api/v1/risk/assess",
        Some(&a.admin),
        Some(scripted()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (
            r["scenario"].as_str(),
            r["level"].as_str(),
            r["score"].as_u64(),
            r["policy_version"].as_u64()
        ),
        (Some("scalping"), Some("review"), Some(65), Some(1)),
        "{r}"
    );
    let rules: Vec<&str> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "submitted-faster-than-a-person-types",
            "pages-skipped",
            "client-inconsistent"
        ]
    );
    assert_eq!(
        r["reasons"][0]["because"][0],
        json!({"feature": "ms_admission_to_submit", "value": 300.0, "compare": "<", "threshold": 2000.0})
    );

    // Only callers holding risk_assess may ask.
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/risk/assess",
        Some(&a.visitor),
        Some(scripted()),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    let with = |path: &[&str], v: Value| {
        let mut body = scripted();
        let mut at = &mut body;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                at[*key] = v.clone();
            } else {
                at = &mut at[*key];
            }
        }
        body
    };
    let bad = [
        (with(&["scenario"], json!("scalpers")), "scenario"),
        (with(&["event", "kind"], json!("teleport")), "event.kind"),
        (with(&["event", "tickets"], json!(0)), "event.tickets"),
        (with(&["event", "tickets"], json!(51)), "event.tickets"),
        (
            json!({"scenario": "fraud", "subject": {"phone": "13812345678"}, "event": {"kind": "pay", "tickets": 2}}),
            "event.tickets",
        ),
        (with(&["subject", "phone"], json!("12345")), "subject.phone"),
        (with(&["subject", "ip"], json!("999.1.1.1")), "subject.ip"),
        (
            with(&["subject", "id_numbers"], json!(["ok1", "   "])),
            "subject.id_numbers[1]",
        ),
        (
            with(&["subject", "id_numbers"], json!(vec!["1"; 21])),
            "subject.id_numbers",
        ),
        (
            with(&["subject", "device_id"], json!("d".repeat(129))),
            "subject.device_id",
        ),
        (
            with(&["subject", "payment_account"], json!("")),
            "subject.payment_account",
        ),
        (
            with(&["event", "account_created_at"], json!("yesterday")),
            "event.account_created_at",
        ),
        (
            json!({"scenario": "fraud", "subject": {}, "event": {"kind": "pay"}}),
            "subject",
        ),
    ];
    for (body, field) in bad {
        let (s, e) = call(
            &a.app,
            "POST",
            "/api/v1/risk/assess",
            Some(&a.admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, e["code"].as_str(), e["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("invalid_field"),
                Some(field)
            ),
            "{body} -> {e}"
        );
    }
    for raw in [
        "{",
        r#"{"scenario":"fraud","event":{"kind":"pay"},"extra":1}"#,
        r#"{"scenario":7}"#,
    ] {
        let (s, e) = call_raw(
            &a.app,
            "POST",
            "/api/v1/risk/assess",
            Some(&a.admin),
            Some(raw),
            &[],
        )
        .await;
        assert!(s.is_client_error(), "{raw} -> {s} {e}");
    }

    // Only the one answer was stored and counted.
    let d = decisions(&a).await;
    assert_eq!(d.len(), 1);
    let one = &d[0];
    assert_eq!(
        (
            one["source"].as_str(),
            one["level"].as_str(),
            one["account_id"].as_i64(),
            one["event"].as_str()
        ),
        (Some("api"), Some("review"), Some(12), Some("book"))
    );
    assert_eq!(one["features"]["skipped_pages"], 1.0);
    assert_eq!(one["features"]["tickets_in_request"], 2.0);
    let stored = one.to_string();
    for personal in ["13812345678", "11010519491231002X", "farm-7", "o-abc"] {
        assert!(
            !stored.contains(personal),
            "{personal} is kept in clear: {stored}"
        );
    }
    assert_eq!(meter.risk_totals().review, 1);
    let u = usage(&a).await;
    assert_eq!(
        (
            u["calls"].as_u64(),
            u["review"].as_u64(),
            u["quota"].as_u64(),
            u["remaining"].as_u64(),
            u["exhausted"].as_bool()
        ),
        (Some(1), Some(1), None, None, Some(false)),
        "{u}"
    );
    let (s, e) = call(
        &a.app,
        "GET",
        "/api/v1/admin/risk/decisions?level=maybe",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("level"))
    );
    let (s, _) = call(
        &a.app,
        "GET",
        "/api/v1/admin/risk/decisions",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Version 2: a device shared by five accounts or more (the asker among them) is a farm,
/// rejected outright.
const FARM_REJECTED: &str = r#"
version = 2
[[scenario]]
name = "scalping"
challenge = 30
review = 60
reject = 85
[[scenario.rule]]
id = "device-farm"
when = ["accounts_per_device_day >= 5"]
weight = 50
at_least = "reject"
"#;

#[tokio::test]
async fn a_device_farm_is_challenged_then_refused_under_a_stricter_version_while_a_family_books() {
    let a = api().await;
    let (app, _) = protected(&a, "version = 1\n[challenges]\ndifficulty = 8\n");
    let (s, slot) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{}/slots", a.product),
        Some(&a.admin),
        Some(json!({"date": "2026-11-25", "start": "11:00", "end": "12:00", "capacity": 50})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    let slot = slot["id"].as_i64().unwrap();
    let order = |n: u32| {
        json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13812345678",
        "tickets": [{"ticket_type_id": a.ticket_type, "visitor": {"name": "张三", "id_type": "resident_id", "id_number": synthetic_resident_id(n)}}]}).to_string()
    };
    let mut farm = Vec::new();
    for n in 0..7 {
        farm.push(session(&a.identity, &format!("farm-{n}"), &[Role::Visitor]).await);
    }
    let book = |token: &str, device: &str, n: u32, pass: Option<&str>| {
        let app = app.clone();
        let bearer = format!("Bearer {token}");
        let device = device.to_owned();
        let pass = pass.map(str::to_owned);
        async move {
            let mut headers = vec![
                ("authorization", bearer.as_str()),
                ("x-device-id", device.as_str()),
            ];
            if let Some(p) = &pass {
                headers.push(("x-gatehouse-pass", p.as_str()));
            }
            send(
                &app,
                "198.51.100.7",
                "POST",
                "/api/v1/orders",
                &headers,
                &order(n),
            )
            .await
        }
    };
    // Three accounts book from one device; the fourth is asked for a challenge, nothing taken.
    for (n, token) in farm.iter().take(3).enumerate() {
        let (s, _, o) = book(token, "farm-phone", u32::try_from(n).unwrap(), None).await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
    let before = a.remaining_of(slot).await;
    let (s, _, e) = book(&farm[3], "farm-phone", 3, None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_required")),
        "{e}"
    );
    assert_eq!(e["challenge"]["sale"], "risk-booking");
    assert_eq!(
        a.remaining_of(slot).await,
        before,
        "a challenged booking takes nothing"
    );
    // Its pass lets the same booking through; a forged one does not.
    let (s, _, e) = book(&farm[3], "farm-phone", 3, Some("forged-pass")).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("challenge_required"))
    );
    let challenge = e["challenge"].clone();
    let bearer = format!("Bearer {}", farm[3]);
    let (s, _, p) = send(
        &app,
        "198.51.100.7",
        "POST",
        "/.gatehouse/challenge",
        &[("authorization", bearer.as_str())],
        &answer(&challenge, solve(&challenge)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (s, _, o) = book(&farm[3], "farm-phone", 3, p["pass"].as_str()).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");

    // Staff make version 2 live: the fifth account on the device is refused, nothing taken.
    let (s, v) = call(
        &a.app,
        "POST",
        "/api/v1/admin/risk/policies",
        Some(&a.admin),
        Some(json!({"text": FARM_REJECTED})),
    )
    .await;
    assert_eq!(
        (s, v["version"].as_u64()),
        (StatusCode::CREATED, Some(2)),
        "{v}"
    );
    let (s, l) = call(
        &a.app,
        "PUT",
        "/api/v1/admin/risk/policies/running",
        Some(&a.admin),
        Some(json!({"live": 2, "shadow": null, "reason": "farms seen at the 09:00 release"})),
    )
    .await;
    assert_eq!((s, l["live"].as_u64()), (StatusCode::OK, Some(2)), "{l}");
    let before = a.remaining_of(slot).await;
    let (s, _, e) = book(&farm[4], "farm-phone", 4, None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("risk_rejected")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("mistake"), "{e}");
    assert_eq!(
        a.remaining_of(slot).await,
        before,
        "a refused booking takes nothing"
    );
    // A family on its own phone books.
    let (s, _, o) = book(&a.other, "family-phone", 40, None).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");

    let d = decisions(&a).await;
    assert_eq!(
        d.len(),
        8,
        "every booking's answer is recorded (the challenged one thrice)"
    );
    assert!(d
        .iter()
        .all(|x| x["source"] == "booking" && x["scenario"] == "scalping"));
    let refused = &d[1];
    assert_eq!(
        (
            refused["level"].as_str(),
            refused["policy_version"].as_u64()
        ),
        (Some("reject"), Some(2))
    );
    assert_eq!(refused["reasons"][0]["rule"], "device-farm");
    assert_eq!(refused["features"]["accounts_per_device_day"], 5.0);
    assert_eq!(d[0]["level"], "pass");

    // Version 1 replayed over the same decisions would have only challenged the farm.
    let (s, r) = call(
        &a.app,
        "POST",
        "/api/v1/admin/risk/replay",
        Some(&a.admin),
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (
            r["decisions"].as_u64(),
            r["recorded"]["reject"].as_u64(),
            r["replayed"]["reject"].as_u64()
        ),
        (Some(8), Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(r["changed"], 1);
    assert_eq!(r["changes"][0]["replayed"], "challenge");
    assert_eq!(decisions(&a).await.len(), 8, "a replay records nothing");

    // Both staff actions are in the audit trail.
    let (_, trail) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?limit=50",
        Some(&a.admin),
        None,
    )
    .await;
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"risk_policy_loaded") && actions.contains(&"risk_policies_chosen"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn policy_mistakes_versions_going_back_and_missing_reasons_are_refused() {
    let a = api().await;
    let load = |text: &str| {
        call(
            &a.app,
            "POST",
            "/api/v1/admin/risk/policies",
            Some(&a.admin),
            Some(json!({"text": text})),
        )
    };
    let cases = [
        ("version = 2\n[[scenario]]\nname = \"scalping\"\nchallenge = 30\nreview = 20\nreject = 90\n", "policy.scenario[0]"),
        ("version = 2\n[[scenario]]\nname = \"scalping\"\nchallenge = 30\nreview = 60\nreject = 90\n[[scenario.rule]]\nid = \"r\"\nwhen = [\"ring_size >>= 3\"]\nweight = 5\n", "policy.scenario[0].rule[0].when[0]"),
        ("version = 2\n[[scenario]]\nname = \"queue_jumping\"\n", "policy.scenario[0].name"),
        ("version = 2\nsurprise = true\n", "policy"),
        ("version = 1\n", "policy.version"),
        ("not toml at all [", "policy"),
    ];
    for (text, field) in cases {
        let (s, e) = load(text).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")),
            "{text} -> {e}"
        );
        assert!(
            e["field"].as_str().unwrap().starts_with(field),
            "{text} -> {e}"
        );
    }
    let (s, _) = load(FARM_REJECTED).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e) = load(FARM_REJECTED).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("policy.version")),
        "{e}"
    );

    let choose = |body: Value| {
        call(
            &a.app,
            "PUT",
            "/api/v1/admin/risk/policies/running",
            Some(&a.admin),
            Some(body),
        )
    };
    let (s, e) = choose(json!({"live": 2, "shadow": null, "reason": "  "})).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let (s, e) = choose(json!({"live": 9, "shadow": null, "reason": "try"})).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{e}"
    );
    let (s, l) = choose(json!({"live": 1, "shadow": 2, "reason": "trial in shadow"})).await;
    assert_eq!(
        (s, l["live"].as_u64(), l["shadow"].as_u64()),
        (StatusCode::OK, Some(1), Some(2)),
        "{l}"
    );
    let (s, _) = choose(json!({"live": 2, "shadow": null, "reason": "trial went well"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = choose(json!({"live": 1, "shadow": null, "reason": "back"})).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("risk_policy_conflict")),
        "{e}"
    );
    let (_, l) = call(
        &a.app,
        "GET",
        "/api/v1/admin/risk/policies",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(
        (l["live"].as_u64(), l["versions"].as_array().unwrap().len()),
        (Some(2), 2),
        "{l}"
    );
    assert_eq!(
        l["versions"][1]["loaded_by"],
        Value::Null,
        "version 1 is the shipped one"
    );
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/admin/risk/replay",
        Some(&a.admin),
        Some(json!({"version": 2, "limit": 0})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
    );
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/admin/risk/policies",
        Some(&a.visitor),
        Some(json!({"text": FARM_REJECTED})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// One payer account at WeChat Pay paying for the orders of six accounts is a fraud pattern:
/// the sixth payment is held before the provider is asked, nothing is created for it; the same
/// accounts paying with their own payers go on. Cancellations are counted in their owner's
/// history.
#[tokio::test]
async fn a_payer_account_shared_by_many_accounts_is_held_before_the_provider_is_asked() {
    let a = api().await;
    let (s, tt) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{}/ticket-types", a.product),
        Some(&a.admin),
        Some(json!({"name": "adult", "price_fen": 6000})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{tt}");
    let (s, slot) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{}/slots", a.product),
        Some(&a.admin),
        Some(json!({"date": "2026-11-25", "start": "13:00", "end": "14:00", "capacity": 50})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    let order = |token: String, n: u32| {
        let app = a.app.clone();
        let body = json!({"slot_id": slot["id"], "notice_version": 1, "contact_phone": format!("1391234{n:04}"),
            "tickets": [{"ticket_type_id": tt["id"], "visitor": {"name": "张三", "id_type": "resident_id", "id_number": synthetic_resident_id(100 + n)}}]});
        async move {
            let (s, o) = call(&app, "POST", "/api/v1/orders", Some(&token), Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{o}");
            o["id"].as_str().unwrap().to_owned()
        }
    };
    let pay = |token: String, id: String, payer: &'static str| {
        let app = a.app.clone();
        async move {
            call(
                &app,
                "POST",
                &format!("/api/v1/orders/{id}/pay"),
                Some(&token),
                Some(json!({"channel": "wechat_jsapi", "payer": payer})),
            )
            .await
        }
    };
    let mut paid = 0;
    for n in 0..6 {
        let token = session(&a.identity, &format!("payer-{n}"), &[Role::Visitor]).await;
        let id = order(token.clone(), n).await;
        let (s, p) = pay(token.clone(), id.clone(), "oShared_payer_account_0001").await;
        if s == StatusCode::OK {
            paid += 1;
            continue;
        }
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("risk_review")),
            "{p}"
        );
        assert_eq!(n, 5, "held only once six accounts share the payer");
        let (_, money) = call(
            &a.app,
            "GET",
            &format!("/api/v1/orders/{id}/payments"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            money["payments"],
            json!([]),
            "no payment was created: {money}"
        );
        // With a payer of their own the same account pays.
        let (s, p) = pay(token.clone(), id.clone(), "oOwn_payer_account_00005").await;
        assert_eq!(s, StatusCode::OK, "{p}");
        // And a cancelled order counts in its owner's history.
        let other = order(token.clone(), 50).await;
        let (s, _) = call(
            &a.app,
            "POST",
            &format!("/api/v1/orders/{other}/cancel"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    assert_eq!(paid, 5);
    let d = decisions(&a).await;
    let payments: Vec<&Value> = d.iter().filter(|x| x["source"] == "payment").collect();
    assert_eq!(payments.len(), 7);
    let held = payments.iter().find(|x| x["level"] == "review").unwrap();
    assert_eq!(
        (held["scenario"].as_str(), held["event"].as_str()),
        (Some("fraud"), Some("pay"))
    );
    assert_eq!(
        held["features"]["accounts_per_payment_account_day"], 6.0,
        "{held}"
    );
}

/// Staff take measures with a reason and a notice: a suspension stops the visitor's bookings
/// (nothing taken, the notice in the answer) until lifted; a refund limit stops their own
/// refunds but not staff refunding for them; a ban stops everything; the visitor reads their
/// notices (not staff's reasons); bad input names its field; each step is audited.
#[tokio::test]
async fn measures_stop_what_they_say_until_lifted_and_the_visitor_sees_their_notice() {
    let a = api().await;
    let (_, me) = call(&a.app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    let account = me["account"]["id"].as_i64().unwrap();
    let take = |body: Value| {
        call(
            &a.app,
            "POST",
            "/api/v1/admin/risk/measures",
            Some(&a.admin),
            Some(body),
        )
    };
    let bad = [
        (
            json!({"account_id": account, "kind": "jail", "reason": "r", "notice": "n"}),
            "kind",
        ),
        (
            json!({"account_id": account, "kind": "suspension", "reason": "r", "notice": "n"}),
            "until",
        ),
        (
            json!({"account_id": account, "kind": "ban", "until": "2026-01-01T00:00:00Z", "reason": "r", "notice": "n"}),
            "until",
        ),
        (
            json!({"account_id": account, "kind": "ban", "until": "soon", "reason": "r", "notice": "n"}),
            "until",
        ),
        (
            json!({"account_id": account, "kind": "warning", "reason": "r", "notice": "  "}),
            "notice",
        ),
        (
            json!({"account_id": account, "kind": "warning", "reason": "", "notice": "n"}),
            "reason",
        ),
        (
            json!({"account_id": 0, "kind": "warning", "reason": "r", "notice": "n"}),
            "account_id",
        ),
    ];
    for (body, field) in bad {
        let (s, e) = take(body.clone()).await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body} -> {e}"
        );
    }
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/admin/risk/measures",
        Some(&a.visitor),
        Some(json!({"account_id": account, "kind": "warning", "reason": "r", "notice": "n"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, suspension) = take(json!({"account_id": account, "kind": "suspension", "until": "2026-11-30T00:00:00Z",
        "reason": "ring of 40 accounts on 3 phones (case 17)", "notice": "您的账户已暂停购票至 11 月 30 日 / bookings suspended until 30 November"})).await;
    assert_eq!(s, StatusCode::CREATED, "{suspension}");
    let before = a.remaining().await;
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_suspended")),
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("bookings suspended until 30 November"),
        "{e}"
    );
    assert_eq!(a.remaining().await, before, "nothing taken");
    // Another visitor books as before.
    a.book(&a.other, &synthetic_resident_id(3)).await;

    let (s, mine) = call(&a.app, "GET", "/api/v1/me/measures", Some(&a.visitor), None).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(mine["measures"][0]["kind"], "suspension");
    assert!(mine["measures"][0]["notice"]
        .as_str()
        .unwrap()
        .contains("30 November"));
    assert!(
        !mine.to_string().contains("case 17"),
        "staff's reasons stay with staff: {mine}"
    );

    let id = suspension["id"].as_i64().unwrap();
    let lift = |id: i64| {
        let (app, admin) = (a.app.clone(), a.admin.clone());
        async move {
            let path = format!("/api/v1/admin/risk/measures/{id}/lift");
            call(
                &app,
                "POST",
                &path,
                Some(&admin),
                Some(json!({"reason": "appeal upheld"})),
            )
            .await
        }
    };
    let (s, lifted) = lift(id).await;
    assert_eq!(
        (s, lifted["lift_reason"].as_str()),
        (StatusCode::OK, Some("appeal upheld")),
        "{lifted}"
    );
    let (s, e) = lift(id).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "lifted once: {e}"
    );
    let order = a.book(&a.visitor, "11010519491231002X").await;

    // No refunds: the visitor's own refund is refused; staff may still refund for them.
    let (s, _) = take(json!({"account_id": account, "kind": "no_refunds", "reason": "refund-then-rebuy", "notice": "退票功能已受限 / refunds are limited"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (oid, ticket) = (
        order["id"].as_str().unwrap(),
        order["tickets"][0]["id"].clone(),
    );
    let (s, e) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{oid}/refund"),
        Some(&a.visitor),
        Some(json!({"ticket_ids": [ticket]})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("refunds_limited")),
        "{e}"
    );
    let (s, r) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/orders/{oid}/refund"),
        Some(&a.admin),
        Some(json!({"ticket_ids": [ticket], "reason": "visit cancelled by the museum"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");

    // A ban stops bookings too.
    let (s, _) = take(json!({"account_id": account, "kind": "ban", "reason": "chargebacks", "notice": "账户已封禁 / account banned"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking(&synthetic_resident_id(4))),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_banned")),
        "{e}"
    );

    let (_, all) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/risk/measures?account_id={account}"),
        Some(&a.admin),
        None,
    )
    .await;
    let kinds: Vec<&str> = all["measures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ban", "no_refunds", "suspension"]);
    let (_, trail) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?limit=50",
        Some(&a.admin),
        None,
    )
    .await;
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"risk_measure_taken") && actions.contains(&"risk_measure_lifted"),
        "{actions:?}"
    );
}

/// Accounts signing in on one device (its `X-Device-Id`) are linked before any of them books:
/// the next assessment on that device counts them all; a sign-in without a device id links
/// nothing.
#[tokio::test]
async fn sign_ins_on_one_device_are_counted_before_anyone_books() {
    let a = api().await;
    let mut accounts = Vec::new();
    for n in 0..5 {
        let phone = format!("1390000{n:04}");
        let (s, _) = call(
            &a.app,
            "POST",
            "/api/v1/auth/phone/code",
            None,
            Some(json!({"phone": phone})),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let code = super::identity::texted_code(&a, &phone).await;
        let device = if n < 4 { "shared-tablet" } else { "" };
        let body = json!({"phone": phone, "code": code}).to_string();
        let (s, session) = call_raw(
            &a.app,
            "POST",
            "/api/v1/auth/phone/sign-in",
            None,
            Some(&body),
            &[("x-device-id", device)],
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{session}");
        accounts.push(session["account"]["id"].as_i64().unwrap());
    }
    let assess = |account: i64| {
        let (app, admin) = (a.app.clone(), a.admin.clone());
        async move {
            let body = json!({"scenario": "scalping", "subject": {"account_id": account, "device_id": "shared-tablet"},
                "event": {"kind": "book", "tickets": 5}});
            let (s, r) = call(
                &app,
                "POST",
                "/api/v1/risk/assess",
                Some(&admin),
                Some(body),
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{r}");
            let (_, d) = call(
                &app,
                "GET",
                "/api/v1/admin/risk/decisions?limit=1",
                Some(&admin),
                None,
            )
            .await;
            (r, d["decisions"][0]["features"].clone())
        }
    };
    let (r, features) = assess(accounts[0]).await;
    assert_eq!(features["accounts_per_device_day"], 4.0, "{features}");
    assert_eq!(features["ring_size"], 4.0, "{features}");
    let rules: Vec<&str> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"device-shared-by-many-accounts"), "{r}");
    // The fifth signed in without a device id: asking on the tablet makes it the fifth.
    let (_, features) = assess(accounts[4]).await;
    assert_eq!(features["accounts_per_device_day"], 5.0, "{features}");
}

/// Traffic protection's bot signals reach risk control: a client they find suspicious but let
/// through (no challenge rule covers booking here) is "client inconsistent", which with its
/// skipped pages is a challenge of risk control's own; a person's browser is not.
#[tokio::test]
async fn the_edges_bot_signals_make_a_client_inconsistent_for_risk_control() {
    let a = api().await;
    let (app, _) = protected(&a, "version = 1\n[signals]\nchallenge_at = 50\nblock_at = 100\n[signals.weights]\nheaders_inconsistent = 50\n[challenges]\ndifficulty = 4\n");
    let bearer = format!("Bearer {}", a.visitor);
    let person = super::challenge::browser(&bearer);
    let (s, _, o) = send(
        &app,
        "198.51.100.7",
        "POST",
        "/api/v1/orders",
        &person,
        &a.booking("11010519491231002X").to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let pretender = [
        ("authorization", bearer.as_str()),
        ("user-agent", super::challenge::CHROME),
    ];
    let (s, _, e) = send(
        &app,
        "198.51.100.9",
        "POST",
        "/api/v1/orders",
        &pretender,
        &a.booking(&synthetic_resident_id(9)).to_string(),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["challenge"]["sale"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("challenge_required"),
            Some("risk-booking")
        ),
        "{e}"
    );
    let d = decisions(&a).await;
    assert_eq!(d[0]["features"]["client_inconsistent"], 1.0, "{}", d[0]);
    assert_eq!(d[1]["features"]["client_inconsistent"], 0.0, "{}", d[1]);
    let rules: Vec<&str> = d[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["pages-skipped", "client-inconsistent"]);
}
