//! Tests of the log files written by a real [`Monitor`]: one per closed connection and per failed or slow
//! operation, and errors counted when the directory is unusable. The writer's own tests (pruning, full queue)
//! stay in `logfiles.rs`.

use std::time::Duration;

use super::json_files;
use crate::logfiles::{CONNECTIONS_DIR, OPERATIONS_DIR};
use crate::registry::{Monitor, MonitorConfig};
use crate::snapshot::{ConnectionDetail, OperationSnapshot};
use crate::types::{ConnectionAttrs, ConnectionKind};

#[test]
fn monitor_writes_valid_json_for_closed_connections_and_failed_or_slow_operations() {
    let dir = tempfile::tempdir().unwrap();
    let m = Monitor::new(MonitorConfig {
        log_dir: Some(dir.path().to_owned()),
        slow_operation: Duration::from_millis(20),
        ..MonitorConfig::default()
    });
    let c = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
    c.event("hello");
    m.operation("set_remote_description", Some(c.id()))
        .fail("bad sdp");
    m.operation("fast_ok", None).ok();
    let slow = m.operation("slow ok/op", None);
    std::thread::sleep(Duration::from_millis(25));
    slow.ok();
    c.close("done");
    assert!(m.flush_logs(Duration::from_secs(5)));

    let conns = json_files(&dir.path().join(CONNECTIONS_DIR));
    assert_eq!(conns.len(), 1);
    let name = conns[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with(&format!("_{}.json", c.id())), "{name}");
    let detail: ConnectionDetail =
        serde_json::from_slice(&std::fs::read(&conns[0]).unwrap()).unwrap();
    assert_eq!(detail.summary.id, c.id());
    assert_eq!(detail.summary.close_reason.as_deref(), Some("done"));
    assert!(detail.timeline.iter().any(|e| e.text == "hello"));

    let ops = json_files(&dir.path().join(OPERATIONS_DIR));
    assert_eq!(ops.len(), 2, "the failed and the slow one: {ops:?}");
    let mut kinds = Vec::new();
    for p in &ops {
        let o: OperationSnapshot = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        kinds.push(o.kind);
    }
    kinds.sort();
    assert_eq!(kinds, ["set_remote_description", "slow ok/op"]);
    assert!(
        ops.iter()
            .any(|p| p.to_str().unwrap().contains("_slow_ok_op_"))
    );
    assert_eq!(m.summary().totals.log_files_written, 3);
}

#[test]
fn unwritable_log_dir_counts_errors_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let m = Monitor::new(MonitorConfig {
        log_dir: Some(file),
        ..MonitorConfig::default()
    });
    m.operation("x", None).fail("boom");
    assert!(m.flush_logs(Duration::from_secs(5)));
    let t = m.summary().totals;
    assert_eq!(t.log_files_written, 0);
    assert!(t.log_write_errors >= 1);
}
