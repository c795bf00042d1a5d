//! The relay pipes behind remote screens ([`super::relay`]): one per (remote screen, [`VideoProfile`]) and one per
//! (remote screen, JPEG quality, max_width), shared by every subscriber of it, opened upstream by the first and
//! closed by the last (the table of remote screens and their pipes is `remotes`). No thread and no timer:
//! everything happens on the caller's thread, in a subscriber's call or in the far end's `push`.
//!
//! # Rules of a video relay pipe
//! - **Fan-out**: each pushed access unit gets the pipe's own `seq` (1, 2, …: a gap means the far end or the link
//!   lost units) and goes to a [`Fanout`] of bounded queues, exactly like an encoder's output: a new or lagging
//!   subscriber receives nothing until the next IDR, and its lag becomes a keyframe request.
//! - **Keyframes**: requests (a subscriber joining, [`super::VideoControl::request_keyframe`], a lag) pass a
//!   [`KeyframeGate`] of [`RELAY_KEYFRAME_RETRY`]. A request is forwarded to [`Upstream::request_keyframe`] at once
//!   unless one forwarded before is still unanswered (no IDR relayed since) and younger than
//!   [`RELAY_KEYFRAME_RETRY`]: then it merges into that one, whose IDR serves every waiting subscriber. Each relayed
//!   IDR answers everything pending and reopens the gate ([`KeyframeGate::on_relayed_idr`]). A merged request is
//!   forwarded (if still needed) by the next request or pushed unit after the retry time: nothing is scheduled, so a
//!   static stream with a lost answer waits for either. Opening a stream counts as a forwarded request (the far end
//!   starts with an IDR). The far end rate-limits its IDRs itself (a device's engine runs its own gate), so the
//!   relay sends at most one request per IDR it receives, plus one per retry time while an answer is missing.
//! - **Bitrate**: the pipe works out the target exactly like an encode thread ([`encoder_target`]: a sole
//!   subscriber's wish, else the pipeline bitrate — the profile's, or what `set_bitrate` made it) and forwards it
//!   with [`Upstream::set_bitrate`] when [`worth_retargeting`] says so: `None` when the target is the profile's
//!   bitrate, else `Some(target)`. Checked after every subscriber change, wish, `set_bitrate` and pushed unit.
//!
//! # Life of a pipe
//! `Opening` (the first subscriber calls `open_*`, locks released) → `Open` → `Closed`. The last subscriber leaving,
//! `Engine::remove_remote`, a replacing `Engine::add_remote` or the engine's shutdown closes it: [`Upstream::close`] is called once, after `open_*`
//! returned. A far end's `end` closes it without [`Upstream::close`] (the far end ended it). Every subscriber's
//! stream ends when the pipe is closed by anything but its last subscriber leaving. Requests reach the far end only
//! while the pipe is open; one racing a close may arrive just after it (the upstream ignores unknown streams).
//!
//! # Locks
//! The remotes table's lock, then a pipe's lock, never the other way round; no upstream method is called under
//! either, so an upstream may call back into the engine (even push from inside `open_video`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sightline_monitor::{Monitor, PipelineKey, PipelineStatsHandle};
use tokio::sync::{mpsc, watch};

use super::profile::{JpegProfile, MAX_JPEG_FPS, VideoProfile};
use super::relay::{JpegSink, RelayStreamId, SinkTarget, Upstream, VideoSink};
use super::target::{encoder_target, worth_retargeting};
use crate::fanout::{Fanout, SubscriberCounters};
use crate::h264::AccessUnit;
use crate::jpeg::JpegFrame;
use crate::keyframe::KeyframeGate;

/// How long a forwarded keyframe request may stay unanswered (no IDR relayed since) before a new request or a
/// pushed unit forwards another; requests within it merge into the outstanding one. Covers the far end's own gate
/// (300 ms) plus an IDR's trip over a slow link; a request lost on the way delays a new viewer by about this long.
pub const RELAY_KEYFRAME_RETRY: Duration = Duration::from_secs(1);

/// Subscriber drops of a relay pipe are logged at most this often, as one aggregate line.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The monitor's pipeline kind of a relayed H.264 stream (`<screen>/relay/<profile>`).
const VIDEO_KIND: &str = "relay";
/// The monitor's pipeline kind of a relayed JPEG stream (`<screen>/relay-jpeg/q70-w960`).
const JPEG_KIND: &str = "relay-jpeg";

/// Where a relay pipe is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Its first subscriber is calling `open_*`: units are taken, requests wait.
    Opening,
    /// Streaming: requests are forwarded.
    Open,
    /// Closed while opening: closed upstream as soon as `open_*` returned.
    CloseWhenOpened,
    /// Over (closed upstream, or ended by the far end): pushes are ignored, no subscriber joins.
    Closed,
}

/// What every relay pipe has. The upstream and the statistics are dropped when the pipe closes: that breaks the
/// cycle upstream → sink → pipe → upstream, and unregisters the pipeline from the monitor.
struct Life {
    phase: Phase,
    /// Subscribers now.
    members: usize,
    upstream: Option<Arc<dyn Upstream>>,
    stats: Option<PipelineStatsHandle>,
}

impl Life {
    fn new(upstream: Arc<dyn Upstream>, stats: PipelineStatsHandle) -> Self {
        Self {
            phase: Phase::Opening,
            members: 0,
            upstream: Some(upstream),
            stats: Some(stats),
        }
    }

    /// Whether it takes units and subscribers.
    fn live(&self) -> bool {
        matches!(self.phase, Phase::Opening | Phase::Open)
    }

    fn set_members(&mut self, n: usize) {
        self.members = n;
        if let Some(stats) = &self.stats {
            stats.set_subscribers(n);
        }
    }

    /// A subscriber left; returns how many remain.
    fn leave(&mut self) -> usize {
        self.set_members(self.members.saturating_sub(1));
        self.members
    }

    /// Closes the pipe: the upstream to close now, if it is open (one still opening is closed by its opener).
    fn stop(&mut self) -> Option<Arc<dyn Upstream>> {
        match self.phase {
            Phase::Opening => {
                self.phase = Phase::CloseWhenOpened;
                None
            }
            Phase::Open => self.finish(),
            Phase::CloseWhenOpened | Phase::Closed => None,
        }
    }

    /// `open_*` returned: the upstream to close now if the pipe was closed meanwhile.
    fn opened(&mut self) -> Option<Arc<dyn Upstream>> {
        match self.phase {
            Phase::Opening => {
                self.phase = Phase::Open;
                None
            }
            Phase::CloseWhenOpened => self.finish(),
            Phase::Open | Phase::Closed => None,
        }
    }

    fn finish(&mut self) -> Option<Arc<dyn Upstream>> {
        self.phase = Phase::Closed;
        if let Some(stats) = self.stats.take() {
            stats.set_subscribers(0);
        }
        self.upstream.take()
    }

    /// The upstream to send a request to: only while open.
    fn open_upstream(&self) -> Option<Arc<dyn Upstream>> {
        self.upstream.clone().filter(|_| self.phase == Phase::Open)
    }
}

/// Upstream calls decided under a pipe's lock, made once it is released.
#[derive(Default)]
#[must_use]
struct Calls {
    upstream: Option<Arc<dyn Upstream>>,
    /// `Some(wish)`: forward this bitrate wish.
    bitrate: Option<Option<u32>>,
    keyframe: bool,
    close: bool,
}

impl Calls {
    fn close(upstream: Option<Arc<dyn Upstream>>) -> Self {
        Self {
            close: upstream.is_some(),
            upstream,
            ..Self::default()
        }
    }

    fn run(self, stream: RelayStreamId) {
        let Some(upstream) = self.upstream else {
            return;
        };
        if let Some(kbps) = self.bitrate {
            upstream.set_bitrate(stream, kbps);
        }
        if self.keyframe {
            upstream.request_keyframe(stream);
        }
        if self.close {
            upstream.close(stream);
        }
    }
}

/// One relayed H.264 stream of a remote screen and profile.
pub(super) struct VideoRelay {
    id: RelayStreamId,
    screen: String,
    profile: VideoProfile,
    state: Mutex<VideoState>,
}

impl VideoRelay {
    /// A pipe about to be opened through `upstream`, registered in `monitor` as `<screen>/relay/<profile>`.
    pub(super) fn new(
        id: RelayStreamId,
        screen: &str,
        profile: VideoProfile,
        upstream: Arc<dyn Upstream>,
        monitor: &Monitor,
    ) -> Arc<Self> {
        let stats = monitor.pipeline(PipelineKey {
            screen: screen.to_owned(),
            kind: VIDEO_KIND.into(),
            profile: profile.name(),
        });
        let state = VideoState::new(
            Life::new(upstream, stats),
            profile.bitrate_kbps,
            Instant::now(),
        );
        Arc::new(Self {
            id,
            screen: screen.to_owned(),
            profile,
            state: Mutex::new(state),
        })
    }

    /// The stream's id.
    pub(super) fn id(&self) -> RelayStreamId {
        self.id
    }

    /// The remote screen's id.
    pub(super) fn screen(&self) -> &str {
        &self.screen
    }

    /// The profile it relays.
    pub(super) fn profile(&self) -> VideoProfile {
        self.profile
    }

    /// Where the far end pushes.
    pub(super) fn sink(self: &Arc<Self>) -> VideoSink {
        VideoSink {
            id: self.id,
            inner: Arc::clone(self) as Arc<dyn SinkTarget<AccessUnit>>,
        }
    }

    /// Adds a subscriber (taking `tx`) unless the pipe is over; returns its slot in the fan-out. Calls nothing
    /// upstream (the caller holds the remotes lock): the caller then calls [`Self::poll`].
    pub(super) fn try_join(
        &self,
        tx: &mut Option<mpsc::Sender<Arc<AccessUnit>>>,
        counters: &Arc<SubscriberCounters>,
    ) -> Option<u64> {
        let mut st = self.state.lock();
        if !st.life.live() {
            return None;
        }
        Some(st.join(tx.take()?, Arc::clone(counters)))
    }

    /// `open_video` returned: the pipe is open (or closed now, if it was closed meanwhile).
    pub(super) fn opened(&self) {
        let calls = self.state.lock().opened(Instant::now());
        calls.run(self.id);
    }

    /// A subscriber left; `true` when it was the last (the pipe is then closed).
    pub(super) fn leave(&self, slot: u64) -> bool {
        let (last, calls) = {
            let mut st = self.state.lock();
            st.fanout.remove(slot);
            match st.life.leave() {
                0 => (true, st.stop()),
                _ => (false, st.poll(Instant::now())),
            }
        };
        calls.run(self.id);
        last
    }

    /// A subscriber asks for an IDR (coalesced, see the module docs).
    pub(super) fn request_keyframe(&self) {
        let calls = self.state.lock().request_keyframe(Instant::now());
        calls.run(self.id);
    }

    /// The pipeline bitrate changed (`VideoControl::set_bitrate`), kbit/s.
    pub(super) fn set_bitrate(&self, kbps: u32) {
        let calls = {
            let mut st = self.state.lock();
            st.base_kbps = kbps;
            st.poll(Instant::now())
        };
        calls.run(self.id);
    }

    /// Forwards what changed (a subscriber's wish, the number of subscribers): the new target if it is worth it,
    /// a keyframe request the gate lets through.
    pub(super) fn poll(&self) {
        let calls = self.state.lock().poll(Instant::now());
        calls.run(self.id);
    }

    /// The target last forwarded (the profile's bitrate until then), kbit/s.
    pub(super) fn target_kbps(&self) -> u32 {
        self.state.lock().target_kbps
    }

    /// Closes the pipe and ends its subscribers' streams (the screen went).
    pub(super) fn stop(&self) {
        let calls = self.state.lock().stop();
        calls.run(self.id);
    }
}

impl SinkTarget<AccessUnit> for VideoRelay {
    fn push(&self, au: AccessUnit) {
        let calls = self.state.lock().push(au, Instant::now(), &self.screen);
        calls.run(self.id);
    }

    fn end(&self, reason: &str) {
        let upstream = {
            let mut st = self.state.lock();
            if st.life.live() {
                tracing::info!(screen = %self.screen, stream = self.id, reason, "relayed video stream ended by the far end");
            }
            st.fanout = Fanout::new();
            st.life.finish()
        };
        // Dropped with the lock released: the far end is over, it gets no `close`.
        drop(upstream);
    }

    fn is_closed(&self) -> bool {
        !self.state.lock().life.live()
    }
}

/// The decisions of a video relay pipe, under its lock; pure apart from the calls it returns.
struct VideoState {
    life: Life,
    fanout: Fanout,
    /// The last `seq` handed out.
    seq: u64,
    gate: KeyframeGate,
    /// The profile's bitrate, kbit/s (what a `None` wish forwards).
    profile_kbps: u32,
    /// The pipeline bitrate: the profile's, or what `set_bitrate` made it.
    base_kbps: u32,
    /// The target last forwarded.
    target_kbps: u32,
    drops_unlogged: u64,
    drops_logged_at: Instant,
}

impl VideoState {
    fn new(life: Life, profile_kbps: u32, now: Instant) -> Self {
        let mut gate = KeyframeGate::new(RELAY_KEYFRAME_RETRY);
        // The open asks for an IDR: it counts as a forwarded request.
        gate.request(now);
        gate.should_force(now);
        Self {
            life,
            fanout: Fanout::new(),
            seq: 0,
            gate,
            profile_kbps,
            base_kbps: profile_kbps,
            target_kbps: profile_kbps,
            drops_unlogged: 0,
            drops_logged_at: now,
        }
    }

    /// Adds a subscriber (it waits for an IDR; the engine requests one next). Returns its slot.
    fn join(
        &mut self,
        tx: mpsc::Sender<Arc<AccessUnit>>,
        counters: Arc<SubscriberCounters>,
    ) -> u64 {
        let slot = self.fanout.add(tx, counters);
        self.life.set_members(self.life.members + 1);
        slot
    }

    fn request_keyframe(&mut self, now: Instant) -> Calls {
        if let Some(stats) = &self.life.stats {
            stats.record_keyframe_request();
        }
        self.gate.request(now);
        self.poll(now)
    }

    fn opened(&mut self, now: Instant) -> Calls {
        match self.life.opened() {
            Some(upstream) => Calls::close(Some(upstream)),
            None => self.poll(now),
        }
    }

    fn stop(&mut self) -> Calls {
        // Dropping the senders ends every subscriber's `recv()`.
        self.fanout = Fanout::new();
        Calls::close(self.life.stop())
    }

    fn push(&mut self, mut au: AccessUnit, now: Instant, screen: &str) -> Calls {
        if !self.life.live() {
            return Calls::default();
        }
        self.seq += 1;
        au.seq = self.seq;
        if let Some(stats) = &self.life.stats {
            stats.record_encode(au.encode_ms, au.data.len(), au.keyframe);
        }
        if au.keyframe {
            self.gate.on_relayed_idr();
        }
        let published = self.fanout.publish(&Arc::new(au));
        if let Some(stats) = &self.life.stats {
            for _ in 0..published.dropped {
                stats.record_drop("subscriber_queue_full");
            }
            if published.keyframe_wanted {
                stats.record_keyframe_request();
            }
        }
        if published.keyframe_wanted {
            self.gate.request(now);
        }
        self.drops_unlogged += published.dropped as u64;
        if self.drops_unlogged > 0
            && now.saturating_duration_since(self.drops_logged_at) >= DROP_LOG_INTERVAL
        {
            tracing::info!(
                screen,
                dropped = self.drops_unlogged,
                subscribers = self.fanout.len(),
                "relayed units dropped for lagging subscribers (they resume at the next IDR)"
            );
            (self.drops_unlogged, self.drops_logged_at) = (0, now);
        }
        self.poll(now)
    }

    /// What to forward now: a keyframe request the gate lets through, a new bitrate target. Nothing unless open.
    fn poll(&mut self, now: Instant) -> Calls {
        let Some(upstream) = self.life.open_upstream() else {
            return Calls::default();
        };
        let keyframe = self.gate.should_force(now);
        let wanted = encoder_target(self.base_kbps, self.fanout.desired_bitrates());
        let bitrate = worth_retargeting(self.target_kbps, wanted, self.base_kbps).then(|| {
            self.target_kbps = wanted;
            Some(wanted).filter(|&k| k != self.profile_kbps)
        });
        Calls {
            upstream: Some(upstream),
            bitrate,
            keyframe,
            close: false,
        }
    }
}

/// One relayed JPEG stream of a remote screen and (quality, max_width).
pub(super) struct JpegRelay {
    id: RelayStreamId,
    screen: String,
    key: (u8, Option<u32>),
    state: Mutex<JpegState>,
}

impl JpegRelay {
    /// A pipe about to be opened through `upstream`, registered in `monitor` as `<screen>/relay-jpeg/q70-w960`.
    pub(super) fn new(
        id: RelayStreamId,
        screen: &str,
        profile: JpegProfile,
        upstream: Arc<dyn Upstream>,
        monitor: &Monitor,
    ) -> Arc<Self> {
        let stats = monitor.pipeline(PipelineKey {
            screen: screen.to_owned(),
            kind: JPEG_KIND.into(),
            profile: profile.name(),
        });
        let (tx, _) = watch::channel(None);
        Arc::new(Self {
            id,
            screen: screen.to_owned(),
            key: (profile.quality, profile.max_width),
            state: Mutex::new(JpegState {
                life: Life::new(upstream, stats),
                frames: Some(tx),
            }),
        })
    }

    /// The (quality, max_width) it relays.
    pub(super) fn key(&self) -> (u8, Option<u32>) {
        self.key
    }

    /// The remote screen's id.
    pub(super) fn screen(&self) -> &str {
        &self.screen
    }

    /// What `open_jpeg` is asked for: `profile` at [`MAX_JPEG_FPS`] (subscribers take what they have time for).
    pub(super) fn wire_profile(profile: JpegProfile) -> JpegProfile {
        JpegProfile {
            fps: MAX_JPEG_FPS,
            ..profile
        }
    }

    /// Where the far end pushes.
    pub(super) fn sink(self: &Arc<Self>) -> JpegSink {
        JpegSink {
            id: self.id,
            inner: Arc::clone(self) as Arc<dyn SinkTarget<JpegFrame>>,
        }
    }

    /// A receiver for a new subscriber (its first `changed()` returns the latest frame); `None` once over.
    pub(super) fn try_join(&self) -> Option<watch::Receiver<Option<Arc<JpegFrame>>>> {
        self.state.lock().join()
    }

    /// `open_jpeg` returned: the pipe is open (or closed now, if it was closed meanwhile).
    pub(super) fn opened(&self) {
        let close = self.state.lock().life.opened();
        Calls::close(close).run(self.id);
    }

    /// A subscriber left; `true` when it was the last (the pipe is then closed).
    pub(super) fn leave(&self) -> bool {
        let calls = {
            let mut st = self.state.lock();
            if st.life.leave() > 0 {
                return false;
            }
            st.stop()
        };
        calls.run(self.id);
        true
    }

    /// Closes the pipe and ends its subscribers' streams.
    pub(super) fn stop(&self) {
        let calls = self.state.lock().stop();
        calls.run(self.id);
    }
}

struct JpegState {
    life: Life,
    /// The latest frame; dropped (ending every subscriber's `changed()`) when the pipe closes.
    frames: Option<watch::Sender<Option<Arc<JpegFrame>>>>,
}

impl JpegState {
    /// A receiver for a new subscriber (its first `changed()` returns the latest frame); `None` once closed.
    fn join(&mut self) -> Option<watch::Receiver<Option<Arc<JpegFrame>>>> {
        if !self.life.live() {
            return None;
        }
        let mut rx = self.frames.as_ref()?.subscribe();
        if rx.borrow().is_some() {
            rx.mark_changed();
        }
        self.life.set_members(self.life.members + 1);
        Some(rx)
    }

    fn stop(&mut self) -> Calls {
        self.frames = None;
        Calls::close(self.life.stop())
    }
}

impl SinkTarget<JpegFrame> for JpegRelay {
    fn push(&self, frame: JpegFrame) {
        let st = self.state.lock();
        if !st.life.live() {
            return;
        }
        if let Some(stats) = &st.life.stats {
            stats.record_encode(0.0, frame.data.len(), true);
        }
        if let Some(tx) = &st.frames {
            tx.send_replace(Some(Arc::new(frame)));
        }
    }

    fn end(&self, reason: &str) {
        let upstream = {
            let mut st = self.state.lock();
            if st.life.live() {
                tracing::info!(screen = %self.screen, stream = self.id, reason, "relayed jpeg stream ended by the far end");
            }
            st.frames = None;
            st.life.finish()
        };
        drop(upstream);
    }

    fn is_closed(&self) -> bool {
        !self.state.lock().life.live()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;
    use sightline_monitor::MonitorConfig;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    struct Null;

    impl Upstream for Null {
        fn open_video(&self, _: VideoProfile, _: VideoSink) {}
        fn open_jpeg(&self, _: JpegProfile, _: JpegSink) {}
        fn close(&self, _: RelayStreamId) {}
        fn request_keyframe(&self, _: RelayStreamId) {}
        fn set_bitrate(&self, _: RelayStreamId, _: Option<u32>) {}
    }

    fn au(keyframe: bool) -> AccessUnit {
        AccessUnit {
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            keyframe,
            captured_at: SystemTime::now(),
            seq: 999,
            width: 16,
            height: 16,
            encode_ms: 1.0,
        }
    }

    fn state(now: Instant) -> VideoState {
        let monitor = Monitor::new(MonitorConfig::default());
        let stats = monitor.pipeline(PipelineKey {
            screen: "d/0".into(),
            kind: VIDEO_KIND.into(),
            profile: "p".into(),
        });
        VideoState::new(Life::new(Arc::new(Null), stats), 4000, now)
    }

    fn subscriber(
        st: &mut VideoState,
        now: Instant,
    ) -> (
        mpsc::Receiver<Arc<AccessUnit>>,
        Arc<SubscriberCounters>,
        Calls,
    ) {
        let (tx, rx) = Fanout::channel();
        let counters = Arc::new(SubscriberCounters::default());
        st.join(tx, Arc::clone(&counters));
        (rx, counters, st.poll(now))
    }

    #[test]
    fn relay_renumbers_seq_and_waits_for_an_idr() {
        let t0 = Instant::now();
        let mut st = state(t0);
        let (mut rx, _, _) = subscriber(&mut st, t0);
        let _ = st.opened(t0);
        let _ = st.push(au(false), t0, "d/0");
        assert!(rx.try_recv().is_err(), "nothing before the first IDR");
        let _ = st.push(au(true), t0, "d/0");
        let _ = st.push(au(false), t0, "d/0");
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        assert_eq!(rx.try_recv().unwrap().seq, 3);
    }

    #[test]
    fn relay_keyframe_requests_merge_until_answered_or_retry() {
        let t0 = Instant::now();
        let mut st = state(t0);
        let (_rx, _, calls) = subscriber(&mut st, t0);
        assert!(calls.upstream.is_none(), "nothing forwarded while opening");
        // The open itself is the outstanding request: the joiner's request merges into it.
        assert!(!st.request_keyframe(t0).keyframe);
        assert!(!st.opened(t0).keyframe);
        assert!(!st.request_keyframe(t0 + 10 * MS).keyframe);
        // The IDR answers; the next request goes out at once, later ones merge.
        assert!(!st.push(au(true), t0 + 50 * MS, "d/0").keyframe);
        assert!(st.request_keyframe(t0 + 60 * MS).keyframe);
        for i in 1..20 {
            assert!(!st.request_keyframe(t0 + (60 + i) * MS).keyframe);
        }
        // No answer within the retry time: the next unit forwards the merged request again.
        assert!(!st.push(au(false), t0 + 500 * MS, "d/0").keyframe);
        assert!(
            st.push(au(false), t0 + 60 * MS + RELAY_KEYFRAME_RETRY, "d/0")
                .keyframe
        );
        assert_eq!(st.gate.forced(), 3, "open, one forward, one retry");
    }

    #[test]
    fn relay_lagging_subscriber_asks_for_an_idr() {
        let t0 = Instant::now();
        let mut st = state(t0);
        let (mut fast, _, _) = subscriber(&mut st, t0);
        let (_slow, slow_counters, _) = subscriber(&mut st, t0);
        let _ = st.opened(t0);
        let _ = st.push(au(true), t0, "d/0");
        let mut forwarded = 0;
        for i in 1..=10 {
            forwarded += usize::from(st.push(au(false), t0 + i * MS, "d/0").keyframe);
            while fast.try_recv().is_ok() {}
        }
        assert_eq!(forwarded, 1, "the lag became one request");
        assert!(slow_counters.snapshot().waiting_for_idr);
    }

    #[test]
    fn relay_bitrate_follows_a_sole_subscriber() {
        let t0 = Instant::now();
        let mut st = state(t0);
        let (_a, a, _) = subscriber(&mut st, t0);
        let _ = st.opened(t0);
        assert_eq!(st.poll(t0).bitrate, None, "no wish: nothing to forward");
        a.set_desired_kbps(Some(1500));
        assert_eq!(st.poll(t0).bitrate, Some(Some(1500)));
        a.set_desired_kbps(Some(1510));
        assert_eq!(st.poll(t0).bitrate, None, "under the retarget threshold");
        let (_b, _, calls) = subscriber(&mut st, t0);
        assert_eq!(
            calls.bitrate,
            Some(None),
            "two subscribers: the profile rules"
        );
        assert_eq!(st.target_kbps, 4000);
        st.base_kbps = 2500;
        assert_eq!(st.poll(t0).bitrate, Some(Some(2500)));
    }

    #[test]
    fn relay_closed_while_opening_is_closed_once_opened() {
        let t0 = Instant::now();
        let mut st = state(t0);
        let (mut rx, _, _) = subscriber(&mut st, t0);
        assert!(!st.stop().close, "still opening");
        assert!(rx.try_recv().is_err());
        assert!(st.opened(t0).close);
        assert!(!st.stop().close, "closed once");
        assert!(st.push(au(true), t0, "d/0").upstream.is_none());
    }
}
