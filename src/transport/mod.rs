//! Viewer transports: the `/ws` socket ([`ws`]) with its WebRTC ([`video`]) and JPEG ([`jpeg`]) watches, and WHEP
//! ([`whep`]).

pub mod jpeg;
pub mod video;
pub mod whep;
pub mod ws;

use std::net::SocketAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use sightline_monitor::Owner;

use crate::auth::{HasTokens, bearer};
use crate::error::AppError;
use crate::gateway::Gateway;
use ws::{WsIn, WsOut};

/// `GET /ws`: upgrades to the signaling socket. A bearer token on the upgrade authenticates at once (a wrong one
/// is refused with 401 before upgrading); otherwise the first message must be `auth`. A gateway at its session
/// limit answers 503 without upgrading (a socket that raced past this check is closed with 1013 on `auth`).
pub async fn upgrade(
    State(gw): State<Gateway>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let pre_auth = match bearer(&headers) {
        Some(token) => match gw.tokens().role_of(token) {
            Some(role) => Some(role),
            None => return AppError::Unauthorized.into_response(),
        },
        None => None,
    };
    if gw.sessions().at_capacity() {
        let max = gw.config().server.max_sessions;
        return AppError::Unavailable(format!(
            "the gateway is at its session limit ({max}); try again later"
        ))
        .into_response();
    }
    upgrade
        .max_message_size(sightline_signaling::messages::MAX_MESSAGE_BYTES + 1024)
        .on_upgrade(move |socket| async move {
            let monitor = gw.monitor().clone();
            let task = monitor.spawn(
                "ws-session",
                Owner::Gateway,
                serve_socket(gw, socket, pre_auth, remote),
            );
            let _ = task.await;
        })
}

async fn serve_socket(
    gw: Gateway,
    socket: WebSocket,
    pre_auth: Option<sightline_signaling::Role>,
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
    let sink = Box::pin(sink);
    ws::run(gw, stream, sink, pre_auth, Some(remote)).await;
}
