//! The JPEG fallback stream of one `/ws` viewer: a task that takes frames from the shared [`Pacer`] and hands
//! them to the socket's bounded outbox, following the socket's backpressure down and up a quality ladder.
//!
//! The task keeps one frame in flight: it hands a frame over with a [`Receipt`](super::outbox::Receipt) and takes
//! the next only once the socket task has written that one, so a slow socket holds one frame, never a queue of
//! them, and the frame it gets next is the newest. How long the socket kept the stream waiting past the next
//! frame's due time is the backpressure the [`JpegAdapter`] decides on; when it moves to another rung the task
//! subscribes to that rung's shared encoder, drops the old subscription and records the change (with its reason)
//! on the watch's monitor connection. The frames' `width`/`height` are the new rung's from its first frame on.

use std::time::Duration;

use sightline_media::engine::{JpegProfile, JpegSubscription};
use sightline_monitor::{Connection, Lifecycle, Owner};
use sightline_signaling::ServerMessage;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::adapt::{Change, JpegAdapter, rung_name};
use super::outbox::{Delivery, Outbound, receipt};
use crate::session::SessionManager;
use crate::transport::pacer::Pacer;

/// While the previous frame is still being written, the stream looks again this often, so a client that stopped
/// reading is stepped down on time although no write ends. A tenth of [`super::adapt::DOWN_SETTLE`]: steps land
/// within this of their due time, and an idle stalled stream costs ten wake-ups a second.
pub const STALL_CHECK: Duration = Duration::from_millis(100);

/// One viewer's running JPEG stream.
pub struct JpegStream {
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    conn: Connection,
}

impl JpegStream {
    /// Starts streaming `sub` (the viewer's `requested` profile, paced at its fps) into `outbox`, as a task owned
    /// by `conn`. `watch` numbers the socket's watch, so an end it reports is not taken for a later watch's.
    pub fn start(
        manager: &SessionManager,
        watch: u64,
        sub: JpegSubscription,
        requested: JpegProfile,
        conn: Connection,
        outbox: mpsc::Sender<Outbound>,
    ) -> Self {
        let (paused_tx, paused_rx) = watch::channel(false);
        let cancel = CancellationToken::new();
        conn.set_lifecycle(Lifecycle::Connecting);
        conn.track("jpeg", "video", "live");
        let screen = sub.screen().clone();
        // Every rung on a snapped profile, so stepping never starts an encoder of its own.
        let rungs = super::adapt::ladder(requested, screen.width)
            .into_iter()
            .map(|p| manager.snap_jpeg(&screen, p))
            .collect();
        let adapter = JpegAdapter::from_ladder(rungs, requested);
        let top = rung_name(&requested);
        conn.update_counters(|c| {
            c.tier = Some(0);
            c.tier_name = Some(top);
        });
        let task = Task {
            manager: manager.clone(),
            watch,
            screen: screen.id,
            pacer: Pacer::new(sub, requested.fps),
            adapter,
            conn: conn.clone(),
            outbox,
            cancel: cancel.clone(),
            paused: paused_rx,
            in_flight: None,
            resumed_at: None,
            first: true,
        };
        let task = manager.spawn("jpeg-stream", Owner::Connection(conn.id()), task.run());
        Self {
            paused: paused_tx,
            cancel,
            task,
            conn,
        }
    }

    /// Pauses or resumes sending.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
        self.conn.event(if paused { "paused" } else { "resumed" });
    }

    /// Stops the stream and waits for its task.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
        self.conn.close("stopped");
    }
}

/// What the task's loop does after one step.
enum Next {
    Continue,
    Stop,
    /// The subscription ended: the screen went away.
    ScreenGone,
}

/// The stream's task.
struct Task {
    manager: SessionManager,
    watch: u64,
    screen: String,
    pacer: Pacer,
    adapter: JpegAdapter,
    conn: Connection,
    outbox: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
    paused: watch::Receiver<bool>,
    /// The last frame handed over, until the socket has written it.
    in_flight: Option<Delivery>,
    /// When the viewer last resumed (until the next frame is handed over): nothing was due while it was paused, so
    /// the frame in flight makes the next one late from here at the earliest.
    resumed_at: Option<Instant>,
    /// No frame handed over yet (the connection is still `connecting`).
    first: bool,
}

impl Task {
    async fn run(mut self) {
        loop {
            let next = if *self.paused.borrow_and_update() {
                self.paused_step().await
            } else if self.in_flight.is_some() {
                self.wait_for_write().await
            } else {
                self.send_next().await
            };
            match next {
                Next::Continue => {}
                Next::Stop => return,
                Next::ScreenGone => {
                    let ended = ServerMessage::Stopped {
                        screen: self.screen.clone(),
                        reason: self.manager.gone_reason(&self.screen),
                    };
                    let out = Outbound::WatchEnded(self.watch, ended);
                    send_or_cancel(&self.outbox, out, &self.cancel).await;
                    return;
                }
            }
        }
    }

    /// Paused: remember the newest frame and notice the screen going away, send nothing. A write ending meanwhile
    /// is no evidence about the socket's pace (nothing was due).
    async fn paused_step(&mut self) -> Next {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Next::Stop,
            changed = self.paused.changed() => {
                self.resumed_at = Some(Instant::now());
                continue_unless(changed.is_err())
            }
            () = delivered(&mut self.in_flight) => {
                self.in_flight = None;
                Next::Continue
            }
            alive = self.pacer.absorb() => if alive { Next::Continue } else { Next::ScreenGone },
        }
    }

    /// Waits for the socket to write the frame in flight, telling the adapter how late it keeps the next one.
    async fn wait_for_write(&mut self) -> Next {
        let due = self
            .resumed_at
            .map_or(self.pacer.due(), |at| at.max(self.pacer.due()));
        let change = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Next::Stop,
            changed = self.paused.changed() => return continue_unless(changed.is_err()),
            () = delivered(&mut self.in_flight) => {
                self.in_flight = None;
                self.adapter.on_write(Instant::now().into_std(), due.into_std())
            }
            () = tokio::time::sleep(STALL_CHECK) => {
                self.adapter.on_waiting(Instant::now().into_std(), due.into_std())
            }
        };
        if let Some(change) = change {
            self.switch(&change);
        }
        Next::Continue
    }

    /// Hands the next due frame to the socket.
    async fn send_next(&mut self) -> Next {
        let paced = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Next::Stop,
            changed = self.paused.changed() => return continue_unless(changed.is_err()),
            paced = self.pacer.next() => paced,
        };
        let Some(paced) = paced else {
            return Next::ScreenGone;
        };
        if paced.skipped > 0 {
            self.conn.dropped("superseded", paced.skipped);
        }
        let frame = paced.frame;
        let header = ServerMessage::Frame {
            screen: self.screen.clone(),
            seq: frame.seq,
            width: frame.width,
            height: frame.height,
            captured_at_ms: epoch_ms(frame.captured_at),
            hq: false,
            id: None,
        };
        let bytes = frame.data.len() as u64;
        let (receipt, delivery) = receipt();
        let out = Outbound::StreamFrame(header, frame.data.clone(), receipt);
        if !send_or_cancel(&self.outbox, out, &self.cancel).await {
            return Next::Stop;
        }
        self.in_flight = Some(delivery);
        self.resumed_at = None;
        if self.first {
            self.conn.set_lifecycle(Lifecycle::Connected);
            self.first = false;
        }
        self.conn.update_counters(|c| {
            c.frames_sent += 1;
            c.bytes_sent += bytes;
        });
        Next::Continue
    }

    /// Moves to the adapter's new rung: subscribes to its encoder (the old subscription goes once the new one
    /// exists) and records why. Should the subscription fail (the screen is going away), the stream stays on the
    /// old one; the adapter's next change subscribes afresh.
    fn switch(&mut self, change: &Change) {
        match self.manager.subscribe_jpeg(&self.screen, change.profile) {
            Ok(sub) => {
                self.pacer.switch(sub);
                tracing::debug!(connection = %self.conn.id(), %change, "jpeg rung changed");
                self.conn.event(change.to_string());
                let (step, name) = (change.step, rung_name(&change.profile));
                self.conn.update_counters(|c| {
                    c.tier = u32::try_from(step).ok();
                    c.tier_name = Some(name);
                    c.tier_switches += 1;
                });
            }
            Err(e) => self.conn.event(format!("{change} not taken: {e}")),
        }
    }
}

fn continue_unless(stop: bool) -> Next {
    if stop { Next::Stop } else { Next::Continue }
}

/// Resolves when the frame in flight is written; pending forever when there is none. Cancel-safe.
async fn delivered(in_flight: &mut Option<Delivery>) {
    match in_flight {
        // Either outcome (written, or the socket dropped the frame) means the socket is done with it.
        Some(delivery) => {
            let _ = delivery.await;
        }
        None => std::future::pending().await,
    }
}

/// Hands `out` to the socket unless the stream is stopped first (the socket task, the outbox's only reader, may
/// be the one stopping it). Returns whether it was handed over.
async fn send_or_cancel(
    outbox: &mpsc::Sender<Outbound>,
    out: Outbound,
    cancel: &CancellationToken,
) -> bool {
    tokio::select! {
        sent = outbox.send(out) => sent.is_ok(),
        () = cancel.cancelled() => false,
    }
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
