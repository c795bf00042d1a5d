//! One device's connection: a task from the WebSocket upgrade to its close, generic over a stream of [`LinkIn`]
//! and a sink of [`LinkOut`] so tests drive it over channels (the HTTP edge adapts axum's socket).
//!
//! `run` → `run_inner` → one cleanup: the hello within [`HELLO_TIMEOUT_MS`] and its check, the registration
//! decision ([`super::registry::Registry::admit`]), `welcome` or `refused` + 4403, the device's screens into the
//! engine, then the loop: text messages (screens, ping/pong, stream ends, call results), binary media to the
//! right sink, a ping every `[devices] heartbeat_ms` (its pong is the RTT) and the end after
//! [`MISSED_HEARTBEATS`] silent periods (4408). A newer link of the same device ends this one (4409), an admin's
//! removal too (4403), the gateway's shutdown with 1001. One writer drains the bounded outbox
//! ([`super::upstream::HUB_OUTBOX`]) into the sink beside the reader, so a slow write never stops reading.
//!
//! On the way out: waiting calls fail with `device "…" (…) went offline`, every stream's sink ends, the screens
//! leave the engine, the device is listed offline (its last screens kept) and `device_offline` is published —
//! unless a newer link of the device took over.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::json;
use sightline_monitor::{ConnectionAttrs, ConnectionKind, Lifecycle};
use sightline_signaling::fleet::{
    DeviceMsg, HELLO_TIMEOUT_MS, Hello, HubMsg, MISSED_HEARTBEATS, PROTOCOL_VERSION, RemoteScreen,
    check_hello, check_screens, parse_device,
};
use tokio::sync::mpsc;

use super::events;
use super::registry::{Admission, LinkDown};
use super::upstream::{HUB_OUTBOX, LinkShared};
use super::wire::{CLOSE_WRITE_TIMEOUT, End, LinkIn, LinkOut, WRITE_TIMEOUT};
use super::{Hub, Inner};

/// What the task holds while it runs, for the cleanup.
struct State {
    /// The accepted link.
    shared: Option<Arc<LinkShared>>,
    /// The device's screens this link put into the engine (device ids).
    screens: Vec<RemoteScreen>,
}

/// Serves one device connection until it ends.
pub(super) async fn run<S, K>(hub: Hub, mut stream: S, mut sink: K, remote: Option<SocketAddr>)
where
    S: Stream<Item = LinkIn> + Unpin + Send,
    K: Sink<LinkOut> + Unpin + Send,
    K::Error: std::fmt::Display,
{
    let inner = &hub.inner;
    let remote = remote.map(|a| a.to_string());
    let conn = inner.monitor.open_connection(
        ConnectionKind::Device,
        ConnectionAttrs {
            role: Some("device".into()),
            remote: remote.clone(),
            ..ConnectionAttrs::default()
        },
    );
    conn.set_lifecycle(Lifecycle::Connecting);
    let (tx, mut rx) = mpsc::channel::<LinkOut>(HUB_OUTBOX);
    let mut state = State {
        shared: None,
        screens: Vec::new(),
    };
    let end = {
        let writer = async {
            while let Some(msg) = rx.recv().await {
                match tokio::time::timeout(WRITE_TIMEOUT, sink.send(msg)).await {
                    Ok(Ok(())) => conn.update_counters(|c| c.messages_sent += 1),
                    Ok(Err(e)) => return End::Failed(e.to_string()),
                    Err(_) => return End::Stalled,
                }
            }
            End::DeviceClosed
        };
        let reader = run_inner(&hub, &mut stream, tx, &conn, remote, &mut state);
        tokio::select! {
            end = reader => end,
            end = writer => end,
        }
    };
    let reason = end.reason();
    // Viewers and callers learn first; the goodbye may take a moment.
    if let Some(shared) = state.shared.take() {
        cleanup(inner, &shared, &state.screens, &reason);
    }
    // Say goodbye (best effort: a stalled device gets nothing).
    let (refused, close) = end.farewell();
    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
        if let Some(reason) = refused
            && let Ok(text) = serde_json::to_string(&HubMsg::Refused { reason })
        {
            sink.send(LinkOut::Text(text)).await.map_err(|_| ())?;
        }
        if let Some((code, why)) = close {
            sink.send(LinkOut::Close(code, why)).await.map_err(|_| ())?;
        }
        sink.close().await.map_err(|_| ())
    })
    .await;
    tracing::info!(conn = %conn.id(), reason, "device link ended");
    conn.close(&reason);
}

/// Undoes an accepted link: calls fail, streams end, screens leave the engine, the device goes offline.
fn cleanup(inner: &Inner, shared: &Arc<LinkShared>, screens: &[RemoteScreen], reason: &str) {
    let offline = format!("{} went offline", shared.label());
    shared.calls.lock().fail_all(&offline);
    shared.end_streams(&offline);
    let down = inner
        .registry
        .lock()
        .link_down(&shared.device, shared.id, SystemTime::now());
    match down {
        LinkDown::Replaced => {}
        LinkDown::Offline | LinkDown::Gone => {
            for s in screens {
                inner.screens.remove(&format!("{}/{}", shared.device, s.id));
            }
            if matches!(down, LinkDown::Offline) {
                inner.events.offline(&shared.device, &shared.name, reason);
            }
        }
    }
}

async fn run_inner<S>(
    hub: &Hub,
    stream: &mut S,
    tx: mpsc::Sender<LinkOut>,
    conn: &sightline_monitor::Connection,
    remote: Option<String>,
    state: &mut State,
) -> End
where
    S: Stream<Item = LinkIn> + Unpin + Send,
{
    let inner = &hub.inner;
    let hello = tokio::select! {
        hello = tokio::time::timeout(Duration::from_millis(HELLO_TIMEOUT_MS), read_hello(stream, conn)) => match hello {
            Ok(Ok(hello)) => hello,
            Ok(Err(end)) => return end,
            Err(_) => return End::Timeout(format!("no hello within {} s", HELLO_TIMEOUT_MS / 1000)),
        },
        () = inner.shutdown.cancelled() => return End::Shutdown,
    };
    let link_id = inner.next_link();
    // The name the hub shows may be the allowed list's.
    let shown = inner.registry.lock().shown_name(&hello);
    let shared = Arc::new(LinkShared::new(
        link_id,
        &hello.id,
        &shown,
        tx,
        conn.clone(),
        inner.monitor.clone(),
        remote.clone(),
    ));
    let admission = inner
        .registry
        .lock()
        .admit(&hello, &shared, remote, SystemTime::now());
    let (enrolled, replaced, previous) = match admission {
        Admission::Refuse { reason, pending } => {
            if pending {
                inner.events.publish(
                    events::PENDING,
                    &hello.id,
                    &hello.name,
                    json!({ "reason": reason }),
                );
            }
            tracing::info!(device = %hello.id, name = %hello.name, reason, "device refused");
            return End::Refused(reason);
        }
        Admission::Accept {
            enrolled,
            replaced,
            previous_screens,
        } => (enrolled, replaced, previous_screens),
    };
    let name = shared.name.clone();
    state.shared = Some(shared.clone());
    if let Some(old) = replaced {
        old.kill(End::Replaced);
    }
    if enrolled {
        hub.persist_enrolled(&hello.id, &hello.name);
        inner.events.publish(
            events::REGISTERED,
            &hello.id,
            &name,
            json!({ "how": "open" }),
        );
    }
    shared.send(&HubMsg::Welcome {
        protocol: PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        heartbeat_ms: inner.heartbeat.as_millis() as u64,
    });
    conn.set_lifecycle(Lifecycle::Connected);
    conn.event(format!(
        "{} version {}: {} screens",
        shared.label(),
        hello.version,
        hello.screens.len()
    ));
    // Screens the replaced link had and this one does not announce leave the engine.
    for old in previous
        .iter()
        .filter(|o| !hello.screens.iter().any(|s| s.id == o.id))
    {
        inner.screens.remove(&format!("{}/{}", hello.id, old.id));
    }
    for s in &hello.screens {
        hub.add_screen(&shared, s);
    }
    state.screens = hello.screens.clone();
    inner.events.publish(
        events::ONLINE,
        &hello.id,
        &name,
        json!({ "screens": hello.screens }),
    );
    tracing::info!(device = %hello.id, name, version = %hello.version, "device online");
    serve(hub, stream, &shared, state).await
}

/// Waits for the first message: it must be a valid hello.
async fn read_hello<S>(stream: &mut S, conn: &sightline_monitor::Connection) -> Result<Hello, End>
where
    S: Stream<Item = LinkIn> + Unpin + Send,
{
    match stream.next().await {
        None | Some(LinkIn::Closed) => Err(End::DeviceClosed),
        Some(LinkIn::Failed(e)) => Err(End::Failed(e)),
        Some(LinkIn::Binary(_)) => Err(End::Protocol("media before hello".into())),
        Some(LinkIn::Text(text)) => {
            conn.update_counters(|c| {
                c.messages_received += 1;
                c.bytes_received += text.len() as u64;
            });
            match parse_device(&text) {
                Ok(DeviceMsg::Hello(hello)) => {
                    check_hello(&hello).map_err(End::Refused)?;
                    Ok(hello)
                }
                Ok(_) => Err(End::Refused("the first message must be a hello".into())),
                Err(e) => Err(End::Refused(e)),
            }
        }
    }
}

/// The accepted link's loop.
async fn serve<S>(hub: &Hub, stream: &mut S, shared: &Arc<LinkShared>, state: &mut State) -> End
where
    S: Stream<Item = LinkIn> + Unpin + Send,
{
    let inner = &hub.inner;
    let period = inner.heartbeat;
    let silence = period * MISSED_HEARTBEATS;
    let start = Instant::now();
    let mut last_heard = Instant::now();
    let mut heard_since_tick = false;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let msg = tokio::select! {
            () = shared.killed().cancelled() => return shared.take_end().unwrap_or(End::Removed),
            () = inner.shutdown.cancelled() => return End::Shutdown,
            _ = ticker.tick() => {
                if last_heard.elapsed() >= silence {
                    return End::Timeout(format!(
                        "nothing heard from the device for {} ms ({MISSED_HEARTBEATS} heartbeats)",
                        silence.as_millis()
                    ));
                }
                if heard_since_tick {
                    heard_since_tick = false;
                    inner.registry.lock().heard(&shared.device, shared.id, SystemTime::now());
                }
                // Microseconds since the link started: the device echoes it, so sub-millisecond RTTs show.
                let t = start.elapsed().as_micros() as u64;
                if !shared.send(&HubMsg::Ping { t }) {
                    tracing::debug!(device = %shared.device, "ping dropped: outbox full");
                }
                continue;
            }
            msg = stream.next() => msg,
        };
        last_heard = Instant::now();
        heard_since_tick = true;
        match msg {
            None | Some(LinkIn::Closed) => return End::DeviceClosed,
            Some(LinkIn::Failed(e)) => return End::Failed(e),
            Some(LinkIn::Binary(b)) => {
                let len = b.len() as u64;
                shared.conn.update_counters(|c| {
                    c.bytes_received += len;
                    c.messages_received += 1;
                });
                if let Err(e) = shared.on_media(b) {
                    return End::Protocol(e);
                }
            }
            Some(LinkIn::Text(text)) => {
                let len = text.len() as u64;
                shared.conn.update_counters(|c| {
                    c.bytes_received += len;
                    c.messages_received += 1;
                });
                let msg = match parse_device(&text) {
                    Ok(m) => m,
                    Err(e) => return End::Protocol(e),
                };
                if let Err(end) = on_text(hub, shared, state, msg, start) {
                    return end;
                }
            }
        }
    }
}

/// One text message of an accepted device.
fn on_text(
    hub: &Hub,
    shared: &Arc<LinkShared>,
    state: &mut State,
    msg: DeviceMsg,
    start: Instant,
) -> Result<(), End> {
    let inner = &hub.inner;
    match msg {
        DeviceMsg::Hello(_) => return Err(End::Protocol("a second hello".into())),
        DeviceMsg::Ping { t } => {
            shared.send(&HubMsg::Pong { t });
        }
        DeviceMsg::Pong { t } => {
            let now = start.elapsed().as_micros() as u64;
            if t <= now {
                let rtt = (now - t) as f64 / 1000.0;
                inner
                    .registry
                    .lock()
                    .set_rtt(&shared.device, shared.id, rtt);
                shared.conn.update_counters(|c| c.rtt_ms = Some(rtt));
            }
        }
        DeviceMsg::StreamEnded { stream, reason } => {
            shared.on_stream_ended(stream, &format!("{}: {reason}", shared.label()));
        }
        DeviceMsg::Result(result) => shared.on_result(result),
        DeviceMsg::Screens { screens } => {
            check_screens(&screens).map_err(End::Protocol)?;
            let previous =
                inner
                    .registry
                    .lock()
                    .set_screens(&shared.device, shared.id, screens.clone());
            if previous.is_none() {
                return Ok(()); // replaced meanwhile: the newer link owns the screens
            }
            // Gone screens leave the engine; new or changed ones are (re)registered (a changed one's viewers
            // restart on the new size).
            for old in state
                .screens
                .iter()
                .filter(|o| !screens.iter().any(|s| s.id == o.id))
            {
                inner
                    .screens
                    .remove(&format!("{}/{}", shared.device, old.id));
            }
            for s in screens.iter().filter(|s| !state.screens.contains(s)) {
                hub.add_screen(shared, s);
            }
            state.screens = screens.clone();
            inner.events.publish(
                events::SCREENS_CHANGED,
                &shared.device,
                &shared.name,
                json!({ "screens": screens }),
            );
        }
    }
    Ok(())
}
