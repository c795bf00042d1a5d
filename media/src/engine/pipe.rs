//! One running encoder pipeline — H.264 or JPEG — and everything its start and stop share.
//!
//! A [`Pipe`] is an encode thread fed by a screen's capture through its [`Mailbox`], with a pipeline key and
//! statistics in the monitor and an output its subscribers read (the H.264 fan-out, the latest JPEG picture). The
//! two kinds differ only in what their thread does and what it outputs: that is the [`Encoding`] trait, implemented
//! by `video::H264` and `jpeg::Jpeg`. Starting, detecting an end and stopping are written once, here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;

use sightline_monitor::{Monitor, Owner, PipelineKey, PipelineStatsHandle};

use super::capture::Capture;
use super::mailbox::Mailbox;
use super::profile::EngineConfig;
use super::registry::PipeId;
use crate::MediaError;

/// What the engine hands a pipe's thread body.
pub(super) struct Env {
    /// The capture rate (the H.264 encoder's budget per frame).
    pub(super) fps: u32,
    /// Whether H.264 encoders may skip pictures to hold their target ([`EngineConfig::frame_skip`]).
    pub(super) frame_skip: bool,
    /// Frames from the capture, and requests from the engine and subscribers.
    pub(super) mailbox: Arc<Mailbox>,
    /// The pipeline's statistics.
    pub(super) stats: PipelineStatsHandle,
    /// For operations (`encoder_start`).
    pub(super) monitor: Monitor,
    /// The pipeline key's display form, for logs.
    pub(super) key: String,
    /// Set by the thread just before its output closes, so the engine never hands a new subscriber a pipe whose
    /// stream has ended.
    pub(super) ended: Arc<AtomicBool>,
}

/// One kind of encoder pipeline.
pub(super) trait Encoding {
    /// What the pipe is started with.
    type Profile: Copy;
    /// What subscribers read from.
    type Output;
    /// The pipeline kind in monitor keys and thread names (`"h264"`, `"jpeg"`).
    const KIND: &'static str;

    /// The profile part of the pipeline key.
    fn profile_name(profile: &Self::Profile) -> String;

    /// The error when the thread cannot be spawned.
    fn spawn_error(e: std::io::Error) -> MediaError;

    /// The subscribers' output and the thread body.
    fn prepare(
        profile: Self::Profile,
        env: Env,
    ) -> (Self::Output, Box<dyn FnOnce() + Send + 'static>);
}

/// A running pipeline of kind `E`, owned by the engine's state.
pub(super) struct Pipe<E: Encoding> {
    id: PipeId,
    mailbox: Arc<Mailbox>,
    output: E::Output,
    stats: PipelineStatsHandle,
    owner: Owner,
    ended: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<E: Encoding> Pipe<E> {
    /// Spawns the pipe's thread and attaches it to `capture`, which hands it the latest frame at once. `cfg` gives
    /// the rate and the encoder settings every pipe shares.
    pub(super) fn start(
        monitor: &Monitor,
        capture: &Capture,
        id: PipeId,
        profile: E::Profile,
        cfg: &EngineConfig,
    ) -> Result<Self, MediaError> {
        let key = PipelineKey {
            screen: capture.info().id.clone(),
            kind: E::KIND.into(),
            profile: E::profile_name(&profile),
        };
        let owner = Owner::Pipeline(key.to_string());
        let stats = monitor.pipeline(key.clone());
        let mailbox = Arc::new(Mailbox::default());
        let ended = Arc::new(AtomicBool::new(false));
        let env = Env {
            fps: cfg.fps,
            frame_skip: cfg.frame_skip,
            mailbox: Arc::clone(&mailbox),
            stats: stats.clone(),
            monitor: monitor.clone(),
            key: key.to_string(),
            ended: Arc::clone(&ended),
        };
        let (output, body) = E::prepare(profile, env);
        let thread = monitor
            .spawn_thread(format!("{}-{key}", E::KIND), owner.clone(), body)
            .map_err(E::spawn_error)?;
        capture.attach(&mailbox);
        Ok(Self {
            id,
            mailbox,
            output,
            stats,
            owner,
            ended,
            thread: Some(thread),
        })
    }

    /// The registry's id of this pipe.
    pub(super) fn id(&self) -> PipeId {
        self.id
    }

    /// What subscribers read from.
    pub(super) fn output(&self) -> &E::Output {
        &self.output
    }

    /// The pipe's mailbox (keyframe, bitrate and rate requests).
    pub(super) fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// The pipe's statistics.
    pub(super) fn stats(&self) -> &PipelineStatsHandle {
        &self.stats
    }

    /// Whether the thread ended on its own (encoder failure, screen gone); its subscribers' streams have ended.
    pub(super) fn has_ended(&self) -> bool {
        self.ended.load(Relaxed)
    }

    /// Tells the thread to stop, detaches it from `capture` (if that still runs), hands its handle to `stopping`
    /// (joined by `shutdown`) and closes its owner in the monitor, which arms leak detection.
    pub(super) fn stop(
        mut self,
        monitor: &Monitor,
        capture: Option<&Capture>,
        stopping: &mut Vec<JoinHandle<()>>,
    ) {
        self.mailbox.update(|m| m.stop = true);
        self.stats.set_subscribers(0);
        if let Some(capture) = capture {
            capture.detach(&self.mailbox);
        }
        stopping.extend(self.thread.take());
        monitor.close_owner(&self.owner);
    }
}
