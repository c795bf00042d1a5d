//! The engine's shared state: the [`Registry`]'s decisions carried out on running captures and pipes.
//!
//! Every subscribe and unsubscribe takes the one state lock, tells the registry which threads ended on their own,
//! asks it what to do and applies the returned [`Step`]s in order, then publishes subscriber counts. A failed start
//! is undone by unsubscribing again, which stops whatever that subscription had started. Stopped threads are kept
//! in `stopping` until they finish, so [`Shared::shutdown`] can join them.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use sightline_monitor::Monitor;

use super::capture::Capture;
use super::input::InputQueue;
use super::jpeg::Jpeg;
use super::pipe::{Encoding, Pipe};
use super::profile::EngineConfig;
use super::registry::{PipeId, Registry, Step, Ticket, Want};
use super::remotes::Remotes;
use super::still::Stills;
use super::video::H264;
use crate::{CursorState, Desktop, Frame, MediaError, ScreenInfo};

/// A frame and the pointer as the same capture saw it.
pub(super) type FrameAndCursor = (Arc<Frame>, Option<CursorState>);

/// Everything an `Engine` handle and its subscriptions share.
pub(super) struct Shared {
    pub(super) desktop: Arc<dyn Desktop>,
    pub(super) cfg: EngineConfig,
    pub(super) monitor: Monitor,
    pub(super) input: InputQueue,
    /// Warm still grabbers and encoders per screen ([`super::still`]).
    pub(super) stills: Arc<Stills>,
    /// Remote screens and their relay pipes ([`super::relay`]); independent of `state` (no lock order between them).
    pub(super) remotes: Remotes,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    shut_down: bool,
    registry: Registry,
    captures: HashMap<String, Capture>,
    video: HashMap<PipeId, Pipe<H264>>,
    jpeg: HashMap<PipeId, Pipe<Jpeg>>,
    /// Threads told to stop and not yet seen finished, joined by `shutdown`. Pruned on every subscribe and
    /// unsubscribe, so it holds at most the pipelines stopped within the last few milliseconds.
    stopping: Vec<JoinHandle<()>>,
}

/// What a new subscriber is attached to, lent to the caller of [`Shared::subscribe`] under the state lock.
pub(super) struct Joined<'a> {
    /// Where the subscriber is registered.
    pub(super) ticket: Ticket,
    /// The screen's capture.
    pub(super) capture: &'a Capture,
    /// Its H.264 pipe, for a video subscriber.
    pub(super) video: Option<&'a Pipe<H264>>,
    /// Its JPEG pipe, for a JPEG subscriber.
    pub(super) jpeg: Option<&'a Pipe<Jpeg>>,
}

impl Shared {
    /// The shared state of a new engine; starts its input thread.
    pub(super) fn new(desktop: Arc<dyn Desktop>, cfg: EngineConfig, monitor: Monitor) -> Self {
        let input = InputQueue::start(Arc::clone(&desktop), &monitor);
        Self {
            desktop,
            cfg,
            monitor,
            input,
            stills: Arc::default(),
            remotes: Remotes::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// Registers a subscriber of `screen`, starts what it needs, and runs `attach` with what it joined, still
    /// under the lock (so a concurrent shutdown either precedes it or ends what `attach` joined).
    pub(super) fn subscribe<T>(
        &self,
        screen: &str,
        want: Want,
        attach: impl FnOnce(Joined<'_>) -> T,
    ) -> Result<T, MediaError> {
        let mut state = self.state.lock();
        if state.shut_down {
            return Err(MediaError::Stopped);
        }
        state.report_ended();
        let subscribed = state.registry.subscribe(screen, want);
        let started = subscribed
            .steps
            .into_iter()
            .try_for_each(|step| self.apply(&mut state, step));
        if started.is_err() {
            let undo = state.registry.unsubscribe(&subscribed.ticket);
            self.apply_all(&mut state, undo);
        }
        state.publish_counts(screen);
        state.prune_stopping();
        started?;
        let pipe = subscribed.ticket.pipe.map(|(_, id)| id);
        let joined = Joined {
            capture: state
                .captures
                .get(screen)
                .expect("the registry started the capture"),
            video: pipe.and_then(|id| state.video.get(&id)),
            jpeg: pipe.and_then(|id| state.jpeg.get(&id)),
            ticket: subscribed.ticket,
        };
        Ok(attach(joined))
    }

    /// Removes a subscriber and stops what it alone kept running. Unknown and stale tickets are ignored.
    pub(super) fn unsubscribe(&self, ticket: &Ticket) {
        let mut state = self.state.lock();
        state.report_ended();
        let steps = state.registry.unsubscribe(ticket);
        self.apply_all(&mut state, steps);
        state.publish_counts(&ticket.screen);
        // Every unsubscribe passes here: the list holds only threads still winding down.
        state.prune_stopping();
    }

    /// The latest frame of `screen`'s running capture with the pointer as its latest tick saw it, if the capture
    /// has a frame; fails once the engine is shut down.
    pub(super) fn latest_with_cursor(
        &self,
        screen: &str,
    ) -> Result<Option<FrameAndCursor>, MediaError> {
        let state = self.state.lock();
        if state.shut_down {
            return Err(MediaError::Stopped);
        }
        Ok(state
            .captures
            .get(screen)
            .and_then(|c| Some((c.latest()?, c.latest_cursor()))))
    }

    /// Stops every pipeline and the input thread, and joins their threads. Idempotent.
    pub(super) fn shutdown(&self) {
        let mut handles = {
            let mut state = self.state.lock();
            state.shut_down = true;
            let steps = state.registry.clear();
            self.apply_all(&mut state, steps);
            std::mem::take(&mut state.stopping)
        };
        self.stills.close();
        self.remotes.shutdown();
        // Closing the queue ends the input thread once it finished the queued events.
        handles.extend(self.input.close());
        let me = std::thread::current().id();
        for h in handles {
            // Joining oneself would deadlock; engine threads hold no `Engine`, so this only guards the invariant.
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }

    /// Applies steps that cannot fail (stops and rate changes).
    fn apply_all(&self, state: &mut State, steps: Vec<Step>) {
        for step in steps {
            if let Err(e) = self.apply(state, step) {
                tracing::warn!(error = %e, "engine step failed");
            }
        }
    }

    /// Starts a pipe of either encoding on `screen`'s running capture.
    fn start_pipe<E: Encoding>(
        &self,
        state: &State,
        screen: &str,
        id: PipeId,
        profile: E::Profile,
    ) -> Result<Pipe<E>, MediaError> {
        Pipe::start(
            &self.monitor,
            state.capture(screen)?,
            id,
            profile,
            &self.cfg,
        )
    }

    /// Carries out one step. Stopping something that is not running (its start failed) does nothing.
    fn apply(&self, state: &mut State, step: Step) -> Result<(), MediaError> {
        match step {
            Step::StartCapture { screen } => {
                let info = self.screen_info(&screen)?;
                let capture = Capture::start(&self.monitor, &self.desktop, info, self.cfg.fps)?;
                // The registry stops a capture before starting another; never leave a thread running unowned.
                if let Some(old) = state.captures.insert(screen, capture) {
                    old.stop(&self.monitor, &mut state.stopping);
                }
            }
            Step::StartVideo {
                screen,
                pipe,
                profile,
            } => {
                let pipe = self.start_pipe(state, &screen, pipe, profile)?;
                state.video.insert(pipe.id(), pipe);
            }
            Step::StartJpeg {
                screen,
                pipe,
                profile,
            } => {
                let pipe = self.start_pipe(state, &screen, pipe, profile)?;
                state.jpeg.insert(pipe.id(), pipe);
            }
            Step::SetJpegFps { pipe, fps } => {
                if let Some(pipe) = state.jpeg.get(&pipe) {
                    pipe.mailbox().update(|m| m.fps = Some(fps));
                }
            }
            Step::StopPipe { screen, pipe } => {
                let capture = state.captures.get(&screen);
                if let Some(p) = state.video.remove(&pipe) {
                    p.stop(&self.monitor, capture, &mut state.stopping);
                } else if let Some(p) = state.jpeg.remove(&pipe) {
                    p.stop(&self.monitor, capture, &mut state.stopping);
                }
            }
            Step::StopCapture { screen } => {
                if let Some(capture) = state.captures.remove(&screen) {
                    capture.stop(&self.monitor, &mut state.stopping);
                }
            }
        }
        Ok(())
    }

    /// The backend's current description of `screen`.
    fn screen_info(&self, screen: &str) -> Result<ScreenInfo, MediaError> {
        self.desktop
            .screens()?
            .into_iter()
            .find(|s| s.id == screen)
            .ok_or_else(|| MediaError::UnknownScreen(screen.to_owned()))
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl State {
    /// Tells the registry which captures and pipes ended on their own since it last asked.
    fn report_ended(&mut self) {
        for (screen, capture) in &self.captures {
            if capture.has_ended() {
                self.registry.capture_ended(screen);
            }
        }
        let video = self.video.values().filter(|p| p.has_ended()).map(Pipe::id);
        let jpeg = self.jpeg.values().filter(|p| p.has_ended()).map(Pipe::id);
        for pipe in video.chain(jpeg) {
            self.registry.pipe_ended(pipe);
        }
    }

    /// Publishes the subscriber counts of `screen`'s capture and pipes to the monitor.
    fn publish_counts(&self, screen: &str) {
        let Some(capture) = self.captures.get(screen) else {
            return;
        };
        capture.set_consumers(self.registry.consumers(screen));
        for (pipe, n) in self.registry.pipes(screen) {
            if let Some(p) = self.video.get(&pipe) {
                p.stats().set_subscribers(n);
            } else if let Some(p) = self.jpeg.get(&pipe) {
                p.stats().set_subscribers(n);
            }
        }
    }

    fn capture(&self, screen: &str) -> Result<&Capture, MediaError> {
        self.captures
            .get(screen)
            .ok_or_else(|| MediaError::Capture(format!("no capture runs for screen {screen:?}")))
    }

    fn prune_stopping(&mut self) {
        self.stopping.retain(|h| !h.is_finished());
    }
}
