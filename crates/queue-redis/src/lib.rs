//! The waiting room shared by every node through Redis.
//!
//! Each protected release's line is one Redis stream, `{prefix}:q:log:{release}`: every change
//! (a join, an admission, a finished place, the sell-out) is appended there by whichever node it
//! happened on, and every node reads the stream from its start and applies it in the stream's
//! order ([`reader`]). A node sends its changes in batches, one entry carrying what queued
//! while its last write was under way ([`appender`]). Applying is deterministic, so all nodes hold the same line: one queue and
//! one order, whatever node a person polls. A node that dies loses nothing — the places are in
//! the stream — and a node that starts replays it. Joining waits until this node has applied
//! its own join, so the answer (the place, or why not) is the line's and not a guess.
//!
//! One node at a time admits: the holder of the lease `{prefix}:q:leader` ([`lease`]), taken and
//! renewed every half second, lost after two. Every node publishes its booking p99 there too,
//! and the leader admits at the slowest node's pace. Two leaders for a moment (a lease lost
//! while a tick was under way) admit a little faster for that moment; the log still gives every
//! node the same line.
//!
//! Redis keeps the only copy of the lines: run it with AOF (`appendonly yes`) so a Redis restart
//! keeps them too.

mod appender;
mod lease;
mod reader;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use gatehouse_queue::{Event, PlaceId, RoomError, SharedLog, WaitingRoomService};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{oneshot, Notify};

/// How long a call may wait on Redis.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// How long an append waits for this node to apply it.
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

type Outcome = Result<Option<PlaceId>, RoomError>;

/// A stream entry's id (`ms-seq`), in the stream's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryId(u64, u64);

impl EntryId {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        Some(Self(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// This node's end of the shared log.
pub struct RedisLog {
    connection: ConnectionManager,
    client: redis::Client,
    prefix: String,
    /// This node's name in the log (random per start).
    node: String,
    next_seq: AtomicU64,
    /// This node's appends, on their way to the log ([`appender`]).
    appends: tokio::sync::mpsc::UnboundedSender<appender::Pending>,
    /// Appends of this node waiting to be applied here, by their sequence number.
    waiters: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    /// How far this node has applied each release's log.
    applied: Mutex<HashMap<u64, EntryId>>,
    progress: Notify,
    leading: AtomicBool,
    cluster_p99_bits: AtomicU64,
    service: Weak<WaitingRoomService>,
    tz: jiff::tz::TimeZone,
}

impl RedisLog {
    /// Shares `service`'s lines with every node using the same Redis (`url`) and `prefix`:
    /// starts this node's reader and lease and hands the log to the service. `tz` is the
    /// museum's (announced releases are loaded from its today on).
    pub async fn start(
        service: &Arc<WaitingRoomService>,
        url: &str,
        prefix: &str,
        tz: jiff::tz::TimeZone,
    ) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis url: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| format!("redis: {e}"))?;
        let (appends, queued) = tokio::sync::mpsc::unbounded_channel();
        let mut name = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut name);
        let log = Arc::new(Self {
            connection,
            client,
            prefix: format!("{prefix}:q:"),
            node: data_encoding::HEXLOWER.encode(&name),
            next_seq: AtomicU64::new(1),
            appends,
            waiters: Mutex::new(HashMap::new()),
            applied: Mutex::new(HashMap::new()),
            progress: Notify::new(),
            leading: AtomicBool::new(false),
            cluster_p99_bits: AtomicU64::new(0),
            service: Arc::downgrade(service),
            tz,
        });
        service.share(log.clone())?;
        tokio::spawn(appender::run(Arc::downgrade(&log), queued));
        tokio::spawn(reader::run(Arc::downgrade(&log)));
        tokio::spawn(lease::run(Arc::downgrade(&log)));
        Ok(log)
    }

    /// This node's name in the log.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub(crate) fn log_key(&self, release: u64) -> String {
        format!("{}log:{release}", self.prefix)
    }

    pub(crate) fn announcements_key(&self) -> String {
        format!("{}releases", self.prefix)
    }

    fn applied_through(&self, release: u64) -> EntryId {
        self.applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&release)
            .copied()
            .unwrap_or_default()
    }

    /// The reader applied `release`'s log through `id`.
    pub(crate) fn mark_applied(&self, release: u64, id: EntryId) {
        self.applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(release, id);
    }

    /// Hands the outcome of this node's append `seq` to whoever waits for it.
    pub(crate) fn settle(&self, seq: u64, outcome: Outcome) {
        let waiter = self
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&seq);
        if let Some(tx) = waiter {
            let _ = tx.send(outcome);
        }
    }

    pub(crate) fn wake(&self) {
        self.progress.notify_waiters();
    }

    fn forget(&self, seq: u64) {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&seq);
    }
}

fn unavailable(e: impl std::fmt::Display) -> RoomError {
    RoomError::Unavailable(e.to_string())
}

#[async_trait::async_trait]
impl SharedLog for RedisLog {
    async fn append(&self, release: u64, event: Event) -> Outcome {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seq, tx);
        let queued = self.appends.send(appender::Pending {
            release,
            event,
            seq,
        });
        if queued.is_err() {
            self.forget(seq);
            return Err(unavailable("the waiting room's log writer has stopped"));
        }
        match tokio::time::timeout(APPLY_TIMEOUT, rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => {
                self.forget(seq);
                Err(unavailable(
                    "appended, but not yet applied here; ask again in a moment",
                ))
            }
        }
    }

    async fn catch_up(&self, release: u64) -> Result<(), RoomError> {
        let mut c = self.connection.clone();
        let last: redis::Value = redis::cmd("XREVRANGE")
            .arg(self.log_key(release))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        let Some(last) = reader::entries(&last).into_iter().next().map(|(id, _)| id) else {
            return Ok(());
        };
        let waited = tokio::time::timeout(APPLY_TIMEOUT, async {
            loop {
                let notified = self.progress.notified();
                if self.applied_through(release) >= last {
                    return;
                }
                notified.await;
            }
        })
        .await;
        waited.map_err(|_| unavailable("this node is behind the shared waiting room"))
    }

    async fn announce(&self, release: u64) -> Result<(), RoomError> {
        let mut c = self.connection.clone();
        redis::cmd("XADD")
            .arg(self.announcements_key())
            .arg("MAXLEN")
            .arg("~")
            .arg(1_000)
            .arg("*")
            .arg("r")
            .arg(release)
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    fn leads(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    fn cluster_p99_ms(&self, mine: f64) -> f64 {
        f64::from_bits(self.cluster_p99_bits.load(Ordering::Relaxed)).max(mine)
    }
}

#[cfg(test)]
mod tests {
    use super::EntryId;

    #[test]
    fn entry_ids_order_as_the_stream_does() {
        let a = EntryId::parse("1700000000000-9").unwrap();
        let b = EntryId::parse("1700000000000-10").unwrap();
        let c = EntryId::parse("1700000000001-0").unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-10");
        for bad in ["", "12", "a-1", "1-", "-1", "1-2-3"] {
            assert_eq!(EntryId::parse(bad), None, "{bad}");
        }
    }
}
