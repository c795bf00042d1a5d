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
#[derive(Debug, Clone, PartialEq)]
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
    /// Once a second while connected: what the viewer's path and adaptation look like. Informational: dropped
    /// when the event queue is full.
    Network(NetworkReport),
    /// The path cannot carry even the lowest video tier: the viewer is better served by the JPEG fallback. The
    /// text is safe to show the client. The peer keeps running; the session manager decides.
    Fallback(String),
}

/// One viewer's network and adaptation figures (the `/ws` `network` message).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkReport {
    /// Whether congestion control runs for this viewer.
    pub congestion_control: bool,
    /// The congestion controller's estimate, kbit/s (`None` without congestion control or before feedback).
    pub estimate_kbps: Option<f64>,
    /// What the viewer's encoder aims at, kbit/s.
    pub target_kbps: Option<f64>,
    /// What was sent over the last second, kbit/s.
    pub bitrate_kbps: f64,
    /// The tier being sent (0 = best) and its name.
    pub tier: usize,
    pub tier_name: Option<String>,
    /// How many tiers the screen's ladder has.
    pub tiers: usize,
    /// Tier switches so far.
    pub switches: u64,
    /// Fraction of packets lost recently (0..=1), when reported.
    pub loss: Option<f64>,
    /// Round-trip time, when measured.
    pub rtt_ms: Option<f64>,
    /// NACK and PLI packets received so far.
    pub nacks: u64,
    pub plis: u64,
}

/// One rung of a feed's quality ladder, as the peer's adaptation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierInfo {
    /// Name for people and the monitor.
    pub name: String,
    /// The tier's (top) bitrate, kbit/s.
    pub top_kbps: u32,
    /// The width it encodes, pixels (0 = unknown).
    pub width: u32,
}

/// A video source the peer pulls from (the session manager implements it for media's `VideoSubscription`).
pub trait VideoFeed: Send + 'static {
    /// The next access unit, `None` when the source has ended. Must be cancel-safe: the media task drops a
    /// pending `recv` to handle a keyframe request or shutdown, and calls it again afterwards.
    fn recv(&mut self) -> impl Future<Output = Option<Arc<AccessUnit>>> + Send;
    /// Asks the encoder for an IDR soon (coalesced by the encoder's keyframe gate).
    fn request_keyframe(&self);
    /// The quality ladder this feed can move along, best first; empty when it cannot switch.
    fn tiers(&self) -> Vec<TierInfo> {
        Vec::new()
    }
    /// The tier whose pictures `recv` returns now.
    fn tier(&self) -> usize {
        0
    }
    /// Starts moving to `tier`: `recv` keeps returning the current tier's pictures until the new tier's first
    /// keyframe, then only the new tier's.
    fn switch_tier(&mut self, tier: usize) -> Result<(), String> {
        Err(format!("this feed cannot switch to tier {tier}"))
    }
    /// Whether a switch started by [`VideoFeed::switch_tier`] is still waiting for the new tier's keyframe.
    fn switching(&self) -> bool {
        false
    }
    /// The bitrate this viewer would like its tier's encoder to use (kbit/s; `None` = the tier's own). The
    /// engine applies it only while the viewer is the encoder's only subscriber.
    fn set_desired_bitrate(&mut self, _kbps: Option<u32>) {}
}

/// State shared between the [`super::Peer`] handle and its driver task.
pub(crate) struct Shared {
    /// The control channel while it is open (set and cleared by the driver; never held across an await).
    pub(crate) control: Mutex<Option<Arc<dyn DataChannel>>>,
    /// Set by the driver when teardown has finished.
    pub(crate) finished: watch::Sender<bool>,
}
