//! Process CPU and memory for the performance endpoint and `/metrics`.
//!
//! On Linux the numbers come from `/proc/self/stat` (CPU ticks) and `/proc/self/status` (memory, threads).
//! CPU percent (100 = one core busy) is measured over a window: a [`CpuSampler`] keeps a few timed samples
//! (the background loop adds one a second) and compares now with the newest sample at least
//! [`CPU_MIN_WINDOW`] old. Elsewhere the snapshot says `available: false` with the reason.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Shortest window the CPU percent is measured over; shorter ones are dominated by tick granularity (10 ms).
pub const CPU_MIN_WINDOW: Duration = Duration::from_secs(1);

/// CPU samples kept; with one a second this covers the last few seconds.
const CPU_SAMPLES: usize = 8;

/// Process resource usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    /// False where the numbers cannot be read (not Linux, or `/proc` missing); see `unavailable_reason`.
    pub available: bool,
    pub unavailable_reason: Option<String>,
    pub pid: u32,
    /// Logical CPUs available to the process.
    pub cpus: Option<u64>,
    /// CPU time used over the last `cpu_window_ms`, in percent of one core (200 = two cores busy).
    pub cpu_percent: Option<f64>,
    pub cpu_window_ms: Option<f64>,
    /// User + system CPU time since the process started, seconds.
    pub cpu_seconds_total: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub vm_bytes: Option<u64>,
    pub threads: Option<u64>,
    /// Time since the monitor started.
    pub uptime_ms: f64,
}

/// Raw numbers read from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcStats {
    pub(crate) cpu_seconds: f64,
    pub(crate) rss_bytes: u64,
    pub(crate) rss_peak_bytes: u64,
    pub(crate) vm_bytes: u64,
    pub(crate) threads: u64,
}

/// Parses `/proc/self/stat` content into utime + stime ticks.
pub(crate) fn parse_stat_ticks(stat: &str) -> Result<u64, String> {
    // The command name (field 2) is in parentheses and may contain spaces and ')': split after the last ')'.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("no ')' after the command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .ok_or(format!("field {n} missing"))?
            .parse::<u64>()
            .map_err(|e| format!("field {n}: {e}"))
    };
    Ok(field(14)? + field(15)?)
}

/// Parses `/proc/self/status` content: (VmRSS, VmHWM, VmSize) in bytes and Threads.
pub(crate) fn parse_status(status: &str) -> Result<(u64, u64, u64, u64), String> {
    let mut rss = None;
    let mut hwm = None;
    let mut vm = None;
    let mut threads = None;
    for line in status.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let num = || -> Result<u64, String> {
            v.split_whitespace()
                .next()
                .ok_or(format!("{k}: no value"))?
                .parse::<u64>()
                .map_err(|e| format!("{k}: {e}"))
        };
        match k {
            "VmRSS" => rss = Some(num()? * 1024),
            "VmHWM" => hwm = Some(num()? * 1024),
            "VmSize" => vm = Some(num()? * 1024),
            "Threads" => threads = Some(num()?),
            _ => {}
        }
    }
    Ok((
        rss.ok_or("VmRSS missing")?,
        hwm.ok_or("VmHWM missing")?,
        vm.ok_or("VmSize missing")?,
        threads.ok_or("Threads missing")?,
    ))
}

#[cfg(target_os = "linux")]
pub(crate) fn read() -> Result<ProcStats, String> {
    let stat =
        std::fs::read_to_string("/proc/self/stat").map_err(|e| format!("/proc/self/stat: {e}"))?;
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let tck = if tck > 0 { tck as f64 } else { 100.0 };
    let ticks = parse_stat_ticks(&stat).map_err(|e| format!("/proc/self/stat: {e}"))?;
    let (rss, hwm, vm, threads) =
        parse_status(&status).map_err(|e| format!("/proc/self/status: {e}"))?;
    Ok(ProcStats {
        cpu_seconds: ticks as f64 / tck,
        rss_bytes: rss,
        rss_peak_bytes: hwm,
        vm_bytes: vm,
        threads,
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn read() -> Result<ProcStats, String> {
    Err("process statistics are read from /proc, which exists only on Linux".to_owned())
}

/// Timed CPU samples; decides the window the CPU percent is measured over.
#[derive(Debug, Default)]
pub(crate) struct CpuSampler {
    samples: VecDeque<(Instant, f64)>,
}

impl CpuSampler {
    /// Adds a sample taken at `now` (at most one per [`CPU_MIN_WINDOW`] is kept) and returns the CPU percent
    /// and window measured against the newest older sample at least `CPU_MIN_WINDOW` old, or else the oldest.
    pub(crate) fn sample(&mut self, now: Instant, cpu_seconds: f64) -> Option<(f64, Duration)> {
        let base = self
            .samples
            .iter()
            .rev()
            .find(|(t, _)| now.saturating_duration_since(*t) >= CPU_MIN_WINDOW)
            .or_else(|| self.samples.front())
            .copied();
        let keep = self
            .samples
            .back()
            .is_none_or(|(t, _)| now.saturating_duration_since(*t) >= CPU_MIN_WINDOW);
        if keep {
            if self.samples.len() >= CPU_SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back((now, cpu_seconds));
        }
        let (t0, c0) = base?;
        let window = now.saturating_duration_since(t0);
        if window.is_zero() {
            return None;
        }
        Some((
            ((cpu_seconds - c0).max(0.0) / window.as_secs_f64()) * 100.0,
            window,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        // Fields 14/15 (utime/stime) = 250 and 50 after a command name containing ") (".
        let stat = "1234 (my ) (proc) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 100 \
                    123456789 2000 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat).unwrap(), 300);
        assert!(parse_stat_ticks("garbage").is_err());
        assert!(parse_stat_ticks("1 (x) S 1 2").is_err());
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tsightline\nVmPeak:\t  300 kB\nVmSize:\t  200 kB\nVmHWM:\t   150 kB\n\
                      VmRSS:\t   100 kB\nThreads:\t7\n";
        assert_eq!(
            parse_status(status).unwrap(),
            (102_400, 153_600, 204_800, 7)
        );
        assert!(parse_status("Name: x\n").is_err());
        assert!(parse_status("VmRSS: lots kB\n").is_err());
    }

    #[test]
    fn cpu_percent_over_a_window() {
        let mut s = CpuSampler::default();
        let t0 = Instant::now();
        assert_eq!(
            s.sample(t0, 10.0),
            None,
            "first sample has nothing to compare with"
        );
        // 0.5 s of CPU in 1 s = 50 %.
        let (p, w) = s.sample(t0 + Duration::from_secs(1), 10.5).unwrap();
        assert!((p - 50.0).abs() < 1e-9 && w == Duration::from_secs(1));
        // A quick second call still measures over >= 1 s (against t0), not over 100 ms.
        let (p, w) = s.sample(t0 + Duration::from_millis(1100), 10.6).unwrap();
        assert_eq!(w, Duration::from_millis(1100));
        assert!((p - 0.6 / 1.1 * 100.0).abs() < 1e-9);
        // Two cores busy for 2 s = 200 %.
        let (p, _) = s.sample(t0 + Duration::from_secs(3), 10.5 + 4.0).unwrap();
        assert!((p - 200.0).abs() < 1e-9, "{p}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let p = read().unwrap();
        assert!(p.rss_bytes > 0 && p.vm_bytes >= p.rss_bytes && p.threads >= 1);
        assert!(p.rss_peak_bytes >= p.rss_bytes);
    }
}
