//! One accepted connection: the optional TLS handshake, then hyper's HTTP/1.1 server with upgrades (WebSocket),
//! and what hyper leaves to us when it gives up on a request head.
//!
//! Measured behaviour of hyper 1.x that this relies on (tests/edge_limits.rs holds each one in place):
//! - `header_read_timeout` starts when hyper waits for a request head — on a fresh connection and again after every
//!   response on a kept-alive one — so it bounds both slowloris heads and idle keep-alive connections. When it
//!   fires hyper answers **nothing** and returns an error (`is_timeout()`); the connection is still whole, so
//!   [`serve_http`] takes it back (`into_parts`) and, if part of a head had arrived, answers `408` itself before
//!   closing. An idle connection (no byte of a next request) is closed without an answer: a `408` there could
//!   cross a request the client is just sending.
//! - A head longer than `max_header_size` gets hyper's own `431` (a URI over 64 KiB its `414`), flushed before the
//!   error is returned; we then close with a bounded linger so the client reads it instead of a reset.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::limit::ConnGuard;
use super::{Front, Shared};

/// How long an edge-written answer (`408`, `429`) may take to leave; a client that does not read is cut.
pub const ANSWER_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// After an error answer the connection is half-closed and the client's unread bytes are drained for at most this
/// long and [`LINGER_BYTES`] (so it reads the answer instead of a TCP reset), then closed.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// See [`LINGER_TIME`].
pub const LINGER_BYTES: usize = 512 * 1024;

/// An accepted TCP stream that holds its place in the connection limits for as long as it lives — also inside TLS
/// and after hyper hands it to a WebSocket.
pub(super) struct Counted<S> {
    io: S,
    _guard: ConnGuard,
}

impl<S> Counted<S> {
    pub(super) fn new(io: S, guard: ConnGuard) -> Self {
        Self { io, _guard: guard }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves one admitted connection until it closes, the gateway stops, or (after the drain grace) is forced.
pub(super) async fn run(
    stream: Counted<TcpStream>,
    peer: SocketAddr,
    front: Front,
    app: Router,
    shared: Arc<Shared>,
) {
    match front {
        Front::Plain => serve_http(stream, peer, app, &shared).await,
        Front::Tls(acceptor) => {
            // The handshake gets the header timeout too: a client that opens TLS and stalls holds a place no
            // longer than one that stalls in plain HTTP.
            let accepted = tokio::select! {
                r = tokio::time::timeout(shared.header_timeout, acceptor.accept(stream)) => r,
                () = shared.shutdown.cancelled() => return,
            };
            match accepted {
                Ok(Ok(stream)) => serve_http(stream, peer, app, &shared).await,
                Ok(Err(e)) => {
                    shared.refused("tls_handshake", peer);
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    shared.refused("tls_handshake", peer);
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            }
        }
    }
}

/// HTTP/1.1 on an established stream (plain or TLS).
async fn serve_http<S>(io: S, peer: SocketAddr, app: Router, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut app.clone(), req)
    });
    let mut conn = shared
        .http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let ended = tokio::select! {
        r = &mut conn => r,
        () = shared.shutdown.cancelled() => {
            // Finish the request in flight (if any), then close; bounded by the drain grace.
            Pin::new(&mut conn).graceful_shutdown();
            tokio::select! {
                r = &mut conn => r,
                () = shared.force.cancelled() => return,
            }
        }
    };
    let Err(e) = ended else {
        return;
    };
    if e.is_timeout() {
        let Some(parts) = conn.into_parts() else {
            return;
        };
        let io = parts.io.into_inner();
        if parts.read_buf.is_empty() {
            tracing::trace!(%peer, "idle connection closed after the header timeout");
            close_quietly(io).await;
        } else {
            shared.refused("header_timeout", peer);
            answer_and_close(
                io,
                &plain_answer(
                    408,
                    "Request Timeout",
                    None,
                    "request headers took too long\n",
                ),
            )
            .await;
        }
    } else if e.is_parse_too_large() {
        shared.refused("header_too_large", peer);
        // hyper has already written its 431 (or 414).
        if let Some(parts) = conn.into_parts() {
            linger_close(parts.io.into_inner()).await;
        }
    } else {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// `429 Too Many Requests` with `Retry-After` for a banned address, written without reading the request.
pub(super) async fn refuse_banned<S>(io: S, retry_after: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let body =
        format!("this address is banned for {secs} s after repeated rate-limit violations\n");
    let answer = plain_answer(429, "Too Many Requests", Some(secs), &body);
    answer_and_close(io, &answer).await;
}

/// A complete `HTTP/1.1` answer with a text body and `Connection: close`.
fn plain_answer(status: u16, reason: &str, retry_after: Option<u64>, body: &str) -> Vec<u8> {
    let retry = retry_after.map_or(String::new(), |s| format!("retry-after: {s}\r\n"));
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn answer_and_close<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, answer: &[u8]) {
    let written = tokio::time::timeout(ANSWER_WRITE_TIMEOUT, async {
        io.write_all(answer).await?;
        io.flush().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        linger_close(io).await;
    }
}

/// Half-closes, then reads and drops what the client still sends for at most [`LINGER_TIME`] / [`LINGER_BYTES`].
async fn linger_close<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) {
    let _ = tokio::time::timeout(LINGER_TIME, async {
        io.shutdown().await?;
        let mut buf = [0u8; 8192];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let n = io.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            drained += n;
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

async fn close_quietly<S: AsyncWrite + Unpin>(mut io: S) {
    let _ = tokio::time::timeout(ANSWER_WRITE_TIMEOUT, io.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_complete_http_responses() {
        let a =
            String::from_utf8(plain_answer(429, "Too Many Requests", Some(3), "banned\n")).unwrap();
        assert!(a.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
        assert!(a.contains("\r\nretry-after: 3\r\n"));
        assert!(a.contains("\r\ncontent-length: 7\r\n"));
        assert!(a.ends_with("\r\n\r\nbanned\n"));
        let b = String::from_utf8(plain_answer(408, "Request Timeout", None, "")).unwrap();
        assert!(!b.contains("retry-after"));
    }
}
