//! The HTTP edge: our own accept loop in front of the axum app, so that every socket is bounded before any of
//! the app's code sees it.
//!
//! # Parts
//! - [`limit`]: admission — `limits.max_connections` in all and `limits.max_connections_per_ip` per address, each
//!   connection holding an RAII guard for its whole life (TLS, keep-alive, WebSocket after the upgrade).
//! - [`tls`]: rustls with a swappable certificate (files reloaded on change), [`selfsigned`]: the kept
//!   self-signed certificate, [`redirect`]: the optional plain-HTTP listener that answers `308` to HTTPS.
//! - `conn`: one connection — TLS handshake (bounded by the header timeout), hyper's HTTP/1.1 server with upgrades,
//!   and the answers hyper leaves to us (`408` after a stalled head, the linger after `431`).
//!
//! # The loop
//! Each listener runs [`Edge::run`]'s accept loop: accept → admit (or close at once: over a limit) → a banned
//! address gets `429` + `Retry-After` written without reading its request (on the TLS listener it is closed
//! before the handshake: answering would cost a handshake for an address that is being refused) → one task per
//! connection, tracked. Every refusal is counted in `Diagnostics::refused` and logged in aggregate (at most one
//! line per [`REFUSAL_LOG_INTERVAL`]).
//!
//! # Shutdown
//! The gateway's shutdown token stops the accept loops (the listening sockets close) and asks every connection to
//! finish its request in flight and close; sessions end through `SessionManager::end_all_sessions`. Connections
//! still open after [`DRAIN_GRACE`] are dropped.

pub mod limit;
pub mod redirect;
pub mod selfsigned;
pub mod tls;

mod conn;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, LimitsConfig};
use crate::session::SessionManager;

pub use limit::{ConnGuard, ConnLimits, Refusal};
pub use tls::{CertInfo, Tls};

/// How long open connections get to finish after shutdown begins before they are dropped. Long enough for a
/// snapshot or a REST call in flight; streams (MJPEG, MCP SSE) end with their sessions well before it.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// After [`DRAIN_GRACE`], how long dropped connections get to unwind.
const FORCE_WAIT: Duration = Duration::from_secs(1);
/// Refusals (and accept errors) are logged at most once per this interval, with the counts since the last line;
/// the totals are in the diagnostics counters.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// After an accept error that is not about one connection (out of file descriptors, say), the loop waits this
/// long before accepting again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// hyper's default read buffer (8 KiB + 400 KiB); raised only when `limits.max_header_bytes` needs more.
const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;

/// What a listener speaks.
#[derive(Clone)]
pub(crate) enum Front {
    /// Plain HTTP.
    Plain,
    /// HTTPS.
    Tls(TlsAcceptor),
}

/// The listeners of a gateway, ready to run.
#[derive(Debug)]
pub struct Edge {
    listener: TcpListener,
    tls: Option<Tls>,
    redirect: Option<TcpListener>,
    limits: LimitsConfig,
}

impl Edge {
    /// Wraps the bound main listener with TLS (loading or generating the certificate) and binds the redirect
    /// listener, as `[tls]` says. Errors name the config key. With `redirect_optional` (`sightline mcp`, which
    /// must serve its client whatever else runs) a taken redirect port only skips the redirect, with a warning.
    pub async fn new(
        config: &Config,
        listener: TcpListener,
        redirect_optional: bool,
    ) -> anyhow::Result<Self> {
        let tls = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || Tls::from_config(&config))
                .await
                .context("TLS set-up panicked")??
        };
        let redirect = match config.tls.redirect_addr() {
            None => None,
            Some(addr) => {
                match TcpListener::bind(addr).await {
                    Ok(l) => Some(l),
                    Err(e) if redirect_optional && e.kind() == std::io::ErrorKind::AddrInUse => {
                        tracing::warn!(%addr, "the HTTP redirect port is taken; no redirect listener");
                        None
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                        format!("cannot listen on {addr} (set [tls] redirect_http, or leave it empty)")
                    });
                    }
                }
            }
        };
        Ok(Self {
            listener,
            tls,
            redirect,
            limits: config.limits.clone(),
        })
    }

    /// The main listener's address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The redirect listener's address, when there is one.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The served certificate, when TLS is on.
    pub fn cert(&self) -> Option<CertInfo> {
        self.tls.as_ref().map(Tls::info)
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves `app` until `shutdown`, then drains (see the module docs). Returns when every tracked connection
    /// has ended or been dropped.
    pub async fn run(self, app: Router, gateway: SessionManager, shutdown: CancellationToken) {
        let shared = Arc::new(Shared::new(&self.limits, gateway, shutdown.clone()));
        let main_addr = self.listener.local_addr().ok();
        let front = match &self.tls {
            Some(t) => Front::Tls(t.acceptor().clone()),
            None => Front::Plain,
        };
        let main = accept_loop(self.listener, front, app, shared.clone());
        let redirect = async {
            if let (Some(listener), Some(addr)) = (self.redirect, main_addr) {
                let fallback = match addr.ip() {
                    ip if ip.is_unspecified() => "localhost".to_owned(),
                    IpAddr::V6(v6) => format!("[{v6}]"),
                    ip => ip.to_string(),
                };
                let app = redirect::router(addr.port(), fallback);
                accept_loop(listener, Front::Plain, app, shared.clone()).await;
            }
        };
        let watch = async {
            if let Some(tls) = &self.tls {
                tls.watch(shutdown.clone()).await;
            }
        };
        tokio::join!(main, redirect, watch);

        shared.conns.close();
        if tokio::time::timeout(DRAIN_GRACE, shared.conns.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = shared.conns.len(),
                "HTTP connections still open after the drain grace; dropping them"
            );
            shared.force.cancel();
            let _ = tokio::time::timeout(FORCE_WAIT, shared.conns.wait()).await;
        }
    }
}

/// What every connection task of one gateway shares.
pub(crate) struct Shared {
    limits: ConnLimits,
    http: http1::Builder,
    gateway: SessionManager,
    header_timeout: Duration,
    /// The gateway's shutdown: stop accepting, finish in-flight requests.
    shutdown: CancellationToken,
    /// After [`DRAIN_GRACE`]: drop what is left.
    force: CancellationToken,
    /// Every connection task (its owner; awaited at shutdown).
    conns: TaskTracker,
    log: Mutex<RefusalLog>,
}

impl Shared {
    fn new(limits: &LimitsConfig, gateway: SessionManager, shutdown: CancellationToken) -> Self {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout())
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(HYPER_DEFAULT_MAX_BUF.max(limits.max_header_bytes + 8192))
            .keep_alive(true);
        Self {
            limits: ConnLimits::new(limits.max_connections, limits.max_connections_per_ip),
            http,
            gateway,
            header_timeout: limits.header_timeout(),
            shutdown,
            force: CancellationToken::new(),
            conns: TaskTracker::new(),
            log: Mutex::new(RefusalLog::default()),
        }
    }

    /// Counts a refusal and logs it in aggregate.
    fn refused(&self, reason: &'static str, peer: SocketAddr) {
        self.gateway.diagnostics().refused(reason);
        tracing::debug!(%peer, reason, "connection refused");
        if let Some(summary) = self.log.lock().note(reason, Instant::now()) {
            tracing::warn!(refused = %summary, "the HTTP edge refused connections");
        }
    }
}

/// Aggregates refusals into one log line per [`REFUSAL_LOG_INTERVAL`].
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<Instant>,
    counts: BTreeMap<&'static str, u64>,
}

impl RefusalLog {
    /// Counts one; returns the summary to log when a line is due (the first refusal after a quiet interval is
    /// logged at once).
    fn note(&mut self, reason: &'static str, now: Instant) -> Option<String> {
        *self.counts.entry(reason).or_default() += 1;
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < REFUSAL_LOG_INTERVAL)
        {
            return None;
        }
        self.last = Some(now);
        let summary: Vec<String> = self
            .counts
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        self.counts.clear();
        Some(summary.join(" "))
    }
}

async fn accept_loop(listener: TcpListener, front: Front, app: Router, shared: Arc<Shared>) {
    let mut errors = RefusalLog::default();
    loop {
        let (stream, peer) = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    if let Some(n) = errors.note("accept", Instant::now()) {
                        tracing::error!(error = %e, count = %n, "accepting connections failed; retrying");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let peer = SocketAddr::new(unmap(peer.ip()), peer.port());
        let guard = match shared.limits.try_acquire(peer.ip()) {
            Ok(g) => g,
            Err(refusal) => {
                shared.refused(refusal.as_str(), peer);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = conn::Counted::new(stream, guard);
        if let Some(left) = shared.gateway.limits().banned(peer.ip(), Instant::now()) {
            shared.refused("banned", peer);
            if matches!(front, Front::Plain) {
                shared.conns.spawn(conn::refuse_banned(stream, left));
            }
            continue;
        }
        shared.conns.spawn(conn::run(
            stream,
            peer,
            front.clone(),
            app.clone(),
            shared.clone(),
        ));
    }
}

/// Accept errors that concern only the connection being accepted (it was reset before we took it).
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

/// IPv4-mapped IPv6 (a dual-stack listener) as the IPv4 address it is, for handlers, logs and bans.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_once_per_interval_with_counts() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        assert_eq!(log.note("banned", t0).as_deref(), Some("banned=1"));
        assert_eq!(log.note("banned", t0 + Duration::from_secs(1)), None);
        assert_eq!(
            log.note("max_connections", t0 + Duration::from_secs(2)),
            None
        );
        assert_eq!(
            log.note("banned", t0 + REFUSAL_LOG_INTERVAL).as_deref(),
            Some("banned=2 max_connections=1")
        );
    }

    #[test]
    fn mapped_addresses_are_unmapped() {
        assert_eq!(
            unmap("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            unmap("2001:db8::1".parse().unwrap()),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
