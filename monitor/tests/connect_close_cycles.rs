//! Behaviour: connections that own tasks come and go; when each closes its tasks end, so after many cycles the
//! task registry is back to its baseline and nothing is reported leaked. And the converse: a task that ignores
//! its connection's close is reported as leaked by the background loop.

use std::time::{Duration, Instant};

use sightline_monitor::{
    ConnectionAttrs, ConnectionKind, Lifecycle, Monitor, MonitorConfig, Owner, StateMachine,
    TaskState,
};
use tokio_util::sync::CancellationToken;

/// Polls `f` until it holds or `timeout` passes (the background loop runs on real time).
async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_cycles_return_to_baseline_without_leaks() {
    let monitor = Monitor::new(MonitorConfig {
        leak_grace: Duration::from_millis(200),
        ..MonitorConfig::default()
    });
    let shutdown = CancellationToken::new();
    monitor.start_background(shutdown.clone());
    let baseline = monitor.tasks().counts;

    for i in 0..200 {
        let signaling = monitor.open_connection(
            ConnectionKind::Signaling,
            ConnectionAttrs {
                remote: Some(format!("127.0.0.1:{}", 40000 + i)),
                ..Default::default()
            },
        );
        let peer = monitor.open_connection(
            ConnectionKind::WebRtc,
            ConnectionAttrs {
                parent: Some(signaling.id()),
                ..Default::default()
            },
        );
        peer.set_lifecycle(Lifecycle::Connecting);
        // A driver task and a stats task per peer, as the gateway runs them: both end on the close token, and
        // hold only a weak handle so that dropping the peer's last handle still closes it.
        for name in ["peer-driver", "peer-stats"] {
            let closed = peer.closed_token();
            let p = peer.downgrade();
            monitor.spawn(name, peer.owner(), async move {
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                loop {
                    tokio::select! {
                        _ = closed.cancelled() => break,
                        _ = tick.tick() => match p.upgrade() {
                            Some(p) => p.update_counters(|c| c.packets_sent += 1),
                            None => break,
                        },
                    }
                }
            });
        }
        let op = monitor.operation("set_remote_description", Some(peer.id()));
        peer.set_state(StateMachine::Ice, "connected");
        op.ok();
        peer.set_lifecycle(Lifecycle::Connected);
        if i % 2 == 0 {
            peer.close("viewer left");
        } else {
            drop(peer); // dropped without close: closes with reason "dropped"
        }
        signaling.close("socket closed");
    }

    assert!(
        eventually(Duration::from_secs(10), || {
            let c = monitor.tasks().counts;
            c.pending + c.running == baseline.pending + baseline.running
        })
        .await,
        "tasks did not return to baseline: {:?}",
        monitor.tasks().live
    );
    // Let the background loop run past the grace period at least once.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let s = monitor.summary();
    assert_eq!(s.leaked, 0);
    assert_eq!(s.totals.tasks_leaked, 0);
    assert_eq!(s.connections.live, 0);
    assert_eq!(s.totals.connections_opened, 400);
    assert_eq!(s.totals.connections_closed, 400);
    assert_eq!(s.tasks.finished, 400);
    let srd = s
        .operations
        .iter()
        .find(|o| o.kind == "set_remote_description")
        .unwrap();
    assert_eq!((srd.ok, srd.failed), (200, 0));
    // Only the most recent closed connections stay listed; half of the peers among them were dropped.
    let listed = monitor.connections();
    assert_eq!(listed.len(), sightline_monitor::RECENT_CLOSED_CONNECTIONS);
    let peers: Vec<_> = listed
        .iter()
        .filter(|c| c.kind == ConnectionKind::WebRtc)
        .collect();
    let dropped = peers
        .iter()
        .filter(|c| c.close_reason.as_deref() == Some("dropped"))
        .count();
    assert_eq!(dropped * 2, peers.len());

    shutdown.cancel();
    assert!(
        eventually(Duration::from_secs(5), || monitor.tasks().live.is_empty()).await,
        "the background task ends on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_loop_reports_a_task_that_outlives_its_connection() {
    let monitor = Monitor::new(MonitorConfig {
        leak_grace: Duration::from_millis(50),
        ..MonitorConfig::default()
    });
    let shutdown = CancellationToken::new();
    monitor.start_background(shutdown.clone());
    let conn = monitor.open_connection(ConnectionKind::Whep, ConnectionAttrs::default());
    let (_keep, never) = tokio::sync::oneshot::channel::<()>();
    let leaky = monitor.spawn("ignores-close", conn.owner(), async move {
        let _ = never.await;
    });
    conn.close("done");

    assert!(
        eventually(Duration::from_secs(5), || monitor.summary().leaked == 1).await,
        "leak not reported"
    );
    let tasks = monitor.tasks();
    assert_eq!(tasks.leaked.len(), 1);
    assert_eq!(tasks.leaked[0].name, "ignores-close");
    assert_eq!(tasks.leaked[0].owner, Owner::Connection(conn.id()));
    let detail = monitor.connection(conn.id()).unwrap();
    assert_eq!(detail.tasks.len(), 1);
    assert!(detail.tasks[0].leaked);

    leaky.abort();
    assert!(
        eventually(Duration::from_secs(5), || monitor.summary().leaked == 0).await,
        "an ended task is no longer leaked"
    );
    assert_eq!(monitor.tasks().recent[0].state, TaskState::Cancelled);
    assert_eq!(monitor.summary().totals.tasks_leaked, 1);
    shutdown.cancel();
}
