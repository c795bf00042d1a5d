//! Time helpers: the monitor measures with monotonic [`Instant`]s and reports wall-clock milliseconds.
//!
//! A [`Clock`] pins one `(Instant, Unix epoch ms)` pair when the monitor starts, so every instant the monitor
//! stores converts to epoch milliseconds without calling `SystemTime::now()` again (wall-clock jumps cannot
//! reorder a connection's history). Durations are reported as `f64` milliseconds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Converts monotonic instants to milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    base_epoch_ms: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let base = Instant::now();
        // A system clock before 1970 is a broken machine; report times from 0 rather than failing.
        let base_epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            base,
            base_epoch_ms,
        }
    }

    /// Milliseconds since the Unix epoch at `t`.
    pub(crate) fn epoch_ms(&self, t: Instant) -> u64 {
        if t >= self.base {
            self.base_epoch_ms + (t - self.base).as_millis() as u64
        } else {
            self.base_epoch_ms
                .saturating_sub((self.base - t).as_millis() as u64)
        }
    }

    /// The instant the monitor started.
    pub(crate) fn started(&self) -> Instant {
        self.base
    }
}

/// A duration in milliseconds, the unit of every `*_ms` duration field in the snapshots.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `20261121T210512.123Z` for an epoch-millisecond time: sortable as text and valid in file names everywhere
/// (no `:`), which is why the log files start with it.
pub(crate) fn file_timestamp(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let millis = epoch_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `t` as RFC 3339 in UTC with whole seconds (`2026-12-04T05:04:14Z`); times before 1970 print as the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_360_654);
        assert_eq!(rfc3339(t), "2026-12-04T05:04:14Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn file_timestamps_are_utc_and_sortable() {
        assert_eq!(file_timestamp(0), "19700101T000000.000Z");
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(file_timestamp(1_709_251_199_999), "20240229T235959.999Z");
        // 2026-11-20T21:05:12.345Z
        assert_eq!(file_timestamp(1_795_208_712_345), "20261120T210512.345Z");
        assert!(file_timestamp(1_709_251_199_999) < file_timestamp(1_795_208_712_345));
    }

    #[test]
    fn epoch_conversion_follows_instants() {
        let c = Clock::new();
        let later = c.started() + Duration::from_millis(1500);
        assert_eq!(c.epoch_ms(later) - c.epoch_ms(c.started()), 1500);
        assert!(
            c.epoch_ms(c.started()) > 1_600_000_000_000,
            "epoch ms of a current clock"
        );
    }
}
