//! What a peer shares with the rest of the gateway and between its own parts: the events it reports, the feed it
//! pulls video from, and the state its handle and driver task share. A leaf of `peer/`: its siblings import it,
//! it imports none of them.

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use sightline_media::h264::AccessUnit;
use tokio::sync::watch;
use webrtc::data_channel::DataChannel;

use super::candidate::CandidateInit;

/// Label of the data channel that carries input, acknowledgements and errors.
pub const CONTROL_LABEL: &str = "control";
/// Track id of the video track (also its monitor name).
pub(crate) const TRACK_ID: &str = "screen-video";

/// What a peer tells the session manager, in order, through its bounded event receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A local ICE candidate to send to the client (offer flow only); `None` = end of candidates.
    LocalCandidate(Option<CandidateInit>),
    /// The peer connection is connected (ICE + DTLS); video starts with the next keyframe.
    Connected,
    /// The connection failed (ICE found no path, or consent expired after a disconnection). The peer tears
    /// itself down; `Closed` follows. The text is safe to show the client.
    Failed(String),
    /// The peer is closed and every task it owned has ended.
    Closed,
    /// The control data channel is open: [`super::Peer::send_control`] works from now on.
    ControlOpen,
    /// A text message from the client on the control data channel.
    Control(String),
    /// The receiver sent a PLI or FIR. Already forwarded to the feed; informational.
    KeyframeRequested,
    /// The video feed ended (its pipeline stopped: screen gone, engine shut down). The peer stays up (the
    /// data channel still works); the session manager decides whether to close it.
    VideoEnded,
}

/// A video source the peer pulls from (the session manager implements it for media's `VideoSubscription`).
pub trait VideoFeed: Send + 'static {
    /// The next access unit, `None` when the source has ended. Must be cancel-safe: the media task drops a
    /// pending `recv` to handle a keyframe request or shutdown, and calls it again afterwards.
    fn recv(&mut self) -> impl Future<Output = Option<Arc<AccessUnit>>> + Send;
    /// Asks the encoder for an IDR soon (coalesced by the encoder's keyframe gate).
    fn request_keyframe(&self);
}

/// State shared between the [`super::Peer`] handle and its driver task.
pub(crate) struct Shared {
    /// The control channel while it is open (set and cleared by the driver; never held across an await).
    pub(crate) control: Mutex<Option<Arc<dyn DataChannel>>>,
    /// Set by the driver when teardown has finished.
    pub(crate) finished: watch::Sender<bool>,
}
