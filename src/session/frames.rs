//! Frames for the session manager's callers: snapshots (with the cursor drawn in when asked), JPEG encoding, HQ
//! frames, frame and JPEG subscriptions of a screen.

use std::sync::Arc;
use std::time::SystemTime;

use sightline_media::ScreenInfo;
use sightline_media::engine::{FrameSubscription, JpegProfile, JpegSubscription};
use sightline_media::frame::Frame;
use sightline_media::jpeg::JpegFrame;
use sightline_monitor::ConnectionId;

use super::{SessionManager, profiles};
use crate::control::Error;
use crate::fleet::is_remote_screen;

impl SessionManager {
    /// The latest frame of a screen: the running capture's, otherwise one capture.
    pub async fn snapshot(&self, screen: &str) -> Result<Arc<Frame>, Error> {
        Ok(self.inner.engine.snapshot(screen).await?)
    }

    /// Like [`SessionManager::snapshot`], with the pointer drawn in where the capture saw it (a copy of the frame,
    /// which viewers share); unchanged when the backend reports no cursor (its frames carry their own).
    pub async fn snapshot_with_cursor(&self, screen: &str) -> Result<Arc<Frame>, Error> {
        let (frame, cursor) = self.inner.engine.snapshot_with_cursor(screen).await?;
        Ok(match cursor {
            Some(c) if c.visible && c.shape.is_some() => {
                self.blocking("cursor-composite", move || {
                    Arc::new(sightline_media::cursor::composite(&frame, &c))
                })
                .await?
            }
            _ => frame,
        })
    }

    /// Encodes a frame as JPEG on the blocking pool.
    pub async fn encode_jpeg(
        &self,
        frame: Arc<Frame>,
        quality: u8,
        max_width: Option<u32>,
    ) -> Result<JpegFrame, Error> {
        Ok(self
            .inner
            .engine
            .encode_jpeg(frame, quality, max_width)
            .await?)
    }

    /// A full-resolution JPEG of a screen for `conn` (an HQ frame), recorded as a `snapshot` operation; a device's
    /// screen is pictured by the device.
    pub async fn hq_frame(
        &self,
        screen: &str,
        quality: u8,
        conn: ConnectionId,
    ) -> Result<JpegFrame, Error> {
        let op = self.operation("snapshot", Some(conn));
        let result = async {
            if is_remote_screen(screen) {
                return self.remote_hq_frame(screen, quality).await;
            }
            let frame = self.snapshot(screen).await?;
            self.encode_jpeg(frame, quality, None).await
        }
        .await;
        op.finish_with(result)
    }

    /// Every captured frame of a screen from now on (starting its capture if nobody watches).
    pub fn subscribe_frames(&self, screen: &str) -> Result<FrameSubscription, Error> {
        Ok(self.inner.engine.subscribe_frames(screen)?)
    }

    /// Another JPEG subscription of a screen (the shared encoder of `profile`'s quality and width): how a `/ws`
    /// JPEG watch moves along its quality ladder without reopening the watch. The profile is snapped
    /// ([`profiles::snap_jpeg`]) like every other JPEG stream's, so a rung between two snapped steps subscribes to
    /// the lower one's encoder.
    pub fn subscribe_jpeg(
        &self,
        screen: &str,
        profile: JpegProfile,
    ) -> Result<JpegSubscription, Error> {
        let cached = self.inner.screens.lock().peek(screen);
        let info = match cached {
            Some(info) => info,
            None => self.screen(screen)?,
        };
        let profile = self.snap_jpeg(&info, profile);
        Ok(self.inner.engine.subscribe_jpeg(screen, profile)?)
    }

    /// `wanted` snapped to the fixed JPEG profiles of `screen` ([`profiles::snap_jpeg`]): the profile a JPEG
    /// stream of that request runs at.
    pub fn snap_jpeg(&self, screen: &ScreenInfo, wanted: JpegProfile) -> JpegProfile {
        profiles::snap_jpeg(&self.inner.config, screen, wanted)
    }

    /// A full-resolution JPEG of a device's screen, taken by the device.
    async fn remote_hq_frame(&self, screen: &str, quality: u8) -> Result<JpegFrame, Error> {
        let (_, data, width, height) = self
            .hub()
            .snapshot(screen, "jpeg", Some(quality), None)
            .await?;
        Ok(JpegFrame {
            data: data.into(),
            width,
            height,
            quality,
            seq: 0,
            captured_at: SystemTime::now(),
        })
    }
}
