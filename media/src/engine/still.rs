//! Stills ([`crate::Engine::still`]): one slot per screen holding its warm grabber ([`StillSource`]) and a kept
//! [`StillEncoder`], and one idle task that lets slots go.
//!
//! A still of a screen whose capture runs encodes that capture's latest frame (the slot's grabber is dropped:
//! the pipeline's frames win while it runs). Otherwise the slot's grabber grabs only the region, opened on first
//! use and kept until nothing used the slot for the idle period ([`crate::still::STILL_IDLE`] unless
//! [`crate::Engine::set_still_idle`] changed it), the engine shuts down, or its display connection broke.
//!
//! The idle task is started by the first still and ends when no slot is left; it holds only a weak reference,
//! so it never keeps an engine alive. It is tracked by the monitor like every other task.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use sightline_monitor::{Monitor, Owner};
use tokio::time::Instant;

use crate::still::{
    Rect, STILL_IDLE, Still, StillEncoder, StillRequest, StillSource, View, compose, epoch_ms,
};
use crate::{Desktop, MediaError};

use super::state::FrameAndCursor;

/// One screen's warm still state. Locked by the blocking job that grabs and encodes (concurrent stills of one
/// screen take turns: the grabber and its shared memory serve one grab at a time).
#[derive(Default)]
struct Slot {
    /// `None` until the first grab without a running capture, and after a broken connection.
    source: Option<Box<dyn StillSource>>,
    encoder: StillEncoder,
    /// When a still last used the slot (set when the job ends).
    last_used: Option<Instant>,
}

#[derive(Default)]
struct Slots {
    screens: HashMap<String, Arc<Mutex<Slot>>>,
    /// The idle task runs (changed only under this lock, so a new slot always has a task that will see it).
    reaper: Option<tokio::task::JoinHandle<()>>,
    closed: bool,
}

/// The engine's still slots and their idle period.
pub(super) struct Stills {
    slots: Mutex<Slots>,
    idle: Mutex<Duration>,
}

impl Default for Stills {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
            idle: Mutex::new(STILL_IDLE),
        }
    }
}

impl Stills {
    /// Sets how long an unused grabber stays open (applies from the next check of the idle task).
    pub(super) fn set_idle(&self, idle: Duration) {
        *self.idle.lock() = idle;
    }

    /// The screens that have a warm grabber open.
    pub(super) fn warm(&self) -> Vec<String> {
        let slots = self.slots.lock();
        let mut v: Vec<String> = slots
            .screens
            .iter()
            .filter(|(_, s)| s.try_lock().is_none_or(|s| s.source.is_some()))
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// Drops every grabber and stops the idle task; later stills fail with [`MediaError::Stopped`].
    pub(super) fn close(&self) {
        let (screens, reaper) = {
            let mut slots = self.slots.lock();
            slots.closed = true;
            (std::mem::take(&mut slots.screens), slots.reaper.take())
        };
        if let Some(r) = reaper {
            r.abort();
        }
        // A slot busy in a job is dropped when the job ends (it holds the last reference).
        drop(screens);
    }

    /// The slot of `screen`, created when missing; starts the idle task when none runs.
    fn slot(
        self: &Arc<Self>,
        screen: &str,
        monitor: &Monitor,
    ) -> Result<Arc<Mutex<Slot>>, MediaError> {
        let mut slots = self.slots.lock();
        if slots.closed {
            return Err(MediaError::Stopped);
        }
        let slot = Arc::clone(slots.screens.entry(screen.to_owned()).or_default());
        if slots.reaper.as_ref().is_none_or(|r| r.is_finished()) {
            let me = Arc::downgrade(self);
            slots.reaper = Some(monitor.spawn("media-still-idle", Owner::Gateway, reap(me)));
        }
        Ok(slot)
    }

    /// One still of `screen`: from `latest` (the running capture's frame and pointer) when given, otherwise from
    /// the slot's grabber. Runs on the blocking pool.
    pub(super) async fn still(
        self: &Arc<Self>,
        desktop: &Arc<dyn Desktop>,
        monitor: &Monitor,
        screen: &str,
        request: StillRequest,
        latest: Option<FrameAndCursor>,
    ) -> Result<Still, MediaError> {
        let slot = self.slot(screen, monitor)?;
        let desktop = Arc::clone(desktop);
        let id = screen.to_owned();
        monitor
            .spawn_blocking("media-still", Owner::Gateway, move || {
                let mut slot = slot.lock();
                let slot = &mut *slot;
                let result = match latest {
                    Some(latest) => {
                        slot.source = None;
                        from_frame(&mut slot.encoder, &latest, request)
                    }
                    None => from_source(slot, &*desktop, &id, request),
                };
                slot.last_used = Some(Instant::now());
                result
            })
            .await
            .map_err(|e| MediaError::Capture(format!("still job failed: {e}")))?
    }
}

/// Encodes the region of a running capture's frame, with its pointer drawn in when asked.
fn from_frame(
    encoder: &mut StillEncoder,
    (frame, cursor): &FrameAndCursor,
    request: StillRequest,
) -> Result<Still, MediaError> {
    let region = Rect::checked(request.region, frame.width, frame.height)?;
    let view = View::of_frame(frame, region)?;
    let mut composed = Vec::new();
    let view = match cursor.as_ref().filter(|_| request.include_cursor) {
        Some(c) => compose(view, region, c, &mut composed)?,
        None => view,
    };
    let enc = encoder.encode(view, request.encoding)?;
    Ok(Still {
        data: enc.data,
        mime: enc.mime,
        width: enc.width,
        height: enc.height,
        region,
        screen_width: frame.width,
        screen_height: frame.height,
        seq: frame.seq,
        captured_at_ms: epoch_ms(frame.captured_at),
    })
}

/// Grabs and encodes with the slot's grabber, opening it first when needed; drops it when its connection broke.
fn from_source(
    slot: &mut Slot,
    desktop: &dyn Desktop,
    screen: &str,
    request: StillRequest,
) -> Result<Still, MediaError> {
    let source = match &mut slot.source {
        Some(s) => s,
        None => slot.source.insert(desktop.open_still(screen)?),
    };
    let grabbed = source.grab(request.region, request.include_cursor);
    let result = grabbed.and_then(|g| {
        let enc = slot.encoder.encode(g.view, request.encoding)?;
        Ok(Still {
            data: enc.data,
            mime: enc.mime,
            width: enc.width,
            height: enc.height,
            region: g.region,
            screen_width: g.screen_width,
            screen_height: g.screen_height,
            seq: g.seq,
            captured_at_ms: epoch_ms(g.captured_at),
        })
    });
    if slot.source.as_ref().is_some_and(|s| s.is_broken()) {
        tracing::info!(
            screen,
            "still grabber lost its display connection; reopening on next use"
        );
        slot.source = None;
    }
    result
}

/// The idle task: sleeps until the oldest slot may be idle, drops slots unused for the idle period, and ends when
/// none is left (or the engine is gone).
async fn reap(stills: Weak<Stills>) {
    loop {
        let wake = {
            let Some(stills) = stills.upgrade() else {
                return;
            };
            let idle = *stills.idle.lock();
            let now = Instant::now();
            let mut slots = stills.slots.lock();
            let mut next: Option<Instant> = None;
            slots.screens.retain(|screen, slot| {
                // A slot in use is not idle; a slot not yet used once is about to be.
                let Some(s) = slot.try_lock() else {
                    next = Some(next.map_or(now + idle, |n| n.min(now + idle)));
                    return true;
                };
                let last = s.last_used.unwrap_or(now);
                if now.duration_since(last) >= idle {
                    if s.source.is_some() {
                        tracing::debug!(screen, "still grabber idle; released");
                    }
                    return false;
                }
                let due = last + idle;
                next = Some(next.map_or(due, |n| n.min(due)));
                true
            });
            match next {
                Some(t) => t,
                None => {
                    // Decided under the lock: a still that adds a slot after this starts a new task.
                    slots.reaper = None;
                    return;
                }
            }
        };
        tokio::time::sleep_until(wake).await;
    }
}
