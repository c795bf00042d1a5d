//! The media engine's video subscription as a peer's [`VideoFeed`].
//!
//! The subscription moves into the peer (its media task is the only reader). Stream commands from the viewer
//! (`keyframe`, `quality`) go straight to the pipeline through the subscription's [`VideoControl`], so the socket
//! task never needs the subscription itself and can acknowledge a command only once it took effect.

use std::sync::Arc;

use sightline_media::engine::{VideoControl, VideoSubscription};
use sightline_media::h264::AccessUnit;

use super::events::VideoFeed;

/// A viewer's subscription to the shared encoder.
pub struct SubscriptionFeed {
    sub: VideoSubscription,
}

impl SubscriptionFeed {
    /// Wraps a subscription; the returned control reaches its pipeline while the peer owns it.
    pub fn new(sub: VideoSubscription) -> (Self, VideoControl) {
        let control = sub.control();
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
