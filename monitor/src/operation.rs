//! Operations: significant, individually timed actions (create offer, set remote description, keyframe request,
//! encoder restart, snapshot, MCP tool call, input injection, …).
//!
//! [`crate::Monitor::operation`] returns an [`Operation`] guard that is *running* until it is finished with
//! [`Operation::ok`] or [`Operation::fail`]; a guard dropped unfinished records the result `abandoned` (an error:
//! an early `?` return or a cancelled future). Finished operations go to a bounded list of recent ones and to
//! per-kind statistics: success/failure counts, mean duration over the process lifetime and p95 over the last
//! [`OP_STATS_WINDOW`] operations of that kind. Failed and slow operations also get a log file.
//!
//! An operation may carry a JSON [`Operation::detail`] (what was asked and what came of it): the MCP audit trail
//! records each tool call's name, arguments and result there. It shows in the running list, the recent list and
//! the log file, bounded by [`MAX_DETAIL_BYTES`].

use std::collections::{HashMap, VecDeque};
use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, ms};
use crate::hub::Hub;
use crate::metrics::histogram::AtomicHistogram;
use crate::snapshot::{OperationKindStats, OperationResult, OperationSnapshot, OperationsSnapshot};
use crate::types::ConnectionId;

/// Durations kept per operation kind for the p95. 1024 covers minutes of the busiest kinds (keyframe requests,
/// input injection) while costing 8 KiB per kind; older durations fall out of the percentile, not of the mean.
pub const OP_STATS_WINDOW: usize = 1024;

/// Largest serialised [`Operation::detail`] kept, in bytes. The recent list holds up to
/// `MonitorConfig::recent_operations` snapshots (1000 by default), so 4 KiB each bounds the audit trail to a few
/// MiB; a larger detail is replaced by its truncated JSON text (a string), never dropped silently.
pub const MAX_DETAIL_BYTES: usize = 4096;

/// Bucket bounds (seconds) of `sightline_operation_duration_seconds`: from sub-millisecond input injection to
/// multi-second ICE-dependent operations.
pub(crate) const OP_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub(crate) struct RunningOp {
    kind: &'static str,
    conn: Option<ConnectionId>,
    started: Instant,
    detail: Option<serde_json::Value>,
}

pub(crate) struct KindStats {
    ok: u64,
    error: u64,
    abandoned: u64,
    total_ms: f64,
    max_ms: f64,
    window: VecDeque<f64>,
    pub(crate) histogram: AtomicHistogram,
}

impl Default for KindStats {
    fn default() -> Self {
        Self {
            ok: 0,
            error: 0,
            abandoned: 0,
            total_ms: 0.0,
            max_ms: 0.0,
            window: VecDeque::new(),
            histogram: AtomicHistogram::new(OP_BUCKETS),
        }
    }
}

impl KindStats {
    fn record(&mut self, result: OperationResult, duration_ms: f64) {
        match result {
            OperationResult::Ok => self.ok += 1,
            OperationResult::Error => self.error += 1,
            OperationResult::Abandoned | OperationResult::Running => self.abandoned += 1,
        }
        self.total_ms += duration_ms;
        self.max_ms = self.max_ms.max(duration_ms);
        if self.window.len() >= OP_STATS_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(duration_ms);
        self.histogram.observe(duration_ms / 1000.0);
    }

    pub(crate) fn finished(&self) -> u64 {
        self.ok + self.error + self.abandoned
    }

    pub(crate) fn counts(&self) -> [(OperationResult, u64); 3] {
        [
            (OperationResult::Ok, self.ok),
            (OperationResult::Error, self.error),
            (OperationResult::Abandoned, self.abandoned),
        ]
    }

    fn snapshot(&self, kind: &str, running: u64) -> OperationKindStats {
        let n = self.finished();
        OperationKindStats {
            kind: kind.to_owned(),
            running,
            ok: self.ok,
            failed: self.error + self.abandoned,
            abandoned: self.abandoned,
            mean_ms: if n == 0 {
                0.0
            } else {
                self.total_ms / n as f64
            },
            p95_ms: percentile(self.window.iter().copied(), 0.95),
            max_ms: self.max_ms,
        }
    }
}

/// Nearest-rank percentile (`q` in 0..=1) of the values; 0 for none.
pub(crate) fn percentile(values: impl Iterator<Item = f64>, q: f64) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The operation registry: running operations, the recent ring and per-kind statistics.
pub(crate) struct OpTable {
    running: HashMap<u64, RunningOp>,
    recent: VecDeque<OperationSnapshot>,
    recent_len: usize,
    pub(crate) stats: HashMap<&'static str, KindStats>,
}

impl OpTable {
    pub(crate) fn new(recent_len: usize) -> Self {
        Self {
            running: HashMap::new(),
            recent: VecDeque::new(),
            recent_len,
            stats: HashMap::new(),
        }
    }

    pub(crate) fn start(
        &mut self,
        id: u64,
        kind: &'static str,
        conn: Option<ConnectionId>,
        started: Instant,
    ) {
        self.running.insert(
            id,
            RunningOp {
                kind,
                conn,
                started,
                detail: None,
            },
        );
    }

    pub(crate) fn set_detail(&mut self, id: u64, detail: &serde_json::Value) {
        if let Some(r) = self.running.get_mut(&id) {
            r.detail = Some(detail.clone());
        }
    }

    pub(crate) fn finish(&mut self, snap: OperationSnapshot, kind: &'static str) {
        self.running.remove(&snap.id);
        self.stats
            .entry(kind)
            .or_default()
            .record(snap.result, snap.duration_ms);
        if self.recent_len == 0 {
            return;
        }
        while self.recent.len() >= self.recent_len {
            self.recent.pop_front();
        }
        self.recent.push_back(snap);
    }

    fn running_snapshot(
        &self,
        clock: &Clock,
        now: Instant,
        conn: Option<ConnectionId>,
    ) -> Vec<OperationSnapshot> {
        let mut v: Vec<_> = self
            .running
            .iter()
            .filter(|(_, r)| conn.is_none() || r.conn == conn)
            .map(|(id, r)| OperationSnapshot {
                id: *id,
                kind: r.kind.to_owned(),
                connection: r.conn,
                started_ms: clock.epoch_ms(r.started),
                duration_ms: ms(now.saturating_duration_since(r.started)),
                result: OperationResult::Running,
                error: None,
                detail: r.detail.clone(),
            })
            .collect();
        v.sort_by_key(|o| o.id);
        v
    }

    /// Statistics by kind, sorted by kind; kinds running for the first time are included with zero counts.
    pub(crate) fn by_kind(&self) -> Vec<OperationKindStats> {
        let mut running_by_kind: HashMap<&str, u64> = HashMap::new();
        for r in self.running.values() {
            *running_by_kind.entry(r.kind).or_default() += 1;
        }
        let mut by_kind: Vec<_> = self
            .stats
            .iter()
            .map(|(k, s)| s.snapshot(k, running_by_kind.get(k).copied().unwrap_or(0)))
            .collect();
        for (k, n) in running_by_kind {
            if !self.stats.contains_key(k) {
                by_kind.push(KindStats::default().snapshot(k, n));
            }
        }
        by_kind.sort_by(|a, b| a.kind.cmp(&b.kind));
        by_kind
    }

    pub(crate) fn snapshot(&self, clock: &Clock, now: Instant) -> OperationsSnapshot {
        OperationsSnapshot {
            running: self.running_snapshot(clock, now, None),
            recent: self.recent.iter().rev().cloned().collect(),
            by_kind: self.by_kind(),
        }
    }

    /// Running, then recent (newest first) operations of one connection.
    pub(crate) fn of_connection(
        &self,
        clock: &Clock,
        now: Instant,
        conn: ConnectionId,
    ) -> Vec<OperationSnapshot> {
        let mut v = self.running_snapshot(clock, now, Some(conn));
        v.extend(
            self.recent
                .iter()
                .rev()
                .filter(|o| o.connection == Some(conn))
                .cloned(),
        );
        v
    }

    pub(crate) fn running_count(&self) -> usize {
        self.running.len()
    }
}

/// A running operation. Finish it with [`Operation::ok`] or [`Operation::fail`]; dropping it unfinished records
/// `abandoned`.
#[must_use = "an operation dropped immediately is recorded as abandoned"]
pub struct Operation {
    hub: Arc<dyn Hub>,
    id: u64,
    kind: &'static str,
    conn: Option<ConnectionId>,
    started: Instant,
    finished: bool,
    detail: Option<serde_json::Value>,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("conn", &self.conn)
            .finish()
    }
}

impl Operation {
    pub(crate) fn start(
        hub: Arc<dyn Hub>,
        id: u64,
        kind: &'static str,
        conn: Option<ConnectionId>,
    ) -> Self {
        let started = Instant::now();
        hub.operation_started(id, kind, conn, started);
        Self {
            hub,
            id,
            kind,
            conn,
            started,
            finished: false,
            detail: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Attaches (or replaces) the operation's detail: structured data on what was asked and what came of it,
    /// e.g. `{"tool":"click","arguments":{…},"result":"…"}`. Shown at once in the running list, then in the
    /// finished snapshot and its log file. A detail larger than [`MAX_DETAIL_BYTES`] once serialised is kept as
    /// its truncated JSON text.
    pub fn detail(&mut self, detail: serde_json::Value) {
        let detail = bound_detail(detail);
        self.hub.operation_detail(self.id, &detail);
        self.detail = Some(detail);
    }

    /// Records success.
    pub fn ok(mut self) {
        self.finish(OperationResult::Ok, None);
    }

    /// Records failure with the error's text.
    pub fn fail(mut self, err: impl Display) {
        self.finish(OperationResult::Error, Some(err.to_string()));
    }

    /// Records the outcome of `result` and passes it through: `monitor.operation(..).finish(do_it().await)?`.
    pub fn finish_with<T, E: Display>(self, result: Result<T, E>) -> Result<T, E> {
        match &result {
            Ok(_) => self.ok(),
            Err(e) => self.fail(e),
        }
        result
    }

    fn finish(&mut self, result: OperationResult, error: Option<String>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let now = Instant::now();
        let snap = OperationSnapshot {
            id: self.id,
            kind: self.kind.to_owned(),
            connection: self.conn,
            started_ms: self.hub.clock().epoch_ms(self.started),
            duration_ms: ms(now.saturating_duration_since(self.started)),
            result,
            error,
            detail: self.detail.take(),
        };
        self.hub.operation_finished(snap, self.kind);
    }
}

/// `detail` itself when its JSON fits [`MAX_DETAIL_BYTES`], otherwise its JSON text cut at a character boundary
/// with `…` appended.
fn bound_detail(detail: serde_json::Value) -> serde_json::Value {
    let text = detail.to_string();
    if text.len() <= MAX_DETAIL_BYTES {
        return detail;
    }
    let mut cut = MAX_DETAIL_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    serde_json::Value::String(format!("{}…", &text[..cut]))
}

impl Drop for Operation {
    fn drop(&mut self) {
        self.finish(
            OperationResult::Abandoned,
            Some("abandoned: dropped before ok() or fail()".to_owned()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        assert_eq!(percentile([].into_iter(), 0.95), 0.0);
        assert_eq!(percentile([5.0].into_iter(), 0.95), 5.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(v.iter().copied(), 0.95), 95.0);
        assert_eq!(percentile(v.iter().rev().copied(), 0.5), 50.0);
    }

    #[test]
    fn kind_stats_mean_and_p95() {
        let mut s = KindStats::default();
        for i in 1..=20 {
            s.record(OperationResult::Ok, f64::from(i));
        }
        s.record(OperationResult::Error, 100.0);
        let snap = s.snapshot("x", 0);
        assert_eq!(snap.ok, 20);
        assert_eq!(snap.failed, 1);
        assert!(
            (snap.mean_ms - 310.0 / 21.0).abs() < 1e-9,
            "{}",
            snap.mean_ms
        );
        // 21 values: rank ceil(0.95*21)=20 → the 20th smallest = 20.
        assert_eq!(snap.p95_ms, 20.0);
        assert_eq!(snap.max_ms, 100.0);
    }

    #[test]
    fn p95_window_forgets_old_durations_but_mean_does_not() {
        let mut s = KindStats::default();
        for _ in 0..OP_STATS_WINDOW {
            s.record(OperationResult::Ok, 1000.0);
        }
        for _ in 0..OP_STATS_WINDOW {
            s.record(OperationResult::Ok, 1.0);
        }
        let snap = s.snapshot("x", 0);
        assert_eq!(snap.p95_ms, 1.0);
        assert!((snap.mean_ms - 500.5).abs() < 1e-9);
    }
}
