//! The waiting room's rules at the scale of a real 09:00: 100,000 people arrive over the ten
//! minutes before the opening (and some after), with duplicates and extra tabs; the line opens,
//! admits at a rate, windows lapse. Being admitted early must not depend on when someone joined
//! before 09:00 (two-sample Kolmogorov–Smirnov, α = 0.001), nobody holds two places, and the
//! order re-runs from the published seed — in Rust, and (GH_TEST_PEERS=1) in Python over
//! OpenSSL's ChaCha20.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use gatehouse_queue::{shuffle, JoinRefused, Line, Person, PlaceId, Seed, Standing};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};

fn nine() -> Timestamp {
    // 2026-12-01 09:00 in Beijing.
    "2026-12-01T01:00:00Z".parse().unwrap()
}

fn person(account: i64, session: u8, phone: u64) -> Person {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&phone.to_le_bytes());
    Person {
        account,
        session: [session; 32],
        keys: vec![key],
    }
}

/// The two-sample Kolmogorov–Smirnov statistic of `a` and `b`.
fn ks(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// The KS critical value at α = 0.001 for samples of `n` and `m`.
fn critical(n: usize, m: usize) -> f64 {
    1.949 * (((n + m) as f64) / ((n * m) as f64)).sqrt()
}

#[test]
fn a_release_of_100000_arrivals_is_a_fair_lottery_with_one_place_each() {
    let seed = Seed([42; 32]);
    let commitment = seed.commitment();
    let opens = nine();
    let mut line = Line::new(opens - SignedDuration::from_mins(30), opens, seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut joined: Vec<(PlaceId, Timestamp)> = Vec::new();
    let (mut duplicates, mut tabs) = (0, 0);
    for account in 0..100_000i64 {
        let at = opens - SignedDuration::from_millis(rng.gen_range(1..=600_000));
        let id = line.join(person(account, 1, account as u64), at).unwrap();
        joined.push((id, at));
        // One in twenty opens a second tab: the same place.
        if account % 20 == 0 {
            assert_eq!(line.join(person(account, 1, account as u64), at), Ok(id));
            tabs += 1;
        }
        // One in fifty tries again from another device: refused.
        if account % 50 == 0 {
            assert_eq!(
                line.join(person(account, 2, account as u64), at),
                Err(JoinRefused::OtherSession)
            );
        }
        // One in ten is a scalper's second account with a borrowed phone: refused.
        if account % 10 == 0 {
            assert_eq!(
                line.join(person(1_000_000 + account, 1, account as u64), at),
                Err(JoinRefused::Duplicate)
            );
            duplicates += 1;
        }
    }
    // Late arrivals after the opening queue behind everyone in arrival order.
    let late: Vec<PlaceId> = (0..1_000i64)
        .map(|k| {
            line.join(
                person(200_000 + k, 1, 200_000 + k as u64),
                opens + SignedDuration::from_millis(k + 1),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(line.len(), 101_000);
    assert!(tabs > 0);
    let tally = line.tally();
    assert_eq!(
        (tally.joined, tally.prequeued, tally.refused_duplicate),
        (101_000, 100_000, duplicates)
    );

    // Admission: 500 a second for ten minutes; windows of five minutes, half of them used.
    let window = SignedDuration::from_mins(5);
    let mut rank = std::collections::HashMap::new();
    let mut now = opens;
    while rank.len() < 101_000 {
        for id in line.admit(500, now, window) {
            let n = rank.len();
            rank.insert(id, n);
            if id.0 % 2 == 0 {
                line.finish(id, true);
            }
        }
        now += SignedDuration::from_secs(1);
    }
    assert!(line.in_flight(now + window) == 0, "every window ends");
    // Windows close in the line's state when the next admission is applied.
    assert!(line.admit(1, now + window, window).is_empty());
    let tally = line.tally();
    assert_eq!(tally.admitted, 101_000);
    assert_eq!(tally.bought + tally.abandoned, 101_000);

    // Fairness: admission ranks of the earliest and the latest fifth of pre-queue joiners
    // come from the same distribution.
    let mut by_time = joined.clone();
    by_time.sort_by_key(|(_, at)| *at);
    let fifth = by_time.len() / 5;
    let ranks = |part: &[(PlaceId, Timestamp)]| -> Vec<f64> {
        part.iter().map(|(id, _)| rank[id] as f64).collect()
    };
    let early = ranks(&by_time[..fifth]);
    let latest = ranks(&by_time[by_time.len() - fifth..]);
    let d = ks(early.clone(), latest.clone());
    assert!(
        d < critical(early.len(), latest.len()),
        "KS D = {d}: admission depends on join time"
    );
    // The test has the power to see a line in arrival order: there D is 1.
    let arrival: Vec<f64> = (0..fifth).map(|i| i as f64).collect();
    let later: Vec<f64> = (by_time.len() - fifth..by_time.len())
        .map(|i| i as f64)
        .collect();
    assert!(ks(arrival, later) > critical(fifth, fifth));
    // Late arrivals come after every pre-queued place, in arrival order.
    let late_ranks: Vec<usize> = late.iter().map(|id| rank[id]).collect();
    assert_eq!(late_ranks, (100_000..101_000).collect::<Vec<_>>());

    // The staff's fairness report says the same: ten spans of the pre-queue and the later
    // joiners, every place admitted, and a KS statistic under its critical value.
    let report = line.report(10);
    assert_eq!(report.buckets.len(), 11);
    assert_eq!(
        report.buckets.iter().map(|b| b.joined).sum::<u64>(),
        101_000
    );
    assert_eq!(report.buckets[10].joined, 1_000);
    assert_eq!(
        report.buckets.iter().map(|b| b.bought).sum::<u64>(),
        tally.bought
    );
    let (report_d, critical) = (report.ks_d.unwrap(), report.ks_critical_001.unwrap());
    assert!(report_d < critical, "report KS {report_d} ≥ {critical}");
    // Each pre-queue span's mean place is near the middle of the pre-queue (49,999.5).
    for b in &report.buckets[..10] {
        let mean = b.mean_rank.unwrap();
        assert!((mean - 49_999.5).abs() < 1_500.0, "{b:?}");
    }
    assert!(
        (report.buckets[10].mean_rank.unwrap() - 100_499.5).abs() < 1.0,
        "later joiners last, in order"
    );

    // Anyone re-runs the order from the published seed and the pre-queue in join order.
    assert!(gatehouse_queue::keeps_promise(&seed, &commitment));
    let mut rerun = line.prequeue_in_join_order();
    shuffle(&mut rerun, &Seed::from_hex(&seed.to_hex()).unwrap());
    assert_eq!(rerun, line.order()[..100_000]);
}

#[test]
fn the_line_tells_each_place_where_it_stands() {
    let opens = nine();
    let mut line = Line::new(opens - SignedDuration::from_mins(30), opens, Seed([1; 32]));
    assert_eq!(
        line.join(person(1, 1, 1), opens - SignedDuration::from_mins(31)),
        Err(JoinRefused::NotOpen(opens - SignedDuration::from_mins(30)))
    );
    let a = line
        .join(person(1, 1, 1), opens - SignedDuration::from_mins(5))
        .unwrap();
    let b = line
        .join(person(2, 1, 2), opens - SignedDuration::from_mins(4))
        .unwrap();
    assert_eq!(
        line.standing(a, opens - SignedDuration::from_mins(1)),
        Some(Standing::Waiting)
    );
    let c = line
        .join(person(3, 1, 3), opens + SignedDuration::from_secs(1))
        .unwrap();
    assert_eq!(
        line.standing(c, opens + SignedDuration::from_secs(1)),
        Some(Standing::InLine { ahead: 2 })
    );
    let first = line.admit(
        1,
        opens + SignedDuration::from_secs(2),
        SignedDuration::from_mins(5),
    );
    assert_eq!(first.len(), 1);
    let until = opens + SignedDuration::from_secs(2) + SignedDuration::from_mins(5);
    assert_eq!(
        line.standing(first[0], opens + SignedDuration::from_secs(3)),
        Some(Standing::Admitted { until })
    );
    assert!(line.admits(
        first[0],
        if first[0] == a { 1 } else { 2 },
        &[1; 32],
        opens + SignedDuration::from_secs(3)
    ));
    assert!(
        !line.admits(
            first[0],
            if first[0] == a { 1 } else { 2 },
            &[9; 32],
            opens + SignedDuration::from_secs(3)
        ),
        "another session"
    );
    assert_eq!(
        line.standing(c, opens + SignedDuration::from_secs(3)),
        Some(Standing::InLine { ahead: 1 })
    );
    // The window lapses unused: the place is done and its capacity back in the flow.
    assert_eq!(line.in_flight(until), 0);
    assert_eq!(line.standing(first[0], until), Some(Standing::Done));
    assert_eq!(
        line.tally().abandoned,
        0,
        "counted when the next admission is applied"
    );
    assert!(line
        .admit(0, until, SignedDuration::from_mins(5))
        .is_empty());
    assert_eq!(line.tally().abandoned, 1);
    // Sold out: everyone still waiting is told, and nobody new joins.
    line.sell_out();
    assert_eq!(line.standing(c, until), Some(Standing::SoldOut));
    assert_eq!(line.join(person(4, 1, 4), until), Err(JoinRefused::SoldOut));
    assert!(line
        .admit(10, until, SignedDuration::from_mins(5))
        .is_empty());
    let _ = b;
}

#[test]
fn an_outsider_reruns_the_shuffle_from_the_seed() {
    if std::env::var("GH_TEST_PEERS").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set GH_TEST_PEERS=1 (needs python3 with cryptography), as .ci/run does"
        );
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer_shuffle.py");
    for n in [1usize, 2, 10, 5_000] {
        let seed = Seed::random();
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(seed.to_hex())
            .arg(n.to_string())
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<u32> = serde_json_lite(&String::from_utf8_lossy(&out.stdout));
        let mut ours: Vec<u32> = (0..n as u32).collect();
        shuffle(&mut ours, &seed);
        assert_eq!(ours, theirs, "seed {}", seed.to_hex());
    }
}

/// The peer prints a JSON array of numbers.
fn serde_json_lite(text: &str) -> Vec<u32> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect()
}
