//! The `/ws` socket: authentication, WebRTC and JPEG watches, commands, and everything a session owns.
//!
//! - [`upgrade`]: the HTTP edge: bans, the `Host`/`Origin` allow-list, the token on the upgrade, the session
//!   limit and the cap on unauthenticated sockets, all before upgrading; the frame and message limits; axum's
//!   socket adapted to [`WsIn`]/[`WsOut`], its errors classified into RFC 6455 violations.
//! - [`socket`]: the socket task, the only reader and writer, with the auth deadline, the heartbeat and idle
//!   timeout, and the write timeout.
//! - [`viewer`]: what the messages mean: the session, the watch lifecycle, commands and HQ frames.
//! - [`guard`]: what each message costs, rate limits, strikes and bans; [`end`]: why a socket ends and the close
//!   code it gets.
//! - [`jpeg`]: the JPEG fallback stream, which [`adapt`] steps down and up the quality ladder as the socket's
//!   send queue backs up and drains; [`outbox`]: the bounded queue other producers write through.

pub mod adapt;
pub mod end;
pub mod feed;
pub mod guard;
pub mod hq;
pub mod jpeg;
pub mod outbox;
pub mod socket;
pub mod viewer;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sightline_monitor::Owner;

use crate::auth::{HasTokens, bearer};
use crate::error::AppError;
use crate::origin::WsAccess;
use crate::session::SessionManager;
pub use end::{End, Violation};
pub use hq::MAX_HQ_IN_FLIGHT;
pub use outbox::{OUTBOX_CAPACITY, Outbound};
pub use socket::{CLOSE_TIMEOUT, Handshake, WRITE_TIMEOUT, WsIn, WsOut, run};

/// Largest WebSocket frame a client may send. tungstenite reads a frame's header, compares the declared length
/// with this limit and refuses the frame there, before reserving or reading any of its payload, so a client
/// declaring megabytes costs nothing; the socket is closed with 1009. One message's worth: a
/// [`MAX_MESSAGE_BYTES`](sightline_limits::MAX_MESSAGE_BYTES) field with room for the JSON around it.
pub const MAX_FRAME_BYTES: usize = sightline_limits::MAX_MESSAGE_BYTES + 1024;

/// Largest message, all its fragments together (checked as each fragment arrives; past it: 1009). One byte above
/// [`MAX_FRAME_BYTES`] only so the two refusals can be told apart in the counters: a single frame can never
/// reach it, so a message this large is necessarily fragmented.
pub const MAX_SOCKET_MESSAGE_BYTES: usize = MAX_FRAME_BYTES + 1;

/// `GET /ws`: upgrades to the signaling socket. Refused before upgrading: a banned address (`429` with
/// `Retry-After`), a `Host` or `Origin` outside `[server] allowed_hosts` / `allowed_origins` (`403`), a wrong
/// bearer token (`401`), a gateway at its session limit (`503`; a socket that raced past this check is closed
/// with 1013 on `auth`), and, for a socket without a bearer token, a gateway already holding
/// `[limits] max_unauthenticated` sockets that have not authenticated (`503`). A bearer token on the upgrade
/// authenticates at once; otherwise the first message must be `auth`.
pub async fn upgrade(
    State(manager): State<SessionManager>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let diagnostics = manager.diagnostics();
    let now = tokio::time::Instant::now().into_std();
    if let Some(left) = manager.limits().banned(remote.ip(), now) {
        diagnostics.refused("banned");
        return AppError::RateLimited(left).into_response();
    }
    if let Err(refusal) = WsAccess::new(
        &manager.config().server.allowed_hosts,
        &manager.config().server.allowed_origins,
    )
    .check(&uri, &headers)
    {
        diagnostics.refused(refusal.as_str());
        return AppError::Forbidden(refusal.message().into()).into_response();
    }
    let bearer = match bearer(&headers) {
        Some(token) => match manager.tokens().role_of(token) {
            Some(role) => Some((role, token.to_owned())),
            None => return manager.tokens().refusal(Some(token)).into_response(),
        },
        None => None,
    };
    if manager.at_capacity() {
        diagnostics.refused("max_sessions");
        return AppError::from(manager.capacity_error()).into_response();
    }
    let permit = match bearer {
        Some(_) => None,
        None => {
            let max = manager.config().limits.max_unauthenticated;
            match diagnostics.admit_unauthenticated(max) {
                Some(permit) => Some(permit),
                None => {
                    diagnostics.refused("unauthenticated_cap");
                    return AppError::Unavailable(format!(
                        "{max} sockets are already waiting to authenticate; retry shortly"
                    ))
                    .into_response();
                }
            }
        }
    };
    let handshake = Handshake {
        bearer,
        remote: Some(remote),
        permit,
    };
    upgrade
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_SOCKET_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let task = manager.clone().spawn(
                "ws-session",
                Owner::Gateway,
                serve_socket(manager, socket, handshake),
            );
            let _ = task.await;
        })
}

async fn serve_socket(manager: SessionManager, socket: WebSocket, handshake: Handshake) {
    let (sink, stream) = socket.split();
    let stream = stream
        .map(|m| match m {
            Ok(Message::Text(t)) => WsIn::Text(t.as_str().to_owned()),
            Ok(Message::Binary(_)) => WsIn::Binary,
            Ok(Message::Ping(_)) => WsIn::Ping,
            Ok(Message::Pong(_)) => WsIn::Pong,
            Ok(Message::Close(_)) => WsIn::Close,
            Err(e) => classify(e),
        })
        .boxed();
    let sink = sink.with(|out: WsOut| async move {
        Ok::<_, axum::Error>(match out {
            WsOut::Text(t) => Message::Text(t.into()),
            WsOut::Binary(b) => Message::Binary(b),
            WsOut::Ping => Message::Ping(Bytes::new()),
            WsOut::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        })
    });
    run(manager, stream, Box::pin(sink), handshake).await;
}

/// What an error of axum's WebSocket stream means. axum wraps tungstenite's error; after any of them the stream
/// ends, but the socket can still write, so the violation's close frame still reaches the client (tungstenite
/// sends none by itself).
fn classify(e: axum::Error) -> WsIn {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => classify_tungstenite(&e),
        Err(other) => {
            tracing::warn!(error = %other, "unexpected WebSocket error");
            WsIn::Failed
        }
    }
}

/// The RFC 6455 reading of a tungstenite read error.
pub fn classify_tungstenite(e: &tungstenite::Error) -> WsIn {
    use tungstenite::error::{CapacityError, ProtocolError};
    match e {
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Io(_)
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => WsIn::Close,
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { max_size, .. }) => {
            WsIn::Invalid(if *max_size == MAX_FRAME_BYTES {
                Violation::FrameTooLarge
            } else {
                Violation::MessageTooLarge
            })
        }
        tungstenite::Error::Utf8(_) => WsIn::Invalid(Violation::BadUtf8),
        tungstenite::Error::Protocol(_) => WsIn::Invalid(Violation::Protocol),
        other => {
            tracing::warn!(error = %other, "unexpected WebSocket error");
            WsIn::Failed
        }
    }
}
