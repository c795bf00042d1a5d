//! The input thread: one per engine, injecting events in order from a bounded queue.
//!
//! One action's events (a click is a move, a press and a release) are queued as one job with `try_send` (the
//! caller never blocks) together with a oneshot for the result; the caller then awaits that. A full queue refuses
//! the whole action at once with [`MediaError::Busy`], so an action is never cut in half by a full queue (no
//! button left pressed because its release did not fit).

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use sightline_monitor::{Monitor, Owner};
use tokio::sync::oneshot;

use crate::{Desktop, InputEvent, MediaError};

/// Input actions waiting for the input thread. Injecting one takes well under a millisecond, so 64 pending actions
/// mean the display is stuck; the next one then fails at once instead of piling up stale clicks. Full →
/// `MediaError::Busy`.
pub const INPUT_QUEUE: usize = 64;

struct Job {
    screen: String,
    /// Injected in order; the first failure ends the job.
    events: Vec<InputEvent>,
    reply: oneshot::Sender<Result<(), MediaError>>,
}

/// The queue to the input thread, and the thread.
pub(super) struct InputQueue {
    tx: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl InputQueue {
    /// Starts the input thread. If it cannot start, input injection is disabled (every event fails with
    /// [`MediaError::Stopped`]) and the engine runs on.
    pub(super) fn start(desktop: Arc<dyn Desktop>, monitor: &Monitor) -> Self {
        let (tx, rx) = sync_channel::<Job>(INPUT_QUEUE);
        let spawned = monitor.spawn_thread("media-input", Owner::Gateway, move || {
            // Ends when the engine drops its sender (shutdown or last handle gone).
            while let Ok(job) = rx.recv() {
                let result = job
                    .events
                    .iter()
                    .try_for_each(|event| desktop.inject(&job.screen, event));
                let _ = job.reply.send(result);
            }
        });
        let (tx, thread) = match spawned {
            Ok(thread) => (Some(tx), Some(thread)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the input thread; input injection disabled");
                (None, None)
            }
        };
        Self {
            tx: Mutex::new(tx),
            thread: Mutex::new(thread),
        }
    }

    /// Queues one action's events; the returned receiver yields the result once they are injected.
    pub(super) fn send(
        &self,
        screen: &str,
        events: Vec<InputEvent>,
    ) -> Result<oneshot::Receiver<Result<(), MediaError>>, MediaError> {
        let (reply, done) = oneshot::channel();
        let job = Job {
            screen: screen.to_owned(),
            events,
            reply,
        };
        let tx = self.tx.lock();
        let tx = tx.as_ref().ok_or(MediaError::Stopped)?;
        tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => MediaError::Busy(format!(
                "input queue is full ({INPUT_QUEUE} actions waiting); retry shortly"
            )),
            TrySendError::Disconnected(_) => MediaError::Stopped,
        })?;
        Ok(done)
    }

    /// Closes the queue: the thread ends once it injected what is queued. Returns the thread to join.
    pub(super) fn close(&self) -> Option<JoinHandle<()>> {
        self.tx.lock().take();
        self.thread.lock().take()
    }
}
