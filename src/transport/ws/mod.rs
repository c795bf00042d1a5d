//! The `/ws` socket: authentication, WebRTC and JPEG watches, commands, and everything a session owns.
//!
//! - [`upgrade`]: the HTTP edge (token on the upgrade, the session limit before upgrading, axum's socket adapted
//!   to [`WsIn`]/[`WsOut`]).
//! - [`socket`]: the socket task, the only reader and writer, with the auth deadline and the write timeout.
//! - [`viewer`]: what the messages mean: the session, the watch lifecycle, commands and HQ frames.
//! - [`jpeg`]: the JPEG fallback stream, which [`adapt`] steps down and up the quality ladder as the socket's
//!   send queue backs up and drains; [`outbox`]: the bounded queue other producers write through.

pub mod adapt;
pub mod jpeg;
pub mod outbox;
pub mod socket;
pub mod viewer;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use sightline_monitor::Owner;
use sightline_signaling::Role;

use crate::auth::{HasTokens, bearer};
use crate::error::AppError;
use crate::session::SessionManager;
pub use outbox::{OUTBOX_CAPACITY, Outbound};
pub use socket::{CLOSE_TIMEOUT, WRITE_TIMEOUT, WsIn, WsOut, run};
pub use viewer::MAX_HQ_IN_FLIGHT;

/// `GET /ws`: upgrades to the signaling socket. A bearer token on the upgrade authenticates at once (a wrong one
/// is refused with 401 before upgrading); otherwise the first message must be `auth`. A gateway at its session
/// limit answers 503 without upgrading (a socket that raced past this check is closed with 1013 on `auth`).
pub async fn upgrade(
    State(manager): State<SessionManager>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let pre_auth = match bearer(&headers) {
        Some(token) => match manager.tokens().role_of(token) {
            Some(role) => Some(role),
            None => return AppError::Unauthorized.into_response(),
        },
        None => None,
    };
    if manager.at_capacity() {
        return AppError::from(manager.capacity_error()).into_response();
    }
    upgrade
        .max_message_size(sightline_limits::MAX_MESSAGE_BYTES + 1024)
        .on_upgrade(move |socket| async move {
            let task = manager.clone().spawn(
                "ws-session",
                Owner::Gateway,
                serve_socket(manager, socket, pre_auth, remote),
            );
            let _ = task.await;
        })
}

async fn serve_socket(
    manager: SessionManager,
    socket: WebSocket,
    pre_auth: Option<Role>,
    remote: SocketAddr,
) {
    let (sink, stream) = socket.split();
    let stream = stream
        .filter_map(|m| async move {
            match m {
                Ok(Message::Text(t)) => Some(WsIn::Text(t.to_string())),
                Ok(Message::Binary(_)) => Some(WsIn::Binary),
                Ok(Message::Close(_)) | Err(_) => Some(WsIn::Close),
                Ok(Message::Ping(_) | Message::Pong(_)) => None,
            }
        })
        .boxed();
    let sink = sink.with(|out: WsOut| async move {
        Ok::<_, axum::Error>(match out {
            WsOut::Text(t) => Message::Text(t.into()),
            WsOut::Binary(b) => Message::Binary(b),
            WsOut::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        })
    });
    run(
        manager,
        stream,
        Box::pin(sink),
        pre_auth,
        Some(remote.to_string()),
    )
    .await;
}
