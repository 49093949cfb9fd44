//! Online check-in: a gate sends the code it scanned; the code's signature and window are
//! checked here, and the ticket's state and first use are decided and recorded in the same
//! transaction by the gate store, through a group commit (one transaction carries every scan
//! that queued while the last one committed). A scan is answered only after its entry is
//! durable.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_booking::BatchSink;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::check_in::{Entry, ScanRefused};
use gatehouse_domain::gate::{CheckInAttempt, GateDevice, GateStore};
use gatehouse_domain::order::TicketId;
use gatehouse_domain::store::StoreError;

use crate::{GateError, GateService};

/// A ticket let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    pub ticket: TicketId,
    pub slot: SlotId,
    pub entry: Entry,
}

pub(crate) struct CheckInSink(pub Arc<dyn GateStore>);

#[async_trait]
impl BatchSink for CheckInSink {
    type Job = CheckInAttempt;
    type Answer = Result<Result<Entry, ScanRefused>, StoreError>;

    async fn commit(&self, attempts: Vec<CheckInAttempt>) -> Vec<Self::Answer> {
        match self.0.check_in(&attempts).await {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(e) => attempts.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn stopped() -> Self::Answer {
        Err(StoreError::Backend("check-in committer stopped".into()))
    }
}

impl GateService {
    /// Checks a scanned code in at `device`, now.
    pub async fn scan(&self, device: &GateDevice, code: &str) -> Result<CheckedIn, GateError> {
        let claims = self.verifier.verify(code)?;
        let attempt = CheckInAttempt {
            ticket: claims.ticket_id.clone(),
            valid_from: claims.valid_from,
            valid_until: claims.valid_until,
            at: self.clock.now(),
            gate: device.id.clone(),
            gate_name: device.name.clone(),
        };
        match self.committer.submit(attempt).await? {
            Ok(entry) => Ok(CheckedIn {
                ticket: claims.ticket_id,
                slot: claims.slot_id,
                entry,
            }),
            Err(refused) => Err(GateError::Refused(refused)),
        }
    }
}
