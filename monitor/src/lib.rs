//! sightline's monitor: a lifecycle registry of everything the gateway starts, with statistics, Prometheus
//! metrics and JSON log files. A leaf crate: it knows nothing of networking or media.
//!
//! # Parts
//! - **Registry** ([`Monitor`], `registry.rs`): the settings and the shared state every handle points to. It
//!   holds the tables of the modules below; their handles reach it only through the `Hub` trait of `hub.rs`
//!   (which it implements) or, for pipelines, a `Weak` of their own table. So the registry imports them, none of
//!   them imports the registry or one another, only the plain data in `clock.rs`, `snapshot.rs` and `types.rs`
//!   (and connections the history ring of `series.rs`, itself a leaf), and the crate has no import circle.
//! - **Connections** ([`Connection`], `connection.rs`): every WebRTC peer, JPEG/MJPEG client, WHEP session,
//!   signaling socket and MCP session is registered from birth to end, with its state history, a bounded
//!   timeline and transport counters. The owner keeps a cheap handle; closing (or dropping) it ends the record.
//!   Connections that carry video also keep a network history (`series.rs`: one [`Sample`] a second at most,
//!   [`SERIES_LEN`] of them) taken from their counters, which the dashboard plots per viewer.
//! - **Operations** ([`Operation`], `operation.rs`): a guard per significant action, recording start, duration
//!   and result; per-kind success/failure counts, mean and p95.
//! - **Tasks** (`task.rs`): every tokio task, blocking job and thread is started through [`Monitor::spawn`],
//!   [`Monitor::spawn_blocking`] or [`Monitor::spawn_thread`] with a name and an [`Owner`]. When an owner closes,
//!   its tasks must end within [`MonitorConfig::leak_grace`]; [`Monitor::check_leaks`]`(now)` — a pure decision
//!   on the time it is given — marks the rest as leaked.
//! - **Pipelines** ([`PipelineStatsHandle`], `pipeline.rs`): media's capture/convert/encode threads update
//!   atomics and fixed rings on the hot path; snapshots compute medians and rates.
//! - **Process** (`process.rs`): CPU and memory from `/proc` on Linux.
//! - **Abuse** ([`AbuseCounters`], `abuse.rs`): gateway-wide refusals, protocol violations, rate-limited messages
//!   and bans, keyed by the gateway's fixed names; per-connection figures are in each connection's [`Counters`].
//! - **SFU** ([`SfuStats`], `sfu.rs`): the SFU instances viewers are routed to (up/down, viewers, health
//!   failures) and every published stream (Janus mountpoint or WHIP egress) with its bytes, keyframes and PLIs.
//! - **Exposition**: the snapshot types (`Summary` in `summary.rs`; `ConnectionSummary`, `ConnectionDetail`,
//!   `OperationsSnapshot`, `TasksSnapshot` in `snapshot.rs`; `PipelineSnapshot`, `ProcessSnapshot`) are what
//!   REST and MCP both return (serde, snake_case, `*_ms` epoch-millisecond times and millisecond durations);
//!   [`Monitor::prometheus_text`] renders the same state with `prometheus-client` (`metrics/`).
//! - **Log files** (`logfiles.rs`): with `log_dir` set, one JSON file per closed connection and per failed or
//!   slow operation, written by a dedicated thread fed by a bounded queue (full → dropped and counted), pruned
//!   by total size and age.
//! - **Tests** (`tests/`): the tests that drive a real [`Monitor`], one file per module above. Only `lib.rs`
//!   declares them, so the test code of the modules the registry imports does not import the registry either.
//!
//! # What drives it
//! Nothing runs by itself except the log writer thread. Records change when their owners call the handles;
//! [`Monitor::start_background`] adds one tracked task that checks for leaks and samples CPU every second.
//! Every lock is a short `parking_lot` mutex never held across an `.await`. Locks nest only in one order: the
//! task table, then the connection table (registering a task), then one connection's state (counting
//! connections by state); every other lock is released before the next is taken.

mod abuse;
mod clock;
mod connection;
mod hub;
mod logfiles;
mod metrics;
mod operation;
mod pipeline;
mod process;
mod registry;
mod series;
mod sfu;
mod snapshot;
mod summary;
mod task;
#[cfg(test)]
mod tests;
mod types;

pub use abuse::{AbuseCounters, AbuseSnapshot};
pub use clock::rfc3339;
pub use connection::{
    Connection, MAX_CHANNELS_OR_TRACKS, RECENT_CLOSED_CONNECTIONS, STATE_HISTORY_LEN,
    WeakConnection,
};
pub use logfiles::{LOG_PRUNE_INTERVAL, LOG_QUEUE_CAPACITY};
pub use operation::{MAX_DETAIL_BYTES, OP_STATS_WINDOW, Operation};
pub use pipeline::{
    FPS_WINDOW, PIPELINE_WINDOW, PipelineKey, PipelineSnapshot, PipelineStatsHandle, TimingStats,
};
pub use process::{CPU_MIN_WINDOW, ProcessSnapshot};
pub use registry::{BACKGROUND_PERIOD, Monitor, MonitorConfig};
pub use series::{SERIES_LEN, SERIES_PERIOD, SERIES_SLACK};
pub use sfu::{
    InstanceSnapshot, InstanceState, MAX_PUBLICATIONS, MAX_SFU_INSTANCES, PublicationHandle,
    PublicationSnapshot, SfuSnapshot, SfuStats,
};
pub use snapshot::{
    ConnectionDetail, ConnectionSummary, DataChannelSnapshot, OperationKindStats, OperationResult,
    OperationSnapshot, OperationsSnapshot, Sample, StateChange, TaskCounts, TaskKind, TaskSnapshot,
    TaskState, TasksSnapshot, TimelineEvent, TrackSnapshot,
};
pub use summary::{ConnectionCounts, Summary, Totals};
pub use task::RECENT_TASKS;
pub use types::{
    ConnectionAttrs, ConnectionId, ConnectionKind, Counters, Lifecycle, Owner, ParseIdError,
    StateMachine,
};
