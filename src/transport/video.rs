//! Glue between the media engine's video subscriptions and WebRTC peers.
//!
//! The subscription moves into the peer (its media task is the only reader). Stream commands from the viewer
//! (`keyframe`, `quality`) reach it through a small bounded control channel that the feed applies between frames,
//! so the socket task never needs the subscription itself.

use std::sync::Arc;

use sightline_media::engine::VideoSubscription;
use sightline_media::h264::AccessUnit;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::peer::{IceServer, PeerConfig, VideoFeed};

/// Stream commands waiting for the feed. Keyframe requests coalesce in the encoder anyway, and a viewer sending
/// more than this many bitrate changes between two frames only needs the last: a full queue drops the command.
const CONTROL_CAPACITY: usize = 8;

enum Control {
    Keyframe,
    Bitrate(u32),
}

/// The socket's handle on a feed's stream: keyframe and bitrate requests.
#[derive(Clone)]
pub struct FeedControl {
    tx: mpsc::Sender<Control>,
}

impl FeedControl {
    /// Asks for an IDR.
    pub fn request_keyframe(&self) {
        let _ = self.tx.try_send(Control::Keyframe);
    }

    /// Changes the stream's bitrate (kbit/s; validated by the caller).
    pub fn set_bitrate(&self, kbps: u32) {
        let _ = self.tx.try_send(Control::Bitrate(kbps));
    }
}

/// A viewer's subscription to the shared encoder, as the peer's [`VideoFeed`].
pub struct SubscriptionFeed {
    sub: VideoSubscription,
    control: mpsc::Receiver<Control>,
}

impl SubscriptionFeed {
    /// Wraps a subscription; the returned control reaches it while the peer owns it.
    pub fn new(sub: VideoSubscription) -> (Self, FeedControl) {
        let (tx, control) = mpsc::channel(CONTROL_CAPACITY);
        (Self { sub, control }, FeedControl { tx })
    }
}

impl VideoFeed for SubscriptionFeed {
    async fn recv(&mut self) -> Option<Arc<AccessUnit>> {
        // Both receivers are cancel-safe, so this loop is too (the peer's contract).
        loop {
            tokio::select! {
                unit = self.sub.recv() => return unit,
                Some(c) = self.control.recv() => match c {
                    Control::Keyframe => self.sub.request_keyframe(),
                    Control::Bitrate(kbps) => {
                        if let Err(e) = self.sub.set_bitrate(kbps) {
                            tracing::debug!(error = %e, "bitrate change refused");
                        }
                    }
                },
            }
        }
    }

    fn request_keyframe(&self) {
        self.sub.request_keyframe();
    }
}

/// The peer settings of a configuration.
pub fn peer_config(config: &Config) -> PeerConfig {
    PeerConfig {
        ice_servers: config
            .webrtc
            .ice_servers
            .iter()
            .map(|s| IceServer {
                urls: s.urls.clone(),
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
            .collect(),
        udp_addrs: config.webrtc.udp_addrs.clone(),
        ..PeerConfig::default()
    }
}
