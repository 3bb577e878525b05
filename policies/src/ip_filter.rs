//! `ip-filter`: allow or deny clients by address or CIDR.

use std::net::IpAddr;

use ipnet::IpNet;
use sluice_codec::Headers;

use crate::Reject;

/// Compiled `ip-filter` options.
#[derive(Debug, Clone)]
pub struct IpFilter {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
    /// `true` for `mode: allow` (only `allow` passes); `false` for `mode: deny`.
    pub allow_mode: bool,
    /// Take the client from the first `X-Forwarded-For` hop instead of the socket peer.
    pub trust_forwarded: bool,
}

impl IpFilter {
    /// Request phase: `Err` with 403 `ip_denied` when the client may not pass.
    ///
    /// In deny mode an `allow` match overrides a `deny` match (an exception list);
    /// in allow mode only `allow` matches pass and `deny` still refuses inside them.
    pub fn on_request(&self, peer: IpAddr, headers: &Headers) -> Result<(), Reject> {
        let client = if self.trust_forwarded {
            forwarded_client(headers).unwrap_or(peer)
        } else {
            peer
        };
        let client = canonical(client);
        let allowed = self.allow.iter().any(|n| n.contains(&client));
        let denied = self.deny.iter().any(|n| n.contains(&client));
        let pass = if self.allow_mode {
            allowed && !denied
        } else {
            allowed || !denied
        };
        if pass {
            Ok(())
        } else {
            Err(Reject::new(
                403,
                "ip_denied",
                "Your IP address is not allowed",
            ))
        }
    }
}

/// The first hop of `X-Forwarded-For`, if it parses as an address.
pub fn forwarded_client(headers: &Headers) -> Option<IpAddr> {
    let value = headers.get_str("x-forwarded-for")?;
    let first = value.split(',').next()?.trim();
    first.parse().ok()
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are matched as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str], allow_mode: bool) -> IpFilter {
        IpFilter {
            allow: allow.iter().map(|s| s.parse().unwrap()).collect(),
            deny: deny.iter().map(|s| s.parse().unwrap()).collect(),
            allow_mode,
            trust_forwarded: false,
        }
    }

    #[test]
    fn deny_mode_with_exception() {
        let f = filter(&["10.0.0.5/32"], &["10.0.0.0/8"], false);
        let h = Headers::default();
        assert!(f.on_request("10.0.0.5".parse().unwrap(), &h).is_ok());
        assert_eq!(
            f.on_request("10.1.2.3".parse().unwrap(), &h)
                .unwrap_err()
                .code,
            "ip_denied"
        );
        assert!(f.on_request("192.168.1.1".parse().unwrap(), &h).is_ok());
    }

    #[test]
    fn allow_mode_v6_and_mapped() {
        let f = filter(&["2001:db8::/32", "127.0.0.0/8"], &[], true);
        let h = Headers::default();
        assert!(f.on_request("2001:db8::1".parse().unwrap(), &h).is_ok());
        assert!(f
            .on_request("::ffff:127.0.0.1".parse().unwrap(), &h)
            .is_ok());
        assert!(f.on_request("2001:db9::1".parse().unwrap(), &h).is_err());
    }

    #[test]
    fn forwarded_only_when_trusted() {
        let mut f = filter(&[], &["203.0.113.0/24"], false);
        let mut h = Headers::default();
        h.append("X-Forwarded-For", "203.0.113.9, 10.0.0.1");
        let peer = "127.0.0.1".parse().unwrap();
        assert!(f.on_request(peer, &h).is_ok());
        f.trust_forwarded = true;
        assert!(f.on_request(peer, &h).is_err());
    }
}
