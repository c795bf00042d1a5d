//! The `/ws` socket task: one per socket, generic over a `Stream` of [`WsIn`] and a `Sink` of [`WsOut`] so tests
//! drive it with channels on paused time and the HTTP edge with axum's WebSocket.
//!
//! The task is the single reader and writer of the socket. It waits on the client, the outbox (JPEG frames, HQ
//! frames), the watch's peer and agent activity, hands each to the [`Viewer`] and writes what it returns. Every
//! write gives up after [`WRITE_TIMEOUT`] without the client reading, and at once on a kick or shutdown, so a
//! client that stops reading can never hold its session. Everything the socket started ends with it, whichever
//! way it ends (stop, close, drop, kick, gateway shutdown).

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sightline_monitor::{ConnectionAttrs, ConnectionKind, Lifecycle};
use sightline_signaling::{ErrorCode, ProtocolError, Role, ServerMessage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::outbox::{OUTBOX_CAPACITY, Outbound};
use super::viewer::{End, Viewer};
use crate::session::SessionManager;

/// Longest a single write may wait for the client to read. A client that stops reading (a frozen tab, a dead
/// link that TCP has not noticed yet) would otherwise hold its session, peer and subscription forever; past this
/// the socket is ended as stalled. Generous enough for a phone on a congested link to drain one JPEG frame.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the closing handshake may take before the socket is simply dropped (the client may not be reading).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A message from the client.
#[derive(Debug)]
pub enum WsIn {
    /// A text message.
    Text(String),
    /// A binary message (refused: clients send JSON only).
    Binary,
    /// The client closed the socket.
    Close,
}

/// A message to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum WsOut {
    /// JSON text.
    Text(String),
    /// Binary (a JPEG image).
    Binary(Bytes),
    /// Close with a code and reason.
    Close(u16, String),
}

/// Runs one socket to its end. `pre_auth` is the role of an `Authorization: Bearer` header on the upgrade.
pub async fn run<S, K>(
    manager: SessionManager,
    mut stream: S,
    mut sink: K,
    pre_auth: Option<Role>,
    remote: Option<String>,
) where
    S: Stream<Item = WsIn> + Unpin + Send,
    K: Sink<WsOut> + Unpin + Send,
{
    let conn = manager.open_connection(
        ConnectionKind::Signaling,
        ConnectionAttrs {
            remote: remote.clone(),
            ..Default::default()
        },
    );
    conn.set_lifecycle(Lifecycle::Connecting);
    let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
    let mut socket = Socket {
        shutdown: manager.shutdown_token().clone(),
        viewer: Viewer::new(manager, conn.clone(), remote, outbox_tx),
        outbox: outbox_rx,
    };
    let reason = socket.run_inner(&mut stream, &mut sink, pre_auth).await;
    socket.viewer.end_watch().await;
    let (code, text) = reason.close_frame();
    if let Some(code) = code {
        let _ =
            tokio::time::timeout(CLOSE_TIMEOUT, sink.send(WsOut::Close(code, text.clone()))).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
    tracing::debug!(connection = %conn.id(), reason = %text, "socket ended");
    conn.close(&text);
}

struct Socket {
    viewer: Viewer,
    outbox: mpsc::Receiver<Outbound>,
    /// Ends every write at once when the gateway shuts down.
    shutdown: CancellationToken,
}

impl Socket {
    async fn run_inner<S, K>(&mut self, stream: &mut S, sink: &mut K, pre_auth: Option<Role>) -> End
    where
        S: Stream<Item = WsIn> + Unpin + Send,
        K: Sink<WsOut> + Unpin + Send,
    {
        if let Some(role) = pre_auth {
            let welcome = match self.viewer.welcome(role).await {
                Ok(msg) => msg,
                Err(end) => return end,
            };
            if let Err(end) = self.send(sink, &welcome).await {
                return end;
            }
        }
        loop {
            let (shutdown, kicked) = (self.shutdown.clone(), self.viewer.kicked());
            let deadline = self.viewer.auth_deadline();
            let replies = tokio::select! {
                biased;
                () = shutdown.cancelled() => return End::Shutdown,
                () = kicked.cancelled() => return End::Kicked,
                () = sleep_until(deadline) => return End::Unauthorized("no valid token within 5 s"),
                msg = stream.next() => match msg {
                    None | Some(WsIn::Close) => return End::ClientClosed,
                    Some(WsIn::Binary) => vec![ProtocolError::new(
                        ErrorCode::BadMessage,
                        "binary messages are not accepted; send JSON text",
                    ).to_message()],
                    Some(WsIn::Text(text)) => {
                        self.viewer.conn().update_counters(|c| c.messages_received += 1);
                        match self.viewer.on_text(&text).await {
                            Ok(replies) => replies,
                            Err(end) => return end,
                        }
                    }
                },
                Some(out) = self.outbox.recv() => {
                    let written = match out {
                        Outbound::Message(m) => self.send(sink, &m).await,
                        Outbound::WatchEnded(watch, m) => {
                            if self.viewer.watch_ended(watch).await {
                                self.send(sink, &m).await
                            } else {
                                Ok(())
                            }
                        }
                        Outbound::Frame(header, jpeg) => self.send_frame(sink, &header, jpeg).await,
                        Outbound::StreamFrame(header, jpeg, receipt) => {
                            let written = self.send_frame(sink, &header, jpeg).await;
                            // Tells the JPEG stream the socket took the frame (see `super::adapt`).
                            drop(receipt);
                            written
                        }
                    };
                    if let Err(end) = written {
                        return end;
                    }
                    self.viewer.conn().update_counters(|c| c.messages_sent += 1);
                    Vec::new()
                }
                event = self.viewer.next_event() => self.viewer.on_event(event).await,
            };
            for m in &replies {
                if let Err(end) = self.send(sink, m).await {
                    return end;
                }
            }
        }
    }

    /// Writes one message. Every write of the socket goes through here: it gives up when the client has not read
    /// for [`WRITE_TIMEOUT`], and at once when the session is kicked or the gateway shuts down.
    async fn write<K>(&self, sink: &mut K, out: WsOut) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        let kicked = self.viewer.kicked();
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(End::Shutdown),
            () = kicked.cancelled() => Err(End::Kicked),
            r = tokio::time::timeout(WRITE_TIMEOUT, sink.send(out)) => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(End::Gone),
                Err(_) => Err(End::Stalled),
            },
        }
    }

    /// Writes a `frame` header and its JPEG back to back.
    async fn send_frame<K>(
        &self,
        sink: &mut K,
        header: &ServerMessage,
        jpeg: Bytes,
    ) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        self.send(sink, header).await?;
        self.write(sink, WsOut::Binary(jpeg)).await
    }

    async fn send<K>(&self, sink: &mut K, msg: &ServerMessage) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        self.write(sink, WsOut::Text(msg.to_json())).await
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
