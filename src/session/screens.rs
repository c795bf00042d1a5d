//! The screen list, cached: input maps coordinates through it on every pointer event, so it must not cost a
//! display round trip each time. Time is passed in.

use std::time::{Duration, Instant};

use sightline_media::{MediaError, ScreenInfo};

/// How long the screen list is reused before the backend is asked again; a vanished or added monitor is noticed
/// within this.
pub const SCREEN_CACHE_TTL: Duration = Duration::from_secs(2);

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

    /// Forgets the list, so the next [`Self::get`] reads the backend.
    pub fn invalidate(&mut self) {
        self.read_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_reread_only_when_stale_or_invalidated() {
        let mut cache = ScreenCache::default();
        let t0 = Instant::now();
        let mut reads = 0;
        let mut read = || {
            reads += 1;
            Ok(Vec::new())
        };
        cache.get(t0, &mut read).unwrap();
        cache.get(t0 + Duration::from_secs(1), &mut read).unwrap();
        cache.get(t0 + SCREEN_CACHE_TTL, &mut read).unwrap();
        cache.invalidate();
        cache.get(t0 + SCREEN_CACHE_TTL, &mut read).unwrap();
        assert_eq!(reads, 3);
    }
}
