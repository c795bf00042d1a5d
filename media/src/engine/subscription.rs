//! The subscription handles the engine hands out: [`VideoSubscription`] (with its [`VideoControl`]),
//! [`JpegSubscription`], [`FrameSubscription`] and [`CursorSubscription`].
//!
//! Each holds its registry [`Ticket`] (or, for a remote screen, its relay pipe: `relay_pipe`) and the engine's
//! shared state; dropping it unsubscribes, and the last subscriber of a pipeline stops it. A subscription's
//! `recv`/`changed` returns `None` once its pipeline ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use parking_lot::Mutex;
use sightline_monitor::{Monitor, PipelineStatsHandle};
use tokio::sync::{mpsc, watch};

use super::mailbox::Mailbox;
use super::profile::{JpegProfile, VideoProfile, validate_bitrate};
use super::registry::{PipeId, Ticket};
use super::relay_pipe::{JpegRelay, VideoRelay};
use super::remotes::{JpegJoined, VideoJoined};
use super::state::{Joined, Shared};
use crate::fanout::{Fanout, SubscriberCounters, SubscriberStats};
use crate::h264::AccessUnit;
use crate::jpeg::JpegFrame;
use crate::{Frame, MediaError, ScreenInfo};

/// What a video subscription needs of its local pipeline.
#[derive(Clone)]
struct PipeHandle {
    pipe_id: PipeId,
    mailbox: Arc<Mailbox>,
    stats: PipelineStatsHandle,
    /// The encoder's current target, kbit/s.
    target_kbps: Arc<AtomicU32>,
}

/// Keyframe and bitrate requests for the pipeline of a [`VideoSubscription`], and this subscriber's bitrate
/// wish. All take effect before the encoder's next picture: a request only sets a flag in the pipeline's mailbox or
/// an atomic, so it never blocks and may be called from any thread or task. Once the pipeline has stopped,
/// requests do nothing.
///
/// On a remote screen the requests go to the relay pipe, which forwards them to the far end (coalesced keyframe
/// requests, the target bitrate; see `relay_pipe`).
#[derive(Clone)]
pub struct VideoControl {
    monitor: Monitor,
    screen: String,
    pipe: ControlTarget,
    /// This subscriber's counters, which carry its wish to the encode thread (or the relay pipe).
    counters: Arc<SubscriberCounters>,
}

/// Where a [`VideoControl`]'s requests go.
#[derive(Clone)]
enum ControlTarget {
    /// A local encode thread, through its mailbox.
    Local(PipeHandle),
    /// A relay pipe of a remote screen.
    Relay(Arc<VideoRelay>),
}

impl std::fmt::Debug for VideoControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("VideoControl");
        d.field("screen", &self.screen);
        match &self.pipe {
            ControlTarget::Local(pipe) => d.field("pipe", &pipe.pipe_id.get()),
            ControlTarget::Relay(relay) => d.field("relay_stream", &relay.id()),
        };
        d.finish()
    }
}

impl VideoControl {
    /// Asks for an IDR (coalesced with other requests by the pipeline's keyframe gate).
    pub fn request_keyframe(&self) {
        self.monitor.operation("keyframe_request", None).ok();
        match &self.pipe {
            ControlTarget::Local(pipe) => {
                pipe.stats.record_keyframe_request();
                pipe.mailbox.update(|m| m.keyframe = true);
            }
            ControlTarget::Relay(relay) => relay.request_keyframe(),
        }
    }

    /// Changes the pipeline's bitrate (kbit/s) for every subscriber of the pipeline: it replaces the profile's
    /// bitrate as what the encoder aims at without a sole subscriber's wish (see [`Self::set_desired_bitrate`]).
    /// Changed live, without an IDR.
    /// Values outside [`sightline_limits::BITRATE_KBPS`] are refused.
    pub fn set_bitrate(&self, kbps: u32) -> Result<(), MediaError> {
        validate_bitrate(kbps)?;
        match &self.pipe {
            ControlTarget::Local(pipe) => pipe.mailbox.update(|m| m.bitrate_kbps = Some(kbps)),
            ControlTarget::Relay(relay) => relay.set_bitrate(kbps),
        }
        Ok(())
    }

    /// Sets (`None`: withdraws) the bitrate this subscriber wishes for, kbit/s, e.g. its congestion controller's
    /// estimate. While it is the pipeline's only subscriber, the encoder aims at the wish brought into
    /// [`sightline_limits::BITRATE_KBPS`] ([`encoder_target`]; the subscriber bounds its own wish, and may ask for
    /// more than the profile's bitrate); with several subscribers the profile's bitrate rules. Applied live before the next picture, without an IDR; changes
    /// under [`MIN_RETARGET_PERCENT`] are ignored. One atomic store: cheap enough to call on every estimate (on a
    /// remote screen also a short lock, and the new target forwarded upstream when it is worth it).
    ///
    /// [`encoder_target`]: super::encoder_target
    /// [`MIN_RETARGET_PERCENT`]: super::MIN_RETARGET_PERCENT
    pub fn set_desired_bitrate(&self, kbps: Option<u32>) {
        self.counters.set_desired_kbps(kbps);
        if let ControlTarget::Relay(relay) = &self.pipe {
            relay.poll();
        }
    }

    /// The bitrate this subscriber wishes for, kbit/s, as last set.
    pub fn desired_bitrate(&self) -> Option<u32> {
        self.counters.desired_kbps()
    }

    /// The bitrate the pipeline's encoder aims at now, kbit/s (the profile's until the encoder applied a wish). On
    /// a remote screen: the target last forwarded to the far end.
    pub fn target_kbps(&self) -> u32 {
        match &self.pipe {
            ControlTarget::Local(pipe) => pipe.target_kbps.load(Relaxed),
            ControlTarget::Relay(relay) => relay.target_kbps(),
        }
    }
}

/// A subscriber of one H.264 pipeline. Dropping it unsubscribes; the last one stops the pipeline.
pub struct VideoSubscription {
    shared: Arc<Shared>,
    member: VideoMember,
    info: ScreenInfo,
    profile: VideoProfile,
    rx: mpsc::Receiver<Arc<AccessUnit>>,
    counters: Arc<SubscriberCounters>,
    /// Keyframe and bitrate requests, and the pipeline this subscription belongs to.
    control: VideoControl,
}

/// Where a video subscriber is registered.
enum VideoMember {
    /// A local pipeline: its registry ticket, its fan-out and this subscriber's slot in it.
    Local {
        ticket: Ticket,
        fanout: Arc<Mutex<Fanout>>,
        slot: u64,
    },
    /// A relay pipe of a remote screen and this subscriber's slot in its fan-out.
    Relay { relay: Arc<VideoRelay>, slot: u64 },
}

impl std::fmt::Debug for VideoSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoSubscription")
            .field("screen", &self.info.id)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl VideoSubscription {
    /// Adds a subscriber to the fan-out of the pipe it `joined`. It receives nothing before the next IDR.
    pub(super) fn join(shared: Arc<Shared>, profile: VideoProfile, joined: Joined<'_>) -> Self {
        let pipe = joined
            .video
            .expect("the registry gives a video subscriber an H.264 pipe");
        let info = joined.capture.info().clone();
        let (tx, rx) = Fanout::channel();
        let counters = Arc::new(SubscriberCounters::default());
        let fanout = Arc::clone(&pipe.output().fanout);
        let slot = fanout.lock().add(tx, Arc::clone(&counters));
        let control = VideoControl {
            monitor: shared.monitor.clone(),
            screen: info.id.clone(),
            pipe: ControlTarget::Local(PipeHandle {
                pipe_id: pipe.id(),
                mailbox: Arc::clone(pipe.mailbox()),
                stats: pipe.stats().clone(),
                target_kbps: Arc::clone(&pipe.output().target_kbps),
            }),
            counters: Arc::clone(&counters),
        };
        Self {
            shared,
            member: VideoMember::Local {
                ticket: joined.ticket,
                fanout,
                slot,
            },
            info,
            profile,
            rx,
            counters,
            control,
        }
    }

    /// A subscriber of a remote screen's relay pipe (already in its fan-out, waiting for an IDR).
    pub(super) fn relayed(shared: Arc<Shared>, profile: VideoProfile, joined: VideoJoined) -> Self {
        let control = VideoControl {
            monitor: shared.monitor.clone(),
            screen: joined.info.id.clone(),
            pipe: ControlTarget::Relay(Arc::clone(&joined.relay)),
            counters: Arc::clone(&joined.counters),
        };
        Self {
            shared,
            member: VideoMember::Relay {
                relay: joined.relay,
                slot: joined.slot,
            },
            info: joined.info,
            profile,
            rx: joined.rx,
            counters: joined.counters,
            control,
        }
    }

    /// The next access unit; `None` when the pipeline ended (screen gone, engine shut down). The first unit is
    /// an IDR; after a lag the next one received is an IDR again.
    pub async fn recv(&mut self) -> Option<Arc<AccessUnit>> {
        self.rx.recv().await
    }

    /// Asks the encoder for an IDR (coalesced with every other request, at most one per 300 ms).
    pub fn request_keyframe(&self) {
        self.control.request_keyframe();
    }

    /// Changes the pipeline's bitrate at run time (for every subscriber of this pipeline: they share the
    /// encoder), live and without an IDR. Out-of-range values are refused. See [`VideoControl::set_bitrate`].
    pub fn set_bitrate(&self, kbps: u32) -> Result<(), MediaError> {
        self.control.set_bitrate(kbps)
    }

    /// Sets (`None`: withdraws) this subscriber's bitrate wish, kbit/s; see
    /// [`VideoControl::set_desired_bitrate`].
    pub fn set_desired_bitrate(&self, kbps: Option<u32>) {
        self.control.set_desired_bitrate(kbps);
    }

    /// The bitrate the pipeline's encoder aims at now, kbit/s.
    pub fn target_kbps(&self) -> u32 {
        self.control.target_kbps()
    }

    /// A cheap handle for keyframe and bitrate requests, for whoever does not own the subscription (the owner is
    /// typically busy awaiting [`VideoSubscription::recv`]).
    pub fn control(&self) -> VideoControl {
        self.control.clone()
    }

    /// The screen this subscription watches.
    pub fn screen(&self) -> &ScreenInfo {
        &self.info
    }

    /// The profile it subscribed with.
    pub fn profile(&self) -> &VideoProfile {
        &self.profile
    }

    /// Frames received and dropped for this subscriber.
    pub fn stats(&self) -> SubscriberStats {
        self.counters.snapshot()
    }
}

impl Drop for VideoSubscription {
    fn drop(&mut self) {
        match &self.member {
            VideoMember::Local {
                ticket,
                fanout,
                slot,
            } => {
                fanout.lock().remove(*slot);
                self.shared.unsubscribe(ticket);
            }
            VideoMember::Relay { relay, slot } => self.shared.remotes.leave_video(relay, *slot),
        }
    }
}

/// A subscriber of one JPEG pipeline: latest frame wins, nothing queues. Dropping it unsubscribes.
pub struct JpegSubscription {
    shared: Arc<Shared>,
    member: JpegMember,
    info: ScreenInfo,
    profile: JpegProfile,
    frames: watch::Receiver<Option<Arc<JpegFrame>>>,
}

impl std::fmt::Debug for JpegSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpegSubscription")
            .field("screen", &self.info.id)
            .field("quality", &self.profile.quality)
            .field("max_width", &self.profile.max_width)
            .finish_non_exhaustive()
    }
}

impl JpegSubscription {
    /// Subscribes to the pipe it `joined`; the first `changed()` returns its latest picture, if any.
    pub(super) fn join(shared: Arc<Shared>, profile: JpegProfile, joined: Joined<'_>) -> Self {
        let pipe = joined
            .jpeg
            .expect("the registry gives a JPEG subscriber a JPEG pipe");
        let mut frames = pipe.output().clone();
        if frames.borrow().is_some() {
            frames.mark_changed();
        }
        Self {
            shared,
            info: joined.capture.info().clone(),
            member: JpegMember::Local(joined.ticket),
            profile,
            frames,
        }
    }

    /// A subscriber of a remote screen's JPEG relay pipe.
    pub(super) fn relayed(shared: Arc<Shared>, profile: JpegProfile, joined: JpegJoined) -> Self {
        Self {
            shared,
            info: joined.info,
            member: JpegMember::Relay(joined.relay),
            profile,
            frames: joined.frames,
        }
    }

    /// The next JPEG frame not yet returned (the latest one: intermediate frames are skipped); `None` when the
    /// pipeline ended.
    pub async fn changed(&mut self) -> Option<Arc<JpegFrame>> {
        next_value(&mut self.frames).await
    }

    /// The screen this subscription watches.
    pub fn screen(&self) -> &ScreenInfo {
        &self.info
    }
}

/// Where a JPEG subscriber is registered.
enum JpegMember {
    /// A local pipeline's registry ticket.
    Local(Ticket),
    /// A relay pipe of a remote screen.
    Relay(Arc<JpegRelay>),
}

impl Drop for JpegSubscription {
    fn drop(&mut self) {
        match &self.member {
            JpegMember::Local(ticket) => self.shared.unsubscribe(ticket),
            JpegMember::Relay(relay) => self.shared.remotes.leave_jpeg(relay),
        }
    }
}

/// Raw captured frames of one screen (latest wins). Keeps the capture running while held.
pub struct FrameSubscription {
    shared: Arc<Shared>,
    ticket: Ticket,
    info: ScreenInfo,
    frames: watch::Receiver<Option<Arc<Frame>>>,
}

impl std::fmt::Debug for FrameSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSubscription")
            .field("screen", &self.info.id)
            .finish_non_exhaustive()
    }
}

impl FrameSubscription {
    /// Subscribes to the capture it `joined`; the first `changed()` returns its latest frame, if any.
    pub(super) fn join(shared: Arc<Shared>, joined: Joined<'_>) -> Self {
        Self {
            shared,
            info: joined.capture.info().clone(),
            frames: joined.capture.frames(),
            ticket: joined.ticket,
        }
    }

    /// The next changed frame not yet returned (latest wins); `None` when the capture ended.
    pub async fn changed(&mut self) -> Option<Arc<Frame>> {
        next_value(&mut self.frames).await
    }

    /// The latest captured frame, if any.
    pub fn latest(&self) -> Option<Arc<Frame>> {
        self.frames.borrow().clone()
    }

    /// The screen this subscription watches.
    pub fn screen(&self) -> &ScreenInfo {
        &self.info
    }
}

impl Drop for FrameSubscription {
    fn drop(&mut self) {
        self.shared.unsubscribe(&self.ticket);
    }
}

async fn next_value<T: Clone>(rx: &mut watch::Receiver<Option<T>>) -> Option<T> {
    loop {
        rx.changed().await.ok()?;
        if let Some(v) = rx.borrow_and_update().clone() {
            return Some(v);
        }
    }
}

/// The pointer of one screen (latest wins): a new state at most once per capture tick, and only when the
/// position, visibility or shape changed. Keeps the capture running while held; dropping it unsubscribes.
pub struct CursorSubscription {
    shared: Arc<Shared>,
    ticket: Ticket,
    info: ScreenInfo,
    cursor: watch::Receiver<Option<crate::CursorState>>,
}

impl std::fmt::Debug for CursorSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorSubscription")
            .field("screen", &self.info.id)
            .finish_non_exhaustive()
    }
}

impl CursorSubscription {
    /// Subscribes to the pointer of the capture it `joined`; the first `changed()` returns its latest state, if
    /// any.
    pub(super) fn join(shared: Arc<Shared>, joined: Joined<'_>) -> Self {
        Self {
            shared,
            info: joined.capture.info().clone(),
            cursor: joined.capture.cursor(),
            ticket: joined.ticket,
        }
    }

    /// The next pointer state not yet returned (latest wins); `None` when the capture ended. Never returns while
    /// the source reports no cursor (a synthetic screen, [`crate::CursorMode::Video`]).
    pub async fn changed(&mut self) -> Option<crate::CursorState> {
        next_value(&mut self.cursor).await
    }

    /// The latest pointer state, if the capture reported one.
    pub fn latest(&self) -> Option<crate::CursorState> {
        self.cursor.borrow().clone()
    }

    /// The screen this subscription watches.
    pub fn screen(&self) -> &ScreenInfo {
        &self.info
    }
}

impl Drop for CursorSubscription {
    fn drop(&mut self) {
        self.shared.unsubscribe(&self.ticket);
    }
}
