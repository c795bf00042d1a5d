//! The media engine's video subscriptions as a peer's [`VideoFeed`], switching between a screen's quality tiers.
//!
//! A tier is a [`VideoProfile`]: the engine runs one encoder per (screen, profile) while someone subscribes, so
//! viewers on the same tier share one encoder and a tier nobody watches costs nothing. Switching subscribes to
//! the new tier first and keeps returning the old tier's pictures until the new subscription delivers its first
//! keyframe (a subscriber receives nothing before an IDR); only then is the old subscription dropped. The
//! picture never breaks and the receiver sees one stream whose resolution changes at a keyframe.

use std::sync::Arc;

use sightline_media::engine::{Engine, VideoProfile, VideoSubscription};
use sightline_media::h264::AccessUnit;

use super::events::{TierInfo, VideoFeed};

/// One rung of a screen's ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Name for people and the monitor: `t1 640w 1200k`.
    pub name: String,
    /// The width it encodes, pixels.
    pub width: u32,
    /// The encoder it shares.
    pub profile: VideoProfile,
}

impl Tier {
    /// A tier named after its index, the width it encodes on a `screen_width`-wide screen and its bitrate.
    pub fn new(index: usize, profile: VideoProfile, screen_width: u32) -> Self {
        let width = profile.max_width.unwrap_or(screen_width).min(screen_width);
        Self {
            name: format!("t{index} {width}w {}k", profile.bitrate_kbps),
            width,
            profile,
        }
    }
}

/// A viewer's subscription to one tier's shared encoder, able to move to another tier.
pub struct SubscriptionFeed {
    current: VideoSubscription,
    tier: usize,
    /// The tier being joined, until its first keyframe.
    next: Option<(usize, VideoSubscription)>,
    /// What can be switched to; empty for a single fixed subscription.
    ladder: Option<Ladder>,
    wish: Option<u32>,
}

struct Ladder {
    engine: Engine,
    screen: String,
    tiers: Vec<Tier>,
}

impl SubscriptionFeed {
    /// One fixed subscription (no tiers).
    pub fn new(sub: VideoSubscription) -> Self {
        Self {
            current: sub,
            tier: 0,
            next: None,
            ladder: None,
            wish: None,
        }
    }

    /// Subscribes to `tiers[start]` of `screen`; the feed may later move between `tiers`.
    pub fn with_tiers(
        engine: Engine,
        screen: &str,
        tiers: Vec<Tier>,
        start: usize,
    ) -> Result<Self, sightline_media::MediaError> {
        let start = start.min(tiers.len().saturating_sub(1));
        let profile = tiers
            .get(start)
            .map(|t| t.profile)
            .unwrap_or_else(|| engine.config().video);
        let current = engine.subscribe_video(screen, profile)?;
        Ok(Self {
            current,
            tier: start,
            next: None,
            ladder: Some(Ladder {
                engine,
                screen: screen.to_owned(),
                tiers,
            }),
            wish: None,
        })
    }

    /// Swaps in the tier that was being joined.
    fn adopt_next(&mut self) {
        if let Some((tier, sub)) = self.next.take() {
            self.current = sub;
            self.tier = tier;
            self.current.set_desired_bitrate(self.wish);
        }
    }
}

impl VideoFeed for SubscriptionFeed {
    async fn recv(&mut self) -> Option<Arc<AccessUnit>> {
        loop {
            let Some((_, next)) = self.next.as_mut() else {
                return self.current.recv().await;
            };
            tokio::select! {
                biased;
                au = next.recv() => match au {
                    Some(au) if au.keyframe => {
                        self.adopt_next();
                        return Some(au);
                    }
                    // Cannot happen (a subscriber starts at an IDR); never start a tier on a P-frame.
                    Some(_) => continue,
                    // The new tier's encoder ended: stay where we are.
                    None => self.next = None,
                },
                au = self.current.recv() => return au,
            }
        }
    }

    fn request_keyframe(&self) {
        match &self.next {
            // The new tier's first keyframe is what the viewer needs next.
            Some((_, next)) => next.request_keyframe(),
            None => self.current.request_keyframe(),
        }
    }

    fn tiers(&self) -> Vec<TierInfo> {
        self.ladder.as_ref().map_or_else(Vec::new, |l| {
            l.tiers
                .iter()
                .map(|t| TierInfo {
                    name: t.name.clone(),
                    top_kbps: t.profile.bitrate_kbps,
                    width: t.width,
                })
                .collect()
        })
    }

    fn tier(&self) -> usize {
        self.tier
    }

    fn switch_tier(&mut self, tier: usize) -> Result<(), String> {
        let Some(ladder) = &self.ladder else {
            return Err("this feed has no tiers".to_owned());
        };
        let Some(target) = ladder.tiers.get(tier) else {
            return Err(format!("no tier {tier}"));
        };
        if tier == self.tier {
            // Back to where we are: abandon the join.
            self.next = None;
            return Ok(());
        }
        if self.next.as_ref().is_some_and(|(t, _)| *t == tier) {
            return Ok(());
        }
        let sub = ladder
            .engine
            .subscribe_video(&ladder.screen, target.profile)
            .map_err(|e| e.to_string())?;
        sub.request_keyframe();
        self.next = Some((tier, sub));
        Ok(())
    }

    fn switching(&self) -> bool {
        self.next.is_some()
    }

    fn set_desired_bitrate(&mut self, kbps: Option<u32>) {
        self.wish = kbps;
        self.current.set_desired_bitrate(kbps);
    }
}
