//! Behaviour: every snapshot type REST and MCP return serialises to JSON with snake_case fields and reads back
//! unchanged (clients and tests deserialize them).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sightline_monitor::{
    ConnectionAttrs, ConnectionDetail, ConnectionKind, ConnectionSummary, InstanceState, Monitor,
    MonitorConfig, OperationsSnapshot, Owner, PipelineKey, PipelineSnapshot, ProcessSnapshot,
    SfuSnapshot, StateMachine, Summary, TasksSnapshot,
};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    v: &T,
) -> serde_json::Value {
    let json = serde_json::to_value(v).unwrap();
    let back: T = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(&back, v);
    json
}

fn keys_are_snake_case(v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                // Map keys that are data (drop reasons, state machines) are lower case too.
                assert!(
                    k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "key {k:?}"
                );
                keys_are_snake_case(v);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(keys_are_snake_case),
        _ => {}
    }
}

#[test]
fn snapshots_round_trip_through_json() {
    let m = Monitor::new(MonitorConfig::default());
    let c = m.open_connection(
        ConnectionKind::WebRtc,
        ConnectionAttrs {
            session: Some("s1".into()),
            screen: Some("0".into()),
            role: Some("viewer".into()),
            remote: Some("127.0.0.1:5000".into()),
            parent: None,
        },
    );
    c.set_state(StateMachine::Signaling, "have-remote-offer");
    c.set_state(StateMachine::Peer, "connecting");
    c.data_channel("input", "open");
    c.track("video", "video", "live");
    c.dropped("queue_full", 1);
    c.update_counters(|k| k.rtt_ms = Some(1.25));
    m.operation("create_answer", Some(c.id())).ok();
    let mut audited = m.operation("mcp_tool_call", Some(c.id()));
    audited
        .detail(serde_json::json!({"tool": "click", "arguments": {"x": 5}, "result": "clicked"}));
    audited.ok();
    let _running = m.operation("snapshot", None);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = m
        .spawn_thread("capture", Owner::Pipeline("0/capture/".into()), move || {
            rx.recv().ok()
        })
        .unwrap();
    let p = m.pipeline(PipelineKey {
        screen: "0".into(),
        kind: "h264".into(),
        profile: "720p".into(),
    });
    p.record_capture(0.7);
    p.record_encode(4.0, 1234, true);
    p.record_drop("lag");
    std::thread::sleep(Duration::from_millis(5));
    assert!(
        serde_json::to_value(m.summary())
            .unwrap()
            .get("sfu")
            .is_none(),
        "no SFU section without SFUs"
    );
    m.sfu().set_instance(
        "janus-1",
        InstanceState {
            url: "http://127.0.0.1:8088/janus".into(),
            up: true,
            last_error: Some("timed out".into()),
            ..InstanceState::default()
        },
    );
    let publication = m
        .sfu()
        .publication("janus", "janus-1", "0", "t0 1280w 2500k");
    publication.set_mountpoint(7, "mp-secret");
    publication.add_sent(3, 3600);

    let summary = m.summary();
    let json = round_trip::<Summary>(&summary);
    assert!(json["leaked"].is_u64());
    assert_eq!(json["sfu"]["instances"][0]["name"], "janus-1");
    assert_eq!(json["sfu"]["publications"][0]["mountpoint"], 7);
    assert_eq!(
        json["sfu"]["publications"][0]["mountpoint_secret"],
        "mp-secret"
    );
    keys_are_snake_case(&round_trip::<SfuSnapshot>(&m.sfu().snapshot()));
    assert!(json["totals"]["connections_opened"].is_u64());
    keys_are_snake_case(&json);
    let list = m.connections();
    for c in &list {
        keys_are_snake_case(&round_trip::<ConnectionSummary>(c));
    }
    let detail = m.connection(c.id()).unwrap();
    let json = round_trip::<ConnectionDetail>(&detail);
    assert_eq!(json["id"], serde_json::json!(c.id().to_string()));
    assert_eq!(json["kind"], "webrtc");
    assert_eq!(json["states"]["signaling"], "have-remote-offer");
    keys_are_snake_case(&json);
    keys_are_snake_case(&round_trip::<OperationsSnapshot>(&m.operations()));
    let tasks = m.tasks();
    let json = round_trip::<TasksSnapshot>(&tasks);
    assert_eq!(json["live"][0]["owner"], "pipeline:0/capture/");
    assert_eq!(json["live"][0]["kind"], "thread");
    keys_are_snake_case(&json);
    for p in m.pipelines() {
        keys_are_snake_case(&round_trip::<PipelineSnapshot>(&p));
    }
    let proc_ = m.process();
    keys_are_snake_case(&round_trip::<ProcessSnapshot>(&proc_));
    #[cfg(target_os = "linux")]
    assert!(proc_.available && proc_.rss_bytes.unwrap() > 0 && proc_.cpu_percent.is_some());
    #[cfg(not(target_os = "linux"))]
    assert!(!proc_.available && proc_.unavailable_reason.is_some());

    tx.send(()).unwrap();
    t.join().unwrap();
}
