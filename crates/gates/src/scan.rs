//! Online check-in: a gate sends the code it scanned; the code's signature and window are
//! checked here, and the ticket's state and first use are decided and recorded in the same
//! transaction by the gate store, through a group commit (one transaction carries every scan
//! that queued while the last one committed). A scan is answered only after its entry is
//! durable.
//!
//! A group code is one scan of every member's ticket, committed together: each member is
//! decided as a ticket of its own, so a member already let in (with their own code) is not
//! counted again, and scanning the group code twice admits nobody the second time.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_booking::BatchSink;
use gatehouse_domain::breaker::BreakerOpen;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::check_in::{tally_group, Entry, GroupTally, ScanRefused};
use gatehouse_domain::gate::{CheckInAttempt, GateDevice, GateStore};
use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_domain::store::StoreError;
use gatehouse_tickets::CodeClaims;
use jiff::Timestamp;

use crate::{GateError, GateService};

/// What a scan let in: one ticket, or the members of a group still to come in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    pub slot: SlotId,
    pub entry: Entry,
    /// The tickets let in by this scan.
    pub tickets: Vec<TicketId>,
    /// For a group code: the order and how its members came out.
    pub group: Option<GroupAdmitted>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAdmitted {
    pub order: OrderId,
    /// The head count the code was made for.
    pub head_count: u16,
    pub tally: GroupTally,
}

/// One scan's attempts (one per ticket; a group code's members together).
pub(crate) struct CheckInSink(pub Arc<dyn GateStore>);

type Decisions = Vec<Result<Entry, ScanRefused>>;

#[async_trait]
impl BatchSink for CheckInSink {
    type Job = Vec<CheckInAttempt>;
    type Answer = Result<Decisions, StoreError>;

    async fn commit(&self, scans: Vec<Vec<CheckInAttempt>>) -> Vec<Self::Answer> {
        let sizes: Vec<usize> = scans.iter().map(Vec::len).collect();
        let attempts: Vec<CheckInAttempt> = scans.into_iter().flatten().collect();
        match self.0.check_in(&attempts).await {
            Ok(answers) => {
                let mut answers = answers.into_iter();
                sizes
                    .into_iter()
                    .map(|n| Ok(answers.by_ref().take(n).collect()))
                    .collect()
            }
            Err(e) => sizes.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn stopped() -> Self::Answer {
        Err(StoreError::Backend("check-in committer stopped".into()))
    }

    fn failed(answer: &Self::Answer) -> bool {
        gatehouse_booking::database_failed(answer)
    }

    fn refused(open: BreakerOpen) -> Self::Answer {
        Err(gatehouse_booking::circuit_open(open))
    }
}

impl GateService {
    /// Checks a scanned code (a ticket's or a group's) in at `device`, now.
    pub async fn scan(&self, device: &GateDevice, code: &str) -> Result<CheckedIn, GateError> {
        let now = self.clock.now();
        let attempt =
            |ticket: TicketId, valid_from: Timestamp, valid_until: Timestamp| CheckInAttempt {
                ticket,
                valid_from,
                valid_until,
                at: now,
                gate: device.id.clone(),
                gate_name: device.name.clone(),
            };
        match self.verifier.verify(code)? {
            CodeClaims::Ticket(claims) => {
                let one = vec![attempt(
                    claims.ticket_id.clone(),
                    claims.valid_from,
                    claims.valid_until,
                )];
                let decided = self.committer.submit(one).await?;
                match decided.into_iter().next() {
                    Some(Ok(entry)) => Ok(CheckedIn {
                        slot: claims.slot_id,
                        entry,
                        tickets: vec![claims.ticket_id],
                        group: None,
                    }),
                    Some(Err(refused)) => Err(GateError::Refused(refused)),
                    None => Err(GateError::Unavailable),
                }
            }
            CodeClaims::Group(claims) => {
                let members = self.store.group_tickets(&claims.order_id).await?;
                let attempts: Vec<CheckInAttempt> = members
                    .iter()
                    .map(|t| attempt(t.clone(), claims.valid_from, claims.valid_until))
                    .collect();
                let decided = if attempts.is_empty() {
                    Vec::new()
                } else {
                    self.committer.submit(attempts).await?
                };
                let tally = tally_group(&decided).map_err(GateError::Refused)?;
                let mut entry = None;
                let mut tickets = Vec::with_capacity(decided.len());
                for (ticket, decision) in members.into_iter().zip(decided) {
                    if let Ok(e) = decision {
                        entry.get_or_insert(e);
                        tickets.push(ticket);
                    }
                }
                Ok(CheckedIn {
                    slot: claims.slot_id,
                    entry: entry.ok_or(GateError::Unavailable)?,
                    tickets,
                    group: Some(GroupAdmitted {
                        order: claims.order_id,
                        head_count: claims.head_count,
                        tally,
                    }),
                })
            }
        }
    }
}
