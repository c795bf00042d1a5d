//! rmcp's in-memory Streamable HTTP session manager, wrapped so that
//! - each session's `initialize` learns its own id (the handler registers the session with a way to close it on a
//!   kick);
//! - sessions are **booked per token**: at most `[limits] mcp_sessions_per_token` each, at most [`MAX_SESSIONS`]
//!   in all, of which [`ADMIN_RESERVED`] only admin tokens may take ([`Book`], plain data unit-tested below), so
//!   no token can lock another out and view or control tokens together can never lock admins out;
//! - closing a session (the client's `DELETE`, a kick, the idle timeout, shutdown) first cancels its
//!   [`Held::closed`] token, which ends its running tool calls (`wait_for_change`, `wait_until_stable`, …) at once
//!   instead of leaving them to rmcp's five-second drain.
//!
//! The guard (`super::http`) reserves a place before an `initialize` reaches rmcp ([`TrackedSessions::reserve`]);
//! the reservation travels with the request as a [`Ticket`] and becomes the session's when rmcp creates it
//! ([`SessionManager::initialize_session`]); a ticket dropped unused (the `initialize` failed) gives its place back.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use parking_lot::Mutex;
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};
use tokio_util::sync::CancellationToken;

/// A session without any request for this long is ended (rmcp's safety net for clients that vanish without
/// `DELETE`). Long enough for an agent waiting on a human between two tool calls. The same for every role: the
/// per-token quota already bounds what one token's forgotten sessions hold, and the admin reserve keeps admins
/// in whatever other tokens forgot, so a shorter timeout for view tokens would only cut their agents off sooner.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// Most live Streamable HTTP sessions in all: the last resort behind the per-token quota. Each holds a worker
/// task and a few buffers; agents open one per conversation, so 64 covers many agents while tokens that leak
/// sessions cannot exhaust the gateway. Past it, `initialize` gets `503` until a session ends.
pub const MAX_SESSIONS: usize = 64;

/// Places of [`MAX_SESSIONS`] only admin tokens may take: view and control tokens together hold at most
/// `MAX_SESSIONS - ADMIN_RESERVED`, so an admin can always open a session to see and end what the others hold
/// (two admin tokens' worth at the default quota of 8).
pub const ADMIN_RESERVED: usize = 16;

/// A bearer token as the book keys it. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey(Arc<str>);

impl TokenKey {
    /// The key of `token`.
    pub fn new(token: &str) -> Self {
        Self(Arc::from(token))
    }

    /// The token, for the shared rate limits (`crate::ratelimit::Limits`, which keep it to themselves too).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(…)")
    }
}

/// Why an `initialize` gets no session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The token holds its quota (`429`).
    Quota(usize),
    /// The gateway holds [`MAX_SESSIONS`], or every place that is not reserved for admins (`503`).
    Full(usize),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Quota(n) => write!(
                f,
                "this token already holds {n} MCP sessions ([limits] mcp_sessions_per_token); end one with \
                 DELETE /mcp or wait until one ends"
            ),
            Self::Full(n) => write!(
                f,
                "the gateway serves its maximum of {n} MCP sessions for this role; retry later"
            ),
        }
    }
}

/// A booked session.
#[derive(Debug)]
pub struct Held {
    /// The token that opened it (`None`: opened without a reservation, which the guard never lets happen).
    token: Option<(TokenKey, bool)>,
    /// Cancelled when the session closes: its running tool calls end at once.
    pub closed: CancellationToken,
}

/// Who holds which session, and places reserved by `initialize`s in flight. Plain data; the counts include the
/// reservations, so two concurrent `initialize`s cannot both take a token's last place.
#[derive(Debug, Default)]
pub struct Book {
    quota: usize,
    sessions: HashMap<SessionId, Held>,
    per_token: HashMap<TokenKey, usize>,
    non_admin: usize,
    total: usize,
}

impl Book {
    /// An empty book allowing `quota` sessions per token.
    pub fn new(quota: usize) -> Self {
        Self {
            quota,
            ..Self::default()
        }
    }

    /// Takes a place for `token` (an admin's when `admin`), or says why not.
    pub fn reserve(&mut self, token: &TokenKey, admin: bool) -> Result<(), Refusal> {
        if self.per_token.get(token).copied().unwrap_or(0) >= self.quota {
            return Err(Refusal::Quota(self.quota));
        }
        if self.total >= MAX_SESSIONS {
            return Err(Refusal::Full(MAX_SESSIONS));
        }
        let shared = MAX_SESSIONS - ADMIN_RESERVED;
        if !admin && self.non_admin >= shared {
            return Err(Refusal::Full(shared));
        }
        *self.per_token.entry(token.clone()).or_default() += 1;
        self.non_admin += usize::from(!admin);
        self.total += 1;
        Ok(())
    }

    /// Gives a place back.
    pub fn release(&mut self, token: &TokenKey, admin: bool) {
        if let Some(n) = self.per_token.get_mut(token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_token.remove(token);
            }
        }
        self.non_admin = self.non_admin.saturating_sub(usize::from(!admin));
        self.total = self.total.saturating_sub(1);
    }

    /// Books session `id` on a reservation already taken (`token`), or on none.
    pub fn bind(&mut self, id: SessionId, token: Option<(TokenKey, bool)>) -> CancellationToken {
        let closed = CancellationToken::new();
        let old = self.sessions.insert(
            id,
            Held {
                token,
                closed: closed.clone(),
            },
        );
        if let Some(old) = old {
            self.settle(old);
        }
        closed
    }

    /// Removes session `id`: cancels its `closed` token and gives its place back. Whether it was booked.
    pub fn unbind(&mut self, id: &SessionId) -> bool {
        match self.sessions.remove(id) {
            Some(held) => {
                self.settle(held);
                true
            }
            None => false,
        }
    }

    fn settle(&mut self, held: Held) {
        held.closed.cancel();
        if let Some((token, admin)) = held.token {
            self.release(&token, admin);
        }
    }

    /// The session's `closed` token, when it is booked.
    pub fn closed(&self, id: &SessionId) -> Option<CancellationToken> {
        self.sessions.get(id).map(|h| h.closed.clone())
    }

    /// Whether session `id` is booked and, when `owner` is given and the session was opened with a token, by it.
    pub fn held(&self, id: &SessionId, owner: Option<&TokenKey>) -> bool {
        self.sessions
            .get(id)
            .is_some_and(|h| match (owner, &h.token) {
                (Some(owner), Some((t, _))) => t == owner,
                _ => true,
            })
    }

    /// Places taken (sessions and reservations).
    pub fn total(&self) -> usize {
        self.total
    }
}

/// A place reserved for one `initialize`, carried in its request's extensions. The first holder to
/// `Ticket::take` it books the session on it; dropped untaken (every clone gone), it gives the place back.
#[derive(Clone, Debug)]
pub struct Ticket(Arc<Reservation>);

#[derive(Debug)]
struct Reservation {
    book: Arc<Mutex<Book>>,
    token: TokenKey,
    admin: bool,
    taken: AtomicBool,
}

impl Ticket {
    /// The reservation's token and role, once: later calls get `None`.
    fn take(&self) -> Option<(TokenKey, bool)> {
        (!self.0.taken.swap(true, Ordering::AcqRel)).then(|| (self.0.token.clone(), self.0.admin))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !*self.taken.get_mut() {
            self.book.lock().release(&self.token, self.admin);
        }
    }
}

/// The id of the Streamable HTTP session an `initialize` belongs to, added to its extensions by
/// [`TrackedSessions`] so the handler can register the session with a way to close it.
#[derive(Clone, Debug)]
pub struct HttpSessionId(pub SessionId);

/// rmcp's in-memory session manager, with the per-token [`Book`].
pub struct TrackedSessions {
    inner: LocalSessionManager,
    book: Arc<Mutex<Book>>,
}

impl fmt::Debug for TrackedSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedSessions")
            .field("booked", &self.book.lock().total())
            .finish_non_exhaustive()
    }
}

impl TrackedSessions {
    /// Sessions of at most `quota` per token.
    pub(super) fn new(quota: usize) -> Self {
        let mut inner = LocalSessionManager::default();
        let mut config = SessionConfig::default();
        config.keep_alive = Some(SESSION_IDLE);
        inner.session_config = config;
        Self {
            inner,
            book: Arc::new(Mutex::new(Book::new(quota))),
        }
    }

    /// Reserves a place for an `initialize` of `token`.
    pub fn reserve(&self, token: TokenKey, admin: bool) -> Result<Ticket, Refusal> {
        self.book.lock().reserve(&token, admin)?;
        Ok(Ticket(Arc::new(Reservation {
            book: Arc::clone(&self.book),
            token,
            admin,
            taken: AtomicBool::new(false),
        })))
    }

    /// Whether session `id` is live and, when `owner` is given, was opened with that token.
    pub fn held(&self, id: &SessionId, owner: Option<&TokenKey>) -> bool {
        self.book.lock().held(id, owner)
    }

    /// Cancelled when session `id` closes (a fresh, never-cancelled token when it is not booked).
    pub fn closed(&self, id: &SessionId) -> CancellationToken {
        self.book.lock().closed(id).unwrap_or_default()
    }
}

impl SessionManager for TrackedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        mut message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let ticket = match &message {
            ClientJsonRpcMessage::Request(r) => r
                .request
                .extensions()
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.extensions.get::<Ticket>())
                .and_then(Ticket::take),
            _ => None,
        };
        self.book.lock().bind(id.clone(), ticket);
        message.insert_extension(HttpSessionId(id.clone()));
        let result = self.inner.initialize_session(id, message).await;
        if result.is_err() {
            self.book.lock().unbind(id);
        }
        result
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        // First end the session's running calls, so rmcp's drain finds them finished.
        self.book.lock().unbind(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<
        impl futures_util::Stream<Item = ServerSseMessage> + Send + Sync + 'static,
        Self::Error,
    > {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<
        impl futures_util::Stream<Item = ServerSseMessage> + Send + Sync + 'static,
        Self::Error,
    > {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<
        impl futures_util::Stream<Item = ServerSseMessage> + Send + Sync + 'static,
        Self::Error,
    > {
        self.inner.resume(id, last_event_id).await
    }
}

/// The remote address of a request, when the server recorded it.
pub fn remote_of(parts: &axum::http::request::Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str) -> TokenKey {
        TokenKey::new(t)
    }

    fn id(n: usize) -> SessionId {
        SessionId::from(format!("session-{n}"))
    }

    #[test]
    fn a_token_holds_its_quota_and_gets_a_place_back_when_one_closes() {
        let mut book = Book::new(2);
        let view = key("view");
        for n in 0..2 {
            book.reserve(&view, false).unwrap();
            book.bind(id(n), Some((view.clone(), false)));
        }
        assert_eq!(book.reserve(&view, false), Err(Refusal::Quota(2)));
        // Another token is not affected.
        book.reserve(&key("other"), false).unwrap();
        let closed = book.closed(&id(0)).unwrap();
        assert!(book.unbind(&id(0)));
        assert!(closed.is_cancelled(), "closing cancels the session's calls");
        assert!(!book.unbind(&id(0)), "a second close finds nothing");
        book.reserve(&view, false).unwrap();
    }

    #[test]
    fn view_tokens_together_cannot_lock_admins_out() {
        let mut book = Book::new(MAX_SESSIONS);
        let shared = MAX_SESSIONS - ADMIN_RESERVED;
        for n in 0..shared {
            let t = key(&format!("view-{}", n % 7));
            book.reserve(&t, false).unwrap();
        }
        assert_eq!(
            book.reserve(&key("view-new"), false),
            Err(Refusal::Full(shared))
        );
        let admin = key("admin");
        for _ in 0..ADMIN_RESERVED {
            book.reserve(&admin, true).unwrap();
        }
        assert_eq!(book.reserve(&admin, true), Err(Refusal::Full(MAX_SESSIONS)));
        assert_eq!(book.total(), MAX_SESSIONS);
    }

    #[test]
    fn reservations_count_until_bound_or_dropped() {
        let sessions = TrackedSessions::new(1);
        let view = key("view");
        let ticket = sessions.reserve(view.clone(), false).unwrap();
        assert!(
            sessions.reserve(view.clone(), false).is_err(),
            "in flight counts"
        );
        let copy = ticket.clone();
        drop(ticket);
        assert!(
            sessions.reserve(view.clone(), false).is_err(),
            "a clone still holds it"
        );
        drop(copy);
        // Dropped unused: the place is back.
        let ticket = sessions.reserve(view.clone(), false).unwrap();
        let taken = ticket.take();
        assert_eq!(taken.as_ref().map(|t| t.1), Some(false));
        assert!(ticket.take().is_none(), "a ticket books one session");
        sessions.book.lock().bind(id(1), taken);
        drop(ticket);
        assert!(
            sessions.reserve(view.clone(), false).is_err(),
            "the session holds it"
        );
        assert!(sessions.held(&id(1), Some(&view)));
        assert!(sessions.held(&id(1), None));
        assert!(!sessions.held(&id(1), Some(&key("other"))));
        assert!(!sessions.held(&id(2), None));
        sessions.book.lock().unbind(&id(1));
        assert!(sessions.reserve(view, false).is_ok());
    }

    #[test]
    fn refusals_explain_themselves() {
        assert!(
            Refusal::Quota(8)
                .to_string()
                .contains("mcp_sessions_per_token")
        );
        assert!(Refusal::Full(48).to_string().contains("maximum of 48"));
        assert_eq!(format!("{:?}", key("secret-token")), "TokenKey(…)");
    }
}
