//! rmcp's in-memory Streamable HTTP session manager, wrapped so each session's `initialize` learns its own id
//! (the handler registers the session with a way to close it on a kick), plus the request facts the handler reads.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

use std::time::Duration;

/// A session without any request for this long is ended (rmcp's safety net for clients that vanish without
/// `DELETE`). Long enough for an agent waiting on a human between two tool calls.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The id of the Streamable HTTP session an `initialize` belongs to, added to its extensions by
/// [`TrackedSessions`] so the handler can register the session with a way to close it.
#[derive(Clone, Debug)]
pub struct HttpSessionId(pub SessionId);

/// rmcp's in-memory session manager, telling each session's `initialize` its own id.
#[derive(Debug)]
pub struct TrackedSessions {
    inner: LocalSessionManager,
}

impl TrackedSessions {
    pub(super) fn new() -> Self {
        let mut inner = LocalSessionManager::default();
        let mut config = SessionConfig::default();
        config.keep_alive = Some(SESSION_IDLE);
        inner.session_config = config;
        Self { inner }
    }

    /// Live sessions.
    pub async fn live(&self) -> usize {
        self.inner.sessions.read().await.len()
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
        message.insert_extension(HttpSessionId(id.clone()));
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
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
