//! The `/ws` socket task: one per socket, generic over a `Stream` of [`WsIn`] and a `Sink` of [`WsOut`] so tests
//! drive it with channels on paused time and the HTTP edge with axum's WebSocket.
//!
//! The task is the single reader and writer of the socket. It waits on the client, the outbox (JPEG frames, HQ
//! frames), the watch's peer and agent activity, hands each to the [`Viewer`] and writes what it returns. Every
//! write gives up after [`WRITE_TIMEOUT`] without the client reading, and at once on a kick or shutdown, so a
//! client that stops reading can never hold its session. Everything the socket started ends with it, whichever
//! way it ends (stop, close, drop, kick, gateway shutdown).
//!
//! The task also keeps the socket honest: it pings every `[limits] heartbeat_ms` and closes with 1001 when nothing
//! (no message, no pong) arrived for `idle_timeout_ms`; it closes an unauthenticated socket with 1008 at the
//! authentication deadline; it holds the socket's place among the unauthenticated ones until it authenticates;
//! and it ends the socket with the RFC 6455 code of a protocol violation the WebSocket layer reports
//! ([`WsIn::Invalid`]). What each message costs and what a violation does to the client's address is the
//! [`Guard`](super::guard::Guard)'s.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sightline_monitor::{ConnectionAttrs, ConnectionKind, Lifecycle};
use sightline_signaling::{Role, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::end::{End, Violation};
use super::outbox::{OUTBOX_CAPACITY, Outbound};
use super::viewer::{Replies, Viewer};
use crate::diagnostics::UnauthenticatedPermit;
use crate::ratelimit::Class;
use crate::session::SessionManager;

/// Longest a single write may wait for the client to read. A client that stops reading (a frozen tab, a dead
/// link that TCP has not noticed yet) would otherwise hold its session, peer and subscription forever; past this
/// the socket is ended as stalled. Generous enough for a phone on a congested link to drain one JPEG frame.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the closing handshake may take before the socket is simply dropped (the client may not be reading).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What arrived from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum WsIn {
    /// A text message.
    Text(String),
    /// A binary message (refused: clients send JSON only).
    Binary,
    /// A ping frame (the WebSocket layer answers it; it counts as activity and costs a light message).
    Ping,
    /// A pong frame: the answer to the heartbeat.
    Pong,
    /// The client closed the socket, or the connection dropped.
    Close,
    /// The WebSocket layer refused what the client sent; nothing more can be read.
    Invalid(Violation),
    /// The WebSocket layer failed for a reason that is not the client's (nothing more can be read).
    Failed,
}

/// A message to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum WsOut {
    /// JSON text.
    Text(String),
    /// Binary (a JPEG image).
    Binary(Bytes),
    /// A heartbeat ping (empty payload).
    Ping,
    /// Close with a code and reason.
    Close(u16, String),
}

/// What the HTTP edge learned before upgrading. No `Debug`: it holds the bearer token.
#[derive(Default)]
pub struct Handshake {
    /// The role and token of an `Authorization: Bearer` header on the upgrade, already checked.
    pub bearer: Option<(Role, String)>,
    /// The client's address.
    pub remote: Option<SocketAddr>,
    /// The socket's place among the unauthenticated ones, released once it authenticates or ends.
    pub permit: Option<UnauthenticatedPermit>,
}

/// Runs one socket to its end.
pub async fn run<S, K>(manager: SessionManager, mut stream: S, mut sink: K, handshake: Handshake)
where
    S: Stream<Item = WsIn> + Unpin + Send,
    K: Sink<WsOut> + Unpin + Send,
{
    let remote = handshake.remote.map(|a| a.to_string());
    let conn = manager.open_connection(
        ConnectionKind::Signaling,
        ConnectionAttrs {
            remote: remote.clone(),
            ..Default::default()
        },
    );
    conn.set_lifecycle(Lifecycle::Connecting);
    let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
    let limits = &manager.config().limits;
    let mut socket = Socket {
        shutdown: manager.shutdown_token().clone(),
        heartbeat: limits.heartbeat(),
        idle_timeout: limits.idle_timeout(),
        viewer: Viewer::new(manager, conn.clone(), remote, outbox_tx),
        outbox: outbox_rx,
        permit: handshake.permit,
    };
    let reason = socket
        .run_inner(&mut stream, &mut sink, handshake.bearer)
        .await;
    socket.permit = None;
    socket.viewer.end_watch().await;
    let (code, text) = reason.close_frame();
    if let Some(code) = code {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        let _ =
            tokio::time::timeout_at(deadline, sink.send(WsOut::Close(code, text.clone()))).await;
        // The closing handshake (RFC 6455 7.1.1): what the client sent meanwhile is read and ignored until its
        // own close arrives, so the connection ends with a FIN once both sides closed rather than with a reset
        // that could destroy the close frame before the client read it. After a WebSocket-level violation the
        // stream has already ended and this returns at once.
        let _ = tokio::time::timeout_at(deadline, async {
            while let Some(m) = stream.next().await {
                if m == WsIn::Close {
                    break;
                }
            }
        })
        .await;
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
    /// `[limits] heartbeat_ms`.
    heartbeat: Duration,
    /// `[limits] idle_timeout_ms`.
    idle_timeout: Duration,
    /// Held while the socket has not authenticated.
    permit: Option<UnauthenticatedPermit>,
}

impl Socket {
    async fn run_inner<S, K>(
        &mut self,
        stream: &mut S,
        sink: &mut K,
        bearer: Option<(Role, String)>,
    ) -> End
    where
        S: Stream<Item = WsIn> + Unpin + Send,
        K: Sink<WsOut> + Unpin + Send,
    {
        if let Some((role, token)) = bearer {
            let welcome = match self.viewer.authenticate_at_upgrade(role, &token).await {
                Ok(msg) => msg,
                Err(end) => return end,
            };
            if let Err(end) = self.send(sink, &welcome).await {
                return end;
            }
        }
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + self.heartbeat, self.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            if self.viewer.authenticated() {
                self.permit = None;
            }
            let (shutdown, kicked) = (self.shutdown.clone(), self.viewer.kicked());
            let deadline = self.viewer.auth_deadline();
            let replies = tokio::select! {
                biased;
                () = shutdown.cancelled() => return End::Shutdown,
                () = kicked.cancelled() => return End::Kicked,
                () = sleep_until(deadline) => return self.auth_timed_out(),
                () = tokio::time::sleep_until(last_heard + self.idle_timeout) => {
                    self.viewer.guard().count("idle");
                    return End::Idle(self.idle_timeout);
                }
                msg = stream.next() => {
                    last_heard = Instant::now();
                    match self.on_input(msg).await {
                        Ok(replies) => replies,
                        Err(end) => return end,
                    }
                }
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
                    Vec::new()
                }
                event = self.viewer.next_event() => match self.viewer.on_event(event).await {
                    Ok(replies) => replies,
                    Err(end) => return end,
                },
                _ = heartbeat.tick() => {
                    if let Err(end) = self.write(sink, WsOut::Ping).await {
                        return end;
                    }
                    Vec::new()
                }
            };
            for m in &replies {
                if let Err(end) = self.send(sink, m).await {
                    return end;
                }
            }
        }
    }

    /// What arrived from the client (`None`: the stream ended).
    async fn on_input(&mut self, msg: Option<WsIn>) -> Result<Replies, End> {
        let now = Instant::now().into_std();
        match msg {
            None | Some(WsIn::Close) => Err(End::ClientClosed),
            Some(WsIn::Text(text)) => {
                self.viewer
                    .conn()
                    .update_counters(|c| c.messages_received += 1);
                self.viewer.on_text(&text).await
            }
            Some(WsIn::Binary) => {
                self.viewer
                    .conn()
                    .update_counters(|c| c.messages_received += 1);
                let refusal = self.viewer.guard().binary(now)?;
                Ok(vec![refusal.to_message()])
            }
            Some(WsIn::Ping) => {
                // Answered by the WebSocket layer; a flood of them is refused silently but still strikes.
                self.viewer.guard().admit(Class::Light, now)?;
                Ok(Vec::new())
            }
            Some(WsIn::Pong) => Ok(Vec::new()),
            Some(WsIn::Invalid(v)) => {
                let ban = self.viewer.guard().violation(v, now);
                Err(End::Violation(v, ban))
            }
            Some(WsIn::Failed) => Err(End::Internal),
        }
    }

    /// The authentication deadline passed: a strike, and 1008.
    fn auth_timed_out(&mut self) -> End {
        let now = Instant::now().into_std();
        match self
            .viewer
            .guard()
            .violation(Violation::Unauthenticated, now)
        {
            Some(ban) => End::Banned(ban),
            None => End::AuthTimeout(self.viewer.auth_timeout()),
        }
    }

    /// Writes one message. Every write of the socket goes through here: it gives up when the client has not read
    /// for [`WRITE_TIMEOUT`], and at once when the session is kicked or the gateway shuts down.
    async fn write<K>(&self, sink: &mut K, out: WsOut) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        let kicked = self.viewer.kicked();
        let message = matches!(out, WsOut::Text(_) | WsOut::Binary(_));
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(End::Shutdown),
            () = kicked.cancelled() => Err(End::Kicked),
            r = tokio::time::timeout(WRITE_TIMEOUT, sink.send(out)) => match r {
                Ok(Ok(())) => {
                    if message {
                        self.viewer.conn().update_counters(|c| c.messages_sent += 1);
                    }
                    Ok(())
                }
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
