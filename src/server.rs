//! Start-up and shutdown of the whole gateway: monitor → screen backend → media engine → TLS and the HTTP edge
//! ([`crate::edge`]) (and the stdio MCP server in `sightline mcp`, the link to the hub in `sightline device`), then
//! a shutdown that signals everyone and waits.
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
use crate::fleet::device::Identity;
use crate::session::SessionManager;

/// How the gateway is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// HTTP only (`sightline serve`).
    Http,
    /// HTTP plus MCP over stdin/stdout (`sightline mcp`); ends when stdin closes.
    Stdio,
    /// A device dialling out to its hub (`sightline device`, [`crate::fleet::device`]): `[capture] cursor` is
    /// forced to `video` (relayed pictures show the pointer), and the HTTP server runs only with
    /// `[hub] local_server = true` ([`serve`]; [`start_with_mode`] always starts it, [`start_device`] never).
    Device,
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
    /// The device's id and name, in [`Mode::Device`].
    pub device: Option<Identity>,
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
    let config = for_mode(config, mode);
    let device = match mode {
        Mode::Device => Some(identity(&config).await?),
        Mode::Http | Mode::Stdio => None,
    };
    let Core {
        shutdown,
        monitor,
        engine,
        tokens,
        generated_token,
    } = Core::start(&config).await?;

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
    let link = device
        .clone()
        .map(|identity| spawn_link(&gateway, identity, &shutdown));
    let server = {
        let gateway = gateway.clone();
        let shutdown = shutdown.clone();
        monitor.spawn("http-server", Owner::Gateway, async move {
            edge.run(app, gateway.clone(), shutdown).await;
            end_link(link).await;
            gateway.shut_down().await;
        })
    };
    end_sessions_on_shutdown(&gateway, &shutdown);
    Ok(Running {
        addr,
        scheme,
        cert,
        redirect_addr,
        generated_token,
        gateway,
        device,
        shutdown,
        server,
    })
}

/// A device without an HTTP server ([`start_device`]).
#[derive(Debug)]
pub struct RunningDevice {
    /// The device's id and name.
    pub identity: Identity,
    /// The application state.
    pub gateway: SessionManager,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl RunningDevice {
    /// Stops the device (its link closes with 1001) and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}

/// Builds every part of a device but the HTTP server, and starts its link to the hub (`[hub]`, checked by the
/// caller: a URL and a token); returns at once, the link dials in the background.
pub async fn start_device(config: Config) -> anyhow::Result<RunningDevice> {
    let config = for_mode(config, Mode::Device);
    let identity = identity(&config).await?;
    let Core {
        shutdown,
        monitor,
        engine,
        tokens,
        generated_token: _,
    } = Core::start(&config).await?;
    let gateway = SessionManager::new(config, tokens, engine, monitor.clone(), shutdown.clone());
    let link = spawn_link(&gateway, identity.clone(), &shutdown);
    let server = {
        let gateway = gateway.clone();
        let shutdown = shutdown.clone();
        monitor.spawn("device-server", Owner::Gateway, async move {
            shutdown.cancelled().await;
            end_link(Some(link)).await;
            gateway.shut_down().await;
        })
    };
    end_sessions_on_shutdown(&gateway, &shutdown);
    Ok(RunningDevice {
        identity,
        gateway,
        shutdown,
        server,
    })
}

/// How long shutdown waits for the device link to tell its hub (close 1001) before the engine stops.
const LINK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The configuration as `mode` runs it: a device paints the pointer into its frames.
fn for_mode(mut config: Config, mode: Mode) -> Config {
    if mode == Mode::Device {
        config.capture.cursor = sightline_media::CursorMode::Video;
    }
    config
}

/// Reads or creates the device's id file (blocking I/O, on the blocking pool).
async fn identity(config: &Config) -> anyhow::Result<Identity> {
    let hub = config.hub.clone();
    tokio::task::spawn_blocking(move || Identity::resolve(&hub))
        .await
        .context("reading the device id panicked")?
        .map_err(|e| anyhow::anyhow!(e))
}

fn spawn_link(
    gateway: &SessionManager,
    identity: Identity,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    gateway.spawn(
        "device-link",
        Owner::Gateway,
        crate::fleet::device::run(
            gateway.clone(),
            gateway.config().hub.clone(),
            identity,
            shutdown.clone(),
        ),
    )
}

async fn end_link(link: Option<tokio::task::JoinHandle<()>>) {
    if let Some(link) = link
        && tokio::time::timeout(LINK_GRACE, link).await.is_err()
    {
        tracing::warn!("the device link did not close in time");
    }
}

/// Sessions end when the gateway shuts down, so graceful shutdown is not held open by WebSockets.
fn end_sessions_on_shutdown(gateway: &SessionManager, shutdown: &CancellationToken) {
    let gateway = gateway.clone();
    let shutdown = shutdown.clone();
    gateway
        .clone()
        .spawn("shutdown-sessions", Owner::Gateway, async move {
            shutdown.cancelled().await;
            gateway.end_all_sessions();
        });
}

/// The parts every mode starts first: the monitor, the screen backend, the media engine and the tokens.
struct Core {
    shutdown: CancellationToken,
    monitor: Monitor,
    engine: Engine,
    tokens: Tokens,
    generated_token: Option<String>,
}

impl Core {
    async fn start(config: &Config) -> anyhow::Result<Self> {
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
        Ok(Self {
            shutdown,
            monitor,
            engine,
            tokens,
            generated_token,
        })
    }
}

/// Runs the gateway until Ctrl-C / SIGTERM (or, in stdio mode, until stdin closes).
pub async fn serve(config: Config, mode: Mode) -> anyhow::Result<()> {
    if mode == Mode::Device && !config.hub.local_server {
        return serve_device(config).await;
    }
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
        Mode::Device => {
            if let Some(c) = &cert_line {
                println!("{c}");
            }
            println!("{line}");
            if let Some(d) = &running.device {
                eprintln!("{}", device_line(d, &running.gateway));
            }
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
        Mode::Http | Mode::Device => {
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

/// `sightline device <id> "<name>" dialling <url>`: the ready line of a device.
fn device_line(identity: &Identity, gateway: &SessionManager) -> String {
    format!(
        "sightline device {} {:?} dialling {}",
        identity.id,
        identity.name,
        gateway.config().hub.url
    )
}

/// Runs a device without an HTTP server until Ctrl-C / SIGTERM.
async fn serve_device(config: Config) -> anyhow::Result<()> {
    let running = start_device(config).await?;
    let signalled = shutdown_signal();
    eprintln!("{}", device_line(&running.identity, &running.gateway));
    tracing::info!(id = %running.identity.id, name = %running.identity.name, "device ready (no HTTP listener: [hub] local_server = false)");
    let stop = running.shutdown.clone();
    tokio::select! {
        () = signalled => tracing::info!("shutting down"),
        () = stop.cancelled() => {}
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
