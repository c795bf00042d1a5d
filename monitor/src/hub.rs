//! The hub: what connections, operations and tasks ask of the registry, as a trait the registry implements.
//!
//! [`Connection`](crate::Connection), [`Operation`](crate::Operation) and the task guard outlive the call that
//! made them and report back when they change or end. They hold an `Arc<dyn Hub>` instead of the registry's
//! state itself, so `connection.rs`, `operation.rs` and `task.rs` do not import `registry.rs`; only `registry.rs`
//! imports them (for their tables) and implements [`Hub`]. This file is a leaf: it imports nothing but the plain
//! data of `clock.rs`, `snapshot.rs` and `types.rs`. Pipelines need only their table and the clock, which they
//! hold directly (`pipeline.rs`).
//!
//! The pipelines' per-frame path does not go through it. The most frequent call is
//! [`Hub::count_connection_drop`] (a connection that skips frames): one indirect call next to two short locks, no
//! allocation.

use std::time::Instant;

use crate::clock::Clock;
use crate::snapshot::{OperationSnapshot, TaskState};
use crate::types::{ConnectionId, ConnectionKind};

/// The registry as seen by the handles it gives out.
pub(crate) trait Hub: Send + Sync {
    /// The monitor's clock (instants to epoch milliseconds).
    fn clock(&self) -> &Clock;

    // ---- connections ----

    /// Connection `id` has just closed at `now` (its record is already marked closed): moves it to the recently
    /// closed list, arms leak detection for the tasks it owns and queues its log file.
    fn connection_closed(&self, id: ConnectionId, now: Instant);

    /// Counts `n` frames not sent to a connection of `kind`, by reason.
    fn count_connection_drop(&self, kind: ConnectionKind, reason: &'static str, n: u64);

    // ---- operations ----

    /// Operation `id` started at `started`: it shows as running.
    fn operation_started(
        &self,
        id: u64,
        kind: &'static str,
        conn: Option<ConnectionId>,
        started: Instant,
    );

    /// Replaces the detail a running operation shows.
    fn operation_detail(&self, id: u64, detail: &serde_json::Value);

    /// Operation `snap.id` finished: statistics, recent list, the connection's timeline, log file.
    fn operation_finished(&self, snap: OperationSnapshot, kind: &'static str);

    // ---- tasks ----

    /// Task `id` has started running.
    fn task_running(&self, id: u64);

    /// Task `id` ended at `now` in `state`.
    fn task_ended(&self, id: u64, state: TaskState, now: Instant);
}
