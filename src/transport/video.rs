//! Glue between the media engine's video subscriptions and WebRTC peers.
//!
//! The subscription moves into the peer (its media task is the only reader). Stream commands from the viewer
//! (`keyframe`, `quality`) go straight to the pipeline through the subscription's [`VideoControl`], so the socket
//! task never needs the subscription itself and can acknowledge a command only once it took effect.

use std::sync::Arc;

use sightline_media::MediaError;
use sightline_media::engine::{VideoControl, VideoSubscription};
use sightline_media::h264::AccessUnit;

use crate::config::Config;
use crate::peer::{IceServer, PeerConfig, VideoFeed};

/// The socket's handle on a feed's stream: keyframe and bitrate requests.
#[derive(Clone, Debug)]
pub struct FeedControl {
    control: VideoControl,
}

impl FeedControl {
    /// Asks for an IDR.
    pub fn request_keyframe(&self) {
        self.control.request_keyframe();
    }

    /// Changes the stream's bitrate (kbit/s), for every viewer of the same pipeline; out-of-range values are
    /// refused.
    pub fn set_bitrate(&self, kbps: u32) -> Result<(), MediaError> {
        self.control.set_bitrate(kbps)
    }
}

/// A viewer's subscription to the shared encoder, as the peer's [`VideoFeed`].
pub struct SubscriptionFeed {
    sub: VideoSubscription,
}

impl SubscriptionFeed {
    /// Wraps a subscription; the returned control reaches its pipeline while the peer owns it.
    pub fn new(sub: VideoSubscription) -> (Self, FeedControl) {
        let control = FeedControl {
            control: sub.control(),
        };
        (Self { sub }, control)
    }
}

impl VideoFeed for SubscriptionFeed {
    async fn recv(&mut self) -> Option<Arc<AccessUnit>> {
        self.sub.recv().await
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
