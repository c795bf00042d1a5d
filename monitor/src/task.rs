//! Tasks: every tokio task, blocking job and thread the gateway starts, each with a name and an [`Owner`].
//!
//! `Monitor::spawn`, `spawn_blocking` and `spawn_thread` register the task, then wrap it in a [`TaskGuard`] whose
//! drop records how it ended: `finished` (ran to completion), `panicked` (dropped while unwinding) or `cancelled`
//! (dropped before completion: an aborted `JoinHandle` or a runtime shutting down).
//!
//! Leak detection is a plain function of time, [`TaskTable::check_leaks`]`(now, grace)`: when an owner closes,
//! each of its live tasks is stamped with the close time; a stamped task still alive `grace` later is marked
//! leaked (once) and logged with `tracing::warn`. Tasks registered after the close carry no stamp: they belong to
//! a new life of the same owner (a pipeline restarted under the same name). A connection never reopens, so a
//! task registered for an already-closed connection is stamped at registration.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, ms};
use crate::hub::Hub;
use crate::snapshot::{TaskCounts, TaskKind, TaskSnapshot, TaskState, TasksSnapshot};
use crate::types::Owner;

/// Ended tasks kept for the tasks snapshot (newest wins). Enough to see what just panicked or was cancelled.
pub const RECENT_TASKS: usize = 256;

struct TaskRecord {
    name: String,
    owner: Owner,
    kind: TaskKind,
    started: Instant,
    state: TaskState,
    /// When its owner closed (set by `close_owner`), which starts the grace period.
    owner_closed: Option<Instant>,
    leaked_at: Option<Instant>,
}

/// The task registry. Locked briefly on spawn, start and end of each task, and by snapshots.
pub(crate) struct TaskTable {
    live: HashMap<u64, TaskRecord>,
    recent: VecDeque<TaskSnapshot>,
    counts: TaskCounts,
}

impl TaskTable {
    pub(crate) fn new() -> Self {
        Self {
            live: HashMap::new(),
            recent: VecDeque::new(),
            counts: TaskCounts::default(),
        }
    }

    /// Registers a task started at `now`; `owner_closed` is `Some(now)` when its owner is already gone for good.
    pub(crate) fn register(
        &mut self,
        id: u64,
        name: String,
        owner: Owner,
        kind: TaskKind,
        now: Instant,
        owner_closed: Option<Instant>,
    ) {
        self.counts.spawned += 1;
        self.live.insert(
            id,
            TaskRecord {
                name,
                owner,
                kind,
                started: now,
                state: TaskState::Pending,
                owner_closed,
                leaked_at: None,
            },
        );
    }

    pub(crate) fn set_running(&mut self, id: u64) {
        if let Some(t) = self.live.get_mut(&id) {
            t.state = TaskState::Running;
        }
    }

    pub(crate) fn end(&mut self, clock: &Clock, id: u64, state: TaskState, now: Instant) {
        let Some(t) = self.live.remove(&id) else {
            return;
        };
        match state {
            TaskState::Panicked => {
                self.counts.panicked += 1;
                tracing::warn!(task = %t.name, owner = %t.owner, "task panicked");
            }
            TaskState::Cancelled => self.counts.cancelled += 1,
            _ => self.counts.finished += 1,
        }
        if t.leaked_at.is_some() {
            tracing::info!(task = %t.name, owner = %t.owner, state = state.as_str(), "leaked task ended");
        }
        let mut snap = Self::snapshot_of(clock, id, &t, now);
        snap.state = state;
        snap.ended_ms = Some(clock.epoch_ms(now));
        if self.recent.len() >= RECENT_TASKS {
            self.recent.pop_back();
        }
        self.recent.push_front(snap);
    }

    /// Stamps the live tasks of `owner` with its close time `now`: they must be gone within the grace period.
    /// Tasks already stamped keep their earlier stamp.
    pub(crate) fn close_owner(&mut self, owner: &Owner, now: Instant) {
        for t in self.live.values_mut() {
            if &t.owner == owner && t.owner_closed.is_none() {
                t.owner_closed = Some(now);
            }
        }
    }

    /// Marks tasks whose owner closed at least `grace` before `now` as leaked; returns how many were newly marked.
    pub(crate) fn check_leaks(&mut self, now: Instant, grace: Duration) -> u64 {
        let mut newly = 0;
        for t in self.live.values_mut() {
            let Some(closed) = t.owner_closed else {
                continue;
            };
            if t.leaked_at.is_none() && now.saturating_duration_since(closed) >= grace {
                t.leaked_at = Some(now);
                newly += 1;
                tracing::warn!(
                    task = %t.name,
                    owner = %t.owner,
                    kind = ?t.kind,
                    alive_after_close_ms = ms(now.saturating_duration_since(closed)),
                    "task leaked: still alive after its owner closed"
                );
            }
        }
        self.counts.leaked_total += newly;
        newly
    }

    fn snapshot_of(clock: &Clock, id: u64, t: &TaskRecord, now: Instant) -> TaskSnapshot {
        TaskSnapshot {
            id,
            name: t.name.clone(),
            owner: t.owner.clone(),
            kind: t.kind,
            state: t.state,
            leaked: t.leaked_at.is_some(),
            started_ms: clock.epoch_ms(t.started),
            owner_closed_ms: t.owner_closed.map(|c| clock.epoch_ms(c)),
            ended_ms: None,
            duration_ms: ms(now.saturating_duration_since(t.started)),
        }
    }

    pub(crate) fn counts(&self) -> TaskCounts {
        let mut c = self.counts.clone();
        for t in self.live.values() {
            match t.state {
                TaskState::Pending => c.pending += 1,
                _ => c.running += 1,
            }
            if t.leaked_at.is_some() {
                c.leaked += 1;
            }
        }
        c
    }

    pub(crate) fn snapshot(&self, clock: &Clock, now: Instant) -> TasksSnapshot {
        let mut live: Vec<_> = self
            .live
            .iter()
            .map(|(id, t)| Self::snapshot_of(clock, *id, t, now))
            .collect();
        live.sort_by_key(|t| t.id);
        let leaked = live.iter().filter(|t| t.leaked).cloned().collect();
        TasksSnapshot {
            counts: self.counts(),
            live,
            leaked,
            recent: self.recent.iter().cloned().collect(),
        }
    }

    /// Live tasks of one owner.
    pub(crate) fn of_owner(&self, clock: &Clock, owner: &Owner, now: Instant) -> Vec<TaskSnapshot> {
        let mut v: Vec<_> = self
            .live
            .iter()
            .filter(|(_, t)| &t.owner == owner)
            .map(|(id, t)| Self::snapshot_of(clock, *id, t, now))
            .collect();
        v.sort_by_key(|t| t.id);
        v
    }

    /// Number of live tasks per owner.
    pub(crate) fn alive_by_owner(&self) -> HashMap<Owner, u64> {
        let mut m = HashMap::new();
        for t in self.live.values() {
            *m.entry(t.owner.clone()).or_default() += 1;
        }
        m
    }
}

/// Travels with the task; its drop records how the task ended.
pub(crate) struct TaskGuard {
    hub: Arc<dyn Hub>,
    id: u64,
    completed: bool,
}

impl TaskGuard {
    pub(crate) fn new(hub: Arc<dyn Hub>, id: u64) -> Self {
        Self {
            hub,
            id,
            completed: false,
        }
    }

    pub(crate) fn running(&self) {
        self.hub.task_running(self.id);
    }

    pub(crate) fn completed(&mut self) {
        self.completed = true;
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let state = if self.completed {
            TaskState::Finished
        } else if std::thread::panicking() {
            TaskState::Panicked
        } else {
            TaskState::Cancelled
        };
        let now = Instant::now();
        self.hub.task_ended(self.id, state, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_detection_on_virtual_time() {
        let mut t = TaskTable::new();
        let t0 = Instant::now();
        let owner = Owner::Pipeline("screen0/h264/720p".into());
        t.register(
            1,
            "encode".into(),
            owner.clone(),
            TaskKind::Thread,
            t0,
            None,
        );
        t.register(2, "other".into(), Owner::Gateway, TaskKind::Async, t0, None);
        let grace = Duration::from_secs(5);

        assert_eq!(
            t.check_leaks(t0 + Duration::from_secs(100), grace),
            0,
            "owner still open"
        );
        let closed = t0 + Duration::from_secs(10);
        t.close_owner(&owner, closed);
        // A task of the same owner started after the close belongs to its next life.
        t.register(
            3,
            "encode".into(),
            owner.clone(),
            TaskKind::Thread,
            closed + Duration::from_millis(1),
            None,
        );

        assert_eq!(
            t.check_leaks(closed + Duration::from_millis(4999), grace),
            0,
            "inside the grace"
        );
        assert_eq!(t.counts().leaked, 0);
        assert_eq!(t.check_leaks(closed + grace, grace), 1);
        assert_eq!(t.check_leaks(closed + grace * 2, grace), 0, "reported once");
        let c = t.counts();
        assert_eq!((c.leaked, c.leaked_total, c.running + c.pending), (1, 1, 3));
        assert!(t.live[&1].leaked_at.is_some());
        assert!(t.live[&3].leaked_at.is_none());
        assert!(t.live[&2].leaked_at.is_none());

        // The restarted owner closes again: its new task gets its own grace period, the old one keeps its stamp.
        let closed_again = closed + Duration::from_secs(60);
        t.close_owner(&owner, closed_again);
        assert_eq!(t.live[&1].owner_closed, Some(closed));
        assert_eq!(
            t.check_leaks(closed_again + Duration::from_secs(1), grace),
            0
        );
        assert_eq!(t.check_leaks(closed_again + grace, grace), 1);
        assert_eq!(t.counts().leaked, 2);
    }
}
