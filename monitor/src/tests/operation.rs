//! Tests of operations through a real [`Monitor`]: results, details, bounds of the recent list. The per-kind
//! statistics' own tests (percentile, mean, p95 window) stay in `operation.rs`.

use crate::operation::MAX_DETAIL_BYTES;
use crate::snapshot::OperationResult;
use crate::types::{ConnectionAttrs, ConnectionKind};
use crate::{Monitor, MonitorConfig};

#[test]
fn operations_record_ok_error_and_abandoned() {
    let m = Monitor::new(MonitorConfig::default());
    let c = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
    let op = m.operation("create_offer", Some(c.id()));
    assert_eq!(m.operations().running.len(), 1);
    assert_eq!(m.operations().by_kind[0].running, 1);
    op.ok();
    m.operation("set_remote_description", Some(c.id()))
        .fail("bad sdp");
    drop(m.operation("set_remote_description", Some(c.id())));
    let r: Result<u32, String> = m.operation("snapshot", None).finish_with(Ok(3));
    assert_eq!(r, Ok(3));

    let ops = m.operations();
    assert!(ops.running.is_empty());
    assert_eq!(ops.recent.len(), 4);
    assert_eq!(ops.recent[0].kind, "snapshot", "newest first");
    let srd = ops
        .by_kind
        .iter()
        .find(|k| k.kind == "set_remote_description")
        .unwrap();
    assert_eq!((srd.ok, srd.failed, srd.abandoned), (0, 2, 1));
    let abandoned = ops
        .recent
        .iter()
        .find(|o| o.result == OperationResult::Abandoned)
        .unwrap();
    assert!(abandoned.error.as_deref().unwrap().contains("abandoned"));
    let failed = ops
        .recent
        .iter()
        .find(|o| o.result == OperationResult::Error)
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("bad sdp"));

    let d = m.connection(c.id()).unwrap();
    assert_eq!(d.operations.len(), 3, "the snapshot op has no connection");
    assert!(
        d.timeline
            .iter()
            .any(|e| e.text.contains("set_remote_description error: bad sdp"))
    );
    let s = m.summary();
    assert_eq!(s.totals.operations, 4);
    assert_eq!(s.totals.operations_failed, 2);
}

#[test]
fn detail_shows_while_running_and_after_finishing() {
    let m = Monitor::new(MonitorConfig::default());
    let mut op = m.operation("mcp_tool_call", None);
    op.detail(serde_json::json!({"tool": "click", "arguments": {"x": 1}}));
    assert_eq!(
        m.operations().running[0].detail,
        Some(serde_json::json!({"tool": "click", "arguments": {"x": 1}}))
    );
    op.detail(serde_json::json!({"tool": "click", "result": "clicked"}));
    op.fail("nope");
    let ops = m.operations();
    assert!(ops.running.is_empty());
    assert_eq!(
        ops.recent[0].detail,
        Some(serde_json::json!({"tool": "click", "result": "clicked"}))
    );
    m.operation("snapshot", None).ok();
    assert_eq!(m.operations().recent[0].detail, None);
}

#[test]
fn oversized_detail_is_kept_as_truncated_text() {
    let m = Monitor::new(MonitorConfig::default());
    let mut op = m.operation("mcp_tool_call", None);
    op.detail(serde_json::json!({ "text": "é".repeat(MAX_DETAIL_BYTES) }));
    op.ok();
    let detail = m.operations().recent[0].detail.clone().unwrap();
    let text = detail.as_str().expect("truncated detail is a string");
    assert!(text.starts_with("{\"text\":\"éé"));
    assert!(text.ends_with('…'));
    assert!(text.len() <= MAX_DETAIL_BYTES + '…'.len_utf8());
}

#[test]
fn recent_operations_are_bounded() {
    let m = Monitor::new(MonitorConfig {
        recent_operations: 10,
        ..MonitorConfig::default()
    });
    for _ in 0..25 {
        m.operation("keyframe_request", None).ok();
    }
    let ops = m.operations();
    assert_eq!(ops.recent.len(), 10);
    assert_eq!(ops.by_kind[0].ok, 25);
    assert_eq!(ops.recent[0].id, 25);
}
