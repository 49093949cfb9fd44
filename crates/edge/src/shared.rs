//! Limits shared across nodes through Redis. Each request's limits are counted in one Lua script
//! (GCRA, on Redis's clock so every node agrees): either all of them count it, or the first
//! one over refuses it and none does. If Redis does not answer within `REDIS_TIMEOUT`, the node
//! counts its limits itself — stricter for a client spread over nodes, never "allow all" — and
//! says so loudly (an error log and a security event), then goes back to Redis once it answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_shield::SharedCheck;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::Edge;

/// How long a limit check may wait on Redis before the node counts it itself.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// How often an unreachable Redis is tried again.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// GCRA over every key of a request. KEYS: the limits' keys. ARGV: interval and tolerance (µs)
/// per key. Returns -1 when all allow it (and counts it in each), else the index (1-based) of
/// the first limit over and how long until it would allow.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local allow_at = tat - tolerance
  if now < allow_at then
    return {i, allow_at - now}
  end
  tats[i] = tat + interval
end
for i, key in ipairs(KEYS) do
  local ttl_ms = math.floor((tats[i] - now) / 1000) + 1
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', ttl_ms)
end
return {-1, 0}
";

/// The shared store and whether it is answering.
pub struct SharedLimits {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
    up: AtomicBool,
}

/// What the shared store said of a request.
pub(crate) enum SharedVerdict {
    Allowed,
    Over {
        limit: Arc<str>,
        retry_after_us: u64,
    },
}

impl Edge {
    /// Shares the per-client limits with every node using the same Redis (`url`) and `prefix`.
    /// If Redis cannot be reached now, the node starts with its own limits and keeps trying.
    pub async fn share_limits(self: &Arc<Self>, url: &str, prefix: &str) -> Result<(), String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis url: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("redis: {e}"))?;
        let shared = Arc::new(SharedLimits {
            connection,
            script: redis::Script::new(SCRIPT),
            prefix: format!("{prefix}:rl:"),
            up: AtomicBool::new(true),
        });
        if self.shared.set(shared).is_err() {
            return Err("limits are already shared".into());
        }
        self.shield.set_shared(true);
        if !self.probe_shared().await {
            tracing::error!(
                "Redis is not answering: each node counts its own limits until it does"
            );
        }
        let edge = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if !edge.shield.shared() {
                    edge.probe_shared().await;
                }
            }
        });
        Ok(())
    }

    /// Asks Redis whether it answers; goes back to shared limits if so. Says whether it did.
    pub async fn probe_shared(&self) -> bool {
        let Some(shared) = self.shared.get() else {
            return false;
        };
        let mut conn = shared.connection.clone();
        let answered = tokio::time::timeout(
            REDIS_TIMEOUT * 5,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        if answered {
            if !shared.up.swap(true, Ordering::Relaxed) {
                tracing::warn!("Redis answers again: limits are shared across nodes again");
                self.security_event(
                    "shared_limits_restored",
                    "Redis answers again; limits are shared across nodes".into(),
                )
                .await;
            }
            self.shield.set_shared(true);
        } else {
            self.degrade("Redis did not answer a probe").await;
        }
        answered
    }

    async fn degrade(&self, why: &str) {
        self.shield.set_shared(false);
        let Some(shared) = self.shared.get() else {
            return;
        };
        if shared.up.swap(false, Ordering::Relaxed) {
            tracing::error!(
                why,
                "shared limits unavailable: this node counts its own limits"
            );
            self.security_event(
                "shared_limits_degraded",
                format!("{why}; each node counts its own limits until Redis answers"),
            )
            .await;
        }
    }

    /// Counts a request's limits in Redis, or here when Redis does not answer.
    pub(crate) async fn check_shared(&self, checks: &[SharedCheck]) -> SharedVerdict {
        if let Some(shared) = self.shared.get() {
            let mut invocation = shared.script.prepare_invoke();
            for c in checks {
                invocation
                    .key(format!("{}{}", shared.prefix, c.key))
                    .arg(c.gcra.interval_us())
                    .arg(c.gcra.tolerance_us());
            }
            let mut conn = shared.connection.clone();
            let answer = tokio::time::timeout(
                REDIS_TIMEOUT,
                invocation.invoke_async::<(i64, i64)>(&mut conn),
            )
            .await;
            match answer {
                Ok(Ok((-1, _))) => return SharedVerdict::Allowed,
                Ok(Ok((index, wait))) => {
                    let limit = usize::try_from(index - 1)
                        .ok()
                        .and_then(|i| checks.get(i))
                        .map_or_else(|| Arc::from("shared limit"), |c| c.limit.clone());
                    return SharedVerdict::Over {
                        limit,
                        retry_after_us: u64::try_from(wait).unwrap_or(0),
                    };
                }
                Ok(Err(e)) => self.degrade(&format!("Redis failed: {e}")).await,
                Err(_) => self.degrade("Redis did not answer in time").await,
            }
        }
        match self.shield.check_here(checks, self.now_us()) {
            Ok(()) => SharedVerdict::Allowed,
            Err((limit, over)) => SharedVerdict::Over {
                limit,
                retry_after_us: over.retry_after_us,
            },
        }
    }
}
