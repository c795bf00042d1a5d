//! The serde shapes of connections, operations and tasks: what REST and MCP return and what the log files hold.
//!
//! Plain data with no behaviour beyond naming, so the live registries (`connection.rs`, `operation.rs`,
//! `task.rs`), the summary and the log writer all build on it without depending on each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{
    ConnectionAttrs, ConnectionId, ConnectionKind, Counters, Lifecycle, Owner, StateMachine,
};

// ---- connections ----

/// One state change of one state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub machine: StateMachine,
    /// Previous state of that machine; `None` for its first state.
    pub from: Option<String>,
    pub to: String,
    pub at_ms: u64,
}

/// One timeline event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub at_ms: u64,
    pub text: String,
}

/// A data channel and its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataChannelSnapshot {
    pub label: String,
    pub state: String,
    pub opened_ms: u64,
    pub changed_ms: u64,
}

/// A media track and its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSnapshot {
    pub id: String,
    /// `video` or `audio`.
    pub kind: String,
    pub state: String,
    pub added_ms: u64,
    pub changed_ms: u64,
}

/// One line of the connections list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSummary {
    pub id: ConnectionId,
    pub kind: ConnectionKind,
    #[serde(flatten)]
    pub attrs: ConnectionAttrs,
    pub lifecycle: Lifecycle,
    /// Current `signaling`, `ice` and `peer` states (the machines this connection reported).
    pub states: BTreeMap<StateMachine, String>,
    pub opened_ms: u64,
    pub closed_ms: Option<u64>,
    pub close_reason: Option<String>,
    /// Time open so far, or until it closed.
    pub duration_ms: f64,
    pub counters: Counters,
    /// Tasks owned by this connection and still alive.
    pub tasks_alive: u64,
}

/// One point of a connection's network history (see [`SERIES_LEN`](crate::SERIES_LEN)): the counters that
/// tell how a viewer's path is doing, as they were at `at_ms`. Rates and gauges are the latest measurement
/// then, not averages over the second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: u64,
    /// Send bitrate, kbit/s.
    pub bitrate_kbps: f64,
    /// Congestion controller's estimate, kbit/s; `None` without congestion control.
    pub estimate_kbps: Option<f64>,
    /// Encoder target, kbit/s.
    pub target_kbps: Option<f64>,
    pub rtt_ms: Option<f64>,
    /// Fraction lost over the last receiver report interval, 0..=1.
    pub loss_fraction: Option<f64>,
    pub fps: f64,
    /// Quality tier (0 = best).
    pub tier: Option<u32>,
    /// Tier changes so far (cumulative): a switch shows even when the tier went down and back up within a
    /// sample period.
    pub tier_switches: u64,
}

/// Everything known about one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionDetail {
    #[serde(flatten)]
    pub summary: ConnectionSummary,
    /// Every state change of every machine, oldest first (bounded by [`STATE_HISTORY_LEN`](crate::STATE_HISTORY_LEN)).
    pub history: Vec<StateChange>,
    pub history_dropped: u64,
    /// Events, oldest first (bounded by `MonitorConfig::timeline_len`).
    pub timeline: Vec<TimelineEvent>,
    pub timeline_dropped: u64,
    pub data_channels: Vec<DataChannelSnapshot>,
    pub tracks: Vec<TrackSnapshot>,
    /// Frames not sent, by reason.
    pub drops: BTreeMap<String, u64>,
    /// This connection's operations among the recent ones (running first, then newest first).
    pub operations: Vec<OperationSnapshot>,
    /// Tasks it owns that are still alive.
    pub tasks: Vec<TaskSnapshot>,
    /// Network history, oldest first, one sample a second at most (bounded by
    /// [`SERIES_LEN`](crate::SERIES_LEN)); empty for connections that carry no video.
    #[serde(default)]
    pub series: Vec<Sample>,
}

// ---- operations ----

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationResult {
    /// Still running (only in the running list).
    Running,
    Ok,
    Error,
    /// The guard was dropped without `ok()`/`fail()`.
    Abandoned,
}

impl OperationResult {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationResult::Running => "running",
            OperationResult::Ok => "ok",
            OperationResult::Error => "error",
            OperationResult::Abandoned => "abandoned",
        }
    }
}

/// One operation, running or finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationSnapshot {
    pub id: u64,
    pub kind: String,
    pub connection: Option<ConnectionId>,
    pub started_ms: u64,
    /// Duration, or time running so far.
    pub duration_ms: f64,
    pub result: OperationResult,
    pub error: Option<String>,
    /// What the operation was asked and what came of it (see [`Operation::detail`](crate::Operation::detail));
    /// absent when none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// Statistics of one operation kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationKindStats {
    pub kind: String,
    pub running: u64,
    pub ok: u64,
    /// Errors plus abandoned.
    pub failed: u64,
    pub abandoned: u64,
    /// Mean duration of every finished operation of this kind.
    pub mean_ms: f64,
    /// 95th percentile over the last [`OP_STATS_WINDOW`](crate::OP_STATS_WINDOW) finished operations of this kind.
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// Running and recent operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationsSnapshot {
    /// Oldest first.
    pub running: Vec<OperationSnapshot>,
    /// Newest first, at most `MonitorConfig::recent_operations`.
    pub recent: Vec<OperationSnapshot>,
    /// Sorted by kind.
    pub by_kind: Vec<OperationKindStats>,
}

// ---- tasks ----

/// What runs the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A tokio task (`Monitor::spawn`).
    Async,
    /// A tokio blocking-pool job (`Monitor::spawn_blocking`).
    Blocking,
    /// A dedicated OS thread (`Monitor::spawn_thread`), e.g. a capture or encode thread.
    Thread,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Registered, not yet polled/started.
    Pending,
    Running,
    Finished,
    Panicked,
    /// Dropped before completion (aborted, runtime shut down, or never started).
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Finished => "finished",
            TaskState::Panicked => "panicked",
            TaskState::Cancelled => "cancelled",
        }
    }
}

/// One task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    pub id: u64,
    pub name: String,
    pub owner: Owner,
    pub kind: TaskKind,
    pub state: TaskState,
    /// Alive although its owner closed more than the leak grace period ago.
    pub leaked: bool,
    pub started_ms: u64,
    /// When its owner closed, if it has.
    pub owner_closed_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    /// Age of a live task, or how long an ended one ran.
    pub duration_ms: f64,
}

/// Counts of tasks by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Alive now, not yet started.
    pub pending: u64,
    /// Alive now, started (leaked ones included).
    pub running: u64,
    /// Alive now and leaked (a subset of pending + running).
    pub leaked: u64,
    /// Since start of the process.
    pub spawned: u64,
    pub finished: u64,
    pub panicked: u64,
    pub cancelled: u64,
    /// Tasks ever detected as leaked (including ones that ended late).
    pub leaked_total: u64,
}

/// Live, leaked and recently ended tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TasksSnapshot {
    pub counts: TaskCounts,
    /// Pending and running tasks (leaked included), oldest first.
    pub live: Vec<TaskSnapshot>,
    /// The leaked subset of `live`.
    pub leaked: Vec<TaskSnapshot>,
    /// Recently ended tasks, newest first (at most [`RECENT_TASKS`](crate::RECENT_TASKS)).
    pub recent: Vec<TaskSnapshot>,
}
