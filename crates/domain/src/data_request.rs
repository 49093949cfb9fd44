//! Data-subject requests (PIPL arts. 44–47): a visitor asks to have their data exported,
//! corrected or erased. What a visitor can do themselves happens at once and is recorded here
//! as done; what needs staff (a correction of a real-name ticket, an erasure the visitor cannot
//! start while a visit is upcoming, a request made by phone) is tracked with a deadline and a
//! status until it is answered. The visitor's own words are sealed under their data key, so an
//! erasure shreds them too.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::order::AccountId;
use crate::personal::Sealed;
use crate::store::StoreError;

/// Days the museum allows itself to answer (GB/T 35273-2020 §8.7: within 15 working days; we
/// count calendar days, which is stricter).
pub const ANSWER_WITHIN_DAYS: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Export,
    Correction,
    Erasure,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Correction => "correction",
            Self::Erasure => "erasure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Export, Self::Correction, Self::Erasure]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Received, nobody on it yet.
    Open,
    /// A member of staff is on it.
    InProgress,
    /// Answered: done as asked.
    Done,
    /// Answered: refused, with the reason in the outcome (e.g. the law requires the record).
    Refused,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::InProgress, Self::Done, Self::Refused]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Refused)
    }

    /// Whether a request may move from `self` to `to`: forward only, and never out of an answer.
    pub fn may_become(self, to: RequestStatus) -> bool {
        matches!(
            (self, to),
            (Self::Open, Self::InProgress)
                | (Self::Open | Self::InProgress, Self::Done | Self::Refused)
        )
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRequest {
    pub id: String,
    pub account: AccountId,
    pub kind: RequestKind,
    pub status: RequestStatus,
    /// What the person asked, in their words, sealed under their data key (empty once erased).
    pub detail: Sealed,
    /// How it reached us (`self_service`, `phone`, `counter`, `letter`).
    pub channel: String,
    pub received_at: Timestamp,
    pub due_at: Timestamp,
    pub handled_by: Option<AccountId>,
    /// The answer, as staff wrote it (no personal data: it is shown to auditors).
    pub outcome: Option<String>,
    pub closed_at: Option<Timestamp>,
}

impl DataRequest {
    pub fn due(received_at: Timestamp) -> Timestamp {
        received_at + SignedDuration::from_hours(24 * ANSWER_WITHIN_DAYS)
    }

    /// Still unanswered past its deadline.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        !self.status.is_final() && now > self.due_at
    }
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub account: Option<AccountId>,
    pub status: Option<RequestStatus>,
    /// Only unanswered ones due before this instant (overdue: now; due soon: now + a day).
    pub due_before: Option<Timestamp>,
}

/// A status change, applied only if the request is still in `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUpdate {
    pub from: RequestStatus,
    pub to: RequestStatus,
    pub handled_by: AccountId,
    pub outcome: Option<String>,
    pub at: Timestamp,
}

#[async_trait]
pub trait DataRequestStore: Send + Sync + 'static {
    async fn insert_data_request(&self, request: &DataRequest) -> Result<(), StoreError>;
    async fn data_request(&self, id: &str) -> Result<Option<DataRequest>, StoreError>;
    /// Oldest deadline first.
    async fn list_data_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
    ) -> Result<Vec<DataRequest>, StoreError>;
    /// `Conflict` if the request moved on meanwhile; `NotFound` if there is none.
    async fn update_data_request(
        &self,
        id: &str,
        update: &RequestUpdate,
    ) -> Result<DataRequest, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_moves_forward_only_and_an_answer_is_final() {
        use RequestStatus::*;
        assert!(Open.may_become(InProgress));
        assert!(Open.may_become(Done) && InProgress.may_become(Refused));
        for done in [Done, Refused] {
            for to in [Open, InProgress, Done, Refused] {
                assert!(!done.may_become(to));
            }
        }
        assert!(!InProgress.may_become(Open));
        for s in [Open, InProgress, Done, Refused] {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RequestKind::parse("erasure"), Some(RequestKind::Erasure));
        assert_eq!(RequestKind::parse("nope"), None);
    }

    #[test]
    fn the_deadline_is_fifteen_days_and_only_open_requests_are_overdue() {
        let at: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let mut r = DataRequest {
            id: "r".into(),
            account: AccountId(1),
            kind: RequestKind::Correction,
            status: RequestStatus::Open,
            detail: Sealed(vec![]),
            channel: "phone".into(),
            received_at: at,
            due_at: DataRequest::due(at),
            handled_by: None,
            outcome: None,
            closed_at: None,
        };
        assert_eq!(r.due_at, "2026-11-16T00:00:00Z".parse().unwrap());
        let late: Timestamp = "2026-11-16T00:00:01Z".parse().unwrap();
        assert!(!r.is_overdue(r.due_at) && r.is_overdue(late));
        r.status = RequestStatus::Done;
        assert!(!r.is_overdue(late));
    }
}
