//! `KeyframeRequestForwarder`: lets inbound PLI and FIR reach the application, and counts the receiver's
//! feedback.
//!
//! webrtc-rs 0.21 ends the inbound RTCP path at the end of the interceptor chain, so on a default chain a
//! receiver's keyframe request never reaches the code that can answer it. This interceptor
//! sits application-most, after every interceptor has read the RTCP it needs (NACK responder, reports), keeps
//! only PLI and FIR and marks them [`Attribute::DeliverToApplication`]; webrtc-rs then hands them to the local
//! track as `TrackLocalEvent::OnRtcpPacket`. Modelled on webrtc-rs's `examples/rtcp-processing`.
//!
//! It also counts what the receiver reports about our stream into [`RtcpCounters`]: NACK, PLI and FIR
//! packets, and from receiver reports the cumulative loss, the jitter and the round-trip time (RFC 3550
//! §6.4.1: arrival time − LSR − DLSR). webrtc-rs 0.21.1 has the accumulators for these in its outbound stream
//! statistics but never feeds them inbound RTCP (its `process_read_rtcp_for_stats` has no caller), so
//! `get_stats` reports them as zero; this is the one place every inbound RTCP packet passes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::time::SystemInstant;

/// Application-most slot (the named slots end at `JitterBuffer` = 13 000).
pub(crate) const KEYFRAME_FORWARDER_SLOT: usize = 14_000;

/// What the receiver told us about our stream, counted from inbound RTCP (lock-free; read by the stats task).
#[derive(Debug, Default)]
pub(crate) struct RtcpCounters {
    pub(crate) nack: AtomicU64,
    pub(crate) pli: AtomicU64,
    pub(crate) fir: AtomicU64,
    /// Reception report blocks about our SSRC.
    pub(crate) reports: AtomicU64,
    /// Latest cumulative number of packets lost, as reported.
    pub(crate) packets_lost: AtomicU64,
    /// Latest fraction lost since the previous report, in 1/256 (RFC 3550 §6.4.1).
    pub(crate) fraction_lost: AtomicU64,
    /// Latest interarrival jitter, in RTP clock ticks (90 kHz).
    pub(crate) jitter_ticks: AtomicU64,
    /// Latest round-trip time in microseconds; 0 until measured.
    pub(crate) rtt_us: AtomicU64,
}

/// See the module docs.
pub(crate) struct KeyframeRequestForwarder {
    /// The SSRC of our video stream: report blocks about other SSRCs (e.g. RTX) are not counted.
    ssrc: u32,
    counters: Arc<RtcpCounters>,
    /// Packets handed in by `handle_read`, drained by `poll_read` in the same chain walk.
    read_queue: VecDeque<TaggedPacket>,
    /// Same for the write direction (pass-through).
    write_queue: VecDeque<TaggedPacket>,
}

impl KeyframeRequestForwarder {
    pub(crate) fn new(ssrc: u32, counters: Arc<RtcpCounters>) -> Self {
        Self {
            ssrc,
            counters,
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }

    pub(crate) fn slot() -> Slot {
        Slot::from(KEYFRAME_FORWARDER_SLOT)
    }

    fn count(&self, packet: &dyn rtc::rtcp::Packet) {
        let any = packet.as_any();
        let c = &self.counters;
        // NACKs are counted by the retransmission gate, which may remove them before they get here.
        if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            if pli.media_ssrc == self.ssrc {
                c.pli.fetch_add(1, Ordering::Relaxed);
            }
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            if fir.fir.iter().any(|e| e.ssrc == self.ssrc) {
                c.fir.fetch_add(1, Ordering::Relaxed);
            }
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            self.count_reports(&rr.reports);
        } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
            self.count_reports(&sr.reports);
        }
    }

    fn count_reports(&self, reports: &[ReceptionReport]) {
        let c = &self.counters;
        for r in reports.iter().filter(|r| r.ssrc == self.ssrc) {
            c.reports.fetch_add(1, Ordering::Relaxed);
            c.packets_lost
                .store(u64::from(r.total_lost), Ordering::Relaxed);
            c.fraction_lost
                .store(u64::from(r.fraction_lost), Ordering::Relaxed);
            c.jitter_ticks.store(u64::from(r.jitter), Ordering::Relaxed);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            if let Some(rtt) =
                rtt_from_report(SystemInstant::unix2ntp(now), r.last_sender_report, r.delay)
            {
                c.rtt_us
                    .store((rtt.as_micros() as u64).max(1), Ordering::Relaxed);
            }
        }
    }
}

/// Round-trip time from a reception report (RFC 3550 §6.4.1): `now − LSR − DLSR`, all in the middle 32 bits
/// of NTP time (1/65536 s). `None` before the receiver has seen a sender report (LSR 0) or when the result
/// is negative (clock steps).
pub(crate) fn rtt_from_report(now_ntp: u64, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let now = ((now_ntp >> 16) & 0xFFFF_FFFF) as u32;
    let rtt = now.wrapping_sub(lsr).wrapping_sub(dlsr);
    if rtt >= 0x8000_0000 {
        return None;
    }
    Some(Duration::from_nanos(
        u64::from(rtt) * 1_000_000_000 / 65_536,
    ))
}

/// The kind of keyframe request an RTCP packet is, if it is one.
pub(crate) fn keyframe_request_kind(packet: &dyn rtc::rtcp::Packet) -> Option<KeyframeRequest> {
    let any = packet.as_any();
    if any.is::<PictureLossIndication>() {
        Some(KeyframeRequest::Pli)
    } else if any.is::<FullIntraRequest>() {
        Some(KeyframeRequest::Fir)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyframeRequest {
    Pli,
    Fir,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                self.count(p.as_ref());
            }
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| keyframe_request_kind(p.as_ref()).is_some())
                .cloned()
                .collect();
            if requests.is_empty() {
                // The interceptors before us have already acted on it; it is not the application's business.
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_from_lsr_and_dlsr() {
        // SR sent at NTP middle-32 = 0x0001_0000 (1 s); receiver held it 0.25 s; now = 1.3 s → RTT 50 ms.
        let now_ntp = (0x0001_4CCC_u64) << 16;
        let rtt = rtt_from_report(now_ntp, 0x0001_0000, 0x4000).unwrap();
        assert!((rtt.as_secs_f64() - 0.05).abs() < 0.001, "{rtt:?}");
        assert_eq!(rtt_from_report(now_ntp, 0, 0x4000), None);
        // Negative (receiver clock oddities): no sample rather than a huge one.
        assert_eq!(rtt_from_report(now_ntp, 0x0002_0000, 0), None);
    }

    #[test]
    fn counts_feedback_about_our_stream_only() {
        let counters = Arc::new(RtcpCounters::default());
        let f = KeyframeRequestForwarder::new(7, counters.clone());
        f.count(&PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 7,
        });
        f.count(&PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 8,
        });
        f.count(&ReceiverReport {
            ssrc: 1,
            reports: vec![
                ReceptionReport {
                    ssrc: 7,
                    total_lost: 3,
                    jitter: 90,
                    ..Default::default()
                },
                ReceptionReport {
                    ssrc: 9,
                    total_lost: 100,
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
        assert_eq!(counters.pli.load(Ordering::Relaxed), 1);
        assert_eq!(counters.reports.load(Ordering::Relaxed), 1);
        assert_eq!(counters.packets_lost.load(Ordering::Relaxed), 3);
        assert_eq!(counters.jitter_ticks.load(Ordering::Relaxed), 90);
        assert_eq!(
            counters.rtt_us.load(Ordering::Relaxed),
            0,
            "no SR echoed yet"
        );
    }

    #[test]
    fn recognises_keyframe_requests_only() {
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 2,
        };
        let fir = FullIntraRequest::default();
        let rr = ReceiverReport::default();
        assert_eq!(keyframe_request_kind(&pli), Some(KeyframeRequest::Pli));
        assert_eq!(keyframe_request_kind(&fir), Some(KeyframeRequest::Fir));
        assert_eq!(keyframe_request_kind(&rr), None);
    }
}
