//! What agents use beyond viewers' media: encoded stills on demand and the desktop's windows.

use sightline_media::{Still, StillRequest, WindowId, WindowInfo, WindowList};

use super::SessionManager;
use crate::control::Error;

impl SessionManager {
    /// One encoded picture of a screen ([`sightline_media::Engine::still`]): the running capture's latest frame,
    /// otherwise a grab of only the region by the screen's warm still grabber.
    pub async fn still(&self, screen: &str, request: StillRequest) -> Result<Still, Error> {
        Ok(self.inner.engine.still(screen, request).await?)
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
