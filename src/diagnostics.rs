//! Gateway-wide abuse diagnostics: what the edge refused and why, protocol violations by kind, rate-limit hits by
//! class, bans. Plain atomic counters keyed by a fixed set of names (no client-chosen keys, so the set is
//! bounded); per-connection figures live in each connection's monitor counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

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

/// Gateway-wide counters.
#[derive(Debug, Default)]
pub struct Diagnostics {
    refused: Mutex<BTreeMap<&'static str, u64>>,
    violations: Mutex<BTreeMap<&'static str, u64>>,
    rate_limited: Mutex<BTreeMap<&'static str, u64>>,
    bans: AtomicU64,
}

/// A copy of the counters, for REST and metrics.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DiagnosticsSnapshot {
    /// Refusals by reason.
    pub refused: BTreeMap<String, u64>,
    /// Protocol violations by kind.
    pub violations: BTreeMap<String, u64>,
    /// Rate-limit hits by class.
    pub rate_limited: BTreeMap<String, u64>,
    /// Bans issued.
    pub bans: u64,
}

fn known(list: &[&'static str], name: &str) -> &'static str {
    list.iter()
        .find(|k| **k == name)
        .copied()
        .unwrap_or("other")
}

impl Diagnostics {
    /// Counts a refusal (see [`REFUSALS`]).
    pub fn refused(&self, reason: &str) {
        *self.refused.lock().entry(known(REFUSALS, reason)).or_default() += 1;
    }

    /// Counts a protocol violation (see [`VIOLATIONS`]).
    pub fn violation(&self, kind: &str) {
        *self.violations.lock().entry(known(VIOLATIONS, kind)).or_default() += 1;
    }

    /// Counts a rate-limited message.
    pub fn rate_limited(&self, class: crate::ratelimit::Class) {
        *self.rate_limited.lock().entry(class.as_str()).or_default() += 1;
    }

    /// Counts a ban.
    pub fn banned(&self) {
        self.bans.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> DiagnosticsSnapshot {
        let copy = |m: &Mutex<BTreeMap<&'static str, u64>>| {
            m.lock()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect()
        };
        DiagnosticsSnapshot {
            refused: copy(&self.refused),
            violations: copy(&self.violations),
            rate_limited: copy(&self.rate_limited),
            bans: self.bans.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_counted_as_other() {
        let d = Diagnostics::default();
        d.refused("banned");
        d.refused("banned");
        d.refused("made-up");
        d.violation("bad_utf8");
        d.rate_limited(crate::ratelimit::Class::Motion);
        d.banned();
        let s = d.snapshot();
        assert_eq!(s.refused.get("banned"), Some(&2));
        assert_eq!(s.refused.get("other"), Some(&1));
        assert_eq!(s.violations.get("bad_utf8"), Some(&1));
        assert_eq!(s.rate_limited.get("motion"), Some(&1));
        assert_eq!(s.bans, 1);
    }
}
