//! Gateway-wide abuse counters ([`AbuseCounters`]): what the edge refused and why, protocol violations by kind,
//! rate-limited messages by class, bans issued, and the sockets still waiting to authenticate.
//!
//! The monitor only counts: the gateway decides what is refused and names every key from its own fixed lists
//! (`&'static str`), so each map holds at most as many entries as the gateway has names, whatever clients send.
//! A leaf module: plain atomics and short locks, no other module of the crate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The counters. One per [`Monitor`](crate::Monitor), reached through [`Monitor::abuse`](crate::Monitor::abuse).
#[derive(Debug, Default)]
pub struct AbuseCounters {
    refused: Mutex<BTreeMap<&'static str, u64>>,
    violations: Mutex<BTreeMap<&'static str, u64>>,
    rate_limited: Mutex<BTreeMap<&'static str, u64>>,
    bans: AtomicU64,
    /// Sockets admitted by [`Self::try_admit_unauthenticated`] and not yet released: a gauge, not a count.
    unauthenticated: AtomicUsize,
}

/// A copy of the counters, for REST and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AbuseSnapshot {
    /// Connections and requests refused, by reason (`banned`, `origin`, `unauthenticated_cap`, …).
    pub refused: BTreeMap<String, u64>,
    /// Protocol violations, by kind (`frame_too_large`, `bad_utf8`, `binary`, …).
    pub violations: BTreeMap<String, u64>,
    /// Messages refused by a rate limit, by class (`motion`, `input`, `expensive`, `light`, …).
    pub rate_limited: BTreeMap<String, u64>,
    /// Bans issued since start.
    pub bans: u64,
    /// Sockets open now that have not authenticated yet.
    pub unauthenticated_sockets: u64,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    *map.lock().entry(key).or_default() += 1;
}

fn copy(map: &Mutex<BTreeMap<&'static str, u64>>) -> BTreeMap<String, u64> {
    map.lock()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect()
}

impl AbuseCounters {
    /// Counts a refused connection or request.
    pub fn refused(&self, reason: &'static str) {
        bump(&self.refused, reason);
    }

    /// Counts a protocol violation.
    pub fn violation(&self, kind: &'static str) {
        bump(&self.violations, kind);
    }

    /// Counts a message refused by a rate limit.
    pub fn rate_limited(&self, class: &'static str) {
        bump(&self.rate_limited, class);
    }

    /// Counts a ban.
    pub fn banned(&self) {
        self.bans.fetch_add(1, Ordering::Relaxed);
    }

    /// Admits one more unauthenticated socket unless `max` are already admitted. Every `true` must be matched by
    /// one [`Self::release_unauthenticated`].
    pub fn try_admit_unauthenticated(&self, max: usize) -> bool {
        self.unauthenticated
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Releases a socket admitted by [`Self::try_admit_unauthenticated`] (it authenticated or ended).
    pub fn release_unauthenticated(&self) {
        // Saturating: a release without an admission (a bug) must not wrap the gauge to a huge number.
        let _ = self
            .unauthenticated
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// The counters now.
    pub fn snapshot(&self) -> AbuseSnapshot {
        AbuseSnapshot {
            refused: copy(&self.refused),
            violations: copy(&self.violations),
            rate_limited: copy(&self.rate_limited),
            bans: self.bans.load(Ordering::Relaxed),
            unauthenticated_sockets: self.unauthenticated.load(Ordering::Acquire) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_key_and_the_unauthenticated_gauge_is_capped() {
        let a = AbuseCounters::default();
        a.refused("banned");
        a.refused("banned");
        a.violation("bad_utf8");
        a.rate_limited("motion");
        a.banned();
        assert!(a.try_admit_unauthenticated(2));
        assert!(a.try_admit_unauthenticated(2));
        assert!(!a.try_admit_unauthenticated(2), "the cap holds");
        let s = a.snapshot();
        assert_eq!(s.refused.get("banned"), Some(&2));
        assert_eq!(s.violations.get("bad_utf8"), Some(&1));
        assert_eq!(s.rate_limited.get("motion"), Some(&1));
        assert_eq!(s.bans, 1);
        assert_eq!(s.unauthenticated_sockets, 2);
        a.release_unauthenticated();
        assert!(
            a.try_admit_unauthenticated(2),
            "a released place is free again"
        );
        for _ in 0..5 {
            a.release_unauthenticated();
        }
        assert_eq!(a.snapshot().unauthenticated_sockets, 0, "never below zero");
    }
}
