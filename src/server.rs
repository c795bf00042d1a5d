//! Start-up and shutdown of the whole gateway: monitor → screen backend → media engine → TLS and the HTTP edge
//! ([`crate::edge`]) (and the stdio MCP server in `sightline mcp`), then a shutdown that signals everyone and waits.
//!
//! Shutdown order: stop accepting, cancel every session (sockets close with 1001, peers close), let in-flight
//! requests finish (bounded by [`crate::edge::DRAIN_GRACE`]), wait for the tracked tasks to end (bounded), stop the
//! media engine (joins its threads), flush the monitor's log files.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use sightline_media::engine::Engine;
use sightline_media::{CaptureOptions, Desktop};
use sightline_monitor::{Monitor, Owner};
use sightline_signaling::Role;
use tokio_util::sync::CancellationToken;

use crate::auth::{Tokens, generate_token};
use crate::config::Config;
use crate::edge::{CertInfo, Edge};
use crate::session::SessionManager;

/// How the gateway is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// HTTP only (`sightline serve`).
    Http,
    /// HTTP plus MCP over stdin/stdout (`sightline mcp`); ends when stdin closes.
    Stdio,
}

/// A running gateway, for tests and embedding: its address, its admin token and a way to stop it.
#[derive(Debug)]
pub struct Running {
    /// The bound HTTP(S) address.
    pub addr: SocketAddr,
    /// `https` when `[tls]` is on, else `http`.
    pub scheme: &'static str,
    /// The served certificate at start, when `[tls]` is on.
    pub cert: Option<CertInfo>,
    /// The plain-HTTP redirect listener's address (`tls.redirect_http`).
    pub redirect_addr: Option<SocketAddr>,
    /// The generated admin token, when the configuration had no token.
    pub generated_token: Option<String>,
    /// The application state.
    pub gateway: SessionManager,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `SCHEME://ADDR` (a wildcard address shown as `127.0.0.1`), no trailing slash.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, display_addr(self.addr))
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}

/// Builds every part and starts the HTTP server; returns once it listens.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with_mode(config, Mode::Http).await
}

/// Like [`start`]. In [`Mode::Stdio`] a taken port is not fatal: the desktop MCP client that launched the process
/// must be served either way (typically a `sightline serve` already holds the port), so the HTTP server listens on
/// a free port of the same address instead, named in the ready line on stderr.
pub async fn start_with_mode(config: Config, mode: Mode) -> anyhow::Result<Running> {
    let shutdown = CancellationToken::new();
    let monitor = Monitor::new(config.monitor_settings());
    monitor.start_background(shutdown.child_token());

    let desktop = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || open_desktop(&config))
            .await
            .context("screen backend start-up panicked")??
    };
    tracing::info!(source = %desktop.kind(), "screen backend ready");
    let engine = Engine::new(desktop, config.engine_settings(), monitor.clone());

    let mut tokens = Tokens::from_config(&config.auth);
    let mut generated_token = None;
    if tokens.is_empty() {
        let t = generate_token();
        tokens = tokens.with(&t, Role::Admin);
        generated_token = Some(t);
    }

    let addr = config.listen_addr()?;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if mode == Mode::Stdio && e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(%addr, "the HTTP port is taken; serving HTTP on a free port instead (MCP over stdio is unaffected)");
            let fallback = SocketAddr::new(addr.ip(), 0);
            tokio::net::TcpListener::bind(fallback)
                .await
                .with_context(|| format!("cannot listen on {fallback}"))?
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!("cannot listen on {addr} (set [server] listen or --listen)")
            });
        }
    };
    let addr = listener.local_addr()?;
    let edge = Edge::new(&config, listener, mode == Mode::Stdio).await?;
    let (scheme, cert, redirect_addr) = (edge.scheme(), edge.cert(), edge.redirect_addr());

    let gateway = SessionManager::new(config, tokens, engine, monitor.clone(), shutdown.clone());
    let app = crate::http::app(gateway.clone());
    // `[[whip]]` targets: started in the background, retried with backoff; a failure never stops the gateway.
    gateway.whip().start_configured();
    let server = {
        let gateway = gateway.clone();
        let shutdown = shutdown.clone();
        monitor.spawn("http-server", Owner::Gateway, async move {
            edge.run(app, gateway.clone(), shutdown).await;
            gateway.shut_down().await;
        })
    };
    // Sessions end when the gateway shuts down, so graceful shutdown is not held open by WebSockets.
    {
        let gateway = gateway.clone();
        let shutdown = shutdown.clone();
        monitor.spawn("shutdown-sessions", Owner::Gateway, async move {
            shutdown.cancelled().await;
            gateway.end_all_sessions();
        });
    }
    Ok(Running {
        addr,
        scheme,
        cert,
        redirect_addr,
        generated_token,
        gateway,
        shutdown,
        server,
    })
}

/// Runs the gateway until Ctrl-C / SIGTERM (or, in stdio mode, until stdin closes).
pub async fn serve(config: Config, mode: Mode) -> anyhow::Result<()> {
    let running = start_with_mode(config, mode).await?;
    let signalled = shutdown_signal();
    let url = format!("{}/", running.base_url());
    let line = match &running.generated_token {
        Some(t) => format!(
            "sightline {} ready: open {url}#token={t}",
            env!("CARGO_PKG_VERSION")
        ),
        None => format!(
            "sightline {} ready: open {url}#token=<a token from [auth]>",
            env!("CARGO_PKG_VERSION")
        ),
    };
    // The fingerprint comes first, on its own line: the ready line stays one URL that scripts can take.
    let cert_line = running.cert.as_ref().map(|c| {
        format!(
            "sightline TLS certificate SHA-256 fingerprint {} ({})",
            c.fingerprint,
            c.path.display()
        )
    });
    match mode {
        Mode::Http => {
            if let Some(c) = &cert_line {
                println!("{c}");
            }
            println!("{line}");
        }
        // stdout belongs to the MCP protocol.
        Mode::Stdio => {
            if let Some(c) = &cert_line {
                eprintln!("{c}");
            }
            eprintln!("{line}");
        }
    }
    if let Some(c) = &running.cert {
        tracing::info!(fingerprint = %c.fingerprint, spki_sha256 = %c.spki_sha256, cert = %c.path.display(), "TLS on");
    }
    if let Some(r) = running.redirect_addr {
        tracing::info!(redirect = %r, "plain HTTP on this address redirects to HTTPS");
    }
    tracing::info!(%url, "listening");

    let stop = running.shutdown.clone();
    let signalled = std::pin::pin!(signalled);
    match mode {
        Mode::Http => {
            tokio::select! {
                () = signalled => tracing::info!("shutting down"),
                () = stop.cancelled() => {}
            }
        }
        Mode::Stdio => {
            let gateway = running.gateway.clone();
            tokio::select! {
                r = crate::mcp::serve_stdio(gateway) => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "stdio MCP server ended with an error");
                    }
                }
                () = signalled => tracing::info!("shutting down"),
            }
        }
    }
    running.stop().await;
    Ok(())
}

/// The address as a URL host: `0.0.0.0` is shown as `127.0.0.1`, which a local browser can open.
fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Registers the SIGTERM and SIGINT handlers at once, so a signal sent right after the ready line is not lost (an
/// unregistered SIGTERM kills the process without a shutdown), and returns the wait for either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {}
                () = wait(int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Opens the configured screen backend.
pub fn open_desktop(config: &Config) -> anyhow::Result<Arc<dyn Desktop>> {
    let opts = CaptureOptions {
        source: config.capture.source,
        display: config.display(),
        synthetic_size: config.synthetic_size()?,
        cursor: config.capture.cursor,
    };
    Ok(sightline_media::open_desktop(&opts)?)
}
