//! What agents use beyond viewers' media: encoded stills on demand and the desktop's windows.

use sightline_media::{Still, StillRequest, WindowId, WindowInfo, WindowList};

use super::SessionManager;
use crate::control::Error;

impl SessionManager {
    /// One encoded picture of a screen ([`sightline_media::Engine::still`]): the running capture's latest frame,
    /// otherwise a grab of only the region by the screen's warm still grabber.
    /// A device's screen is pictured by the device (whole screen only: a region or window is refused).
    pub async fn still(&self, screen: &str, request: StillRequest) -> Result<Still, Error> {
        if crate::fleet::is_remote_screen(screen) {
            return self.remote_still(screen, request).await;
        }
        Ok(self.inner.engine.still(screen, request).await?)
    }

    async fn remote_still(&self, screen: &str, request: StillRequest) -> Result<Still, Error> {
        if request.region.is_some() {
            return Err(Error::invalid(
                "a device's screen is pictured whole: regions and windows are not supported there",
            ));
        }
        let (format, quality, max_width) = match request.encoding {
            sightline_media::StillEncoding::Jpeg { quality, max_width } => {
                ("jpeg", Some(quality), max_width)
            }
            sightline_media::StillEncoding::Png { max_width } => ("png", None, max_width),
        };
        let info = self.screen(screen)?;
        let (mime, data, width, height) = self
            .inner
            .hub
            .snapshot(screen, format, quality, max_width)
            .await?;
        Ok(Still {
            data: data.into(),
            mime: if mime == "image/png" {
                "image/png"
            } else {
                "image/jpeg"
            },
            width,
            height,
            region: sightline_media::Rect::full(info.width, info.height),
            screen_width: info.width,
            screen_height: info.height,
            seq: 0,
            captured_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        })
    }

    /// The desktop's top-level windows, bottom of the stack first (a round trip to the display, on the blocking
    /// pool).
    pub async fn windows(&self) -> Result<WindowList, Error> {
        let desktop = std::sync::Arc::clone(self.inner.engine.desktop());
        Ok(self
            .blocking("windows", move || desktop.windows())
            .await??)
    }

    /// Gives window `id` the focus and raises it; the window as it is afterwards.
    pub async fn focus_window(&self, id: WindowId) -> Result<WindowInfo, Error> {
        let desktop = std::sync::Arc::clone(self.inner.engine.desktop());
        Ok(self
            .blocking("focus-window", move || desktop.focus_window(id))
            .await??)
    }
}
