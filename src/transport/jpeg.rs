//! The JPEG fallback stream of one `/ws` viewer, and HQ frames.
//!
//! The engine shares one JPEG encoder per (screen, quality, max_width) among every viewer that asks for the same,
//! and keeps only its latest frame. Each viewer's stream task takes the latest frame at the viewer's own rate and
//! hands it to the socket's bounded outbox; when the socket is slow, the task waits on the outbox while newer
//! frames replace older ones in the engine, so a slow reader simply gets fewer frames and costs bounded memory.

use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use sightline_media::MediaError;
use sightline_media::engine::JpegProfile;
use sightline_monitor::{Connection, ConnectionId, Lifecycle, Owner};
use sightline_signaling::ServerMessage;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::transport::ws::Outbound;

/// An unchanged screen's last frame is re-sent after this long, so a client can tell a still screen from a dead
/// stream (and a late-joining canvas gets a picture).
pub const KEEPALIVE: Duration = Duration::from_secs(3);

/// One viewer's running JPEG stream.
pub struct JpegStream {
    screen: String,
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    conn: Connection,
}

impl JpegStream {
    /// The screen.
    pub fn screen(&self) -> &str {
        &self.screen
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

/// Starts a stream of `screen` into `outbox`.
pub fn start(
    gw: &Gateway,
    screen: &str,
    profile: JpegProfile,
    conn: Connection,
    outbox: mpsc::Sender<Outbound>,
) -> Result<JpegStream, MediaError> {
    let mut sub = gw.engine().subscribe_jpeg(screen, profile)?;
    let (paused_tx, mut paused_rx) = watch::channel(false);
    let cancel = CancellationToken::new();
    conn.set_lifecycle(Lifecycle::Connecting);
    conn.track("jpeg", "video", "live");
    let task = {
        let cancel = cancel.clone();
        let conn = conn.clone();
        let screen = screen.to_owned();
        let interval = Duration::from_secs_f64(1.0 / f64::from(profile.fps.max(1)));
        gw.monitor().spawn("jpeg-stream", Owner::Connection(conn.id()), async move {
            let mut latest = None;
            let mut last_sent_seq = 0u64;
            let mut next_send = tokio::time::Instant::now();
            let mut first = true;
            loop {
                let keepalive = tokio::time::sleep(KEEPALIVE);
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break,
                    changed = paused_rx.changed() => {
                        if changed.is_err() { break; }
                        continue;
                    }
                    frame = sub.changed() => match frame {
                        Some(f) => latest = Some(f),
                        None => {
                            let m = ServerMessage::Stopped { screen: screen.clone(), reason: "the screen is no longer available".into() };
                            let _ = outbox.send(Outbound::Message(m)).await;
                            break;
                        }
                    },
                    () = keepalive, if latest.is_some() => {}
                }
                if *paused_rx.borrow() {
                    continue;
                }
                let Some(frame) = latest.clone() else { continue };
                // Honour the viewer's own rate: wait, and take whatever is newest by then.
                tokio::select! {
                    () = tokio::time::sleep_until(next_send) => {}
                    () = cancel.cancelled() => break,
                }
                if let Some(Some(newer)) = sub.changed().now_or_never() {
                    latest = Some(newer);
                }
                let frame = latest.clone().unwrap_or(frame);
                if frame.seq > last_sent_seq + 1 && !first {
                    conn.dropped("superseded", frame.seq - last_sent_seq - 1);
                }
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
                tokio::select! {
                    sent = outbox.send(Outbound::Frame(header, frame.data.clone())) => if sent.is_err() { break },
                    () = cancel.cancelled() => break,
                }
                if first {
                    conn.set_lifecycle(Lifecycle::Connected);
                    first = false;
                }
                last_sent_seq = frame.seq;
                conn.update_counters(|c| {
                    c.frames_sent += 1;
                    c.bytes_sent += bytes;
                });
                next_send = tokio::time::Instant::now() + interval;
            }
        })
    };
    Ok(JpegStream {
        screen: screen.to_owned(),
        paused: paused_tx,
        cancel,
        task,
        conn,
    })
}

/// One full-resolution frame of `screen`: the running capture's latest frame (or one capture), encoded at
/// `quality`. Returns the `frame` header (with `hq` false and no id: the caller sets them) and the JPEG.
pub async fn hq_frame(
    gw: &Gateway,
    screen: &str,
    quality: u8,
    conn: ConnectionId,
) -> Result<(ServerMessage, Bytes), MediaError> {
    let op = gw.monitor().operation("snapshot", Some(conn));
    let result = async {
        let frame = gw.engine().snapshot(screen).await?;
        gw.engine().encode_jpeg(frame, quality, None).await
    }
    .await;
    let jpeg = op.finish_with(result)?;
    let header = ServerMessage::Frame {
        screen: screen.to_owned(),
        seq: jpeg.seq,
        width: jpeg.width,
        height: jpeg.height,
        captured_at_ms: epoch_ms(jpeg.captured_at),
        hq: false,
        id: None,
    };
    Ok((header, jpeg.data))
}

fn epoch_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
