//! Measures staff take against an account after risk control's findings, escalating from a
//! warning to a function limit, a suspension and a ban — each with who decided, why, and the
//! notice the visitor is shown. What a measure stops is decided here ([`blocks`]), so every
//! path (booking, paying, refunds) asks the same question.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::order::AccountId;
use crate::store::StoreError;

/// What a measure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeasureKind {
    /// Tells the visitor; stops nothing.
    Warning,
    /// No refunds (the "refund, then buy again" pattern).
    NoRefunds,
    /// No bookings or payments until it ends; the account still signs in and reads its orders.
    Suspension,
    /// No bookings, payments or refunds until lifted.
    Ban,
}

impl MeasureKind {
    pub const ALL: [MeasureKind; 4] = [
        MeasureKind::Warning,
        MeasureKind::NoRefunds,
        MeasureKind::Suspension,
        MeasureKind::Ban,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MeasureKind::Warning => "warning",
            MeasureKind::NoRefunds => "no_refunds",
            MeasureKind::Suspension => "suspension",
            MeasureKind::Ban => "ban",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a visitor does that a measure may stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Book,
    Pay,
    Refund,
}

/// A measure to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMeasure {
    pub account: AccountId,
    pub kind: MeasureKind,
    /// When it ends by itself (a suspension must end; a ban need not).
    pub until: Option<Timestamp>,
    /// Why, for staff and the audit trail.
    pub reason: String,
    /// What the visitor is told.
    pub notice: String,
    pub decided_by: AccountId,
    pub decided_at: Timestamp,
}

/// Who lifted a measure, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifted {
    pub by: AccountId,
    pub at: Timestamp,
    pub reason: String,
}

/// A measure taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measure {
    pub id: i64,
    pub measure: NewMeasure,
    pub lifted: Option<Lifted>,
}

impl Measure {
    /// In force at `now`: not lifted and not ended.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.lifted.is_none() && self.measure.until.is_none_or(|u| now < u)
    }
}

/// The measure among `measures` that stops `function` at `now`, if any (a ban before a
/// suspension before a function limit).
pub fn blocks(measures: &[Measure], function: Function, now: Timestamp) -> Option<&Measure> {
    let stops = |m: &&Measure| {
        matches!(
            (m.measure.kind, function),
            (MeasureKind::Ban, _)
                | (MeasureKind::Suspension, Function::Book | Function::Pay)
                | (MeasureKind::NoRefunds, Function::Refund)
        )
    };
    let rank = |m: &&Measure| match m.measure.kind {
        MeasureKind::Ban => 0,
        MeasureKind::Suspension => 1,
        MeasureKind::NoRefunds | MeasureKind::Warning => 2,
    };
    measures
        .iter()
        .filter(|m| m.in_force(now))
        .filter(stops)
        .min_by_key(rank)
}

#[async_trait]
pub trait MeasureStore: Send + Sync + 'static {
    async fn take_measure(&self, new: &NewMeasure) -> Result<Measure, StoreError>;
    /// Measures newest first: one account's, or everyone's; at most `limit`.
    async fn measures(
        &self,
        account: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<Measure>, StoreError>;
    /// Measures not lifted and not ended at `now`, every account's.
    async fn measures_in_force(&self, now: Timestamp) -> Result<Vec<Measure>, StoreError>;
    /// Lifts a measure not yet lifted: the measure, or None if there is none to lift.
    async fn lift_measure(&self, id: i64, lifted: &Lifted) -> Result<Option<Measure>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn measure(kind: MeasureKind, until: Option<Timestamp>) -> Measure {
        Measure {
            id: 1,
            measure: NewMeasure {
                account: AccountId(7),
                kind,
                until,
                reason: "ring".into(),
                notice: "n".into(),
                decided_by: AccountId(1),
                decided_at: at(0),
            },
            lifted: None,
        }
    }

    #[test]
    fn each_kind_stops_exactly_its_functions_while_in_force() {
        use Function::*;
        let table = [
            (MeasureKind::Warning, [false, false, false]),
            (MeasureKind::NoRefunds, [false, false, true]),
            (MeasureKind::Suspension, [true, true, false]),
            (MeasureKind::Ban, [true, true, true]),
        ];
        for (kind, stops) in table {
            let m = [measure(kind, Some(at(100)))];
            for (function, stopped) in [Book, Pay, Refund].into_iter().zip(stops) {
                assert_eq!(
                    blocks(&m, function, at(50)).is_some(),
                    stopped,
                    "{kind:?} {function:?}"
                );
                assert!(blocks(&m, function, at(100)).is_none(), "ended: {kind:?}");
            }
        }
        let mut ban = measure(MeasureKind::Ban, None);
        let both = [measure(MeasureKind::Suspension, None), ban.clone()];
        assert_eq!(
            blocks(&both, Book, at(1)).map(|m| m.measure.kind),
            Some(MeasureKind::Ban),
            "the heaviest is named"
        );
        assert!(
            blocks(std::slice::from_ref(&ban), Book, at(10_000_000)).is_some(),
            "a ban need not end"
        );
        ban.lifted = Some(Lifted {
            by: AccountId(1),
            at: at(1),
            reason: "appeal upheld".into(),
        });
        assert!(blocks(&[ban], Book, at(2)).is_none(), "lifted");
        for kind in MeasureKind::ALL {
            assert_eq!(MeasureKind::parse(kind.as_str()), Some(kind));
        }
    }
}
