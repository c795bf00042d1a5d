//! Policing one `/ws` socket: what each client message costs ([`class_of`], [`command_class`]), whether it is
//! within budget ([`Guard::admit`]), and what a refusal or a protocol violation does to the client's address.
//!
//! Every message, from the socket or the `control` data channel, is charged to its class in the socket's own
//! [`Limiter`] and then, once authenticated, to the token's shared budget
//! ([`Limits::check_token`](crate::ratelimit::Limits::check_token)). A message over either budget is not carried
//! out; the client gets one `rate_limited` error per class per retry period (so a flood of motion does not turn
//! into a flood of errors), and every refused message is a strike against its address. Protocol violations are
//! strikes too. The strike that crosses `[limits] ban_after` bans the address and ends the socket with 1008.
//! Everything is counted gateway-wide ([`Diagnostics`](crate::diagnostics::Diagnostics)) and on the socket's
//! monitor connection.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;
use sightline_monitor::Connection;
use sightline_signaling::{ClientMessage, Command, ErrorCode, PointerAction, ProtocolError};

use super::end::{End, Violation};
use crate::ratelimit::{Class, Limiter};
use crate::session::SessionManager;

/// Binary messages answered with an `error` before the next one closes the socket with 1003: one, so a client
/// that sent one by mistake learns why, and one that keeps sending them is cut.
pub const BINARY_TOLERANCE: u32 = 1;

/// The class of a message from the socket. Pointer moves and wheel steps are motion (coalescable, many per
/// second from a trackpad); clicks, keys and text are input; what starts work (a watch, an HQ frame, a keyframe or
/// bitrate change) is expensive; the rest (ping, auth, candidates, stop, pause, resume, and the SDP answer) is
/// light. The answer is light because the state machine takes one per watch: its cost is already paid by the
/// watch, and charging it again would halve the watches a client may start.
pub fn class_of(msg: &ClientMessage) -> Class {
    match msg {
        ClientMessage::Command { command, .. } => command_class(command),
        ClientMessage::Watch(_) | ClientMessage::RequestHqFrame { .. } => Class::Expensive,
        ClientMessage::Auth { .. }
        | ClientMessage::Answer { .. }
        | ClientMessage::Candidate { .. }
        | ClientMessage::Ping { .. }
        | ClientMessage::Stop
        | ClientMessage::Pause
        | ClientMessage::Resume => Class::Light,
    }
}

/// The class of a command (the socket's and the data channel's are the same JSON).
pub fn command_class(command: &Command) -> Class {
    match command {
        Command::Pointer {
            action: PointerAction::Move,
            ..
        }
        | Command::Wheel { .. } => Class::Motion,
        Command::Pointer { .. } | Command::Key { .. } | Command::Text { .. } => Class::Input,
        Command::Keyframe
        | Command::Quality { .. }
        | Command::ClipboardSet { .. }
        | Command::ClipboardGet { .. } => Class::Expensive,
    }
}

/// The `id` a refusal of `msg` carries.
pub fn message_id(msg: &ClientMessage) -> Option<Value> {
    match msg {
        ClientMessage::Watch(w) => w.id.clone(),
        ClientMessage::RequestHqFrame { id, .. } | ClientMessage::Command { id, .. } => id.clone(),
        ClientMessage::Ping { id } => Some(id.clone()).filter(|v| !v.is_null()),
        _ => None,
    }
}

/// The violation a parse error stands for.
pub fn parse_violation(e: &ProtocolError) -> Violation {
    if e.code == ErrorCode::TooLarge {
        Violation::MessageTooLarge
    } else {
        Violation::BadMessage
    }
}

/// What [`Guard::admit`] decided.
#[derive(Debug, PartialEq)]
pub enum Admission {
    /// Within budget: carry the message out.
    Pass,
    /// Over budget: do not carry it out; answer with this error, unless `None` (this class's refusal was already
    /// answered within its retry time).
    Refused(Option<ProtocolError>),
}

/// One socket's budgets and strikes.
pub struct Guard {
    manager: SessionManager,
    conn: Connection,
    /// The client's address (strikes and bans); `None` when unknown (then nothing is struck).
    ip: Option<IpAddr>,
    /// The token's key in the shared budgets, once authenticated. The token itself (it never leaves the limits'
    /// map and is never logged; this type has no `Debug`).
    token: Option<String>,
    limiter: Limiter,
    /// Per class (index in [`Class::ALL`]): until when a further refusal goes unanswered.
    quiet_until: [Option<Instant>; Class::ALL.len()],
    /// Binary messages so far.
    binaries: u32,
}

impl Guard {
    /// The guard of the socket whose monitor connection is `conn`, from `remote` (`ip:port`).
    pub fn new(manager: SessionManager, conn: Connection, remote: Option<&str>) -> Self {
        let limiter = manager.limits().connection_limiter();
        Self {
            manager,
            conn,
            ip: remote
                .and_then(|r| r.parse::<SocketAddr>().ok())
                .map(|a| a.ip()),
            token: None,
            limiter,
            quiet_until: [None; Class::ALL.len()],
            binaries: 0,
        }
    }

    /// The socket authenticated with `token`: from now on messages are charged to its shared budget too.
    pub fn authenticated(&mut self, token: &str) {
        self.token = Some(token.to_owned());
    }

    /// Charges one message of `class`. `Err` when the strike of a refusal banned the client's address.
    pub fn admit(&mut self, class: Class, now: Instant) -> Result<Admission, End> {
        // Only the connection's own budget strikes: a busy shared token is not this client's fault.
        let (retry, own) = match self.limiter.check(class, now) {
            Err(retry) => (retry, true),
            Ok(()) => match &self.token {
                Some(key) => match self.manager.limits().check_token(key, class, now) {
                    Ok(()) => return Ok(Admission::Pass),
                    Err(retry) => (retry, false),
                },
                None => return Ok(Admission::Pass),
            },
        };
        self.manager.diagnostics().rate_limited(class);
        self.conn.update_counters(|c| c.rate_limited += 1);
        if own {
            self.strike(now)?;
        }
        let slot = &mut self.quiet_until[class_index(class)];
        if slot.is_some_and(|until| now < until) {
            return Ok(Admission::Refused(None));
        }
        *slot = Some(now + retry);
        Ok(Admission::Refused(Some(ProtocolError::rate_limited(
            class.as_str(),
            retry,
        ))))
    }

    /// Counts a violation and strikes the address. Returns the ban when this strike banned it.
    pub fn violation(&mut self, v: Violation, now: Instant) -> Option<Duration> {
        self.count(v.kind());
        self.strike(now).err().and_then(|end| match end {
            End::Banned(ban) => Some(ban),
            _ => None,
        })
    }

    /// Like [`Self::violation`], for a violation that does not end the socket by itself: `Err` only when it banned.
    pub fn tolerate(&mut self, v: Violation, now: Instant) -> Result<(), End> {
        match self.violation(v, now) {
            Some(ban) => Err(End::Banned(ban)),
            None => Ok(()),
        }
    }

    /// A binary message: an `error` the first [`BINARY_TOLERANCE`] times, then the end of the socket (1003).
    pub fn binary(&mut self, now: Instant) -> Result<ProtocolError, End> {
        self.binaries += 1;
        let ban = self.violation(Violation::Binary, now);
        if self.binaries > BINARY_TOLERANCE || ban.is_some() {
            return Err(End::Violation(Violation::Binary, ban));
        }
        Ok(ProtocolError::new(
            ErrorCode::BadMessage,
            "binary messages are not accepted; send JSON text (the next one closes the socket)",
        ))
    }

    /// Counts something that is not the client's fault enough to strike (the idle timeout).
    pub fn count(&self, kind: &'static str) {
        self.manager.diagnostics().violation(kind);
        self.conn.update_counters(|c| {
            *c.violations.entry(kind.to_owned()).or_default() += 1;
        });
    }

    /// One strike against the address; `Err(End::Banned)` when it bans.
    fn strike(&self, now: Instant) -> Result<(), End> {
        let Some(ip) = self.ip else {
            return Ok(());
        };
        let Some(ban) = self.manager.limits().strike(ip, now) else {
            return Ok(());
        };
        self.manager.diagnostics().banned();
        let ms = u64::try_from(ban.as_millis()).unwrap_or(u64::MAX);
        self.conn.update_counters(|c| c.banned_ms = Some(ms));
        self.conn
            .event(format!("address banned for {} s", ban.as_secs()));
        tracing::warn!(%ip, ban_s = ban.as_secs(), "address banned for rate-limit hits or protocol violations");
        Err(End::Banned(ban))
    }
}

fn class_index(class: Class) -> usize {
    Class::ALL
        .iter()
        .position(|c| *c == class)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use sightline_signaling::parse_client;

    use super::*;

    #[test]
    fn every_message_has_its_class() {
        let class = |s: &str| class_of(&parse_client(s).unwrap());
        for (msg, c) in [
            (
                r#"{"type":"pointer","action":"move","x":0.1,"y":0.2}"#,
                Class::Motion,
            ),
            (r#"{"type":"wheel","dy":1}"#, Class::Motion),
            (
                r#"{"type":"pointer","action":"click","x":0.1,"y":0.2}"#,
                Class::Input,
            ),
            (
                r#"{"type":"key","action":"press","code":"KeyA"}"#,
                Class::Input,
            ),
            (r#"{"type":"text","text":"hi"}"#, Class::Input),
            (r#"{"type":"watch","screen":"0"}"#, Class::Expensive),
            (r#"{"type":"answer","sdp":"v=0"}"#, Class::Light),
            (r#"{"type":"request_hq_frame"}"#, Class::Expensive),
            (r#"{"type":"keyframe"}"#, Class::Expensive),
            (r#"{"type":"quality","bitrate_kbps":500}"#, Class::Expensive),
            (r#"{"type":"ping","id":1}"#, Class::Light),
            (r#"{"type":"auth","token":"t"}"#, Class::Light),
            (r#"{"type":"candidate","candidate":""}"#, Class::Light),
            (r#"{"type":"stop"}"#, Class::Light),
            (r#"{"type":"pause"}"#, Class::Light),
        ] {
            assert_eq!(class(msg), c, "{msg}");
        }
    }

    #[test]
    fn refusals_carry_the_message_id() {
        let id = |s: &str| message_id(&parse_client(s).unwrap());
        assert_eq!(id(r#"{"type":"ping","id":7}"#), Some(Value::from(7)));
        assert_eq!(id(r#"{"type":"ping"}"#), None);
        assert_eq!(
            id(r#"{"type":"watch","screen":"0","id":"w"}"#),
            Some(Value::from("w"))
        );
        assert_eq!(
            id(r#"{"type":"text","text":"x","id":3}"#),
            Some(Value::from(3))
        );
        assert_eq!(id(r#"{"type":"stop"}"#), None);
    }
}
