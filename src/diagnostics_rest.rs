//! `GET /api/v0/mcp/monitor/webrtc/diagnostics` (role admin, like the other monitor endpoints): the abuse
//! report. The gateway-wide counters of [`crate::diagnostics`], the addresses banned now
//! ([`Limits::bans`](crate::ratelimit::Limits::bans)), and the connections with the most protocol violations and
//! rate-limited messages, read from their monitor counters.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sightline_monitor::{ConnectionId, ConnectionKind};

use crate::auth::{Admin, Auth};
use crate::diagnostics::DiagnosticsSnapshot;
use crate::session::SessionManager;

/// Connections listed in the report's `top_connections`: the worst offenders among the open and recently
/// closed connections the monitor keeps.
pub const TOP_CONNECTIONS: usize = 20;

/// `GET /api/v0/mcp/monitor/webrtc/diagnostics`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DiagnosticsReport {
    /// The gateway-wide counters.
    pub totals: DiagnosticsSnapshot,
    /// Addresses banned now.
    pub banned: Vec<BannedAddress>,
    /// The open and recently closed connections with the most violations and rate-limited messages, worst first
    /// (at most [`TOP_CONNECTIONS`]; connections with neither are not listed).
    pub top_connections: Vec<Offender>,
}

/// A banned address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BannedAddress {
    /// The IP address.
    pub address: String,
    /// The rest of its ban, in ms.
    pub remaining_ms: u64,
}

/// One connection's abuse figures.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Offender {
    /// Monitor connection id (its detail is under `…/connections/{id}`).
    pub id: ConnectionId,
    /// Connection kind.
    pub kind: ConnectionKind,
    /// Remote address.
    pub remote: Option<String>,
    /// Whether it is still open.
    pub open: bool,
    /// Messages received and sent.
    pub messages_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Protocol violations by kind.
    pub violations: BTreeMap<String, u64>,
    /// Messages refused by a rate limit.
    pub rate_limited: u64,
    /// The ban this connection earned, in ms.
    pub banned_ms: Option<u64>,
}

impl Offender {
    fn weight(&self) -> u64 {
        self.violations.values().sum::<u64>() + self.rate_limited
    }
}

/// The report now: counters, bans, worst connections.
pub fn report(manager: &SessionManager) -> DiagnosticsReport {
    let now = tokio::time::Instant::now().into_std();
    let banned = manager
        .limits()
        .bans(now)
        .into_iter()
        .map(|(ip, left)| BannedAddress {
            address: ip.to_string(),
            remaining_ms: millis(left),
        })
        .collect();
    let mut top: Vec<Offender> = manager
        .monitor_view()
        .connections()
        .into_iter()
        .map(|c| Offender {
            id: c.id,
            kind: c.kind,
            remote: c.attrs.remote,
            open: c.closed_ms.is_none(),
            messages_received: c.counters.messages_received,
            messages_sent: c.counters.messages_sent,
            violations: c.counters.violations,
            rate_limited: c.counters.rate_limited,
            banned_ms: c.counters.banned_ms,
        })
        .filter(|o| o.weight() > 0 || o.banned_ms.is_some())
        .collect();
    top.sort_by(|a, b| b.weight().cmp(&a.weight()).then(a.id.cmp(&b.id)));
    top.truncate(TOP_CONNECTIONS);
    DiagnosticsReport {
        totals: manager.diagnostics().snapshot(),
        banned,
        top_connections: top,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The diagnostics route (role admin, like the other monitor endpoints).
pub fn routes() -> Router<SessionManager> {
    Router::new().route(
        &format!("{}/diagnostics", crate::rest::MONITOR_PREFIX),
        get(diagnostics),
    )
}

async fn diagnostics(
    State(manager): State<SessionManager>,
    _auth: Auth<Admin>,
) -> Json<DiagnosticsReport> {
    Json(report(&manager))
}
