//! Daily reconciliation: a provider's bill of one day matched line by line with Gatehouse's
//! money ledger of the same day. Pure: the payment service downloads the bill and reads the
//! ledger; this decides what differs.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::Timestamp;

use crate::payment::{MoneyLine, Movement, PaymentId, PaymentProvider};
use crate::payment_gateway::{BillLine, BillLineKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    /// In Gatehouse's ledger, not in the provider's bill.
    MissingFromBill,
    /// In the provider's bill, not in Gatehouse's ledger.
    MissingFromLedger,
    /// In both, with different amounts.
    AmountMismatch,
}

impl DifferenceKind {
    pub const ALL: [DifferenceKind; 3] = [
        DifferenceKind::MissingFromBill,
        DifferenceKind::MissingFromLedger,
        DifferenceKind::AmountMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::MissingFromBill => "missing_from_bill",
            DifferenceKind::MissingFromLedger => "missing_from_ledger",
            DifferenceKind::AmountMismatch => "amount_mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceKind,
    pub line: BillLineKind,
    pub reference: String,
    pub payment_id: PaymentId,
    pub ledger_fen: Option<u64>,
    pub bill_fen: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationReport {
    pub provider: PaymentProvider,
    pub day: Date,
    pub ran_at: Timestamp,
    pub ledger_lines: u32,
    pub bill_lines: u32,
    pub matched: u32,
    pub differences: Vec<Difference>,
}

type Key = (BillLineKind, String);

fn ledger_key(line: &MoneyLine) -> Key {
    let kind = match line.movement {
        Movement::Charge { .. } => BillLineKind::Charge,
        Movement::Refund { .. } => BillLineKind::Refund,
    };
    (kind, line.reference.clone())
}

/// Matches a day's ledger lines with the provider's bill of that day. Lines are matched by kind
/// and reference (the provider's transaction id, our refund number); lines repeating a key are
/// summed, so a split bill line still matches.
pub fn reconcile(
    provider: PaymentProvider,
    day: Date,
    ran_at: Timestamp,
    ledger: &[MoneyLine],
    bill: &[BillLine],
) -> ReconciliationReport {
    let mut ours: BTreeMap<Key, (u64, PaymentId)> = BTreeMap::new();
    for line in ledger {
        let entry = ours
            .entry(ledger_key(line))
            .or_insert((0, line.movement.payment().clone()));
        entry.0 = entry.0.saturating_add(line.movement.amount_fen());
    }
    let mut theirs: BTreeMap<Key, (u64, PaymentId)> = BTreeMap::new();
    for line in bill {
        let entry = theirs
            .entry((line.kind, line.reference.clone()))
            .or_insert((0, line.payment_id.clone()));
        entry.0 = entry.0.saturating_add(line.amount_fen);
    }
    let mut matched = 0u32;
    let mut differences = Vec::new();
    for ((kind, reference), (fen, payment)) in &ours {
        match theirs.get(&(*kind, reference.clone())) {
            Some((bill_fen, _)) if bill_fen == fen => matched += 1,
            Some((bill_fen, _)) => differences.push(Difference {
                kind: DifferenceKind::AmountMismatch,
                line: *kind,
                reference: reference.clone(),
                payment_id: payment.clone(),
                ledger_fen: Some(*fen),
                bill_fen: Some(*bill_fen),
            }),
            None => differences.push(Difference {
                kind: DifferenceKind::MissingFromBill,
                line: *kind,
                reference: reference.clone(),
                payment_id: payment.clone(),
                ledger_fen: Some(*fen),
                bill_fen: None,
            }),
        }
    }
    for ((kind, reference), (fen, payment)) in &theirs {
        if !ours.contains_key(&(*kind, reference.clone())) {
            differences.push(Difference {
                kind: DifferenceKind::MissingFromLedger,
                line: *kind,
                reference: reference.clone(),
                payment_id: payment.clone(),
                ledger_fen: None,
                bill_fen: Some(*fen),
            });
        }
    }
    ReconciliationReport {
        provider,
        day,
        ran_at,
        ledger_lines: u32::try_from(ledger.len()).unwrap_or(u32::MAX),
        bill_lines: u32::try_from(bill.len()).unwrap_or(u32::MAX),
        matched,
        differences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderId;

    fn charge(txn: &str, pay: &str, fen: u64) -> MoneyLine {
        MoneyLine {
            order_id: OrderId("o".into()),
            provider: PaymentProvider::WeChatPay,
            movement: Movement::Charge {
                payment: PaymentId(pay.into()),
                amount_fen: fen,
            },
            reference: txn.into(),
            at: Timestamp::UNIX_EPOCH,
        }
    }

    fn bill(kind: BillLineKind, reference: &str, pay: &str, fen: u64) -> BillLine {
        BillLine {
            kind,
            reference: reference.into(),
            payment_id: PaymentId(pay.into()),
            amount_fen: fen,
        }
    }

    #[test]
    fn every_kind_of_difference_is_reported_and_matches_are_counted() {
        let ledger = vec![
            charge("t1", "p1", 6000),
            charge("t2", "p2", 3000),
            charge("t3", "p3", 100),
        ];
        let lines = vec![
            bill(BillLineKind::Charge, "t1", "p1", 6000),
            bill(BillLineKind::Charge, "t2", "p2", 2999),
            bill(BillLineKind::Charge, "t9", "p9", 500),
            // A refund line never matches a charge with the same reference.
            bill(BillLineKind::Refund, "t3", "p3", 100),
        ];
        let day = Date::constant(2026, 12, 1);
        let r = reconcile(
            PaymentProvider::WeChatPay,
            day,
            Timestamp::UNIX_EPOCH,
            &ledger,
            &lines,
        );
        assert_eq!(r.matched, 1);
        assert_eq!((r.ledger_lines, r.bill_lines), (3, 4));
        let kinds: Vec<(DifferenceKind, &str)> = r
            .differences
            .iter()
            .map(|d| (d.kind, d.reference.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (DifferenceKind::AmountMismatch, "t2"),
                (DifferenceKind::MissingFromBill, "t3"),
                (DifferenceKind::MissingFromLedger, "t9"),
                (DifferenceKind::MissingFromLedger, "t3"),
            ]
        );
    }

    #[test]
    fn a_clean_day_has_no_differences() {
        let ledger = vec![charge("t1", "p1", 6000)];
        let lines = vec![bill(BillLineKind::Charge, "t1", "p1", 6000)];
        let r = reconcile(
            PaymentProvider::Alipay,
            Date::constant(2026, 12, 1),
            Timestamp::UNIX_EPOCH,
            &ledger,
            &lines,
        );
        assert!(r.differences.is_empty());
        assert_eq!(r.matched, 1);
    }
}
