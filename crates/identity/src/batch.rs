//! Reads from the store in batches. At 09:00 thousands of requests miss the same way in the
//! same second (a session not cached yet, a joining account's person keys); one statement for
//! a few hundred keys costs about what one for a single key does. A task takes whatever has
//! queued while the previous read ran (up to `MAX_BATCH`), reads it at once and answers each
//! waiter.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

use gatehouse_domain::store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// The most keys one read asks for.
pub(crate) const MAX_BATCH: usize = 256;

type Answer<V> = Result<Option<V>, StoreError>;

/// A handle on a batching read task.
pub(crate) struct BatchReader<K, V> {
    tx: mpsc::Sender<(K, oneshot::Sender<Answer<V>>)>,
    what: &'static str,
}

impl<K, V> Clone for BatchReader<K, V> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            what: self.what,
        }
    }
}

impl<K, V> BatchReader<K, V>
where
    K: Copy + Ord + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Starts the task on the current runtime. `read` gets distinct keys, sorted, and gives
    /// what it found by key. Before a read the task yields `gather` times, letting requests
    /// already running reach the queue, so that one read serves more of them (each waits a few
    /// µs more); with 0 it reads what has queued.
    pub(crate) fn start<F, Fut>(what: &'static str, gather: usize, read: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<HashMap<K, V>, StoreError>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(K, oneshot::Sender<Answer<V>>)>(MAX_BATCH * 16);
        tokio::spawn(async move {
            let mut waiting = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                waiting.push(first);
                for round in 0..=gather {
                    while waiting.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(w) => waiting.push(w),
                            Err(_) => break,
                        }
                    }
                    if round == gather || waiting.len() >= MAX_BATCH {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                let mut keys: Vec<K> = waiting.iter().map(|(k, _)| *k).collect();
                keys.sort_unstable();
                keys.dedup();
                match read(keys).await {
                    Ok(found) => {
                        for (key, done) in waiting.drain(..) {
                            let _ = done.send(Ok(found.get(&key).cloned()));
                        }
                    }
                    Err(e) => {
                        for (_, done) in waiting.drain(..) {
                            let _ = done.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { tx, what }
    }

    /// What the store has for `key` (none: nothing).
    pub(crate) async fn get(&self, key: K) -> Answer<V> {
        let stopped = || StoreError::Backend(format!("the {} reader stopped", self.what));
        let (done, answer) = oneshot::channel();
        self.tx.send((key, done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn waiters_that_queue_together_share_one_read_and_each_gets_its_own_answer() {
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = reads.clone();
        let reader = BatchReader::start("test", 3, move |keys: Vec<u32>| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move {
                assert!(keys.windows(2).all(|w| w[0] < w[1]), "distinct and sorted");
                Ok(keys
                    .into_iter()
                    .filter(|k| k % 2 == 0)
                    .map(|k| (k, k * 10))
                    .collect())
            }
        });
        let asks: Vec<_> = (0..100u32)
            .map(|k| {
                let r = reader.clone();
                tokio::spawn(async move { (k, r.get(k % 50).await.unwrap()) })
            })
            .collect();
        for a in asks {
            let (k, got) = a.await.unwrap();
            let k = k % 50;
            assert_eq!(got, (k % 2 == 0).then_some(k * 10));
        }
        assert!(reads.load(Ordering::Relaxed) < 100, "reads were shared");
        let failing = BatchReader::<u32, u32>::start("failing", 0, |_| async {
            Err(StoreError::Backend("down".into()))
        });
        assert!(failing.get(1).await.is_err());
    }
}
