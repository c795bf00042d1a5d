//! Tests of pipeline handles registered in a real [`Monitor`]: shared statistics, unregistering on the last
//! drop, bounded drop reasons. The rings' own tests stay in `pipeline.rs`.

use crate::pipeline::{MAX_DROP_REASONS, PipelineKey};
use crate::{Monitor, MonitorConfig};

fn key(p: &str) -> PipelineKey {
    PipelineKey {
        screen: "0".into(),
        kind: "h264".into(),
        profile: p.into(),
    }
}

#[test]
fn handles_share_stats_and_last_drop_unregisters() {
    let m = Monitor::new(MonitorConfig::default());
    let a = m.pipeline(key("720p"));
    let b = m.pipeline(key("720p"));
    let other = m.pipeline(key("1080p"));
    a.record_capture(0.7);
    a.record_convert(0.6);
    b.record_encode(5.0, 2000, true);
    b.record_encode(4.0, 1000, false);
    a.record_skip_unchanged();
    a.set_subscribers(2);
    a.record_drop("queue_full");
    a.record_drop("queue_full");
    a.record_keyframe_request();
    a.record_restart();
    let snaps = m.pipelines();
    assert_eq!(snaps.len(), 2);
    let s = snaps.iter().find(|s| s.profile == "720p").unwrap();
    assert_eq!(
        (s.frames_total, s.keyframes_total, s.bytes_total),
        (2, 1, 3000)
    );
    assert_eq!(
        (s.captures_total, s.unchanged_total, s.subscribers),
        (1, 1, 2)
    );
    assert_eq!(s.drops["queue_full"], 2);
    assert_eq!(s.encode.median_ms, 4.5);
    assert_eq!(s.mean_frame_bytes, 1500.0);
    assert_eq!(s.capture.samples, 1);
    assert!(s.encode_fps > 0.0);
    assert_eq!((s.keyframe_requests_total, s.restarts_total), (1, 1));
    drop(a);
    assert_eq!(m.pipelines().len(), 2, "b still holds 720p");
    drop(b);
    assert_eq!(m.pipelines().len(), 1);
    // Registering again starts fresh.
    let again = m.pipeline(key("720p"));
    assert_eq!(again.snapshot().unwrap().frames_total, 0);
    drop(other);
    assert_eq!(m.pipelines().len(), 1);
}

#[test]
fn drop_reasons_are_bounded() {
    let m = Monitor::new(MonitorConfig::default());
    let p = m.pipeline(key("x"));
    const REASONS: [&str; 20] = [
        "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15", "r16", "r17", "r18", "r19",
    ];
    for r in REASONS {
        p.record_drop(r);
    }
    let s = p.snapshot().unwrap();
    assert_eq!(s.drops.len(), MAX_DROP_REASONS);
    assert_eq!(s.drops["other"], 5);
    assert_eq!(s.dropped_total, 20);
}
