//! What makes an account's holder one person in a waiting room's line, read in batches: at
//! 09:00 thousands join in the same second, and each join needs the blind indexes of the
//! account's phone and of the ID numbers it books for. Whatever queued while the previous read
//! ran goes into the next one (one statement for up to 256 accounts), as session lookups do.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_domain::account::AccountStore;
use gatehouse_domain::order::AccountId;
use gatehouse_domain::store::StoreError;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 256;

type Keys = Result<Vec<[u8; 32]>, StoreError>;
type Waiter = (AccountId, oneshot::Sender<Keys>);

#[derive(Clone)]
pub(crate) struct PersonKeyReader {
    tx: mpsc::Sender<Waiter>,
}

impl PersonKeyReader {
    /// Starts the reading task on the current runtime.
    pub(crate) fn start(store: Arc<dyn AccountStore>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Waiter>(MAX_BATCH * 16);
        tokio::spawn(async move {
            let mut waiting: Vec<Waiter> = Vec::with_capacity(MAX_BATCH);
            while let Some(first) = rx.recv().await {
                waiting.push(first);
                // Joins arrive one request at a time: letting the requests already running
                // reach the queue first makes one read serve many (a join waits a few µs more).
                for _ in 0..3 {
                    while waiting.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(w) => waiting.push(w),
                            Err(_) => break,
                        }
                    }
                    if waiting.len() >= MAX_BATCH {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                let mut accounts: Vec<AccountId> = waiting.iter().map(|(a, _)| *a).collect();
                accounts.sort_unstable_by_key(|a| a.0);
                accounts.dedup();
                match store.person_keys(&accounts).await {
                    Ok(rows) => {
                        let mut by_account: HashMap<i64, Vec<[u8; 32]>> = HashMap::new();
                        for (account, index) in rows {
                            by_account.entry(account.0).or_default().push(index.0);
                        }
                        for (account, done) in waiting.drain(..) {
                            let keys = by_account.get(&account.0).cloned().unwrap_or_default();
                            let _ = done.send(Ok(keys));
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
        Self { tx }
    }

    pub(crate) async fn read(&self, account: AccountId) -> Keys {
        let stopped = || StoreError::Backend("the person-key reader stopped".into());
        let (done, answer) = oneshot::channel();
        self.tx.send((account, done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
