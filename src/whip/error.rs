//! Why a WHIP publication could not start or stop. `Display` is safe to show an operator: it never contains the
//! Bearer token.

use crate::httpc::HttpError;
use crate::peer::PeerError;

/// A WHIP egress failure.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    /// [`super::MAX_WHIP_PUBLICATIONS`] publications run already.
    #[error("at most {0} WHIP publications may run at once; stop one first")]
    Full(usize),
    /// No such screen.
    #[error("no screen {0:?}")]
    UnknownScreen(String),
    /// The tier is not in the screen's ladder.
    #[error("tier {tier} is not in the screen's quality ladder (tiers 0..{tiers})")]
    BadTier {
        /// The tier asked for.
        tier: usize,
        /// How many tiers the screen has.
        tiers: usize,
    },
    /// The endpoint URL or token is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No such publication.
    #[error("no WHIP publication {0:?} on this screen")]
    NotFound(String),
    /// The screen's video could not be subscribed to, or the peer could not be built.
    #[error("cannot start the video: {0}")]
    Media(String),
    /// The WebRTC side failed.
    #[error("WebRTC: {0}")]
    Peer(#[from] PeerError),
    /// The WHIP server could not be reached or answered garbage at the HTTP level.
    #[error("the WHIP endpoint could not be reached: {0}")]
    Http(#[from] HttpError),
    /// The WHIP server answered with an unexpected status.
    #[error("the WHIP server answered {status}: {body}")]
    Refused {
        /// Its HTTP status.
        status: u16,
        /// A short excerpt of its body.
        body: String,
    },
    /// The WHIP server's answer does not follow RFC 9725 (no `Location`, no SDP answer).
    #[error("the WHIP server's reply is not usable: {0}")]
    Protocol(String),
}

impl WhipError {
    /// Whether the WHIP server (or the way to it) is at fault rather than the request: a `502` at the REST API.
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            Self::Http(_) | Self::Refused { .. } | Self::Protocol(_)
        )
    }
}
