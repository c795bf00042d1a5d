//! The session table: who is connected, with which role, watching what. It is the single owner of that state;
//! the WebSocket transport, WHEP, REST and MCP all go through [`Sessions`], a cheap handle.
//!
//! The table is a plain map behind a mutex that is never held across an `.await` or any I/O: every method is a
//! short, synchronous edit or copy. A session is removed when its [`SessionGuard`] drops, so no exit path (error,
//! panic, kicked, socket dropped) can leave a stale entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sightline_monitor::{ConnectionId, Counters, Monitor};
use sightline_signaling::Role;
use tokio_util::sync::CancellationToken;

/// How a session reached the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// The `/ws` signaling socket (WebRTC or JPEG viewers, and command-only clients).
    WebSocket,
    /// A WHEP player.
    Whep,
    /// An MCP client (an AI agent).
    Mcp,
    /// An MJPEG HTTP stream.
    Mjpeg,
}

impl SessionKind {
    /// Whether sessions of this kind count against `[server] max_sessions` (viewer sessions do; MCP sessions and
    /// MJPEG streams are bounded by their own transports).
    fn counted(self) -> bool {
        matches!(self, Self::WebSocket | Self::Whep)
    }
}

/// What a session is watching.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchInfo {
    /// Screen id.
    pub screen: String,
    /// `webrtc`, `jpeg`, `whep` or `mjpeg`.
    pub transport: String,
    /// The monitor connection of the watch (peer or JPEG stream), for its counters.
    pub connection: Option<ConnectionId>,
}

/// One row of `GET /api/v1/sessions` and the MCP `list_sessions` tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Session id (`DELETE /api/v1/sessions/{id}` ends it).
    pub id: String,
    /// How it connected.
    pub kind: SessionKind,
    /// Its role.
    pub role: Role,
    /// Remote address, when known.
    pub remote: Option<String>,
    /// Wall-clock start, ms since the Unix epoch.
    pub started_at_ms: u64,
    /// The monitor connection of the session itself (the signaling socket, the WHEP peer, the MCP session).
    pub connection: Option<ConnectionId>,
    /// What it watches, if anything.
    pub watch: Option<WatchInfo>,
    /// Live counters of the watch (bytes, frames, bitrate, fps, RTT…), from the monitor.
    pub stats: Option<Counters>,
}

/// Refused because the gateway already serves `[server] max_sessions` sessions.
#[derive(Debug, thiserror::Error)]
#[error("the gateway serves its maximum of {0} sessions")]
pub struct AtCapacity(pub usize);

struct Entry {
    kind: SessionKind,
    role: Role,
    remote: Option<String>,
    started_at_ms: u64,
    connection: Option<ConnectionId>,
    watch: Option<WatchInfo>,
    kick: CancellationToken,
}

struct Table {
    next_id: u64,
    entries: BTreeMap<String, Entry>,
}

impl Table {
    /// Sessions counted against `[server] max_sessions`.
    fn counted(&self) -> usize {
        self.entries.values().filter(|e| e.kind.counted()).count()
    }
}

/// The handle to the session table.
#[derive(Clone)]
pub struct Sessions {
    table: Arc<Mutex<Table>>,
    max: usize,
    monitor: Monitor,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("len", &self.len())
            .finish()
    }
}

impl Sessions {
    /// An empty table admitting at most `max` sessions of kinds WebSocket and WHEP (MCP sessions and MJPEG streams
    /// are bounded by their own transports).
    pub fn new(max: usize, monitor: Monitor) -> Self {
        Self {
            table: Arc::new(Mutex::new(Table {
                next_id: 1,
                entries: BTreeMap::new(),
            })),
            max,
            monitor,
        }
    }

    /// Registers a session. `kick` is cancelled when an admin ends it; the session's owner must stop on that.
    pub fn open(
        &self,
        kind: SessionKind,
        role: Role,
        remote: Option<String>,
        connection: Option<ConnectionId>,
    ) -> Result<SessionGuard, AtCapacity> {
        let mut t = self.table.lock();
        if kind.counted() && t.counted() >= self.max {
            return Err(AtCapacity(self.max));
        }
        let id = format!("s{}", t.next_id);
        t.next_id += 1;
        let kick = CancellationToken::new();
        t.entries.insert(
            id.clone(),
            Entry {
                kind,
                role,
                remote,
                started_at_ms: now_ms(),
                connection,
                watch: None,
                kick: kick.clone(),
            },
        );
        Ok(SessionGuard {
            sessions: self.clone(),
            id,
            kick,
        })
    }

    /// Records what a session watches (`None` when it stops).
    pub fn set_watch(&self, id: &str, watch: Option<WatchInfo>) {
        if let Some(e) = self.table.lock().entries.get_mut(id) {
            e.watch = watch;
        }
    }

    /// Ends a session (an admin's `DELETE`). Returns whether it existed.
    pub fn kick(&self, id: &str) -> bool {
        match self.table.lock().entries.get(id) {
            Some(e) => {
                e.kick.cancel();
                true
            }
            None => false,
        }
    }

    /// Every session, oldest first, with live counters of what it watches.
    pub fn list(&self) -> Vec<SessionInfo> {
        let rows: Vec<SessionInfo> = {
            let t = self.table.lock();
            t.entries
                .iter()
                .map(|(id, e)| SessionInfo {
                    id: id.clone(),
                    kind: e.kind,
                    role: e.role,
                    remote: e.remote.clone(),
                    started_at_ms: e.started_at_ms,
                    connection: e.connection,
                    watch: e.watch.clone(),
                    stats: None,
                })
                .collect()
        };
        // Counters come from the monitor, read after the table lock is released.
        let mut rows: Vec<SessionInfo> = rows
            .into_iter()
            .map(|mut r| {
                let conn = r.watch.as_ref().and_then(|w| w.connection).or(r.connection);
                r.stats = conn
                    .and_then(|c| self.monitor.connection(c))
                    .map(|d| d.summary.counters);
                r
            })
            .collect();
        rows.sort_by_key(|r| {
            (
                r.started_at_ms,
                r.id.trim_start_matches('s').parse::<u64>().unwrap_or(0),
            )
        });
        rows
    }

    /// One session.
    pub fn get(&self, id: &str) -> Option<SessionInfo> {
        self.list().into_iter().find(|s| s.id == id)
    }

    /// Whether a new WebSocket or WHEP session would be refused (`[server] max_sessions` reached). Transports check
    /// this before accepting a client so a full gateway answers 503 rather than upgrading first.
    pub fn at_capacity(&self) -> bool {
        self.table.lock().counted() >= self.max
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.table.lock().entries.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Watching sessions by transport (`webrtc`, `jpeg`, `whep`, `mjpeg`).
    pub fn viewers_by_transport(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for e in self.table.lock().entries.values() {
            if let Some(w) = &e.watch {
                *out.entry(w.transport.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    /// Cancels every session (shutdown).
    pub fn kick_all(&self) {
        for e in self.table.lock().entries.values() {
            e.kick.cancel();
        }
    }

    fn remove(&self, id: &str) {
        self.table.lock().entries.remove(id);
    }
}

/// A registered session; dropping it removes the session from the table.
#[derive(Debug)]
pub struct SessionGuard {
    sessions: Sessions,
    id: String,
    kick: CancellationToken,
}

impl SessionGuard {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Cancelled when an admin ends the session or the gateway shuts down.
    pub fn kicked(&self) -> &CancellationToken {
        &self.kick
    }

    /// Records what the session watches.
    pub fn set_watch(&self, watch: Option<WatchInfo>) {
        self.sessions.set_watch(&self.id, watch);
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.remove(&self.id);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_monitor::MonitorConfig;

    fn sessions(max: usize) -> Sessions {
        Sessions::new(max, Monitor::new(MonitorConfig::default()))
    }

    #[test]
    fn guard_drop_removes_the_session() {
        let s = sessions(4);
        let g = s
            .open(SessionKind::WebSocket, Role::View, None, None)
            .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.list()[0].id, g.id());
        drop(g);
        assert!(s.is_empty());
    }

    #[test]
    fn capacity_counts_viewer_sessions_only() {
        let s = sessions(1);
        let _a = s
            .open(SessionKind::WebSocket, Role::View, None, None)
            .unwrap();
        assert!(s.open(SessionKind::Whep, Role::View, None, None).is_err());
        let _m = s.open(SessionKind::Mcp, Role::Control, None, None).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn kick_cancels_the_owner() {
        let s = sessions(4);
        let g = s
            .open(
                SessionKind::WebSocket,
                Role::Admin,
                Some("127.0.0.1:5".into()),
                None,
            )
            .unwrap();
        assert!(!g.kicked().is_cancelled());
        assert!(s.kick(g.id()));
        assert!(g.kicked().is_cancelled());
        assert!(!s.kick("s999"));
    }

    #[test]
    fn watches_are_counted_by_transport() {
        let s = sessions(4);
        let a = s
            .open(SessionKind::WebSocket, Role::View, None, None)
            .unwrap();
        let b = s
            .open(SessionKind::WebSocket, Role::View, None, None)
            .unwrap();
        a.set_watch(Some(WatchInfo {
            screen: "0".into(),
            transport: "webrtc".into(),
            connection: None,
        }));
        b.set_watch(Some(WatchInfo {
            screen: "0".into(),
            transport: "jpeg".into(),
            connection: None,
        }));
        let by = s.viewers_by_transport();
        assert_eq!(by.get("webrtc"), Some(&1));
        assert_eq!(by.get("jpeg"), Some(&1));
        b.set_watch(None);
        assert_eq!(s.viewers_by_transport().get("jpeg"), None);
    }
}
