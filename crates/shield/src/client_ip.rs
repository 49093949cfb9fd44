//! Who the client is, as far as the network can say: its address, taken from `X-Forwarded-For`
//! only through hops the policy trusts, and the network prefix it sits in (IPv4 /24, IPv6 /64).
//! A prefix is the better rate-limit key: one host can mint addresses inside its prefix freely
//! (IPv6 especially), not prefixes.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` hops are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the
    /// `X-Forwarded-For` hops are walked from the right (the hop our proxy added) past every
    /// trusted proxy, and the first untrusted address is the client. A malformed hop stops the
    /// walk at the last address we could trust the origin of. Headers from untrusted peers are
    /// ignored entirely: anyone can write one.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for header in forwarded_for.iter().rev() {
            for hop in header.rsplit(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => {
                        client = canonical(ip);
                        if !self.trusts(client) {
                            return client;
                        }
                    }
                    Err(_) => return client,
                }
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, as dual-stack sockets report IPv4 peers) are
/// the IPv4 address: one client must not get two keys.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The key of an address's network: its IPv4 /24 or IPv6 /64, as 9 bytes (a family tag and the
/// prefix bits).
pub fn prefix_key(ip: IpAddr) -> [u8; 9] {
    let mut key = [0u8; 9];
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            key[0] = 4;
            key[1] = a;
            key[2] = b;
            key[3] = c;
        }
        IpAddr::V6(v6) => {
            key[0] = 6;
            for (k, o) in key.iter_mut().skip(1).zip(v6.octets()) {
                *k = o;
            }
        }
    }
    key
}

/// An address's own key, 17 bytes (a family tag and the address).
pub fn address_key(ip: IpAddr) -> [u8; 17] {
    let mut key = [0u8; 17];
    match canonical(ip) {
        IpAddr::V4(v4) => {
            key[0] = 4;
            for (k, o) in key.iter_mut().skip(1).zip(v4.octets()) {
                *k = o;
            }
        }
        IpAddr::V6(v6) => {
            key[0] = 6;
            for (k, o) in key.iter_mut().skip(1).zip(v6.octets()) {
                *k = o;
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    #[test]
    fn forwarded_hops_are_believed_only_from_trusted_proxies() {
        let none = proxies(&[]);
        assert_eq!(
            none.client_ip(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9"),
            "an untrusted peer's header is ignored"
        );
        let lb = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            lb.client_ip(ip("10.1.1.1"), &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // A client forging hops to the left of the real one does not move the answer.
        assert_eq!(
            lb.client_ip(ip("10.1.1.1"), &["6.6.6.6, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Two trusted proxies in a row.
        assert_eq!(
            lb.client_ip(ip("10.1.1.1"), &["198.51.100.7, 10.2.2.2"]),
            ip("198.51.100.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            lb.client_ip(ip("10.1.1.1"), &["6.6.6.6", "198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last hop we trust the origin of.
        assert_eq!(lb.client_ip(ip("10.1.1.1"), &["nonsense"]), ip("10.1.1.1"));
        assert_eq!(
            lb.client_ip(ip("10.1.1.1"), &["198.51.100.7, junk, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        // Only trusted hops all the way: the leftmost we saw.
        assert_eq!(lb.client_ip(ip("10.1.1.1"), &["10.3.3.3"]), ip("10.3.3.3"));
        assert_eq!(lb.client_ip(ip("10.1.1.1"), &[]), ip("10.1.1.1"));
    }

    #[test]
    fn mapped_addresses_and_prefixes_share_keys() {
        assert_eq!(canonical(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(prefix_key(ip("1.2.3.4")), prefix_key(ip("1.2.3.200")));
        assert_ne!(prefix_key(ip("1.2.3.4")), prefix_key(ip("1.2.4.4")));
        assert_eq!(
            prefix_key(ip("2001:db8:1:2::1")),
            prefix_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            prefix_key(ip("2001:db8:1:2::1")),
            prefix_key(ip("2001:db8:1:3::1"))
        );
        assert_ne!(address_key(ip("1.2.3.4")), address_key(ip("1.2.3.5")));
        assert_eq!(
            address_key(ip("::ffff:1.2.3.4")),
            address_key(ip("1.2.3.4"))
        );
        // IPv4 and IPv6 keys never collide.
        assert_ne!(prefix_key(ip("0.0.0.0")), prefix_key(ip("::")));
    }
}
