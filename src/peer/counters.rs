//! What the media task counts, shared lock-free with the adaptation loop and the stats task. A leaf of `peer/`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a frame from the feed was not sent to this viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// The peer is not connected yet (or no longer).
    NotConnected,
    /// Connected, but no keyframe sent yet (after joining or after a failed write).
    WaitingKeyframe,
}

impl SkipReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotConnected => "not_connected",
            SkipReason::WaitingKeyframe => "waiting_keyframe",
        }
    }
}

/// Counters the media task keeps for the stats task (lock-free; read and reported once per second).
#[derive(Debug, Default)]
pub(crate) struct MediaCounters {
    pub(crate) frames_sent: AtomicU64,
    /// Bytes of the access units sent (before packetization).
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) keyframes_sent: AtomicU64,
    pub(crate) packets_written: AtomicU64,
    pub(crate) skipped_not_connected: AtomicU64,
    pub(crate) skipped_waiting_keyframe: AtomicU64,
    pub(crate) write_failed: AtomicU64,
    /// Keyframe requests passed to the feed (join + PLI/FIR, after coalescing).
    pub(crate) keyframe_requests: AtomicU64,
}

impl MediaCounters {
    pub(crate) fn skip(&self, reason: SkipReason, n: u64) {
        if n == 0 {
            return;
        }
        match reason {
            SkipReason::NotConnected => &self.skipped_not_connected,
            SkipReason::WaitingKeyframe => &self.skipped_waiting_keyframe,
        }
        .fetch_add(n, Ordering::Relaxed);
    }
}
