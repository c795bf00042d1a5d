//! The driver task: one per peer, the single owner of the peer's state.
//!
//! It turns every webrtc-rs event — callbacks (via `handler.rs`), control data channel events, RTCP keyframe
//! requests on the local track — into monitor records and [`PeerEvent`]s for the session manager, and it is
//! the only place the peer is torn down: when the gateway closes it, when ICE fails, or when webrtc-rs closes
//! the connection. [`Driver::run`] wraps [`Driver::run_inner`] so that every exit path goes through the same
//! teardown and is logged once with its reason.

use std::sync::Arc;
use std::time::Instant;

use sightline_monitor::{Connection, Lifecycle, Monitor, StateMachine};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{PeerConnection, RTCIceGatheringState, RTCPeerConnectionState};

use super::candidate::{CandidateInit, first_mid};
use super::config::CLOSE_TIMEOUT;
use super::events::{CONTROL_LABEL, PeerEvent, Shared, TRACK_ID};
use super::handler::HandlerEvent;
use super::interceptor::{KeyframeRequest, keyframe_request_kind};

/// Everything the driver task owns.
pub(crate) struct Driver {
    pub(crate) pc: Arc<dyn PeerConnection>,
    pub(crate) conn: Connection,
    pub(crate) monitor: Monitor,
    pub(crate) handler_rx: mpsc::Receiver<HandlerEvent>,
    pub(crate) events: mpsc::Sender<PeerEvent>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) shared: Arc<Shared>,
    pub(crate) track: Arc<TrackLocalStaticRTP>,
    pub(crate) connected_tx: watch::Sender<bool>,
    pub(crate) gathering_tx: watch::Sender<bool>,
    pub(crate) keyframe: Arc<Notify>,
    /// The control channel we created (offer flow); in the answer flow the client creates it.
    pub(crate) control: Option<Arc<dyn DataChannel>>,
    /// Send `LocalCandidate` events (offer flow). The answer flow returns all candidates inside the answer.
    pub(crate) trickle: bool,
    /// The media and stats tasks, awaited during teardown.
    pub(crate) workers: Vec<JoinHandle<()>>,
    /// When the peer was created, for the connect-time figure in the timeline.
    pub(crate) started: Instant,
    /// `KeyframeRequested` events that did not fit in the event queue (reported once, at teardown).
    pub(crate) keyframe_events_dropped: u64,
}

/// Why the driver loop ended.
struct Exit {
    reason: &'static str,
    /// `PeerEvent::Failed` text, when the session manager must be told it failed.
    failure: Option<&'static str>,
}

/// Mutable per-run state of the loop (kept apart from [`Driver`] so `select!` futures can borrow it).
#[derive(Default)]
struct LoopState {
    control_open: bool,
    /// Poll the local track for RTCP once negotiation has bound it (it returns `None` before that).
    track_bound: bool,
    mid: Option<String>,
    connected_reported: bool,
}

impl Driver {
    pub(crate) async fn run(mut self) {
        let exit = self.run_inner().await;
        if let Some(failure) = exit.failure {
            // Overflow: awaited briefly — the session manager should learn why before `Closed`.
            let _ = tokio::time::timeout(
                CLOSE_TIMEOUT,
                self.events.send(PeerEvent::Failed(failure.to_owned())),
            )
            .await;
        }
        self.teardown(exit.reason).await;
    }

    async fn run_inner(&mut self) -> Exit {
        let mut state = LoopState::default();
        let mut control = self.control.take();
        if control.is_some() {
            self.conn.data_channel(CONTROL_LABEL, "connecting");
        }
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    return Exit { reason: "closed", failure: None };
                }
                event = self.handler_rx.recv() => {
                    let Some(event) = event else {
                        return Exit { reason: "webrtc driver stopped", failure: Some("the WebRTC connection stopped") };
                    };
                    if let Some(exit) = self.on_handler_event(event, &mut state, &mut control).await {
                        return exit;
                    }
                }
                event = poll_channel(control.as_deref()) => {
                    match event {
                        Some(event) => self.on_control_event(event, &mut state, control.as_ref()).await,
                        None => {
                            // The channel's event stream ended: it is closed (or the connection is).
                            self.control_closed(&mut state);
                            control = None;
                        }
                    }
                }
                event = poll_track(&self.track, state.track_bound) => {
                    match event {
                        Some(TrackLocalEvent::OnRtcpPacket(packets)) => self.on_rtcp(&packets),
                        Some(_) => {}
                        None => state.track_bound = false,
                    }
                }
            }
        }
    }

    async fn on_handler_event(
        &mut self,
        event: HandlerEvent,
        state: &mut LoopState,
        control: &mut Option<Arc<dyn DataChannel>>,
    ) -> Option<Exit> {
        match event {
            HandlerEvent::Signaling(s) => {
                self.conn.set_state(StateMachine::Signaling, &s.to_string())
            }
            HandlerEvent::IceConnection(s) => {
                self.conn.set_state(StateMachine::Ice, &s.to_string())
            }
            HandlerEvent::Gathering(s) => {
                self.conn.event(format!("ice gathering: {s}"));
                if s == RTCIceGatheringState::Complete {
                    self.gathering_tx.send_replace(true);
                    if self.trickle {
                        self.emit(PeerEvent::LocalCandidate(None)).await;
                    }
                }
            }
            HandlerEvent::Candidate(Some(init)) => {
                self.conn
                    .event(format!("local candidate {}", init.candidate));
                if self.trickle {
                    if state.mid.is_none() {
                        state.mid = match self.pc.local_description().await {
                            Some(desc) => first_mid(&desc.sdp),
                            None => None,
                        };
                    }
                    let candidate = CandidateInit {
                        candidate: init.candidate,
                        sdp_mid: state.mid.clone(),
                        sdp_mline_index: Some(0),
                    };
                    self.emit(PeerEvent::LocalCandidate(Some(candidate))).await;
                }
            }
            HandlerEvent::Candidate(None) => {
                self.conn
                    .event("a local candidate could not be encoded; skipped");
            }
            HandlerEvent::CandidateError(text) => {
                self.conn.event(format!("ice candidate error: {text}"));
            }
            HandlerEvent::Connection(s) => {
                self.conn.set_state(StateMachine::Peer, &s.to_string());
                match s {
                    RTCPeerConnectionState::Connecting => {
                        self.conn.set_lifecycle(Lifecycle::Connecting);
                    }
                    RTCPeerConnectionState::Connected if !state.connected_reported => {
                        state.connected_reported = true;
                        state.track_bound = true;
                        self.conn.set_lifecycle(Lifecycle::Connected);
                        self.conn.track(TRACK_ID, "video", "live");
                        self.conn.event(format!(
                            "connected {:.1} ms after the peer was created",
                            self.started.elapsed().as_secs_f64() * 1000.0
                        ));
                        self.connected_tx.send_replace(true);
                        self.emit(PeerEvent::Connected).await;
                    }
                    RTCPeerConnectionState::Disconnected => {
                        self.conn
                            .event("disconnected: no traffic; waiting for ICE to recover or fail");
                    }
                    RTCPeerConnectionState::Failed => {
                        return Some(Exit {
                            reason: "ice failed",
                            failure: Some("the connection to the viewer failed"),
                        });
                    }
                    RTCPeerConnectionState::Closed => {
                        return Some(Exit {
                            reason: "peer connection closed",
                            failure: None,
                        });
                    }
                    _ => {}
                }
            }
            HandlerEvent::DataChannel(dc) => {
                let label = dc.label().await.unwrap_or_default();
                if label == CONTROL_LABEL && control.is_none() {
                    // webrtc-rs announces a remote channel once it is open.
                    *control = Some(dc.clone());
                    self.control_opened(state, &dc).await;
                } else {
                    self.conn.event(format!(
                        "ignored data channel {label:?} opened by the client"
                    ));
                }
            }
            HandlerEvent::RemoteTrack => {
                self.conn
                    .event("the client sent a media track; ignored (we only send)");
            }
        }
        None
    }

    async fn on_control_event(
        &mut self,
        event: DataChannelEvent,
        state: &mut LoopState,
        control: Option<&Arc<dyn DataChannel>>,
    ) {
        match event {
            DataChannelEvent::OnOpen => {
                if let Some(dc) = control {
                    self.control_opened(state, dc).await;
                }
            }
            DataChannelEvent::OnMessage(message) => {
                if !message.is_string {
                    self.conn
                        .event("ignored a binary message on the control channel");
                    return;
                }
                match String::from_utf8(message.data.to_vec()) {
                    // Overflow: awaited — holding the message here makes webrtc-rs retain the next ones and
                    // SCTP flow control slow the client down; no input is lost.
                    Ok(text) => self.emit(PeerEvent::Control(text)).await,
                    Err(_) => self
                        .conn
                        .event("ignored a control message that is not valid UTF-8"),
                }
            }
            DataChannelEvent::OnClosing => self.conn.data_channel(CONTROL_LABEL, "closing"),
            DataChannelEvent::OnClose => self.control_closed(state),
            DataChannelEvent::OnError => self.conn.event("control data channel error"),
            _ => {}
        }
    }

    async fn control_opened(&mut self, state: &mut LoopState, dc: &Arc<dyn DataChannel>) {
        if state.control_open {
            return;
        }
        state.control_open = true;
        *self.shared.control.lock() = Some(dc.clone());
        self.conn.data_channel(CONTROL_LABEL, "open");
        self.emit(PeerEvent::ControlOpen).await;
    }

    fn control_closed(&mut self, state: &mut LoopState) {
        if state.control_open {
            state.control_open = false;
            self.shared.control.lock().take();
            self.conn.data_channel(CONTROL_LABEL, "closed");
        }
    }

    fn on_rtcp(&mut self, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        let mut requested = false;
        for packet in packets {
            match keyframe_request_kind(packet.as_ref()) {
                Some(KeyframeRequest::Pli) => {
                    self.conn.event("PLI received: keyframe requested");
                    requested = true;
                }
                Some(KeyframeRequest::Fir) => {
                    self.conn.event("FIR received: keyframe requested");
                    requested = true;
                }
                None => {}
            }
        }
        if requested {
            // One permit at most: requests arriving before the media task runs coalesce into one.
            self.keyframe.notify_one();
            // Overflow: dropped and counted — informational, the keyframe itself is already on its way.
            if self.events.try_send(PeerEvent::KeyframeRequested).is_err() {
                self.keyframe_events_dropped += 1;
            }
        }
    }

    /// Overflow policy of lifecycle events: awaited (see `PEER_EVENT_CAPACITY`), but never past shutdown: a
    /// session manager that stopped reading must not keep the peer from being torn down. A dropped receiver
    /// means nobody listens any more, which is not an error for the peer.
    async fn emit(&self, event: PeerEvent) {
        tokio::select! {
            _ = self.events.send(event) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }

    /// Stops everything this peer owns, in dependency order, and closes its monitor connection.
    async fn teardown(&mut self, reason: &'static str) {
        let op = self.monitor.operation("close", Some(self.conn.id()));
        self.shutdown.cancel();
        // webrtc-rs keeps calling the handler while it closes; with nobody reading any more, those calls must
        // fail at once instead of waiting for room in the queue.
        self.handler_rx.close();
        // Media and stats first: the stats task takes its last sample while the connection is still open.
        for worker in self.workers.drain(..) {
            let abort = worker.abort_handle();
            if tokio::time::timeout(CLOSE_TIMEOUT, worker).await.is_err() {
                abort.abort();
                self.conn
                    .event("a peer task did not stop in time and was aborted");
            }
        }
        if self.keyframe_events_dropped > 0 {
            self.conn.event(format!(
                "{} keyframe-request events were not queued (event queue full)",
                self.keyframe_events_dropped
            ));
        }
        self.shared.control.lock().take();
        let closed = self.pc.close().await;
        self.connected_tx.send_replace(false);
        self.conn.track(TRACK_ID, "video", "ended");
        // Overflow: dropped when full — the session manager may have stopped reading; `close()` returning is
        // the authoritative signal for it.
        let _ = self.events.try_send(PeerEvent::Closed);
        tracing::info!(connection = %self.conn.id(), reason, "webrtc peer closed");
        // Also moves the lifecycle to `closed` (`set_lifecycle(Closed)` would record the reason as "closed").
        self.conn.close(reason);
        match closed {
            Ok(()) => op.ok(),
            Err(e) => op.fail(format!("peer connection close: {e}")),
        }
        self.shared.finished.send_replace(true);
    }
}

/// The next event of the control channel; pending forever while there is none.
async fn poll_channel(dc: Option<&dyn DataChannel>) -> Option<DataChannelEvent> {
    match dc {
        Some(dc) => dc.poll().await,
        None => std::future::pending().await,
    }
}

/// The next RTCP event of the local track once it is bound; pending forever before.
async fn poll_track(track: &TrackLocalStaticRTP, bound: bool) -> Option<TrackLocalEvent> {
    if bound {
        track.poll().await
    } else {
        std::future::pending().await
    }
}
