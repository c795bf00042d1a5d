//! The latest-frame pacer both JPEG paths share: the `/ws` fallback stream and MJPEG.
//!
//! The engine runs one JPEG encoder per (screen, quality, max_width) and keeps only its newest frame. Each viewer
//! takes frames at its own rate through a [`Pacer`]: never faster than its `fps`, always the newest frame (a slow
//! viewer skips frames rather than queueing them, so it costs one frame of memory), and the newest frame again
//! after [`KEEPALIVE`] without a change, so a client can tell a still screen from a dead stream.

use std::sync::Arc;
use std::time::Duration;

use sightline_media::engine::JpegSubscription;
use sightline_media::jpeg::JpegFrame;
use tokio::time::Instant;

/// An unchanged screen's last frame is sent again after this long, so a client can tell a still screen from a
/// dead stream (and a late-joining canvas gets a picture).
pub const KEEPALIVE: Duration = Duration::from_secs(3);

/// One viewer's pacing of a JPEG subscription.
pub struct Pacer {
    sub: JpegSubscription,
    interval: Duration,
    next: Instant,
    /// The newest frame seen (sent or not): what a keep-alive repeats.
    latest: Option<Arc<JpegFrame>>,
    /// The sequence number of the last frame handed out, for counting the ones this viewer never got.
    last_sent: Option<u64>,
}

/// A frame due to be sent.
#[derive(Debug)]
pub struct Paced {
    /// The newest frame (or the same one again, as a keep-alive).
    pub frame: Arc<JpegFrame>,
    /// Frames the encoder produced since the previous one handed out that this viewer never got (it was slower,
    /// or paused).
    pub skipped: u64,
}

impl Pacer {
    /// Paces `sub` at `fps` frames per second at most.
    pub fn new(sub: JpegSubscription, fps: u32) -> Self {
        Self {
            sub,
            interval: Duration::from_secs_f64(1.0 / f64::from(fps.max(1))),
            next: Instant::now(),
            latest: None,
            last_sent: None,
        }
    }

    /// Waits until a frame is due and returns it; `None` when the subscription ended (the screen vanished or the
    /// engine stopped). Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Option<Paced> {
        tokio::time::sleep_until(self.next).await;
        let frame = tokio::select! {
            frame = self.sub.changed() => frame?,
            () = tokio::time::sleep(KEEPALIVE), if self.latest.is_some() => self.latest.clone()?,
        };
        let skipped = match self.last_sent {
            Some(last) if frame.seq > last + 1 => frame.seq - last - 1,
            _ => 0,
        };
        self.latest = Some(frame.clone());
        self.last_sent = Some(frame.seq);
        self.next = Instant::now() + self.interval;
        Some(Paced { frame, skipped })
    }

    /// The earliest time the next frame may be handed out (its pacing allows it then; it may wait longer for the
    /// screen to change).
    pub fn due(&self) -> Instant {
        self.next
    }

    /// Moves to another subscription of the same screen (another quality or size), keeping the pace: the next
    /// frame handed out is the new subscription's, and a keep-alive never repeats the old one's picture. Frame
    /// numbers are the capture's, so skipped frames are still counted across the switch. The old subscription is
    /// dropped after the new one exists, so the screen's capture keeps running.
    pub fn switch(&mut self, sub: JpegSubscription) {
        self.sub = sub;
        self.latest = None;
    }

    /// Takes the next frame without sending it (while the viewer is paused), so the encoder's newest frame is
    /// remembered and the end of the subscription is noticed. Returns `false` when the subscription ended.
    /// Cancel-safe.
    pub async fn absorb(&mut self) -> bool {
        match self.sub.changed().await {
            Some(frame) => {
                self.latest = Some(frame);
                true
            }
            None => false,
        }
    }
}
