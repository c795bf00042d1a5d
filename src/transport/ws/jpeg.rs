//! The JPEG fallback stream of one `/ws` viewer: a task that takes frames from the shared [`Pacer`] and hands
//! them to the socket's bounded outbox. When the socket is slow the task waits on the outbox while newer frames
//! replace older ones in the engine, so a slow reader simply gets fewer frames and costs bounded memory.

use sightline_monitor::{Connection, Lifecycle, Owner};
use sightline_signaling::ServerMessage;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::outbox::Outbound;
use crate::session::SessionManager;
use crate::transport::pacer::Pacer;

/// One viewer's running JPEG stream.
pub struct JpegStream {
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    conn: Connection,
}

impl JpegStream {
    /// Starts streaming `pacer`'s frames of `screen` into `outbox`, as a task owned by `conn`. `watch` numbers the
    /// socket's watch, so an end it reports is not taken for a later watch's.
    pub fn start(
        manager: &SessionManager,
        watch: u64,
        screen: String,
        mut pacer: Pacer,
        conn: Connection,
        outbox: mpsc::Sender<Outbound>,
    ) -> Self {
        let (paused_tx, mut paused_rx) = watch::channel(false);
        let cancel = CancellationToken::new();
        conn.set_lifecycle(Lifecycle::Connecting);
        conn.track("jpeg", "video", "live");
        let task = {
            let cancel = cancel.clone();
            let conn = conn.clone();
            manager.spawn("jpeg-stream", Owner::Connection(conn.id()), async move {
                let mut first = true;
                let ended = ServerMessage::Stopped {
                    screen: screen.clone(),
                    reason: "the screen is no longer available".into(),
                };
                loop {
                    if *paused_rx.borrow_and_update() {
                        // Paused: remember the newest frame and notice the screen going away, send nothing.
                        let alive = tokio::select! {
                            biased;
                            () = cancel.cancelled() => break,
                            changed = paused_rx.changed() => if changed.is_err() { break } else { continue },
                            alive = pacer.absorb() => alive,
                        };
                        if !alive {
                            send_or_cancel(&outbox, Outbound::WatchEnded(watch, ended.clone()), &cancel).await;
                            break;
                        }
                        continue;
                    }
                    let paced = tokio::select! {
                        biased;
                        () = cancel.cancelled() => break,
                        changed = paused_rx.changed() => if changed.is_err() { break } else { continue },
                        paced = pacer.next() => paced,
                    };
                    let Some(paced) = paced else {
                        send_or_cancel(&outbox, Outbound::WatchEnded(watch, ended.clone()), &cancel).await;
                        break;
                    };
                    if paced.skipped > 0 {
                        conn.dropped("superseded", paced.skipped);
                    }
                    let frame = paced.frame;
                    let header = ServerMessage::Frame {
                        screen: screen.clone(),
                        seq: frame.seq,
                        width: frame.width,
                        height: frame.height,
                        captured_at_ms: epoch_ms(frame.captured_at),
                        hq: false,
                        id: None,
                    };
                    let bytes = frame.data.len() as u64;
                    if !send_or_cancel(&outbox, Outbound::Frame(header, frame.data.clone()), &cancel).await {
                        break;
                    }
                    if first {
                        conn.set_lifecycle(Lifecycle::Connected);
                        first = false;
                    }
                    conn.update_counters(|c| {
                        c.frames_sent += 1;
                        c.bytes_sent += bytes;
                    });
                }
            })
        };
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
