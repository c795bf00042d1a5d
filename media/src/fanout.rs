//! Fan-out of encoded access units: one encoder, many subscribers, bounded queues, lagging subscribers skip to
//! the next IDR.
//!
//! The encode thread owns a [`Fanout`] and calls [`Fanout::publish`] once per access unit; each subscriber has
//! a bounded tokio channel of [`SUBSCRIBER_QUEUE`] units, filled with `try_send` (never blocks the encoder). The
//! drop policy protects everyone else from one slow viewer:
//! - a full queue drops the unit, counts it, and puts that subscriber into *waiting for IDR*: sending it the
//!   next P frame would only show a corrupt picture, so it receives nothing until the next keyframe;
//! - a new subscriber starts in the same waiting state;
//! - whenever a subscriber starts waiting, [`Published::keyframe_wanted`] tells the encoder to ask its
//!   keyframe gate for an IDR (coalesced there with every other request).
//!
//! Memory stays bounded by `subscribers × SUBSCRIBER_QUEUE` shared `Arc`s: the bytes exist once.
//!
//! Each subscriber's [`SubscriberCounters`] also carry its bitrate wish, which the encode thread reads through
//! [`Fanout::desired_bitrates`] before each picture (the engine's `target` rules turn them into the encoder's
//! target).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::h264::AccessUnit;

/// Access units queued per subscriber: about 130 ms at 30 fps. Latency first: a viewer further behind than this
/// is better served by skipping to the next IDR than by playing stale pictures. Full → drop, count, wait for IDR.
pub const SUBSCRIBER_QUEUE: usize = 4;

/// Counters of one subscriber, shared between the encode thread and the subscription handle, and the bitrate it
/// wishes for (set by the subscriber, read by the encode thread).
#[derive(Debug, Default)]
pub struct SubscriberCounters {
    received: AtomicU64,
    dropped: AtomicU64,
    skipped: AtomicU64,
    waiting: AtomicBool,
    /// The wished bitrate in kbit/s; 0 = no wish.
    desired_kbps: AtomicU32,
}

impl SubscriberCounters {
    /// Sets (or with `None` withdraws) the bitrate this subscriber wishes for, kbit/s. `Some(0)` counts as the
    /// smallest wish, not as none.
    pub fn set_desired_kbps(&self, kbps: Option<u32>) {
        self.desired_kbps
            .store(kbps.map_or(0, |k| k.max(1)), Relaxed);
    }

    /// The bitrate this subscriber wishes for, kbit/s.
    pub fn desired_kbps(&self) -> Option<u32> {
        Some(self.desired_kbps.load(Relaxed)).filter(|&k| k > 0)
    }

    /// A snapshot of the counters.
    pub fn snapshot(&self) -> SubscriberStats {
        SubscriberStats {
            received: self.received.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            skipped_waiting_for_idr: self.skipped.load(Relaxed),
            waiting_for_idr: self.waiting.load(Relaxed),
        }
    }
}

/// What a subscriber got so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberStats {
    /// Access units queued for this subscriber.
    pub received: u64,
    /// Access units dropped because its queue was full.
    pub dropped: u64,
    /// Access units not sent while it waited for an IDR (after joining or lagging).
    pub skipped_waiting_for_idr: u64,
    /// Whether it currently waits for an IDR.
    pub waiting_for_idr: bool,
}

/// Outcome of one [`Fanout::publish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Subscribers the unit was queued for.
    pub delivered: usize,
    /// Subscribers whose queue was full (the unit was dropped for them).
    pub dropped: usize,
    /// Subscribers removed because their receiver is gone.
    pub closed: usize,
    /// A subscriber started waiting for an IDR: request a keyframe.
    pub keyframe_wanted: bool,
}

struct Slot {
    id: u64,
    tx: mpsc::Sender<Arc<AccessUnit>>,
    waiting: bool,
    counters: Arc<SubscriberCounters>,
}

/// The subscribers of one encoder.
#[derive(Default)]
pub struct Fanout {
    slots: Vec<Slot>,
    next_id: u64,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("subscribers", &self.slots.len())
            .finish()
    }
}

impl Fanout {
    /// No subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// A channel pair of the subscriber queue's size.
    pub fn channel() -> (
        mpsc::Sender<Arc<AccessUnit>>,
        mpsc::Receiver<Arc<AccessUnit>>,
    ) {
        mpsc::channel(SUBSCRIBER_QUEUE)
    }

    /// Adds a subscriber; it waits for the next IDR (the caller requests one). Returns its id.
    pub fn add(
        &mut self,
        tx: mpsc::Sender<Arc<AccessUnit>>,
        counters: Arc<SubscriberCounters>,
    ) -> u64 {
        self.next_id += 1;
        counters.waiting.store(true, Relaxed);
        self.slots.push(Slot {
            id: self.next_id,
            tx,
            waiting: true,
            counters,
        });
        self.next_id
    }

    /// Removes a subscriber; unknown ids are ignored.
    pub fn remove(&mut self, id: u64) {
        self.slots.retain(|s| s.id != id);
    }

    /// Number of subscribers.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there is no subscriber.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Each subscriber's bitrate wish (kbit/s), `None` for one without a wish.
    pub fn desired_bitrates(&self) -> impl Iterator<Item = Option<u32>> + '_ {
        self.slots.iter().map(|s| s.counters.desired_kbps())
    }

    /// Whether some subscriber waits for an IDR.
    pub fn any_waiting(&self) -> bool {
        self.slots.iter().any(|s| s.waiting)
    }

    /// Queues `au` for every subscriber that can take it, applying the drop policy described in the module docs.
    pub fn publish(&mut self, au: &Arc<AccessUnit>) -> Published {
        let mut out = Published::default();
        self.slots.retain_mut(|slot| {
            if slot.waiting && !au.keyframe {
                slot.counters.skipped.fetch_add(1, Relaxed);
                return !slot.tx.is_closed();
            }
            match slot.tx.try_send(Arc::clone(au)) {
                Ok(()) => {
                    slot.waiting = false;
                    slot.counters.waiting.store(false, Relaxed);
                    slot.counters.received.fetch_add(1, Relaxed);
                    out.delivered += 1;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    slot.waiting = true;
                    slot.counters.waiting.store(true, Relaxed);
                    slot.counters.dropped.fetch_add(1, Relaxed);
                    out.dropped += 1;
                    out.keyframe_wanted = true;
                    true
                }
                Err(TrySendError::Closed(_)) => {
                    out.closed += 1;
                    false
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;

    use super::*;

    fn au(seq: u64, keyframe: bool) -> Arc<AccessUnit> {
        Arc::new(AccessUnit {
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88]),
            keyframe,
            captured_at: SystemTime::now(),
            seq,
            width: 16,
            height: 16,
            encode_ms: 0.0,
        })
    }

    #[test]
    fn new_subscriber_waits_for_an_idr() {
        let mut f = Fanout::new();
        let (tx, mut rx) = Fanout::channel();
        let c = Arc::new(SubscriberCounters::default());
        f.add(tx, c.clone());
        assert!(f.any_waiting());
        assert_eq!(f.publish(&au(1, false)).delivered, 0);
        assert!(rx.try_recv().is_err());
        assert_eq!(f.publish(&au(2, true)).delivered, 1);
        assert_eq!(f.publish(&au(3, false)).delivered, 1);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        assert_eq!(rx.try_recv().unwrap().seq, 3);
        let s = c.snapshot();
        assert_eq!(
            (
                s.received,
                s.dropped,
                s.skipped_waiting_for_idr,
                s.waiting_for_idr
            ),
            (2, 0, 1, false)
        );
    }

    #[test]
    fn full_queue_drops_and_waits_for_the_next_idr_while_others_get_everything() {
        let mut f = Fanout::new();
        let (fast_tx, mut fast_rx) = Fanout::channel();
        let (slow_tx, mut slow_rx) = Fanout::channel();
        let slow = Arc::new(SubscriberCounters::default());
        f.add(fast_tx, Arc::default());
        f.add(slow_tx, slow.clone());
        let mut fast_got = Vec::new();
        let mut wanted = 0;
        for seq in 1..=20u64 {
            let p = f.publish(&au(seq, seq == 1 || seq == 12));
            wanted += usize::from(p.keyframe_wanted);
            // The fast one drains every time; the slow one never reads.
            while let Ok(a) = fast_rx.try_recv() {
                fast_got.push(a.seq);
            }
        }
        assert_eq!(fast_got, (1..=20).collect::<Vec<_>>());
        // Slow: units 1..=4 fill its queue, 5 is dropped (→ waiting, keyframe wanted), 6..=11 skipped,
        // 12 (IDR) dropped again as the queue is still full, 13..=20 skipped.
        let s = slow.snapshot();
        assert_eq!(s.received, SUBSCRIBER_QUEUE as u64);
        assert_eq!(s.dropped, 2);
        assert!(s.waiting_for_idr);
        assert_eq!(wanted, 2);
        // Once it drains, it resumes at the next IDR only.
        while slow_rx.try_recv().is_ok() {}
        assert_eq!(f.publish(&au(21, false)).delivered, 1);
        assert_eq!(f.publish(&au(22, true)).delivered, 2);
        assert_eq!(slow_rx.try_recv().unwrap().seq, 22);
    }

    #[test]
    fn closed_receivers_are_removed() {
        let mut f = Fanout::new();
        let (tx, rx) = Fanout::channel();
        let id = f.add(tx, Arc::default());
        drop(rx);
        assert_eq!(f.publish(&au(1, true)).closed, 1);
        assert!(f.is_empty());
        f.remove(id);
        let (tx, _rx) = Fanout::channel();
        let id = f.add(tx, Arc::default());
        f.remove(id);
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn each_subscriber_has_its_own_wish() {
        let mut f = Fanout::new();
        let (a, b) = (
            Arc::new(SubscriberCounters::default()),
            Arc::new(SubscriberCounters::default()),
        );
        let (tx, _rx_a) = Fanout::channel();
        f.add(tx, a.clone());
        assert_eq!(f.desired_bitrates().collect::<Vec<_>>(), [None]);
        a.set_desired_kbps(Some(1200));
        let (tx, _rx_b) = Fanout::channel();
        let id_b = f.add(tx, b.clone());
        b.set_desired_kbps(Some(0));
        assert_eq!(
            f.desired_bitrates().collect::<Vec<_>>(),
            [Some(1200), Some(1)]
        );
        f.remove(id_b);
        a.set_desired_kbps(None);
        assert_eq!(f.desired_bitrates().collect::<Vec<_>>(), [None]);
    }
}
