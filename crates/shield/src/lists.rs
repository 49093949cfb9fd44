//! Block and allow lists, compiled for the verdict: addresses and networks by prefix length
//! (one hash lookup per distinct length in use), accounts and devices by exact key. Entries end
//! on the shield's monotonic clock. An allow entry wins over a block entry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::client_ip::canonical;

/// What a list entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListKey {
    /// An address (`prefix` 32 or 128) or a network; bits past the prefix are ignored.
    Network {
        addr: IpAddr,
        prefix: u8,
    },
    /// An account, by its id as text.
    Account(String),
    Device(String),
}

/// One entry as the shield uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRule {
    /// The stored entry's id, for the security event and the refusal's reference.
    pub id: i64,
    pub allow: bool,
    pub key: ListKey,
    pub reason: Arc<str>,
    /// When it stops applying, on the shield's clock.
    pub ends_us: Option<u64>,
}

/// What the lists say of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed<'a> {
    Allowed(&'a ListRule),
    Blocked(&'a ListRule),
}

/// Lists, ready for lookups.
#[derive(Debug, Default)]
pub struct Lists {
    rules: Vec<ListRule>,
    v4: HashMap<(u8, u32), Vec<usize>>,
    v6: HashMap<(u8, u128), Vec<usize>>,
    /// The prefix lengths in use, so a lookup masks the address once per length.
    v4_prefixes: Vec<u8>,
    v6_prefixes: Vec<u8>,
    accounts: HashMap<String, Vec<usize>>,
    devices: HashMap<String, Vec<usize>>,
}

fn v4_masked(bits: u32, prefix: u8) -> u32 {
    bits & u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn v6_masked(bits: u128, prefix: u8) -> u128 {
    bits & u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl Lists {
    pub fn new(rules: Vec<ListRule>) -> Self {
        let mut lists = Lists::default();
        for (i, rule) in rules.iter().enumerate() {
            match &rule.key {
                ListKey::Network { addr, prefix } => match canonical(*addr) {
                    IpAddr::V4(a) => {
                        let p = (*prefix).min(32);
                        lists
                            .v4
                            .entry((p, v4_masked(a.into(), p)))
                            .or_default()
                            .push(i);
                        lists.v4_prefixes.push(p);
                    }
                    IpAddr::V6(a) => {
                        let p = (*prefix).min(128);
                        lists
                            .v6
                            .entry((p, v6_masked(a.into(), p)))
                            .or_default()
                            .push(i);
                        lists.v6_prefixes.push(p);
                    }
                },
                ListKey::Account(a) => lists.accounts.entry(a.clone()).or_default().push(i),
                ListKey::Device(d) => lists.devices.entry(d.clone()).or_default().push(i),
            }
        }
        for p in [&mut lists.v4_prefixes, &mut lists.v6_prefixes] {
            p.sort_unstable_by(|a, b| b.cmp(a));
            p.dedup();
        }
        lists.rules = rules;
        lists
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The entry deciding a request from `client` (already canonical) naming `account` and
    /// `device`, at `now_us`: any allow entry in force wins; otherwise the first block entry.
    pub fn find(
        &self,
        client: IpAddr,
        account: Option<&str>,
        device: Option<&str>,
        now_us: u64,
    ) -> Option<Listed<'_>> {
        if self.rules.is_empty() {
            return None;
        }
        let mut blocked = None;
        match client {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                for p in &self.v4_prefixes {
                    let hits = self.v4.get(&(*p, v4_masked(bits, *p)));
                    if let Some(hit) = self.pick(hits, now_us, &mut blocked) {
                        return Some(hit);
                    }
                }
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                for p in &self.v6_prefixes {
                    let hits = self.v6.get(&(*p, v6_masked(bits, *p)));
                    if let Some(hit) = self.pick(hits, now_us, &mut blocked) {
                        return Some(hit);
                    }
                }
            }
        }
        if let Some(a) = account {
            if let Some(hit) = self.pick(self.accounts.get(a), now_us, &mut blocked) {
                return Some(hit);
            }
        }
        if let Some(d) = device {
            if let Some(hit) = self.pick(self.devices.get(d), now_us, &mut blocked) {
                return Some(hit);
            }
        }
        blocked.map(Listed::Blocked)
    }

    /// The entry deciding an account on its own (whatever address it comes from).
    pub fn find_account(&self, account: &str, now_us: u64) -> Option<Listed<'_>> {
        let mut blocked = None;
        self.pick(self.accounts.get(account), now_us, &mut blocked)
            .or(blocked.map(Listed::Blocked))
    }

    /// Among `hits`, an allow entry in force (returned), else the first block entry in force
    /// is kept in `blocked`.
    fn pick<'a>(
        &'a self,
        hits: Option<&Vec<usize>>,
        now_us: u64,
        blocked: &mut Option<&'a ListRule>,
    ) -> Option<Listed<'a>> {
        for rule in hits
            .into_iter()
            .flatten()
            .filter_map(|i| self.rules.get(*i))
        {
            if rule.ends_us.is_some_and(|end| end <= now_us) {
                continue;
            }
            if rule.allow {
                return Some(Listed::Allowed(rule));
            }
            if blocked.is_none() {
                *blocked = Some(rule);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, allow: bool, key: ListKey, ends_us: Option<u64>) -> ListRule {
        ListRule {
            id,
            allow,
            key,
            reason: "r".into(),
            ends_us,
        }
    }

    fn net(s: &str, prefix: u8) -> ListKey {
        ListKey::Network {
            addr: s.parse().unwrap(),
            prefix,
        }
    }

    fn ip(s: &str) -> IpAddr {
        canonical(s.parse().unwrap())
    }

    fn id_of(l: Option<Listed<'_>>) -> Option<(bool, i64)> {
        l.map(|l| match l {
            Listed::Allowed(r) => (true, r.id),
            Listed::Blocked(r) => (false, r.id),
        })
    }

    #[test]
    fn networks_match_every_address_inside_them_and_nothing_else() {
        let lists = Lists::new(vec![
            rule(1, false, net("198.51.100.0", 24), None),
            rule(2, false, net("2001:db8::", 32), None),
            rule(3, false, net("203.0.113.9", 32), None),
        ]);
        assert_eq!(
            id_of(lists.find(ip("198.51.100.200"), None, None, 0)),
            Some((false, 1))
        );
        assert_eq!(id_of(lists.find(ip("198.51.101.1"), None, None, 0)), None);
        assert_eq!(
            id_of(lists.find(ip("2001:db8:ffff::1"), None, None, 0)),
            Some((false, 2))
        );
        assert_eq!(id_of(lists.find(ip("2001:db9::1"), None, None, 0)), None);
        assert_eq!(
            id_of(lists.find(ip("::ffff:203.0.113.9"), None, None, 0)),
            Some((false, 3))
        );
        assert_eq!(id_of(lists.find(ip("203.0.113.10"), None, None, 0)), None);
    }

    #[test]
    fn accounts_and_devices_match_exactly() {
        let lists = Lists::new(vec![
            rule(1, false, ListKey::Account("42".into()), None),
            rule(2, false, ListKey::Device("farm-7".into()), None),
        ]);
        let anyone = ip("192.0.2.1");
        assert_eq!(
            id_of(lists.find(anyone, Some("42"), None, 0)),
            Some((false, 1))
        );
        assert_eq!(id_of(lists.find(anyone, Some("420"), None, 0)), None);
        assert_eq!(
            id_of(lists.find(anyone, None, Some("farm-7"), 0)),
            Some((false, 2))
        );
        assert_eq!(id_of(lists.find(anyone, None, Some("farm-8"), 0)), None);
        assert_eq!(id_of(lists.find_account("42", 0)), Some((false, 1)));
        assert_eq!(id_of(lists.find_account("43", 0)), None);
    }

    #[test]
    fn allow_wins_and_ended_entries_do_not_count() {
        let lists = Lists::new(vec![
            rule(1, false, net("10.0.0.0", 8), None),
            rule(2, true, net("10.1.2.0", 24), Some(100)),
            rule(3, true, ListKey::Account("7".into()), None),
        ]);
        assert_eq!(
            id_of(lists.find(ip("10.1.2.3"), None, None, 99)),
            Some((true, 2))
        );
        assert_eq!(
            id_of(lists.find(ip("10.1.2.3"), None, None, 100)),
            Some((false, 1)),
            "the allow entry ended"
        );
        assert_eq!(
            id_of(lists.find(ip("10.9.9.9"), Some("7"), None, 0)),
            Some((true, 3)),
            "an allowed account on a blocked network"
        );
    }

    #[test]
    fn empty_lists_find_nothing() {
        assert!(Lists::default()
            .find(ip("10.0.0.1"), Some("1"), Some("d"), 0)
            .is_none());
    }
}
