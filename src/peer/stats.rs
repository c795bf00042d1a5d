//! The stats task: once a second, webrtc-rs's `get_stats` plus the media task's counters → monitor counters.
//!
//! Bytes and packets sent come from the outbound RTP stream statistics webrtc-rs keeps from what it actually
//! sent, transport and data-channel totals from its transport and data-channel statistics. NACK/PLI/FIR,
//! loss, jitter and RTT come from the receiver's RTCP as counted by the keyframe forwarder interceptor
//! ([`RtcpCounters`]): webrtc-rs 0.21.1 reports them as zero (see `interceptor.rs`). When no receiver report
//! has produced an RTT yet, the selected ICE candidate pair's STUN round-trip time is used. Frames and
//! keyframes are counted by the media task, because webrtc-rs's `framesSent` is never incremented for RTP
//! written by the application. Rates are computed by [`RateMeter`] from deltas between two samples.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::Mutex;
use sightline_monitor::{Connection, Counters};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use webrtc::peer_connection::{PeerConnection, StatsSelector};

use super::adapt::AdaptStatus;
use super::config::{PACING_QUEUE_PACKETS, STATS_INTERVAL};
use super::events::{NetworkReport, PeerEvent};
use super::retransmit::RetransmitCounters;

/// A monitor event about refused retransmissions is recorded each time this many more were refused (a lossy
/// path refuses many; the timeline keeps the trend, not every one).
const REFUSED_EVENT_STEP: u64 = 100;
use super::interceptor::RtcpCounters;
use super::media::{H264_CLOCK_RATE, MediaCounters, SkipReason};

/// One sample of the cumulative counters rates are derived from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) bytes_sent: u64,
    pub(crate) frames_sent: u64,
}

/// Current bitrate and frame rate from two cumulative samples.
#[derive(Debug, Default)]
pub(crate) struct RateMeter {
    last: Option<(Instant, Totals)>,
}

impl RateMeter {
    /// Returns `(kbit/s, frames/s)` since the previous sample (zeros for the first one).
    pub(crate) fn sample(&mut self, now: Instant, totals: Totals) -> (f64, f64) {
        let rates = match self.last {
            Some((then, before)) => {
                let secs = now.saturating_duration_since(then).as_secs_f64();
                if secs <= 0.0 {
                    (0.0, 0.0)
                } else {
                    let bytes = totals.bytes_sent.saturating_sub(before.bytes_sent) as f64;
                    let frames = totals.frames_sent.saturating_sub(before.frames_sent) as f64;
                    (bytes * 8.0 / 1000.0 / secs, frames / secs)
                }
            }
            None => (0.0, 0.0),
        };
        self.last = Some((now, totals));
        rates
    }
}

/// What one `get_stats` call reported about this peer's video and transport.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct TransportSample {
    pub(crate) bytes_sent: u64,
    pub(crate) packets_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) packets_received: u64,
    pub(crate) retransmitted_packets: u64,
    pub(crate) retransmitted_bytes: u64,
    /// STUN round-trip time of the selected candidate pair.
    pub(crate) ice_rtt_ms: Option<f64>,
    pub(crate) messages_sent: u64,
    pub(crate) messages_received: u64,
}

/// Pulls the numbers we report out of a webrtc-rs stats report.
pub(crate) fn read_report(report: &webrtc::peer_connection::RTCStatsReport) -> TransportSample {
    let mut s = TransportSample::default();
    for out in report.outbound_rtp_streams() {
        s.bytes_sent += out.sent_rtp_stream_stats.bytes_sent;
        s.packets_sent += out.sent_rtp_stream_stats.packets_sent;
        s.retransmitted_packets += out.retransmitted_packets_sent;
        s.retransmitted_bytes += out.retransmitted_bytes_sent;
    }
    if let Some(transport) = report.transport() {
        // Transport totals include DTLS, SCTP (data channel) and RTCP: what actually crossed the socket.
        s.bytes_received = transport.bytes_received;
        s.packets_received = transport.packets_received;
        let selected = &transport.selected_candidate_pair_id;
        s.ice_rtt_ms = report
            .candidate_pairs()
            .find(|p| &p.stats.id == selected)
            .map(|p| p.current_round_trip_time * 1000.0)
            .filter(|rtt| *rtt > 0.0);
    }
    for dc in report.data_channels() {
        s.messages_sent += u64::from(dc.messages_sent);
        s.messages_received += u64::from(dc.messages_received);
    }
    s
}

/// Drop counts already reported to the monitor, so only deltas are added.
#[derive(Debug, Default)]
struct ReportedDrops {
    not_connected: u64,
    waiting_keyframe: u64,
    write_failed: u64,
    /// Whether the "packets written but not sent" event was recorded (once per peer).
    unsent_reported: bool,
}

/// Packets that may legitimately be written but not yet counted as sent: the pacer's queue plus webrtc-rs's
/// driver queue (256 events).
const IN_FLIGHT_PACKETS: u64 = PACING_QUEUE_PACKETS as u64 + 256;

/// How many written packets webrtc-rs has not sent beyond what can be in flight. webrtc-rs accepts a write and
/// drops the packet later, logging only, when it does not match the negotiated parameters (payload type,
/// header extension ids), so this is the one place such a loss becomes visible.
pub(crate) fn unsent_packets(written: u64, sent: u64) -> u64 {
    written
        .saturating_sub(sent)
        .saturating_sub(IN_FLIGHT_PACKETS)
}

/// What the stats task reads and where it reports.
pub(crate) struct StatsContext {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) conn: Connection,
    pub(crate) media: Arc<MediaCounters>,
    pub(crate) rtcp: Arc<RtcpCounters>,
    pub(crate) adapt: Arc<Mutex<AdaptStatus>>,
    pub(crate) retransmits: Arc<RetransmitCounters>,
    /// For the once-a-second [`PeerEvent::Network`] report (dropped when the queue is full).
    pub(crate) events: mpsc::Sender<PeerEvent>,
    pub(crate) shutdown: CancellationToken,
}

/// The stats task's body: a sample every [`STATS_INTERVAL`] until `shutdown`, then a last one (with the rates
/// at zero: the peer is stopping) so the closed connection keeps its final totals. The driver waits for this
/// task before closing the peer connection, so the last `get_stats` still sees it open.
pub(crate) async fn run(ctx: StatsContext) {
    let StatsContext {
        pc,
        conn,
        media,
        rtcp,
        adapt,
        retransmits,
        events,
        shutdown,
    } = ctx;
    let mut refused_reported = 0;
    let mut ticker = tokio::time::interval(STATS_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut meter = RateMeter::default();
    let mut reported = ReportedDrops::default();
    loop {
        let last = tokio::select! {
            biased;
            _ = shutdown.cancelled() => true,
            _ = ticker.tick() => false,
        };
        let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
        let sample = read_report(&report);
        let rates = if last {
            (0.0, 0.0)
        } else {
            meter.sample(
                Instant::now(),
                Totals {
                    bytes_sent: sample.bytes_sent,
                    frames_sent: media.frames_sent.load(Ordering::Relaxed),
                },
            )
        };
        let status = adapt.lock().clone();
        let network = publish(&conn, &media, &rtcp, &mut reported, &sample, rates, &status);
        let refused = retransmits.too_old.load(Ordering::Relaxed)
            + retransmits.repeated.load(Ordering::Relaxed)
            + retransmits.over_budget.load(Ordering::Relaxed);
        if refused >= refused_reported + REFUSED_EVENT_STEP {
            refused_reported = refused;
            conn.event(format!(
                "retransmissions: {} resent; refused {} too old, {} repeated, {} over budget",
                retransmits.allowed.load(Ordering::Relaxed),
                retransmits.too_old.load(Ordering::Relaxed),
                retransmits.repeated.load(Ordering::Relaxed),
                retransmits.over_budget.load(Ordering::Relaxed),
            ));
        }
        if last {
            break;
        }
        if media.frames_sent.load(Ordering::Relaxed) > 0 {
            // Overflow: dropped (informational; the next one follows in a second).
            let _ = events.try_send(PeerEvent::Network(network));
        }
    }
}

fn publish(
    conn: &Connection,
    media: &MediaCounters,
    rtcp: &RtcpCounters,
    reported: &mut ReportedDrops,
    t: &TransportSample,
    (bitrate_kbps, fps): (f64, f64),
    adapt: &AdaptStatus,
) -> NetworkReport {
    let frames_sent = media.frames_sent.load(Ordering::Relaxed);
    let keyframes_sent = media.keyframes_sent.load(Ordering::Relaxed);
    for (reason, counter, seen) in [
        (
            SkipReason::NotConnected.as_str(),
            &media.skipped_not_connected,
            &mut reported.not_connected,
        ),
        (
            SkipReason::WaitingKeyframe.as_str(),
            &media.skipped_waiting_keyframe,
            &mut reported.waiting_keyframe,
        ),
        (
            "write_failed",
            &media.write_failed,
            &mut reported.write_failed,
        ),
    ] {
        let now = counter.load(Ordering::Relaxed);
        if now > *seen {
            conn.dropped(reason, now - *seen);
            *seen = now;
        }
    }
    let dropped = reported.not_connected + reported.waiting_keyframe + reported.write_failed;
    let unsent = unsent_packets(
        media.packets_written.load(Ordering::Relaxed),
        t.packets_sent,
    );
    if unsent > 0 && !reported.unsent_reported {
        reported.unsent_reported = true;
        conn.event(format!(
            "{unsent} RTP packets were written but not sent by webrtc-rs (rejected after negotiation?)"
        ));
        tracing::warn!(connection = %conn.id(), unsent, "webrtc-rs is not sending the video packets written to it");
    }
    let rr_rtt_us = rtcp.rtt_us.load(Ordering::Relaxed);
    let rtt_ms = if rr_rtt_us > 0 {
        Some(rr_rtt_us as f64 / 1000.0)
    } else {
        t.ice_rtt_ms
    };
    let reported_by_receiver = rtcp.reports.load(Ordering::Relaxed) > 0;
    conn.update_counters(|c: &mut Counters| {
        c.bytes_sent = t.bytes_sent;
        c.packets_sent = t.packets_sent;
        c.bytes_received = t.bytes_received;
        c.packets_received = t.packets_received;
        c.frames_sent = frames_sent;
        c.keyframes_sent = keyframes_sent;
        c.nack_received = rtcp.nack.load(Ordering::Relaxed);
        c.pli_received = rtcp.pli.load(Ordering::Relaxed);
        c.fir_received = rtcp.fir.load(Ordering::Relaxed);
        c.messages_sent = t.messages_sent;
        c.messages_received = t.messages_received;
        if rtt_ms.is_some() {
            c.rtt_ms = rtt_ms;
        }
        if reported_by_receiver {
            c.packets_lost = rtcp.packets_lost.load(Ordering::Relaxed);
            c.jitter_ms = Some(
                rtcp.jitter_ticks.load(Ordering::Relaxed) as f64 * 1000.0 / H264_CLOCK_RATE as f64,
            );
        }
        c.bitrate_kbps = bitrate_kbps;
        c.fps = fps;
        c.frames_dropped = dropped;
        c.estimate_kbps = adapt.estimate_kbps;
        c.target_kbps = adapt.target_kbps;
        c.tier = (adapt.tiers > 0).then_some(adapt.tier as u32);
        c.tier_name = adapt.tier_name.clone();
        c.tier_switches = adapt.switches;
        c.loss_fraction = adapt.loss;
        c.retransmitted_packets = t.retransmitted_packets;
        c.retransmitted_bytes = t.retransmitted_bytes;
    });
    NetworkReport {
        congestion_control: adapt.congestion_control,
        estimate_kbps: adapt.estimate_kbps,
        target_kbps: adapt.target_kbps,
        bitrate_kbps,
        tier: adapt.tier,
        tier_name: adapt.tier_name.clone(),
        tiers: adapt.tiers,
        switches: adapt.switches,
        loss: adapt.loss,
        rtt_ms,
        nacks: rtcp.nack.load(Ordering::Relaxed),
        plis: rtcp.pli.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unsent_packets_allow_for_queues() {
        assert_eq!(unsent_packets(100, 0), 0);
        assert_eq!(unsent_packets(IN_FLIGHT_PACKETS, 0), 0);
        assert_eq!(unsent_packets(IN_FLIGHT_PACKETS + 5, 0), 5);
        assert_eq!(
            unsent_packets(10, 50),
            0,
            "retransmissions make sent exceed written"
        );
    }

    #[test]
    fn rates_come_from_deltas() {
        let mut m = RateMeter::default();
        let t0 = Instant::now();
        assert_eq!(
            m.sample(
                t0,
                Totals {
                    bytes_sent: 1000,
                    frames_sent: 10
                }
            ),
            (0.0, 0.0)
        );
        let (kbps, fps) = m.sample(
            t0 + Duration::from_millis(500),
            Totals {
                bytes_sent: 126_000,
                frames_sent: 25,
            },
        );
        assert!((kbps - 2000.0).abs() < 1e-9, "{kbps}");
        assert!((fps - 30.0).abs() < 1e-9, "{fps}");
        // Same instant: no division by zero.
        assert_eq!(
            m.sample(
                t0 + Duration::from_millis(500),
                Totals {
                    bytes_sent: 200_000,
                    frames_sent: 30
                }
            ),
            (0.0, 0.0)
        );
    }
}
