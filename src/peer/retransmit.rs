//! `RetransmitGate`: decides which NACKed packets are worth retransmitting, before rtc-interceptor's NACK
//! responder (which resends every packet a NACK names that is still in its 1024-packet history) sees the NACK.
//!
//! Measured without it (Chromium behind a 1.5 Mbit/s `tbf` cap, tests/network_adapt.rs): the link dropped
//! packets, Chromium NACKed them, every retransmission queued in the pacer behind the media, Chromium NACKed
//! the same packets again after a round trip, and retransmissions took the whole link — 3.6 MB retransmitted
//! against 1.6 MB of media, 7–9 s of latency, under 2 fps decoded. A retransmission is only useful if it can
//! arrive before the receiver gives up on the frame, and only while it does not starve the media itself. So a
//! NACKed sequence number is passed on only when:
//! - the packet was written less than [`MAX_RETRANSMIT_AGE`] ago (older: the receiver has moved on or will ask
//!   for a keyframe; resending it only delays fresh media);
//! - it belongs to the current keyframe group (a packet from before the latest SPS/IDR cannot help decoding
//!   anything the receiver still needs; groups are counted, not compared by sequence number, which wraps);
//! - it was not already retransmitted in the last [`REPEAT_AFTER`] (a repeated NACK while the first resend is
//!   still in flight);
//! - the retransmission budget, [`BUDGET_SHARE`] of the path estimate (a token bucket, [`BUDGET_WINDOW`] deep),
//!   has room for it.
//!
//! It sits at [`RETRANSMIT_GATE_SLOT`], between the pacer (3000) and the NACK responder (4000): on the write leg
//! it sees every media packet the application wrote (sequence number, size, whether it starts a keyframe), on the
//! read leg every inbound NACK before the responder does. It counts NACK packets about our stream into
//! [`RtcpCounters::nack`] (so the count is what the receiver sent, not what was let through).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtc::interceptor::{Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

use super::congestion::PathEstimate;
use super::interceptor::RtcpCounters;

/// Between the pacer (3000) and the NACK responder (4000).
pub(crate) const RETRANSMIT_GATE_SLOT: usize = 3_500;
/// Oldest packet worth resending: Chromium asks for a keyframe when a frame stays incomplete for about a
/// second, and a resend arriving later than that only delays fresh media.
pub(crate) const MAX_RETRANSMIT_AGE: Duration = Duration::from_millis(1000);
/// A sequence number resent this recently is not resent again (its first resend is still in flight).
pub(crate) const REPEAT_AFTER: Duration = Duration::from_millis(250);
/// Share of the path estimate retransmissions may use.
pub(crate) const BUDGET_SHARE: f64 = 0.15;
/// Depth of the retransmission token bucket, as time at the budget rate (never under one full packet).
pub(crate) const BUDGET_WINDOW: Duration = Duration::from_millis(250);
/// Sent packets remembered (the NACK responder's own history is 1024 packets).
pub(crate) const HISTORY: usize = 1024;
/// The budget's bucket holds at least this (one full packet with headers), however slow the path.
const MIN_BUDGET_BYTES: f64 = 1500.0;

/// What the gate refused, by reason (read by the stats task).
#[derive(Debug, Default)]
pub(crate) struct RetransmitCounters {
    pub(crate) allowed: AtomicU64,
    pub(crate) too_old: AtomicU64,
    pub(crate) repeated: AtomicU64,
    pub(crate) over_budget: AtomicU64,
}

/// One written media packet.
#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    at: Instant,
    bytes: usize,
    /// The keyframe group it belongs to (counts keyframes written so far).
    group: u64,
    resent_at: Option<Instant>,
}

/// The decisions, without I/O (tested on virtual time).
#[derive(Debug)]
pub(crate) struct Gate {
    /// Written packets by `seq % HISTORY`: O(1) lookups, fixed memory, and a later packet with the same slot
    /// replaces an older one.
    sent: Vec<Option<Sent>>,
    /// Keyframes written so far: packets of an older group cannot help the receiver any more.
    group: u64,
    tokens: f64,
    refilled: Option<Instant>,
}

/// Why a NACKed sequence number was not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    TooOld,
    Repeated,
    OverBudget,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            sent: vec![None; HISTORY],
            group: 0,
            tokens: 0.0,
            refilled: None,
        }
    }

    fn slot(seq: u16) -> usize {
        usize::from(seq) % HISTORY
    }

    /// A packet was written. The NACK responder's resends come back through here with the sequence number of
    /// a packet already recorded: they are not new packets and change nothing.
    pub(crate) fn on_sent(&mut self, now: Instant, seq: u16, bytes: usize, starts_keyframe: bool) {
        let slot = &mut self.sent[Self::slot(seq)];
        if slot.is_some_and(|s| {
            s.seq == seq && now.saturating_duration_since(s.at) <= MAX_RETRANSMIT_AGE
        }) {
            return;
        }
        if starts_keyframe {
            self.group += 1;
        }
        *slot = Some(Sent {
            seq,
            at: now,
            bytes,
            group: self.group,
            resent_at: None,
        });
    }

    fn refill(&mut self, now: Instant, budget_bps: f64) {
        let rate = budget_bps / 8.0;
        // At least one full packet, so a slow path can still repair a loss now and then.
        let depth = (rate * BUDGET_WINDOW.as_secs_f64()).max(MIN_BUDGET_BYTES);
        self.tokens = match self.refilled {
            // The bucket starts full.
            None => depth,
            Some(at) => {
                (self.tokens + rate * now.saturating_duration_since(at).as_secs_f64()).min(depth)
            }
        };
        self.refilled = Some(now);
    }

    /// Whether to resend `seq` now, with `budget_bps` (infinite = no budget) for retransmissions.
    pub(crate) fn decide(
        &mut self,
        now: Instant,
        seq: u16,
        budget_bps: f64,
    ) -> Result<(), Refusal> {
        let group = self.group;
        let Some(sent) = self.sent[Self::slot(seq)].filter(|s| s.seq == seq) else {
            return Err(Refusal::TooOld);
        };
        if sent.group != group || now.saturating_duration_since(sent.at) > MAX_RETRANSMIT_AGE {
            return Err(Refusal::TooOld);
        }
        if sent
            .resent_at
            .is_some_and(|at| now.saturating_duration_since(at) < REPEAT_AFTER)
        {
            return Err(Refusal::Repeated);
        }
        if budget_bps.is_finite() {
            self.refill(now, budget_bps);
            let bytes = sent.bytes as f64;
            if self.tokens < bytes {
                return Err(Refusal::OverBudget);
            }
            self.tokens -= bytes;
        }
        if let Some(s) = self.sent[Self::slot(seq)].as_mut() {
            s.resent_at = Some(now);
        }
        Ok(())
    }
}

/// Whether an H.264 RTP payload starts a keyframe: our keyframes begin with SPS (+PPS) in a STAP-A, or an SPS
/// alone.
pub(crate) fn starts_keyframe(payload: &[u8]) -> bool {
    match payload.first().map(|b| b & 0x1f) {
        Some(7) => true,
        // STAP-A: 1-byte header, 2-byte size, then the first NAL's header.
        Some(24) => payload.get(3).is_some_and(|b| b & 0x1f == 7),
        _ => false,
    }
}

/// See the module docs.
pub(crate) struct RetransmitGate {
    ssrc: u32,
    gate: Gate,
    path: Arc<PathEstimate>,
    rtcp: Arc<RtcpCounters>,
    counters: Arc<RetransmitCounters>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl RetransmitGate {
    pub(crate) fn new(
        ssrc: u32,
        path: Arc<PathEstimate>,
        rtcp: Arc<RtcpCounters>,
        counters: Arc<RetransmitCounters>,
    ) -> Self {
        Self {
            ssrc,
            gate: Gate::new(),
            path,
            rtcp,
            counters,
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }

    pub(crate) fn slot() -> Slot {
        Slot::from(RETRANSMIT_GATE_SLOT)
    }

    /// The NACK with only the sequence numbers worth resending (`None` when none is).
    fn filter(&mut self, now: Instant, nack: &TransportLayerNack) -> Option<TransportLayerNack> {
        let budget = self.path.capped_bps() * BUDGET_SHARE;
        let mut keep = Vec::new();
        for seq in nack.nacks.iter().flat_map(|p| p.packet_list()) {
            let counter = match self.gate.decide(now, seq, budget) {
                Ok(()) => {
                    keep.push(seq);
                    &self.counters.allowed
                }
                Err(Refusal::TooOld) => &self.counters.too_old,
                Err(Refusal::Repeated) => &self.counters.repeated,
                Err(Refusal::OverBudget) => &self.counters.over_budget,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        (!keep.is_empty()).then(|| TransportLayerNack {
            sender_ssrc: nack.sender_ssrc,
            media_ssrc: nack.media_ssrc,
            nacks: nack_pairs_from_sequence_numbers(&keep),
        })
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RetransmitGate {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| {
                p.as_any()
                    .downcast_ref::<TransportLayerNack>()
                    .is_some_and(|n| n.media_ssrc == self.ssrc)
            })
        {
            let now = msg.now;
            let mut out: Vec<Box<dyn rtc::rtcp::Packet>> = Vec::with_capacity(packets.len());
            for p in packets {
                match p.as_any().downcast_ref::<TransportLayerNack>() {
                    Some(nack) if nack.media_ssrc == self.ssrc => {
                        self.rtcp.nack.fetch_add(1, Ordering::Relaxed);
                        if let Some(kept) = self.filter(now, nack) {
                            out.push(Box::new(kept));
                        }
                    }
                    _ => out.push(p.clone()),
                }
            }
            if out.is_empty() {
                // Nothing left for anyone after us (a compound of NACKs only, all refused).
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(out);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(rtp) = &msg.message.packet
            && rtp.header.ssrc == self.ssrc
        {
            self.gate.on_sent(
                msg.now,
                rtp.header.sequence_number,
                rtp.payload.len() + rtc::rtp::header::HEADER_LENGTH,
                starts_keyframe(&rtp.payload),
            );
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for RetransmitGate {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_BUDGET: f64 = f64::INFINITY;

    #[test]
    fn resends_fresh_packets_once_per_round_trip() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut g = Gate::new();
        for seq in 0..10u16 {
            g.on_sent(ms(u64::from(seq)), seq, 1200, seq == 0);
        }
        assert_eq!(g.decide(ms(50), 3, NO_BUDGET), Ok(()));
        assert_eq!(g.decide(ms(100), 3, NO_BUDGET), Err(Refusal::Repeated));
        assert_eq!(
            g.decide(ms(50 + 250), 3, NO_BUDGET),
            Ok(()),
            "a later NACK again"
        );
        assert_eq!(g.decide(ms(1200), 5, NO_BUDGET), Err(Refusal::TooOld));
        assert_eq!(
            g.decide(ms(60), 500, NO_BUDGET),
            Err(Refusal::TooOld),
            "never sent"
        );
    }

    #[test]
    fn packets_before_the_latest_keyframe_are_not_resent() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        for seq in 65_530..=65_535u16 {
            g.on_sent(t0, seq, 1200, false);
        }
        // A keyframe starts at 2 (after the sequence wrapped).
        for seq in 0..5u16 {
            g.on_sent(t0, seq, 1200, seq == 2);
        }
        assert_eq!(g.decide(t0, 65_534, NO_BUDGET), Err(Refusal::TooOld));
        assert_eq!(g.decide(t0, 1, NO_BUDGET), Err(Refusal::TooOld));
        assert_eq!(g.decide(t0, 2, NO_BUDGET), Ok(()));
        assert_eq!(g.decide(t0, 4, NO_BUDGET), Ok(()));
    }

    #[test]
    fn the_budget_bounds_retransmissions_to_a_share_of_the_estimate() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        for seq in 0..1000u16 {
            g.on_sent(t0, seq, 1200, seq == 0);
        }
        // 1.5 Mbit/s estimate: 225 kbit/s of budget, a 250 ms bucket holds ~7 KB: 5 packets of 1200 B.
        let budget = 1_500_000.0 * BUDGET_SHARE;
        let allowed = (0..100u16)
            .filter(|&s| g.decide(t0, s, budget).is_ok())
            .count();
        assert_eq!(allowed, 5);
        // A second later the bucket is full again, not more.
        let later = t0 + Duration::from_millis(900);
        let allowed = (100..200u16)
            .filter(|&s| g.decide(later, s, budget).is_ok())
            .count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn history_is_bounded_and_resends_are_not_new_packets() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        for seq in 0..(HISTORY as u16 * 3) {
            g.on_sent(t0, seq, 100, false);
        }
        assert_eq!(g.sent.len(), HISTORY);
        assert_eq!(g.decide(t0, 0, NO_BUDGET), Err(Refusal::TooOld));
        let last = HISTORY as u16 * 3 - 1;
        assert_eq!(g.decide(t0, last, NO_BUDGET), Ok(()));
        // The responder's resend passes back through the write leg: still the same packet, still just resent.
        g.on_sent(t0 + Duration::from_millis(10), last, 100, false);
        assert_eq!(
            g.decide(t0 + Duration::from_millis(20), last, NO_BUDGET),
            Err(Refusal::Repeated)
        );
    }

    #[test]
    fn a_long_keyframe_group_survives_sequence_wraparound() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        g.on_sent(t0, 100, 1200, true);
        // 40 000 packets later (past half the sequence space), still the same group.
        let mut seq = 100u16;
        for _ in 0..40_000 {
            seq = seq.wrapping_add(1);
            g.on_sent(t0, seq, 1200, false);
        }
        assert_eq!(g.decide(t0, seq, NO_BUDGET), Ok(()));
    }

    #[test]
    fn a_slow_path_still_gets_an_occasional_resend() {
        let t0 = Instant::now();
        let mut g = Gate::new();
        for seq in 0..10u16 {
            g.on_sent(t0, seq, 1212, seq == 0);
        }
        // 200 kbit/s estimate: 30 kbit/s of budget, under a packet per window, yet one fits.
        assert_eq!(g.decide(t0, 3, 200_000.0 * BUDGET_SHARE), Ok(()));
        assert_eq!(
            g.decide(t0, 4, 200_000.0 * BUDGET_SHARE),
            Err(Refusal::OverBudget)
        );
    }

    #[test]
    fn recognises_keyframe_starts() {
        assert!(starts_keyframe(&[0x67, 0x42]));
        assert!(starts_keyframe(&[0x78, 0x00, 0x0a, 0x67, 0x42]));
        assert!(!starts_keyframe(&[0x78, 0x00, 0x0a, 0x68]));
        assert!(!starts_keyframe(&[0x7c, 0x85]), "FU-A");
        assert!(!starts_keyframe(&[]));
    }
}
