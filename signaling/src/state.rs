//! The per-socket state machine: what each client message may do given what the socket has done so far.
//!
//! The transport loop owns one [`SocketState`], feeds it every parsed message with the current time, and carries
//! out the returned [`Action`]. The state machine never does I/O and never reads a clock, so every rule below is
//! tested on plain values.
//!
//! Rules:
//! - Until a valid `auth`, only `auth` and `ping` are served; anything else gets `unauthorized` (the socket stays
//!   open until the deadline). A wrong token closes the socket with 4401; no token by the deadline with 1008.
//! - A `watch` replaces the current watch. WebRTC watches expect one `answer`; client candidates that arrive before
//!   the answer was applied are buffered (bounded) and released by [`SocketState::answer_applied`].
//! - Commands need role `control`; a view-only session gets `forbidden` and nothing is injected.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::messages::{ClientMessage, Command, ErrorCode, ProtocolError, Transport, Watch};
use crate::role::Role;

/// How long a client has to authenticate after the socket opens, unless the gateway configures another
/// deadline ([`SocketState::with_auth_timeout`]; `[limits] auth_timeout_ms`, whose default this is).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Client candidates kept while the answer is not applied yet. Browsers send a handful per network interface;
/// past this bound the client is misbehaving and further candidates are refused with `busy`.
pub const MAX_PENDING_CANDIDATES: usize = 64;

/// A client ICE candidate, as carried by a `candidate` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCandidate {
    /// The `candidate:` line; empty = end of candidates.
    pub candidate: String,
    /// Media id.
    pub sdp_mid: Option<String>,
    /// Media line index.
    pub sdp_mline_index: Option<u16>,
}

/// What the transport loop must do for one message.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Check this token; then call [`SocketState::authenticated`] or close with 4401.
    Authenticate(String),
    /// Reply `pong` with this id.
    Pong(Value),
    /// Stop the current watch if any, then start this one. For WebRTC, send the offer and expect an answer.
    StartWatch(Watch),
    /// Apply the client's SDP answer to the current peer, then call [`SocketState::answer_applied`].
    ApplyAnswer(String),
    /// Add a client candidate to the current peer.
    AddCandidate(RemoteCandidate),
    /// End the current watch.
    StopWatch,
    /// Pause the JPEG stream.
    Pause,
    /// Resume the JPEG stream.
    Resume,
    /// Send one full-quality JPEG frame of `screen`.
    HqFrame {
        /// Echoed in the frame.
        id: Option<Value>,
        /// Screen to capture: the one named, else the watched one; `None` = the primary screen.
        screen: Option<String>,
        /// JPEG quality.
        quality: u8,
    },
    /// Carry out a command on `screen` (the watched screen unless the message named one).
    Command {
        /// Reply `ack` with this id when done.
        id: Option<Value>,
        /// Target screen; `None` only for commands that need none (text, keys) when nothing is watched.
        screen: Option<String>,
        /// The command.
        command: Command,
    },
    /// Reply with this error; the socket stays open.
    Reply(ProtocolError),
    /// Nothing to do.
    Nothing,
}

/// What the socket is watching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watching {
    /// Screen id.
    pub screen: String,
    /// Transport.
    pub transport: Transport,
    /// WebRTC only: the answer has been applied.
    pub answered: bool,
    /// JPEG only: the stream is paused.
    pub paused: bool,
}

/// The role each command needs: the application's policy, handed in so the rule lives in one place.
pub type CommandRole = fn(&Command) -> Role;

/// The state of one `/ws` socket.
#[derive(Debug)]
pub struct SocketState {
    /// Which role a command needs.
    command_role: CommandRole,
    auth_deadline: Instant,
    role: Option<Role>,
    watching: Option<Watching>,
    pending_candidates: Vec<RemoteCandidate>,
}

impl SocketState {
    /// A socket opened at `now`, refusing commands its role may not send by `command_role`.
    pub fn new(now: Instant, command_role: CommandRole) -> Self {
        Self::with_auth_timeout(now, AUTH_TIMEOUT, command_role)
    }

    /// Like [`Self::new`], with `auth_timeout` to authenticate instead of [`AUTH_TIMEOUT`].
    pub fn with_auth_timeout(
        now: Instant,
        auth_timeout: Duration,
        command_role: CommandRole,
    ) -> Self {
        Self {
            command_role,
            auth_deadline: now + auth_timeout,
            role: None,
            watching: None,
            pending_candidates: Vec::new(),
        }
    }

    /// A socket authenticated on the upgrade request (`Authorization: Bearer …`).
    pub fn authenticated_at_upgrade(now: Instant, role: Role, command_role: CommandRole) -> Self {
        let mut s = Self::new(now, command_role);
        s.role = Some(role);
        s
    }

    /// When the socket must be closed (1008) if still unauthenticated.
    pub fn auth_deadline(&self) -> Option<Instant> {
        self.role.is_none().then_some(self.auth_deadline)
    }

    /// Whether the authentication deadline has passed without a valid token.
    pub fn auth_expired(&self, now: Instant) -> bool {
        self.role.is_none() && now >= self.auth_deadline
    }

    /// The session's role, once authenticated.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// The current watch.
    pub fn watching(&self) -> Option<&Watching> {
        self.watching.as_ref()
    }

    /// Records a valid token.
    pub fn authenticated(&mut self, role: Role) {
        self.role = Some(role);
    }

    /// Records that the watch returned by [`Action::StartWatch`] is running.
    pub fn watch_started(&mut self, watch: &Watch) {
        self.pending_candidates.clear();
        self.watching = Some(Watching {
            screen: watch.screen.clone(),
            transport: watch.transport,
            answered: false,
            paused: false,
        });
    }

    /// Records that the watch ended (asked by the client, or ended by the gateway).
    pub fn watch_ended(&mut self) {
        self.watching = None;
        self.pending_candidates.clear();
    }

    /// Records that the answer was applied and returns the candidates that waited for it.
    pub fn answer_applied(&mut self) -> Vec<RemoteCandidate> {
        if let Some(w) = self.watching.as_mut() {
            w.answered = true;
        }
        std::mem::take(&mut self.pending_candidates)
    }

    /// Decides what one message does.
    pub fn on_message(&mut self, msg: ClientMessage, now: Instant) -> Action {
        let Some(role) = self.role else {
            return match msg {
                ClientMessage::Auth { token } if now < self.auth_deadline => {
                    Action::Authenticate(token)
                }
                ClientMessage::Auth { .. } => Action::Reply(ProtocolError::new(
                    ErrorCode::Unauthorized,
                    "authentication timed out",
                )),
                ClientMessage::Ping { id } => Action::Pong(id),
                _ => Action::Reply(ProtocolError::new(
                    ErrorCode::Unauthorized,
                    "send {\"type\":\"auth\",\"token\":\"…\"} first",
                )),
            };
        };
        match msg {
            ClientMessage::Auth { .. } => Action::Reply(ProtocolError::new(
                ErrorCode::InvalidState,
                "already authenticated",
            )),
            ClientMessage::Ping { id } => Action::Pong(id),
            ClientMessage::Watch(w) => Action::StartWatch(w),
            ClientMessage::Answer { sdp } => match &self.watching {
                Some(Watching {
                    transport: Transport::Webrtc,
                    answered: false,
                    ..
                }) => Action::ApplyAnswer(sdp),
                Some(Watching {
                    transport: Transport::Webrtc,
                    ..
                }) => Action::Reply(ProtocolError::new(
                    ErrorCode::InvalidState,
                    "the offer was already answered",
                )),
                _ => Action::Reply(ProtocolError::new(
                    ErrorCode::NotWatching,
                    "no WebRTC watch is waiting for an answer",
                )),
            },
            ClientMessage::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                let c = RemoteCandidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                };
                match &self.watching {
                    Some(Watching {
                        transport: Transport::Webrtc,
                        answered: true,
                        ..
                    }) => Action::AddCandidate(c),
                    Some(Watching {
                        transport: Transport::Webrtc,
                        ..
                    }) => {
                        if self.pending_candidates.len() >= MAX_PENDING_CANDIDATES {
                            Action::Reply(ProtocolError::new(
                                ErrorCode::Busy,
                                "too many candidates before the answer",
                            ))
                        } else {
                            self.pending_candidates.push(c);
                            Action::Nothing
                        }
                    }
                    _ => Action::Reply(ProtocolError::new(
                        ErrorCode::NotWatching,
                        "no WebRTC watch to add a candidate to",
                    )),
                }
            }
            ClientMessage::Stop => {
                if self.watching.is_some() {
                    Action::StopWatch
                } else {
                    Action::Nothing
                }
            }
            ClientMessage::Pause | ClientMessage::Resume => {
                let pause = matches!(msg, ClientMessage::Pause);
                match self.watching.as_mut() {
                    Some(w) if w.transport == Transport::Jpeg => {
                        w.paused = pause;
                        if pause { Action::Pause } else { Action::Resume }
                    }
                    _ => Action::Reply(ProtocolError::new(
                        ErrorCode::NotWatching,
                        "no JPEG stream to pause or resume",
                    )),
                }
            }
            ClientMessage::RequestHqFrame {
                id,
                screen,
                quality,
            } => Action::HqFrame {
                id,
                screen: screen.or_else(|| self.watching.as_ref().map(|w| w.screen.clone())),
                quality,
            },
            ClientMessage::Command {
                id,
                screen,
                command,
            } => {
                if !role.allows((self.command_role)(&command)) {
                    return Action::Reply(
                        ProtocolError::new(
                            ErrorCode::Forbidden,
                            format!("role {role} cannot send {} commands", command.kind()),
                        )
                        .with_id(id),
                    );
                }
                let screen = screen.or_else(|| self.watching.as_ref().map(|w| w.screen.clone()));
                let needs_screen = matches!(
                    command,
                    Command::Pointer { .. }
                        | Command::Wheel { .. }
                        | Command::Keyframe
                        | Command::Quality { .. }
                );
                if screen.is_none() && needs_screen {
                    return Action::Reply(
                        ProtocolError::new(
                            ErrorCode::NotWatching,
                            format!("{} needs a watched screen", command.kind()),
                        )
                        .with_id(id),
                    );
                }
                Action::Command {
                    id,
                    screen,
                    command,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::parse_client;
    use serde_json::json;

    fn msg(s: &str) -> ClientMessage {
        parse_client(s).unwrap()
    }

    /// The gateway's rule today: every command needs `control`.
    fn control_only(_: &Command) -> Role {
        Role::Control
    }

    fn authed(role: Role) -> (SocketState, Instant) {
        let now = Instant::now();
        (
            SocketState::authenticated_at_upgrade(now, role, control_only),
            now,
        )
    }

    #[test]
    fn only_auth_and_ping_before_authentication() {
        let t0 = Instant::now();
        let mut s = SocketState::new(t0, control_only);
        assert_eq!(s.auth_deadline(), Some(t0 + AUTH_TIMEOUT));
        assert!(matches!(
            s.on_message(msg(r#"{"type":"watch","screen":"0"}"#), t0),
            Action::Reply(ProtocolError {
                code: ErrorCode::Unauthorized,
                ..
            })
        ));
        assert_eq!(
            s.on_message(msg(r#"{"type":"ping","id":1}"#), t0),
            Action::Pong(json!(1))
        );
        assert_eq!(
            s.on_message(msg(r#"{"type":"auth","token":"x"}"#), t0),
            Action::Authenticate("x".into())
        );
        assert!(!s.auth_expired(t0 + Duration::from_millis(4999)));
        assert!(s.auth_expired(t0 + AUTH_TIMEOUT));
        s.authenticated(Role::View);
        assert!(!s.auth_expired(t0 + AUTH_TIMEOUT * 2));
        assert_eq!(s.auth_deadline(), None);
    }

    #[test]
    fn late_auth_is_refused() {
        let t0 = Instant::now();
        let mut s = SocketState::new(t0, control_only);
        assert!(matches!(
            s.on_message(msg(r#"{"type":"auth","token":"x"}"#), t0 + AUTH_TIMEOUT),
            Action::Reply(ProtocolError {
                code: ErrorCode::Unauthorized,
                ..
            })
        ));
    }

    #[test]
    fn a_configured_auth_timeout_replaces_the_default() {
        let t0 = Instant::now();
        let short = Duration::from_millis(300);
        let mut s = SocketState::with_auth_timeout(t0, short, control_only);
        assert_eq!(s.auth_deadline(), Some(t0 + short));
        assert!(s.auth_expired(t0 + short));
        assert!(matches!(
            s.on_message(msg(r#"{"type":"auth","token":"x"}"#), t0 + short),
            Action::Reply(ProtocolError {
                code: ErrorCode::Unauthorized,
                ..
            })
        ));
    }

    #[test]
    fn candidates_wait_for_the_answer() {
        let (mut s, now) = authed(Role::View);
        let Action::StartWatch(w) = s.on_message(msg(r#"{"type":"watch","screen":"0"}"#), now)
        else {
            panic!()
        };
        s.watch_started(&w);
        let c = r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
        assert_eq!(s.on_message(msg(c), now), Action::Nothing);
        assert_eq!(
            s.on_message(msg(r#"{"type":"answer","sdp":"v=0"}"#), now),
            Action::ApplyAnswer("v=0".into())
        );
        let pending = s.answer_applied();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].sdp_mid.as_deref(), Some("0"));
        assert!(matches!(s.on_message(msg(c), now), Action::AddCandidate(_)));
        assert!(matches!(
            s.on_message(msg(r#"{"type":"answer","sdp":"v=0"}"#), now),
            Action::Reply(ProtocolError {
                code: ErrorCode::InvalidState,
                ..
            })
        ));
    }

    #[test]
    fn pending_candidates_are_bounded() {
        let (mut s, now) = authed(Role::View);
        s.watch_started(&Watch {
            screen: "0".into(),
            transport: Transport::Webrtc,
            fps: None,
            quality: None,
            max_width: None,
            id: None,
        });
        let c = r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}"#;
        for _ in 0..MAX_PENDING_CANDIDATES {
            assert_eq!(s.on_message(msg(c), now), Action::Nothing);
        }
        assert!(matches!(
            s.on_message(msg(c), now),
            Action::Reply(ProtocolError {
                code: ErrorCode::Busy,
                ..
            })
        ));
    }

    #[test]
    fn view_role_cannot_command() {
        let (mut s, now) = authed(Role::View);
        let a = s.on_message(msg(r#"{"type":"text","text":"hi","id":9}"#), now);
        assert_eq!(
            a,
            Action::Reply(
                ProtocolError::new(ErrorCode::Forbidden, "role view cannot send text commands")
                    .with_id(Some(json!(9)))
            )
        );
    }

    #[test]
    fn commands_target_the_watched_screen() {
        let (mut s, now) = authed(Role::Control);
        assert!(matches!(
            s.on_message(
                msg(r#"{"type":"pointer","action":"move","x":0.1,"y":0.1}"#),
                now
            ),
            Action::Reply(ProtocolError {
                code: ErrorCode::NotWatching,
                ..
            })
        ));
        assert!(matches!(
            s.on_message(msg(r#"{"type":"text","text":"a"}"#), now),
            Action::Command { screen: None, .. }
        ));
        s.watch_started(&Watch {
            screen: "1".into(),
            transport: Transport::Jpeg,
            fps: None,
            quality: None,
            max_width: None,
            id: None,
        });
        assert!(matches!(
            s.on_message(msg(r#"{"type":"pointer","action":"move","x":0.1,"y":0.1}"#), now),
            Action::Command { screen: Some(ref id), .. } if id == "1"
        ));
        assert_eq!(s.on_message(msg(r#"{"type":"pause"}"#), now), Action::Pause);
        assert!(s.watching().unwrap().paused);
        assert!(matches!(
            s.on_message(msg(r#"{"type":"answer","sdp":"x"}"#), now),
            Action::Reply(ProtocolError {
                code: ErrorCode::NotWatching,
                ..
            })
        ));
        assert_eq!(
            s.on_message(msg(r#"{"type":"request_hq_frame","id":"h"}"#), now),
            Action::HqFrame {
                id: Some(json!("h")),
                screen: Some("1".into()),
                quality: 90
            }
        );
        assert_eq!(
            s.on_message(msg(r#"{"type":"stop"}"#), now),
            Action::StopWatch
        );
        s.watch_ended();
        // Not watching: an HQ frame still works; the socket picks the primary screen.
        assert_eq!(
            s.on_message(msg(r#"{"type":"request_hq_frame","quality":70}"#), now),
            Action::HqFrame {
                id: None,
                screen: None,
                quality: 70
            }
        );
        assert_eq!(
            s.on_message(msg(r#"{"type":"stop"}"#), now),
            Action::Nothing
        );
    }
}
