//! The engine: starts a pipeline with its first subscriber, shares it with every later one, stops it with its
//! last, and runs all media work on plain threads.
//!
//! # Threads
//! - **capture**, one per screen with any consumer: paces at `EngineConfig::fps`, asks the
//!   [`FrameSource`](crate::FrameSource) for a changed frame and posts the `Arc<Frame>` to every consumer's
//!   mailbox (latest wins) and to a `watch` for async readers (frame subscriptions, snapshots).
//! - **h264**, one per (screen, [`VideoProfile`]): converts (+downscale), asks its
//!   [`KeyframeGate`](crate::keyframe::KeyframeGate) whether to force an IDR, sets the encoder's bitrate target
//!   from its subscribers' wishes ([`VideoControl::set_desired_bitrate`], rules in [`encoder_target`]), encodes
//!   once and hands the `Arc<AccessUnit>` to its [`Fanout`](crate::fanout::Fanout). A keyframe pending on an
//!   unchanged screen re-encodes the last picture as an IDR, so a new viewer of a static screen gets a picture.
//! - **jpeg**, one per (screen, quality, max_width) while a JPEG subscriber exists: encodes only changed frames,
//!   at the highest fps its subscribers asked for, into a `watch` (latest wins, never queues).
//! - **input**, one per engine: injects events in order from a bounded queue of [`INPUT_QUEUE`].
//!
//! Every thread is started with `Monitor::spawn_thread` and owned by its pipeline; stopping a pipeline closes the
//! owner in the monitor, which arms leak detection. The engine never blocks the async runtime except in
//! [`Engine::shutdown`], which joins the threads it stopped (each ends within one frame's work).
//!
//! # Parts
//! - `registry`: the pure decisions — who subscribed to what, and which captures and pipes to start or stop,
//!   returned as steps;
//! - `state`: the shared state that carries those steps out on running threads;
//! - `pipe`: one generic encoder pipeline, with `video` (H.264) and `jpeg` as its two kinds;
//! - `capture`, `input`: the other two threads; `mailbox`: how threads are woken;
//! - `profile`: what subscribers ask for and its validation; `subscription`: the handles given out;
//! - `target`: the pure rule for an H.264 encoder's bitrate target;
//! - `relay` (the API), `remotes` and `relay_pipe`: remote screens, whose streams are relayed from a far end instead of
//!   captured and encoded here.
//!
//! # Ends
//! A subscription's `recv`/`changed` returns `None` when its pipeline ended: the engine was shut down, or the
//! screen's capture failed [`MAX_CAPTURE_FAILURES`] times in a row (a screen that vanished), or the encoder kept
//! failing ([`MAX_ENCODE_FAILURES`]). The next subscriber then gets a fresh pipeline. Dropping a subscription
//! unsubscribes.

mod capture;
mod input;
mod jpeg;
mod mailbox;
mod pipe;
mod profile;
mod registry;
mod relay;
mod relay_pipe;
mod remotes;
mod state;
mod still;
mod subscription;
mod target;
mod video;

use std::sync::Arc;

use sightline_monitor::{Monitor, Owner};

pub use capture::MAX_CAPTURE_FAILURES;
pub use input::INPUT_QUEUE;
pub use profile::{EngineConfig, JpegProfile, MAX_JPEG_FPS, MIN_MAX_WIDTH, VideoProfile};
pub use relay::{JpegSink, RelayStreamId, Upstream, VideoSink};
pub use relay_pipe::RELAY_KEYFRAME_RETRY;
pub use subscription::{
    CursorSubscription, FrameSubscription, JpegSubscription, VideoControl, VideoSubscription,
};
pub use target::{MIN_RETARGET_PERCENT, encoder_target, worth_retargeting};
pub use video::MAX_ENCODE_FAILURES;

use crate::jpeg::{JpegEncoder, JpegFrame};
use crate::{Desktop, Frame, InputEvent, MediaError, ScreenInfo};
use registry::Want;
use state::Shared;

/// The engine handle: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Creates the engine and its input thread. Pipelines start with their first subscriber. An invalid `cfg`
    /// value is clamped (the gateway validates its config before; see [`EngineConfig::validate`]).
    pub fn new(desktop: Arc<dyn Desktop>, cfg: EngineConfig, monitor: Monitor) -> Self {
        let mut cfg = cfg;
        if let Err(e) = cfg.validate() {
            tracing::warn!(error = %e, "engine config out of range; clamping fps");
            cfg = cfg.clamped();
        }
        Self {
            shared: Arc::new(Shared::new(desktop, cfg, monitor)),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.cfg
    }

    /// The desktop backend the engine captures from.
    pub fn desktop(&self) -> &Arc<dyn Desktop> {
        &self.shared.desktop
    }

    /// The screens of the desktop (re-read from the backend).
    pub fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        self.shared.desktop.screens()
    }

    /// Registers a remote screen (its `info.id` is the gateway's id for it, e.g. `"<device>/<screen>"`) served by
    /// `upstream`; replaces a remote screen of the same id (ending its subscriptions). See [`Upstream`].
    ///
    /// Its open streams are closed upstream (each gets one [`Upstream::close`], called on this thread with the
    /// engine's locks released) and their subscribers' `recv`/`changed` return `None`.
    pub fn add_remote(&self, info: ScreenInfo, upstream: Arc<dyn Upstream>) {
        self.shared.remotes.add(info, upstream);
    }

    /// Forgets a remote screen: every subscription of it ends (`recv`/`changed` return `None`) and its open streams
    /// are closed upstream; subscribing to it then fails with [`MediaError::UnknownScreen`]. An unknown id is
    /// ignored.
    pub fn remove_remote(&self, screen: &str) {
        self.shared.remotes.remove(screen);
    }

    /// The remote screens registered now, in id order.
    pub fn remote_screens(&self) -> Vec<ScreenInfo> {
        self.shared.remotes.screens()
    }

    /// Whether `screen` is a registered remote screen.
    pub fn is_remote(&self, screen: &str) -> bool {
        self.shared.remotes.contains(screen)
    }

    /// Subscribes to the H.264 stream of `screen` in `profile`, starting the pipeline (and the capture) if this
    /// is its first subscriber. The subscription receives nothing until the next IDR, which it requests.
    ///
    /// On a remote screen the subscription reads the screen's relay pipe for `profile`, opened upstream by its
    /// first subscriber (see [`Upstream`]).
    pub fn subscribe_video(
        &self,
        screen: &str,
        profile: VideoProfile,
    ) -> Result<VideoSubscription, MediaError> {
        profile.validate()?;
        let shared = Arc::clone(&self.shared);
        let sub = match self
            .shared
            .remotes
            .join_video(&self.shared.monitor, screen, profile)?
        {
            Some(joined) => VideoSubscription::relayed(shared, profile, joined),
            None => self
                .shared
                .subscribe(screen, Want::Video(profile), |joined| {
                    VideoSubscription::join(shared, profile, joined)
                })?,
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
        let shared = Arc::clone(&self.shared);
        if let Some(joined) =
            self.shared
                .remotes
                .join_jpeg(&self.shared.monitor, screen, profile)?
        {
            return Ok(JpegSubscription::relayed(shared, profile, joined));
        }
        self.shared
            .subscribe(screen, Want::Jpeg(profile), |joined| {
                JpegSubscription::join(shared, profile, joined)
            })
    }

    /// Subscribes to the raw captured frames of `screen` (keeps the capture running while held). The first
    /// [`FrameSubscription::changed`] returns the latest frame if there is one.
    pub fn subscribe_frames(&self, screen: &str) -> Result<FrameSubscription, MediaError> {
        self.shared.remotes.refuse(
            screen,
            "its raw frames are captured by its device, not by this engine",
        )?;
        let shared = Arc::clone(&self.shared);
        self.shared.subscribe(screen, Want::Frames, |joined| {
            FrameSubscription::join(shared, joined)
        })
    }

    /// Subscribes to the pointer of `screen` as its capture sees it each tick ([`crate::CursorMode::Overlay`]);
    /// keeps the capture running while held, like a frame subscription.
    /// The first [`CursorSubscription::changed`] returns the latest state if there is one. Registered like a frame
    /// subscriber (it needs nothing but the capture), so it counts among the capture's consumers.
    pub fn subscribe_cursor(&self, screen: &str) -> Result<CursorSubscription, MediaError> {
        self.shared.remotes.refuse(
            screen,
            "its pointer is tracked by its device, not by this engine",
        )?;
        let shared = Arc::clone(&self.shared);
        self.shared.subscribe(screen, Want::Frames, |joined| {
            CursorSubscription::join(shared, joined)
        })
    }

    /// Like [`Engine::snapshot`], with the pointer as the same capture saw it (`None` when the backend reports no
    /// cursor), for screenshots that include the cursor ([`crate::cursor::composite`]).
    pub async fn snapshot_with_cursor(
        &self,
        screen: &str,
    ) -> Result<(Arc<Frame>, Option<crate::CursorState>), MediaError> {
        let op = self.shared.monitor.operation("frame_capture", None);
        let result = self.snapshot_with_cursor_inner(screen).await;
        op.finish_with(result)
    }

    /// The running capture's latest frame and pointer, otherwise one forced capture of a fresh source and the
    /// pointer that capture saw.
    async fn snapshot_with_cursor_inner(
        &self,
        screen: &str,
    ) -> Result<(Arc<Frame>, Option<crate::CursorState>), MediaError> {
        self.shared.remotes.refuse(
            screen,
            "its snapshots are taken by its device, not by this engine",
        )?;
        if let Some(latest) = self.shared.latest_with_cursor(screen)? {
            return Ok(latest);
        }
        let desktop = Arc::clone(&self.shared.desktop);
        let id = screen.to_owned();
        self.shared
            .monitor
            .spawn_blocking("media-snapshot", Owner::Gateway, move || {
                let mut source = desktop.open(&id)?;
                let frame = source.capture(true)?.ok_or_else(|| {
                    MediaError::Capture("a forced capture returned no frame".into())
                })?;
                Ok((Arc::new(frame), source.cursor()))
            })
            .await
            .map_err(|e| MediaError::Capture(format!("snapshot job failed: {e}")))?
    }

    /// The latest frame of `screen`: the running capture's if any, otherwise one capture on a blocking thread.
    /// Recorded as a `frame_capture` operation; callers that encode the frame for someone record their own
    /// `snapshot` with that connection.
    pub async fn snapshot(&self, screen: &str) -> Result<Arc<Frame>, MediaError> {
        let op = self.shared.monitor.operation("frame_capture", None);
        let result = self.snapshot_with_cursor_inner(screen).await;
        op.finish_with(result).map(|(frame, _)| frame)
    }

    /// One encoded picture of `screen` (MCP screenshots, REST snapshots): the running capture's latest frame when
    /// there is one, otherwise a grab of only the requested region by the screen's warm still grabber
    /// ([`crate::still`]), kept open for the idle period ([`crate::still::STILL_IDLE`]). Encoded straight from the
    /// captured pixels on the blocking pool. Recorded as a `frame_capture` operation.
    ///
    /// Fails with [`MediaError::Invalid`] for a region outside the screen, a bad quality or width.
    pub async fn still(
        &self,
        screen: &str,
        request: crate::StillRequest,
    ) -> Result<crate::Still, MediaError> {
        let op = self.shared.monitor.operation("frame_capture", None);
        let result = async {
            self.shared.remotes.refuse(
                screen,
                "its stills are taken by its device, not by this engine",
            )?;
            let latest = self.shared.latest_with_cursor(screen)?;
            self.shared
                .stills
                .still(
                    &self.shared.desktop,
                    &self.shared.monitor,
                    screen,
                    request,
                    latest,
                )
                .await
        }
        .await;
        op.finish_with(result)
    }

    /// Sets how long a screen's still grabber stays open after its last use (default
    /// [`crate::still::STILL_IDLE`]); tests shorten it.
    pub fn set_still_idle(&self, idle: std::time::Duration) {
        self.shared.stills.set_idle(idle);
    }

    /// The screens whose still grabber is open now (warm), in id order.
    pub fn warm_stills(&self) -> Vec<String> {
        self.shared.stills.warm()
    }

    /// Encodes one frame as JPEG on a blocking thread (HQ frames, snapshots).
    pub async fn encode_jpeg(
        &self,
        frame: Arc<Frame>,
        quality: u8,
        max_width: Option<u32>,
    ) -> Result<JpegFrame, MediaError> {
        crate::jpeg::validate_quality(quality)?;
        profile::validate_max_width(max_width)?;
        self.shared
            .monitor
            .spawn_blocking("media-jpeg-oneshot", Owner::Gateway, move || {
                JpegEncoder::new()?.encode(&frame, quality, max_width)
            })
            .await
            .map_err(|e| MediaError::Encoder(format!("jpeg job failed: {e}")))?
    }

    /// Injects one event into `screen` through the engine's input thread, in order with every other event, and
    /// waits until it was injected. Fails at once with [`MediaError::Busy`] when [`INPUT_QUEUE`] actions are
    /// already waiting.
    pub async fn inject(&self, screen: &str, event: InputEvent) -> Result<(), MediaError> {
        self.inject_all(screen, vec![event]).await
    }

    /// Injects one action's events into `screen` in order, as one entry of the input queue: either all of them
    /// are queued or, when [`INPUT_QUEUE`] actions are already waiting, none is ([`MediaError::Busy`]). Injection
    /// stops at the first event that fails.
    pub async fn inject_all(
        &self,
        screen: &str,
        events: Vec<InputEvent>,
    ) -> Result<(), MediaError> {
        self.shared.remotes.refuse(
            screen,
            "its input is injected by its device, not by this engine",
        )?;
        let done = self.shared.input.send(screen, events)?;
        done.await.map_err(|_| MediaError::Stopped)?
    }

    /// Stops every pipeline and the input thread, and joins their threads. Subscriptions then return `None`.
    /// Idempotent. Blocks for at most about one frame's work per thread.
    pub fn shutdown(&self) {
        self.shared.shutdown();
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
        send::<CursorSubscription>();
        send_sync::<VideoControl>();
    }
}
