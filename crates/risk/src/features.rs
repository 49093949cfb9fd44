//! The features an assessment reads, computed online from Gatehouse's own events: velocities
//! per key (bookings per ID number, phone, device, IP and /24, payment account), distinct
//! counts (ID numbers booked per account, accounts per device, phone and payment account),
//! the link graph (ring size, growth, crowding), history (no-shows, refunds soon after buying,
//! cancellations, unpaid orders, chargebacks) and the request's own behaviour (time from page
//! or admission to submit, skipped pages, client inconsistency, account age). Each table is
//! bounded ([`Limits`]).

use std::net::IpAddr;

use crate::distinct::Distinct;
use crate::links::{LinkGraph, Shared};
use crate::window::{Velocity, Window};
use crate::Millis;

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;

/// The features' names, in the order of [`Features::values`]: what a policy's conditions name.
pub const NAMES: &[&str] = &[
    "bookings_per_id_hour",
    "bookings_per_phone_hour",
    "bookings_per_device_hour",
    "bookings_per_ip_hour",
    "bookings_per_ip24_hour",
    "bookings_per_payment_account_day",
    "ids_per_account_day",
    "accounts_per_device_day",
    "accounts_per_phone_day",
    "accounts_per_payment_account_day",
    "ring_size",
    "ring_new_day",
    "ring_crowded",
    "no_shows_90d",
    "quick_refunds_30d",
    "cancellations_30d",
    "unpaid_orders_30d",
    "chargebacks_365d",
    "ms_page_to_submit",
    "ms_admission_to_submit",
    "skipped_pages",
    "client_inconsistent",
    "account_age_days",
    "tickets_in_request",
];

/// Who acts. Personal values arrive as blind indexes or keyed MACs (see `distinct::value_of`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub account: Option<u64>,
    pub phone: Option<u64>,
    /// The ID numbers the request names (a booking's visitors).
    pub id_numbers: Vec<u64>,
    pub device: Option<u64>,
    pub ip: Option<IpAddr>,
    pub payment_account: Option<u64>,
}

/// What happened (for [`Features::observe`]) or is about to (for an assessment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    SignIn,
    JoinQueue,
    /// A booking of this many tickets.
    Book {
        tickets: u32,
    },
    Pay,
    /// A refund; `soon` when it came shortly after buying.
    Refund {
        soon: bool,
    },
    CheckIn,
    NoShow,
    Cancel,
    Unpaid,
    Chargeback,
}

impl Happening {
    /// The event's name as callers give it (`book` whatever its tickets, `refund` however soon).
    pub fn name(self) -> &'static str {
        match self {
            Happening::SignIn => "sign_in",
            Happening::JoinQueue => "join_queue",
            Happening::Book { .. } => "book",
            Happening::Pay => "pay",
            Happening::Refund { .. } => "refund",
            Happening::CheckIn => "check_in",
            Happening::NoShow => "no_show",
            Happening::Cancel => "cancel",
            Happening::Unpaid => "unpaid",
            Happening::Chargeback => "chargeback",
        }
    }
}

/// The index of the feature called `name` in [`NAMES`].
pub fn index_of(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

/// Values by [`NAMES`]' order from named ones (a recorded decision's features); unknown names
/// are ignored, as a feature a later version dropped.
pub fn values_from_named<'a>(named: impl IntoIterator<Item = (&'a str, f64)>) -> Vec<Option<f64>> {
    let mut values = vec![None; NAMES.len()];
    for (name, value) in named {
        if let Some(slot) = index_of(name).and_then(|i| values.get_mut(i)) {
            *slot = Some(value);
        }
    }
    values
}

/// What the request itself shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Behaviour {
    pub ms_page_to_submit: Option<u64>,
    pub ms_admission_to_submit: Option<u64>,
    /// The pages before this one were not visited (a script posting directly).
    pub skipped_pages: Option<bool>,
    /// Traffic protection's client consistency check failed.
    pub client_inconsistent: Option<bool>,
    pub account_created_at: Option<Millis>,
}

/// How many keys each table holds, and how far a ring is explored.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub keys: usize,
    pub values_per_key: usize,
    pub links_per_node: usize,
    pub ring_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            keys: 1_000_000,
            values_per_key: 64,
            links_per_node: 64,
            ring_limit: 256,
        }
    }
}

/// The online state behind the features.
#[derive(Debug)]
pub struct Features {
    bookings_by_id: Velocity<u64>,
    bookings_by_phone: Velocity<u64>,
    bookings_by_device: Velocity<u64>,
    bookings_by_ip: Velocity<IpAddr>,
    bookings_by_ip24: Velocity<IpAddr>,
    bookings_by_payment: Velocity<u64>,
    ids_by_account: Distinct<u64>,
    accounts_by_device: Distinct<u64>,
    accounts_by_phone: Distinct<u64>,
    accounts_by_payment: Distinct<u64>,
    links: LinkGraph,
    no_shows: Velocity<u64>,
    quick_refunds: Velocity<u64>,
    cancellations: Velocity<u64>,
    unpaid: Velocity<u64>,
    chargebacks: Velocity<u64>,
    ring_limit: usize,
}

/// The /24 of an IPv4 address, the /64 of an IPv6 one.
fn prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::from(bits.to_be_bytes())
        }
    }
}

fn window(span_ms: Millis, buckets: u32) -> Window {
    Window { span_ms, buckets }
}

impl Features {
    pub fn new(limits: Limits) -> Self {
        let velocity = |span, buckets| Velocity::new(window(span, buckets), limits.keys);
        let distinct = |span, buckets| {
            Distinct::new(window(span, buckets), limits.values_per_key, limits.keys)
        };
        Self {
            bookings_by_id: velocity(HOUR, 12),
            bookings_by_phone: velocity(HOUR, 12),
            bookings_by_device: velocity(HOUR, 12),
            bookings_by_ip: Velocity::new(window(HOUR, 12), limits.keys),
            bookings_by_ip24: Velocity::new(window(HOUR, 12), limits.keys),
            bookings_by_payment: velocity(DAY, 24),
            ids_by_account: distinct(DAY, 24),
            accounts_by_device: distinct(DAY, 24),
            accounts_by_phone: distinct(DAY, 24),
            accounts_by_payment: distinct(DAY, 24),
            links: LinkGraph::new(limits.keys, limits.links_per_node),
            no_shows: velocity(90 * DAY, 90),
            quick_refunds: velocity(30 * DAY, 30),
            cancellations: velocity(30 * DAY, 30),
            unpaid: velocity(30 * DAY, 30),
            chargebacks: velocity(365 * DAY, 73),
            ring_limit: limits.ring_limit,
        }
    }

    /// Counts `what` by `who` at `at` into the features.
    pub fn observe(&mut self, who: &Subject, what: Happening, at: Millis) {
        if let Some(account) = who.account {
            let shared = [
                who.device.map(|d| (Shared::Device, d)),
                who.phone.map(|p| (Shared::Phone, p)),
                who.payment_account.map(|p| (Shared::PaymentAccount, p)),
            ];
            for attribute in shared.into_iter().flatten() {
                self.links.link(account, attribute, at);
            }
            if let Some(d) = who.device {
                self.accounts_by_device.add(d, account, at);
            }
            if let Some(p) = who.phone {
                self.accounts_by_phone.add(p, account, at);
            }
            if let Some(p) = who.payment_account {
                self.accounts_by_payment.add(p, account, at);
            }
        }
        match what {
            Happening::Book { .. } => {
                for &id in &who.id_numbers {
                    self.bookings_by_id.add(id, at, 1);
                    if let Some(account) = who.account {
                        self.ids_by_account.add(account, id, at);
                        self.links.link(account, (Shared::VisitorId, id), at);
                    }
                }
                if let Some(p) = who.phone {
                    self.bookings_by_phone.add(p, at, 1);
                }
                if let Some(d) = who.device {
                    self.bookings_by_device.add(d, at, 1);
                }
                if let Some(ip) = who.ip {
                    self.bookings_by_ip.add(ip, at, 1);
                    self.bookings_by_ip24.add(prefix(ip), at, 1);
                }
            }
            Happening::Pay => {
                if let Some(p) = who.payment_account {
                    self.bookings_by_payment.add(p, at, 1);
                }
            }
            Happening::Refund { soon: true } => self.history(who, at, |f| &mut f.quick_refunds),
            Happening::NoShow => self.history(who, at, |f| &mut f.no_shows),
            Happening::Cancel => self.history(who, at, |f| &mut f.cancellations),
            Happening::Unpaid => self.history(who, at, |f| &mut f.unpaid),
            Happening::Chargeback => self.history(who, at, |f| &mut f.chargebacks),
            Happening::Refund { soon: false }
            | Happening::SignIn
            | Happening::JoinQueue
            | Happening::CheckIn => {}
        }
    }

    fn history(&mut self, who: &Subject, at: Millis, table: fn(&mut Self) -> &mut Velocity<u64>) {
        if let Some(account) = who.account {
            table(self).add(account, at, 1);
        }
    }

    /// The features' values for `who` doing `what` now (by [`NAMES`]' order; none where the
    /// request does not say). Velocities count what was observed, not this request; distinct
    /// counts include the asker.
    pub fn values(
        &self,
        who: &Subject,
        what: Happening,
        behaviour: &Behaviour,
        at: Millis,
    ) -> Vec<Option<f64>> {
        let count = |n: u32| Some(f64::from(n));
        let many = |n: usize| Some(n as f64);
        let max_over = |v: &Velocity<u64>, keys: &[u64]| {
            keys.iter().map(|k| v.count(k, at)).max().map(f64::from)
        };
        let ring = who
            .account
            .map(|a| self.links.ring(a, at - DAY, self.ring_limit));
        let flag = |b: Option<bool>| b.map(|b| if b { 1.0 } else { 0.0 });
        // Distinct counts include the asking account (and its ID numbers): "how many accounts
        // use this device, this one among them".
        let asker = who.account.as_slice();
        let history = |v: &Velocity<u64>| who.account.map(|a| f64::from(v.count(&a, at)));
        vec![
            max_over(&self.bookings_by_id, &who.id_numbers),
            who.phone
                .and_then(|p| count(self.bookings_by_phone.count(&p, at))),
            who.device
                .and_then(|d| count(self.bookings_by_device.count(&d, at))),
            who.ip
                .and_then(|ip| count(self.bookings_by_ip.count(&ip, at))),
            who.ip
                .and_then(|ip| count(self.bookings_by_ip24.count(&prefix(ip), at))),
            who.payment_account
                .and_then(|p| count(self.bookings_by_payment.count(&p, at))),
            who.account.and_then(|a| {
                many(
                    self.ids_by_account
                        .count_with(&a, &who.id_numbers, at)
                        .count,
                )
            }),
            who.device
                .and_then(|d| many(self.accounts_by_device.count_with(&d, asker, at).count)),
            who.phone
                .and_then(|p| many(self.accounts_by_phone.count_with(&p, asker, at).count)),
            who.payment_account
                .and_then(|p| many(self.accounts_by_payment.count_with(&p, asker, at).count)),
            ring.as_ref().and_then(|r| many(r.size)),
            ring.as_ref().and_then(|r| many(r.new)),
            ring.as_ref().and_then(|r| many(r.crowded)),
            history(&self.no_shows),
            history(&self.quick_refunds),
            history(&self.cancellations),
            history(&self.unpaid),
            history(&self.chargebacks),
            behaviour.ms_page_to_submit.map(|ms| ms as f64),
            behaviour.ms_admission_to_submit.map(|ms| ms as f64),
            flag(behaviour.skipped_pages),
            flag(behaviour.client_inconsistent),
            behaviour
                .account_created_at
                .map(|t| ((at - t).max(0) / DAY) as f64),
            match what {
                Happening::Book { tickets } => count(tickets),
                _ => None,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn value(values: &[Option<f64>], name: &str) -> Option<f64> {
        let i = NAMES.iter().position(|n| *n == name).unwrap();
        values.get(i).copied().flatten()
    }

    #[test]
    fn each_feature_reads_its_own_table() {
        let mut f = Features::new(Limits {
            keys: 1_000,
            ..Limits::default()
        });
        let ip: IpAddr = "198.51.100.20".parse().unwrap();
        let who = |account: u64, ids: &[u64]| Subject {
            account: Some(account),
            phone: Some(7),
            id_numbers: ids.to_vec(),
            device: Some(70),
            ip: Some(ip),
            payment_account: Some(700),
        };
        f.observe(&who(1, &[11, 12]), Happening::Book { tickets: 2 }, 0);
        f.observe(&who(2, &[11]), Happening::Book { tickets: 1 }, 1_000);
        f.observe(&who(2, &[]), Happening::Pay, 2_000);
        f.observe(&who(2, &[]), Happening::Refund { soon: true }, 3_000);
        f.observe(&who(2, &[]), Happening::Refund { soon: false }, 3_000);
        f.observe(&who(2, &[]), Happening::NoShow, 3_000);
        f.observe(&who(2, &[]), Happening::Cancel, 3_000);
        f.observe(&who(2, &[]), Happening::Unpaid, 3_000);
        f.observe(&who(2, &[]), Happening::Chargeback, 3_000);
        let behaviour = Behaviour {
            ms_page_to_submit: Some(1_234),
            ms_admission_to_submit: Some(567),
            skipped_pages: Some(true),
            client_inconsistent: Some(false),
            account_created_at: Some(-3 * DAY),
        };
        let neighbour: IpAddr = "198.51.100.99".parse().unwrap();
        let asking = Subject {
            ip: Some(neighbour),
            ..who(2, &[11, 99])
        };
        let v = f.values(&asking, Happening::Book { tickets: 4 }, &behaviour, 4_000);
        assert_eq!(v.len(), NAMES.len());
        let expect = [
            ("bookings_per_id_hour", 2.0),
            ("bookings_per_phone_hour", 2.0),
            ("bookings_per_device_hour", 2.0),
            ("bookings_per_ip_hour", 0.0),
            ("bookings_per_ip24_hour", 2.0),
            ("bookings_per_payment_account_day", 1.0),
            ("ids_per_account_day", 2.0),
            ("accounts_per_device_day", 2.0),
            ("accounts_per_phone_day", 2.0),
            ("accounts_per_payment_account_day", 2.0),
            ("ring_size", 2.0),
            ("ring_new_day", 2.0),
            ("ring_crowded", 0.0),
            ("no_shows_90d", 1.0),
            ("quick_refunds_30d", 1.0),
            ("cancellations_30d", 1.0),
            ("unpaid_orders_30d", 1.0),
            ("chargebacks_365d", 1.0),
            ("ms_page_to_submit", 1_234.0),
            ("ms_admission_to_submit", 567.0),
            ("skipped_pages", 1.0),
            ("client_inconsistent", 0.0),
            ("account_age_days", 3.0),
            ("tickets_in_request", 4.0),
        ];
        assert_eq!(expect.len(), NAMES.len());
        for (name, want) in expect {
            assert_eq!(value(&v, name), Some(want), "{name}");
        }
        let nobody = f.values(
            &Subject::default(),
            Happening::SignIn,
            &Behaviour::default(),
            0,
        );
        assert!(
            nobody.iter().all(Option::is_none),
            "nothing known, nothing claimed"
        );
    }
}
