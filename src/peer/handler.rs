//! The webrtc-rs event handler: every callback becomes one message to the peer's driver task.
//!
//! webrtc-rs calls these methods on its own driver task, so they do no work: they forward the event into a
//! bounded channel ([`HANDLER_EVENT_CAPACITY`]) and return. All decisions are taken by `driver.rs`, which owns
//! the peer's state.

use std::sync::Arc;

use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCIceConnectionState, RTCIceGatheringState,
    RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSignalingState,
};

#[cfg(doc)]
use super::config::HANDLER_EVENT_CAPACITY;

/// One webrtc-rs callback.
pub(crate) enum HandlerEvent {
    Signaling(RTCSignalingState),
    IceConnection(RTCIceConnectionState),
    Gathering(RTCIceGatheringState),
    Connection(RTCPeerConnectionState),
    /// A local candidate, already in its signaling form (`None` when webrtc-rs could not express it).
    Candidate(Option<webrtc::peer_connection::RTCIceCandidateInit>),
    CandidateError(String),
    /// The remote side opened a data channel (answer flow: the client creates "control").
    DataChannel(Arc<dyn DataChannel>),
    /// The remote side sends media; we only send, so it is recorded and otherwise ignored.
    RemoteTrack,
}

pub(crate) struct Handler {
    tx: mpsc::Sender<HandlerEvent>,
}

impl Handler {
    pub(crate) fn new(tx: mpsc::Sender<HandlerEvent>) -> Self {
        Self { tx }
    }

    /// Overflow: awaited (see [`HANDLER_EVENT_CAPACITY`]). A closed channel means the driver already finished
    /// tearing the peer down; late events are meaningless then and dropped.
    async fn forward(&self, event: HandlerEvent) {
        let _ = self.tx.send(event).await;
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        self.forward(HandlerEvent::Candidate(event.candidate.to_json().ok()))
            .await;
    }

    async fn on_ice_candidate_error(&self, event: RTCPeerConnectionIceErrorEvent) {
        self.forward(HandlerEvent::CandidateError(format!(
            "{} {}: {}",
            event.url, event.error_code, event.error_text
        )))
        .await;
    }

    async fn on_signaling_state_change(&self, state: RTCSignalingState) {
        self.forward(HandlerEvent::Signaling(state)).await;
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.forward(HandlerEvent::IceConnection(state)).await;
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.forward(HandlerEvent::Gathering(state)).await;
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.forward(HandlerEvent::Connection(state)).await;
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        self.forward(HandlerEvent::DataChannel(data_channel)).await;
    }

    async fn on_track(&self, _track: Arc<dyn TrackRemote>) {
        self.forward(HandlerEvent::RemoteTrack).await;
    }
}
