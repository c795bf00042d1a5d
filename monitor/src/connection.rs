//! Connections: one record per WebRTC peer, JPEG/MJPEG client, WHEP session, signaling socket and MCP session,
//! from [`crate::Monitor::open_connection`] to [`Connection::close`].
//!
//! A [`Connection`] is a cheap handle (an `Arc`) the owner keeps; the registry holds the record itself. Each
//! record keeps the current state of every [`StateMachine`], a bounded history of state changes, a bounded
//! timeline of events, data channels, tracks, transport counters and dropped frames by reason. Closing is
//! idempotent; the last handle dropped without `close()` closes with reason `"dropped"`. Closing moves the record
//! to a bounded list of recently closed connections (so REST can still show why it ended), cancels the
//! connection's [`CancellationToken`], arms leak detection for the tasks it owns and queues its log file.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, ms};
use crate::hub::Hub;
use crate::series::Series;
use crate::snapshot::{
    ConnectionDetail, ConnectionSummary, DataChannelSnapshot, OperationSnapshot, StateChange,
    TaskSnapshot, TimelineEvent, TrackSnapshot,
};
use crate::types::{
    ConnectionAttrs, ConnectionId, ConnectionKind, Counters, Lifecycle, Owner, StateMachine,
};

/// State changes kept per connection. A flapping ICE connection must not grow memory without bound; past this
/// the oldest changes are forgotten and counted in `history_dropped`.
pub const STATE_HISTORY_LEN: usize = 1024;

/// Closed connections kept for `connections()`/`connection(id)` after they end; older ones are forgotten
/// (their log file, when `log_dir` is set, keeps the full record).
pub const RECENT_CLOSED_CONNECTIONS: usize = 256;

/// Data channels or tracks kept per connection; further ones are ignored and counted as a timeline event.
/// Real peers have a handful; the bound protects against a misbehaving remote opening channels in a loop.
pub const MAX_CHANNELS_OR_TRACKS: usize = 64;

/// The registry's record of one connection.
pub(crate) struct ConnRecord {
    pub(crate) id: ConnectionId,
    pub(crate) kind: ConnectionKind,
    pub(crate) attrs: ConnectionAttrs,
    pub(crate) opened: Instant,
    pub(crate) token: CancellationToken,
    pub(crate) state: Mutex<ConnState>,
}

pub(crate) struct ConnState {
    pub(crate) lifecycle: Lifecycle,
    machines: BTreeMap<StateMachine, String>,
    history: VecDeque<StateChange>,
    history_dropped: u64,
    timeline: VecDeque<TimelineEvent>,
    timeline_dropped: u64,
    timeline_len: usize,
    data_channels: Vec<DataChannelSnapshot>,
    tracks: Vec<TrackSnapshot>,
    counters: Counters,
    /// Network history for the dashboard; only connections that carry video record one.
    series: Series,
    drops: BTreeMap<&'static str, u64>,
    closed: Option<(Instant, String)>,
}

impl ConnState {
    fn push_event(&mut self, at_ms: u64, text: String) {
        if self.timeline_len == 0 {
            self.timeline_dropped += 1;
            return;
        }
        while self.timeline.len() >= self.timeline_len {
            self.timeline.pop_front();
            self.timeline_dropped += 1;
        }
        self.timeline.push_back(TimelineEvent { at_ms, text });
    }

    fn push_change(&mut self, machine: StateMachine, to: &str, at_ms: u64) {
        let from = self.machines.insert(machine, to.to_owned());
        if from.as_deref() == Some(to) {
            return; // repeated report of the same state: not a change
        }
        if self.history.len() >= STATE_HISTORY_LEN {
            self.history.pop_front();
            self.history_dropped += 1;
        }
        let text = match &from {
            Some(f) => format!("{machine}: {f} -> {to}"),
            None => format!("{machine}: {to}"),
        };
        self.history.push_back(StateChange {
            machine,
            from,
            to: to.to_owned(),
            at_ms,
        });
        self.push_event(at_ms, text);
    }
}

impl ConnRecord {
    pub(crate) fn new(
        id: ConnectionId,
        kind: ConnectionKind,
        attrs: ConnectionAttrs,
        opened: Instant,
        opened_ms: u64,
        timeline_len: usize,
    ) -> Self {
        let mut state = ConnState {
            lifecycle: Lifecycle::New,
            machines: BTreeMap::new(),
            history: VecDeque::new(),
            history_dropped: 0,
            timeline: VecDeque::new(),
            timeline_dropped: 0,
            timeline_len,
            data_channels: Vec::new(),
            tracks: Vec::new(),
            counters: Counters::default(),
            series: Series::default(),
            drops: BTreeMap::new(),
            closed: None,
        };
        state.push_change(StateMachine::Lifecycle, Lifecycle::New.as_str(), opened_ms);
        Self {
            id,
            kind,
            attrs,
            opened,
            token: CancellationToken::new(),
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle {
        self.state.lock().lifecycle
    }

    /// A copy of the current counters.
    pub(crate) fn counters(&self) -> Counters {
        self.state.lock().counters.clone()
    }

    pub(crate) fn summary(
        &self,
        clock: &Clock,
        now: Instant,
        tasks_alive: u64,
    ) -> ConnectionSummary {
        let st = self.state.lock();
        self.summary_locked(&st, clock, now, tasks_alive)
    }

    fn summary_locked(
        &self,
        st: &ConnState,
        clock: &Clock,
        now: Instant,
        tasks_alive: u64,
    ) -> ConnectionSummary {
        let end = st.closed.as_ref().map(|(t, _)| *t).unwrap_or(now);
        let mut states = st.machines.clone();
        states.remove(&StateMachine::Lifecycle);
        ConnectionSummary {
            id: self.id,
            kind: self.kind,
            attrs: self.attrs.clone(),
            lifecycle: st.lifecycle,
            states,
            opened_ms: clock.epoch_ms(self.opened),
            closed_ms: st.closed.as_ref().map(|(t, _)| clock.epoch_ms(*t)),
            close_reason: st.closed.as_ref().map(|(_, r)| r.clone()),
            duration_ms: ms(end.saturating_duration_since(self.opened)),
            counters: st.counters.clone(),
            tasks_alive,
        }
    }

    pub(crate) fn detail(
        &self,
        clock: &Clock,
        now: Instant,
        operations: Vec<OperationSnapshot>,
        tasks: Vec<TaskSnapshot>,
    ) -> ConnectionDetail {
        let st = self.state.lock();
        ConnectionDetail {
            summary: self.summary_locked(&st, clock, now, tasks.len() as u64),
            history: st.history.iter().cloned().collect(),
            history_dropped: st.history_dropped,
            timeline: st.timeline.iter().cloned().collect(),
            timeline_dropped: st.timeline_dropped,
            data_channels: st.data_channels.clone(),
            tracks: st.tracks.clone(),
            drops: st
                .drops
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            operations,
            tasks,
            series: st.series.to_vec(),
        }
    }

    /// Records a timeline event (used by operations finishing on this connection).
    pub(crate) fn event(&self, at_ms: u64, text: String) {
        self.state.lock().push_event(at_ms, text);
    }
}

/// Handle to a registered connection. Cheap to clone; the last clone dropped without [`Connection::close`]
/// closes the connection with reason `"dropped"`.
///
/// A task that holds a clone keeps the connection open: tasks that must not (a stats loop) hold a
/// [`WeakConnection`] from [`Connection::downgrade`] and end on [`Connection::closed_token`].
#[derive(Clone)]
pub struct Connection {
    handle: Arc<Handle>,
}

struct Handle {
    record: Arc<ConnRecord>,
    hub: Arc<dyn Hub>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        close(&*self.hub, &self.record, "dropped");
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.handle.record.id)
            .field("kind", &self.handle.record.kind)
            .finish()
    }
}

impl Connection {
    pub(crate) fn new(record: Arc<ConnRecord>, hub: Arc<dyn Hub>) -> Self {
        Self {
            handle: Arc::new(Handle { record, hub }),
        }
    }

    fn now_ms(&self) -> u64 {
        self.handle.hub.clock().epoch_ms(Instant::now())
    }

    pub fn id(&self) -> ConnectionId {
        self.handle.record.id
    }

    pub fn kind(&self) -> ConnectionKind {
        self.handle.record.kind
    }

    /// The owner to pass to `Monitor::spawn` for tasks that must end with this connection.
    pub fn owner(&self) -> Owner {
        Owner::Connection(self.id())
    }

    /// Cancelled when the connection closes (explicitly or by dropping the last handle): tasks owned by the
    /// connection select on it so they end with it, as leak detection expects.
    pub fn closed_token(&self) -> CancellationToken {
        self.handle.record.token.clone()
    }

    /// Whether the connection has been closed.
    pub fn is_closed(&self) -> bool {
        self.handle.record.lifecycle() == Lifecycle::Closed
    }

    /// Records the new state of one machine (history + timeline). A repeated report of the current state is not
    /// a change. For [`StateMachine::Lifecycle`], `state` must be a [`Lifecycle`] name; `"closed"` closes the
    /// connection; an unknown name is recorded as a timeline event and otherwise ignored.
    pub fn set_state(&self, machine: StateMachine, state: &str) {
        if machine == StateMachine::Lifecycle {
            match state.parse::<Lifecycle>() {
                Ok(l) => self.set_lifecycle(l),
                Err(e) => {
                    tracing::warn!(conn = %self.id(), "{e}");
                    let at = self.now_ms();
                    self.handle.record.event(at, format!("ignored: {e}"));
                }
            }
            return;
        }
        let at = self.now_ms();
        let mut st = self.handle.record.state.lock();
        if st.closed.is_some() {
            // Late reports from a closing transport are still worth seeing, but they don't reopen anything.
            st.push_event(at, format!("after close: {machine} -> {state}"));
            return;
        }
        st.push_change(machine, state, at);
    }

    /// Moves the lifecycle forward; [`Lifecycle::Closed`] is the same as `close("closed")`. Changes after close
    /// are ignored (a closed connection stays closed).
    pub fn set_lifecycle(&self, state: Lifecycle) {
        if state == Lifecycle::Closed {
            self.close("closed");
            return;
        }
        let at = self.now_ms();
        let mut st = self.handle.record.state.lock();
        if st.closed.is_some() {
            return;
        }
        st.lifecycle = state;
        st.push_change(StateMachine::Lifecycle, state.as_str(), at);
    }

    /// Adds an event to the bounded timeline.
    pub fn event(&self, text: impl Into<String>) {
        let at = self.now_ms();
        self.handle.record.event(at, text.into());
    }

    /// Records a data channel's state (`connecting`, `open`, `closing`, `closed`).
    pub fn data_channel(&self, label: &str, state: &str) {
        let at = self.now_ms();
        let mut st = self.handle.record.state.lock();
        if let Some(dc) = st.data_channels.iter_mut().find(|d| d.label == label) {
            if dc.state == state {
                return;
            }
            dc.state = state.to_owned();
            dc.changed_ms = at;
        } else if st.data_channels.len() >= MAX_CHANNELS_OR_TRACKS {
            st.push_event(
                at,
                format!("data channel {label:?} not tracked: too many channels"),
            );
            return;
        } else {
            st.data_channels.push(DataChannelSnapshot {
                label: label.to_owned(),
                state: state.to_owned(),
                opened_ms: at,
                changed_ms: at,
            });
        }
        st.push_event(at, format!("data channel {label:?}: {state}"));
    }

    /// Records a track's state (`added`, `live`, `ended`, …).
    pub fn track(&self, id: &str, kind: &str, state: &str) {
        let at = self.now_ms();
        let mut st = self.handle.record.state.lock();
        if let Some(t) = st.tracks.iter_mut().find(|t| t.id == id) {
            if t.state == state && t.kind == kind {
                return;
            }
            t.state = state.to_owned();
            t.kind = kind.to_owned();
            t.changed_ms = at;
        } else if st.tracks.len() >= MAX_CHANNELS_OR_TRACKS {
            st.push_event(at, format!("track {id:?} not tracked: too many tracks"));
            return;
        } else {
            st.tracks.push(TrackSnapshot {
                id: id.to_owned(),
                kind: kind.to_owned(),
                state: state.to_owned(),
                added_ms: at,
                changed_ms: at,
            });
        }
        st.push_event(at, format!("{kind} track {id:?}: {state}"));
    }

    /// Updates the transport counters (called by the owner's stats loop; a short lock). For connections that
    /// carry video, also adds a sample to the network history when this second has none yet.
    pub fn update_counters(&self, f: impl FnOnce(&mut Counters)) {
        self.update_counters_at(Instant::now(), f);
    }

    /// [`Self::update_counters`] at a given instant (tests drive the history on virtual time).
    pub(crate) fn update_counters_at(&self, now: Instant, f: impl FnOnce(&mut Counters)) {
        let record = &self.handle.record;
        let mut st = record.state.lock();
        f(&mut st.counters);
        if record.kind.carries_video() {
            let at = self.handle.hub.clock().epoch_ms(now);
            let ConnState {
                series, counters, ..
            } = &mut *st;
            series.record(now, at, counters);
        }
    }

    /// Counts `n` frames not sent to this connection, by reason (`"queue_full"`, `"waiting_keyframe"`, …).
    /// Adds to `frames_dropped` too. No allocation once a reason has been seen.
    pub fn dropped(&self, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        {
            let mut st = self.handle.record.state.lock();
            st.counters.frames_dropped += n;
            *st.drops.entry(reason).or_insert(0) += n;
        }
        self.handle
            .hub
            .count_connection_drop(self.kind(), reason, n);
    }

    /// Ends the connection: lifecycle `closed` with `reason`, token cancelled, leak detection armed for its tasks,
    /// log file queued. Idempotent: only the first call (or drop) records anything.
    pub fn close(&self, reason: &str) {
        close(&*self.handle.hub, &self.handle.record, reason);
    }

    /// A handle that does not keep the connection open.
    pub fn downgrade(&self) -> WeakConnection {
        WeakConnection {
            handle: Arc::downgrade(&self.handle),
            id: self.id(),
        }
    }
}

/// A non-owning [`Connection`] handle, for tasks that report on a connection without keeping it open.
#[derive(Clone, Debug)]
pub struct WeakConnection {
    handle: std::sync::Weak<Handle>,
    id: ConnectionId,
}

impl WeakConnection {
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The connection, unless every [`Connection`] handle is gone (it is then closed).
    pub fn upgrade(&self) -> Option<Connection> {
        self.handle.upgrade().map(|handle| Connection { handle })
    }
}

fn close(hub: &dyn Hub, record: &ConnRecord, reason: &str) {
    let now = Instant::now();
    {
        let mut st = record.state.lock();
        if st.closed.is_some() {
            return;
        }
        let at = hub.clock().epoch_ms(now);
        st.closed = Some((now, reason.to_owned()));
        st.lifecycle = Lifecycle::Closed;
        st.push_change(StateMachine::Lifecycle, Lifecycle::Closed.as_str(), at);
        st.push_event(at, format!("closed: {reason}"));
    }
    record.token.cancel();
    // Recently closed list, leak detection armed for its tasks, log file queued: in this order.
    hub.connection_closed(record.id, now);
    tracing::debug!(conn = %record.id, kind = %record.kind, reason, "connection closed");
}
