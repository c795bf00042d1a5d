//! Memory comes back: rounds of many distinct watch profiles (every width over WebRTC, every JPEG quality ×
//! width over `/ws`, MJPEG streams), each closed and settled, leave the gateway's resident memory near its
//! baseline, and a round adds nothing to the one before it.
//!
//! What this guards against (issue 11): each profile ran its own encoder thread whose buffers fragmented glibc's
//! per-thread arenas; after a battery the gateway stayed at 360–440 MB (baseline 28 MB) with everything closed,
//! and each further round added ~140 MB. The fix is the global allocator (jemalloc with background purging, see
//! `src/main.rs` and docs/MEMORY.md), so the gateway must run as its own process: the test starts the real
//! binary (an in-process gateway would share the test harness's allocator).
//!
//! Run: `cargo test --test memory_return -- --nocapture` (prints the figures).

mod common;

use std::time::Duration;

use common::flood::{self, Identity, Rounds, RoundsReport};
use common::{ADMIN_TOKEN, GatewayProcess};

/// Rounds of the whole profile set.
const ROUNDS: usize = 3;

/// How long each round keeps its profiles open: every encoder has run for a few dozen frames.
const HOLD: Duration = Duration::from_secs(4);

/// Quiet time after a round's last encoder stopped before RSS is read: jemalloc's background thread returns
/// dirty pages after `dirty_decay_ms` (1 s, `src/main.rs`); twice that and some.
const SETTLE: Duration = Duration::from_secs(4);

/// RSS after the last round may be at most this much above the baseline (the target). Measured with
/// jemalloc: 13–17 MB above a 14 MB baseline in release; with glibc malloc 220–680 MB.
const BASELINE_MARGIN_MB: f64 = 30.0;

/// RSS after the last round may be at most this much above RSS after the first: retention that grows round over
/// round. Measured with jemalloc: +2–4 MB (the monitor's bounded history of closed connections filling up);
/// with glibc malloc +450 MB.
const GROWTH_MARGIN_MB: f64 = 12.0;

/// The first round must have run at least this many encoders at once, or the test proves nothing. The gateway
/// snaps requests onto a fixed set of profiles (video tiers × JPEG qualities); even so, one screen's tiers and
/// qualities give more than this.
const MIN_ENCODERS: usize = 6;

/// Tokens of the profile clients: one per source address, so no token's rate budget or address's connection
/// cap refuses a profile (refusals are what the limits are for, not what this test measures).
const VIEWERS: [&str; 4] = [
    "memory-view-0001",
    "memory-view-0002",
    "memory-view-0003",
    "memory-view-0004",
];

fn config() -> String {
    let viewers: Vec<String> = VIEWERS.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [{}]\nadmins = [\"{ADMIN_TOKEN}\"]\n\
         [capture]\nsource = \"synthetic\"\nsynthetic_size = \"1920x1080\"\n",
        viewers.join(", ")
    )
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_returns_near_baseline_after_rounds_of_many_profiles() {
    let gw = GatewayProcess::start(&config());
    // Let start-up allocations (thread pools, the web assets, the first monitor samples) land first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids: Vec<Identity<'_>> = VIEWERS
        .iter()
        .enumerate()
        .map(|(i, t)| (flood::source(40 + i as u8), *t))
        .collect();
    let profiles = flood::all_profiles();
    let report: RoundsReport = flood::profile_rounds(
        gw.pid(),
        &gw.addr,
        &ids,
        (flood::source(39), ADMIN_TOKEN),
        &profiles,
        Rounds {
            count: ROUNDS,
            hold: HOLD,
            settle: SETTLE,
        },
    )
    .await;
    println!("{} profiles a round\n{report}", profiles.len());

    assert!(
        report.refused.is_empty(),
        "the gateway refused profiles, so the rounds did not run as planned: {:#?}",
        report.refused
    );
    assert!(
        report.not_idle.is_empty(),
        "the gateway did not go idle after a round: {:?}",
        report.not_idle
    );
    assert!(
        report.encoders.iter().all(|&e| e >= MIN_ENCODERS),
        "each round must run at least {MIN_ENCODERS} encoders at once: {:?}",
        report.encoders
    );
    let (base, first, last) = (
        mb(report.baseline_kib),
        mb(report.after_kib[0]),
        mb(report.after_kib[ROUNDS - 1]),
    );
    assert!(
        last - first <= GROWTH_MARGIN_MB,
        "RSS grows round over round: {first:.1} MB after round 1, {last:.1} MB after round {ROUNDS} \
         (allowed +{GROWTH_MARGIN_MB} MB)"
    );
    assert!(
        last - base <= BASELINE_MARGIN_MB,
        "RSS did not come back: {last:.1} MB after {ROUNDS} rounds, baseline {base:.1} MB (allowed +{BASELINE_MARGIN_MB} MB)"
    );
}
