//! The `/ws` socket: authentication, WebRTC and JPEG watches, commands, and everything a session owns.
//!
//! One task per socket runs [`run`], generic over a `Stream` of [`WsIn`] and a `Sink` of [`WsOut`] so tests drive
//! it with channels and the HTTP edge with axum's WebSocket. The task is the single owner of the socket's state: it
//! reads client messages, asks the [`SocketState`] what they mean, carries the decision out, and is the only
//! writer of the socket. Other producers (the JPEG stream, HQ frames, agent overlays) hand their messages to it
//! through a bounded outbox; the peer's events arrive on the peer's own bounded receiver.
//!
//! Everything the session starts is owned by its monitor connection and ends when the socket ends, whichever way
//! it ends (stop, close, drop, kick, gateway shutdown).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use sightline_media::engine::{JpegProfile, VideoSubscription};
use sightline_monitor::{Connection, ConnectionAttrs, ConnectionKind, Lifecycle, Owner};
use sightline_signaling::state::RemoteCandidate;
use sightline_signaling::{
    Action, Command, ErrorCode, ProtocolError, Role, ScreenDescription, ServerMessage, SocketState,
    Transport, Watch, parse_client, parse_command,
};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::gateway::{Actor, Gateway};
use crate::peer::{CandidateInit, Peer, PeerEvent};
use crate::session::{SessionGuard, SessionKind, WatchInfo};
use crate::transport::jpeg::{self, JpegStream};
use crate::transport::video::SubscriptionFeed;

/// Messages waiting for the socket writer. Producers block when it is full (the JPEG stream then skips frames:
/// its source keeps only the latest), so a slow reader costs at most this many messages of memory.
pub const OUTBOX_CAPACITY: usize = 8;

/// HQ frames being prepared at once per socket; more requests get `busy`.
pub const MAX_HQ_IN_FLIGHT: usize = 2;

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

/// What producers other than the socket task send through the outbox.
#[derive(Debug)]
pub enum Outbound {
    /// One JSON message.
    Message(ServerMessage),
    /// A `frame` header and its JPEG, written back to back.
    Frame(ServerMessage, Bytes),
}

/// The socket's watch.
enum ActiveWatch {
    Webrtc(WebrtcWatch),
    Jpeg(JpegStream),
}

struct WebrtcWatch {
    screen: String,
    peer: Peer,
    events: mpsc::Receiver<PeerEvent>,
    control: crate::transport::video::FeedControl,
}

/// Runs one socket to its end. `pre_auth` is the role of an `Authorization: Bearer` header on the upgrade.
pub async fn run<S, K>(
    gw: Gateway,
    mut stream: S,
    mut sink: K,
    pre_auth: Option<Role>,
    remote: Option<SocketAddr>,
) where
    S: Stream<Item = WsIn> + Unpin + Send,
    K: Sink<WsOut> + Unpin + Send,
{
    let conn = gw.monitor().open_connection(
        ConnectionKind::Signaling,
        ConnectionAttrs {
            remote: remote.map(|a| a.to_string()),
            ..Default::default()
        },
    );
    conn.set_lifecycle(Lifecycle::Connecting);
    let mut socket = Socket::new(gw, conn.clone(), remote);
    let reason = socket.run_inner(&mut stream, &mut sink, pre_auth).await;
    socket.end_watch().await;
    let (code, text) = reason.close_frame();
    if let Some(code) = code {
        let _ =
            tokio::time::timeout(CLOSE_TIMEOUT, sink.send(WsOut::Close(code, text.clone()))).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
    tracing::debug!(connection = %conn.id(), reason = %text, "socket ended");
    conn.close(&text);
}

/// Why a socket ended.
enum End {
    ClientClosed,
    Unauthorized(&'static str),
    Kicked,
    Shutdown,
    /// The gateway is at its session limit.
    Full,
    /// The client did not read for [`WRITE_TIMEOUT`].
    Stalled,
    Gone,
}

impl End {
    fn close_frame(&self) -> (Option<u16>, String) {
        match self {
            Self::ClientClosed => (None, "client closed".into()),
            Self::Unauthorized(why) => {
                (Some(sightline_signaling::CLOSE_UNAUTHORIZED), (*why).into())
            }
            Self::Kicked => (
                Some(sightline_signaling::CLOSE_KICKED),
                "ended by an administrator".into(),
            ),
            Self::Shutdown => (
                Some(sightline_signaling::CLOSE_GOING_AWAY),
                "gateway shutting down".into(),
            ),
            Self::Full => (
                Some(sightline_signaling::CLOSE_TRY_AGAIN_LATER),
                "the gateway is at its session limit".into(),
            ),
            Self::Stalled => (None, "the client stopped reading".into()),
            Self::Gone => (None, "connection lost".into()),
        }
    }
}

struct Socket {
    gw: Gateway,
    conn: Connection,
    remote: Option<SocketAddr>,
    state: SocketState,
    session: Option<SessionGuard>,
    watch: Option<ActiveWatch>,
    outbox_tx: mpsc::Sender<Outbound>,
    outbox_rx: mpsc::Receiver<Outbound>,
    hq_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    agent_events: Option<broadcast::Receiver<crate::gateway::AgentActivity>>,
    /// Ends every write at once when the gateway shuts down.
    shutdown: CancellationToken,
    /// The session's kick token once authenticated (a never-cancelled one before), so a kick ends even a write
    /// that waits for a client that stopped reading.
    kicked: CancellationToken,
}

impl Socket {
    fn new(gw: Gateway, conn: Connection, remote: Option<SocketAddr>) -> Self {
        let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        Self {
            conn,
            remote,
            state: SocketState::new(Instant::now()),
            session: None,
            watch: None,
            outbox_tx,
            outbox_rx,
            hq_in_flight: Arc::default(),
            agent_events: None,
            shutdown: gw.shutdown_token().clone(),
            kicked: CancellationToken::new(),
            gw,
        }
    }

    fn actor(&self) -> Actor {
        Actor {
            session: self
                .session
                .as_ref()
                .map(|s| s.id().to_owned())
                .unwrap_or_default(),
            connection: Some(self.conn.id()),
            role: self.state.role().unwrap_or(Role::View),
            agent: false,
        }
    }

    async fn run_inner<S, K>(&mut self, stream: &mut S, sink: &mut K, pre_auth: Option<Role>) -> End
    where
        S: Stream<Item = WsIn> + Unpin + Send,
        K: Sink<WsOut> + Unpin + Send,
    {
        if let Some(role) = pre_auth {
            let welcome = match self.welcome(role) {
                Ok(msg) => msg,
                Err(end) => return end,
            };
            if let Err(end) = self.send(sink, &welcome).await {
                return end;
            }
        }
        loop {
            let (shutdown, kicked) = (self.shutdown.clone(), self.kicked.clone());
            let deadline = self.state.auth_deadline();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return End::Shutdown,
                () = kicked.cancelled() => return End::Kicked,
                () = sleep_until(deadline) => return End::Unauthorized("no valid token within 5 s"),
                msg = stream.next() => {
                    let text = match msg {
                        None | Some(WsIn::Close) => return End::ClientClosed,
                        Some(WsIn::Binary) => {
                            let e = ProtocolError::new(ErrorCode::BadMessage, "binary messages are not accepted; send JSON text");
                            if let Err(end) = self.send(sink, &e.to_message()).await { return end; }
                            continue;
                        }
                        Some(WsIn::Text(t)) => t,
                    };
                    self.conn.update_counters(|c| c.messages_received += 1);
                    if let Err(end) = self.on_text(&text, sink).await {
                        return end;
                    }
                }
                Some(out) = self.outbox_rx.recv() => {
                    let r = match out {
                        Outbound::Message(m) => self.send(sink, &m).await,
                        Outbound::Frame(header, jpeg) => match self.send(sink, &header).await {
                            Ok(()) => self.write(sink, WsOut::Binary(jpeg)).await,
                            Err(e) => Err(e),
                        },
                    };
                    if let Err(end) = r { return end; }
                    self.conn.update_counters(|c| c.messages_sent += 1);
                }
                ev = next_peer_event(&mut self.watch) => {
                    if let Err(end) = self.on_peer_event(ev, sink).await {
                        return end;
                    }
                }
                activity = next_agent_event(&mut self.agent_events) => {
                    if let Some(a) = activity
                        && self.watched_screen() == Some(a.screen.as_str())
                    {
                        let m = ServerMessage::Agent { screen: a.screen, action: a.action, x: a.x, y: a.y, detail: a.detail };
                        if let Err(end) = self.send(sink, &m).await { return end; }
                    }
                }
            }
        }
    }

    fn watched_screen(&self) -> Option<&str> {
        self.state.watching().map(|w| w.screen.as_str())
    }

    fn welcome(&mut self, role: Role) -> Result<ServerMessage, End> {
        self.state.authenticated(role);
        let session = match self.gw.sessions().open(
            SessionKind::WebSocket,
            role,
            self.remote.map(|a| a.to_string()),
            Some(self.conn.id()),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "session refused");
                return Err(End::Full);
            }
        };
        self.conn.set_lifecycle(Lifecycle::Connected);
        self.conn
            .event(format!("authenticated as {role}, session {}", session.id()));
        let id = session.id().to_owned();
        self.kicked = session.kicked().clone();
        self.session = Some(session);
        self.agent_events = Some(self.gw.agent_events());
        let screens = self
            .gw
            .screens()
            .unwrap_or_else(|e| {
                // The welcome still goes out (commands and a later watch may work once the display is back); the
                // empty list tells the page there is nothing to show.
                tracing::warn!(error = %e, "screens unavailable for the welcome");
                self.conn.event(format!("screens unavailable: {e}"));
                Vec::new()
            })
            .into_iter()
            .map(|s| ScreenDescription {
                id: s.id,
                name: s.name,
                width: s.width,
                height: s.height,
                primary: s.primary,
            })
            .collect();
        let config = self.gw.config();
        Ok(ServerMessage::Welcome {
            session: id,
            role,
            screens,
            ice_servers: config
                .webrtc
                .ice_servers
                .iter()
                .map(|s| sightline_signaling::IceServerInfo {
                    urls: s.urls.clone(),
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                })
                .collect(),
            fallback_timeout_ms: config.webrtc.fallback_timeout_ms,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }

    async fn on_text<K>(&mut self, text: &str, sink: &mut K) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        let msg = match parse_client(text) {
            Ok(m) => m,
            Err(e) => return self.reply_error(sink, &e).await,
        };
        let action = self.state.on_message(msg, Instant::now());
        match action {
            Action::Authenticate(token) => match self.gw_role(&token) {
                Some(role) => {
                    let welcome = self.welcome(role)?;
                    self.send(sink, &welcome).await
                }
                None => Err(End::Unauthorized("invalid token")),
            },
            Action::Pong(id) => self.send(sink, &ServerMessage::Pong { id }).await,
            Action::Reply(e) => self.reply_error(sink, &e).await,
            Action::Nothing => Ok(()),
            Action::StartWatch(w) => self.start_watch(w, sink).await,
            Action::StopWatch => {
                self.end_watch().await;
                Ok(())
            }
            Action::ApplyAnswer(sdp) => {
                let Some(ActiveWatch::Webrtc(w)) = &self.watch else {
                    return self
                        .reply_error(
                            sink,
                            &ProtocolError::new(ErrorCode::NotWatching, "no offer to answer"),
                        )
                        .await;
                };
                match w.peer.set_answer(&sdp).await {
                    Ok(()) => {
                        for c in self.state.answer_applied() {
                            add_candidate(&w.peer, c).await;
                        }
                        Ok(())
                    }
                    Err(e) => {
                        let err = ProtocolError::new(
                            ErrorCode::BadValue,
                            format!("the answer was refused: {e}"),
                        );
                        self.reply_error(sink, &err).await
                    }
                }
            }
            Action::AddCandidate(c) => {
                if let Some(ActiveWatch::Webrtc(w)) = &self.watch {
                    add_candidate(&w.peer, c).await;
                }
                Ok(())
            }
            Action::Pause | Action::Resume => {
                if let Some(ActiveWatch::Jpeg(j)) = &self.watch {
                    j.set_paused(matches!(action, Action::Pause));
                }
                Ok(())
            }
            Action::HqFrame {
                id,
                screen,
                quality,
            } => self.hq_frame(id, screen, quality, sink).await,
            Action::Command {
                id,
                screen,
                command,
            } => {
                let result = self.command(screen.as_deref(), &command).await;
                match (result, id) {
                    (Ok(()), Some(id)) => self.send(sink, &ServerMessage::Ack { id }).await,
                    (Ok(()), None) => Ok(()),
                    (Err(e), id) => self.reply_error(sink, &e.with_id(id)).await,
                }
            }
        }
    }

    fn gw_role(&self, token: &str) -> Option<Role> {
        use crate::auth::HasTokens;
        self.gw.tokens().role_of(token)
    }

    /// Carries out one command (from the WebSocket or the data channel).
    async fn command(
        &mut self,
        screen: Option<&str>,
        command: &Command,
    ) -> Result<(), ProtocolError> {
        match command {
            Command::Keyframe => match &self.watch {
                Some(ActiveWatch::Webrtc(w)) => {
                    w.control.request_keyframe();
                    Ok(())
                }
                _ => Err(ProtocolError::new(
                    ErrorCode::NotWatching,
                    "keyframe needs a WebRTC watch",
                )),
            },
            Command::Quality { bitrate_kbps } => match &self.watch {
                Some(ActiveWatch::Webrtc(w)) => {
                    w.control.set_bitrate(*bitrate_kbps).map_err(media_error)?;
                    self.conn
                        .event(format!("bitrate set to {bitrate_kbps} kbit/s"));
                    Ok(())
                }
                _ => Err(ProtocolError::new(
                    ErrorCode::NotWatching,
                    "quality needs a WebRTC watch",
                )),
            },
            _ => {
                let actor = self.actor();
                self.gw
                    .command(&actor, screen, command)
                    .await
                    .map_err(|e| e.to_protocol(None))
            }
        }
    }

    async fn start_watch<K>(&mut self, w: Watch, sink: &mut K) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        self.end_watch().await;
        let id = w.id.clone();
        let screen = match self.gw.screen(&w.screen) {
            Ok(s) => s,
            Err(e) => return self.reply_error(sink, &media_error(e).with_id(id)).await,
        };
        let attrs = ConnectionAttrs {
            session: self.session.as_ref().map(|s| s.id().to_owned()),
            screen: Some(screen.id.clone()),
            role: self.state.role().map(|r| r.to_string()),
            remote: self.remote.map(|a| a.to_string()),
            parent: Some(self.conn.id()),
        };
        match w.transport {
            Transport::Webrtc => {
                let profile = crate::server::video_profile(self.gw.config(), w.max_width);
                let sub: VideoSubscription =
                    match self.gw.engine().subscribe_video(&screen.id, profile) {
                        Ok(s) => s,
                        Err(e) => return self.reply_error(sink, &media_error(e).with_id(id)).await,
                    };
                let (feed, control) = SubscriptionFeed::new(sub);
                let conn = self
                    .gw
                    .monitor()
                    .open_connection(ConnectionKind::WebRtc, attrs);
                let cfg = crate::transport::video::peer_config(self.gw.config());
                match Peer::offer(&cfg, feed, conn.clone(), self.gw.monitor()).await {
                    Ok((peer, events, sdp)) => {
                        self.state.watch_started(&w);
                        if let Some(s) = &self.session {
                            s.set_watch(Some(WatchInfo {
                                screen: screen.id.clone(),
                                transport: "webrtc".into(),
                                connection: Some(conn.id()),
                            }));
                        }
                        self.watch = Some(ActiveWatch::Webrtc(WebrtcWatch {
                            screen: screen.id.clone(),
                            peer,
                            events,
                            control,
                        }));
                        self.send(sink, &ServerMessage::Offer { sdp }).await
                    }
                    Err(e) => {
                        let err = ProtocolError::new(
                            ErrorCode::Failed,
                            format!("cannot start WebRTC: {e}"),
                        );
                        self.reply_error(sink, &err.with_id(id)).await
                    }
                }
            }
            Transport::Jpeg => {
                let preview = &self.gw.config().preview;
                let profile = JpegProfile {
                    quality: w.quality.unwrap_or(preview.quality),
                    max_width: Some(w.max_width.unwrap_or(preview.max_width)),
                    fps: w.fps.unwrap_or(preview.fps),
                };
                let conn = self
                    .gw
                    .monitor()
                    .open_connection(ConnectionKind::Jpeg, attrs);
                match jpeg::start(
                    &self.gw,
                    &screen.id,
                    profile,
                    conn.clone(),
                    self.outbox_tx.clone(),
                ) {
                    Ok(stream) => {
                        self.state.watch_started(&w);
                        if let Some(s) = &self.session {
                            s.set_watch(Some(WatchInfo {
                                screen: screen.id.clone(),
                                transport: "jpeg".into(),
                                connection: Some(conn.id()),
                            }));
                        }
                        self.watch = Some(ActiveWatch::Jpeg(stream));
                        Ok(())
                    }
                    Err(e) => {
                        conn.close("start failed");
                        self.reply_error(sink, &media_error(e).with_id(id)).await
                    }
                }
            }
        }
    }

    /// Ends the current watch, if any, and returns the screen it watched.
    async fn end_watch(&mut self) -> Option<String> {
        let watch = self.watch.take()?;
        let screen = match watch {
            ActiveWatch::Webrtc(w) => {
                w.peer.close().await;
                w.screen
            }
            ActiveWatch::Jpeg(j) => {
                let screen = j.screen().to_owned();
                j.stop().await;
                screen
            }
        };
        self.state.watch_ended();
        if let Some(s) = &self.session {
            s.set_watch(None);
        }
        Some(screen)
    }

    async fn on_peer_event<K>(&mut self, ev: Option<PeerEvent>, sink: &mut K) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        let Some(ev) = ev else {
            // The peer's event channel closed: the peer is gone.
            return self.watch_failed("the peer connection closed", sink).await;
        };
        match ev {
            PeerEvent::LocalCandidate(c) => {
                let m = match c {
                    Some(c) => ServerMessage::Candidate {
                        candidate: c.candidate,
                        sdp_mid: c.sdp_mid,
                        sdp_mline_index: c.sdp_mline_index,
                    },
                    None => ServerMessage::Candidate {
                        candidate: String::new(),
                        sdp_mid: Some("0".into()),
                        sdp_mline_index: Some(0),
                    },
                };
                self.send(sink, &m).await
            }
            PeerEvent::Control(text) => {
                let reply = self.data_channel_command(&text).await;
                if let (Some(reply), Some(ActiveWatch::Webrtc(w))) = (reply, &self.watch)
                    && let Err(e) = w.peer.send_control(reply.to_json()).await
                {
                    tracing::debug!(error = %e, "control reply not sent");
                }
                Ok(())
            }
            PeerEvent::Failed(reason) => self.watch_failed(&reason, sink).await,
            PeerEvent::Closed => self.watch_failed("the peer connection closed", sink).await,
            PeerEvent::VideoEnded => {
                self.watch_failed("the screen is no longer available", sink)
                    .await
            }
            PeerEvent::Connected | PeerEvent::ControlOpen | PeerEvent::KeyframeRequested => Ok(()),
        }
    }

    async fn watch_failed<K>(&mut self, reason: &str, sink: &mut K) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        match self.end_watch().await {
            Some(screen) => {
                let m = ServerMessage::Stopped {
                    screen,
                    reason: reason.to_owned(),
                };
                self.send(sink, &m).await
            }
            None => Ok(()),
        }
    }

    /// A command from the data channel; returns the reply to send back on it.
    async fn data_channel_command(&mut self, text: &str) -> Option<ServerMessage> {
        let (id, screen, command) = match parse_command(text) {
            Ok((id, command)) => {
                let screen = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("screen").and_then(Value::as_str).map(str::to_owned));
                (id, screen, command)
            }
            Err(e) => return Some(e.to_message()),
        };
        let role = self.state.role().unwrap_or(Role::View);
        if !role.allows(command.required_role()) {
            let e = ProtocolError::new(
                ErrorCode::Forbidden,
                format!("role {role} cannot send {} commands", command.kind()),
            );
            return Some(e.with_id(id).to_message());
        }
        let screen = screen.or_else(|| self.watched_screen().map(str::to_owned));
        match self.command(screen.as_deref(), &command).await {
            Ok(()) => id.map(|id| ServerMessage::Ack { id }),
            Err(e) => Some(e.with_id(id).to_message()),
        }
    }

    async fn hq_frame<K>(
        &mut self,
        id: Option<Value>,
        screen: Option<String>,
        quality: u8,
        sink: &mut K,
    ) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        use std::sync::atomic::Ordering;
        let found = match &screen {
            Some(s) => self.gw.screen(s),
            None => self.gw.primary_screen(),
        };
        let screen = match found {
            Ok(s) => s.id,
            Err(e) => return self.reply_error(sink, &media_error(e).with_id(id)).await,
        };
        if self.hq_in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_HQ_IN_FLIGHT {
            self.hq_in_flight.fetch_sub(1, Ordering::AcqRel);
            return self
                .reply_error(
                    sink,
                    &ProtocolError::new(ErrorCode::Busy, "an HQ frame is already being prepared")
                        .with_id(id),
                )
                .await;
        }
        let gw = self.gw.clone();
        let outbox = self.outbox_tx.clone();
        let in_flight = self.hq_in_flight.clone();
        let (conn_id, closed) = (self.conn.id(), self.conn.closed_token());
        self.gw
            .monitor()
            .spawn("hq-frame", Owner::Connection(conn_id), async move {
                let msg = match jpeg::hq_frame(&gw, &screen, quality, conn_id).await {
                    Ok((header, jpeg)) => {
                        let header = match header {
                            ServerMessage::Frame {
                                screen,
                                seq,
                                width,
                                height,
                                captured_at_ms,
                                ..
                            } => ServerMessage::Frame {
                                screen,
                                seq,
                                width,
                                height,
                                captured_at_ms,
                                hq: true,
                                id: id.clone(),
                            },
                            other => other,
                        };
                        Outbound::Frame(header, jpeg)
                    }
                    Err(e) => Outbound::Message(media_error(e).with_id(id).to_message()),
                };
                tokio::select! {
                    _ = outbox.send(msg) => {}
                    () = closed.cancelled() => {}
                }
                in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        Ok(())
    }
}

async fn add_candidate(peer: &Peer, c: RemoteCandidate) {
    let init = CandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
    };
    if let Err(e) = peer.add_remote_candidate(init).await {
        tracing::debug!(error = %e, "remote candidate refused");
    }
}

fn media_error(e: sightline_media::MediaError) -> ProtocolError {
    use sightline_media::MediaError as M;
    let code = match &e {
        M::UnknownScreen(_) => ErrorCode::UnknownScreen,
        M::Invalid { .. } => ErrorCode::BadValue,
        _ => ErrorCode::Failed,
    };
    ProtocolError::new(code, e.to_string())
}

async fn next_peer_event(watch: &mut Option<ActiveWatch>) -> Option<PeerEvent> {
    match watch {
        Some(ActiveWatch::Webrtc(w)) => w.events.recv().await,
        _ => std::future::pending().await,
    }
}

async fn next_agent_event(
    rx: &mut Option<broadcast::Receiver<crate::gateway::AgentActivity>>,
) -> Option<crate::gateway::AgentActivity> {
    match rx {
        Some(rx) => loop {
            match rx.recv().await {
                Ok(a) => return Some(a),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
            }
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

impl Socket {
    /// Writes one message. Every write of the socket goes through here: it gives up when the client has not read
    /// for [`WRITE_TIMEOUT`], and at once when the session is kicked or the gateway shuts down, so a client that
    /// stops reading can never hold its session.
    async fn write<K>(&self, sink: &mut K, out: WsOut) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(End::Shutdown),
            () = self.kicked.cancelled() => Err(End::Kicked),
            r = tokio::time::timeout(WRITE_TIMEOUT, sink.send(out)) => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(End::Gone),
                Err(_) => Err(End::Stalled),
            },
        }
    }

    async fn send<K>(&self, sink: &mut K, msg: &ServerMessage) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        self.write(sink, WsOut::Text(msg.to_json())).await
    }

    async fn reply_error<K>(&self, sink: &mut K, e: &ProtocolError) -> Result<(), End>
    where
        K: Sink<WsOut> + Unpin + Send,
    {
        self.send(sink, &e.to_message()).await
    }
}
