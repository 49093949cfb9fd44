//! The stock ledger: the in-memory state that decides every reservation in one place.
//!
//! It holds, per slot, the capacity and what is taken; per (ID blind index, day, kind), which of
//! the ID's daily claims are in use; per (account, day), which order claims are in use. A
//! decision is a few hash lookups, so one ledger serves the whole 09:00 rush. The database stays
//! the source of truth: the ledger is rebuilt from it at start, and the database's own
//! constraints (stock check, unique claims) would refuse a write even if the ledger were wrong.
//!
//! Claims are numbered (`claim_seq`, `order_seq`) so that "at most N per key" becomes a unique
//! index on (key, seq) with `seq < N` in the database.

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;

use crate::catalogue::{ProductId, ProductKind, ProductRules, SlotId};
use crate::error::BookingError;
use crate::order::AccountId;
use crate::personal::BlindIndex;
use crate::seats::SeatMap;

/// A slot's stock as the ledger tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotStock {
    pub product_id: ProductId,
    pub kind: ProductKind,
    pub day: Date,
    pub capacity: u32,
    pub taken: u32,
    /// The slot's separate stock for group orders.
    pub group_capacity: u32,
    pub group_taken: u32,
}

/// Which of a slot's stocks a reservation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pool {
    #[default]
    Public,
    Group,
}

/// What a reservation asks for: one ticket per visitor.
#[derive(Debug, Clone, Copy)]
pub struct ReserveRequest<'a> {
    pub account: AccountId,
    pub slot: SlotId,
    pub visitors: &'a [BlindIndex],
    pub rules: &'a ProductRules,
    pub seating: Seating<'a>,
    pub pool: Pool,
}

/// Which seats a reservation takes.
#[derive(Debug, Clone, Copy)]
pub enum Seating<'a> {
    /// Not a seated showing.
    Unseated,
    /// The seats the visitor picked, one per visitor (labels as the map spells them).
    Chosen(&'a [String]),
    /// The best adjacent free seats of this map.
    Best(&'a SeatMap),
}

/// What the ledger granted; `claim_seqs[i]` belongs to visitor `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub slot: SlotId,
    pub day: Date,
    pub kind: ProductKind,
    pub account: AccountId,
    pub order_seq: u16,
    pub claim_seqs: Vec<u16>,
    /// `seats[i]` belongs to visitor `i` (empty when unseated).
    pub seats: Vec<String>,
    pub pool: Pool,
}

impl Reservation {
    pub fn quantity(&self) -> u32 {
        u32::try_from(self.claim_seqs.len()).unwrap_or(u32::MAX)
    }
}

/// Stock and claims to give back: some tickets of an order, and the order's own claim when the
/// order stops being active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub slot: SlotId,
    pub day: Date,
    pub kind: ProductKind,
    pub account: AccountId,
    pub order_seq: Option<u16>,
    pub claims: Vec<(BlindIndex, u16)>,
    pub seats: Vec<String>,
    pub pool: Pool,
}

#[derive(Debug, Default)]
pub struct Ledger {
    slots: HashMap<SlotId, SlotStock>,
    /// Seats held or sold, per seated slot.
    seats: HashMap<SlotId, HashSet<String>>,
    id_claims: HashMap<(BlindIndex, Date, ProductKind), Vec<u16>>,
    account_orders: HashMap<(AccountId, Date), Vec<u16>>,
}

/// The smallest number in `0..limit` not in `used`.
fn free_seq(used: &[u16], limit: u16) -> Option<u16> {
    (0..limit).find(|s| !used.contains(s))
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn slot(&self, id: SlotId) -> Option<&SlotStock> {
        self.slots.get(&id)
    }

    pub fn upsert_slot(&mut self, id: SlotId, stock: SlotStock) {
        self.slots.insert(id, stock);
    }

    pub fn remove_slot(&mut self, id: SlotId) -> Option<SlotStock> {
        self.slots.remove(&id)
    }

    /// Changes a slot's capacity; refuses to go below what is taken.
    pub fn set_capacity(&mut self, id: SlotId, capacity: u32) -> Result<u32, BookingError> {
        let stock = self
            .slots
            .get_mut(&id)
            .ok_or(BookingError::NotFound { what: "slot" })?;
        if capacity < stock.taken {
            return Err(BookingError::CapacityBelowTaken { taken: stock.taken });
        }
        Ok(std::mem::replace(&mut stock.capacity, capacity))
    }

    /// Changes a slot's group capacity; refuses to go below what groups hold.
    pub fn set_group_capacity(&mut self, id: SlotId, capacity: u32) -> Result<u32, BookingError> {
        let stock = self
            .slots
            .get_mut(&id)
            .ok_or(BookingError::NotFound { what: "slot" })?;
        if capacity < stock.group_taken {
            return Err(BookingError::CapacityBelowTaken {
                taken: stock.group_taken,
            });
        }
        Ok(std::mem::replace(&mut stock.group_capacity, capacity))
    }

    /// Re-enters an active ticket's claim when rebuilding from storage.
    pub fn restore_claim(&mut self, id: BlindIndex, day: Date, kind: ProductKind, seq: u16) {
        self.id_claims.entry((id, day, kind)).or_default().push(seq);
    }

    /// Re-enters an active ticket's seat when rebuilding from storage.
    pub fn restore_seat(&mut self, slot: SlotId, seat: String) {
        self.seats.entry(slot).or_default().insert(seat);
    }

    /// The seats of a slot held or sold.
    pub fn taken_seats(&self, slot: SlotId) -> Vec<String> {
        self.seats
            .get(&slot)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Re-enters an active order's claim when rebuilding from storage.
    pub fn restore_order(&mut self, account: AccountId, day: Date, seq: u16) {
        self.account_orders
            .entry((account, day))
            .or_default()
            .push(seq);
    }

    /// Decides a reservation and, if granted, takes its stock and claims.
    pub fn reserve(&mut self, req: ReserveRequest<'_>) -> Result<Reservation, BookingError> {
        let rules = req.rules;
        if req.visitors.is_empty() {
            return Err(BookingError::invalid(
                "tickets",
                "name at least one visitor",
            ));
        }
        // A group's size is bounded by its member list, not the per-order maximum.
        if req.pool == Pool::Public
            && req.visitors.len() > usize::from(rules.max_visitors_per_order)
        {
            return Err(BookingError::TooManyVisitors {
                max: rules.max_visitors_per_order,
            });
        }
        let stock = self
            .slots
            .get(&req.slot)
            .ok_or(BookingError::NotFound { what: "slot" })?;
        let (day, kind) = (stock.day, stock.kind);
        let quantity = u32::try_from(req.visitors.len()).unwrap_or(u32::MAX);
        let remaining = match req.pool {
            Pool::Public => stock.capacity.saturating_sub(stock.taken),
            Pool::Group => stock.group_capacity.saturating_sub(stock.group_taken),
        };
        if quantity > remaining {
            return Err(BookingError::SoldOut { remaining });
        }
        let orders = self
            .account_orders
            .get(&(req.account, day))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let order_seq = free_seq(orders, rules.max_orders_per_account_per_day).ok_or(
            BookingError::OrderLimit {
                limit: rules.max_orders_per_account_per_day,
            },
        )?;

        // Claims for every visitor, counting the same ID twice in one order.
        let mut claim_seqs: Vec<u16> = Vec::with_capacity(req.visitors.len());
        for (i, id) in req.visitors.iter().enumerate() {
            let mut used: Vec<u16> = self
                .id_claims
                .get(&(*id, day, kind))
                .cloned()
                .unwrap_or_default();
            for (j, earlier) in req.visitors.iter().enumerate().take(i) {
                if earlier == id {
                    used.extend(claim_seqs.get(j).copied());
                }
            }
            let seq = free_seq(&used, rules.id_limit_per_day).ok_or(BookingError::IdLimit {
                visitor: i,
                limit: rules.id_limit_per_day,
            })?;
            claim_seqs.push(seq);
        }

        let seats = self.pick_seats(req.slot, req.visitors.len(), req.seating, req.pool)?;

        // Granted: take everything.
        if !seats.is_empty() {
            self.seats
                .entry(req.slot)
                .or_default()
                .extend(seats.iter().cloned());
        }
        if let Some(stock) = self.slots.get_mut(&req.slot) {
            match req.pool {
                Pool::Public => stock.taken += quantity,
                Pool::Group => stock.group_taken += quantity,
            }
        }
        self.account_orders
            .entry((req.account, day))
            .or_default()
            .push(order_seq);
        for (id, seq) in req.visitors.iter().zip(&claim_seqs) {
            self.id_claims
                .entry((*id, day, kind))
                .or_default()
                .push(*seq);
        }
        Ok(Reservation {
            slot: req.slot,
            day,
            kind,
            account: req.account,
            order_seq,
            claim_seqs,
            seats,
            pool: req.pool,
        })
    }

    fn pick_seats(
        &self,
        slot: SlotId,
        n: usize,
        seating: Seating<'_>,
        pool: Pool,
    ) -> Result<Vec<String>, BookingError> {
        let empty = HashSet::new();
        let taken = self.seats.get(&slot).unwrap_or(&empty);
        match seating {
            Seating::Unseated => Ok(Vec::new()),
            Seating::Chosen(seats) => {
                if seats.len() != n {
                    return Err(BookingError::invalid(
                        "tickets",
                        "choose one seat per ticket",
                    ));
                }
                for (i, seat) in seats.iter().enumerate() {
                    if taken.contains(seat) || seats.iter().take(i).any(|s| s == seat) {
                        return Err(BookingError::SeatTaken {
                            visitor: i,
                            seat: seat.clone(),
                        });
                    }
                }
                Ok(seats.to_vec())
            }
            // A party sits together or chooses; a group too big for one row's free block
            // sits in as few neighbouring rows and pieces as the map allows.
            Seating::Best(map) => match pool {
                Pool::Public => map.best_available(n, taken),
                Pool::Group => map.best_block(n, taken),
            }
            .ok_or(BookingError::NoAdjacentSeats { wanted: n }),
        }
    }

    /// Undoes a whole reservation (its write failed).
    pub fn undo(&mut self, r: &Reservation, visitors: &[BlindIndex]) {
        self.release(&Release {
            slot: r.slot,
            day: r.day,
            kind: r.kind,
            account: r.account,
            order_seq: Some(r.order_seq),
            claims: visitors
                .iter()
                .copied()
                .zip(r.claim_seqs.iter().copied())
                .collect(),
            seats: r.seats.clone(),
            pool: r.pool,
        });
    }

    /// Gives back stock and claims.
    pub fn release(&mut self, r: &Release) {
        if let Some(stock) = self.slots.get_mut(&r.slot) {
            let n = u32::try_from(r.claims.len()).unwrap_or(u32::MAX);
            match r.pool {
                Pool::Public => stock.taken = stock.taken.saturating_sub(n),
                Pool::Group => stock.group_taken = stock.group_taken.saturating_sub(n),
            }
        }
        if let Some(held) = self.seats.get_mut(&r.slot) {
            for seat in &r.seats {
                held.remove(seat);
            }
        }
        for (id, seq) in &r.claims {
            let key = (*id, r.day, r.kind);
            if let Some(used) = self.id_claims.get_mut(&key) {
                used.retain(|s| s != seq);
                if used.is_empty() {
                    self.id_claims.remove(&key);
                }
            }
        }
        if let Some(seq) = r.order_seq {
            let key = (r.account, r.day);
            if let Some(used) = self.account_orders.get_mut(&key) {
                used.retain(|s| *s != seq);
                if used.is_empty() {
                    self.account_orders.remove(&key);
                }
            }
        }
    }

    /// Forgets claims and slots of days before `day`: they can no longer be booked, so memory
    /// stays bounded by the stock on sale.
    pub fn forget_before(&mut self, day: Date) {
        self.id_claims.retain(|(_, d, _), _| *d >= day);
        self.account_orders.retain(|(_, d), _| *d >= day);
        self.slots.retain(|_, s| s.day >= day);
        let slots = &self.slots;
        self.seats.retain(|id, _| slots.contains_key(id));
    }

    /// How many claims an ID holds for a day and kind (for tests and the admin view).
    pub fn claims_of(&self, id: BlindIndex, day: Date, kind: ProductKind) -> usize {
        self.id_claims.get(&(id, day, kind)).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day() -> Date {
        jiff::civil::date(2026, 11, 25)
    }

    fn ledger(slots: &[(i64, ProductKind, u32)]) -> Ledger {
        let mut l = Ledger::new();
        for (id, kind, cap) in slots {
            l.upsert_slot(
                SlotId(*id),
                SlotStock {
                    product_id: ProductId(1),
                    kind: *kind,
                    day: day(),
                    capacity: *cap,
                    taken: 0,
                    group_capacity: 3,
                    group_taken: 0,
                },
            );
        }
        l
    }

    fn bidx(n: u8) -> BlindIndex {
        BlindIndex([n; 32])
    }

    #[test]
    fn one_entry_ticket_per_id_per_day_across_slots_and_accounts() {
        let mut l = ledger(&[
            (1, ProductKind::Entry, 10),
            (2, ProductKind::Entry, 10),
            (3, ProductKind::Hall, 10),
        ]);
        let rules = ProductRules::default();
        let seven = [bidx(7)];
        let r = |account, slot| ReserveRequest {
            seating: Seating::Unseated,
            pool: Pool::Public,
            account: AccountId(account),
            slot: SlotId(slot),
            visitors: &seven,
            rules: &rules,
        };
        l.reserve(r(1, 1)).unwrap();
        assert_eq!(l.reserve(r(2, 2)).unwrap_err().code(), "id_limit_reached");
        // Another kind has its own limit.
        l.reserve(r(2, 3)).unwrap();
    }

    #[test]
    fn same_id_twice_in_one_order_counts_twice() {
        let mut l = ledger(&[(1, ProductKind::Entry, 10)]);
        let rules = ProductRules::default();
        let err = l
            .reserve(ReserveRequest {
                seating: Seating::Unseated,
                pool: Pool::Public,
                account: AccountId(1),
                slot: SlotId(1),
                visitors: &[bidx(1), bidx(1)],
                rules: &rules,
            })
            .unwrap_err();
        assert_eq!(
            err,
            BookingError::IdLimit {
                visitor: 1,
                limit: 1
            }
        );
        assert_eq!(
            l.slot(SlotId(1)).unwrap().taken,
            0,
            "a refused reservation takes nothing"
        );
    }

    #[test]
    fn sold_out_and_release() {
        let mut l = ledger(&[(1, ProductKind::Entry, 2)]);
        let rules = ProductRules::default();
        let visitors = [bidx(1), bidx(2)];
        let granted = l
            .reserve(ReserveRequest {
                seating: Seating::Unseated,
                pool: Pool::Public,
                account: AccountId(1),
                slot: SlotId(1),
                visitors: &visitors,
                rules: &rules,
            })
            .unwrap();
        let more = [bidx(3)];
        let req = ReserveRequest {
            seating: Seating::Unseated,
            pool: Pool::Public,
            account: AccountId(2),
            slot: SlotId(1),
            visitors: &more,
            rules: &rules,
        };
        assert_eq!(
            l.reserve(req).unwrap_err(),
            BookingError::SoldOut { remaining: 0 }
        );
        l.undo(&granted, &visitors);
        l.reserve(req).unwrap();
        assert_eq!(l.claims_of(bidx(1), day(), ProductKind::Entry), 0);
    }

    #[test]
    fn orders_per_account_per_day() {
        let mut l = ledger(&[(1, ProductKind::Activity, 100)]);
        let rules = ProductRules {
            max_orders_per_account_per_day: 2,
            ..ProductRules::default()
        };
        for n in 0..2 {
            l.reserve(ReserveRequest {
                seating: Seating::Unseated,
                pool: Pool::Public,
                account: AccountId(1),
                slot: SlotId(1),
                visitors: &[bidx(n)],
                rules: &rules,
            })
            .unwrap();
        }
        let err = l.reserve(ReserveRequest {
            seating: Seating::Unseated,
            pool: Pool::Public,
            account: AccountId(1),
            slot: SlotId(1),
            visitors: &[bidx(9)],
            rules: &rules,
        });
        assert_eq!(err.unwrap_err().code(), "order_limit_reached");
    }

    #[test]
    fn capacity_cannot_drop_below_taken() {
        let mut l = ledger(&[(1, ProductKind::Entry, 5)]);
        let rules = ProductRules::default();
        l.reserve(ReserveRequest {
            seating: Seating::Unseated,
            pool: Pool::Public,
            account: AccountId(1),
            slot: SlotId(1),
            visitors: &[bidx(1), bidx(2)],
            rules: &rules,
        })
        .unwrap();
        assert_eq!(
            l.set_capacity(SlotId(1), 1).unwrap_err(),
            BookingError::CapacityBelowTaken { taken: 2 }
        );
        assert_eq!(l.set_capacity(SlotId(1), 2).unwrap(), 5);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reserve {
            account: i64,
            slot: i64,
            ids: Vec<u8>,
        },
        Release {
            pick: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0i64..6, 1i64..4, proptest::collection::vec(0u8..8, 0..4))
                .prop_map(|(account, slot, ids)| Op::Reserve { account, slot, ids }),
            1 => (0usize..100).prop_map(|pick| Op::Release { pick }),
        ]
    }

    #[test]
    fn group_orders_take_the_group_stock_only() {
        let mut l = ledger(&[(1, ProductKind::Entry, 2)]);
        let rules = ProductRules {
            max_visitors_per_order: 1,
            ..ProductRules::default()
        };
        let group = [bidx(1), bidx(2), bidx(3)];
        let r = l
            .reserve(ReserveRequest {
                account: AccountId(1),
                slot: SlotId(1),
                visitors: &group,
                rules: &rules,
                seating: Seating::Unseated,
                pool: Pool::Group,
            })
            .unwrap();
        let stock = l.slot(SlotId(1)).unwrap().clone();
        assert_eq!(
            (stock.taken, stock.group_taken),
            (0, 3),
            "the public stock is untouched; no per-order maximum"
        );
        assert!(matches!(
            l.reserve(ReserveRequest {
                account: AccountId(2),
                slot: SlotId(1),
                visitors: &[bidx(9)],
                rules: &rules,
                seating: Seating::Unseated,
                pool: Pool::Group
            }),
            Err(BookingError::SoldOut { remaining: 0 })
        ));
        l.reserve(ReserveRequest {
            account: AccountId(2),
            slot: SlotId(1),
            visitors: &[bidx(9)],
            rules: &rules,
            seating: Seating::Unseated,
            pool: Pool::Public,
        })
        .unwrap();
        assert!(matches!(
            l.set_group_capacity(SlotId(1), 2),
            Err(BookingError::CapacityBelowTaken { taken: 3 })
        ));
        l.undo(&r, &group);
        assert_eq!(l.slot(SlotId(1)).unwrap().group_taken, 0);
        assert_eq!(l.slot(SlotId(1)).unwrap().taken, 1);
    }

    proptest! {
        /// Whatever sequence of reservations and releases happens, no slot is oversold, no ID
        /// exceeds its limit, and no account exceeds its orders per day.
        #[test]
        fn invariants_hold_under_any_sequence(ops in proptest::collection::vec(op(), 1..200), id_limit in 1u16..3, orders in 1u16..3) {
            let mut l = ledger(&[(1, ProductKind::Entry, 4), (2, ProductKind::Entry, 3), (3, ProductKind::Hall, 2)]);
            let rules = ProductRules { id_limit_per_day: id_limit, max_orders_per_account_per_day: orders, ..ProductRules::default() };
            let mut live: Vec<(Reservation, Vec<BlindIndex>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Reserve { account, slot, ids } => {
                        let visitors: Vec<BlindIndex> = ids.into_iter().map(bidx).collect();
                        if let Ok(r) = l.reserve(ReserveRequest { account: AccountId(account), slot: SlotId(slot), visitors: &visitors, rules: &rules, seating: Seating::Unseated, pool: Pool::Public }) {
                            live.push((r, visitors));
                        }
                    }
                    Op::Release { pick } => {
                        if !live.is_empty() {
                            let (r, v) = live.remove(pick % live.len());
                            l.undo(&r, &v);
                        }
                    }
                }
                // Recount from the live reservations, independently of the ledger's own counters.
                for (slot, cap) in [(1, 4u32), (2, 3), (3, 2)] {
                    let held: u32 = live.iter().filter(|(r, _)| r.slot == SlotId(slot)).map(|(r, _)| r.quantity()).sum();
                    prop_assert!(held <= cap, "slot {} oversold: {} > {}", slot, held, cap);
                    prop_assert_eq!(l.slot(SlotId(slot)).unwrap().taken, held);
                }
                let mut per_id: HashMap<(BlindIndex, ProductKind), u16> = HashMap::new();
                let mut per_account: HashMap<AccountId, u16> = HashMap::new();
                for (r, v) in &live {
                    for id in v { *per_id.entry((*id, r.kind)).or_default() += 1; }
                    *per_account.entry(r.account).or_default() += 1;
                }
                prop_assert!(per_id.values().all(|n| *n <= id_limit));
                prop_assert!(per_account.values().all(|n| *n <= orders));
            }
        }

        /// Whatever seats are picked or asked for as best available, and whatever is released,
        /// no seat of the showing is ever held twice, and held seats always match the stock.
        #[test]
        fn no_seat_is_ever_held_twice(ops in proptest::collection::vec((0u8..3, proptest::collection::vec(0usize..30, 1..4), 0usize..100), 1..150)) {
            use crate::seats::{RowLayout, SeatMapLayout};
            let map = SeatMap::parse(&SeatMapLayout { rows: ["A", "B", "C"].iter().map(|r| RowLayout {
                label: (*r).into(),
                cells: "1 2 3 4 _ 5 6 7 8 9 10".split(' ').map(str::to_owned).collect(),
            }).collect() }).unwrap();
            let labels: Vec<String> = map.seats().map(|(l, _, _)| l.to_owned()).collect();
            let mut l = ledger(&[(1, ProductKind::Cinema, 30)]);
            let rules = ProductRules { id_limit_per_day: 50, max_orders_per_account_per_day: 50, ..ProductRules::default() };
            let mut live: Vec<(Reservation, Vec<BlindIndex>)> = Vec::new();
            let mut next_id = 0u8;
            for (what, picks, pick) in ops {
                match what {
                    0 | 1 => {
                        let visitors: Vec<BlindIndex> = picks.iter().map(|_| { next_id = next_id.wrapping_add(1); bidx(next_id) }).collect();
                        let chosen: Vec<String> = picks.iter().map(|p| labels[*p].clone()).collect();
                        let seating = if what == 0 { Seating::Chosen(&chosen) } else { Seating::Best(&map) };
                        if let Ok(r) = l.reserve(ReserveRequest { account: AccountId(1), slot: SlotId(1), visitors: &visitors, rules: &rules, seating, pool: Pool::Public }) {
                            prop_assert_eq!(r.seats.len(), visitors.len());
                            live.push((r, visitors));
                        }
                    }
                    _ => {
                        if !live.is_empty() {
                            let (r, v) = live.remove(pick % live.len());
                            l.undo(&r, &v);
                        }
                    }
                }
                let mut held: Vec<&String> = live.iter().flat_map(|(r, _)| r.seats.iter()).collect();
                let total = held.len();
                held.sort();
                held.dedup();
                prop_assert_eq!(held.len(), total, "a seat is held twice");
                prop_assert_eq!(l.taken_seats(SlotId(1)).len(), total);
                prop_assert_eq!(l.slot(SlotId(1)).unwrap().taken as usize, total);
            }
        }
    }
}
