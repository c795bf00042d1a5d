//! The registry: [`Monitor`], its settings, and the shared state ([`Inner`]) every handle points to.
//!
//! `Inner` owns the tables of the other modules (connections, operations, tasks, pipelines, the CPU sampler, the
//! log writer). The handles those modules give out report back through the [`Hub`] trait (`hub.rs`), which
//! `Inner` implements: connections, operations and task guards hold an `Arc<dyn Hub>`, pipelines a `Weak` of
//! their table and a copy of the clock. So this file imports them and none of them imports this file; they
//! never import each other either: the data they share lives in `snapshot.rs` and `types.rs`. The metrics
//! exposition (`metrics/`) adds its own `impl Monitor` and is imported by nothing here.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::abuse::AbuseCounters;
use crate::clock::{self, Clock};
use crate::connection::{ConnRecord, Connection, RECENT_CLOSED_CONNECTIONS};
use crate::hub::Hub;
use crate::logfiles;
use crate::operation::{OpTable, Operation};
use crate::pipeline::{
    PipelineKey, PipelineShared, PipelineSnapshot, PipelineStatsHandle, PipelineTable,
};
use crate::process::{self, CpuSampler, ProcessSnapshot};
use crate::sfu::SfuStats;
use crate::snapshot::{
    ConnectionDetail, ConnectionSummary, OperationResult, OperationSnapshot, OperationsSnapshot,
    TaskKind, TaskState, TasksSnapshot,
};
use crate::summary::{ConnectionCounts, Summary, Totals};
use crate::task::{TaskGuard, TaskTable};
use crate::types::{ConnectionAttrs, ConnectionId, ConnectionKind, Owner};

/// Period of the background loop (leak check, CPU sample).
pub const BACKGROUND_PERIOD: Duration = Duration::from_secs(1);

/// Monitor settings (`[monitor]` in the gateway's config).
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Where to write JSON log files; `None` writes none.
    pub log_dir: Option<PathBuf>,
    /// How long a task may outlive its owner's close before it counts as leaked.
    pub leak_grace: Duration,
    /// Operations at least this slow get a log file even when they succeed.
    pub slow_operation: Duration,
    /// Total size of the log files; the oldest are deleted beyond it.
    pub log_max_bytes: u64,
    /// Log files older than this are deleted.
    pub log_max_age: Duration,
    /// Events kept in each connection's timeline.
    pub timeline_len: usize,
    /// Finished operations kept in the recent list.
    pub recent_operations: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            log_dir: None,
            leak_grace: Duration::from_secs(5),
            slow_operation: Duration::from_secs(1),
            log_max_bytes: 64 * 1024 * 1024,
            log_max_age: Duration::from_secs(7 * 24 * 3600),
            timeline_len: 256,
            recent_operations: 1000,
        }
    }
}

/// The monitor. Cheap to clone (an `Arc`); every clone is the same registry.
#[derive(Clone)]
pub struct Monitor {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

/// Number of connection kinds: the length of the per-kind count arrays.
pub(crate) const KINDS: usize = ConnectionKind::ALL.len();

pub(crate) struct ConnTable {
    pub(crate) live: HashMap<ConnectionId, Arc<ConnRecord>>,
    /// Recently closed, oldest first, at most [`RECENT_CLOSED_CONNECTIONS`].
    pub(crate) closed: VecDeque<Arc<ConnRecord>>,
    pub(crate) opened_by_kind: [u64; KINDS],
    pub(crate) closed_by_kind: [u64; KINDS],
}

pub(crate) struct Inner {
    pub(crate) cfg: MonitorConfig,
    pub(crate) clock: Clock,
    next_conn: AtomicU64,
    next_op: AtomicU64,
    next_task: AtomicU64,
    pub(crate) conns: Mutex<ConnTable>,
    pub(crate) ops: Mutex<OpTable>,
    pub(crate) tasks: Mutex<TaskTable>,
    /// Shared (as a `Weak`) with each pipeline, which removes its own entry when its last handle goes.
    pub(crate) pipelines: Arc<PipelineTable>,
    pub(crate) cpu: Mutex<CpuSampler>,
    pub(crate) log: Option<logfiles::LogWriter>,
    /// Frames dropped for connections, by (kind, reason).
    pub(crate) conn_drops: Mutex<BTreeMap<(ConnectionKind, &'static str), u64>>,
    /// Gateway-wide refusals, violations, rate limits and bans.
    pub(crate) abuse: AbuseCounters,
    /// SFU instances and published streams.
    pub(crate) sfu: SfuStats,
}

impl Inner {
    pub(crate) fn close_owner_at(&self, owner: &Owner, now: Instant) {
        self.tasks.lock().close_owner(owner, now);
    }

    fn find_connection(&self, id: ConnectionId) -> Option<Arc<ConnRecord>> {
        let t = self.conns.lock();
        t.live
            .get(&id)
            .cloned()
            .or_else(|| t.closed.iter().rev().find(|c| c.id == id).cloned())
    }

    pub(crate) fn connection_detail_of(
        &self,
        record: &ConnRecord,
        now: Instant,
    ) -> ConnectionDetail {
        let ops = self.ops.lock().of_connection(&self.clock, now, record.id);
        let tasks = self
            .tasks
            .lock()
            .of_owner(&self.clock, &Owner::Connection(record.id), now);
        record.detail(&self.clock, now, ops, tasks)
    }

    pub(crate) fn write_log(&self, body: logfiles::LogBody) {
        if let Some(log) = &self.log {
            log.submit(body);
        }
    }

    /// Queues the log file of a connection that just closed (when `log_dir` is set).
    pub(crate) fn log_connection(&self, record: &ConnRecord, now: Instant) {
        if self.log.is_some() {
            let detail = self.connection_detail_of(record, now);
            self.write_log(logfiles::LogBody::Connection(Box::new(detail)));
        }
    }

    fn register_task(self: &Arc<Self>, name: String, owner: Owner, kind: TaskKind) -> TaskGuard {
        let id = self.next_task.fetch_add(1, Relaxed) + 1;
        let now = Instant::now();
        let mut tasks = self.tasks.lock();
        // Checked under the task lock, so a concurrent close either sees this task (and stamps it) or has already
        // removed the connection (and we stamp it here). The only nested locking: tasks, then conns.
        let owner_closed = match &owner {
            Owner::Connection(id) if !self.conns.lock().live.contains_key(id) => Some(now),
            _ => None,
        };
        tasks.register(id, name, owner, kind, now, owner_closed);
        drop(tasks);
        TaskGuard::new(self.clone(), id)
    }

    fn sample_cpu(
        &self,
        now: Instant,
    ) -> (Result<process::ProcStats, String>, Option<(f64, Duration)>) {
        let stats = process::read();
        let cpu = match &stats {
            Ok(s) => self.cpu.lock().sample(now, s.cpu_seconds),
            Err(_) => None,
        };
        (stats, cpu)
    }
}

impl Hub for Inner {
    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn connection_closed(&self, id: ConnectionId, now: Instant) {
        // The record is live until this, its only removal: closing happens once per record (under its state lock).
        let record = {
            let mut t = self.conns.lock();
            let record = t.live.remove(&id);
            if let Some(record) = &record {
                t.closed_by_kind[record.kind.index()] += 1;
                while t.closed.len() >= RECENT_CLOSED_CONNECTIONS {
                    t.closed.pop_front();
                }
                t.closed.push_back(record.clone());
            }
            record
        };
        self.close_owner_at(&Owner::Connection(id), now);
        if let Some(record) = record {
            self.log_connection(&record, now);
        }
    }

    fn operation_finished(&self, snap: OperationSnapshot, kind: &'static str) {
        let failed = matches!(
            snap.result,
            OperationResult::Error | OperationResult::Abandoned
        );
        let slow = snap.duration_ms >= clock::ms(self.cfg.slow_operation);
        if let Some(conn) = snap.connection.and_then(|id| self.find_connection(id)) {
            let text = match &snap.error {
                Some(e) => format!(
                    "{kind} {}: {e} ({:.1} ms)",
                    snap.result.as_str(),
                    snap.duration_ms
                ),
                None => format!(
                    "{kind} {} in {:.1} ms",
                    snap.result.as_str(),
                    snap.duration_ms
                ),
            };
            conn.event(self.clock.epoch_ms(Instant::now()), text);
        }
        if failed {
            tracing::debug!(op = kind, id = snap.id, error = ?snap.error, "operation failed");
        }
        if self.log.is_some() && (failed || slow) {
            self.write_log(logfiles::LogBody::Operation(snap.clone()));
        }
        self.ops.lock().finish(snap, kind);
    }

    fn count_connection_drop(&self, kind: ConnectionKind, reason: &'static str, n: u64) {
        *self.conn_drops.lock().entry((kind, reason)).or_insert(0) += n;
    }

    fn operation_started(
        &self,
        id: u64,
        kind: &'static str,
        conn: Option<ConnectionId>,
        started: Instant,
    ) {
        self.ops.lock().start(id, kind, conn, started);
    }

    fn operation_detail(&self, id: u64, detail: &serde_json::Value) {
        self.ops.lock().set_detail(id, detail);
    }

    fn task_running(&self, id: u64) {
        self.tasks.lock().set_running(id);
    }

    fn task_ended(&self, id: u64, state: TaskState, now: Instant) {
        self.tasks.lock().end(&self.clock, id, state, now);
    }
}

impl Monitor {
    /// Creates a monitor. Needs no async runtime; starts the log writer thread when `log_dir` is set (a log
    /// directory that cannot be created is reported by `tracing::warn` and in the totals, not as a failure).
    pub fn new(cfg: MonitorConfig) -> Self {
        let log = cfg.log_dir.as_ref().map(|dir| {
            logfiles::LogWriter::start(logfiles::LogSettings {
                dir: dir.clone(),
                max_bytes: cfg.log_max_bytes,
                max_age: cfg.log_max_age,
            })
        });
        let clock = Clock::new();
        let inner = Arc::new(Inner {
            clock,
            next_conn: AtomicU64::new(0),
            next_op: AtomicU64::new(0),
            next_task: AtomicU64::new(0),
            conns: Mutex::new(ConnTable {
                live: HashMap::new(),
                closed: VecDeque::new(),
                opened_by_kind: [0; KINDS],
                closed_by_kind: [0; KINDS],
            }),
            ops: Mutex::new(OpTable::new(cfg.recent_operations)),
            tasks: Mutex::new(TaskTable::new()),
            pipelines: Arc::new(Mutex::new(BTreeMap::new())),
            cpu: Mutex::new(CpuSampler::default()),
            log,
            conn_drops: Mutex::new(BTreeMap::new()),
            abuse: AbuseCounters::default(),
            sfu: SfuStats::new(clock),
            cfg,
        });
        // First CPU sample, so the first process() call already has a window to measure over; the sampler
        // stores it, the reading itself is not needed here.
        let _ = inner.sample_cpu(Instant::now());
        Self { inner }
    }

    pub fn config(&self) -> &MonitorConfig {
        &self.inner.cfg
    }

    /// The gateway-wide abuse counters (refusals, violations, rate limits, bans), which `/metrics` shows too.
    pub fn abuse(&self) -> &AbuseCounters {
        &self.inner.abuse
    }

    /// The SFU instances and published streams (Janus, WHIP), which `/metrics` and the summary show too.
    pub fn sfu(&self) -> &SfuStats {
        &self.inner.sfu
    }

    // ---- connections ----

    /// Registers a connection in state `new`.
    pub fn open_connection(&self, kind: ConnectionKind, attrs: ConnectionAttrs) -> Connection {
        let id = ConnectionId::new(self.inner.next_conn.fetch_add(1, Relaxed) + 1);
        let now = Instant::now();
        let record = Arc::new(ConnRecord::new(
            id,
            kind,
            attrs,
            now,
            self.inner.clock.epoch_ms(now),
            self.inner.cfg.timeline_len,
        ));
        {
            let mut t = self.inner.conns.lock();
            t.live.insert(id, record.clone());
            t.opened_by_kind[kind.index()] += 1;
        }
        tracing::debug!(conn = %id, %kind, "connection opened");
        Connection::new(record, self.inner.clone())
    }

    // ---- operations ----

    /// Starts timing an operation, optionally on a connection (it then also appears in its timeline).
    pub fn operation(&self, kind: &'static str, conn: Option<ConnectionId>) -> Operation {
        let id = self.inner.next_op.fetch_add(1, Relaxed) + 1;
        Operation::start(self.inner.clone(), id, kind, conn)
    }

    // ---- tasks ----

    /// Spawns a tracked tokio task. Must be called within a tokio runtime (as `tokio::spawn`).
    pub fn spawn<F>(
        &self,
        name: impl Into<String>,
        owner: Owner,
        fut: F,
    ) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let guard = self
            .inner
            .register_task(name.into(), owner, TaskKind::Async);
        tokio::spawn(async move {
            let mut guard = guard;
            guard.running();
            let out = fut.await;
            guard.completed();
            out
        })
    }

    /// Runs a tracked job on tokio's blocking pool. Must be called within a tokio runtime.
    pub fn spawn_blocking<F, R>(
        &self,
        name: impl Into<String>,
        owner: Owner,
        f: F,
    ) -> tokio::task::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let guard = self
            .inner
            .register_task(name.into(), owner, TaskKind::Blocking);
        tokio::task::spawn_blocking(move || {
            let mut guard = guard;
            guard.running();
            let out = f();
            guard.completed();
            out
        })
    }

    /// Starts a tracked OS thread (media capture and encode threads). The thread is named after the task
    /// (NUL bytes, which the OS refuses, replaced by `_`).
    pub fn spawn_thread<F, R>(
        &self,
        name: impl Into<String>,
        owner: Owner,
        f: F,
    ) -> std::io::Result<std::thread::JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let name = name.into();
        let thread_name = name.replace('\0', "_");
        let guard = self.inner.register_task(name, owner, TaskKind::Thread);
        // If the OS refuses the thread, the closure (and the guard) is dropped unrun: recorded as cancelled.
        std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                let mut guard = guard;
                guard.running();
                let out = f();
                guard.completed();
                out
            })
    }

    /// Declares that `owner` has stopped (e.g. a pipeline): its tasks started until now must end within the
    /// leak grace period. Connections do this themselves when closed.
    pub fn close_owner(&self, owner: &Owner) {
        self.inner.close_owner_at(owner, Instant::now());
    }

    /// Marks tasks whose owner closed at least `leak_grace` before `now` as leaked (each once, with a
    /// `tracing::warn`). Pure in `now`: tests pass virtual instants.
    pub fn check_leaks(&self, now: Instant) {
        self.inner
            .tasks
            .lock()
            .check_leaks(now, self.inner.cfg.leak_grace);
    }

    /// Starts the background loop (leak check and CPU sample every [`BACKGROUND_PERIOD`]) as a tracked task
    /// owned by the gateway; it ends when `shutdown` is cancelled. Must be called within a tokio runtime.
    pub fn start_background(&self, shutdown: CancellationToken) {
        let monitor = self.clone();
        drop(
            self.spawn("monitor-background", Owner::Gateway, async move {
                let mut tick = tokio::time::interval(BACKGROUND_PERIOD);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tick.tick() => {
                            let now = Instant::now();
                            monitor.check_leaks(now);
                            let _ = monitor.inner.sample_cpu(now); // stored for process()'s window
                        }
                    }
                }
            }),
        );
    }

    // ---- pipelines ----

    /// The statistics handle of a pipeline; registers it unless a handle for `key` is alive, in which case the
    /// same statistics are shared. Dropping the last handle unregisters it.
    pub fn pipeline(&self, key: PipelineKey) -> PipelineStatsHandle {
        let mut map = self.inner.pipelines.lock();
        if let Some(shared) = map.get(&key).and_then(Weak::upgrade) {
            return PipelineStatsHandle { shared };
        }
        let shared = Arc::new(PipelineShared::new(
            key.clone(),
            self.inner.clock,
            Arc::downgrade(&self.inner.pipelines),
        ));
        map.insert(key, Arc::downgrade(&shared));
        PipelineStatsHandle { shared }
    }

    // ---- snapshots ----

    pub fn summary(&self) -> Summary {
        let inner = &self.inner;
        let now = Instant::now();
        let mut connections = ConnectionCounts::default();
        let (opened, closed) = {
            let t = inner.conns.lock();
            for c in t.live.values() {
                connections.live += 1;
                *connections
                    .by_state
                    .entry(c.lifecycle().as_str().to_owned())
                    .or_default() += 1;
                *connections
                    .by_kind
                    .entry(c.kind.as_str().to_owned())
                    .or_default() += 1;
            }
            (t.opened_by_kind.iter().sum(), t.closed_by_kind.iter().sum())
        };
        let (operations, running_operations) = {
            let ops = inner.ops.lock();
            (ops.by_kind(), ops.running_count() as u64)
        };
        let tasks = inner.tasks.lock().counts();
        let frames_dropped = inner.conn_drops.lock().values().sum();
        let (log_files_written, log_records_dropped, log_write_errors) =
            inner.log.as_ref().map(|l| l.counts()).unwrap_or_default();
        Summary {
            generated_ms: inner.clock.epoch_ms(now),
            started_ms: inner.clock.epoch_ms(inner.clock.started()),
            uptime_ms: clock::ms(now.saturating_duration_since(inner.clock.started())),
            leaked: tasks.leaked,
            connections,
            running_operations,
            totals: Totals {
                connections_opened: opened,
                connections_closed: closed,
                operations: operations.iter().map(|k| k.ok + k.failed).sum(),
                operations_failed: operations.iter().map(|k| k.failed).sum(),
                tasks_spawned: tasks.spawned,
                tasks_leaked: tasks.leaked_total,
                tasks_panicked: tasks.panicked,
                frames_dropped,
                log_files_written,
                log_records_dropped,
                log_write_errors,
            },
            operations,
            tasks,
            pipelines: inner.pipelines.lock().len() as u64,
            sfu: inner.sfu.snapshot(),
        }
    }

    /// Open connections by id, then the recently closed ones (at most [`RECENT_CLOSED_CONNECTIONS`]) in the order
    /// they closed.
    pub fn connections(&self) -> Vec<ConnectionSummary> {
        let inner = &self.inner;
        let now = Instant::now();
        let (mut live, closed): (Vec<_>, Vec<_>) = {
            let t = inner.conns.lock();
            (
                t.live.values().cloned().collect(),
                t.closed.iter().cloned().collect(),
            )
        };
        live.sort_by_key(|c| c.id);
        let alive = inner.tasks.lock().alive_by_owner();
        live.iter()
            .chain(closed.iter())
            .map(|c| {
                let n = alive.get(&Owner::Connection(c.id)).copied().unwrap_or(0);
                c.summary(&inner.clock, now, n)
            })
            .collect()
    }

    /// One connection, open or recently closed.
    pub fn connection(&self, id: ConnectionId) -> Option<ConnectionDetail> {
        let record = self.inner.find_connection(id)?;
        Some(self.inner.connection_detail_of(&record, Instant::now()))
    }

    pub fn operations(&self) -> OperationsSnapshot {
        self.inner
            .ops
            .lock()
            .snapshot(&self.inner.clock, Instant::now())
    }

    pub fn tasks(&self) -> TasksSnapshot {
        self.inner
            .tasks
            .lock()
            .snapshot(&self.inner.clock, Instant::now())
    }

    /// Running pipelines, sorted by key.
    pub fn pipelines(&self) -> Vec<PipelineSnapshot> {
        let now = Instant::now();
        let shared: Vec<_> = self
            .inner
            .pipelines
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        shared.iter().map(|p| p.snapshot(now)).collect()
    }

    /// Process CPU (over a window of at least [`CPU_MIN_WINDOW`](crate::CPU_MIN_WINDOW) when samples allow) and memory.
    pub fn process(&self) -> ProcessSnapshot {
        let now = Instant::now();
        let (stats, cpu) = self.inner.sample_cpu(now);
        let uptime_ms = clock::ms(now.saturating_duration_since(self.inner.clock.started()));
        let cpus = std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as u64);
        match stats {
            Ok(s) => ProcessSnapshot {
                available: true,
                unavailable_reason: None,
                pid: std::process::id(),
                cpus,
                cpu_percent: cpu.map(|c| c.0),
                cpu_window_ms: cpu.map(|c| clock::ms(c.1)),
                cpu_seconds_total: Some(s.cpu_seconds),
                rss_bytes: Some(s.rss_bytes),
                rss_peak_bytes: Some(s.rss_peak_bytes),
                vm_bytes: Some(s.vm_bytes),
                threads: Some(s.threads),
                uptime_ms,
            },
            Err(reason) => ProcessSnapshot {
                available: false,
                unavailable_reason: Some(reason),
                pid: std::process::id(),
                cpus,
                cpu_percent: None,
                cpu_window_ms: None,
                cpu_seconds_total: None,
                rss_bytes: None,
                rss_peak_bytes: None,
                vm_bytes: None,
                threads: None,
                uptime_ms,
            },
        }
    }

    /// Waits until every log record queued so far is written (tests, shutdown). Returns false if the writer did
    /// not confirm within `timeout` (or there is no writer running). Blocking: call it off the async runtime.
    pub fn flush_logs(&self, timeout: Duration) -> bool {
        self.inner.log.as_ref().is_some_and(|l| l.flush(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Lifecycle;

    #[test]
    fn summary_counts_connections_operations_and_tasks() {
        let m = Monitor::new(MonitorConfig::default());
        let a = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
        a.set_lifecycle(Lifecycle::Connected);
        let b = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
        b.set_lifecycle(Lifecycle::Connecting);
        let _c = m.open_connection(ConnectionKind::Jpeg, ConnectionAttrs::default());
        m.open_connection(ConnectionKind::Mcp, ConnectionAttrs::default())
            .close("bye");
        b.dropped("queue_full", 4);
        for i in 0..10 {
            let op = m.operation("keyframe_request", Some(a.id()));
            if i < 8 {
                op.ok()
            } else {
                op.fail("encoder gone")
            }
        }
        let _running = m.operation("snapshot", None);
        let _p = m.pipeline(PipelineKey {
            screen: "0".into(),
            kind: "capture".into(),
            profile: String::new(),
        });

        let s = m.summary();
        assert_eq!(s.connections.live, 3);
        assert_eq!(s.connections.by_state["connected"], 1);
        assert_eq!(s.connections.by_state["connecting"], 1);
        assert_eq!(s.connections.by_state["new"], 1);
        assert!(!s.connections.by_state.contains_key("closed"));
        assert_eq!(s.connections.by_kind["webrtc"], 2);
        assert_eq!(s.connections.by_kind["jpeg"], 1);
        assert_eq!(
            (s.totals.connections_opened, s.totals.connections_closed),
            (4, 1)
        );
        assert_eq!((s.totals.operations, s.totals.operations_failed), (10, 2));
        assert_eq!(s.totals.frames_dropped, 4);
        assert_eq!(s.running_operations, 1);
        let kr = s
            .operations
            .iter()
            .find(|o| o.kind == "keyframe_request")
            .unwrap();
        assert_eq!((kr.ok, kr.failed), (8, 2));
        assert!(kr.max_ms >= kr.p95_ms && kr.p95_ms > 0.0);
        let snap = s.operations.iter().find(|o| o.kind == "snapshot").unwrap();
        assert_eq!((snap.running, snap.ok, snap.failed), (1, 0, 0));
        assert_eq!(s.pipelines, 1);
        assert_eq!(s.leaked, 0);
        assert!(s.generated_ms >= s.started_ms);
    }

    #[test]
    fn process_snapshot() {
        let m = Monitor::new(MonitorConfig::default());
        let p = m.process();
        #[cfg(target_os = "linux")]
        {
            assert!(p.available, "{:?}", p.unavailable_reason);
            assert!(p.rss_bytes.unwrap() > 0 && p.threads.unwrap() >= 1);
            assert!(p.cpu_percent.unwrap() >= 0.0 && p.cpu_window_ms.unwrap() > 0.0);
        }
        #[cfg(not(target_os = "linux"))]
        assert!(!p.available && p.unavailable_reason.unwrap().contains("Linux"));
    }
}
