//! Tests of tasks started through a real [`Monitor`]: leak detection of connection tasks, the states async
//! tasks, blocking jobs and threads end in. The task table's own leak test stays in `task.rs`.

use std::time::{Duration, Instant};

use crate::snapshot::{TaskKind, TaskState};
use crate::types::{ConnectionAttrs, ConnectionKind, Owner};
use crate::{Monitor, MonitorConfig};

fn monitor() -> Monitor {
    Monitor::new(MonitorConfig {
        leak_grace: Duration::from_secs(5),
        ..MonitorConfig::default()
    })
}

#[test]
fn tasks_that_end_in_time_are_not_leaks() {
    let m = monitor();
    let mut t = m.inner.tasks.lock();
    let t0 = Instant::now();
    let owner = Owner::Pipeline("p".into());
    t.register(1, "a".into(), owner.clone(), TaskKind::Thread, t0, None);
    t.close_owner(&owner, t0 + Duration::from_secs(1));
    t.end(
        &m.inner.clock,
        1,
        TaskState::Finished,
        t0 + Duration::from_secs(2),
    );
    assert_eq!(
        t.check_leaks(t0 + Duration::from_secs(60), Duration::from_secs(5)),
        0
    );
    let c = t.counts();
    assert_eq!((c.leaked, c.leaked_total, c.finished), (0, 0, 1));
}

#[test]
fn a_task_spawned_for_an_already_closed_connection_is_a_suspect() {
    let m = monitor();
    let c = m.open_connection(ConnectionKind::Jpeg, ConnectionAttrs::default());
    c.close("gone");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let h = m
        .spawn_thread("late", c.owner(), move || rx.recv().ok())
        .unwrap();
    let live = m.tasks().live;
    assert!(live[0].owner_closed_ms.is_some());
    m.check_leaks(Instant::now() + Duration::from_secs(6));
    assert_eq!(m.summary().leaked, 1);
    tx.send(()).unwrap();
    h.join().unwrap();
}

#[test]
fn monitor_check_leaks_marks_connection_tasks() {
    let m = monitor();
    let c = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let h = m
        .spawn_thread("stuck", c.owner(), move || rx.recv().ok())
        .unwrap();
    c.close("test");
    let closed = Instant::now();
    m.check_leaks(closed + Duration::from_secs(1));
    assert_eq!(m.summary().leaked, 0);
    m.check_leaks(closed + Duration::from_secs(6));
    let s = m.summary();
    assert_eq!(s.leaked, 1);
    assert_eq!(s.totals.tasks_leaked, 1);
    let tasks = m.tasks();
    assert_eq!(tasks.leaked.len(), 1);
    assert_eq!(tasks.leaked[0].name, "stuck");
    assert!(tasks.leaked[0].owner_closed_ms.is_some());
    tx.send(()).unwrap();
    h.join().unwrap();
    let s = m.summary();
    assert_eq!(s.leaked, 0, "ended late: no longer leaked now");
    assert_eq!(s.totals.tasks_leaked, 1, "but counted forever");
    assert_eq!(s.tasks.running + s.tasks.pending, 0);
}

#[tokio::test]
async fn async_task_states_finished_panicked_cancelled() {
    let m = monitor();
    let ok = m.spawn("ok", Owner::Gateway, async { 7 });
    assert_eq!(ok.await.unwrap(), 7);

    let boom = m.spawn("boom", Owner::Gateway, async {
        panic!("deliberate test panic");
    });
    assert!(boom.await.unwrap_err().is_panic());

    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stuck = m.spawn("stuck", Owner::Gateway, async move { rx.await.ok() });
    tokio::task::yield_now().await;
    assert_eq!(m.tasks().counts.running, 1);
    stuck.abort();
    assert!(stuck.await.unwrap_err().is_cancelled());

    let blocking = m.spawn_blocking("blocking", Owner::Gateway, || 5);
    assert_eq!(blocking.await.unwrap(), 5);

    let t = m.tasks();
    assert_eq!(
        (
            t.counts.finished,
            t.counts.panicked,
            t.counts.cancelled,
            t.counts.spawned
        ),
        (2, 1, 1, 4)
    );
    assert!(t.live.is_empty());
    let states: Vec<_> = t
        .recent
        .iter()
        .map(|t| (t.name.as_str(), t.state))
        .collect();
    assert_eq!(
        states,
        [
            ("blocking", TaskState::Finished),
            ("stuck", TaskState::Cancelled),
            ("boom", TaskState::Panicked),
            ("ok", TaskState::Finished),
        ]
    );
    assert_eq!(t.recent[0].kind, TaskKind::Blocking);
}

#[test]
fn thread_tasks_finish_and_panic() {
    let m = monitor();
    let h = m.spawn_thread("worker", Owner::Gateway, || 1 + 1).unwrap();
    assert_eq!(h.join().unwrap(), 2);
    let h = m
        .spawn_thread("crasher", Owner::Gateway, || -> () {
            panic!("deliberate test panic")
        })
        .unwrap();
    assert!(h.join().is_err());
    let c = m.tasks().counts;
    assert_eq!((c.finished, c.panicked), (1, 1));
    // Names with NUL bytes are cleaned, not a panic inside std.
    let h = m.spawn_thread("bad\0name", Owner::Gateway, || ()).unwrap();
    h.join().unwrap();
    assert_eq!(m.tasks().recent[0].name, "bad\0name");
}
