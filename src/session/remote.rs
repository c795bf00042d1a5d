//! The session manager's view of the fleet: device screens (`<device>/<screen>`) listed beside the local ones,
//! and the reason a remote screen's viewers are given when its device goes away. Watching a device screen goes
//! through the engine like a local one (it relays the device's streams); input, tools and snapshots go to the
//! device through [`crate::fleet::hub::Hub`].

use sightline_media::ScreenInfo;

use super::SessionManager;
use super::screens::ScreenEntry;
use crate::control::Error;
use crate::fleet::is_remote_screen;

impl SessionManager {
    /// Every screen, local first, then every known device screen (online or not) with its device and online state:
    /// what `GET /api/v1/screens` and MCP `list_screens` return.
    pub async fn screen_entries(&self) -> Result<Vec<ScreenEntry>, Error> {
        let local = self.local_screens().await?;
        let mut entries: Vec<ScreenEntry> = local
            .into_iter()
            .map(|screen| ScreenEntry {
                screen,
                device: None,
                device_name: None,
                online: true,
            })
            .collect();
        // A device's primary screen is not this gateway's: only a local screen is primary here.
        entries.extend(self.hub().screens().into_iter().map(|r| ScreenEntry {
            screen: ScreenInfo {
                primary: false,
                ..r.screen
            },
            device: Some(r.device),
            device_name: Some(r.device_name),
            online: r.online,
        }));
        Ok(entries)
    }

    /// This machine's own screens (no device screens), e.g. what a device announces to its hub.
    pub async fn local_screens(&self) -> Result<Vec<ScreenInfo>, Error> {
        let m = self.clone();
        self.blocking("screen-lookup", move || m.cached_local_screens())
            .await?
    }

    /// The online device screens, as the engine relays them: never primary (keyboard input without a screen goes
    /// to this machine's primary screen).
    pub(super) fn online_remote_screens(&self) -> Vec<ScreenInfo> {
        self.hub()
            .screens()
            .into_iter()
            .filter(|r| r.online)
            .map(|r| ScreenInfo {
                primary: false,
                ..r.screen
            })
            .collect()
    }

    /// What a viewer of `screen` is told when its stream ends on its own: the device's going away for a device
    /// screen, else that the screen is gone.
    pub fn gone_reason(&self, screen: &str) -> String {
        if is_remote_screen(screen)
            && let Some(reason) = self.hub().gone_reason(screen)
        {
            return reason;
        }
        "the screen is no longer available".to_owned()
    }
}
