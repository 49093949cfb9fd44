//! Batched reads of data keys. After a restart, the first request of each person misses the
//! cache; at 09:00 that is thousands of people in the same second, and a query each would queue
//! on the database's few connections behind the bookings. One task gathers whatever lookups are
//! waiting and answers them all with one query.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_domain::data_key::{DataKeyStore, WrappedDataKey};
use gatehouse_domain::store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Lookups one query answers at most.
const BATCH: usize = 512;

type Answer = oneshot::Sender<Result<Option<WrappedDataKey>, StoreError>>;

#[derive(Clone)]
pub(crate) struct KeyReader {
    queue: mpsc::Sender<(String, Answer)>,
}

impl KeyReader {
    /// Starts the reader task (call inside a tokio runtime).
    pub(crate) fn start(store: Arc<dyn DataKeyStore>) -> Self {
        let (queue, mut rx) = mpsc::channel::<(String, Answer)>(BATCH * 8);
        tokio::spawn(async move {
            let mut waiting = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut waiting, BATCH).await > 0 {
                let mut subjects: Vec<String> = waiting.iter().map(|(s, _)| s.clone()).collect();
                subjects.sort_unstable();
                subjects.dedup();
                match store.data_keys_of(&subjects).await {
                    Ok(found) => {
                        let found: HashMap<&str, &WrappedDataKey> =
                            found.iter().map(|k| (k.subject.as_str(), k)).collect();
                        for (subject, answer) in waiting.drain(..) {
                            let _ =
                                answer.send(Ok(found.get(subject.as_str()).map(|k| (*k).clone())));
                        }
                    }
                    Err(e) => {
                        for (_, answer) in waiting.drain(..) {
                            let _ = answer.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    pub(crate) async fn read(&self, subject: String) -> Result<Option<WrappedDataKey>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((subject, tx))
            .await
            .map_err(|_| StoreError::Backend("the data-key reader stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the data-key reader stopped".into()))?
    }
}
