//! The decision log: every decision is stored before its answer leaves. Callers hand their
//! decision to one writer task and wait; the writer takes whatever has queued meanwhile and
//! stores it in one transaction (group commit), so a rush of assessments costs a few
//! transactions a second, not one each.

use std::sync::Arc;

use gatehouse_domain::risk::{NewRiskDecision, RiskStore};
use gatehouse_domain::store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Decisions stored in one transaction at most.
const BATCH: usize = 2_048;
/// Decisions waiting for the writer at most; callers beyond wait for room.
const QUEUED: usize = 65_536;

type Job = (NewRiskDecision, oneshot::Sender<Result<(), StoreError>>);

/// The handle callers record through.
#[derive(Clone)]
pub(crate) struct DecisionLog {
    jobs: mpsc::Sender<Job>,
}

impl DecisionLog {
    /// Starts the writer task on the running runtime.
    pub(crate) fn start(store: Arc<dyn RiskStore>) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUED);
        tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
            while queue.recv_many(&mut batch, BATCH).await > 0 {
                // The decisions move into the write; only their answers' senders stay.
                let (decisions, waiting): (Vec<NewRiskDecision>, Vec<_>) = batch.drain(..).unzip();
                let stored = store.record_decisions(&decisions).await;
                if let Err(e) = &stored {
                    tracing::error!(error = %e, decisions = decisions.len(), "risk decisions could not be stored");
                }
                for done in waiting {
                    let _ = done.send(stored.clone());
                }
            }
        });
        Self { jobs }
    }

    /// Stores `decision`; returns once it is durable.
    pub(crate) async fn record(&self, decision: NewRiskDecision) -> Result<(), StoreError> {
        let (done, stored) = oneshot::channel();
        self.jobs
            .send((decision, done))
            .await
            .map_err(|_| StoreError::Backend("the decision log has stopped".into()))?;
        stored
            .await
            .map_err(|_| StoreError::Backend("the decision log has stopped".into()))?
    }
}
