//! Which node admits: the lease `{prefix}:q:leader`, taken or renewed every half second and
//! lost two seconds after its holder stops renewing it. The same round publishes this node's
//! booking p99 (`{prefix}:q:p99`, one field per node) and reads the slowest fresh one, so the
//! leader admits at the pace of the slowest node.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use crate::RedisLog;

const RENEW_EVERY: Duration = Duration::from_millis(500);
const LEASE_MS: u64 = 2_000;
/// A node's p99 counts for this long after it was published; older ones are removed.
const P99_FRESH_MS: i64 = 5_000;

/// Takes the lease if it is free, renews it if this node holds it. KEYS: the lease. ARGV: this
/// node, the lease's length (ms). Returns 1 while this node holds it.
const LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

pub(crate) async fn run(log: Weak<RedisLog>) {
    let script = redis::Script::new(LEASE);
    let mut every = tokio::time::interval(RENEW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(log) = log.upgrade() else { return };
        let Some(service) = log.service.upgrade() else {
            return;
        };
        let mut c = log.connection.clone();
        let lease = format!("{}leader", log.prefix);
        let held: Result<i64, _> = script
            .key(&lease)
            .arg(&log.node)
            .arg(LEASE_MS)
            .invoke_async(&mut c)
            .await;
        let leads = matches!(held, Ok(1));
        if log.leading.swap(leads, Ordering::AcqRel) != leads {
            tracing::info!(node = %log.node, leads, "waiting room: this node's admitting changed");
        }
        if let Err(e) = held {
            tracing::error!(error = %e, "waiting room: cannot reach Redis for the lease");
            continue;
        }
        let now = service.now().as_millisecond();
        let p99s = format!("{}p99", log.prefix);
        let mine = service.booking_p99_ms();
        let published: Result<Vec<(String, String)>, _> = redis::pipe()
            .cmd("HSET")
            .arg(&p99s)
            .arg(&log.node)
            .arg(format!("{mine}|{now}"))
            .ignore()
            .cmd("HGETALL")
            .arg(&p99s)
            .query_async::<(Vec<(String, String)>,)>(&mut c)
            .await
            .map(|(all,)| all);
        let Ok(all) = published else { continue };
        let (mut slowest, mut stale) = (0f64, Vec::new());
        for (node, value) in all {
            let parsed = value
                .split_once('|')
                .and_then(|(p, at)| Some((p.parse::<f64>().ok()?, at.parse::<i64>().ok()?)));
            match parsed {
                Some((p99, at)) if now - at <= P99_FRESH_MS => slowest = slowest.max(p99),
                _ => stale.push(node),
            }
        }
        log.cluster_p99_bits
            .store(slowest.to_bits(), Ordering::Relaxed);
        if !stale.is_empty() {
            let _ = redis::cmd("HDEL")
                .arg(&p99s)
                .arg(stale)
                .query_async::<()>(&mut c)
                .await;
        }
    }
}
