//! The summary snapshot: one small document answering "is the gateway healthy?" — connections by kind and state,
//! operations by kind with success/failure counts and mean/p95 durations, tasks by state, the `leaked` count and
//! process-lifetime totals, and the SFU instances and publications when there are any.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sfu::SfuSnapshot;
use crate::snapshot::{OperationKindStats, TaskCounts};

/// Live connections counted several ways.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionCounts {
    /// Open (not yet closed) connections.
    pub live: u64,
    /// Open connections by lifecycle state (`new`, `connecting`, `connected`).
    pub by_state: BTreeMap<String, u64>,
    /// Open connections by kind (`webrtc`, `jpeg`, …).
    pub by_kind: BTreeMap<String, u64>,
}

/// Counts since the process started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub connections_opened: u64,
    pub connections_closed: u64,
    /// Finished operations.
    pub operations: u64,
    /// Finished with an error or abandoned.
    pub operations_failed: u64,
    pub tasks_spawned: u64,
    /// Tasks ever detected as leaked.
    pub tasks_leaked: u64,
    pub tasks_panicked: u64,
    /// Frames dropped for connections (all reasons).
    pub frames_dropped: u64,
    /// Log files written, log records dropped (queue full or writer gone) and write errors.
    pub log_files_written: u64,
    pub log_records_dropped: u64,
    pub log_write_errors: u64,
}

/// The summary document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub generated_ms: u64,
    pub started_ms: u64,
    pub uptime_ms: f64,
    /// Tasks alive now although their owner closed more than the leak grace period ago. Zero when healthy.
    pub leaked: u64,
    pub connections: ConnectionCounts,
    /// By kind, sorted by kind.
    pub operations: Vec<OperationKindStats>,
    pub running_operations: u64,
    pub tasks: TaskCounts,
    pub pipelines: u64,
    pub totals: Totals,
    /// SFU instances and published streams; left out when there are none (no `[sfu]`, nothing published).
    #[serde(default, skip_serializing_if = "SfuSnapshot::is_empty")]
    pub sfu: SfuSnapshot,
}
