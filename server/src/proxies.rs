//! The client's address behind reverse proxies (`--trusted-proxies`,
//! docs/hardening.md): only when the TCP peer is a trusted proxy is the
//! address taken from `X-Forwarded-For` — the rightmost entry that is not a
//! trusted proxy itself, since every proxy appends the address it saw and a
//! client can write anything to the left of that. Otherwise the header is
//! ignored.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), or one
/// address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) as the IPv4 ones they are.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network =
            canonical(address.parse::<IpAddr>().map_err(|_| {
                format!("{text:?} is not an address or network such as 10.0.0.0/8")
            })?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The trusted proxies of a server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// A comma-separated list, as `--trusted-proxies` takes it.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(address))
    }

    /// The client's address for a request from `peer` with these
    /// `X-Forwarded-For` values (in header order).
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded.flat_map(|value| value.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                // Something no proxy of ours wrote: trust nothing further left.
                return client;
            };
            client = canonical(address);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let ten = Cidr::from_str("10.0.0.0/8").expect("cidr");
        assert!(ten.contains(ip("10.200.3.4")));
        assert!(ten.contains(ip("::ffff:10.1.1.1")));
        assert!(!ten.contains(ip("11.0.0.1")));
        let one = Cidr::from_str("192.0.2.7").expect("one address");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = Cidr::from_str("2001:db8::/32").expect("cidr");
        assert!(v6.contains(ip("2001:db8:1::9")) && !v6.contains(ip("2001:db9::1")));
        assert!(
            Cidr::from_str("0.0.0.0/0")
                .expect("all")
                .contains(ip("203.0.113.1"))
        );
        for bad in ["10.0.0.0/33", "proxy", "10.0.0/8", "::/129", "10.0.0.0/x"] {
            assert!(Cidr::from_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_only_behind_a_trusted_peer() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").expect("list");
        let lb = ip("127.0.0.1");
        // Not from a trusted proxy: the header is ignored.
        assert_eq!(
            proxies.client(ip("198.51.100.9"), ["203.0.113.5"].into_iter()),
            ip("198.51.100.9")
        );
        // From the proxy: what it saw.
        assert_eq!(
            proxies.client(lb, ["203.0.113.5"].into_iter()),
            ip("203.0.113.5")
        );
        // A client's own entry to the left of what the proxy appended is not believed.
        assert_eq!(
            proxies.client(lb, ["1.2.3.4, 203.0.113.5"].into_iter()),
            ip("203.0.113.5")
        );
        // Through two of our proxies, over two header lines.
        assert_eq!(
            proxies.client(lb, ["1.2.3.4, 203.0.113.5", "10.0.0.2"].into_iter()),
            ip("203.0.113.5")
        );
        // Garbage stops the walk at the last hop believed.
        assert_eq!(proxies.client(lb, ["203.0.113.5, junk"].into_iter()), lb);
        // No header: the proxy itself.
        assert_eq!(proxies.client(lb, std::iter::empty()), lb);
        // Nothing trusted: always the peer.
        let none = TrustedProxies::default();
        assert_eq!(none.client(lb, ["203.0.113.5"].into_iter()), lb);
    }
}
