//! The capture of one screen: its thread, the consumers it feeds, and how it ends.
//!
//! The thread paces at `EngineConfig::fps` ([`Pacer`]), asks the [`FrameSource`](crate::FrameSource) for a
//! changed frame, publishes the `Arc<Frame>` to a `watch` (frame subscriptions, snapshots, late joiners) and
//! posts it to every consumer's [`Mailbox`] (latest wins). After every tick it publishes the source's pointer
//! ([`FrameSource::cursor`](crate::FrameSource::cursor)) to a second `watch`, only when it changed, so a pointer
//! that only moves wakes cursor subscribers and nobody else. Sources that see moves as they happen (X11 in
//! overlay mode) also publish into that `watch` between ticks through the sink set right after they open
//! ([`FrameSource::set_cursor_sink`](crate::FrameSource::set_cursor_sink)), with the same change rule, so both
//! paths merge without duplicates. After [`MAX_CAPTURE_FAILURES`] failures in a row the screen counts as gone:
//! the capture marks itself ended, closes every consumer's mailbox and drops its `watch`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sightline_monitor::{Monitor, Owner, PipelineKey, PipelineStatsHandle};
use tokio::sync::watch;

use super::mailbox::Mailbox;
use crate::pacer::Pacer;
use crate::{CursorState, Desktop, Frame, MediaError, ScreenInfo};

/// Consecutive capture failures after which a screen counts as gone and its pipelines end. A display that
/// refuses ten captures in a row (a third of a second at 30 fps) has lost the screen; a single failure is noise.
pub const MAX_CAPTURE_FAILURES: u32 = 10;

/// Shared between the engine and one capture thread.
struct Shared {
    control: Mailbox,
    consumers: Mutex<Vec<Arc<Mailbox>>>,
    latest: watch::Receiver<Option<Arc<Frame>>>,
    /// The pointer as the latest tick saw it (`None` while the source reports none).
    cursor: watch::Receiver<Option<CursorState>>,
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
        let (cursor_tx, cursor_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            control: Mailbox::default(),
            consumers: Mutex::new(Vec::new()),
            latest: rx,
            cursor: cursor_rx,
            ended: AtomicBool::new(false),
        });
        let stats = monitor.pipeline(key(&info.id));
        let ctx = Ctx {
            desktop: Arc::clone(desktop),
            screen: info.id.clone(),
            fps,
            shared: Arc::clone(&shared),
            latest: tx,
            cursor: cursor_tx,
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

    /// The pointer, for cursor subscriptions: marked changed when there is one, so the first `changed()` returns
    /// it.
    pub(super) fn cursor(&self) -> watch::Receiver<Option<CursorState>> {
        let mut cursor = self.shared.cursor.clone();
        if cursor.borrow().is_some() {
            cursor.mark_changed();
        }
        cursor
    }

    /// The pointer as the latest tick saw it.
    pub(super) fn latest_cursor(&self) -> Option<CursorState> {
        self.shared.cursor.borrow().clone()
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
    cursor: watch::Sender<Option<CursorState>>,
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
    // Dropping `ctx.latest` and `ctx.cursor` here ends every frame and cursor subscription's `changed()`.
}

fn capture_loop(ctx: &Ctx) -> Result<(), MediaError> {
    let mut source = ctx.desktop.open(&ctx.screen)?;
    // Counts the source's own publications, so a tick's sample read before one of them never overwrites it.
    let sunk = Arc::new(AtomicU64::new(0));
    source.set_cursor_sink(cursor_sink(ctx.cursor.clone(), Arc::clone(&sunk)));
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
        // Read before the sample (SeqCst keeps the order), checked under the watch's lock.
        let seen = sunk.load(SeqCst);
        let now = source.cursor();
        ctx.cursor.send_if_modified(|held| {
            // The source published since `now` was read: what it sent may be newer, so this tick stays out of the
            // way (the next one catches up with anything only a tick saw).
            sunk.load(SeqCst) == seen && replace_cursor(held, now)
        });
    }
}

/// The sink a source publishes into between ticks: the cursor `watch`, with the change rule; `sunk` counts the
/// calls (inside the `watch`'s lock, so a tick comparing it there sees every publication that preceded its own).
fn cursor_sink(tx: watch::Sender<Option<CursorState>>, sunk: Arc<AtomicU64>) -> crate::CursorSink {
    Arc::new(move |state: CursorState| {
        tx.send_if_modified(|held| {
            sunk.fetch_add(1, SeqCst);
            replace_cursor(held, Some(state))
        });
    })
}

/// Hands `now` to cursor subscribers if it differs from what they have; returns whether it did.
#[cfg(test)]
fn publish_cursor(tx: &watch::Sender<Option<CursorState>>, now: Option<CursorState>) -> bool {
    tx.send_if_modified(|held| replace_cursor(held, now))
}

/// Replaces `held` with `now` when they differ by the change rule; returns whether it did.
fn replace_cursor(held: &mut Option<CursorState>, now: Option<CursorState>) -> bool {
    let changed = cursor_changed(held.as_ref(), now.as_ref());
    if changed {
        *held = now;
    }
    changed
}

/// The change rule: a new position, visibility or shape (by serial) is a change; the same shape fetched again
/// under the same serial is not. Shapes are compared by pointer first, so an unchanged cursor costs no memcmp.
fn cursor_changed(old: Option<&CursorState>, new: Option<&CursorState>) -> bool {
    match (old, new) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            let same_shape = match (&a.shape, &b.shape) {
                (None, None) => true,
                (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x.serial == y.serial,
                _ => false,
            };
            (a.x, a.y, a.visible) != (b.x, b.y, b.visible) || !same_shape
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CursorShape;

    fn shape(serial: u32) -> Arc<CursorShape> {
        Arc::new(CursorShape {
            serial,
            width: 1,
            height: 1,
            hot_x: 0,
            hot_y: 0,
            rgba: vec![0xff; 4],
        })
    }

    fn state(
        x: u32,
        y: u32,
        visible: bool,
        shape: Option<Arc<CursorShape>>,
    ) -> Option<CursorState> {
        Some(CursorState {
            x,
            y,
            visible,
            shape,
        })
    }

    #[test]
    fn the_cursor_change_rule() {
        let s1 = shape(1);
        let base = state(10, 20, true, Some(Arc::clone(&s1)));
        let changed = |a: &Option<CursorState>, b: &Option<CursorState>| {
            cursor_changed(a.as_ref(), b.as_ref())
        };
        assert!(!changed(&None, &None));
        assert!(changed(&None, &base));
        assert!(changed(&base, &None));
        assert!(!changed(&base, &base.clone()));
        // The same serial fetched again (a reconnect) is the same shape.
        assert!(!changed(&base, &state(10, 20, true, Some(shape(1)))));
        assert!(changed(&base, &state(11, 20, true, Some(Arc::clone(&s1)))));
        assert!(changed(&base, &state(10, 21, true, Some(Arc::clone(&s1)))));
        assert!(changed(&base, &state(10, 20, false, Some(Arc::clone(&s1)))));
        assert!(changed(&base, &state(10, 20, true, Some(shape(2)))));
        assert!(changed(&base, &state(10, 20, true, None)));
    }

    #[tokio::test]
    async fn only_changes_wake_cursor_subscribers() {
        let (tx, mut rx) = watch::channel(None);
        let s = shape(3);
        assert!(!publish_cursor(&tx, None));
        assert!(!rx.has_changed().expect("sender alive"));
        assert!(publish_cursor(&tx, state(1, 1, true, Some(Arc::clone(&s)))));
        // Ticks that see the same pointer wake nobody.
        for _ in 0..5 {
            assert!(!publish_cursor(
                &tx,
                state(1, 1, true, Some(Arc::clone(&s)))
            ));
        }
        assert_eq!(rx.borrow_and_update().as_ref().map(|c| c.x), Some(1));
        assert!(!rx.has_changed().expect("sender alive"));
        assert!(publish_cursor(&tx, state(2, 1, true, Some(s))));
        assert!(rx.has_changed().expect("sender alive"));
    }

    #[tokio::test]
    async fn the_sink_publishes_with_the_same_rule_and_counts_its_calls() {
        let (tx, mut rx) = watch::channel(None);
        let sunk = Arc::new(AtomicU64::new(0));
        let sink = cursor_sink(tx.clone(), Arc::clone(&sunk));
        let s = shape(4);
        sink(CursorState {
            x: 5,
            y: 6,
            visible: true,
            shape: Some(Arc::clone(&s)),
        });
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(
            rx.borrow_and_update().as_ref().map(|c| (c.x, c.y)),
            Some((5, 6))
        );
        // The same state again, from the sink or a tick, wakes nobody; every sink call is counted.
        sink(CursorState {
            x: 5,
            y: 6,
            visible: true,
            shape: Some(shape(4)),
        });
        assert!(!publish_cursor(&tx, state(5, 6, true, Some(s))));
        assert!(!rx.has_changed().expect("sender alive"));
        assert_eq!(sunk.load(SeqCst), 2);
        // Dropping the sink leaves the channel to the capture's own sender.
        drop(sink);
        drop(tx);
        assert!(rx.changed().await.is_err());
    }
}
