//! The socket's limits on paused time: heartbeat and idle timeout, the configured authentication deadline and the
//! unauthenticated place, rate limits with their retry time, strikes that ban, binary messages, and what the
//! WebSocket layer reports.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use sightline_media::synthetic::SyntheticDesktop;
use sightline_signaling::Role;
use tokio::time::Instant;

use super::{CONTROL, Client, REMOTE, VIEW, connect, connect_with, manager, manager_with};
use crate::config::{Config, LimitsConfig};
use crate::ratelimit::Class;
use crate::session::SessionManager;
use crate::transport::ws::guard::{Admission, Guard};
use crate::transport::ws::{
    CLOSE_TIMEOUT, Handshake, MAX_FRAME_BYTES, MAX_SOCKET_MESSAGE_BYTES, Violation, WsIn, WsOut,
    classify_tungstenite,
};

fn limited(limits: LimitsConfig) -> SessionManager {
    manager_with(
        Arc::new(SyntheticDesktop::new(320, 240)),
        Config {
            limits,
            ..Config::default()
        },
    )
}

fn ip() -> IpAddr {
    REMOTE.parse::<std::net::SocketAddr>().unwrap().ip()
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// The monitor connection of the test's socket (open or recently closed).
fn counters(m: &SessionManager) -> sightline_monitor::Counters {
    let conns: Vec<_> = m
        .monitor_view()
        .connections()
        .into_iter()
        .filter(|c| c.kind == sightline_monitor::ConnectionKind::Signaling)
        .collect();
    assert_eq!(conns.len(), 1, "one signaling connection");
    conns[0].counters.clone()
}

impl Client {
    /// The client closes its side; the socket task must end.
    async fn hang_up(self) {
        let Client { tx, task, .. } = self;
        drop(tx);
        tokio::time::timeout(CLOSE_TIMEOUT * 2, task)
            .await
            .expect("the socket task ended")
            .expect("no panic");
    }

    fn send_json(&self, v: Value) {
        self.send(&v.to_string());
    }

    /// Everything written up to and including the reply with `"id": marker` (sent last by the test).
    async fn until_marker(&mut self, marker: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let v = self.next_json().await;
            let done = v["id"] == marker;
            seen.push(v);
            if done {
                return seen;
            }
        }
    }
}

/// An expensive message whose `error` reply (no such screen) marks the end of what the test sent before it.
fn marker(id: &str) -> Value {
    json!({"type":"request_hq_frame","screen":"no-such-screen","id":id})
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_pings_and_silence_closes_with_1001() {
    let m = limited(LimitsConfig {
        heartbeat_ms: 1_000,
        idle_timeout_ms: 3_000,
        ..LimitsConfig::default()
    });
    // A client that answers pings stays well past the idle timeout.
    let mut alive = connect(&m, Some(Role::View));
    assert_eq!(alive.next_json().await["type"], "welcome");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!alive.task.is_finished(), "pongs keep the socket open");
    alive.hang_up().await;

    // One that does not answer is pinged every second and closed 3 s after it last sent anything.
    let mut c = connect(&m, Some(Role::View));
    c.auto_pong.store(false, Ordering::SeqCst);
    let start = Instant::now();
    assert_eq!(c.next_json().await["type"], "welcome");
    assert_eq!(c.next().await, Some(WsOut::Ping));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    // A message counts as activity: the idle clock restarts at 1.5 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.send(r#"{"type":"ping","id":1}"#);
    assert_eq!(c.next_json().await["type"], "pong");
    assert_eq!(c.next().await, Some(WsOut::Ping));
    assert_eq!(c.next().await, Some(WsOut::Ping));
    assert_eq!(c.next().await, Some(WsOut::Ping));
    assert_eq!(
        c.next().await,
        Some(WsOut::Close(1001, "idle: nothing received for 3 s".into()))
    );
    assert_eq!(start.elapsed(), Duration::from_millis(4_500));
    c.ended(CLOSE_TIMEOUT).await;
    assert_eq!(m.diagnostics().snapshot().violations.get("idle"), Some(&1));
    assert!(
        m.limits().banned(ip(), now()).is_none(),
        "idling is no strike"
    );
}

#[tokio::test(start_paused = true)]
async fn the_configured_auth_deadline_closes_with_1008_and_frees_the_place() {
    let m = limited(LimitsConfig {
        auth_timeout_ms: 300,
        ..LimitsConfig::default()
    });
    let permit = m.diagnostics().admit_unauthenticated(1).expect("a place");
    assert!(m.diagnostics().admit_unauthenticated(1).is_none());
    let mut c = connect_with(
        &m,
        Handshake {
            remote: Some(REMOTE.parse().unwrap()),
            permit: Some(permit),
            ..Handshake::default()
        },
    );
    let start = Instant::now();
    assert_eq!(
        c.next().await,
        Some(WsOut::Close(1008, "no valid token within 300 ms".into()))
    );
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    c.ended(CLOSE_TIMEOUT).await;
    let d = m.diagnostics().snapshot();
    assert_eq!(d.unauthenticated_sockets, 0, "the place is free again");
    assert_eq!(d.violations.get("unauthenticated"), Some(&1));

    // Authenticating frees the place at once, while the socket lives on.
    let permit = m.diagnostics().admit_unauthenticated(1).expect("a place");
    let mut c = connect_with(
        &m,
        Handshake {
            remote: Some(REMOTE.parse().unwrap()),
            permit: Some(permit),
            ..Handshake::default()
        },
    );
    c.send_json(json!({"type":"auth","token":VIEW}));
    assert_eq!(c.next_json().await["type"], "welcome");
    c.send_json(json!({"type":"ping","id":"p"}));
    assert_eq!(c.next_json().await["type"], "pong");
    assert_eq!(m.diagnostics().snapshot().unauthenticated_sockets, 0);
    assert!(!c.task.is_finished());
    c.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn over_budget_pings_get_one_rate_limited_error_per_retry_period() {
    let m = manager();
    let mut c = connect(&m, Some(Role::View));
    assert_eq!(c.next_json().await["type"], "welcome");
    let burst = Class::Light.rate().burst as usize;
    for i in 0..burst + 10 {
        c.send_json(json!({"type":"ping","id":i}));
    }
    c.send_json(marker("m1"));
    let seen = c.until_marker("m1").await;
    let pongs = seen.iter().filter(|v| v["type"] == "pong").count();
    assert_eq!(pongs, burst, "the burst passes, the rest does not");
    let errors: Vec<_> = seen
        .iter()
        .filter(|v| v["code"] == "rate_limited")
        .collect();
    assert_eq!(errors.len(), 1, "one error for ten refusals: {errors:?}");
    let e = errors[0];
    // 20 light messages a second: the next one passes 50 ms later.
    assert_eq!(e["retry_after_ms"], 50, "{e}");
    assert_eq!(e["id"], burst, "the first refused ping's id: {e}");
    assert_eq!(
        e["message"], "over the budget of light messages; retry in 50 ms",
        "{e}"
    );
    assert_eq!(
        m.diagnostics().snapshot().rate_limited.get("light"),
        Some(&10)
    );
    assert_eq!(counters(&m).rate_limited, 10);

    // After the retry time one passes; refused again at once, the error is repeated only after its new retry.
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.send_json(json!({"type":"ping","id":"after"}));
    c.send_json(json!({"type":"ping","id":"again"}));
    c.send_json(marker("m2"));
    let seen = c.until_marker("m2").await;
    assert_eq!(seen[0], json!({"type":"pong","id":"after"}));
    assert_eq!(seen[1]["code"], "rate_limited", "{seen:?}");
    assert_eq!(seen[1]["id"], "again");
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        m.limits().banned(ip(), now()).is_none(),
        "11 strikes, 20 ban"
    );
    c.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn strikes_ban_the_address_and_close_with_1008() {
    let m = limited(LimitsConfig {
        ban_after: 5,
        ban_ms: 30_000,
        ..LimitsConfig::default()
    });
    let mut c = connect(&m, Some(Role::Control));
    assert_eq!(c.next_json().await["type"], "welcome");
    let burst = Class::Expensive.rate().burst as usize;
    for i in 0..burst + 5 {
        c.send_json(json!({"type":"keyframe","id":i}));
    }
    let mut last = None;
    while let Some(out) = c.next().await {
        last = Some(out);
    }
    assert_eq!(last, Some(WsOut::Close(1008, "banned for 30 s".into())));
    c.ended(CLOSE_TIMEOUT).await;
    let left = m.limits().banned(ip(), now()).expect("banned");
    assert!(left > Duration::from_secs(29), "{left:?}");
    let d = m.diagnostics().snapshot();
    assert_eq!(d.bans, 1);
    assert_eq!(d.rate_limited.get("expensive"), Some(&5));
    let k = counters(&m);
    assert_eq!(k.banned_ms, Some(30_000));
    assert_eq!(k.rate_limited, 5);
}

#[tokio::test(start_paused = true)]
async fn bad_messages_are_answered_until_their_strikes_ban() {
    let m = limited(LimitsConfig {
        ban_after: 3,
        ..LimitsConfig::default()
    });
    let mut c = connect(&m, Some(Role::View));
    assert_eq!(c.next_json().await["type"], "welcome");
    for _ in 0..3 {
        c.send("{not json");
    }
    assert_eq!(c.next_json().await["code"], "bad_json");
    assert_eq!(c.next_json().await["code"], "bad_json");
    assert_eq!(
        c.next().await,
        Some(WsOut::Close(1008, "banned for 30 s".into()))
    );
    c.ended(CLOSE_TIMEOUT).await;
    assert_eq!(counters(&m).violations.get("bad_message"), Some(&3));
    assert_eq!(
        m.diagnostics().snapshot().violations.get("bad_message"),
        Some(&3)
    );
}

#[tokio::test(start_paused = true)]
async fn a_binary_message_is_answered_once_then_closes_with_1003() {
    let m = manager();
    let mut c = connect(&m, Some(Role::View));
    assert_eq!(c.next_json().await["type"], "welcome");
    c.tx.send(WsIn::Binary).unwrap();
    let e = c.next_json().await;
    assert_eq!(e["code"], "bad_message", "{e}");
    c.tx.send(WsIn::Binary).unwrap();
    assert_eq!(
        c.next().await,
        Some(WsOut::Close(
            1003,
            "binary messages are not accepted".into()
        ))
    );
    c.ended(CLOSE_TIMEOUT).await;
    assert_eq!(counters(&m).violations.get("binary"), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn websocket_violations_close_with_their_rfc_6455_code() {
    for (input, code) in [
        (WsIn::Invalid(Violation::FrameTooLarge), 1009),
        (WsIn::Invalid(Violation::MessageTooLarge), 1009),
        (WsIn::Invalid(Violation::BadUtf8), 1007),
        (WsIn::Invalid(Violation::Protocol), 1002),
        (WsIn::Failed, 1011),
    ] {
        let m = manager();
        // Before authenticating too: the unauthenticated socket is the attacker's cheapest tool.
        let mut c = connect(&m, None);
        c.tx.send(input.clone()).unwrap();
        match c.next().await {
            Some(WsOut::Close(c, _)) => assert_eq!(c, code, "{input:?}"),
            other => panic!("{input:?}: {other:?}"),
        }
        c.ended(CLOSE_TIMEOUT).await;
        if let WsIn::Invalid(v) = input {
            assert_eq!(counters(&m).violations.get(v.kind()), Some(&1));
            assert_eq!(
                m.diagnostics().snapshot().violations.get(v.kind()),
                Some(&1)
            );
        }
    }
}

#[test]
fn tungstenite_errors_map_to_violations() {
    use tungstenite::error::{CapacityError, ProtocolError};
    let too_long = |max_size| {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong {
            size: 15 << 20,
            max_size,
        })
    };
    for (e, want) in [
        (
            too_long(MAX_FRAME_BYTES),
            WsIn::Invalid(Violation::FrameTooLarge),
        ),
        (
            too_long(MAX_SOCKET_MESSAGE_BYTES),
            WsIn::Invalid(Violation::MessageTooLarge),
        ),
        (
            tungstenite::Error::Utf8("bad".into()),
            WsIn::Invalid(Violation::BadUtf8),
        ),
        (
            tungstenite::Error::Protocol(ProtocolError::UnmaskedFrameFromClient),
            WsIn::Invalid(Violation::Protocol),
        ),
        (
            tungstenite::Error::Protocol(ProtocolError::NonZeroReservedBits),
            WsIn::Invalid(Violation::Protocol),
        ),
        (
            tungstenite::Error::Protocol(ProtocolError::ControlFrameTooBig),
            WsIn::Invalid(Violation::Protocol),
        ),
        (
            tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            WsIn::Close,
        ),
        (
            tungstenite::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
            WsIn::Close,
        ),
        (tungstenite::Error::AttackAttempt, WsIn::Failed),
    ] {
        assert_eq!(classify_tungstenite(&e), want, "{e}");
    }
}

#[tokio::test(start_paused = true)]
async fn connections_of_one_token_share_its_budget() {
    let m = manager();
    let t = now();
    let burst = Class::Expensive.rate().burst as usize;
    let token_burst = Class::Expensive.token_rate().burst as usize;
    let guards: Vec<Guard> = (0..token_burst / burst + 1)
        .map(|i| {
            let conn = m.open_connection(
                sightline_monitor::ConnectionKind::Signaling,
                Default::default(),
            );
            let mut g = Guard::new(m.clone(), conn, Some(&format!("192.0.2.{i}:1")));
            g.authenticated(CONTROL);
            g
        })
        .collect();
    let mut guards = guards;
    let (last, full) = guards.split_last_mut().unwrap();
    for g in full.iter_mut() {
        for _ in 0..burst {
            assert_eq!(g.admit(Class::Expensive, t), Ok(Admission::Pass));
        }
        // This connection's own bucket is empty.
        assert!(matches!(
            g.admit(Class::Expensive, t),
            Ok(Admission::Refused(Some(_)))
        ));
    }
    // A fresh connection with the same token finds the token's budget spent.
    match last.admit(Class::Expensive, t) {
        Ok(Admission::Refused(Some(e))) => assert_eq!(
            e.retry_after_ms,
            Some((1000.0 / Class::Expensive.token_rate().per_second).ceil() as u64)
        ),
        other => panic!("{other:?}"),
    }
    // Another token is unaffected.
    let conn = m.open_connection(
        sightline_monitor::ConnectionKind::Signaling,
        Default::default(),
    );
    let mut other = Guard::new(m.clone(), conn, Some("192.0.2.99:1"));
    other.authenticated(VIEW);
    assert_eq!(other.admit(Class::Expensive, t), Ok(Admission::Pass));
}
