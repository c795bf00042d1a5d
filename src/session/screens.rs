//! The screen list, cached: input maps coordinates through it on every pointer event, so it must not cost a
//! display round trip each time. Time is passed in.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sightline_media::{MediaError, ScreenInfo};

/// How long the screen list is reused before the backend is asked again; a vanished or added monitor is noticed
/// within this.
pub const SCREEN_CACHE_TTL: Duration = Duration::from_secs(2);

/// The shortest time between two reads forced by [`ScreenCache::invalidate`]: a client naming unknown screens in
/// a loop must not turn every request into a display round trip, while a monitor just plugged in is still found
/// on the next try.
pub const MIN_REREAD: Duration = Duration::from_millis(250);

/// One row of the screen list: a local screen, or a device's screen with its device and online state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScreenEntry {
    /// The screen (a device's screen has the id `<device>/<screen>` and `source` `remote`).
    #[serde(flatten)]
    pub screen: ScreenInfo,
    /// The device id, for a device's screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The device name, for a device's screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Whether the screen can be watched now (`false`: its device is offline).
    pub online: bool,
}

/// The last list read and when.
#[derive(Debug, Default)]
pub struct ScreenCache {
    screens: Vec<ScreenInfo>,
    read_at: Option<Instant>,
}

impl ScreenCache {
    /// The list, re-read with `read` when older than [`SCREEN_CACHE_TTL`] at `now`.
    pub fn get(
        &mut self,
        now: Instant,
        read: impl FnOnce() -> Result<Vec<ScreenInfo>, MediaError>,
    ) -> Result<Vec<ScreenInfo>, MediaError> {
        let fresh = self
            .read_at
            .is_some_and(|t| now.saturating_duration_since(t) < SCREEN_CACHE_TTL);
        if !fresh {
            self.screens = read()?;
            self.read_at = Some(now);
        }
        Ok(self.screens.clone())
    }

    /// The screen `id` as last read, however old, without reading the backend (`None` when it was not there).
    pub fn peek(&self, id: &str) -> Option<ScreenInfo> {
        self.screens.iter().find(|s| s.id == id).cloned()
    }

    /// Makes the next [`Self::get`] read the backend, unless the list was read less than [`MIN_REREAD`] before
    /// `now`.
    pub fn invalidate(&mut self, now: Instant) {
        if self
            .read_at
            .is_some_and(|t| now.saturating_duration_since(t) >= MIN_REREAD)
        {
            self.read_at = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_reread_only_when_stale_or_invalidated() {
        let mut cache = ScreenCache::default();
        let t0 = Instant::now();
        let reads = std::cell::Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            Ok(Vec::new())
        };
        cache.get(t0, read).unwrap();
        cache.get(t0 + Duration::from_secs(1), read).unwrap();
        cache.get(t0 + SCREEN_CACHE_TTL, read).unwrap();
        assert_eq!(reads.get(), 2);
        // An unknown id forces a re-read, but not more often than MIN_REREAD.
        let t1 = t0 + SCREEN_CACHE_TTL;
        cache.invalidate(t1 + MIN_REREAD / 2);
        cache.get(t1 + MIN_REREAD / 2, read).unwrap();
        assert_eq!(reads.get(), 2);
        cache.invalidate(t1 + MIN_REREAD);
        cache.get(t1 + MIN_REREAD, read).unwrap();
        assert_eq!(reads.get(), 3);
    }
}
