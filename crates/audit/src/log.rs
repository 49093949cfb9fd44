//! The appender: callers hand it entries and wait until they are durable; one writer task
//! gathers whatever is waiting into one batch, chains it onto the head and writes it in one
//! transaction (so thousands of records cost one commit), then answers every caller. When
//! another node appended first (the batch's first place is taken) it reloads the head and
//! chains again. After enough records, or enough time, it signs a checkpoint of the batch's last
//! record and writes it in the batch's transaction.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_domain::audit::{AuditEntry, AuditStore, Checkpoint};
use gatehouse_domain::clock::Clock;
use gatehouse_domain::store::StoreError;
use tokio::sync::{mpsc, oneshot};

use crate::chain;
use crate::signer::CheckpointSigner;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log could not be written: {0}")]
    Store(String),
    #[error("the audit log has stopped")]
    Stopped,
}

/// How the appender batches and checkpoints.
#[derive(Debug, Clone, Copy)]
pub struct AppendSettings {
    /// The most records one transaction writes.
    pub max_batch: usize,
    /// A checkpoint after this many records…
    pub checkpoint_every: u64,
    /// …or this long after the last one, whichever comes first.
    pub checkpoint_interval: Duration,
}

impl Default for AppendSettings {
    fn default() -> Self {
        Self {
            max_batch: 4096,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

struct Pending {
    entry: AuditEntry,
    done: oneshot::Sender<Result<u64, AuditError>>,
}

/// The handle callers record through; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Pending>,
    store: Arc<dyn AuditStore>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog(..)")
    }
}

/// How many entries may wait for the writer before `record` waits for room.
const QUEUE: usize = 65_536;
/// How often a batch is retried after another node took its place.
const CONFLICT_RETRIES: usize = 8;

impl AuditLog {
    /// Starts the writer task (on the current tokio runtime).
    pub fn start(
        store: Arc<dyn AuditStore>,
        signer: Arc<CheckpointSigner>,
        clock: Arc<dyn Clock>,
        settings: AppendSettings,
    ) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            store: store.clone(),
            signer,
            clock,
            settings,
            head: None,
            since_checkpoint: 0,
            last_checkpoint: None,
        };
        tokio::spawn(writer.run(rx));
        Self { queue, store }
    }

    /// Appends `entry`; its place in the log once it is durable.
    pub async fn record(&self, entry: AuditEntry) -> Result<u64, AuditError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { entry, done })
            .await
            .map_err(|_| AuditError::Stopped)?;
        answer.await.map_err(|_| AuditError::Stopped)?
    }

    /// Appends `entries` in their order; their places once all are durable.
    pub async fn record_many(&self, entries: Vec<AuditEntry>) -> Result<Vec<u64>, AuditError> {
        let mut answers = Vec::with_capacity(entries.len());
        for entry in entries {
            let (done, answer) = oneshot::channel();
            self.queue
                .send(Pending { entry, done })
                .await
                .map_err(|_| AuditError::Stopped)?;
            answers.push(answer);
        }
        let mut places = Vec::with_capacity(answers.len());
        for answer in answers {
            places.push(answer.await.map_err(|_| AuditError::Stopped)??);
        }
        Ok(places)
    }

    /// The store the log is kept in (for searching it).
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }
}

struct Writer {
    store: Arc<dyn AuditStore>,
    signer: Arc<CheckpointSigner>,
    clock: Arc<dyn Clock>,
    settings: AppendSettings,
    /// The chain's head as this node last wrote or read it; none until read.
    head: Option<Option<(u64, [u8; 32])>>,
    since_checkpoint: u64,
    last_checkpoint: Option<jiff::Timestamp>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut batch = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < self.settings.max_batch {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let result = self.append(&batch).await;
            for (i, p) in batch.drain(..).enumerate() {
                let answer = result
                    .as_ref()
                    .map(|first_seq| first_seq + i as u64)
                    .map_err(Clone::clone);
                let _ = p.done.send(answer);
            }
        }
    }

    /// Writes the batch; the place of its first record.
    async fn append(&mut self, batch: &[Pending]) -> Result<u64, AuditError> {
        let store_error = |e: StoreError| AuditError::Store(e.to_string());
        for _ in 0..CONFLICT_RETRIES {
            let head = match self.head {
                Some(head) => head,
                None => self.store.audit_head().await.map_err(store_error)?,
            };
            let records = chain::extend(head, batch.iter().map(|p| p.entry.clone()).collect());
            let (Some(first), Some(last)) = (records.first(), records.last()) else {
                return Ok(head.map_or(1, |(seq, _)| seq + 1));
            };
            let (first_seq, new_head) = (first.seq, (last.seq, last.hash));
            let checkpoint = self.checkpoint_due(records.len() as u64, new_head);
            match self.store.append_audit(&records, checkpoint.as_ref()).await {
                Ok(()) => {
                    self.head = Some(Some(new_head));
                    match checkpoint {
                        Some(c) => {
                            self.since_checkpoint = 0;
                            self.last_checkpoint = Some(c.at);
                        }
                        None => self.since_checkpoint += records.len() as u64,
                    }
                    return Ok(first_seq);
                }
                // Another node wrote first: read the head again and chain onto it.
                Err(StoreError::Conflict(_)) => self.head = None,
                Err(e) => {
                    self.head = None;
                    return Err(store_error(e));
                }
            }
        }
        Err(AuditError::Store(
            "the log's head kept moving (too many writers at once)".into(),
        ))
    }

    /// The signed checkpoint of the batch's last record when one is due after it: enough
    /// records since the last one, or enough time.
    fn checkpoint_due(&self, records: u64, (seq, hash): (u64, [u8; 32])) -> Option<Checkpoint> {
        let now = self.clock.now();
        let due_by_time = self.last_checkpoint.is_none_or(|at| {
            now.duration_since(at).as_secs()
                >= i64::try_from(self.settings.checkpoint_interval.as_secs()).unwrap_or(i64::MAX)
        });
        let due_by_count = self.since_checkpoint + records >= self.settings.checkpoint_every;
        (due_by_count || due_by_time).then(|| self.signer.sign(seq, hash, now))
    }
}
