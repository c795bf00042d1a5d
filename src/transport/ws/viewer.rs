//! The viewer behind one `/ws` socket: what its messages mean and what they start. It authenticates the socket
//! into a session, opens and ends watches through the session manager (WebRTC or JPEG), carries out commands
//! from the socket and the data channel, prepares HQ frames, and turns peer and agent events into messages.
//!
//! Every message, from the socket or the data channel, is first charged to its class's budget by the socket's
//! [`Guard`]: one over budget is not carried out (a coalesced `rate_limited` error instead), and one that does not
//! parse is a violation; either is a strike that may ban the client, which ends the socket ([`End::Banned`]).
//!
//! It never touches the socket: every method returns the messages to send, and the socket task
//! ([`super::socket`]) writes them, so a client that stops reading is the socket task's concern alone.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use serde_json::Value;
use sightline_monitor::{Connection, Lifecycle};
use sightline_signaling::state::RemoteCandidate;
use sightline_signaling::{
    Action as Step, Command, ErrorCode, ProtocolError, Role, ServerMessage, SocketState, Transport,
    Watch as WatchMessage, parse_client, parse_command,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::end::{End, Violation};
use super::feed::{Feed, FeedEvent, agent_message, clipboard_command, clipboard_message};
use super::guard::{Admission, Guard, class_of, command_class, message_id, parse_violation};
use super::hq::HqRequest;
use super::jpeg::JpegStream;
use super::outbox::Outbound;
use crate::auth::HasTokens;
use crate::control::{Intent, policy};
use crate::peer::{CandidateInit, Peer, PeerEvent};
use crate::session::{
    JpegRequest, Session, SessionKind, SessionManager, WatchMedia, WatchRequest, WatchTicket,
};
use crate::sfu::{SfuEvent, SfuViewer};

/// The socket's watch.
enum ActiveWatch {
    Webrtc {
        screen: String,
        peer: Peer,
        events: mpsc::Receiver<PeerEvent>,
        _ticket: WatchTicket,
    },
    /// An SFU sends the picture; this socket brokers the viewer's Janus session.
    Sfu {
        screen: String,
        max_width: Option<u32>,
        viewer: SfuViewer,
        _ticket: WatchTicket,
    },
    Jpeg {
        screen: String,
        number: u64,
        stream: JpegStream,
        _ticket: WatchTicket,
    },
}

/// Something that happened to the viewer other than a client message.
#[derive(Debug)]
pub enum ViewerEvent {
    /// The watch's peer reported (`None`: its event channel closed).
    Peer(Option<PeerEvent>),
    /// The watch's SFU session reported.
    Sfu(SfuEvent),
    /// An agent acted, the clipboard changed or the pointer moved.
    Feed(FeedEvent),
}

/// What the viewer's methods hand back: messages to write, in order.
pub type Replies = Vec<ServerMessage>;

/// One socket's viewer.
pub struct Viewer {
    manager: SessionManager,
    conn: Connection,
    remote: Option<String>,
    state: SocketState,
    session: Option<Session>,
    watch: Option<ActiveWatch>,
    outbox: mpsc::Sender<Outbound>,
    hq_in_flight: Arc<AtomicUsize>,
    /// Agents' activity, the clipboard and the pointer.
    feed: Feed,
    /// The WebRTC watch's data channel is open: pointer messages go there.
    control_open: bool,
    /// The session's kick token once authenticated (a never-cancelled one before).
    kicked: CancellationToken,
    /// Numbers the socket's watches, so a JPEG stream's report of its end is matched to its own watch.
    watches: u64,
    /// Budgets, strikes and violation counts of this socket's client.
    guard: Guard,
    /// `[limits] auth_timeout_ms`.
    auth_timeout: Duration,
}

impl Viewer {
    /// A viewer of the socket whose monitor connection is `conn`; producers write to `outbox`.
    pub fn new(
        manager: SessionManager,
        conn: Connection,
        remote: Option<String>,
        outbox: mpsc::Sender<Outbound>,
    ) -> Self {
        let auth_timeout = manager.config().limits.auth_timeout();
        let guard = Guard::new(manager.clone(), conn.clone(), remote.as_deref());
        Self {
            state: SocketState::with_auth_timeout(now(), auth_timeout, policy::command_role),
            manager,
            conn,
            remote,
            session: None,
            watch: None,
            outbox,
            hq_in_flight: Arc::default(),
            feed: Feed::default(),
            control_open: false,
            kicked: CancellationToken::new(),
            watches: 0,
            guard,
            auth_timeout,
        }
    }

    /// Whether the socket has authenticated.
    pub fn authenticated(&self) -> bool {
        self.state.role().is_some()
    }

    /// The authentication deadline's length.
    pub fn auth_timeout(&self) -> Duration {
        self.auth_timeout
    }

    /// The socket's budgets and strikes.
    pub fn guard(&mut self) -> &mut Guard {
        &mut self.guard
    }

    /// Authenticates with the token of an `Authorization: Bearer` header on the upgrade (already checked to grant
    /// `role`): admits the session and returns the `welcome`.
    pub async fn authenticate_at_upgrade(
        &mut self,
        role: Role,
        token: &str,
    ) -> Result<ServerMessage, End> {
        self.guard.authenticated(token);
        self.welcome(role).await
    }

    /// When an unauthenticated socket must be closed.
    pub fn auth_deadline(&self) -> Option<std::time::Instant> {
        self.state.auth_deadline()
    }

    /// Cancelled when an admin ends the session.
    pub fn kicked(&self) -> CancellationToken {
        self.kicked.clone()
    }

    /// The monitor connection of the socket.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn role(&self) -> Role {
        self.state.role().unwrap_or(Role::View)
    }

    fn watched_screen(&self) -> Option<&str> {
        self.state.watching().map(|w| w.screen.as_str())
    }

    /// Authenticates as `role`: admits the session and returns the `welcome`.
    pub async fn welcome(&mut self, role: Role) -> Result<ServerMessage, End> {
        self.state.authenticated(role);
        let session = match self.manager.open_session(
            SessionKind::WebSocket,
            role,
            self.remote.clone(),
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
        self.feed.authenticated(&self.manager, role);
        // The welcome goes out even without screens (the empty list tells the page there is nothing to show).
        let screens = super::feed::screen_descriptions(&self.manager, &self.conn).await;
        let config = self.manager.config();
        // The browser's list, with a TURN credential for this session (never the secret).
        let ice_servers = config
            .client_ice_servers(&id, std::time::SystemTime::now())
            .iter()
            .map(Into::into)
            .collect();
        Ok(ServerMessage::Welcome {
            session: id,
            role,
            screens,
            ice_servers,
            fallback_timeout_ms: config.webrtc.fallback_timeout_ms,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
    }

    /// A text message from the client: parsed, charged to its class's budget, then carried out.
    pub async fn on_text(&mut self, text: &str) -> Result<Replies, End> {
        let now = now();
        let msg = match parse_client(text) {
            Ok(m) => m,
            Err(e) => {
                self.guard.tolerate(parse_violation(&e), now)?;
                return Ok(vec![e.to_message()]);
            }
        };
        if let Admission::Refused(reply) = self.guard.admit(class_of(&msg), now)? {
            let id = message_id(&msg);
            return Ok(reply
                .map(|e| e.with_id(id).to_message())
                .into_iter()
                .collect());
        }
        let step = self.state.on_message(msg, now);
        Ok(match step {
            Step::Authenticate(token) => match self.manager.tokens().role_of(&token) {
                Some(role) => {
                    self.guard.authenticated(&token);
                    vec![self.welcome(role).await?]
                }
                None => {
                    return Err(
                        match self.guard.violation(Violation::Unauthenticated, now) {
                            Some(ban) => End::Banned(ban),
                            None if self.manager.tokens().is_device_token(&token) => {
                                End::Unauthorized(crate::auth::DEVICE_TOKEN_FORBIDDEN)
                            }
                            None => End::Unauthorized("invalid token"),
                        },
                    );
                }
            },
            Step::Pong(id) => vec![ServerMessage::Pong { id }],
            Step::Reply(e) => vec![e.to_message()],
            Step::Nothing => Vec::new(),
            Step::StartWatch(w) => self.start_watch(w).await,
            Step::StopWatch => {
                self.end_watch().await;
                Vec::new()
            }
            Step::ApplyAnswer(sdp) => self.apply_answer(&sdp).await,
            Step::AddCandidate(c) => {
                match &self.watch {
                    Some(ActiveWatch::Webrtc { peer, .. }) => add_candidate(peer, c).await,
                    Some(ActiveWatch::Sfu { viewer, .. }) => trickle(viewer, c).await,
                    _ => {}
                }
                Vec::new()
            }
            Step::Pause | Step::Resume => {
                if let Some(ActiveWatch::Jpeg { stream, .. }) = &self.watch {
                    stream.set_paused(matches!(step, Step::Pause));
                }
                Vec::new()
            }
            Step::HqFrame {
                id,
                screen,
                quality,
            } => {
                let request = HqRequest {
                    id,
                    screen,
                    quality,
                };
                request
                    .start(&self.manager, &self.conn, &self.outbox, &self.hq_in_flight)
                    .await
            }
            Step::Command {
                id,
                screen,
                command,
            } => match self.command(screen.as_deref(), &command, id.clone()).await {
                Ok(Some(reply)) => vec![reply],
                Ok(None) => id.map(|id| ServerMessage::Ack { id }).into_iter().collect(),
                Err(e) => vec![e.with_id(id).to_message()],
            },
        })
    }

    async fn apply_answer(&mut self, sdp: &str) -> Replies {
        if let Some(ActiveWatch::Sfu { viewer, .. }) = &self.watch {
            return match viewer.set_answer(sdp).await {
                Ok(()) => {
                    for c in self.state.answer_applied() {
                        trickle(viewer, c).await;
                    }
                    Vec::new()
                }
                Err(e) => vec![
                    ProtocolError::new(
                        ErrorCode::BadValue,
                        format!("the SFU refused the answer: {e}"),
                    )
                    .to_message(),
                ],
            };
        }
        let Some(ActiveWatch::Webrtc { peer, .. }) = &self.watch else {
            return vec![
                ProtocolError::new(ErrorCode::NotWatching, "no offer to answer").to_message(),
            ];
        };
        match peer.set_answer(sdp).await {
            Ok(()) => {
                for c in self.state.answer_applied() {
                    add_candidate(peer, c).await;
                }
                Vec::new()
            }
            Err(e) => vec![
                ProtocolError::new(ErrorCode::BadValue, format!("the answer was refused: {e}"))
                    .to_message(),
            ],
        }
    }

    /// Carries out one command (from the WebSocket or the data channel); `Some` is the reply that stands in for
    /// the `ack` (a `clipboard_get`'s answer).
    async fn command(
        &mut self,
        screen: Option<&str>,
        command: &Command,
        id: Option<Value>,
    ) -> Result<Option<ServerMessage>, ProtocolError> {
        let Some(intent) = Intent::from_command(command) else {
            return match command {
                Command::ClipboardSet { .. } | Command::ClipboardGet { .. } => {
                    let hub = self.manager.clipboard();
                    clipboard_command(hub, self.role(), self.conn.id(), command, id).await
                }
                _ => self.stream_command(command).map(|()| None),
            };
        };
        let actor = match &self.session {
            Some(s) => s.actor(false),
            None => {
                return Err(ProtocolError::new(
                    ErrorCode::Unauthorized,
                    "authenticate first",
                ));
            }
        };
        self.manager
            .act(&actor, screen, &[intent], None)
            .await
            .map(|_| None)
            .map_err(|e| e.to_protocol())
    }

    /// `keyframe` and `quality`: about this viewer's own WebRTC stream.
    fn stream_command(&self, command: &Command) -> Result<(), ProtocolError> {
        let Some(ActiveWatch::Webrtc { peer, .. }) = &self.watch else {
            let why = match &self.watch {
                Some(ActiveWatch::Sfu { .. }) => {
                    "a WebRTC watch the gateway serves (an SFU serves this one)"
                }
                _ => "a WebRTC watch",
            };
            return Err(ProtocolError::new(
                ErrorCode::NotWatching,
                format!("{} needs {why}", command.kind()),
            ));
        };
        match command {
            Command::Quality { bitrate_kbps } => {
                // A cap on this viewer's stream (its tier and encoder wish follow it), not on the encoder
                // other viewers share.
                peer.set_bitrate_cap(Some(*bitrate_kbps));
                self.conn
                    .event(format!("bitrate capped at {bitrate_kbps} kbit/s"));
            }
            _ => peer.request_keyframe(),
        }
        Ok(())
    }

    async fn start_watch(&mut self, w: WatchMessage) -> Replies {
        self.end_watch().await;
        let id = w.id.clone();
        let Some(session) = &self.session else {
            return vec![
                ProtocolError::new(ErrorCode::Unauthorized, "authenticate first")
                    .with_id(id)
                    .to_message(),
            ];
        };
        let request = match w.transport {
            Transport::Webrtc => WatchRequest::Webrtc {
                screen: w.screen.clone(),
                max_width: w.max_width,
            },
            Transport::Jpeg => WatchRequest::Jpeg {
                screen: w.screen.clone(),
                jpeg: JpegRequest {
                    quality: w.quality,
                    max_width: w.max_width,
                    fps: w.fps,
                },
            },
        };
        let watch = match self.manager.open_watch(session, request).await {
            Ok(watch) => watch,
            Err(e) => return vec![e.to_protocol().with_id(id).to_message()],
        };
        self.state.watch_started(&w);
        self.feed
            .set_cursor(self.manager.cursor_feed(&watch.screen));
        self.control_open = false;
        let screen = watch.screen.id.clone();
        match watch.media {
            WatchMedia::Peer(p) => {
                self.watch = Some(ActiveWatch::Webrtc {
                    screen,
                    peer: p.peer,
                    events: p.events,
                    _ticket: watch.ticket,
                });
                vec![ServerMessage::Offer {
                    sdp: p.sdp,
                    path: Some("local".into()),
                    sfu: None,
                    reason: None,
                }]
            }
            WatchMedia::Sfu(s) => {
                let sfu = Some(s.viewer.instance().to_owned());
                self.watch = Some(ActiveWatch::Sfu {
                    screen,
                    max_width: w.max_width,
                    viewer: s.viewer,
                    _ticket: watch.ticket,
                });
                vec![ServerMessage::Offer {
                    sdp: s.sdp,
                    path: Some("sfu".into()),
                    sfu,
                    reason: None,
                }]
            }
            WatchMedia::Jpeg { sub, profile } => {
                self.watches += 1;
                let number = self.watches;
                let stream = JpegStream::start(
                    &self.manager,
                    number,
                    sub,
                    profile,
                    watch.conn,
                    self.outbox.clone(),
                );
                self.watch = Some(ActiveWatch::Jpeg {
                    screen,
                    number,
                    stream,
                    _ticket: watch.ticket,
                });
                Vec::new()
            }
        }
    }

    /// Ends the current watch, if any, and returns the screen it watched.
    pub async fn end_watch(&mut self) -> Option<String> {
        let screen = match self.watch.take()? {
            ActiveWatch::Webrtc { peer, screen, .. } => {
                peer.close().await;
                screen
            }
            ActiveWatch::Sfu { viewer, screen, .. } => {
                viewer.close().await;
                screen
            }
            ActiveWatch::Jpeg { stream, screen, .. } => {
                stream.stop().await;
                screen
            }
        };
        self.state.watch_ended();
        self.feed.set_cursor(None);
        self.control_open = false;
        Some(screen)
    }

    /// A JPEG stream reported that watch `number` ended on its own: ends it if it is still the current watch and
    /// says whether it was (a stale report of a watch already replaced is ignored).
    pub async fn watch_ended(&mut self, number: u64) -> bool {
        match &self.watch {
            Some(ActiveWatch::Jpeg { number: n, .. }) if *n == number => {
                self.end_watch().await;
                true
            }
            _ => false,
        }
    }

    /// The next event of the watch's peer or of an agent; pending forever while there is neither.
    pub async fn next_event(&mut self) -> ViewerEvent {
        let peer = async {
            match &mut self.watch {
                Some(ActiveWatch::Webrtc { events, .. }) => ViewerEvent::Peer(events.recv().await),
                Some(ActiveWatch::Sfu { viewer, .. }) => {
                    ViewerEvent::Sfu(viewer.next_event().await)
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = peer => ev,
            f = self.feed.next() => ViewerEvent::Feed(f),
        }
    }

    /// Handles what [`Self::next_event`] returned. `Err` when a data-channel command got the client banned.
    pub async fn on_event(&mut self, event: ViewerEvent) -> Result<Replies, End> {
        Ok(match event {
            ViewerEvent::Peer(ev) => self.on_peer_event(ev).await?,
            ViewerEvent::Sfu(ev) => self.on_sfu_event(ev).await,
            ViewerEvent::Feed(f) => self.on_feed(f).await,
        })
    }

    /// Agents' activity and the clipboard go on the socket; the pointer on the data channel once it is open (in
    /// step with the picture), on the socket otherwise (JPEG, SFU, before the channel opens).
    async fn on_feed(&mut self, event: FeedEvent) -> Replies {
        match event {
            FeedEvent::Agent(a) => agent_message(self.watched_screen(), a)
                .into_iter()
                .collect(),
            FeedEvent::Clipboard(c) => vec![clipboard_message(&c, None)],
            FeedEvent::Screens => vec![ServerMessage::Screens {
                screens: super::feed::screen_descriptions(&self.manager, &self.conn).await,
            }],
            FeedEvent::Cursor(messages) => match &self.watch {
                Some(ActiveWatch::Webrtc { peer, .. }) if self.control_open => {
                    for m in messages {
                        if let Err(e) = peer.send_control(m.to_json()).await {
                            tracing::debug!(error = %e, "pointer message not sent");
                        }
                    }
                    Vec::new()
                }
                _ => messages,
            },
        }
    }

    /// An event of the watch's peer (`None`: its channel closed).
    async fn on_peer_event(&mut self, ev: Option<PeerEvent>) -> Result<Replies, End> {
        let Some(ev) = ev else {
            return Ok(self.watch_failed("the peer connection closed").await);
        };
        Ok(match ev {
            PeerEvent::LocalCandidate(c) => vec![match c {
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
            }],
            PeerEvent::Control(text) => {
                let reply = self.data_channel_command(&text).await?;
                if let (Some(reply), Some(ActiveWatch::Webrtc { peer, .. })) = (reply, &self.watch)
                    && let Err(e) = peer.send_control(reply.to_json()).await
                {
                    tracing::debug!(error = %e, "control reply not sent");
                }
                Vec::new()
            }
            PeerEvent::Failed(reason) => self.watch_failed(&reason).await,
            PeerEvent::Closed => self.watch_failed("the peer connection closed").await,
            PeerEvent::VideoEnded => {
                let reason = self
                    .watched_screen()
                    .map(|s| self.manager.gone_reason(s))
                    .unwrap_or_else(|| "the screen is no longer available".to_owned());
                self.watch_failed(&reason).await
            }
            PeerEvent::Network(n) => match self.watched_screen() {
                Some(screen) => vec![ServerMessage::Network {
                    screen: screen.to_owned(),
                    congestion_control: n.congestion_control,
                    estimate_kbps: n.estimate_kbps,
                    target_kbps: n.target_kbps,
                    bitrate_kbps: n.bitrate_kbps,
                    tier: n.tier as u32,
                    tier_name: n.tier_name,
                    tiers: n.tiers as u32,
                    switches: n.switches,
                    loss: n.loss,
                    rtt_ms: n.rtt_ms,
                    nacks: n.nacks,
                    plis: n.plis,
                }],
                None => Vec::new(),
            },
            PeerEvent::Fallback(reason) => match self.watched_screen() {
                Some(screen) => vec![ServerMessage::Fallback {
                    screen: screen.to_owned(),
                    reason,
                }],
                None => Vec::new(),
            },
            PeerEvent::ControlOpen => {
                // From now on the pointer goes on the channel; the page gets the shape and position there too.
                self.control_open = true;
                if let Some(ActiveWatch::Webrtc { peer, .. }) = &self.watch {
                    for m in self.feed.resend_cursor() {
                        if let Err(e) = peer.send_control(m.to_json()).await {
                            tracing::debug!(error = %e, "pointer message not sent");
                        }
                    }
                }
                Vec::new()
            }
            PeerEvent::Connected | PeerEvent::KeyframeRequested => Vec::new(),
        })
    }

    /// An event of the watch's SFU session: Janus's candidates go to the page; a lost SFU moves the watch to
    /// wherever the policy routes it now (another instance, or the gateway), announced by a new `offer`.
    async fn on_sfu_event(&mut self, ev: SfuEvent) -> Replies {
        match ev {
            SfuEvent::Candidate(c) => vec![ServerMessage::Candidate {
                candidate: c.as_ref().map(|c| c.candidate.clone()).unwrap_or_default(),
                sdp_mid: c.as_ref().and_then(|c| c.sdp_mid.clone()),
                sdp_mline_index: c.as_ref().and_then(|c| c.sdp_mline_index),
            }],
            SfuEvent::Up => {
                self.conn
                    .event("the SFU reports the viewer's connection up");
                Vec::new()
            }
            SfuEvent::Lost(reason) => {
                let Some(ActiveWatch::Sfu {
                    screen, max_width, ..
                }) = &self.watch
                else {
                    return Vec::new();
                };
                let (screen, max_width) = (screen.clone(), *max_width);
                tracing::warn!(%reason, %screen, "moving an SFU viewer");
                self.conn.event(format!("moving the watch: {reason}"));
                let again = WatchMessage {
                    screen: screen.clone(),
                    transport: Transport::Webrtc,
                    fps: None,
                    quality: None,
                    max_width,
                    id: None,
                };
                let mut replies = self.start_watch(again).await;
                let mut offered = false;
                for m in &mut replies {
                    if let ServerMessage::Offer { reason: r, .. } = m {
                        *r = Some(reason.clone());
                        offered = true;
                    }
                }
                if !offered {
                    replies.push(ServerMessage::Stopped { screen, reason });
                }
                replies
            }
        }
    }

    async fn watch_failed(&mut self, reason: &str) -> Replies {
        match self.end_watch().await {
            Some(screen) => vec![ServerMessage::Stopped {
                screen,
                reason: reason.to_owned(),
            }],
            None => Vec::new(),
        }
    }

    /// A command from the data channel; returns the reply to send back on it. Charged to the same budgets as
    /// the socket's messages; `Err` when that got the client banned.
    async fn data_channel_command(&mut self, text: &str) -> Result<Option<ServerMessage>, End> {
        let now = now();
        let (id, screen, command) = match parse_command(text) {
            Ok((id, command)) => {
                let screen = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("screen").and_then(Value::as_str).map(str::to_owned));
                (id, screen, command)
            }
            Err(e) => {
                self.guard.tolerate(parse_violation(&e), now)?;
                return Ok(Some(e.to_message()));
            }
        };
        if let Admission::Refused(reply) = self.guard.admit(command_class(&command), now)? {
            return Ok(reply.map(|e| e.with_id(id).to_message()));
        }
        let role = self.role();
        if !policy::allows(role, policy::command_action(&command)) {
            let e = ProtocolError::new(
                ErrorCode::Forbidden,
                format!("role {role} cannot send {} commands", command.kind()),
            );
            return Ok(Some(e.with_id(id).to_message()));
        }
        let screen = screen.or_else(|| self.watched_screen().map(str::to_owned));
        Ok(
            match self.command(screen.as_deref(), &command, id.clone()).await {
                Ok(Some(reply)) => Some(reply),
                Ok(None) => id.map(|id| ServerMessage::Ack { id }),
                Err(e) => Some(e.with_id(id).to_message()),
            },
        )
    }
}

/// Now on tokio's clock (paused in tests), as the limits and the state machine take it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Hands one of the page's candidates to the SFU (an empty one ends them).
async fn trickle(viewer: &SfuViewer, c: RemoteCandidate) {
    // An empty candidate ends the page's candidates: `None` tells Janus "completed".
    let init = CandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
    };
    let init = (!init.candidate.is_empty()).then_some(init);
    if let Err(e) = viewer.add_candidate(init).await {
        tracing::debug!(error = %e, "candidate not trickled to the SFU");
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
