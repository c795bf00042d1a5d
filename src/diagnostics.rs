//! Gateway-wide abuse diagnostics: what the edge refused and why, protocol violations by kind, rate-limit hits by
//! class, bans, and the cap on sockets that have not authenticated yet.
//!
//! The counters live in the monitor ([`sightline_monitor::AbuseCounters`]), so `/metrics` and the REST report
//! ([`crate::diagnostics_rest`]) read the same numbers. This module owns the
//! vocabulary: every name is mapped onto a fixed list ([`REFUSALS`], [`VIOLATIONS`], the rate-limit classes)
//! before it is counted, so no client-chosen key ever reaches a map. Per-connection figures (violations by
//! kind, rate-limited messages, the ban a connection earned) are in each connection's monitor counters.

use sightline_monitor::Monitor;

/// Why the edge refused a connection or request, as counted. Names outside this list are counted as `other`.
pub const REFUSALS: &[&str] = &[
    "max_connections",
    "max_connections_per_ip",
    "banned",
    "header_timeout",
    "header_too_large",
    "unauthenticated_cap",
    "tls_handshake",
    "origin",
    "host",
    "max_sessions",
    "mcp_quota",
    "other",
];

/// Protocol violations, as counted. Names outside this list are counted as `other`.
pub const VIOLATIONS: &[&str] = &[
    "frame_too_large",
    "message_too_large",
    "bad_utf8",
    "binary",
    "protocol",
    "bad_message",
    "unauthenticated",
    "idle",
    "other",
];

/// A copy of the counters, for REST and metrics.
pub type DiagnosticsSnapshot = sightline_monitor::AbuseSnapshot;

/// Gateway-wide counters: a handle on the monitor's [`AbuseCounters`](sightline_monitor::AbuseCounters).
#[derive(Debug, Clone)]
pub struct Diagnostics {
    monitor: Monitor,
}

fn known(list: &[&'static str], name: &str) -> &'static str {
    list.iter()
        .find(|k| **k == name)
        .copied()
        .unwrap_or("other")
}

impl Diagnostics {
    /// Counters kept in `monitor`.
    pub fn new(monitor: Monitor) -> Self {
        Self { monitor }
    }

    /// Counts a refusal (see [`REFUSALS`]).
    pub fn refused(&self, reason: &str) {
        self.monitor.abuse().refused(known(REFUSALS, reason));
    }

    /// Counts a protocol violation (see [`VIOLATIONS`]).
    pub fn violation(&self, kind: &str) {
        self.monitor.abuse().violation(known(VIOLATIONS, kind));
    }

    /// Counts a rate-limited message.
    pub fn rate_limited(&self, class: crate::ratelimit::Class) {
        self.monitor.abuse().rate_limited(class.as_str());
    }

    /// Counts a ban.
    pub fn banned(&self) {
        self.monitor.abuse().banned();
    }

    /// The counters now.
    pub fn snapshot(&self) -> DiagnosticsSnapshot {
        self.monitor.abuse().snapshot()
    }

    /// A place among the at most `max` sockets that have not authenticated yet (`[limits] max_unauthenticated`),
    /// held until the socket authenticates or ends; `None` when all are taken (the upgrade is then refused).
    pub fn admit_unauthenticated(&self, max: usize) -> Option<UnauthenticatedPermit> {
        self.monitor
            .abuse()
            .try_admit_unauthenticated(max)
            .then(|| UnauthenticatedPermit {
                monitor: self.monitor.clone(),
            })
    }
}

/// One socket's place among the unauthenticated ones; dropping it frees the place.
#[derive(Debug)]
pub struct UnauthenticatedPermit {
    monitor: Monitor,
}

impl Drop for UnauthenticatedPermit {
    fn drop(&mut self) {
        self.monitor.abuse().release_unauthenticated();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_counted_as_other_and_permits_free_their_place() {
        let d = Diagnostics::new(Monitor::new(Default::default()));
        d.refused("banned");
        d.refused("banned");
        d.refused("made-up");
        d.violation("bad_utf8");
        d.violation("never-heard-of");
        d.rate_limited(crate::ratelimit::Class::Motion);
        d.banned();
        let s = d.snapshot();
        assert_eq!(s.refused.get("banned"), Some(&2));
        assert_eq!(s.refused.get("other"), Some(&1));
        assert_eq!(s.violations.get("bad_utf8"), Some(&1));
        assert_eq!(s.violations.get("other"), Some(&1));
        assert_eq!(s.rate_limited.get("motion"), Some(&1));
        assert_eq!(s.bans, 1);

        let a = d.admit_unauthenticated(2).expect("first place");
        let b = d.admit_unauthenticated(2).expect("second place");
        assert!(d.admit_unauthenticated(2).is_none(), "the cap holds");
        assert_eq!(d.snapshot().unauthenticated_sockets, 2);
        drop(a);
        let c = d
            .admit_unauthenticated(2)
            .expect("a freed place is taken again");
        drop((b, c));
        assert_eq!(d.snapshot().unauthenticated_sockets, 0);
    }
}
