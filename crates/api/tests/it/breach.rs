//! Breach notification through the real router: staff with `breach_manage` open a breach, the
//! people holding the leaked kinds of data are found, the notice is drafted, sent by text to
//! accounts with a phone and in the app to the others, and a deadline that nears or passes with
//! notices unsent is escalated once each.

use axum::http::StatusCode;
use gatehouse_domain::access::Role;
use gatehouse_domain::breach::Escalation;
use gatehouse_domain::Clock;
use jiff::SignedDuration;
use serde_json::{json, Value};

use super::{api, call, session};

fn report(a: &super::Api, fields: &[&str], discovered_mins_ago: i64) -> Value {
    let now = a.clock.now();
    json!({
        "title": "备份盘遗失 A backup disk was lost",
        "what_happened": "a backup disk with last week's bookings left the building unencrypted",
        "occurred_at": (now - SignedDuration::from_mins(discovered_mins_ago + 1)).to_string(),
        "discovered_at": (now - SignedDuration::from_mins(discovered_mins_ago)).to_string(),
        "fields": fields,
        "systems": "nightly backups",
        "measures": "keys rotated, the disk reported to the police",
        "advice": "beware of calls or texts claiming to be the museum",
        "contact": "privacy@museum.example, 0371-12345678",
    })
}

#[tokio::test]
async fn a_breach_finds_the_people_affected_notifies_them_and_escalates_late_notices() {
    let a = api().await;
    a.book(&a.visitor, "11010519491231002X").await;
    let phone = "13512345678";
    let (texted, _) = super::identity::phone_session(&a, phone).await;
    a.book(
        &texted,
        &gatehouse_domain::identity::synthetic_resident_id(3),
    )
    .await;
    // The breach happens after these bookings, and is found a minute after that.
    a.clock.advance(SignedDuration::from_mins(3));
    let analyst = session(&a.identity, "analyst", &[Role::SecurityAnalyst]).await;
    let support = session(&a.identity, "support", &[Role::CustomerSupport]).await;
    let admin = session(&a.identity, "admin2", &[Role::Administrator]).await;
    let fields = ["id_number", "contact_phone", "ip_address"];

    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/admin/breaches",
        Some(&support),
        Some(report(&a, &fields, 1)),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "support cannot open breaches");
    let mut bad = report(&a, &["passport_photo"], 1);
    let (s, err) = call(
        &a.app,
        "POST",
        "/api/v1/admin/breaches",
        Some(&analyst),
        Some(bad.clone()),
    )
    .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("fields[0]"))
    );
    bad = report(&a, &fields, -120);
    let (s, err) = call(
        &a.app,
        "POST",
        "/api/v1/admin/breaches",
        Some(&analyst),
        Some(bad),
    )
    .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("discovered_at"))
    );
    bad = report(&a, &fields, 1);
    bad["title"] = json!("");
    let (s, err) = call(
        &a.app,
        "POST",
        "/api/v1/admin/breaches",
        Some(&analyst),
        Some(bad),
    )
    .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("title"))
    );

    let (s, breach) = call(
        &a.app,
        "POST",
        "/api/v1/admin/breaches",
        Some(&analyst),
        Some(report(&a, &fields, 1)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{breach}");
    assert_eq!(
        breach["affected"], 2,
        "the two accounts with orders: {breach}"
    );
    assert_eq!(breach["unattributable"], json!(["ip_address"]));
    let discovered: jiff::Timestamp = breach["discovered_at"].as_str().unwrap().parse().unwrap();
    let deadline: jiff::Timestamp = breach["deadline_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        deadline.duration_since(discovered),
        SignedDuration::from_hours(24),
        "ID numbers: 24 h"
    );
    let draft = breach["draft_notice"].as_str().unwrap();
    for part in [
        "left the building",
        "证件号码",
        "keys rotated",
        "beware of calls",
        "0371-12345678",
    ] {
        assert!(draft.contains(part), "{part}: {draft}");
    }
    assert_eq!(breach["notices_pending"], 2);

    let id = breach["id"].as_str().unwrap();
    let (s, sent) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/breaches/{id}/notify"),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    assert_eq!(
        (
            sent["notices_sent"].as_u64(),
            sent["notices_pending"].as_u64()
        ),
        (Some(2), Some(0))
    );
    let (_, outbox) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/sms-outbox?phone={phone}"),
        Some(&admin),
        None,
    )
    .await;
    let last = outbox["messages"].as_array().unwrap().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        last.contains("A backup disk was lost"),
        "the phone account was texted: {last}"
    );
    let (_, notices) = call(&a.app, "GET", "/api/v1/me/notices", Some(&a.visitor), None).await;
    assert_eq!(
        notices.as_array().unwrap().len(),
        1,
        "no phone: in the app: {notices}"
    );
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .contains("beware of calls"));
    let (_, none) = call(&a.app, "GET", "/api/v1/me/notices", Some(&a.other), None).await;
    assert_eq!(none, json!([]), "not affected");
    let (_, trail) = call(
        &a.app,
        "GET",
        "/api/v1/admin/audit?action=breach_notices_sent",
        Some(&admin),
        None,
    )
    .await;
    assert!(
        trail["events"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("1 by text message"),
        "{trail}"
    );
    assert!(!trail.to_string().contains(phone));
    assert!(trail["events"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("report e-mailed to 2 of 2 breach mailboxes"));
    // The report went to the officer and the authority, with counts and no one's phone.
    let mail = a.identity.mail().outbox().unwrap();
    assert_eq!(
        mail.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(),
        vec!["dpo@museum.example", "report@authority.example"]
    );
    assert!(
        mail[0].subject.contains("A backup disk was lost"),
        "{mail:?}"
    );
    for part in [
        "People affected: 2",
        "Kinds that cannot be tied to a person: ip_address",
        "Notices sent: 2; pending: 0; failed: 0",
        "What you can do: beware of calls",
    ] {
        assert!(mail[0].body.contains(part), "{part}: {}", mail[0].body);
    }
    assert!(!mail[0].body.contains(phone));

    // A second breach (phones only: 48 h) left unsent is escalated once near the deadline and
    // once after it.
    let (_, late) = call(
        &a.app,
        "POST",
        "/api/v1/admin/breaches",
        Some(&analyst),
        Some(report(&a, &["contact_phone"], 0)),
    )
    .await;
    let late_id = late["id"].as_str().unwrap().to_owned();
    assert!(a.identity.watch_breaches().await.unwrap().is_empty());
    a.clock.advance(SignedDuration::from_hours(36));
    assert_eq!(
        a.identity.watch_breaches().await.unwrap(),
        vec![(late_id.clone(), Escalation::DeadlineNear)]
    );
    assert!(
        a.identity.watch_breaches().await.unwrap().is_empty(),
        "once"
    );
    a.clock.advance(SignedDuration::from_hours(12));
    assert_eq!(
        a.identity.watch_breaches().await.unwrap(),
        vec![(late_id.clone(), Escalation::DeadlineMissed)]
    );
    let subjects: Vec<String> = a
        .identity
        .mail()
        .outbox()
        .unwrap()
        .iter()
        .skip(2)
        .map(|m| format!("{} {}", m.to, m.subject))
        .collect();
    assert_eq!(
        subjects,
        [
            "dpo@museum.example Breach notices due soon: ",
            "report@authority.example Breach notices due soon: ",
            "dpo@museum.example Breach notices LATE: ",
            "report@authority.example Breach notices LATE: ",
        ]
        .map(|s| format!("{s}{}", late["title"].as_str().unwrap())),
        "each escalation is e-mailed once to each mailbox"
    );
    let analyst = session(&a.identity, "analyst2", &[Role::SecurityAnalyst]).await;
    let (_, seen) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/breaches/{late_id}"),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(seen["overdue"], true, "{seen}");
    assert!(seen["escalated_near_at"].is_string() && seen["escalated_missed_at"].is_string());
    let (_, list) = call(
        &a.app,
        "GET",
        "/api/v1/admin/breaches",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}
