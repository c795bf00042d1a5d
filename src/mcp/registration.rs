//! An MCP session as the rest of the gateway sees it: a row in the session table (`SessionKind::Mcp`) and a
//! monitor connection (`ConnectionKind::Mcp`), both from the session's birth to its end, plus a watcher that ends
//! the MCP session when an admin kicks it (`DELETE /api/v1/sessions/{id}`) or the gateway shuts down.
//!
//! Birth and end per transport:
//! - Streamable HTTP with sessions (2025-06-18, 2025-11-25): born at `initialize`, ended by the client's
//!   `DELETE` (which ends its running calls at once), by [`super::sessions::SESSION_IDLE`] without requests, by a
//!   kick or by shutdown. The registration lives in the session's handler, which rmcp drops when the session ends.
//! - Streamable HTTP without sessions (2026-07-28): every request stands alone, so a tool call is registered for
//!   its own duration (a kick cancels it).
//! - stdio: the process is the session.

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::SessionId;
use rmcp::transport::streamable_http_server::session::SessionManager as _;
use sightline_monitor::{
    Connection, ConnectionAttrs, ConnectionId, ConnectionKind, Lifecycle, Owner,
};
use sightline_signaling::Role;
use tokio_util::sync::CancellationToken;

use super::sessions::{TokenKey, TrackedSessions};
use crate::session::{Actor, Session, SessionKind, SessionManager};

/// Who is calling: the role of the request's bearer token over HTTP; `admin` over stdio, where the local user
/// started the process and owns the display anyway. Put into each HTTP request's extensions by the guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The role.
    pub role: Role,
    /// The token, as the rate limits key it (over stdio: [`STDIO_TOKEN`]).
    pub token: TokenKey,
}

/// The rate-limit key of the stdio session (which has no token).
pub const STDIO_TOKEN: &str = "stdio";

/// How to end a session from outside (a kick).
pub enum Closer {
    /// A Streamable HTTP session: closing it in the session manager ends its worker, its streams and its handler.
    Http {
        /// The session manager.
        sessions: Arc<TrackedSessions>,
        /// The session.
        id: SessionId,
    },
    /// stdio, or one stateless request: cancelling the token ends it.
    Token(CancellationToken),
}

impl Closer {
    async fn close(self) {
        match self {
            Self::Http { sessions, id } => {
                if let Err(e) = sessions.close_session(&id).await {
                    tracing::warn!(session = %id, error = %e, "could not close a kicked MCP session");
                }
            }
            Self::Token(t) => t.cancel(),
        }
    }
}

/// A registered MCP session; dropping it removes the session from the table and closes its monitor connection.
pub struct Registration {
    session: Session,
    conn: Connection,
    /// Cancelled on drop: stops the kick watcher.
    ended: CancellationToken,
    /// Cancelled when the client closes the session (`DELETE /mcp`, the idle timeout; for one session-less request,
    /// its cancellation): running calls end at once.
    closed: CancellationToken,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("session", &self.session.id())
            .field("connection", &self.conn.id())
            .finish()
    }
}

impl Registration {
    /// Registers a session. `transport` names it in the connection's timeline (`streamable-http`, `stdio`, …).
    pub fn open(
        gw: &SessionManager,
        role: Role,
        remote: Option<SocketAddr>,
        transport: &str,
        closer: Closer,
    ) -> Self {
        let closed = match &closer {
            Closer::Http { sessions, id } => sessions.closed(id),
            Closer::Token(t) => t.clone(),
        };
        let remote = remote.map(|a| a.to_string());
        let conn = gw.open_connection(
            ConnectionKind::Mcp,
            ConnectionAttrs {
                role: Some(role.to_string()),
                remote: remote.clone().or_else(|| Some(transport.to_owned())),
                ..ConnectionAttrs::default()
            },
        );
        // MCP sessions are not counted against `max_sessions` (that bound is for viewers), so this cannot fail;
        // the MCP transport bounds its own sessions.
        let session = gw
            .open_session(SessionKind::Mcp, role, remote, Some(conn.id()))
            .expect("MCP sessions are not counted against max_sessions");
        conn.event(format!("session {} over {transport}", session.id()));
        conn.set_lifecycle(Lifecycle::Connected);
        let ended = CancellationToken::new();
        let kicked = session.kicked().clone();
        let stop = ended.clone();
        gw.spawn(
            "mcp-session-kick",
            Owner::Connection(conn.id()),
            async move {
                tokio::select! {
                    () = kicked.cancelled() => closer.close().await,
                    () = stop.cancelled() => {}
                }
            },
        );
        Self {
            session,
            conn,
            ended,
            closed,
        }
    }

    /// Cancelled when the client closes the session.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// The session id (`s7`).
    pub fn session_id(&self) -> &str {
        self.session.id()
    }

    /// The monitor connection.
    pub fn connection_id(&self) -> ConnectionId {
        self.conn.id()
    }

    /// Cancelled when an admin ends the session or the gateway shuts down.
    pub fn kicked(&self) -> &CancellationToken {
        self.session.kicked()
    }

    /// The actor of this session's input, with the role of the current request.
    pub fn actor(&self, role: Role) -> Actor {
        Actor {
            role,
            ..self.session.actor(true)
        }
    }

    /// Notes an event in the connection's timeline.
    pub fn event(&self, text: impl Into<String>) {
        self.conn.event(text);
    }

    /// Counts a tool call received and its result sent.
    pub fn count_call(&self, result_bytes: usize) {
        self.conn.update_counters(|c| {
            c.messages_received += 1;
            c.messages_sent += 1;
            c.bytes_sent += result_bytes as u64;
        });
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.ended.cancel();
        let reason = if self.session.kicked().is_cancelled() {
            "ended by an administrator or shutdown"
        } else {
            "session ended"
        };
        self.conn.close(reason);
    }
}
