//! The link graph: accounts joined by what they share — a device, a phone, a payment account,
//! a visitor's ID number. A family shares a phone or two; a scalper ring is dozens of accounts
//! on a few devices and payment accounts. An account's ring is everything reachable from it
//! through shared attributes; its size and how much of it appeared recently (growth) are
//! features.
//!
//! Bounded: at most `capacity` accounts and attributes (the idlest make room), at most
//! `fanout` links kept per account and per attribute (the oldest make room: an attribute with
//! that many accounts is crowded, and says so), and a ring is explored up to `limit` accounts.
//! So a crowded attribute reaches only its newest accounts, while an older account that still
//! lists it reaches them too: the crowding, not the exact ring, is then the signal.

use std::collections::{HashSet, VecDeque};

use crate::bounded::Bounded;
use crate::Millis;

/// What two accounts can share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shared {
    Device,
    Phone,
    PaymentAccount,
    VisitorId,
}

/// One shared thing: its kind and its value (a MAC or blind index, see `distinct::value_of`).
pub type Attribute = (Shared, u64);

#[derive(Debug, Default)]
struct Account {
    attributes: Vec<Attribute>,
    /// When it was first linked to anything.
    first_seen: Millis,
}

/// An account's ring as found now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// Accounts in the ring, the account itself included.
    pub size: usize,
    /// The exploration stopped at its limit: the ring may be larger.
    pub capped: bool,
    /// Of them, first linked within the growth window.
    pub new: usize,
    /// Attributes met that hold as many accounts as are kept (shared very widely).
    pub crowded: usize,
}

/// The accounts and what they share.
#[derive(Debug)]
pub struct LinkGraph {
    accounts: Bounded<u64, Account>,
    attributes: Bounded<Attribute, Vec<u64>>,
    fanout: usize,
}

impl LinkGraph {
    pub fn new(capacity: usize, fanout: usize) -> Self {
        Self {
            accounts: Bounded::new(capacity),
            attributes: Bounded::new(capacity),
            fanout: fanout.max(1),
        }
    }

    /// `account` uses `attribute` (seen at `at`).
    pub fn link(&mut self, account: u64, attribute: Attribute, at: Millis) {
        let fanout = self.fanout;
        let node = self.accounts.touch(account, at, || Account {
            attributes: Vec::new(),
            first_seen: at,
        });
        keep_recent(&mut node.attributes, attribute, fanout);
        let holders = self.attributes.touch(attribute, at, Vec::new);
        keep_recent(holders, account, fanout);
    }

    /// `account`'s ring, explored up to `limit` accounts; `new` counts those first linked
    /// after `since`.
    pub fn ring(&self, account: u64, since: Millis, limit: usize) -> Ring {
        let mut seen: HashSet<u64> = HashSet::from([account]);
        let mut met: HashSet<Attribute> = HashSet::new();
        let mut queue = VecDeque::from([account]);
        let mut ring = Ring {
            size: 0,
            capped: false,
            new: 0,
            crowded: 0,
        };
        while let Some(a) = queue.pop_front() {
            ring.size += 1;
            let Some(node) = self.accounts.get(&a) else {
                continue;
            };
            if node.first_seen > since {
                ring.new += 1;
            }
            for attribute in &node.attributes {
                if !met.insert(*attribute) {
                    continue;
                }
                let holders = self
                    .attributes
                    .get(attribute)
                    .map_or(&[][..], Vec::as_slice);
                if holders.len() >= self.fanout {
                    ring.crowded += 1;
                }
                for &other in holders {
                    if seen.len() >= limit.max(1) {
                        ring.capped = true;
                        break;
                    }
                    if seen.insert(other) {
                        queue.push_back(other);
                    }
                }
            }
        }
        ring
    }
}

/// Adds `item` (or moves it to the newest end), dropping the oldest beyond `max`.
fn keep_recent<T: PartialEq>(items: &mut Vec<T>, item: T, max: usize) {
    if let Some(i) = items.iter().position(|x| *x == item) {
        let it = items.remove(i);
        items.push(it);
        return;
    }
    if items.len() >= max {
        items.remove(0);
    }
    items.push(item);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_ring_is_everything_reachable_through_shared_things() {
        let mut g = LinkGraph::new(1_000, 64);
        // A family: two accounts share a phone.
        g.link(1, (Shared::Phone, 100), 0);
        g.link(2, (Shared::Phone, 100), 0);
        // A ring: accounts 10..40 over two devices and one payment account.
        for a in 10..40 {
            g.link(a, (Shared::Device, a % 2), 1_000);
        }
        g.link(10, (Shared::PaymentAccount, 7), 2_000);
        g.link(11, (Shared::PaymentAccount, 7), 2_000);
        let family = g.ring(1, -1, 500);
        assert_eq!((family.size, family.capped, family.new), (2, false, 2));
        let ring = g.ring(25, 500, 500);
        assert_eq!(
            ring.size, 30,
            "both devices are joined by the payment account"
        );
        assert_eq!(ring.new, 30, "all linked after 500");
        assert_eq!(g.ring(25, 5_000, 500).new, 0);
        let capped = g.ring(25, 0, 10);
        assert!(capped.capped && capped.size == 10);
        assert_eq!(
            g.ring(999, 0, 10).size,
            1,
            "an account alone is a ring of one"
        );
    }

    #[test]
    fn widely_shared_things_are_crowded_and_keep_their_newest_accounts() {
        let mut g = LinkGraph::new(1_000, 4);
        for a in 0..10 {
            g.link(a, (Shared::Device, 1), a as i64);
        }
        let newest = g.ring(9, -1, 100);
        assert_eq!((newest.size, newest.crowded), (4, 1));
        // The device no longer lists account 0 (it made room), though account 0 still lists
        // the device: from there, the device's newest accounts are reached.
        assert_eq!(g.ring(0, -1, 100).size, 5);
        assert!(
            !g.attributes.get(&(Shared::Device, 1)).unwrap().contains(&0),
            "while the newest do not reach account 0"
        );
    }

    proptest! {
        /// Below every bound, a ring is the connected component a union-find finds.
        #[test]
        fn rings_match_union_find(links in proptest::collection::vec((0u64..30, 0u64..12), 0..60)) {
            let mut g = LinkGraph::new(10_000, 1_000);
            let mut parent: Vec<usize> = (0..42).collect();
            fn root(p: &mut [usize], x: usize) -> usize {
                let mut r = x;
                while p[r] != r { r = p[r]; }
                p[x] = r;
                r
            }
            for (at, &(account, device)) in links.iter().enumerate() {
                g.link(account, (Shared::Device, device), at as i64);
                let (a, d) = (root(&mut parent, account as usize), root(&mut parent, 30 + device as usize));
                parent[a] = d;
            }
            for account in 0..30u64 {
                let r = root(&mut parent, account as usize);
                let want = (0..30).filter(|&o| root(&mut parent, o) == r).count();
                prop_assert_eq!(g.ring(account, -1, 1_000).size, want);
            }
        }
    }
}
