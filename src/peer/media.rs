//! The media task: pulls access units from the shared encoder's subscription and sends them as RTP.
//!
//! One task per peer. It drains the [`VideoFeed`] all the time — a subscription left unread would fill its
//! queue and make the fan-out request keyframes for a viewer that cannot use them — but sends only once the
//! peer is connected, and then only from a keyframe on (a decoder cannot start on a P-frame). While ICE and
//! DTLS run, [`JoinCache`] keeps the subscription's first keyframe and the frames after it; on connecting the
//! peer starts with those when they are fresh, and otherwise asks the feed for a keyframe.
//!
//! Packetization is done here rather than by webrtc-rs's sample track, because that track derives each RTP
//! timestamp from the *previous* sample's duration. Here every timestamp comes from the capture time of its own
//! frame ([`RtpClock`]): the interval between two RTP timestamps is exactly the interval between the two
//! captures, so a receiver's jitter buffer and A/V clock see real time even when the screen is idle for seconds
//! or frames are skipped.
//!
//! The decisions (skip or send, which timestamp) live in [`FrameScheduler`], a plain struct with no I/O.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rtc::rtp;
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::extension::playout_delay_extension::{
    PLAYOUT_DELAY_EXTENSION_SIZE, PlayoutDelayExtension,
};
use rtc::rtp::packetizer::Payloader;
use rtc::shared::marshal::Marshal;
use sightline_media::h264::AccessUnit;
use sightline_media::keyframe::KeyframeGate;
use sightline_monitor::Connection;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::rtp_transceiver::RtpSender;

use super::adapt::{ADAPT_INTERVAL, Adapter};
use super::config::{RTP_HEADER_LEN, RTP_MTU};
pub(crate) use super::counters::{MediaCounters, SkipReason};
use super::events::{PeerEvent, VideoFeed};

/// The playout-delay RTP header extension (webrtc.org experiments), negotiated like any other extension.
pub(crate) const PLAYOUT_DELAY_URI: &str =
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";

/// What we ask receivers that negotiated playout-delay for: minimum and maximum 0 (in 10 ms units). Chromium
/// then renders each frame as soon as it is decoded instead of holding it in a jitter buffer sized for smooth
/// motion — for a remote screen, latency matters more than evenly spaced frames (measured in Chromium on
/// loopback: jitter buffer 71–120 ms → 0.5–2 ms). Receivers that did not negotiate the extension never see it.
pub(crate) const PLAYOUT_DELAY: PlayoutDelayExtension = PlayoutDelayExtension {
    min_delay: 0,
    max_delay: 0,
};

/// Bytes of one-byte-header extension elements: playout-delay is 1 byte id/length + 3 bytes of value, the
/// transport-wide sequence number 1 + 2.
const PLAYOUT_DELAY_ELEMENT: usize = 4;
const TRANSPORT_CC_ELEMENT: usize = 3;
/// The one-byte-header extension block's own header.
const EXTENSION_BLOCK_HEADER: usize = 4;

/// Bytes the header extensions add to a packet: the block header plus the elements, padded to 4 bytes.
fn extension_overhead(playout_delay: bool, transport_cc: bool) -> usize {
    let elements = usize::from(playout_delay) * PLAYOUT_DELAY_ELEMENT
        + usize::from(transport_cc) * TRANSPORT_CC_ELEMENT;
    if elements == 0 {
        0
    } else {
        EXTENSION_BLOCK_HEADER + elements.div_ceil(4) * 4
    }
}

/// RTP clock rate of H.264 (RFC 6184).
pub(crate) const H264_CLOCK_RATE: u64 = 90_000;

/// What to do with one access unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Skip(SkipReason),
    /// Send it with this RTP timestamp.
    Send {
        timestamp: u32,
    },
}

/// Maps capture times to RTP timestamps: the first sent frame gets `start`, each later one the previous
/// timestamp plus the capture interval in 90 kHz ticks.
///
/// Capture times are wall-clock (`SystemTime`) and can step backwards when the system clock is adjusted; RTP
/// timestamps must not, so a non-positive interval advances by one tick.
#[derive(Debug, Clone)]
pub(crate) struct RtpClock {
    start: u32,
    last: Option<(SystemTime, u32)>,
}

impl RtpClock {
    pub(crate) fn new(start: u32) -> Self {
        Self { start, last: None }
    }

    /// The RTP timestamp of a frame captured at `captured_at`, and the interval since the previous frame.
    pub(crate) fn timestamp(&mut self, captured_at: SystemTime) -> (u32, Option<Duration>) {
        let (timestamp, interval) = match self.last {
            None => (self.start, None),
            Some((last_at, last_ts)) => {
                let interval = captured_at
                    .duration_since(last_at)
                    .unwrap_or(Duration::ZERO);
                let ticks = (interval.as_nanos() * u128::from(H264_CLOCK_RATE) / 1_000_000_000)
                    .clamp(1, u128::from(u32::MAX)) as u32;
                (last_ts.wrapping_add(ticks), Some(interval))
            }
        };
        self.last = Some((captured_at, timestamp));
        (timestamp, interval)
    }
}

/// Decides, per access unit, whether this viewer gets it and with which timestamp.
#[derive(Debug, Clone)]
pub(crate) struct FrameScheduler {
    connected: bool,
    waiting_keyframe: bool,
    clock: RtpClock,
}

impl FrameScheduler {
    pub(crate) fn new(rtp_start: u32) -> Self {
        Self {
            connected: false,
            waiting_keyframe: true,
            clock: RtpClock::new(rtp_start),
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// The peer connected: from now on frames are sent, starting with the next keyframe.
    pub(crate) fn on_connected(&mut self) {
        self.connected = true;
        self.waiting_keyframe = true;
    }

    /// Sending failed mid-frame: the receiver has a broken picture, so resume only at a keyframe.
    pub(crate) fn on_write_failed(&mut self) {
        self.waiting_keyframe = true;
    }

    pub(crate) fn decide(&mut self, keyframe: bool, captured_at: SystemTime) -> Decision {
        if !self.connected {
            return Decision::Skip(SkipReason::NotConnected);
        }
        if self.waiting_keyframe && !keyframe {
            return Decision::Skip(SkipReason::WaitingKeyframe);
        }
        self.waiting_keyframe = false;
        let (timestamp, _) = self.clock.timestamp(captured_at);
        Decision::Send { timestamp }
    }
}

/// Keeps the access units from the newest keyframe on while the peer is not connected yet, so a viewer can
/// start with the keyframe its subscription received at join time instead of requesting (and waiting for)
/// another one: the encoder's keyframe gate allows one IDR per 300 ms, so a second request right after
/// connecting would be deferred, and every viewer of the pipeline would pay for the extra IDR.
///
/// Bounded by [`JOIN_CACHE_MAX_UNITS`] and [`JOIN_CACHE_MAX_BYTES`]: beyond either, or without a keyframe at
/// its head, the cache holds nothing and the peer requests a keyframe when it connects.
#[derive(Debug)]
pub(crate) struct JoinCache<T> {
    /// Head is a keyframe whenever non-empty.
    units: Vec<(T, SystemTime)>,
    bytes: usize,
}

impl<T> Default for JoinCache<T> {
    fn default() -> Self {
        Self {
            units: Vec::new(),
            bytes: 0,
        }
    }
}

/// Most access units kept (1 s at 30 fps; the age limit usually applies first).
pub(crate) const JOIN_CACHE_MAX_UNITS: usize = 32;
/// Most bytes kept (a 4K keyframe is ~1 MB).
pub(crate) const JOIN_CACHE_MAX_BYTES: usize = 4 << 20;
/// Oldest keyframe worth starting with: older, the viewer would first watch a stale catch-up.
pub(crate) const JOIN_CACHE_MAX_AGE: Duration = Duration::from_millis(500);

impl<T> JoinCache<T> {
    /// Adds a unit; returns how many units were discarded (never to be sent).
    pub(crate) fn push(
        &mut self,
        unit: T,
        keyframe: bool,
        captured_at: SystemTime,
        bytes: usize,
    ) -> u64 {
        let mut dropped = 0;
        if keyframe {
            dropped += self.clear();
        } else if self.units.is_empty() {
            // No keyframe to decode it against.
            return 1;
        }
        if self.units.len() >= JOIN_CACHE_MAX_UNITS || self.bytes + bytes > JOIN_CACHE_MAX_BYTES {
            return dropped + self.clear() + 1;
        }
        self.units.push((unit, captured_at));
        self.bytes += bytes;
        dropped
    }

    /// Empties the cache; returns how many units it held.
    fn clear(&mut self) -> u64 {
        let n = self.units.len() as u64;
        self.units.clear();
        self.bytes = 0;
        n
    }

    /// The cached units when their keyframe is at most [`JOIN_CACHE_MAX_AGE`] old at `now`, and the number of
    /// units discarded as stale. Empties the cache either way.
    pub(crate) fn take_fresh(&mut self, now: SystemTime) -> (Vec<T>, u64) {
        let fresh = self.units.first().is_some_and(|(_, captured_at)| {
            now.duration_since(*captured_at).unwrap_or_default() <= JOIN_CACHE_MAX_AGE
        });
        if !fresh {
            return (Vec::new(), self.clear());
        }
        self.bytes = 0;
        (self.units.drain(..).map(|(u, _)| u).collect(), 0)
    }
}

/// What negotiation settled for our video sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub(crate) payload_type: u8,
    /// The extension id of playout-delay, when the receiver accepted it.
    pub(crate) playout_delay_id: Option<u8>,
    /// Whether transport-wide CC was negotiated: the TWCC sender interceptor then adds its sequence number
    /// extension to every packet after we build it.
    pub(crate) transport_cc: bool,
}

/// Turns Annex-B access units into RTP packets for one SSRC (single NAL, STAP-A for SPS+PPS, FU-A), each
/// carrying the playout-delay extension when it was negotiated.
pub(crate) struct Packetizer {
    payloader: H264Payloader,
    ssrc: u32,
    negotiated: Negotiated,
    /// The marshalled [`PLAYOUT_DELAY`] value.
    playout_delay: Bytes,
    sequence: u16,
}

impl Packetizer {
    pub(crate) fn new(ssrc: u32, negotiated: Negotiated, first_sequence: u16) -> Self {
        let mut value = [0u8; PLAYOUT_DELAY_EXTENSION_SIZE];
        // Cannot fail: the buffer has the extension's size and the values are in range.
        let _ = PLAYOUT_DELAY.marshal_to(&mut value);
        Self {
            payloader: H264Payloader::default(),
            ssrc,
            negotiated,
            playout_delay: Bytes::copy_from_slice(&value),
            sequence: first_sequence,
        }
    }

    /// Largest payload per packet, so header + extensions + payload stay within [`RTP_MTU`].
    fn max_payload(&self) -> usize {
        let extensions = extension_overhead(
            self.negotiated.playout_delay_id.is_some(),
            self.negotiated.transport_cc,
        );
        RTP_MTU - RTP_HEADER_LEN - extensions
    }

    /// The packets of one access unit; the last carries the marker bit. Empty for an empty or unparsable unit.
    pub(crate) fn packetize(&mut self, data: &Bytes, timestamp: u32) -> Vec<rtp::Packet> {
        let payloads = match self.payloader.payload(self.max_payload(), data) {
            Ok(p) => p,
            Err(_) => return Vec::new(),
        };
        let count = payloads.len();
        payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| {
                let sequence_number = self.sequence;
                self.sequence = self.sequence.wrapping_add(1);
                let mut header = rtp::header::Header {
                    version: 2,
                    marker: i + 1 == count,
                    payload_type: self.negotiated.payload_type,
                    sequence_number,
                    timestamp,
                    ssrc: self.ssrc,
                    ..Default::default()
                };
                if let Some(id) = self.negotiated.playout_delay_id {
                    // Cannot fail: ids come from negotiation (1..=14 for one-byte headers, which webrtc-rs
                    // assigns) and the value is 3 bytes.
                    let _ = header.set_extension(id, self.playout_delay.clone());
                }
                rtp::Packet { header, payload }
            })
            .collect()
    }
}

/// What the media task needs from the peer.
pub(crate) struct MediaContext {
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) sender: Arc<dyn RtpSender>,
    pub(crate) ssrc: u32,
    /// `true` while the peer connection is connected (set by the driver).
    pub(crate) connected: watch::Receiver<bool>,
    /// Keyframe requests from PLI/FIR (set by the driver). A `Notify` holds at most one permit, so requests
    /// arriving faster than the loop runs coalesce into one.
    pub(crate) keyframe: Arc<Notify>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) counters: Arc<MediaCounters>,
    pub(crate) conn: Connection,
    pub(crate) events: mpsc::Sender<PeerEvent>,
    /// Tier and bitrate decisions from the path estimate.
    pub(crate) adapter: Adapter,
}

/// Shortest spacing of the keyframe requests one viewer passes to its tier's encoder. A receiver on a lossy
/// path sends a PLI for every picture it could not repair (Chromium: ~1.4/s under a cap); answered one for one,
/// it would make every viewer of the tier receive an IDR — 50 P-frames' worth — every few hundred ms. Requests
/// inside the window wait for its end (never lost); the encoder's own gate coalesces across viewers.
pub(crate) const PLI_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The media task's body. Returns when the peer shuts down or the feed ends.
pub(crate) async fn run<F: VideoFeed>(mut feed: F, ctx: MediaContext) {
    let MediaContext {
        track,
        sender,
        ssrc,
        mut connected,
        keyframe,
        shutdown,
        counters,
        conn,
        events,
        mut adapter,
    } = ctx;
    let mut scheduler = FrameScheduler::new(rand::random());
    let mut join_cache = JoinCache::<Arc<AccessUnit>>::default();
    let mut sending: Option<Sending> = None;
    let mut pli_gate = KeyframeGate::new(PLI_MIN_INTERVAL);
    let mut adapt_tick = tokio::time::interval(ADAPT_INTERVAL);
    adapt_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tier = feed.tier();
    loop {
        let pli_due = pli_gate.due_at(Instant::now());
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = keyframe.notified() => {
                pli_gate.request(Instant::now());
            }
            _ = sleep_until_some(pli_due) => {
                if pli_gate.should_force(Instant::now()) {
                    counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    feed.request_keyframe();
                }
            }
            _ = adapt_tick.tick() => {
                let step = adapter.tick(Instant::now());
                if let Some(wish) = step.wish {
                    feed.set_desired_bitrate(wish);
                }
                if let Some((to, why)) = step.switch {
                    match feed.switch_tier(to) {
                        Ok(()) => conn.event(format!("tier {tier} → {to} ({why}): switching at its next keyframe")),
                        Err(e) => {
                            conn.event(format!("tier {to} unavailable: {e}"));
                            adapter.revert(feed.tier());
                        }
                    }
                } else if !feed.switching() && adapter.selected() != feed.tier() {
                    // The switch was abandoned (the new tier's encoder ended before its keyframe).
                    adapter.revert(feed.tier());
                }
                if let Some(why) = step.fallback {
                    conn.event(format!("fallback to JPEG advised: {why}"));
                    // Overflow: not awaited (this loop must keep draining the feed); decided again later.
                    if events.try_send(PeerEvent::Fallback(why)).is_err() {
                        adapter.rearm_fallback();
                    }
                }
            }
            changed = connected.changed() => {
                if changed.is_err() {
                    break;
                }
                let now_connected = *connected.borrow_and_update();
                if !now_connected || scheduler.is_connected() {
                    continue;
                }
                let Some(negotiated) = negotiated(sender.as_ref()).await else {
                    conn.event("video: no H.264 codec was negotiated; not sending video");
                    break;
                };
                let mut out = Sending {
                    track: &track,
                    packetizer: Packetizer::new(ssrc, negotiated, rand::random()),
                    counters: &counters,
                    conn: &conn,
                };
                scheduler.on_connected();
                let (cached, stale) = join_cache.take_fresh(SystemTime::now());
                counters.skip(SkipReason::NotConnected, stale);
                if cached.is_empty() {
                    counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    feed.request_keyframe();
                    conn.event(format!("video: sending from the next keyframe ({negotiated:?})"));
                } else {
                    // The subscription's own keyframe arrived while ICE and DTLS were still running: start
                    // with it (and the frames since) instead of asking the shared encoder for another IDR.
                    conn.event(format!(
                        "video: starting with the cached keyframe and {} frames since ({negotiated:?})",
                        cached.len() - 1
                    ));
                    for au in cached {
                        out.offer(&mut scheduler, &au).await;
                    }
                }
                sending = Some(out);
            }
            au = feed.recv() => {
                let Some(au) = au else {
                    conn.event("video: the source ended");
                    conn.track(super::events::TRACK_ID, "video", "ended");
                    // Overflow: awaited (rare, lifecycle) until shutdown. Err = the receiver was dropped.
                    tokio::select! {
                        _ = events.send(PeerEvent::VideoEnded) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    break;
                };
                if feed.tier() != tier {
                    conn.event(format!("tier {tier} → {}: sending from its keyframe ({}x{})", feed.tier(), au.width, au.height));
                    tier = feed.tier();
                    adapter.sending(tier);
                }
                match sending.as_mut() {
                    Some(out) => out.offer(&mut scheduler, &au).await,
                    None => {
                        let dropped = join_cache.push(au.clone(), au.keyframe, au.captured_at, au.data.len());
                        counters.skip(SkipReason::NotConnected, dropped);
                    }
                }
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The sending side of the media task, once connected.
struct Sending<'a> {
    track: &'a TrackLocalStaticRTP,
    packetizer: Packetizer,
    counters: &'a MediaCounters,
    conn: &'a Connection,
}

impl Sending<'_> {
    /// Sends `au` if the scheduler says so, and counts the outcome.
    async fn offer(&mut self, scheduler: &mut FrameScheduler, au: &AccessUnit) {
        let timestamp = match scheduler.decide(au.keyframe, au.captured_at) {
            Decision::Skip(reason) => {
                self.counters.skip(reason, 1);
                return;
            }
            Decision::Send { timestamp } => timestamp,
        };
        if !send_access_unit(
            self.track,
            &mut self.packetizer,
            au,
            timestamp,
            self.counters,
        )
        .await
        {
            self.counters.write_failed.fetch_add(1, Ordering::Relaxed);
            scheduler.on_write_failed();
            return;
        }
        self.counters
            .bytes_sent
            .fetch_add(au.data.len() as u64, Ordering::Relaxed);
        if self.counters.frames_sent.fetch_add(1, Ordering::Relaxed) == 0 {
            self.conn.event(format!(
                "first keyframe sent: {} bytes, {}x{}, {:.1} ms after capture",
                au.data.len(),
                au.width,
                au.height,
                au.captured_at.elapsed().unwrap_or_default().as_secs_f64() * 1000.0
            ));
        }
        if au.keyframe {
            self.counters.keyframes_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes one access unit's packets; `false` when a write failed (the peer is closing or the driver is gone).
async fn send_access_unit(
    track: &TrackLocalStaticRTP,
    packetizer: &mut Packetizer,
    au: &AccessUnit,
    timestamp: u32,
    counters: &MediaCounters,
) -> bool {
    let packets = packetizer.packetize(&au.data, timestamp);
    if packets.is_empty() {
        return false;
    }
    let n = packets.len() as u64;
    for packet in packets {
        // Overflow: awaited — webrtc-rs's driver queue (256 events) is the back-pressure to the feed.
        if track.write_rtp(packet).await.is_err() {
            return false;
        }
    }
    counters.packets_written.fetch_add(n, Ordering::Relaxed);
    true
}

/// The payload type and extensions the remote accepted for our H.264, read after negotiation from the same
/// parameters webrtc-rs checks every packet against (a packet with any other payload type or extension id is
/// dropped by it). `None` when no H.264 format was negotiated.
async fn negotiated(sender: &dyn RtpSender) -> Option<Negotiated> {
    let params = sender.get_parameters().await.ok()?.rtp_parameters;
    let payload_type = params
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case("video/H264"))?
        .payload_type;
    let playout_delay_id = params
        .header_extensions
        .iter()
        .find(|h| h.uri == PLAYOUT_DELAY_URI)
        .and_then(|h| u8::try_from(h.id).ok())
        .filter(|id| (1..=14).contains(id));
    let transport_cc = params
        .header_extensions
        .iter()
        .any(|h| h.uri == rtc::sdp::extmap::TRANSPORT_CC_URI);
    Some(Negotiated {
        payload_type,
        playout_delay_id,
        transport_cc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn rtp_timestamps_follow_capture_time() {
        let mut clock = RtpClock::new(1000);
        assert_eq!(clock.timestamp(at(0)), (1000, None));
        // 33.333 ms → 3000 ticks.
        let (ts, interval) = clock.timestamp(at(0) + Duration::from_micros(33_333));
        assert_eq!(ts, 1000 + 2999);
        assert_eq!(interval, Some(Duration::from_micros(33_333)));
        // An idle screen: 10 s between frames is 900 000 ticks, not one frame's worth.
        let (ts2, _) = clock.timestamp(at(10_033));
        assert_eq!(ts2.wrapping_sub(ts), 899_970);
        // The wall clock stepped back: still strictly increasing.
        let (ts3, interval) = clock.timestamp(at(5_000));
        assert_eq!(ts3, ts2 + 1);
        assert_eq!(interval, Some(Duration::ZERO));
    }

    #[test]
    fn rtp_timestamps_wrap() {
        let mut clock = RtpClock::new(u32::MAX - 10);
        clock.timestamp(at(0));
        assert_eq!(clock.timestamp(at(1)).0, 79);
    }

    #[test]
    fn scheduler_sends_from_the_first_keyframe_after_connecting() {
        let mut s = FrameScheduler::new(0);
        assert_eq!(
            s.decide(true, at(0)),
            Decision::Skip(SkipReason::NotConnected)
        );
        s.on_connected();
        assert_eq!(
            s.decide(false, at(33)),
            Decision::Skip(SkipReason::WaitingKeyframe)
        );
        assert_eq!(s.decide(true, at(66)), Decision::Send { timestamp: 0 });
        assert_eq!(s.decide(false, at(100)), Decision::Send { timestamp: 3060 });
        s.on_write_failed();
        assert_eq!(
            s.decide(false, at(133)),
            Decision::Skip(SkipReason::WaitingKeyframe)
        );
        // Timestamps keep following capture time across the skipped frame.
        assert_eq!(s.decide(true, at(166)), Decision::Send { timestamp: 9000 });
    }

    #[test]
    fn join_cache_keeps_the_newest_keyframe_and_what_follows() {
        let mut c = JoinCache::default();
        assert_eq!(
            c.push("p0", false, at(0), 10),
            1,
            "no keyframe yet: dropped"
        );
        assert_eq!(c.push("k1", true, at(33), 100), 0);
        assert_eq!(c.push("p2", false, at(66), 10), 0);
        assert_eq!(
            c.push("k3", true, at(100), 100),
            2,
            "a newer keyframe replaces the group"
        );
        assert_eq!(c.push("p4", false, at(133), 10), 0);
        assert_eq!(c.take_fresh(at(200)), (vec!["k3", "p4"], 0));
        assert_eq!(c.take_fresh(at(200)), (vec![], 0), "taken once");
    }

    #[test]
    fn join_cache_refuses_stale_or_oversized_groups() {
        let mut c = JoinCache::default();
        c.push("k", true, at(0), 100);
        c.push("p", false, at(33), 10);
        assert_eq!(c.take_fresh(at(501)), (vec![], 2), "older than 500 ms");

        let mut c = JoinCache::default();
        c.push(0, true, at(0), 100);
        for i in 1..JOIN_CACHE_MAX_UNITS {
            assert_eq!(c.push(i, false, at(i as u64), 10), 0);
        }
        assert_eq!(
            c.push(99, false, at(99), 10),
            JOIN_CACHE_MAX_UNITS as u64 + 1,
            "overflow discards the whole group"
        );
        assert_eq!(c.take_fresh(at(100)), (vec![], 0));

        let mut c = JoinCache::default();
        assert_eq!(
            c.push(1, true, at(0), JOIN_CACHE_MAX_BYTES + 1),
            1,
            "a keyframe too large to keep"
        );
    }

    #[test]
    fn packetizer_fragments_and_marks_the_last_packet() {
        let mut p = Packetizer::new(
            42,
            Negotiated {
                payload_type: 125,
                playout_delay_id: None,
                transport_cc: false,
            },
            u16::MAX,
        );
        // SPS, PPS, then a 5000-byte IDR slice.
        let mut au = vec![
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
        ];
        au.extend_from_slice(&[0, 0, 0, 1, 0x65]);
        au.extend(std::iter::repeat_n(0x11u8, 5000));
        let packets = p.packetize(&Bytes::from(au), 7);
        // STAP-A(SPS+PPS) + ceil(5000 / (1188 - 2)) FU-A fragments.
        assert_eq!(packets.len(), 1 + 5);
        assert!(packets.iter().all(|pk| pk.header.timestamp == 7
            && pk.header.ssrc == 42
            && pk.header.payload_type == 125));
        assert!(
            packets
                .iter()
                .all(|pk| pk.payload.len() <= RTP_MTU - RTP_HEADER_LEN)
        );
        assert_eq!(packets[0].payload[0] & 0x1f, 24, "STAP-A first");
        assert_eq!(
            packets.iter().filter(|pk| pk.header.marker).count(),
            1,
            "one marker"
        );
        assert!(packets.last().unwrap().header.marker);
        assert_eq!(packets[0].header.sequence_number, u16::MAX);
        assert_eq!(packets[1].header.sequence_number, 0, "sequence wraps");
        assert!(p.packetize(&Bytes::new(), 8).is_empty());
    }

    #[test]
    fn extension_room_covers_every_negotiated_extension() {
        assert_eq!(extension_overhead(false, false), 0);
        assert_eq!(extension_overhead(true, false), 8);
        assert_eq!(extension_overhead(false, true), 8);
        // 4 + 3 bytes of elements, padded to 8, plus the block header.
        assert_eq!(extension_overhead(true, true), 12);
    }

    #[test]
    fn packetizer_adds_playout_delay_within_the_mtu() {
        use rtc::shared::marshal::MarshalSize;
        let mut p = Packetizer::new(
            1,
            Negotiated {
                payload_type: 96,
                playout_delay_id: Some(3),
                transport_cc: false,
            },
            0,
        );
        let mut au = vec![0, 0, 0, 1, 0x65];
        au.extend(std::iter::repeat_n(0x22u8, 10_000));
        let packets = p.packetize(&Bytes::from(au), 0);
        for pk in &packets {
            assert_eq!(
                pk.header.get_extension(3).as_deref(),
                Some(&[0u8, 0, 0][..])
            );
            assert!(pk.marshal_size() <= RTP_MTU, "{}", pk.marshal_size());
        }
        assert_eq!(
            packets.iter().map(|pk| pk.marshal_size()).max(),
            Some(RTP_MTU),
            "full packets use the whole MTU"
        );
    }
}
