//! The device's side of the fleet (`sightline device`): this sightline dials out to its hub and serves its own
//! screens there. The protocol is `sightline_signaling::fleet`.
//!
//! # Parts
//! - [`identity`]: the stable id (generated once, kept in `[hub] id_file`) and the name.
//! - [`dial`]: the connect URL, TCP, TLS for `wss://`, the WebSocket handshake with the device token.
//! - [`backoff`]: when to dial again (a plain state machine).
//! - `link`: one connection — hello/welcome, heartbeats, screen announcements, the hub's requests.
//! - `streams`: the hub's video and JPEG streams, served from the local engine; `outbox`: the bounded write path
//!   (control messages never dropped, media dropped when full); `calls`: input, MCP tools (through
//!   [`crate::mcp::local`]) and snapshots.
//!
//! # The loop
//! [`run`] dials, serves the link until it ends, waits a backoff delay, and dials again, until the device shuts
//! down. Each connection is a monitor connection ([`LINK_KIND`]); every task of a connection (its writer, each
//! stream, each call) is owned by it, so leak detection sees any that outlives it.

pub mod backoff;
mod bounds;
mod calls;
pub mod dial;
pub mod identity;
mod link;
mod outbox;
mod streams;
#[cfg(test)]
mod tests;

use std::time::Instant;

use sightline_monitor::{ConnectionAttrs, ConnectionKind, Lifecycle};
use tokio_util::sync::CancellationToken;

pub use backoff::Backoff;
pub use bounds::{DEVICE_OUTBOX, MAX_DEVICE_CALLS, MAX_DEVICE_STREAMS, SCREENS_POLL};
pub use calls::kind_name;
pub use identity::Identity;
pub use link::remote_screens;

use crate::config::HubConfig;
use crate::mcp::local::LocalMcp;
use crate::session::SessionManager;

/// The monitor connection kind of a device's link to its hub (the hub records its end of a link the same way).
pub const LINK_KIND: ConnectionKind = ConnectionKind::Device;

/// Runs the device's link to its hub until `shutdown` is cancelled: dial, serve, back off, dial again. Returns at
/// once (with an error line logged) when `[hub] url` cannot be dialled at all (a bad URL or `ca_file`).
pub async fn run(
    manager: SessionManager,
    hub: HubConfig,
    identity: Identity,
    shutdown: CancellationToken,
) {
    let target = match dial::target(&hub.url) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot dial the hub: [hub] url");
            return;
        }
    };
    let tls = if target.secure {
        match dial::tls_config(&hub.ca_file) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot dial the hub");
                return;
            }
        }
    } else {
        None
    };
    let mcp = start_mcp(&manager, &shutdown).await;
    let mut backoff = Backoff::new(hub.reconnect_min_ms, hub.reconnect_max_ms);
    let mut ctx = link::Ctx {
        manager,
        identity,
        hub,
        target,
        tls,
        mcp,
        shutdown,
    };
    loop {
        if ctx.shutdown.is_cancelled() {
            return;
        }
        // The in-process MCP session ends if an administrator ends it (it is listed with the sessions): a new one
        // serves the next link.
        if ctx.mcp.as_ref().is_none_or(|m| !m.is_alive()) {
            ctx.mcp = start_mcp(&ctx.manager, &ctx.shutdown).await;
        }
        let conn = ctx.manager.open_connection(
            LINK_KIND,
            ConnectionAttrs {
                role: Some("device".into()),
                remote: Some(ctx.target.url.clone()),
                ..ConnectionAttrs::default()
            },
        );
        conn.event(format!(
            "device {} {:?} dialling its hub",
            ctx.identity.id, ctx.identity.name
        ));
        conn.set_lifecycle(Lifecycle::Connecting);
        tracing::info!(hub = %ctx.target.url, "dialling the hub");
        let started = Instant::now();
        let outcome = link::run(&ctx, &conn).await;
        match outcome {
            link::Outcome::Shutdown => {
                conn.close("the device shut down");
                tracing::info!("device link closed: shutting down");
                return;
            }
            link::Outcome::Refused(reason) => {
                conn.close(&format!("refused: {reason}"));
                tracing::error!(hub = %ctx.target.url, "the hub refused this device: {reason}");
                backoff.refused();
            }
            link::Outcome::DialFailed(dial::DialError::Unauthorized(status, body)) => {
                conn.close(&format!("token refused (HTTP {status})"));
                tracing::error!(
                    hub = %ctx.target.url,
                    "the hub refused the device token (HTTP {status}): {body}; check --token / [hub] token / SIGHTLINE_DEVICE_TOKEN"
                );
                backoff.refused();
            }
            link::Outcome::DialFailed(e) => {
                conn.close(&e.to_string());
                tracing::warn!(error = %e, "cannot reach the hub");
            }
            link::Outcome::NotWelcomed(reason) => {
                conn.close(&reason);
                tracing::warn!(hub = %ctx.target.url, reason, "the hub did not welcome this device");
            }
            link::Outcome::Ended { up_for, reason } => {
                conn.close(&reason);
                tracing::warn!(up_s = up_for.as_secs(), reason, "device link down");
                backoff.link_ended(up_for);
            }
        }
        drop(conn);
        let delay = backoff.next_delay(rand::random::<f64>());
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            tried_for_ms = started.elapsed().as_millis() as u64,
            "reconnecting to the hub"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = ctx.shutdown.cancelled() => return,
        }
    }
}

async fn start_mcp(manager: &SessionManager, shutdown: &CancellationToken) -> Option<LocalMcp> {
    match LocalMcp::start(manager, "device link", shutdown.child_token()).await {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(error = %e, "the device's MCP server did not start: tool calls will fail");
            None
        }
    }
}
