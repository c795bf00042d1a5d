//! The capture of one screen: its thread, the consumers it feeds, and how it ends.
//!
//! The thread paces at `EngineConfig::fps` ([`Pacer`]), asks the [`FrameSource`](crate::FrameSource) for a
//! changed frame, publishes the `Arc<Frame>` to a `watch` (frame subscriptions, snapshots, late joiners) and
//! posts it to every consumer's [`Mailbox`] (latest wins). After [`MAX_CAPTURE_FAILURES`] failures in a row the
//! screen counts as gone: the capture marks itself ended, closes every consumer's mailbox and drops its `watch`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sightline_monitor::{Monitor, Owner, PipelineKey, PipelineStatsHandle};
use tokio::sync::watch;

use super::mailbox::Mailbox;
use crate::pacer::Pacer;
use crate::{Desktop, Frame, MediaError, ScreenInfo};

/// Consecutive capture failures after which a screen counts as gone and its pipelines end. A display that
/// refuses ten captures in a row (a third of a second at 30 fps) has lost the screen; a single failure is noise.
pub const MAX_CAPTURE_FAILURES: u32 = 10;

/// Shared between the engine and one capture thread.
struct Shared {
    control: Mailbox,
    consumers: Mutex<Vec<Arc<Mailbox>>>,
    latest: watch::Receiver<Option<Arc<Frame>>>,
    ended: AtomicBool,
}

/// A running capture, owned by the engine's state.
pub(super) struct Capture {
    info: ScreenInfo,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The capture's statistics (its thread holds another handle).
    stats: PipelineStatsHandle,
}

impl Capture {
    /// Starts capturing `info`'s screen at `fps`.
    pub(super) fn start(
        monitor: &Monitor,
        desktop: &Arc<dyn Desktop>,
        info: ScreenInfo,
        fps: u32,
    ) -> Result<Self, MediaError> {
        let (tx, rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            control: Mailbox::default(),
            consumers: Mutex::new(Vec::new()),
            latest: rx,
            ended: AtomicBool::new(false),
        });
        let stats = monitor.pipeline(key(&info.id));
        let ctx = Ctx {
            desktop: Arc::clone(desktop),
            screen: info.id.clone(),
            fps,
            shared: Arc::clone(&shared),
            latest: tx,
            stats: stats.clone(),
        };
        let thread = monitor
            .spawn_thread(format!("capture-{}", info.id), owner(&info.id), move || {
                run(ctx)
            })
            .map_err(|e| MediaError::Capture(format!("cannot start the capture thread: {e}")))?;
        Ok(Self {
            info,
            shared,
            thread: Some(thread),
            stats,
        })
    }

    /// The screen captured.
    pub(super) fn info(&self) -> &ScreenInfo {
        &self.info
    }

    /// Whether the capture ended on its own (the screen is gone).
    pub(super) fn has_ended(&self) -> bool {
        self.shared.ended.load(Relaxed)
    }

    /// The latest frame, for frame subscriptions: marked changed when there is one, so the first
    /// `changed()` returns it.
    pub(super) fn frames(&self) -> watch::Receiver<Option<Arc<Frame>>> {
        let mut frames = self.shared.latest.clone();
        if frames.borrow().is_some() {
            frames.mark_changed();
        }
        frames
    }

    /// The latest frame, unless the capture ended.
    pub(super) fn latest(&self) -> Option<Arc<Frame>> {
        if self.has_ended() {
            return None;
        }
        self.shared.latest.borrow().clone()
    }

    /// Publishes how many pipes and frame subscriptions the capture feeds.
    pub(super) fn set_consumers(&self, n: usize) {
        self.stats.set_subscribers(n);
    }

    /// Registers `mailbox` as a consumer and hands it the latest frame at once.
    pub(super) fn attach(&self, mailbox: &Arc<Mailbox>) {
        let mut consumers = self.shared.consumers.lock();
        consumers.push(Arc::clone(mailbox));
        if let Some(frame) = self.shared.latest.borrow().clone() {
            mailbox.post_frame(frame);
        }
        if self.has_ended() {
            mailbox.update(|m| m.closed = true);
        }
    }

    /// Stops feeding `mailbox`.
    pub(super) fn detach(&self, mailbox: &Arc<Mailbox>) {
        self.shared
            .consumers
            .lock()
            .retain(|m| !Arc::ptr_eq(m, mailbox));
    }

    /// Tells the thread to stop, hands its handle to `stopping` (joined by `shutdown`) and closes its owner in the
    /// monitor, which arms leak detection.
    pub(super) fn stop(mut self, monitor: &Monitor, stopping: &mut Vec<JoinHandle<()>>) {
        self.shared.control.update(|m| m.stop = true);
        self.stats.set_subscribers(0);
        stopping.extend(self.thread.take());
        monitor.close_owner(&owner(&self.info.id));
    }
}

fn key(screen: &str) -> PipelineKey {
    PipelineKey {
        screen: screen.to_owned(),
        kind: "capture".into(),
        profile: String::new(),
    }
}

fn owner(screen: &str) -> Owner {
    Owner::Pipeline(key(screen).to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// The thread

struct Ctx {
    desktop: Arc<dyn Desktop>,
    screen: String,
    fps: u32,
    shared: Arc<Shared>,
    latest: watch::Sender<Option<Arc<Frame>>>,
    stats: PipelineStatsHandle,
}

fn run(ctx: Ctx) {
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

fn capture_loop(ctx: &Ctx) -> Result<(), MediaError> {
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
        if ctx.shared.control.is_stopped() {
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
