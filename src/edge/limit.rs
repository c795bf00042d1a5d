//! Connection admission: a global and a per-address cap on open TCP connections, each held by an RAII
//! [`ConnGuard`] that lives exactly as long as the socket (through TLS and through an HTTP upgrade to WebSocket).
//!
//! Addresses are counted by [`ip_key`]: an IPv4 address (also when it arrives IPv4-mapped on an IPv6 socket) on
//! its own, an IPv6 address by its /64 prefix — one host is normally given a whole /64, so counting single IPv6
//! addresses would let it open 2^64 times the limit.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use parking_lot::Mutex;

/// Why a connection was not admitted; [`Refusal::as_str`] is its diagnostics name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `limits.max_connections` connections are open.
    Total,
    /// `limits.max_connections_per_ip` connections from this address are open.
    PerIp,
}

impl Refusal {
    /// The name counted by `Diagnostics::refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Total => "max_connections",
            Self::PerIp => "max_connections_per_ip",
        }
    }
}

/// The open-connection counts. Cheap to clone (one shared table).
#[derive(Clone, Debug)]
pub struct ConnLimits {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

/// Every entry of `per_ip` counts at least one open connection, so the map never holds more than `max_total`
/// entries: it is bounded by the global limit.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnGuard {
    shared: Arc<Shared>,
    key: IpAddr,
}

impl ConnLimits {
    /// Limits of `max_total` connections in all and `max_per_ip` per address (both at least 1).
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                max_total: max_total.max(1),
                max_per_ip: max_per_ip.max(1),
                counts: Mutex::new(Counts::default()),
            }),
        }
    }

    /// Admits one connection from `ip`, or says which limit it would break.
    pub fn try_acquire(&self, ip: IpAddr) -> Result<ConnGuard, Refusal> {
        let key = ip_key(ip);
        let mut c = self.shared.counts.lock();
        if c.total >= self.shared.max_total {
            return Err(Refusal::Total);
        }
        let n = c.per_ip.entry(key).or_insert(0);
        if *n >= self.shared.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *n += 1;
        c.total += 1;
        Ok(ConnGuard {
            shared: self.shared.clone(),
            key,
        })
    }

    /// Open connections in all.
    pub fn open(&self) -> usize {
        self.shared.counts.lock().total
    }

    /// Open connections counted against `ip`'s limit.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let c = self.shared.counts.lock();
        c.per_ip.get(&ip_key(ip)).copied().unwrap_or(0)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.shared.counts.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.key);
            }
        }
    }
}

/// The address a connection is counted under: IPv4 as is (IPv4-mapped IPv6 unmapped), IPv6 by its /64.
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_per_ip_limit_refuses_only_that_address() {
        let l = ConnLimits::new(10, 2);
        let a1 = l.try_acquire(ip("10.0.0.1")).unwrap();
        let _a2 = l.try_acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(l.try_acquire(ip("10.0.0.1")).unwrap_err(), Refusal::PerIp);
        let _b = l.try_acquire(ip("10.0.0.2")).expect("another address");
        assert_eq!(l.open(), 3);
        drop(a1);
        let _a3 = l.try_acquire(ip("10.0.0.1")).expect("a place was freed");
        assert_eq!(l.open_from(ip("10.0.0.1")), 2);
    }

    #[test]
    fn the_global_limit_refuses_everyone_until_a_place_frees() {
        let l = ConnLimits::new(3, 2);
        let a = l.try_acquire(ip("10.0.0.1")).unwrap();
        let _b = l.try_acquire(ip("10.0.0.2")).unwrap();
        let _c = l.try_acquire(ip("10.0.0.3")).unwrap();
        assert_eq!(l.try_acquire(ip("10.0.0.4")).unwrap_err(), Refusal::Total);
        drop(a);
        let _d = l.try_acquire(ip("10.0.0.4")).expect("a place was freed");
        assert_eq!(l.open(), 3);
    }

    #[test]
    fn guards_leave_no_entries_behind() {
        let l = ConnLimits::new(100, 100);
        let guards: Vec<_> = (0..50)
            .map(|i| l.try_acquire(ip(&format!("10.0.1.{i}"))).unwrap())
            .collect();
        assert_eq!(l.open(), 50);
        drop(guards);
        assert_eq!(l.open(), 0);
        assert!(l.shared.counts.lock().per_ip.is_empty());
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let l = ConnLimits::new(10, 1);
        let _a = l.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            l.try_acquire(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Refusal::PerIp,
            "same /64"
        );
        let _b = l.try_acquire(ip("2001:db8:1:3::1")).expect("another /64");
        let _c = l.try_acquire(ip("192.0.2.7")).unwrap();
        assert_eq!(
            l.try_acquire(ip("::ffff:192.0.2.7")).unwrap_err(),
            Refusal::PerIp,
            "IPv4-mapped is the same address"
        );
    }
}
