//! Tests of connections through a real [`Monitor`]: state history, timeline bounds, closing by drop, counters
//! and their serialisation (moved out of `connection.rs`, which must not import `registry.rs`).

use crate::types::{ConnectionAttrs, ConnectionKind, Lifecycle, StateMachine};
use crate::{Monitor, MonitorConfig};

fn monitor(timeline_len: usize) -> Monitor {
    Monitor::new(MonitorConfig {
        timeline_len,
        ..MonitorConfig::default()
    })
}

#[test]
fn lifecycle_history_is_recorded_in_order() {
    let m = monitor(256);
    let c = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
    c.set_lifecycle(Lifecycle::Connecting);
    c.set_state(StateMachine::Ice, "checking");
    c.set_state(StateMachine::Ice, "checking"); // repeated: not a change
    c.set_state(StateMachine::Ice, "connected");
    c.set_state(StateMachine::Lifecycle, "connected");
    c.close("bye");
    c.close("again"); // idempotent
    c.set_lifecycle(Lifecycle::Connecting); // ignored after close

    let d = m
        .connection(c.id())
        .expect("closed connections stay visible");
    let lifecycle: Vec<_> = d
        .history
        .iter()
        .filter(|h| h.machine == StateMachine::Lifecycle)
        .map(|h| h.to.as_str())
        .collect();
    assert_eq!(lifecycle, ["new", "connecting", "connected", "closed"]);
    let ice: Vec<_> = d
        .history
        .iter()
        .filter(|h| h.machine == StateMachine::Ice)
        .map(|h| (h.from.clone(), h.to.clone()))
        .collect();
    assert_eq!(
        ice,
        [
            (None, "checking".to_owned()),
            (Some("checking".to_owned()), "connected".to_owned())
        ]
    );
    assert_eq!(d.summary.lifecycle, Lifecycle::Closed);
    assert_eq!(d.summary.close_reason.as_deref(), Some("bye"));
    assert_eq!(
        d.summary.states.get(&StateMachine::Ice).map(String::as_str),
        Some("connected")
    );
    assert!(d.history.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert!(c.closed_token().is_cancelled());
}

#[test]
fn invalid_lifecycle_name_is_an_event_not_a_panic() {
    let m = monitor(16);
    let c = m.open_connection(ConnectionKind::Jpeg, ConnectionAttrs::default());
    c.set_state(StateMachine::Lifecycle, "exploded");
    let d = m.connection(c.id()).unwrap();
    assert_eq!(d.summary.lifecycle, Lifecycle::New);
    assert!(d.timeline.iter().any(|e| e.text.contains("exploded")));
}

#[test]
fn timeline_is_bounded_and_counts_what_it_forgot() {
    let m = monitor(8);
    let c = m.open_connection(ConnectionKind::Signaling, ConnectionAttrs::default());
    for i in 0..100 {
        c.event(format!("event {i}"));
    }
    let d = m.connection(c.id()).unwrap();
    assert_eq!(d.timeline.len(), 8);
    assert_eq!(d.timeline.last().unwrap().text, "event 99");
    assert_eq!(d.timeline.first().unwrap().text, "event 92");
    // 1 event for "lifecycle: new" + 100 events - 8 kept
    assert_eq!(d.timeline_dropped, 93);
}

#[test]
fn dropping_the_last_handle_closes_with_reason_dropped() {
    let m = monitor(16);
    let c = m.open_connection(ConnectionKind::Mcp, ConnectionAttrs::default());
    let id = c.id();
    let weak = c.downgrade();
    let c2 = c.clone();
    drop(c);
    assert_eq!(
        m.connection(id).unwrap().summary.lifecycle,
        Lifecycle::New,
        "a clone is still alive"
    );
    weak.upgrade().expect("alive").event("via weak");
    drop(c2);
    assert!(
        weak.upgrade().is_none(),
        "a weak handle does not keep it open"
    );
    let d = m.connection(id).unwrap();
    assert!(d.timeline.iter().any(|e| e.text == "via weak"));
    assert_eq!(d.summary.lifecycle, Lifecycle::Closed);
    assert_eq!(d.summary.close_reason.as_deref(), Some("dropped"));
    assert_eq!(m.summary().connections.live, 0);
}

#[test]
fn counters_drops_channels_and_tracks() {
    let m = monitor(64);
    let c = m.open_connection(
        ConnectionKind::WebRtc,
        ConnectionAttrs {
            screen: Some("0".into()),
            ..Default::default()
        },
    );
    c.update_counters(|k| {
        k.bytes_sent = 1000;
        k.rtt_ms = Some(3.5);
    });
    c.dropped("queue_full", 3);
    c.dropped("waiting_keyframe", 2);
    c.dropped("queue_full", 1);
    c.data_channel("input", "connecting");
    c.data_channel("input", "open");
    c.track("video0", "video", "live");
    let d = m.connection(c.id()).unwrap();
    assert_eq!(d.summary.counters.bytes_sent, 1000);
    assert_eq!(d.summary.counters.rtt_ms, Some(3.5));
    assert_eq!(d.summary.counters.frames_dropped, 6);
    assert_eq!(d.drops["queue_full"], 4);
    assert_eq!(d.drops["waiting_keyframe"], 2);
    assert_eq!(d.data_channels.len(), 1);
    assert_eq!(d.data_channels[0].state, "open");
    assert_eq!(d.tracks[0].kind, "video");
    assert_eq!(d.summary.attrs.screen.as_deref(), Some("0"));
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["screen"], "0", "attrs are flattened into the summary");
    assert_eq!(json["kind"], "webrtc");
    let back: crate::snapshot::ConnectionDetail = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
}

#[test]
fn video_connections_keep_a_bounded_network_history_at_one_sample_a_second() {
    use std::time::{Duration, Instant};

    use crate::SERIES_LEN;

    let m = monitor(16);
    let c = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
    let t0 = Instant::now();
    // Ten updates a second for longer than the history holds, on virtual time.
    let seconds = SERIES_LEN as u64 + 20;
    for i in 0..seconds * 10 {
        c.update_counters_at(t0 + Duration::from_millis(i * 100), |k| {
            k.bitrate_kbps = i as f64;
            k.estimate_kbps = Some(1000.0);
            k.tier = Some((i / 100 % 2) as u32);
            k.tier_switches = i / 100;
        });
    }
    let d = m.connection(c.id()).unwrap();
    assert_eq!(d.series.len(), SERIES_LEN);
    let last = &d.series[SERIES_LEN - 1];
    assert_eq!(
        last.bitrate_kbps,
        (seconds * 10 - 1) as f64,
        "the newest is kept"
    );
    assert!(
        d.series.windows(2).all(|w| w[1].at_ms - w[0].at_ms == 1000),
        "one a second, the oldest forgotten"
    );
    assert_eq!(
        d.series.iter().map(|x| x.tier_switches).max(),
        Some(seconds / 10 - 1)
    );
    assert_eq!(last.estimate_kbps, Some(1000.0));
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["series"].as_array().map(Vec::len), Some(SERIES_LEN));
    for key in [
        "at_ms",
        "bitrate_kbps",
        "estimate_kbps",
        "target_kbps",
        "rtt_ms",
        "loss_fraction",
        "fps",
        "tier",
        "tier_switches",
    ] {
        assert!(json["series"][0].get(key).is_some(), "sample lacks {key}");
    }
    let back: crate::snapshot::ConnectionDetail = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);

    // A signaling socket counts messages on every one; it keeps no history.
    let s = m.open_connection(ConnectionKind::Signaling, ConnectionAttrs::default());
    s.update_counters(|k| k.messages_sent += 1);
    assert!(m.connection(s.id()).unwrap().series.is_empty());
}
