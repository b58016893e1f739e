//! The client's address behind trusted proxies (`auth.trusted_proxies`): a request whose TCP
//! peer is a listed proxy is from the last address of its `X-Forwarded-For` that is not itself
//! a listed proxy (what nginx's `real_ip_recursive` does). Without the list, every client behind
//! a proxy would share the proxy's address, and one client's failed key checks would lock all of
//! them out; with it, a client cannot choose its address by sending the header itself, since only
//! what trusted proxies appended is read.

use std::net::IpAddr;

/// Addresses and networks (`10.0.0.0/8`, `::1`) of proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses `auth.trusted_proxies`; an entry that is not an address or `address/prefix` is
    /// named in the error.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let networks = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                parse_network(entry).ok_or_else(|| {
                    format!(
                        "auth.trusted_proxies[{i}]: {:?} is not an IP address or network (192.0.2.1, 10.0.0.0/8, ::1)",
                        crate::error::truncated(entry, crate::error::MAX_ECHOED_CHARS)
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|&(network, prefix)| in_network(ip, network, prefix))
    }

    /// The client's address: `peer`, or, when `peer` is trusted, the last address of the
    /// `X-Forwarded-For` values (in header order) that is not trusted; a malformed entry stops
    /// the walk at the hop before it.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        let mut client = canonical(peer);
        if self.networks.is_empty() || !self.contains(client) {
            return client;
        }
        let mut hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
        while let Some(hop) = hops.pop() {
            let Ok(address) = hop.trim().parse::<IpAddr>() else { break };
            client = canonical(address);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4-mapped IPv6 address as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn parse_network(entry: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match entry.trim().split_once('/') {
        Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
        None => (entry.trim().parse::<IpAddr>().ok()?, None),
    };
    // An IPv4-mapped network (`::ffff:10.0.0.0/104`) as IPv4, like the addresses it is
    // compared with.
    let (address, prefix) = match (address, canonical(address)) {
        (IpAddr::V6(_), IpAddr::V4(v4)) => (IpAddr::V4(v4), prefix.map(|p| p.checked_sub(96)).unwrap_or(Some(32))?),
        (address, _) => (address, prefix.unwrap_or(if address.is_ipv4() { 32 } else { 128 })),
    };
    let bits = if address.is_ipv4() { 32 } else { 128 };
    (prefix <= bits).then_some((address, prefix))
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            ip.to_bits() & mask == network.to_bits() & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            ip.to_bits() & mask == network.to_bits() & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let trusted = proxies(&["10.0.0.0/8", "::1", "2001:db8::/32", "192.0.2.7"]);
        for yes in ["10.1.2.3", "::1", "2001:db8:5::1", "192.0.2.7", "::ffff:10.9.9.9"] {
            assert!(trusted.contains(ip(yes)), "{yes}");
        }
        for no in ["11.0.0.1", "::2", "2001:db9::1", "192.0.2.8", "127.0.0.1"] {
            assert!(!trusted.contains(ip(no)), "{no}");
        }
        assert!(proxies(&["0.0.0.0/0"]).contains(ip("203.0.113.9")));
        assert!(proxies(&["::ffff:10.0.0.0/104"]).contains(ip("10.200.0.1")));
        assert!(!proxies(&["::ffff:10.0.0.0/104"]).contains(ip("11.0.0.1")));
        for bad in ["10.0.0.0/33", "localhost", "10.0.0/8", "::/129", "", "::ffff:10.0.0.0/64"] {
            let err = TrustedProxies::parse(&[bad.to_owned()]).unwrap_err();
            assert!(err.contains("auth.trusted_proxies[0]"), "{err}");
        }
    }

    /// A bad entry in the settings is refused naming it.
    #[test]
    fn settings_name_a_bad_proxy() {
        let mut settings = serde_json::to_value(crate::settings::Settings::default_settings()).unwrap();
        settings["auth"]["trusted_proxies"] = serde_json::json!(["127.0.0.1", "10.0.0.0/40"]);
        let err = crate::settings::Settings::from_json(&settings.to_string()).unwrap_err().to_string();
        assert!(err.contains("auth.trusted_proxies[1]") && err.contains("10.0.0.0/40"), "{err}");
        settings["auth"]["trusted_proxies"] = serde_json::json!(["127.0.0.1", "10.0.0.0/8"]);
        assert!(crate::settings::Settings::from_json(&settings.to_string()).is_ok());
    }

    /// The last untrusted hop is the client; a client's own header before it is ignored; an
    /// untrusted peer's header is never read.
    #[test]
    fn the_client_is_the_last_untrusted_hop() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        assert_eq!(trusted.client(peer, ["198.51.100.1, 203.0.113.5", "10.0.0.2"].into_iter()), ip("203.0.113.5"));
        assert_eq!(trusted.client(peer, std::iter::empty()), peer);
        assert_eq!(trusted.client(peer, ["10.0.0.3"].into_iter()), ip("10.0.0.3"), "only proxies: the first");
        assert_eq!(trusted.client(peer, ["203.0.113.5, garbage, 10.0.0.2"].into_iter()), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("203.0.113.9"), ["198.51.100.1"].into_iter()), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client(peer, ["198.51.100.1"].into_iter()), peer);
    }
}
