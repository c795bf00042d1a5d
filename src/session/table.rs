//! The session table: who is connected, with which role, watching what. A plain data structure with no lock,
//! no clock and no I/O: the [`super::SessionManager`] owns the only instance behind a mutex it never holds across
//! an `.await`, and passes the time in. Decisions (admission against `[server] max_sessions`, ids, kicks, the
//! rows operators and agents read) are unit-tested here without a runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sightline_monitor::{ConnectionId, Counters};
use sightline_signaling::Role;
use tokio_util::sync::CancellationToken;

use crate::peer::Peer;

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
    /// Whether sessions of this kind count against `[server] max_sessions`: every kind that can watch (a `/ws`
    /// socket, watching or not; a WHEP player; an MJPEG stream). MCP sessions watch nothing continuous (their
    /// pictures are one-shot) and are bounded by their own per-token quota and cap (`crate::mcp::sessions`).
    pub fn counted(self) -> bool {
        match self {
            Self::WebSocket | Self::Whep | Self::Mjpeg => true,
            Self::Mcp => false,
        }
    }
}

/// How a watch delivers the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchKind {
    /// H.264 over WebRTC, negotiated on `/ws`.
    Webrtc,
    /// JPEG frames over `/ws` (the fallback).
    Jpeg,
    /// H.264 over WebRTC, negotiated by WHEP.
    Whep,
    /// A `multipart/x-mixed-replace` JPEG stream over HTTP.
    Mjpeg,
}

impl WatchKind {
    /// The name in the session list, `/api/v1/status` and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webrtc => "webrtc",
            Self::Jpeg => "jpeg",
            Self::Whep => "whep",
            Self::Mjpeg => "mjpeg",
        }
    }
}

/// What a session is watching.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchInfo {
    /// Screen id.
    pub screen: String,
    /// `webrtc`, `jpeg`, `whep` or `mjpeg`.
    pub transport: WatchKind,
    /// The monitor connection of the watch (peer or JPEG stream), for its counters.
    pub connection: Option<ConnectionId>,
    /// The SFU instance serving the picture (`[sfu]`); absent when the gateway serves it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sfu: Option<String>,
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
#[error("the gateway is at its session limit ({0}); try again later")]
pub struct AtCapacity(pub usize);

/// What the table keeps of a session.
struct Entry {
    kind: SessionKind,
    role: Role,
    remote: Option<String>,
    started_at_ms: u64,
    connection: Option<ConnectionId>,
    watch: Option<WatchInfo>,
    /// Cancelled to end the session; its owner (socket task, WHEP task, MJPEG body, MCP registration) stops on it.
    kick: CancellationToken,
    /// The secret resource id of a WHEP session (its URL), so `PATCH` and `DELETE` find it.
    resource: Option<String>,
    /// A WHEP session's peer, for the player's trickled candidates (`PATCH`).
    peer: Option<Arc<Peer>>,
}

/// A newly admitted session: its id and the token its owner must stop on.
#[derive(Debug)]
pub struct Admitted {
    /// `s1`, `s2`, … never reused while the gateway runs.
    pub id: String,
    /// Cancelled by [`Table::kick`] and [`Table::kick_all`].
    pub kick: CancellationToken,
}

/// The table itself.
pub struct Table {
    max: usize,
    next_id: u64,
    entries: BTreeMap<String, Entry>,
}

impl Table {
    /// An empty table admitting at most `max` counted sessions (see [`SessionKind::counted`]).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            next_id: 1,
            entries: BTreeMap::new(),
        }
    }

    /// Sessions counted against `max`.
    fn counted(&self) -> usize {
        self.entries.values().filter(|e| e.kind.counted()).count()
    }

    /// Whether a new counted session would be refused.
    pub fn at_capacity(&self) -> bool {
        self.counted() >= self.max
    }

    /// Admits a session started at `now_ms` (ms since the Unix epoch).
    pub fn open(
        &mut self,
        kind: SessionKind,
        role: Role,
        remote: Option<String>,
        connection: Option<ConnectionId>,
        now_ms: u64,
    ) -> Result<Admitted, AtCapacity> {
        if kind.counted() && self.at_capacity() {
            return Err(AtCapacity(self.max));
        }
        let id = format!("s{}", self.next_id);
        self.next_id += 1;
        let kick = CancellationToken::new();
        self.entries.insert(
            id.clone(),
            Entry {
                kind,
                role,
                remote,
                started_at_ms: now_ms,
                connection,
                watch: None,
                kick: kick.clone(),
                resource: None,
                peer: None,
            },
        );
        Ok(Admitted { id, kick })
    }

    /// Records what a session watches (`None` when it stops).
    pub fn set_watch(&mut self, id: &str, watch: Option<WatchInfo>) {
        if let Some(e) = self.entries.get_mut(id) {
            e.watch = watch;
        }
    }

    /// WebRTC viewers of `/ws` the gateway itself serves on `screen` (the `[sfu] overflow` policy counts them).
    pub fn local_webrtc_viewers(&self, screen: &str) -> usize {
        self.entries
            .values()
            .filter_map(|e| e.watch.as_ref())
            .filter(|w| w.transport == WatchKind::Webrtc && w.sfu.is_none() && w.screen == screen)
            .count()
    }

    /// Gives a session a secret resource id (a WHEP session's URL).
    pub fn set_resource(&mut self, id: &str, resource: String) {
        if let Some(e) = self.entries.get_mut(id) {
            e.resource = Some(resource);
        }
    }

    /// Gives a session its peer (a WHEP session's).
    pub fn set_peer(&mut self, id: &str, peer: Arc<Peer>) {
        if let Some(e) = self.entries.get_mut(id) {
            e.peer = Some(peer);
        }
    }

    /// The session holding `resource`, when it watches `screen`, with its peer.
    pub fn by_resource(&self, resource: &str, screen: &str) -> Option<(String, Option<Arc<Peer>>)> {
        self.entries
            .iter()
            .find(|(_, e)| {
                e.resource.as_deref() == Some(resource)
                    && e.watch.as_ref().is_some_and(|w| w.screen == screen)
            })
            .map(|(id, e)| (id.clone(), e.peer.clone()))
    }

    /// Ends a session (an admin's `DELETE`, a WHEP `DELETE`). Returns whether it existed. A kicked WHEP session is
    /// no longer found by its resource id while its owner tears it down.
    pub fn kick(&mut self, id: &str) -> bool {
        match self.entries.get_mut(id) {
            Some(e) => {
                e.kick.cancel();
                e.resource = None;
                e.peer = None;
                true
            }
            None => false,
        }
    }

    /// Cancels every session (shutdown).
    pub fn kick_all(&self) {
        for e in self.entries.values() {
            e.kick.cancel();
        }
    }

    /// Removes a session (its owner ended).
    pub fn remove(&mut self, id: &str) {
        self.entries.remove(id);
    }

    /// Every session, oldest first, without live counters (the manager adds them from the monitor).
    pub fn rows(&self) -> Vec<SessionInfo> {
        let mut rows: Vec<SessionInfo> = self
            .entries
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
            .collect();
        rows.sort_by_key(|r| {
            (
                r.started_at_ms,
                r.id.trim_start_matches('s').parse::<u64>().unwrap_or(0),
            )
        });
        rows
    }

    /// Whether a session exists.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Watching sessions by transport (`webrtc`, `jpeg`, `whep`, `mjpeg`).
    pub fn viewers_by_transport(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for e in self.entries.values() {
            if let Some(w) = &e.watch {
                *out.entry(w.transport.as_str().to_owned()).or_insert(0) += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn removal_ends_the_row() {
        let mut t = Table::new(4);
        let a = t
            .open(SessionKind::WebSocket, Role::View, None, None, T0)
            .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.rows()[0].id, a.id);
        t.remove(&a.id);
        assert!(t.is_empty());
    }

    #[test]
    fn capacity_counts_every_viewer_kind() {
        let mut t = Table::new(2);
        let _a = t
            .open(SessionKind::WebSocket, Role::View, None, None, T0)
            .unwrap();
        let j = t
            .open(SessionKind::Mjpeg, Role::View, None, None, T0)
            .unwrap();
        assert!(t.at_capacity());
        for kind in [
            SessionKind::WebSocket,
            SessionKind::Whep,
            SessionKind::Mjpeg,
        ] {
            assert!(
                t.open(kind, Role::Admin, None, None, T0).is_err(),
                "{kind:?}"
            );
        }
        // MCP sessions have their own bound.
        let _m = t
            .open(SessionKind::Mcp, Role::Control, None, None, T0)
            .unwrap();
        assert_eq!(t.len(), 3);
        // An ended MJPEG stream frees its place.
        t.remove(&j.id);
        assert!(!t.at_capacity());
        assert!(
            t.open(SessionKind::Whep, Role::View, None, None, T0)
                .is_ok()
        );
    }

    #[test]
    fn kick_cancels_the_owner() {
        let mut t = Table::new(4);
        let a = t
            .open(
                SessionKind::WebSocket,
                Role::Admin,
                Some("127.0.0.1:5".into()),
                None,
                T0,
            )
            .unwrap();
        assert!(!a.kick.is_cancelled());
        assert!(t.kick(&a.id));
        assert!(a.kick.is_cancelled());
        assert!(!t.kick("s999"));
    }

    #[test]
    fn ids_are_never_reused_and_rows_are_oldest_first() {
        let mut t = Table::new(8);
        let a = t
            .open(SessionKind::WebSocket, Role::View, None, None, T0 + 5)
            .unwrap();
        t.remove(&a.id);
        let b = t
            .open(SessionKind::WebSocket, Role::View, None, None, T0 + 9)
            .unwrap();
        let c = t
            .open(SessionKind::Mcp, Role::View, None, None, T0 + 1)
            .unwrap();
        assert_ne!(a.id, b.id);
        let ids: Vec<String> = t.rows().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![c.id, b.id]);
    }

    #[test]
    fn watches_are_counted_by_transport() {
        let mut t = Table::new(4);
        let a = t
            .open(SessionKind::WebSocket, Role::View, None, None, T0)
            .unwrap();
        let b = t
            .open(SessionKind::WebSocket, Role::View, None, None, T0)
            .unwrap();
        let watch = |transport| WatchInfo {
            screen: "0".into(),
            transport,
            connection: None,
            sfu: None,
        };
        t.set_watch(&a.id, Some(watch(WatchKind::Webrtc)));
        t.set_watch(&b.id, Some(watch(WatchKind::Jpeg)));
        let by = t.viewers_by_transport();
        assert_eq!(by.get("webrtc"), Some(&1));
        assert_eq!(by.get("jpeg"), Some(&1));
        assert_eq!(t.local_webrtc_viewers("0"), 1);
        t.set_watch(
            &a.id,
            Some(WatchInfo {
                sfu: Some("janus-1".into()),
                ..watch(WatchKind::Webrtc)
            }),
        );
        assert_eq!(t.local_webrtc_viewers("0"), 0, "an SFU serves it");
        assert_eq!(t.viewers_by_transport().get("webrtc"), Some(&1));
        t.set_watch(&b.id, None);
        assert_eq!(t.viewers_by_transport().get("jpeg"), None);
    }

    #[test]
    fn a_whep_resource_is_found_only_with_its_screen() {
        let mut t = Table::new(4);
        let a = t
            .open(SessionKind::Whep, Role::View, None, None, T0)
            .unwrap();
        t.set_watch(
            &a.id,
            Some(WatchInfo {
                screen: "0".into(),
                transport: WatchKind::Whep,
                connection: None,
                sfu: None,
            }),
        );
        t.set_resource(&a.id, "secret".into());
        assert_eq!(
            t.by_resource("secret", "0").map(|r| r.0),
            Some(a.id.clone())
        );
        assert!(t.by_resource("secret", "1").is_none());
        assert!(t.by_resource("guess", "0").is_none());
    }

    #[test]
    fn watch_kinds_serialise_as_their_wire_names() {
        for k in [
            WatchKind::Webrtc,
            WatchKind::Jpeg,
            WatchKind::Whep,
            WatchKind::Mjpeg,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
