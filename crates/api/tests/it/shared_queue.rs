//! One waiting room across nodes through a real Redis (GH_TEST_REDIS=1; the test starts its own
//! `redis-server`): a release protected on one node is known to the others; people join through
//! any node and get one line, in one order; a node that dies loses no place, and a node that
//! starts later replays the line; one node admits, and an admission from one node books on
//! another, once.

use super::releases::join;
use super::shared::{free_port, Redis};
use super::*;
use gatehouse_queue::WaitingRoomService;
use gatehouse_queue_redis::RedisLog;
use jiff::SignedDuration;
use std::time::Duration;

/// A node: the harness's booking service and database, with a waiting room of its own shared
/// through Redis.
async fn node(a: &Api, url: &str, prefix: &str) -> (Router, Arc<WaitingRoomService>) {
    let queue = Arc::new(
        WaitingRoomService::load(
            gatehouse_queue::WaitingRoom::new(
                gatehouse_queue::TokenKey::new([7; 32]),
                gatehouse_queue::RateSettings::default(),
            ),
            a.releases.clone(),
            a.clock.clone(),
            jiff::civil::date(2026, 1, 1),
        )
        .await
        .unwrap(),
    );
    let tz = a.state.service.museum_tz().clone();
    RedisLog::start(&queue, url, prefix, tz).await.unwrap();
    let mut state = a.state.clone();
    state.queue = queue.clone();
    (router(state), queue)
}

async fn me(app: &Router, release: u64, token: &str) -> Value {
    let (s, v) = call(
        app,
        "GET",
        &format!("/api/v1/releases/{release}/me"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_one_line_and_losing_one_loses_no_place() {
    if std::env::var("GH_TEST_REDIS").is_err() {
        eprintln!("skipped: set GH_TEST_REDIS=1 (needs redis-server)");
        return;
    }
    let a = api().await;
    let mut redis = Redis::start(free_port());
    redis.ready().await;
    let prefix = format!("q{}", std::process::id());
    let (one, q_one) = node(&a, &redis.url(), &prefix).await;
    let (two, q_two) = node(&a, &redis.url(), &prefix).await;

    let (s, slot) = call(
        &one,
        "POST",
        &format!("/api/v1/admin/products/{}/slots", a.product),
        Some(&a.admin),
        Some(json!({"date": "2026-11-27", "start": "09:00", "end": "10:30", "capacity": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    let slot = slot["id"].as_i64().unwrap();
    // Protected through node one; node two hears of it.
    let (s, r) = call(&one, "POST", "/api/v1/admin/releases", Some(&a.admin),
        Some(json!({"product_id": a.product, "date": "2026-11-27", "prequeue_minutes": 30, "window_minutes": 5}))).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let release = r["id"].as_u64().unwrap();
    let mut heard = false;
    for _ in 0..100 {
        if q_two.published_release(release).is_some() {
            heard = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(heard, "node two loads the release node one announced");

    // The pre-queue: twelve visitors join, half through each node.
    a.clock
        .advance(SignedDuration::from_hours(47) + SignedDuration::from_mins(40));
    let mut visitors = Vec::new();
    for i in 0..12 {
        visitors.push(session(&a.identity, &format!("shared-queue-{i}"), &[Role::Visitor]).await);
    }
    // All at once, so each node's writer sends several joins in one entry of the log.
    let mut joining = tokio::task::JoinSet::new();
    for (i, v) in visitors.iter().enumerate() {
        let app = if i % 2 == 0 { one.clone() } else { two.clone() };
        let v = v.clone();
        joining.spawn(async move { (i, join(&app, release, &v).await) });
    }
    let mut places = vec![0; visitors.len()];
    while let Some(joined) = joining.join_next().await {
        let (i, (s, p)) = joined.unwrap();
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(p["standing"], "waiting");
        places[i] = p["place"].as_u64().unwrap();
    }
    let mut sorted = places.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=12).collect::<Vec<_>>(),
        "one place each, one numbering"
    );
    // The same device through the other node: the same place, not a second one.
    let (_, again) = join(&two, release, &visitors[0]).await;
    assert_eq!(again["place"].as_u64(), Some(places[0]));

    // Node one dies. Its places are in the log: a node started now replays them.
    drop(one);
    drop(q_one);
    let (three, q_three) = node(&a, &redis.url(), &prefix).await;
    for (v, place) in visitors.iter().zip(&places) {
        assert_eq!(me(&three, release, v).await["place"].as_u64(), Some(*place));
    }

    // 09:00. One node admits (whichever holds the lease once node one's has lapsed); both
    // see the same line in the same order.
    a.clock.advance(SignedDuration::from_mins(20));
    let mut admitted = Vec::new();
    for _ in 0..100 {
        q_two.tick().await.unwrap();
        q_three.tick().await.unwrap();
        a.clock.advance(SignedDuration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(100)).await;
        admitted.clear();
        for v in &visitors {
            let (on_two, on_three) = (me(&two, release, v).await, me(&three, release, v).await);
            if on_two["standing"] == "admitted" && on_three["standing"] == "admitted" {
                admitted.push((
                    v.clone(),
                    on_two["admission_token"].as_str().unwrap().to_owned(),
                ));
            }
        }
        if admitted.len() >= 2 {
            break;
        }
    }
    assert!(admitted.len() >= 2, "the surviving nodes admit");
    let (mut a_two, mut a_three) = (Vec::new(), Vec::new());
    for v in &visitors {
        let (on_two, on_three) = (me(&two, release, v).await, me(&three, release, v).await);
        a_two.push((on_two["standing"].clone(), on_two["ahead"].clone()));
        a_three.push((on_three["standing"].clone(), on_three["ahead"].clone()));
    }
    assert_eq!(a_two, a_three, "one line, one order");

    // An admission shown by node two books on node three, once.
    let (visitor, token) = admitted[0].clone();
    let body = json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13812345678",
        "tickets": [{"ticket_type_id": a.ticket_type, "visitor": {"name": "张三", "id_type": "resident_id",
        "id_number": gatehouse_domain::identity::synthetic_resident_id(91)}}]})
    .to_string();
    let headers = [("x-gatehouse-admission", token.as_str())];
    // The visitor looks at the slot and fills the form in like a person (a script posting at
    // once without the page is what risk control challenges).
    call(
        &three,
        "GET",
        &format!("/api/v1/slots/{slot}"),
        Some(&visitor),
        None,
    )
    .await;
    a.clock.advance(SignedDuration::from_secs(20));
    let (s, order) = call_raw(
        &three,
        "POST",
        "/api/v1/orders",
        Some(&visitor),
        Some(&body),
        &headers,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    let mut refused = false;
    for _ in 0..50 {
        let (s, e) = call_raw(
            &two,
            "POST",
            "/api/v1/orders",
            Some(&visitor),
            Some(&body),
            &headers,
        )
        .await;
        if (s, e["code"].as_str()) == (StatusCode::FORBIDDEN, Some("admission_invalid")) {
            refused = true;
            break;
        }
        assert_ne!(
            s,
            StatusCode::CREATED,
            "booked twice with one admission: {e}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "used on node three, refused on node two");

    // Both nodes' fairness reports agree.
    let staff = session(&a.identity, "shared-queue-staff", &[Role::Administrator]).await;
    let report = |app: Router| {
        let admin = staff.clone();
        async move {
            let (s, r) = call(
                &app,
                "GET",
                &format!("/api/v1/admin/releases/{release}/report"),
                Some(&admin),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{r}");
            (
                r["joined"].clone(),
                r["admitted"].clone(),
                r["bought"].clone(),
            )
        }
    };
    let on_two = report(two.clone()).await;
    assert_eq!(on_two.0, json!(12));
    assert_eq!(on_two.2, json!(1));
    assert_eq!(on_two, report(three.clone()).await);

    // Redis dies: a join cannot reach the shared line, so it is refused (503, nothing joined);
    // the places already held still answer from each node's copy of the line.
    redis.kill();
    let late = session(&a.identity, "shared-queue-late", &[Role::Visitor]).await;
    let (s, e) = join(&two, release, &late).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "{e}"
    );
    assert_eq!(
        me(&two, release, &visitors[1]).await["place"].as_u64(),
        Some(places[1])
    );
}
