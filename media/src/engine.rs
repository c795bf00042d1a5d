//! The engine: starts a pipeline with its first subscriber, shares it with every later one, stops it with its
//! last, and runs all media work on plain threads.
//!
//! # Threads
//! - **capture**, one per screen with any consumer: paces at `EngineConfig::fps` ([`Pacer`]), asks the
//!   [`FrameSource`](crate::FrameSource) for a changed frame and posts the `Arc<Frame>` to every consumer's
//!   [`Mailbox`] (latest wins) and to a `watch` for async readers (frame subscriptions, snapshots).
//! - **h264**, one per (screen, [`VideoProfile`]): converts (+downscale), asks its [`KeyframeGate`] whether to
//!   force an IDR, encodes once and hands the `Arc<AccessUnit>` to its [`Fanout`]. A keyframe pending on an
//!   unchanged screen re-encodes the last picture as an IDR, so a new viewer of a static screen gets a picture.
//! - **jpeg**, one per (screen, quality, max_width) while a JPEG subscriber exists: encodes only changed frames,
//!   at the highest fps its subscribers asked for, into a `watch` (latest wins, never queues).
//! - **input**, one per engine: injects events in order from a bounded queue.
//!
//! Every thread is started with `Monitor::spawn_thread` and owned by its pipeline; stopping a pipeline closes the
//! owner in the monitor, which arms leak detection. The engine never blocks the async runtime except in
//! [`Engine::shutdown`], which joins the threads it stopped (each ends within one frame's work).
//!
//! # Ends
//! A subscription's `recv`/`changed` returns `None` when its pipeline ended: the engine was shut down, or the
//! screen's capture failed [`MAX_CAPTURE_FAILURES`] times in a row (a screen that vanished), or the encoder kept
//! failing. Dropping a subscription unsubscribes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use sightline_monitor::{Monitor, Owner, PipelineKey, PipelineStatsHandle};
use tokio::sync::{mpsc, oneshot, watch};

use crate::convert::{I420Buffer, bgra_to_i420};
use crate::fanout::{Fanout, SubscriberCounters, SubscriberStats};
use crate::h264::{self, AccessUnit, H264Encoder, H264Settings, Usage};
use crate::jpeg::{self, JpegEncoder, JpegFrame};
use crate::keyframe::KeyframeGate;
use crate::pacer::Pacer;
use crate::{Desktop, Frame, InputEvent, MediaError, ScreenInfo};

/// Input events waiting for the input thread. Injection takes well under a millisecond (RUST-STACK.md §4f), so
/// 64 pending events mean the display is stuck; the next event then fails at once instead of piling up stale
/// clicks. Full → `MediaError::Input`.
pub const INPUT_QUEUE: usize = 64;
/// Consecutive capture failures after which a screen counts as gone and its pipelines end.
pub const MAX_CAPTURE_FAILURES: u32 = 10;
/// Consecutive encoder failures after which a video pipeline ends.
pub const MAX_ENCODE_FAILURES: u32 = 5;
/// Highest accepted JPEG frame rate per subscriber.
pub const MAX_JPEG_FPS: u32 = 60;
/// Smallest accepted `max_width`.
pub const MIN_MAX_WIDTH: u32 = 16;

/// What a video subscriber asks for. Subscribers asking for the same profile of a screen share one encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VideoProfile {
    /// Target bitrate in kbit/s (a ceiling: static screens cost far less).
    pub bitrate_kbps: u32,
    /// Downscale to at most this width (aspect kept); `None` = screen size.
    pub max_width: Option<u32>,
    /// openh264 content mode.
    pub usage: Usage,
}

impl Default for VideoProfile {
    fn default() -> Self {
        Self {
            bitrate_kbps: 4000,
            max_width: None,
            usage: Usage::Camera,
        }
    }
}

impl VideoProfile {
    /// Checks the values a caller may get wrong.
    pub fn validate(&self) -> Result<(), MediaError> {
        if !(h264::MIN_BITRATE_KBPS..=h264::MAX_BITRATE_KBPS).contains(&self.bitrate_kbps) {
            return Err(MediaError::invalid(
                "bitrate_kbps",
                format!(
                    "{} ({}..={})",
                    self.bitrate_kbps,
                    h264::MIN_BITRATE_KBPS,
                    h264::MAX_BITRATE_KBPS
                ),
            ));
        }
        validate_max_width(self.max_width)
    }

    /// The profile's name in pipeline keys and thread names: `camera-4000k-full`, `screen-2000k-w1280`.
    pub fn name(&self) -> String {
        format!(
            "{}-{}k-{}",
            self.usage.as_str(),
            self.bitrate_kbps,
            width_name(self.max_width)
        )
    }
}

/// What a JPEG subscriber asks for. Subscribers with the same (quality, max_width) on a screen share one encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JpegProfile {
    /// JPEG quality 1..=100.
    pub quality: u8,
    /// Downscale to at most this width (aspect kept); `None` = screen size.
    pub max_width: Option<u32>,
    /// Highest rate this subscriber wants; the shared encoder runs at the highest among its subscribers.
    pub fps: u32,
}

impl Default for JpegProfile {
    fn default() -> Self {
        // The preview: 960 wide encodes in about 2 ms (RUST-STACK.md §4d), 10 fps is smooth enough for a fallback.
        Self {
            quality: 70,
            max_width: Some(960),
            fps: 10,
        }
    }
}

impl JpegProfile {
    /// Checks the values a caller may get wrong.
    pub fn validate(&self) -> Result<(), MediaError> {
        jpeg::validate_quality(self.quality)?;
        if self.fps == 0 || self.fps > MAX_JPEG_FPS {
            return Err(MediaError::invalid(
                "jpeg fps",
                format!("{} (1..={MAX_JPEG_FPS})", self.fps),
            ));
        }
        validate_max_width(self.max_width)
    }
}

fn validate_max_width(max_width: Option<u32>) -> Result<(), MediaError> {
    match max_width {
        Some(w) if w < MIN_MAX_WIDTH => Err(MediaError::invalid(
            "max_width",
            format!("{w} (at least {MIN_MAX_WIDTH})"),
        )),
        _ => Ok(()),
    }
}

fn width_name(max_width: Option<u32>) -> String {
    max_width.map_or_else(|| "full".to_owned(), |w| format!("w{w}"))
}

/// Engine settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Capture and encode rate (frames per second), 1..=120.
    pub fps: u32,
    /// Default video profile for viewers that do not ask for one.
    pub video: VideoProfile,
    /// Default JPEG preview profile.
    pub preview: JpegProfile,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            fps: 30,
            video: VideoProfile::default(),
            preview: JpegProfile::default(),
        }
    }
}

impl EngineConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), MediaError> {
        if self.fps == 0 || self.fps > h264::MAX_FPS {
            return Err(MediaError::invalid(
                "fps",
                format!("{} (1..={})", self.fps, h264::MAX_FPS),
            ));
        }
        self.video.validate()?;
        self.preview.validate()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Mailbox: how threads are woken

/// What a worker thread finds when it wakes. Every field is a single slot (latest wins), so the mailbox is
/// bounded by construction: a frame not yet taken is replaced by a newer one and counted in `replaced`.
#[derive(Default)]
struct Mail {
    frame: Option<Arc<Frame>>,
    replaced: u64,
    keyframe: bool,
    bitrate_kbps: Option<u32>,
    fps: Option<u32>,
    /// The engine stopped this worker.
    stop: bool,
    /// The source ended (screen gone): finish with what is here, then end.
    closed: bool,
}

impl Mail {
    fn is_empty(&self) -> bool {
        self.frame.is_none()
            && !self.keyframe
            && self.bitrate_kbps.is_none()
            && self.fps.is_none()
            && !self.stop
            && !self.closed
    }
}

#[derive(Default)]
struct Mailbox {
    mail: Mutex<Mail>,
    cond: Condvar,
}

impl Mailbox {
    fn update(&self, f: impl FnOnce(&mut Mail)) {
        f(&mut self.mail.lock());
        self.cond.notify_one();
    }

    fn post_frame(&self, frame: Arc<Frame>) {
        self.update(|m| {
            if m.frame.replace(frame).is_some() {
                m.replaced += 1;
            }
        });
    }

    /// Waits until there is mail or `deadline` passes, then takes everything.
    fn take(&self, deadline: Option<Instant>) -> Mail {
        let mut mail = self.mail.lock();
        while mail.is_empty() {
            match deadline {
                Some(d) => {
                    if self.cond.wait_until(&mut mail, d).timed_out() {
                        break;
                    }
                }
                None => self.cond.wait(&mut mail),
            }
        }
        // `closed` and `stop` are states, not events: keep them for the next take.
        let (stop, closed) = (mail.stop, mail.closed);
        let taken = std::mem::take(&mut *mail);
        mail.stop = stop;
        mail.closed = closed;
        taken
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Registry

/// The engine handle: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

struct Inner {
    desktop: Arc<dyn Desktop>,
    cfg: EngineConfig,
    monitor: Monitor,
    state: Mutex<State>,
    input: Mutex<Option<std::sync::mpsc::SyncSender<InputJob>>>,
    input_thread: Mutex<Option<JoinHandle<()>>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    shut_down: bool,
    screens: HashMap<String, ScreenEntry>,
    /// Threads told to stop and not yet seen finished, joined by `shutdown`. Pruned on every subscribe and
    /// unsubscribe, so it holds at most the pipelines stopped within the last few milliseconds.
    stopping: Vec<JoinHandle<()>>,
}

struct ScreenEntry {
    info: ScreenInfo,
    capture: Arc<CaptureShared>,
    capture_thread: Option<JoinHandle<()>>,
    video: HashMap<VideoProfile, VideoPipe>,
    jpeg: HashMap<(u8, Option<u32>), JpegPipe>,
    frame_subscribers: usize,
    /// The capture's statistics (its thread holds another handle).
    stats: PipelineStatsHandle,
}

impl ScreenEntry {
    fn consumers(&self) -> usize {
        self.video.len() + self.jpeg.len() + self.frame_subscribers
    }

    fn has_consumers(&self) -> bool {
        self.consumers() > 0
    }

    /// The capture's "subscribers" are the pipelines and frame subscriptions it feeds.
    fn update_stats(&self) {
        self.stats.set_subscribers(self.consumers());
    }
}

/// Shared between the engine and one capture thread.
struct CaptureShared {
    control: Mailbox,
    consumers: Mutex<Vec<Arc<Mailbox>>>,
    latest: watch::Receiver<Option<Arc<Frame>>>,
    ended: AtomicBool,
}

struct VideoPipe {
    id: u64,
    mailbox: Arc<Mailbox>,
    fanout: Arc<Mutex<Fanout>>,
    stats: PipelineStatsHandle,
    owner: Owner,
    thread: Option<JoinHandle<()>>,
}

struct JpegPipe {
    id: u64,
    mailbox: Arc<Mailbox>,
    frames: watch::Receiver<Option<Arc<JpegFrame>>>,
    subscribers: HashMap<u64, u32>,
    stats: PipelineStatsHandle,
    owner: Owner,
    thread: Option<JoinHandle<()>>,
}

struct InputJob {
    screen: String,
    event: InputEvent,
    reply: oneshot::Sender<Result<(), MediaError>>,
}

impl Engine {
    /// Creates the engine and its input thread. Pipelines start with their first subscriber. An invalid `cfg`
    /// value is clamped (the gateway validates its config before; see [`EngineConfig::validate`]).
    pub fn new(desktop: Arc<dyn Desktop>, cfg: EngineConfig, monitor: Monitor) -> Self {
        let mut cfg = cfg;
        if let Err(e) = cfg.validate() {
            tracing::warn!(error = %e, "engine config out of range; clamping fps");
            cfg.fps = cfg.fps.clamp(1, h264::MAX_FPS);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<InputJob>(INPUT_QUEUE);
        let input_desktop = Arc::clone(&desktop);
        let spawned = monitor.spawn_thread("media-input", Owner::Gateway, move || {
            // Ends when the engine drops its sender (shutdown or last handle gone).
            while let Ok(job) = rx.recv() {
                let result = input_desktop.inject(&job.screen, &job.event);
                let _ = job.reply.send(result);
            }
        });
        let (input, input_thread) = match spawned {
            Ok(thread) => (Some(tx), Some(thread)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the input thread; input injection disabled");
                (None, None)
            }
        };
        Self {
            inner: Arc::new(Inner {
                desktop,
                cfg,
                monitor,
                state: Mutex::new(State::default()),
                input: Mutex::new(input),
                input_thread: Mutex::new(input_thread),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// The desktop backend the engine captures from.
    pub fn desktop(&self) -> &Arc<dyn Desktop> {
        &self.inner.desktop
    }

    /// The screens of the desktop (re-read from the backend).
    pub fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        self.inner.desktop.screens()
    }

    /// Subscribes to the H.264 stream of `screen` in `profile`, starting the pipeline (and the capture) if this
    /// is its first subscriber. The subscription receives nothing until the next IDR, which it requests.
    pub fn subscribe_video(
        &self,
        screen: &str,
        profile: VideoProfile,
    ) -> Result<VideoSubscription, MediaError> {
        profile.validate()?;
        let inner = &self.inner;
        let mut state = inner.state.lock();
        let entry = inner.screen_entry(&mut state, screen)?;
        let info = entry.info.clone();
        if !entry.video.contains_key(&profile) {
            match inner.start_video(entry, profile) {
                Ok(pipe) => {
                    entry.video.insert(profile, pipe);
                }
                Err(e) => {
                    inner.release_screen_if_idle(&mut state, screen);
                    return Err(e);
                }
            }
        }
        let pipe = entry.video.get_mut(&profile).expect("inserted above");
        let (tx, rx) = Fanout::channel();
        let counters = Arc::new(SubscriberCounters::default());
        let (subscriber_id, n) = {
            let mut fanout = pipe.fanout.lock();
            let id = fanout.add(tx, Arc::clone(&counters));
            (id, fanout.len())
        };
        pipe.stats.set_subscribers(n);
        let handle = PipeHandle {
            screen: info.id.clone(),
            pipe_id: pipe.id,
            mailbox: Arc::clone(&pipe.mailbox),
            stats: pipe.stats.clone(),
        };
        entry.update_stats();
        drop(state);
        let sub = VideoSubscription {
            engine: self.clone(),
            info,
            profile,
            rx,
            counters,
            control: VideoControl {
                monitor: self.inner.monitor.clone(),
                pipe: handle,
            },
            subscriber_id,
        };
        sub.request_keyframe();
        Ok(sub)
    }

    /// Subscribes to JPEG frames of `screen`, shared per (screen, quality, max_width). The first
    /// [`JpegSubscription::changed`] returns the latest frame; later ones wait for a changed picture.
    pub fn subscribe_jpeg(
        &self,
        screen: &str,
        profile: JpegProfile,
    ) -> Result<JpegSubscription, MediaError> {
        profile.validate()?;
        let inner = &self.inner;
        let mut state = inner.state.lock();
        let entry = inner.screen_entry(&mut state, screen)?;
        let info = entry.info.clone();
        let key = (profile.quality, profile.max_width);
        if !entry.jpeg.contains_key(&key) {
            match inner.start_jpeg(entry, profile) {
                Ok(pipe) => {
                    entry.jpeg.insert(key, pipe);
                }
                Err(e) => {
                    inner.release_screen_if_idle(&mut state, screen);
                    return Err(e);
                }
            }
        }
        let pipe = entry.jpeg.get_mut(&key).expect("inserted above");
        let id = inner.next_id.fetch_add(1, Relaxed);
        pipe.subscribers.insert(id, profile.fps);
        pipe.stats.set_subscribers(pipe.subscribers.len());
        let fps = pipe
            .subscribers
            .values()
            .copied()
            .max()
            .unwrap_or(profile.fps);
        pipe.mailbox.update(|m| m.fps = Some(fps));
        let mut frames = pipe.frames.clone();
        if frames.borrow().is_some() {
            frames.mark_changed();
        }
        let pipe_id = pipe.id;
        entry.update_stats();
        drop(state);
        Ok(JpegSubscription {
            engine: self.clone(),
            info,
            key,
            pipe_id,
            id,
            frames,
        })
    }

    /// Subscribes to the raw captured frames of `screen` (keeps the capture running while held). The first
    /// [`FrameSubscription::changed`] returns the latest frame if there is one.
    pub fn subscribe_frames(&self, screen: &str) -> Result<FrameSubscription, MediaError> {
        let inner = &self.inner;
        let mut state = inner.state.lock();
        let entry = inner.screen_entry(&mut state, screen)?;
        entry.frame_subscribers += 1;
        entry.update_stats();
        let mut frames = entry.capture.latest.clone();
        if frames.borrow().is_some() {
            frames.mark_changed();
        }
        let capture = Arc::clone(&entry.capture);
        let info = entry.info.clone();
        drop(state);
        Ok(FrameSubscription {
            engine: self.clone(),
            info,
            capture,
            frames,
        })
    }

    /// The latest frame of `screen`: the running capture's if any, otherwise one capture on a blocking thread.
    /// Recorded as a `frame_capture` operation; callers that encode the frame for someone record their own
    /// `snapshot` with that connection.
    pub async fn snapshot(&self, screen: &str) -> Result<Arc<Frame>, MediaError> {
        let op = self.inner.monitor.operation("frame_capture", None);
        let result = self.snapshot_inner(screen).await;
        op.finish_with(result)
    }

    async fn snapshot_inner(&self, screen: &str) -> Result<Arc<Frame>, MediaError> {
        {
            let state = self.inner.state.lock();
            if state.shut_down {
                return Err(MediaError::Stopped);
            }
            if let Some(entry) = state.screens.get(screen)
                && !entry.capture.ended.load(Relaxed)
                && let Some(frame) = entry.capture.latest.borrow().clone()
            {
                return Ok(frame);
            }
        }
        let desktop = Arc::clone(&self.inner.desktop);
        let id = screen.to_owned();
        self.inner
            .monitor
            .spawn_blocking("media-snapshot", Owner::Gateway, move || {
                let mut source = desktop.open(&id)?;
                source
                    .capture(true)?
                    .map(Arc::new)
                    .ok_or_else(|| MediaError::Capture("a forced capture returned no frame".into()))
            })
            .await
            .map_err(|e| MediaError::Capture(format!("snapshot job failed: {e}")))?
    }

    /// Encodes one frame as JPEG on a blocking thread (HQ frames, snapshots).
    pub async fn encode_jpeg(
        &self,
        frame: Arc<Frame>,
        quality: u8,
        max_width: Option<u32>,
    ) -> Result<JpegFrame, MediaError> {
        jpeg::validate_quality(quality)?;
        validate_max_width(max_width)?;
        self.inner
            .monitor
            .spawn_blocking("media-jpeg-oneshot", Owner::Gateway, move || {
                JpegEncoder::new()?.encode(&frame, quality, max_width)
            })
            .await
            .map_err(|e| MediaError::Encoder(format!("jpeg job failed: {e}")))?
    }

    /// Injects one event into `screen` through the engine's input thread, in order with every other event, and
    /// waits until it was injected. Fails at once when [`INPUT_QUEUE`] events are already waiting.
    pub async fn inject(&self, screen: &str, event: InputEvent) -> Result<(), MediaError> {
        let (reply, done) = oneshot::channel();
        let job = InputJob {
            screen: screen.to_owned(),
            event,
            reply,
        };
        {
            let input = self.inner.input.lock();
            let tx = input.as_ref().ok_or(MediaError::Stopped)?;
            tx.try_send(job).map_err(|e| match e {
                std::sync::mpsc::TrySendError::Full(_) => {
                    MediaError::Input(format!("input queue full ({INPUT_QUEUE} events waiting)"))
                }
                std::sync::mpsc::TrySendError::Disconnected(_) => MediaError::Stopped,
            })?;
        }
        done.await.map_err(|_| MediaError::Stopped)?
    }

    /// Stops every pipeline and the input thread, and joins their threads. Subscriptions then return `None`.
    /// Idempotent. Blocks for at most about one frame's work per thread.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn shutdown(&self) {
        let mut handles = {
            let mut state = self.state.lock();
            state.shut_down = true;
            let mut handles = std::mem::take(&mut state.stopping);
            for (_, mut entry) in state.screens.drain() {
                self.stop_entry_threads(&mut entry, &mut handles);
            }
            handles
        };
        // Dropping the sender ends the input thread once it finished the queued events.
        self.input.lock().take();
        handles.extend(self.input_thread.lock().take());
        let me = std::thread::current().id();
        for h in handles {
            // Joining oneself would deadlock; engine threads hold no `Engine`, so this only guards the invariant.
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }

    /// The running entry for `screen`, starting its capture thread if needed.
    fn screen_entry<'a>(
        &self,
        state: &'a mut State,
        screen: &str,
    ) -> Result<&'a mut ScreenEntry, MediaError> {
        if state.shut_down {
            return Err(MediaError::Stopped);
        }
        state.stopping.retain(|h| !h.is_finished());
        // A screen whose capture ended is restarted from scratch (its old pipelines have ended too).
        if state
            .screens
            .get(screen)
            .is_some_and(|e| e.capture.ended.load(Relaxed))
        {
            let mut old = state.screens.remove(screen).expect("checked above");
            self.stop_entry_threads(&mut old, &mut state.stopping);
        }
        if !state.screens.contains_key(screen) {
            let info = self
                .desktop
                .screens()?
                .into_iter()
                .find(|s| s.id == screen)
                .ok_or_else(|| MediaError::UnknownScreen(screen.to_owned()))?;
            let entry = self.start_capture(info)?;
            state.screens.insert(screen.to_owned(), entry);
        }
        Ok(state.screens.get_mut(screen).expect("inserted above"))
    }

    fn stop_entry_threads(&self, entry: &mut ScreenEntry, stopping: &mut Vec<JoinHandle<()>>) {
        for (_, mut pipe) in entry.video.drain() {
            pipe.mailbox.update(|m| m.stop = true);
            stopping.extend(pipe.thread.take());
            self.monitor.close_owner(&pipe.owner);
        }
        for (_, mut pipe) in entry.jpeg.drain() {
            pipe.mailbox.update(|m| m.stop = true);
            stopping.extend(pipe.thread.take());
            self.monitor.close_owner(&pipe.owner);
        }
        entry.capture.control.update(|m| m.stop = true);
        stopping.extend(entry.capture_thread.take());
        self.monitor.close_owner(&capture_owner(&entry.info.id));
    }

    fn start_capture(&self, info: ScreenInfo) -> Result<ScreenEntry, MediaError> {
        let (tx, rx) = watch::channel(None);
        let shared = Arc::new(CaptureShared {
            control: Mailbox::default(),
            consumers: Mutex::new(Vec::new()),
            latest: rx,
            ended: AtomicBool::new(false),
        });
        let key = PipelineKey {
            screen: info.id.clone(),
            kind: "capture".into(),
            profile: String::new(),
        };
        let stats = self.monitor.pipeline(key);
        let owner = capture_owner(&info.id);
        let ctx = CaptureCtx {
            desktop: Arc::clone(&self.desktop),
            screen: info.id.clone(),
            fps: self.cfg.fps,
            shared: Arc::clone(&shared),
            latest: tx,
            stats: stats.clone(),
        };
        let thread = self
            .monitor
            .spawn_thread(format!("capture-{}", info.id), owner, move || {
                run_capture(ctx)
            })
            .map_err(|e| MediaError::Capture(format!("cannot start the capture thread: {e}")))?;
        Ok(ScreenEntry {
            info,
            capture: shared,
            capture_thread: Some(thread),
            video: HashMap::new(),
            jpeg: HashMap::new(),
            frame_subscribers: 0,
            stats,
        })
    }

    /// Registers `mailbox` as a consumer of the screen's capture and hands it the latest frame at once.
    fn attach(entry: &ScreenEntry, mailbox: &Arc<Mailbox>) {
        let mut consumers = entry.capture.consumers.lock();
        consumers.push(Arc::clone(mailbox));
        if let Some(frame) = entry.capture.latest.borrow().clone() {
            mailbox.post_frame(frame);
        }
        if entry.capture.ended.load(Relaxed) {
            mailbox.update(|m| m.closed = true);
        }
    }

    fn detach(entry: &ScreenEntry, mailbox: &Arc<Mailbox>) {
        entry
            .capture
            .consumers
            .lock()
            .retain(|m| !Arc::ptr_eq(m, mailbox));
    }

    fn start_video(
        &self,
        entry: &ScreenEntry,
        profile: VideoProfile,
    ) -> Result<VideoPipe, MediaError> {
        let key = PipelineKey {
            screen: entry.info.id.clone(),
            kind: "h264".into(),
            profile: profile.name(),
        };
        let owner = Owner::Pipeline(key.to_string());
        let stats = self.monitor.pipeline(key.clone());
        let mailbox = Arc::new(Mailbox::default());
        let fanout = Arc::new(Mutex::new(Fanout::new()));
        let ctx = VideoCtx {
            profile,
            fps: self.cfg.fps,
            mailbox: Arc::clone(&mailbox),
            fanout: Arc::clone(&fanout),
            stats: stats.clone(),
            monitor: self.monitor.clone(),
            key: key.to_string(),
        };
        let thread = self
            .monitor
            .spawn_thread(format!("h264-{key}"), owner.clone(), move || run_video(ctx))
            .map_err(|e| MediaError::Encoder(format!("cannot start the encode thread: {e}")))?;
        Self::attach(entry, &mailbox);
        Ok(VideoPipe {
            id: self.next_id.fetch_add(1, Relaxed),
            mailbox,
            fanout,
            stats,
            owner,
            thread: Some(thread),
        })
    }

    fn start_jpeg(
        &self,
        entry: &ScreenEntry,
        profile: JpegProfile,
    ) -> Result<JpegPipe, MediaError> {
        let key = PipelineKey {
            screen: entry.info.id.clone(),
            kind: "jpeg".into(),
            profile: format!("q{}-{}", profile.quality, width_name(profile.max_width)),
        };
        let owner = Owner::Pipeline(key.to_string());
        let stats = self.monitor.pipeline(key.clone());
        let mailbox = Arc::new(Mailbox::default());
        let (tx, rx) = watch::channel(None);
        let ctx = JpegCtx {
            quality: profile.quality,
            max_width: profile.max_width,
            fps: profile.fps,
            mailbox: Arc::clone(&mailbox),
            frames: tx,
            stats: stats.clone(),
        };
        let thread = self
            .monitor
            .spawn_thread(format!("jpeg-{key}"), owner.clone(), move || run_jpeg(ctx))
            .map_err(|e| MediaError::Encoder(format!("cannot start the jpeg thread: {e}")))?;
        Self::attach(entry, &mailbox);
        Ok(JpegPipe {
            id: self.next_id.fetch_add(1, Relaxed),
            mailbox,
            frames: rx,
            subscribers: HashMap::new(),
            stats,
            owner,
            thread: Some(thread),
        })
    }

    /// Stops the screen's capture when nothing consumes it any more.
    fn release_screen_if_idle(&self, state: &mut State, screen: &str) {
        if let Some(entry) = state.screens.get(screen) {
            entry.update_stats();
        }
        if state
            .screens
            .get(screen)
            .is_some_and(|e| !e.has_consumers())
        {
            let mut entry = state.screens.remove(screen).expect("checked above");
            self.stop_entry_threads(&mut entry, &mut state.stopping);
        }
        // Every unsubscribe passes here: the list holds only threads still winding down.
        state.stopping.retain(|h| !h.is_finished());
    }

    fn unsubscribe_video(
        &self,
        screen: &str,
        profile: &VideoProfile,
        pipe_id: u64,
        subscriber: u64,
    ) {
        let mut state = self.state.lock();
        let State {
            screens, stopping, ..
        } = &mut *state;
        let Some(entry) = screens.get_mut(screen) else {
            return;
        };
        let Some(pipe) = entry.video.get_mut(profile).filter(|p| p.id == pipe_id) else {
            return;
        };
        let remaining = {
            let mut fanout = pipe.fanout.lock();
            fanout.remove(subscriber);
            fanout.len()
        };
        pipe.stats.set_subscribers(remaining);
        if remaining == 0 {
            let mut pipe = entry.video.remove(profile).expect("found above");
            pipe.mailbox.update(|m| m.stop = true);
            Self::detach(entry, &pipe.mailbox);
            stopping.extend(pipe.thread.take());
            self.monitor.close_owner(&pipe.owner);
        }
        self.release_screen_if_idle(&mut state, screen);
    }

    fn unsubscribe_jpeg(
        &self,
        screen: &str,
        key: (u8, Option<u32>),
        pipe_id: u64,
        subscriber: u64,
    ) {
        let mut state = self.state.lock();
        let State {
            screens, stopping, ..
        } = &mut *state;
        let Some(entry) = screens.get_mut(screen) else {
            return;
        };
        let Some(pipe) = entry.jpeg.get_mut(&key).filter(|p| p.id == pipe_id) else {
            return;
        };
        pipe.subscribers.remove(&subscriber);
        pipe.stats.set_subscribers(pipe.subscribers.len());
        if let Some(fps) = pipe.subscribers.values().copied().max() {
            pipe.mailbox.update(|m| m.fps = Some(fps));
        } else {
            let mut pipe = entry.jpeg.remove(&key).expect("found above");
            pipe.mailbox.update(|m| m.stop = true);
            Self::detach(entry, &pipe.mailbox);
            stopping.extend(pipe.thread.take());
            self.monitor.close_owner(&pipe.owner);
        }
        self.release_screen_if_idle(&mut state, screen);
    }

    fn unsubscribe_frames(&self, screen: &str, capture: &Arc<CaptureShared>) {
        let mut state = self.state.lock();
        let Some(entry) = state.screens.get_mut(screen) else {
            return;
        };
        if !Arc::ptr_eq(&entry.capture, capture) {
            return;
        }
        entry.frame_subscribers = entry.frame_subscribers.saturating_sub(1);
        self.release_screen_if_idle(&mut state, screen);
    }
}

fn capture_owner(screen: &str) -> Owner {
    Owner::Pipeline(
        PipelineKey {
            screen: screen.to_owned(),
            kind: "capture".into(),
            profile: String::new(),
        }
        .to_string(),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Subscriptions

/// What a video subscription needs of its pipeline.
#[derive(Clone)]
struct PipeHandle {
    screen: String,
    pipe_id: u64,
    mailbox: Arc<Mailbox>,
    stats: PipelineStatsHandle,
}

/// Keyframe and bitrate requests for the pipeline of a [`VideoSubscription`]. Both take effect before the encoder's
/// next frame: a request only sets a flag in the pipeline's mailbox, so it never blocks. Once the pipeline has
/// stopped, requests do nothing.
#[derive(Clone)]
pub struct VideoControl {
    monitor: Monitor,
    pipe: PipeHandle,
}

impl std::fmt::Debug for VideoControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoControl")
            .field("screen", &self.pipe.screen)
            .field("pipe", &self.pipe.pipe_id)
            .finish()
    }
}

impl VideoControl {
    /// Asks for an IDR (coalesced with other requests by the pipeline's keyframe gate).
    pub fn request_keyframe(&self) {
        self.monitor.operation("keyframe_request", None).ok();
        self.pipe.stats.record_keyframe_request();
        self.pipe.mailbox.update(|m| m.keyframe = true);
    }

    /// Changes the pipeline's bitrate (kbit/s) for every subscriber of the pipeline. The encoder restarts with an
    /// IDR. Out-of-range values are refused.
    pub fn set_bitrate(&self, kbps: u32) -> Result<(), MediaError> {
        if !(h264::MIN_BITRATE_KBPS..=h264::MAX_BITRATE_KBPS).contains(&kbps) {
            return Err(MediaError::invalid("bitrate_kbps", kbps));
        }
        self.pipe.mailbox.update(|m| m.bitrate_kbps = Some(kbps));
        Ok(())
    }
}

/// A subscriber of one H.264 pipeline. Dropping it unsubscribes; the last one stops the pipeline.
pub struct VideoSubscription {
    engine: Engine,
    info: ScreenInfo,
    profile: VideoProfile,
    rx: mpsc::Receiver<Arc<AccessUnit>>,
    counters: Arc<SubscriberCounters>,
    /// Keyframe and bitrate requests, and the pipeline this subscription belongs to.
    control: VideoControl,
    subscriber_id: u64,
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
    /// encoder). The encoder restarts with an IDR. Out-of-range values are refused.
    pub fn set_bitrate(&self, kbps: u32) -> Result<(), MediaError> {
        self.control.set_bitrate(kbps)
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
        self.engine.inner.unsubscribe_video(
            &self.control.pipe.screen,
            &self.profile,
            self.control.pipe.pipe_id,
            self.subscriber_id,
        );
    }
}

/// A subscriber of one JPEG pipeline: latest frame wins, nothing queues. Dropping it unsubscribes.
pub struct JpegSubscription {
    engine: Engine,
    info: ScreenInfo,
    key: (u8, Option<u32>),
    pipe_id: u64,
    id: u64,
    frames: watch::Receiver<Option<Arc<JpegFrame>>>,
}

impl std::fmt::Debug for JpegSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpegSubscription")
            .field("screen", &self.info.id)
            .field("quality", &self.key.0)
            .field("max_width", &self.key.1)
            .finish_non_exhaustive()
    }
}

impl JpegSubscription {
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

impl Drop for JpegSubscription {
    fn drop(&mut self) {
        self.engine
            .inner
            .unsubscribe_jpeg(&self.info.id, self.key, self.pipe_id, self.id);
    }
}

/// Raw captured frames of one screen (latest wins). Keeps the capture running while held.
pub struct FrameSubscription {
    engine: Engine,
    info: ScreenInfo,
    capture: Arc<CaptureShared>,
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
        self.engine
            .inner
            .unsubscribe_frames(&self.info.id, &self.capture);
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

// ---------------------------------------------------------------------------------------------------------------
// Thread bodies

struct CaptureCtx {
    desktop: Arc<dyn Desktop>,
    screen: String,
    fps: u32,
    shared: Arc<CaptureShared>,
    latest: watch::Sender<Option<Arc<Frame>>>,
    stats: PipelineStatsHandle,
}

fn run_capture(ctx: CaptureCtx) {
    let reason = capture_loop(&ctx);
    match &reason {
        Ok(()) => tracing::debug!(screen = %ctx.screen, "capture stopped"),
        Err(e) => {
            tracing::warn!(screen = %ctx.screen, error = %e, "capture ended; its pipelines stop")
        }
    }
    if reason.is_err() {
        ctx.shared.ended.store(true, Relaxed);
        for consumer in ctx.shared.consumers.lock().iter() {
            consumer.update(|m| m.closed = true);
        }
    }
    // Dropping `ctx.latest` here ends every frame subscription's `changed()`.
}

fn capture_loop(ctx: &CaptureCtx) -> Result<(), MediaError> {
    let mut source = ctx.desktop.open(&ctx.screen)?;
    let mut pacer = Pacer::new(ctx.fps);
    let mut failures = 0u32;
    let mut first = true;
    let mut late_logged = Instant::now();
    loop {
        let now = Instant::now();
        let Some(tick) = pacer.poll(now) else {
            if ctx.shared.control.take(Some(pacer.deadline(now))).stop {
                return Ok(());
            }
            continue;
        };
        if ctx.shared.control.mail.lock().stop {
            return Ok(());
        }
        if tick.late && now.duration_since(late_logged) > Duration::from_secs(10) {
            late_logged = now;
            tracing::debug!(screen = %ctx.screen, skipped = pacer.skipped_ticks(), "capture running late");
        }
        let started = Instant::now();
        // The first capture is forced: consumers need a picture even of a static screen.
        match source.capture(first) {
            Ok(Some(frame)) => {
                first = false;
                failures = 0;
                ctx.stats
                    .record_capture(started.elapsed().as_secs_f64() * 1000.0);
                let frame = Arc::new(frame);
                // The watch first: a consumer attaching in between then gets this frame from it (at worst twice).
                ctx.latest.send_replace(Some(Arc::clone(&frame)));
                for consumer in ctx.shared.consumers.lock().iter() {
                    consumer.post_frame(Arc::clone(&frame));
                }
            }
            Ok(None) => ctx.stats.record_skip_unchanged(),
            Err(e) => {
                failures += 1;
                ctx.stats.record_drop("capture_error");
                if failures >= MAX_CAPTURE_FAILURES {
                    return Err(e);
                }
            }
        }
    }
}

struct VideoCtx {
    profile: VideoProfile,
    fps: u32,
    mailbox: Arc<Mailbox>,
    fanout: Arc<Mutex<Fanout>>,
    stats: PipelineStatsHandle,
    monitor: Monitor,
    key: String,
}

fn run_video(ctx: VideoCtx) {
    let mut gate = KeyframeGate::default();
    let result = video_loop(&ctx, &mut gate);
    let (requests, coalesced, forced) = (gate.requests(), gate.coalesced(), gate.forced());
    match result {
        Ok(()) => tracing::debug!(
            pipeline = %ctx.key, requests, coalesced, forced, "video pipeline stopped"
        ),
        Err(e) => tracing::warn!(
            pipeline = %ctx.key, error = %e, requests, coalesced, forced, "video pipeline ended"
        ),
    }
    // Dropping the senders ends every subscriber's `recv()`.
    *ctx.fanout.lock() = Fanout::new();
}

/// Subscriber drops are logged at most this often, as one aggregate line.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

fn video_loop(ctx: &VideoCtx, gate: &mut KeyframeGate) -> Result<(), MediaError> {
    let mut encoder: Option<H264Encoder> = None;
    let mut bitrate = ctx.profile.bitrate_kbps;
    let mut picture = I420Buffer::new();
    let mut last_capture: Option<SystemTime> = None;
    let mut last_frame: Option<Arc<Frame>> = None;
    let mut failures = 0u32;
    let (mut drops_unlogged, mut drops_logged_at) = (0u64, Instant::now());
    loop {
        let deadline = last_capture.and(gate.due_at(Instant::now()));
        let mail = ctx.mailbox.take(deadline);
        if mail.stop {
            return Ok(());
        }
        let now = Instant::now();
        if mail.keyframe {
            gate.request(now);
        }
        for _ in 0..mail.replaced {
            ctx.stats.record_drop("encoder_behind");
        }
        if let Some(kbps) = mail.bitrate_kbps
            && kbps != bitrate
        {
            bitrate = kbps;
            if let Some(enc) = encoder.as_mut() {
                let op = ctx.monitor.operation("encoder_restart", None);
                op.finish_with(enc.set_bitrate(kbps))?;
                ctx.stats.record_restart();
            }
        }
        // A consumer attaching while the capture publishes can be handed the same frame twice: encode it once.
        let fresh = mail
            .frame
            .filter(|f| last_frame.as_ref().is_none_or(|last| !Arc::ptr_eq(last, f)));
        let captured_at = match &fresh {
            Some(frame) => {
                let started = Instant::now();
                bgra_to_i420(frame, ctx.profile.max_width, &mut picture)?;
                ctx.stats
                    .record_convert(started.elapsed().as_secs_f64() * 1000.0);
                last_capture = Some(frame.captured_at);
                last_frame = Some(Arc::clone(frame));
                frame.captured_at
            }
            // Unchanged screen: re-encode the last picture only to serve a pending keyframe.
            None => match last_capture {
                Some(at) if gate.due_at(now).is_some_and(|due| due <= now) => at,
                _ => {
                    if mail.closed {
                        return Err(MediaError::Stopped);
                    }
                    continue;
                }
            },
        };
        let enc = match encoder.as_mut() {
            Some(enc) => enc,
            None => {
                let settings = H264Settings {
                    width: picture.width(),
                    height: picture.height(),
                    fps: ctx.fps,
                    bitrate_kbps: bitrate,
                    usage: ctx.profile.usage,
                };
                let op = ctx.monitor.operation("encoder_start", None);
                encoder.insert(op.finish_with(H264Encoder::new(settings))?)
            }
        };
        let force = gate.should_force(now);
        match enc.encode(&picture, force, captured_at) {
            Ok(Some(au)) => {
                failures = 0;
                if au.keyframe {
                    gate.on_idr(now);
                }
                ctx.stats
                    .record_encode(au.encode_ms, au.data.len(), au.keyframe);
                let published = ctx.fanout.lock().publish(&Arc::new(au));
                for _ in 0..published.dropped {
                    ctx.stats.record_drop("subscriber_queue_full");
                }
                drops_unlogged += published.dropped as u64;
                if drops_unlogged > 0 && drops_logged_at.elapsed() >= DROP_LOG_INTERVAL {
                    tracing::info!(
                        pipeline = %ctx.key, dropped = drops_unlogged, subscribers = ctx.fanout.lock().len(),
                        "units dropped for lagging subscribers (they resume at the next IDR)"
                    );
                    (drops_unlogged, drops_logged_at) = (0, Instant::now());
                }
                if published.keyframe_wanted {
                    gate.request(now);
                    ctx.stats.record_keyframe_request();
                }
            }
            Ok(None) => ctx.stats.record_drop("encoder_skipped"),
            Err(e) => {
                failures += 1;
                tracing::warn!(pipeline = %ctx.key, error = %e, failures, "encode failed");
                if failures >= MAX_ENCODE_FAILURES {
                    return Err(e);
                }
            }
        }
        if mail.closed {
            return Err(MediaError::Stopped);
        }
    }
}

struct JpegCtx {
    quality: u8,
    max_width: Option<u32>,
    fps: u32,
    mailbox: Arc<Mailbox>,
    frames: watch::Sender<Option<Arc<JpegFrame>>>,
    stats: PipelineStatsHandle,
}

fn run_jpeg(ctx: JpegCtx) {
    if let Err(e) = jpeg_loop(&ctx) {
        tracing::warn!(error = %e, "jpeg pipeline ended");
    }
    // Dropping `ctx.frames` ends every subscriber's `changed()`.
}

fn jpeg_loop(ctx: &JpegCtx) -> Result<(), MediaError> {
    let mut encoder = JpegEncoder::new()?;
    let mut pacer = Pacer::new(ctx.fps);
    let mut pending: Option<Arc<Frame>> = None;
    let mut last_seq = None;
    loop {
        let deadline = pending.as_ref().map(|_| pacer.deadline(Instant::now()));
        let mail = ctx.mailbox.take(deadline);
        if mail.stop {
            return Ok(());
        }
        if let Some(fps) = mail.fps {
            pacer.set_fps(fps, Instant::now());
        }
        if let Some(frame) = mail.frame {
            // Unchanged pictures are neither re-encoded nor re-published.
            if last_seq != Some(frame.seq) {
                pending = Some(frame);
            }
        }
        // A closing source flushes its last picture at once instead of waiting for the pacer.
        if pending.is_some() && (mail.closed || pacer.poll(Instant::now()).is_some()) {
            let frame = pending.take().expect("checked above");
            let started = Instant::now();
            let jpeg = encoder.encode(&frame, ctx.quality, ctx.max_width)?;
            ctx.stats.record_encode(
                started.elapsed().as_secs_f64() * 1000.0,
                jpeg.data.len(),
                true,
            );
            last_seq = Some(frame.seq);
            ctx.frames.send_replace(Some(Arc::new(jpeg)));
        }
        if mail.closed {
            return Err(MediaError::Stopped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn handles_cross_threads() {
        send_sync::<Engine>();
        send::<VideoSubscription>();
        send::<JpegSubscription>();
        send::<FrameSubscription>();
    }

    #[test]
    fn mailbox_keeps_the_latest_frame_and_counts_replaced_ones() {
        let mb = Mailbox::default();
        let frame = |seq| {
            Arc::new(Frame {
                width: 2,
                height: 2,
                stride: 8,
                data: Arc::from(vec![0u8; 16]),
                captured_at: SystemTime::now(),
                seq,
            })
        };
        mb.post_frame(frame(1));
        mb.post_frame(frame(2));
        mb.update(|m| m.keyframe = true);
        let mail = mb.take(None);
        assert_eq!(mail.frame.unwrap().seq, 2);
        assert_eq!(mail.replaced, 1);
        assert!(mail.keyframe);
        // Nothing pending: a deadline ends the wait with empty mail.
        let empty = mb.take(Some(Instant::now() + Duration::from_millis(5)));
        assert!(empty.frame.is_none() && !empty.keyframe);
        // Stop is a state: every later take sees it at once.
        mb.update(|m| m.stop = true);
        assert!(mb.take(None).stop);
        assert!(mb.take(None).stop);
    }

    #[test]
    fn profile_names_and_defaults() {
        assert_eq!(VideoProfile::default().name(), "camera-4000k-full");
        let p = VideoProfile {
            bitrate_kbps: 2000,
            max_width: Some(1280),
            usage: Usage::Screen,
        };
        assert_eq!(p.name(), "screen-2000k-w1280");
        assert!(EngineConfig::default().validate().is_ok());
        assert_eq!(JpegProfile::default().max_width, Some(960));
    }
}
