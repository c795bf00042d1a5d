//! Errors of the peer wrapper.
//!
//! Every `Display` text is safe to show a client: it names what was wrong with *their* input or what failed,
//! never an internal detail. The webrtc-rs error that caused it, when there is one, is kept as the `source` for
//! logs and the monitor.

/// Why a peer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The gateway's WebRTC configuration is invalid (reported at startup).
    #[error("invalid WebRTC configuration: {0}")]
    InvalidConfig(String),
    /// Building the peer connection, its track or its data channel failed.
    #[error("could not set up the WebRTC connection")]
    Setup(#[source] webrtc::error::Error),
    /// The remote description is malformed, too large or not applicable.
    #[error("the session description was rejected: {0}")]
    InvalidSdp(&'static str),
    /// webrtc-rs refused the description (parse or negotiation failure).
    #[error("the session description was rejected")]
    Negotiation(#[source] webrtc::error::Error),
    /// The remote side cannot receive our video.
    #[error(
        "the {0} does not accept H.264 video (constrained baseline, packetization-mode=1) in a receiving video section"
    )]
    NoH264(&'static str),
    /// The candidate is malformed or too large.
    #[error("the ICE candidate was rejected")]
    InvalidCandidate(#[source] Option<webrtc::error::Error>),
    /// An operation that needs a state the peer is not in (e.g. an answer without a pending offer).
    #[error("{0}")]
    WrongState(&'static str),
    /// The control data channel is not (or no longer) open.
    #[error("the control data channel is not open")]
    ControlNotOpen,
    /// Sending on the control data channel failed.
    #[error("could not send on the control data channel")]
    ControlSend(#[source] webrtc::error::Error),
    /// The peer has been closed.
    #[error("the WebRTC connection is closed")]
    Closed,
}
