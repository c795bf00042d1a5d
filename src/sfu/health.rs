//! Health of one Janus instance: a tracked task ("janus-health") asks `GET {url}/info` every interval. The
//! instance is up after a successful check (a new instance starts down and is probed at once, so nothing is
//! routed to it before it answered), down after `failures` consecutive failed checks, and up again after one
//! success. A viewer whose Janus request failed calls [`Health::report_failure`]: that triggers an immediate
//! re-check, and if that check fails too the instance goes down at once instead of waiting for more failures.
//!
//! Changes are published on a watch channel ([`Health::subscribe`]) and logged (warn on down, info on up). The
//! task holds only a weak reference: it ends on shutdown or when the last [`Health`] handle is dropped.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use sightline_monitor::{Monitor, Owner};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::janus::{API_TIMEOUT, JanusApi};

/// Least time between two checks, so a burst of [`Health::report_failure`] calls makes one re-check.
pub const MIN_CHECK_GAP: Duration = Duration::from_millis(200);
/// Shortest timeout of one check; otherwise a check may take one interval, at most [`API_TIMEOUT`], so a Janus
/// that hangs is down after about `failures` intervals, not `failures` × 3 s.
pub const MIN_CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest error text kept for [`Health::last_error`].
const MAX_ERROR_LEN: usize = 300;

/// One instance's health, shared by the checker task, the router and the viewers.
pub struct Health {
    /// The instance's name (logs).
    name: String,
    up: AtomicBool,
    /// Failed checks since the last success.
    consecutive: AtomicU32,
    /// Failed checks since start.
    failures_total: AtomicU64,
    /// The last failure (a check's or a reported one), for the monitor.
    last_error: Mutex<Option<String>>,
    /// A viewer reported a failure since the last check: a failed re-check marks the instance down at once.
    suspect: AtomicBool,
    /// Wakes the checker early (shared with the task, which holds no strong reference to `Health`).
    recheck: Arc<Notify>,
    /// Up (`true`) or down; starts down.
    tx: watch::Sender<bool>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("name", &self.name)
            .field("up", &self.is_up())
            .field("consecutive", &self.consecutive.load(Relaxed))
            .field("failures_total", &self.failures_total())
            .finish()
    }
}

/// Starts checking `api` every `interval`; down after `failures` consecutive failures (at least 1).
pub fn spawn_health(
    api: JanusApi,
    name: String,
    interval: Duration,
    failures: u32,
    monitor: &Monitor,
    shutdown: CancellationToken,
) -> Arc<Health> {
    let health = Arc::new(Health::new(name));
    let checker = Checker {
        api,
        health: Arc::downgrade(&health),
        recheck: Arc::clone(&health.recheck),
        interval,
        failures: failures.max(1),
    };
    monitor.spawn(
        format!("janus-health {}", health.name),
        Owner::Gateway,
        checker.run(shutdown),
    );
    health
}

impl Health {
    fn new(name: String) -> Self {
        Self {
            name,
            up: AtomicBool::new(false),
            consecutive: AtomicU32::new(0),
            failures_total: AtomicU64::new(0),
            last_error: Mutex::new(None),
            suspect: AtomicBool::new(false),
            recheck: Arc::new(Notify::new()),
            tx: watch::channel(false).0,
        }
    }

    /// Whether the instance may get viewers.
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// Up (`true`) / down changes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// A request to the instance failed (a viewer's poll, a mountpoint creation): re-check now, and mark the
    /// instance down if that check fails too.
    pub fn report_failure(&self, why: &str) {
        tracing::debug!(instance = %self.name, "janus failure reported: {why}");
        *self.last_error.lock() = Some(clip(why));
        self.suspect.store(true, Relaxed);
        self.recheck.notify_one();
    }

    /// The last failure seen, if any (kept after recovery).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Failed checks since start.
    pub fn failures_total(&self) -> u64 {
        self.failures_total.load(Relaxed)
    }

    /// Applies one check's outcome (`failures`: the consecutive-failure threshold).
    fn record(&self, result: Result<(), String>, failures: u32) {
        let suspect = self.suspect.swap(false, Relaxed);
        match result {
            Ok(()) => {
                self.consecutive.store(0, Relaxed);
                if !self.up.swap(true, Relaxed) {
                    tracing::info!(instance = %self.name, "janus instance up");
                    self.tx.send_replace(true);
                }
            }
            Err(e) => {
                let n = self.consecutive.fetch_add(1, Relaxed).saturating_add(1);
                self.failures_total.fetch_add(1, Relaxed);
                tracing::debug!(instance = %self.name, consecutive = n, "janus health check failed: {e}");
                *self.last_error.lock() = Some(clip(&e));
                if (n >= failures || suspect) && self.up.swap(false, Relaxed) {
                    tracing::warn!(instance = %self.name, consecutive = n, "janus instance down: {e}");
                    self.tx.send_replace(false);
                }
            }
        }
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_ERROR_LEN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The checker task's state.
struct Checker {
    api: JanusApi,
    health: Weak<Health>,
    recheck: Arc<Notify>,
    interval: Duration,
    failures: u32,
}

impl Checker {
    fn timeout(&self) -> Duration {
        self.interval.clamp(MIN_CHECK_TIMEOUT, API_TIMEOUT)
    }

    async fn run(self, shutdown: CancellationToken) {
        loop {
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                r = self.api.info_within(self.timeout()) => r.map(drop).map_err(|e| e.to_string()),
            };
            let Some(health) = self.health.upgrade() else {
                return;
            };
            health.record(result, self.failures);
            drop(health);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
                () = self.recheck.notified() => {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(MIN_CHECK_GAP) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_n_failures_up_after_one_success() {
        let h = Health::new("j".into());
        let mut rx = h.subscribe();
        assert!(!h.is_up(), "starts down until a check succeeds");
        h.record(Err("refused".into()), 2);
        assert!(!h.is_up());
        h.record(Ok(()), 2);
        assert!(h.is_up());
        assert!(rx.has_changed().unwrap() && *rx.borrow_and_update());
        h.record(Err("timed out".into()), 2);
        assert!(h.is_up(), "one failure of two");
        h.record(Err("timed out".into()), 2);
        assert!(!h.is_up());
        assert!(!*rx.borrow_and_update());
        assert_eq!(h.failures_total(), 3);
        assert_eq!(h.last_error().as_deref(), Some("timed out"));
        h.record(Ok(()), 2);
        assert!(h.is_up());
        assert_eq!(
            h.last_error().as_deref(),
            Some("timed out"),
            "kept after recovery"
        );
    }

    #[test]
    fn a_reported_failure_confirmed_by_a_check_is_down_at_once() {
        let h = Health::new("j".into());
        h.record(Ok(()), 3);
        h.report_failure("poll: connection refused");
        assert_eq!(h.last_error().as_deref(), Some("poll: connection refused"));
        assert!(h.is_up(), "a report alone does not mark down");
        h.record(Err("refused".into()), 3);
        assert!(!h.is_up());
        // A report the re-check contradicts changes nothing.
        h.record(Ok(()), 3);
        h.report_failure("one bad request");
        h.record(Ok(()), 3);
        h.record(Err("x".into()), 3);
        assert!(h.is_up(), "the suspicion was cleared by the good check");
    }

    #[tokio::test(start_paused = true)]
    async fn the_checker_probes_at_once_and_ends_with_shutdown() {
        // Nothing listens on this port: every check fails fast.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/janus", l.local_addr().unwrap());
        drop(l);
        let monitor = Monitor::new(Default::default());
        let shutdown = CancellationToken::new();
        let h = spawn_health(
            JanusApi::with(&url, ""),
            "j".into(),
            Duration::from_secs(1),
            2,
            &monitor,
            shutdown.clone(),
        );
        tokio::time::sleep(Duration::from_millis(2500)).await;
        for _ in 0..50 {
            if h.failures_total() >= 3 {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(h.failures_total() >= 2, "{}", h.failures_total());
        assert!(!h.is_up());
        assert!(
            h.last_error().unwrap().contains("connect"),
            "{:?}",
            h.last_error()
        );
        shutdown.cancel();
    }
}
