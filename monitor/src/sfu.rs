//! SFU publishing statistics ([`SfuStats`]): the Janus instances the gateway routes viewers to (up or down, their
//! viewers, health failures) and every stream it publishes (RTP to a Janus mountpoint, or a WHIP egress) with its
//! byte, packet, keyframe and feedback counters.
//!
//! The gateway owns the decisions; the monitor only records them. An instance's row is replaced whole by
//! [`SfuStats::set_instance`] (the health checker calls it once a period); a publication is a
//! [`PublicationHandle`] whose counters the publisher task bumps on its hot path (relaxed atomics, no lock) and
//! whose row disappears from the snapshot when its last clone is dropped.
//!
//! A leaf module: it imports only the plain clock of `clock.rs`; the registry holds one [`SfuStats`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// Instances shown at most: far above any sane `[[sfu.janus]]` list; further names are not recorded (a bug in the
/// caller, logged once per name).
pub const MAX_SFU_INSTANCES: usize = 64;

/// Publications shown at most (one per instance × screen × tier, plus WHIP egresses, themselves capped at 16).
/// A handle created beyond it still counts, but its row is not in the snapshot.
pub const MAX_PUBLICATIONS: usize = 1024;

/// What the gateway knows of one SFU instance, as its health checker last reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceState {
    /// The instance's API URL (the configured `url`).
    pub url: String,
    /// Whether the instance passes its health checks and gets new viewers.
    pub up: bool,
    /// Viewers the gateway routed to it and that are still watching.
    pub viewers: u64,
    /// Streams the gateway publishes to it now.
    pub publications: u64,
    /// Failed health checks since start.
    pub failures_total: u64,
    /// The last failure's text, if it ever failed.
    pub last_error: Option<String>,
}

/// One instance in a [`SfuSnapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSnapshot {
    /// The configured instance name (`janus-1`).
    pub name: String,
    /// Its state.
    #[serde(flatten)]
    pub state: InstanceState,
}

/// One published stream in a [`SfuSnapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicationSnapshot {
    /// Unique for the life of the process.
    pub id: u64,
    /// `janus` (RTP to a mountpoint) or `whip` (a WHIP egress).
    pub kind: String,
    /// Where it goes: the instance name, or the WHIP endpoint.
    pub target: String,
    /// The screen published.
    pub screen: String,
    /// The quality tier published (its name or index).
    pub tier: String,
    /// The Janus mountpoint id, for a Janus publication whose mountpoint exists.
    pub mountpoint: Option<u64>,
    /// The mountpoint's secret, with which an admin can ask Janus about it (`info`: its viewers) directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mountpoint_secret: Option<String>,
    /// When the publication started, epoch milliseconds.
    pub started_ms: u64,
    /// Payload bytes sent (RTP packets, headers included).
    pub bytes: u64,
    /// RTP packets sent.
    pub packets: u64,
    /// Keyframes (IDR access units) sent.
    pub keyframes: u64,
    /// Picture Loss Indications received.
    pub plis: u64,
    /// Full Intra Requests received.
    pub firs: u64,
    /// The last REMB estimate received, bit/s (0 = none yet).
    pub remb_bps: u64,
    /// Viewers watching this stream through the SFU.
    pub viewers: u64,
    /// Sends that failed (e.g. the SFU is gone and the host answers with ICMP unreachable).
    pub send_errors: u64,
}

/// Everything the SFU panel shows: what `GET /api/v1/sfu` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SfuSnapshot {
    /// Instances by name.
    pub instances: Vec<InstanceSnapshot>,
    /// Publications, oldest first.
    pub publications: Vec<PublicationSnapshot>,
}

impl SfuSnapshot {
    /// Whether there is nothing to show (no instance configured, nothing published).
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.publications.is_empty()
    }
}

/// The counters of one publication, shared by its handles.
#[derive(Debug)]
struct PubRecord {
    id: u64,
    kind: String,
    target: String,
    screen: String,
    tier: String,
    started_ms: u64,
    /// 0 = none.
    mountpoint: AtomicU64,
    mountpoint_secret: Mutex<Option<String>>,
    bytes: AtomicU64,
    packets: AtomicU64,
    keyframes: AtomicU64,
    plis: AtomicU64,
    firs: AtomicU64,
    remb_bps: AtomicU64,
    viewers: AtomicU64,
    send_errors: AtomicU64,
}

impl PubRecord {
    fn snapshot(&self) -> PublicationSnapshot {
        PublicationSnapshot {
            id: self.id,
            kind: self.kind.clone(),
            target: self.target.clone(),
            screen: self.screen.clone(),
            tier: self.tier.clone(),
            mountpoint: Some(self.mountpoint.load(Relaxed)).filter(|&m| m != 0),
            mountpoint_secret: self.mountpoint_secret.lock().clone(),
            started_ms: self.started_ms,
            bytes: self.bytes.load(Relaxed),
            packets: self.packets.load(Relaxed),
            keyframes: self.keyframes.load(Relaxed),
            plis: self.plis.load(Relaxed),
            firs: self.firs.load(Relaxed),
            remb_bps: self.remb_bps.load(Relaxed),
            viewers: self.viewers.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
        }
    }
}

type PubTable = Mutex<BTreeMap<u64, Arc<PubRecord>>>;

/// The gateway's SFU instances and publications. One per [`Monitor`](crate::Monitor), reached through
/// [`Monitor::sfu`](crate::Monitor::sfu).
#[derive(Debug)]
pub struct SfuStats {
    clock: Clock,
    next_id: AtomicU64,
    instances: Mutex<BTreeMap<String, InstanceState>>,
    /// Shared (as a `Weak`) with each publication, which removes its own row when its last handle goes.
    publications: Arc<PubTable>,
}

impl SfuStats {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            clock,
            next_id: AtomicU64::new(0),
            instances: Mutex::new(BTreeMap::new()),
            publications: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Records (replaces) the state of instance `name`.
    pub fn set_instance(&self, name: &str, state: InstanceState) {
        let mut map = self.instances.lock();
        if map.len() >= MAX_SFU_INSTANCES && !map.contains_key(name) {
            drop(map);
            tracing::warn!(
                instance = name,
                "more than {MAX_SFU_INSTANCES} SFU instances: not recorded"
            );
            return;
        }
        map.insert(name.to_owned(), state);
    }

    /// Forgets instance `name` (removed from the configuration).
    pub fn remove_instance(&self, name: &str) {
        self.instances.lock().remove(name);
    }

    /// Registers a published stream: `kind` is `janus` or `whip`, `target` the instance name or WHIP endpoint.
    /// Its row lives until the last clone of the returned handle is dropped.
    pub fn publication(
        &self,
        kind: &str,
        target: &str,
        screen: &str,
        tier: &str,
    ) -> PublicationHandle {
        let record = Arc::new(PubRecord {
            id: self.next_id.fetch_add(1, Relaxed) + 1,
            kind: kind.to_owned(),
            target: target.to_owned(),
            screen: screen.to_owned(),
            tier: tier.to_owned(),
            started_ms: self.clock.epoch_ms(Instant::now()),
            mountpoint: AtomicU64::new(0),
            mountpoint_secret: Mutex::new(None),
            bytes: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            keyframes: AtomicU64::new(0),
            plis: AtomicU64::new(0),
            firs: AtomicU64::new(0),
            remb_bps: AtomicU64::new(0),
            viewers: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
        });
        let mut table = self.publications.lock();
        let listed = table.len() < MAX_PUBLICATIONS;
        if listed {
            table.insert(record.id, record.clone());
        } else {
            drop(table);
            tracing::warn!(
                kind,
                target,
                screen,
                "more than {MAX_PUBLICATIONS} publications: not listed"
            );
        }
        PublicationHandle(Arc::new(Registration {
            record,
            table: listed.then(|| Arc::downgrade(&self.publications)),
        }))
    }

    /// The instances and publications now.
    pub fn snapshot(&self) -> SfuSnapshot {
        let instances = self
            .instances
            .lock()
            .iter()
            .map(|(name, state)| InstanceSnapshot {
                name: name.clone(),
                state: state.clone(),
            })
            .collect();
        let records: Vec<_> = self.publications.lock().values().cloned().collect();
        SfuSnapshot {
            instances,
            publications: records.iter().map(|r| r.snapshot()).collect(),
        }
    }
}

/// Removes a publication's row when the last handle goes.
#[derive(Debug)]
struct Registration {
    record: Arc<PubRecord>,
    /// `None` when the row was never listed ([`MAX_PUBLICATIONS`]).
    table: Option<Weak<PubTable>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(table) = self.table.as_ref().and_then(Weak::upgrade) {
            table.lock().remove(&self.record.id);
        }
    }
}

/// The counters of one published stream. Cheap to clone (the publisher task and the gateway's publication
/// registry each keep one); the row leaves the snapshot when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct PublicationHandle(Arc<Registration>);

impl PublicationHandle {
    fn r(&self) -> &PubRecord {
        &self.0.record
    }

    /// The publication's id (as in [`PublicationSnapshot::id`]).
    pub fn id(&self) -> u64 {
        self.r().id
    }

    /// Records the Janus mountpoint the stream goes to (0 = none) and its secret.
    pub fn set_mountpoint(&self, id: u64, secret: &str) {
        self.r().mountpoint.store(id, Relaxed);
        *self.r().mountpoint_secret.lock() = (id != 0).then(|| secret.to_owned());
    }

    /// Counts `packets` RTP packets of `bytes` bytes in total sent.
    pub fn add_sent(&self, packets: u64, bytes: u64) {
        self.r().packets.fetch_add(packets, Relaxed);
        self.r().bytes.fetch_add(bytes, Relaxed);
    }

    /// Counts a keyframe sent.
    pub fn add_keyframe(&self) {
        self.r().keyframes.fetch_add(1, Relaxed);
    }

    /// Counts a Picture Loss Indication received.
    pub fn add_pli(&self) {
        self.r().plis.fetch_add(1, Relaxed);
    }

    /// Counts a Full Intra Request received.
    pub fn add_fir(&self) {
        self.r().firs.fetch_add(1, Relaxed);
    }

    /// Records the last REMB estimate received, bit/s.
    pub fn set_remb(&self, bps: u64) {
        self.r().remb_bps.store(bps, Relaxed);
    }

    /// Counts a failed send.
    pub fn add_send_error(&self) {
        self.r().send_errors.fetch_add(1, Relaxed);
    }

    /// Sets the number of viewers watching through the SFU.
    pub fn set_viewers(&self, n: u64) {
        self.r().viewers.store(n, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> PublicationSnapshot {
        self.r().snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> SfuStats {
        SfuStats::new(Clock::new())
    }

    #[test]
    fn publications_count_and_leave_with_their_last_handle() {
        let s = stats();
        let a = s.publication("janus", "janus-1", "0", "t0");
        let b = s.publication("whip", "https://ingest/whip", "0", "t1");
        a.add_sent(3, 3000);
        a.add_sent(1, 500);
        a.add_keyframe();
        a.add_pli();
        a.add_pli();
        a.add_fir();
        a.set_remb(2_500_000);
        a.set_viewers(7);
        a.add_send_error();
        a.set_mountpoint(42, "s");
        let snap = s.snapshot();
        assert_eq!(snap.publications.len(), 2);
        let p = &snap.publications[0];
        assert_eq!((p.kind.as_str(), p.target.as_str()), ("janus", "janus-1"));
        assert_eq!((p.packets, p.bytes, p.keyframes), (4, 3500, 1));
        assert_eq!(
            (p.plis, p.firs, p.remb_bps, p.viewers),
            (2, 1, 2_500_000, 7)
        );
        assert_eq!(p.send_errors, 1);
        assert_eq!(p.mountpoint, Some(42));
        assert_eq!(snap.publications[1].mountpoint, None);
        assert!(p.started_ms > 0);
        assert_ne!(a.id(), b.id());

        let a2 = a.clone();
        drop(a);
        assert_eq!(s.snapshot().publications.len(), 2, "a clone still holds it");
        drop(a2);
        let snap = s.snapshot();
        assert_eq!(snap.publications.len(), 1);
        assert_eq!(snap.publications[0].kind, "whip");
        drop(b);
        assert!(s.snapshot().is_empty());
    }

    #[test]
    fn instances_are_replaced_by_name_and_capped() {
        let s = stats();
        s.set_instance(
            "janus-1",
            InstanceState {
                url: "http://127.0.0.1:8088/janus".into(),
                up: true,
                viewers: 3,
                ..Default::default()
            },
        );
        s.set_instance(
            "janus-1",
            InstanceState {
                up: false,
                failures_total: 2,
                last_error: Some("connection refused".into()),
                ..Default::default()
            },
        );
        let snap = s.snapshot();
        assert_eq!(snap.instances.len(), 1);
        assert!(!snap.instances[0].state.up);
        assert_eq!(snap.instances[0].state.failures_total, 2);
        for i in 0..MAX_SFU_INSTANCES + 5 {
            s.set_instance(&format!("j{i}"), InstanceState::default());
        }
        assert_eq!(s.snapshot().instances.len(), MAX_SFU_INSTANCES);
        s.remove_instance("janus-1");
        assert!(s.snapshot().instances.iter().all(|i| i.name != "janus-1"));
    }

    #[test]
    fn the_snapshot_is_flat_json() {
        let s = stats();
        s.set_instance(
            "janus-1",
            InstanceState {
                url: "http://x".into(),
                up: true,
                ..Default::default()
            },
        );
        let _p = s.publication("janus", "janus-1", "0", "t0");
        let v = serde_json::to_value(s.snapshot()).unwrap();
        assert_eq!(v["instances"][0]["name"], "janus-1");
        assert_eq!(v["instances"][0]["up"], true);
        assert_eq!(v["instances"][0]["url"], "http://x");
        assert_eq!(v["publications"][0]["tier"], "t0");
        let back: SfuSnapshot = serde_json::from_value(v).unwrap();
        assert_eq!(back, s.snapshot());
    }

    #[test]
    fn publications_beyond_the_cap_count_but_are_not_listed() {
        let s = stats();
        let handles: Vec<_> = (0..MAX_PUBLICATIONS)
            .map(|_| s.publication("janus", "j", "0", "t0"))
            .collect();
        let extra = s.publication("janus", "j", "0", "t0");
        extra.add_sent(1, 10);
        assert_eq!(extra.snapshot().bytes, 10);
        assert_eq!(s.snapshot().publications.len(), MAX_PUBLICATIONS);
        drop(extra);
        assert_eq!(s.snapshot().publications.len(), MAX_PUBLICATIONS);
        drop(handles);
        assert!(s.snapshot().publications.is_empty());
    }
}
