//! Protected releases through the real router: staff protect a product's day (its opening from
//! the product's rules, the pre-queue before it), once; bad settings are refused beside their
//! field; anyone reads the commitment to the seed, and the seed itself only once the release
//! opened — and it keeps the promise.

use super::*;
use jiff::SignedDuration;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn staff_protect_a_day_and_its_seed_is_committed_before_and_revealed_after() {
    let a = api().await;
    // The harness's clock is 2026-11-23 09:00 in Beijing; entry opens 2 days ahead at 09:00.
    let body = json!({"product_id": a.product, "date": "2026-11-27", "prequeue_minutes": 20, "window_minutes": 5});
    let (s, refused) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.visitor),
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");
    let (s, r) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.admin),
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["opens_at"], "2026-11-25T01:00:00Z", "{r}");
    assert_eq!(r["prequeue_opens_at"], "2026-11-25T00:40:00Z");
    assert_eq!(r["window_minutes"], 5);
    assert!(r["seed"].is_null(), "secret until the opening");
    let commitment = r["seed_commitment"].as_str().unwrap().to_owned();
    assert_eq!(commitment.len(), 64);
    let (s, again) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.admin),
        Some(body),
    )
    .await;
    assert_eq!(
        (s, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_protected"))
    );

    for (bad, field) in [
        (
            json!({"product_id": a.product, "date": "2026-11-28", "window_minutes": 0}),
            "window_minutes",
        ),
        (
            json!({"product_id": a.product, "date": "2026-11-28", "prequeue_minutes": 0}),
            "prequeue_minutes",
        ),
        (
            json!({"product_id": a.product, "date": "2026-11-24"}),
            "date",
        ),
        (json!({"product_id": a.product, "date": "tomorrow"}), "date"),
    ] {
        let (s, e) = call(
            &a.app,
            "POST",
            "/api/v1/admin/releases",
            Some(&a.admin),
            Some(bad),
        )
        .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{e}"
        );
    }
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.admin),
        Some(json!({"product_id": 999_999, "date": "2026-11-28"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, list) = call(&a.app, "GET", "/api/v1/releases", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0]["seed"].is_null());
    // Once it opened, the seed is public and keeps the promise.
    a.clock.advance(SignedDuration::from_hours(48));
    let (_, list) = call(&a.app, "GET", "/api/v1/releases", None, None).await;
    let seed = hex::decode(list[0]["seed"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&seed)), commitment);
}

/// During a protected release every booking must carry an admission: none, a forged one,
/// another person's, one for another release, or one already used is refused and books
/// nothing; an admitted visitor books once with theirs. Days that are not protected book as
/// before.
#[tokio::test]
async fn bookings_of_a_protected_day_pass_the_waiting_room() {
    let a = api().await;
    let (s, slot) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{}/slots", a.product),
        Some(&a.admin),
        Some(json!({"date": "2026-11-27", "start": "09:00", "end": "10:30", "capacity": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    let (_, unprotected) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{}/slots", a.product),
        Some(&a.admin),
        Some(json!({"date": "2026-11-26", "start": "09:00", "end": "10:30", "capacity": 5})),
    )
    .await;
    let unprotected = unprotected["id"].as_i64().unwrap();
    let slot = slot["id"].as_i64().unwrap();
    let (s, r) = call(&a.app, "POST", "/api/v1/admin/releases", Some(&a.admin),
        Some(json!({"product_id": a.product, "date": "2026-11-27", "prequeue_minutes": 30, "window_minutes": 5}))).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let release = r["id"].as_u64().unwrap();
    let booking = |id_number: &str| {
        json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13812345678",
        "tickets": [{"ticket_type_id": a.ticket_type, "visitor": {"name": "张三", "id_type": "resident_id", "id_number": id_number}}]})
    };
    let book = |token: String, admission: Option<String>, id: &'static str| {
        let body = booking(&gatehouse_domain::identity::synthetic_resident_id(
            id.len() as u32 + 60,
        ))
        .to_string();
        let app = a.app.clone();
        async move {
            let headers: Vec<(&str, &str)> = admission
                .iter()
                .map(|t| ("x-gatehouse-admission", t.as_str()))
                .collect();
            call_raw(
                &app,
                "POST",
                "/api/v1/orders",
                Some(&token),
                Some(&body),
                &headers,
            )
            .await
        }
    };

    // The pre-queue opens 08:30 two days ahead; before it, joining is refused.
    let (s, e) = join(&a.app, release, &a.visitor).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("queue_not_open")),
        "{e}"
    );
    a.clock
        .advance(SignedDuration::from_hours(47) + SignedDuration::from_mins(40));
    // Two days on, the harness's sessions have ended: two visitors sign in now.
    let visitor = session(&a.identity, "queue-visitor", &[Role::Visitor]).await;
    let other = session(&a.identity, "queue-other", &[Role::Visitor]).await;
    let (s, place) = join(&a.app, release, &visitor).await;
    assert_eq!(s, StatusCode::OK, "{place}");
    assert_eq!(place["standing"], "waiting");
    let (_, again) = join(&a.app, release, &visitor).await;
    assert_eq!(again["place"], place["place"], "one place per person");
    let (s, other_place) = join(&a.app, release, &other).await;
    assert_eq!(s, StatusCode::OK, "{other_place}");

    // The place's poll address answers without a session, and only at its exact shape.
    let poll = place["poll_path"].as_str().unwrap().to_owned();
    let (s, polled) = call(&a.app, "GET", &poll, None, None).await;
    assert_eq!(
        (s, &polled["place"], &polled["standing"]),
        (StatusCode::OK, &place["place"], &json!("waiting")),
        "{polled}"
    );
    let wrong_key = format!(
        "{}AAAAAAAAAAAAAAAAAAAAAA",
        &poll[..poll.rfind('/').unwrap() + 1]
    );
    for (method, path) in [
        ("GET", wrong_key.as_str()),
        ("GET", &format!("{poll}?x=1")),
        ("POST", poll.as_str()),
        ("GET", "/q/1/2"),
        ("GET", &format!("{poll}/more")),
    ] {
        let (s, e) = call(&a.app, method, path, None, None).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{method} {path}"
        );
    }

    // Booking in the pre-queue without an admission: refused, nothing taken.
    let (s, e) = book(visitor.clone(), None, "a").await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("admission_required"),
            Some("x-gatehouse-admission")
        ),
        "{e}"
    );
    let (s, e) = book(visitor.clone(), Some("gha1.forged.token".into()), "a").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admission_invalid")),
        "{e}"
    );

    // 09:00: the line opens; the waiting room admits at its rate.
    a.clock.advance(SignedDuration::from_mins(20));
    a.state.queue.tick().await.unwrap();
    a.clock.advance(SignedDuration::from_secs(1));
    a.state.queue.tick().await.unwrap();
    let (_, mine) = call(
        &a.app,
        "GET",
        &format!("/api/v1/releases/{release}/me"),
        Some(&visitor),
        None,
    )
    .await;
    assert_eq!(mine["standing"], "admitted", "{mine}");
    let token = mine["admission_token"].as_str().unwrap().to_owned();
    let (_, theirs) = call(
        &a.app,
        "GET",
        &format!("/api/v1/releases/{release}/me"),
        Some(&other),
        None,
    )
    .await;
    let their_token = theirs["admission_token"].as_str().unwrap().to_owned();

    // Someone else's admission does not work for me.
    let (s, e) = book(visitor.clone(), Some(their_token), "b").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admission_invalid")),
        "{e}"
    );
    assert_eq!(
        a.remaining_of(slot).await,
        5,
        "nothing taken by refused bookings"
    );
    // The visitor looks at the slot and fills the form in like a person (a script posting at
    // once without the page is what risk control challenges).
    call(
        &a.app,
        "GET",
        &format!("/api/v1/slots/{slot}"),
        Some(&visitor),
        None,
    )
    .await;
    a.clock.advance(SignedDuration::from_secs(20));
    let (s, order) = book(visitor.clone(), Some(token.clone()), "c").await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    // Used: the window closed.
    let (s, e) = book(visitor.clone(), Some(token), "dd").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admission_invalid")),
        "{e}"
    );
    assert_eq!(a.remaining_of(slot).await, 4);

    // The day sells out: the next admitted person's booking says so, and the line is told at
    // once — nobody new joins.
    let staff = session(&a.identity, "queue-staff", &[Role::Administrator]).await;
    let (s, _) = call(
        &a.app,
        "PATCH",
        &format!("/api/v1/admin/slots/{slot}"),
        Some(&staff),
        Some(json!({"capacity": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, theirs) = call(
        &a.app,
        "GET",
        &format!("/api/v1/releases/{release}/me"),
        Some(&other),
        None,
    )
    .await;
    let (s, e) = book(
        other.clone(),
        theirs["admission_token"].as_str().map(str::to_owned),
        "eee",
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("sold_out")),
        "{e}"
    );
    let late = session(&a.identity, "queue-late", &[Role::Visitor]).await;
    let (s, e) = join(&a.app, release, &late).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("sold_out")),
        "{e}"
    );

    // The fairness report: two joined before the opening, both admitted, one bought; one
    // refused from another device is not counted as a place.
    let (s, report) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/releases/{release}/report"),
        Some(&staff),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(
        (
            report["joined"].as_u64(),
            report["prequeued"].as_u64(),
            report["admitted"].as_u64(),
            report["bought"].as_u64()
        ),
        (Some(2), Some(2), Some(2), Some(1)),
        "{report}"
    );
    assert_eq!(report["by_join_time"].as_array().unwrap().len(), 11);
    assert!(
        report["seed"].is_string(),
        "opened: the seed is in the report"
    );
    let (s, _) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/releases/{release}/report"),
        Some(&visitor),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A day that is not protected books as before, without an admission.
    let mut open_day = booking(&gatehouse_domain::identity::synthetic_resident_id(70));
    open_day["slot_id"] = json!(unprotected);
    let (s, order) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&visitor),
        Some(open_day),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
}

/// A place belongs to the device's sign-in: refreshing the session (a new session id in the
/// same family) keeps it; signing in again on another device does not get another one.
#[tokio::test]
async fn a_refreshed_session_keeps_its_place_and_another_device_gets_none() {
    let a = api().await;
    let release = in_prequeue(&a, &a.app).await;
    let account = a
        .identity
        .create_account("queue-refresh", Roles::of(&[Role::Visitor]))
        .await
        .unwrap();
    let first = a
        .identity
        .issue_session(account.clone(), SignInMethod::Console)
        .await
        .unwrap();
    let (s, joined) = join(&a.app, release, &first.access_token).await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    let refreshed = a
        .identity
        .refresh(first.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    let (s, mine) = call(
        &a.app,
        "GET",
        &format!("/api/v1/releases/{release}/me"),
        Some(&refreshed.access_token),
        None,
    )
    .await;
    assert_eq!(
        (s, &mine["place"]),
        (StatusCode::OK, &joined["place"]),
        "{mine}"
    );
    let other_device = a
        .identity
        .issue_session(account, SignInMethod::Console)
        .await
        .unwrap();
    let (s, e) = join(&a.app, release, &other_device.access_token).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("queue_other_device")),
        "{e}"
    );
}

/// One place per person: an ID number another account books for already holds a place, and
/// the same account on another device holds none; both refusals reach the fairness report.
#[tokio::test]
async fn an_id_number_or_an_account_holds_one_place() {
    let a = api().await;
    let release = in_prequeue(&a, &a.app).await;
    let account = a
        .identity
        .create_account("two devices", Roles::of(&[Role::Visitor]))
        .await
        .unwrap();
    let mut devices = Vec::new();
    for _ in 0..2 {
        devices.push(
            a.identity
                .issue_session(account.clone(), SignInMethod::Console)
                .await
                .unwrap()
                .access_token,
        );
    }
    let borrower = session(&a.identity, "borrower", &[Role::Visitor]).await;
    let stranger = session(&a.identity, "stranger", &[Role::Visitor]).await;
    let grandma = gatehouse_domain::identity::synthetic_resident_id(77);
    for (token, id) in [
        (&devices[0], grandma.clone()),
        (&borrower, grandma),
        (
            &stranger,
            gatehouse_domain::identity::synthetic_resident_id(78),
        ),
    ] {
        let (s, v) = call(
            &a.app,
            "POST",
            "/api/v1/me/visitors",
            Some(token),
            Some(json!({"name": "王五", "id_type": "resident_id", "id_number": id})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let join = |token: String| {
        let app = a.app.clone();
        async move { super::releases::join(&app, release, &token).await }
    };
    let (s, first) = join(devices[0].clone()).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, e) = join(borrower).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("queue_duplicate")),
        "{e}"
    );
    let (s, e) = join(devices[1].clone()).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("queue_other_device")),
        "{e}"
    );
    let (s, again) = join(devices[0].clone()).await;
    assert_eq!(
        (s, &again["place"]),
        (StatusCode::OK, &first["place"]),
        "a second tab"
    );
    let (s, other) = join(stranger).await;
    assert_eq!(s, StatusCode::OK, "{other}");
    assert_ne!(other["place"], first["place"]);
    let staff = session(&a.identity, "report-staff", &[Role::Administrator]).await;
    let (_, report) = call(
        &a.app,
        "GET",
        &format!("/api/v1/admin/releases/{release}/report"),
        Some(&staff),
        None,
    )
    .await;
    assert_eq!(
        (
            &report["joined"],
            &report["refused_duplicates"],
            &report["refused_other_device"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{report}"
    );
}

/// `token`'s account joins `release`'s line through `app`: the answer's status and body.
pub(crate) async fn join(app: &Router, release: u64, token: &str) -> (StatusCode, Value) {
    call(
        app,
        "POST",
        &format!("/api/v1/releases/{release}/join"),
        Some(token),
        None,
    )
    .await
}

/// Protects 2026-11-27 through `app` (its booking opens 09:00 on the 25th, the pre-queue at
/// 08:30) and moves the clock to 08:40 that day, in the pre-queue; the release's id.
pub(crate) async fn in_prequeue(a: &Api, app: &Router) -> u64 {
    let (s, r) = call(
        app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.admin),
        Some(json!({"product_id": a.product, "date": "2026-11-27", "prequeue_minutes": 30})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    a.clock
        .advance(SignedDuration::from_hours(47) + SignedDuration::from_mins(40));
    r["id"].as_u64().unwrap()
}
