//! One `/ws` viewer brokered to Janus: the gateway plays the Janus client the browser would otherwise be.
//!
//! [`Brokered::open`] creates a Janus session, attaches the Streaming plugin, asks to `watch` the mountpoint and
//! long-polls until Janus's offer arrives (at most [`OFFER_TIMEOUT`]); the caller relays that offer to the browser.
//! [`Brokered::set_answer`] sends the browser's answer with `start`, [`Brokered::add_candidate`] trickles its
//! candidates. From `open` on, one poll task ("janus-poll", owned by the viewer's connection) long-polls the
//! session and turns what Janus says into [`BrokerEvent`]s on a bounded channel ([`EVENTS`]): trickled
//! candidates, `webrtcup`, and the end (`hangup`, the mountpoint stopped, the session gone, Janus unreachable
//! after one retry). It ends after the first [`BrokerEvent::Lost`], when the viewer's connection closes, on
//! shutdown, or on [`Brokered::close`].
//!
//! [`Brokered::close`] destroys the Janus session and awaits the poll task; dropping a [`Brokered`] does the same
//! in the background (a tracked task bounded by [`CLOSE_TIMEOUT`]), so drop never blocks.

use std::pin::Pin;
use std::time::Duration;

use serde_json::{Value, json};
use sightline_monitor::{Connection, Monitor, Owner, WeakConnection};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::janus::{JanusApi, JanusError, plugin_data, plugin_error};
use crate::peer::CandidateInit;

/// How long `open` waits for Janus's offer after `watch`.
pub const OFFER_TIMEOUT: Duration = Duration::from_secs(5);
/// Capacity of a viewer's event channel. When full, the poll task waits (Janus keeps the events meanwhile):
/// a viewer reads its few events promptly, so this only absorbs a burst of trickled candidates.
pub const EVENTS: usize = 32;
/// A keepalive is sent when no request reached the session for this long (Janus's default session timeout is
/// 60 s; a long poll also counts, but Janus holds one for ~30 s).
pub const KEEPALIVE: Duration = Duration::from_secs(25);
/// How long destroying the session may take on close or drop.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most events one long poll returns.
const MAXEV: u32 = 8;
/// Pause before the one retry of a failed poll.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// What the viewer's Janus session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEvent {
    /// A candidate Janus trickled; `None`: Janus finished gathering.
    Candidate(Option<CandidateInit>),
    /// Janus's PeerConnection to the viewer is up (`webrtcup`).
    Up,
    /// The session is over: Janus hung up, the mountpoint stopped, the session is gone, or Janus is
    /// unreachable. The last event.
    Lost(String),
}

/// One viewer's Janus session and its poll task. Dropping it destroys the session in the background.
pub struct Brokered {
    api: JanusApi,
    session: u64,
    handle: u64,
    /// The viewer's connection: kept open while brokered, and the owner of the poll task.
    conn: Connection,
    monitor: Monitor,
    /// Stops the poll task (a child of the shutdown token given to `open`).
    stop: CancellationToken,
    poll: Option<JoinHandle<()>>,
    /// Set by `close`: the session is already destroyed, drop has nothing left to do.
    closed: bool,
}

impl std::fmt::Debug for Brokered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Brokered")
            .field("janus", &self.api.base())
            .field("session", &self.session)
            .field("handle", &self.handle)
            .field("conn", &self.conn.id())
            .finish()
    }
}

impl Brokered {
    /// Creates a session, attaches the Streaming plugin, sends `watch` for `mountpoint` and waits for Janus's
    /// offer (≤ [`OFFER_TIMEOUT`]). Returns the broker, its events and the offer SDP. On failure the session is
    /// destroyed before returning.
    pub async fn open(
        api: JanusApi,
        mountpoint: u64,
        conn: Connection,
        monitor: &Monitor,
        shutdown: CancellationToken,
    ) -> Result<(Brokered, mpsc::Receiver<BrokerEvent>, String), JanusError> {
        let session = api.create_session().await?;
        // Covers this future being dropped midway (the viewer left): the session is destroyed in the background.
        let mut guard = SessionGuard {
            api: &api,
            session,
            monitor,
            armed: true,
        };
        let opened = async {
            let handle = api.attach(session).await?;
            api.message(
                session,
                handle,
                json!({"request": "watch", "id": mountpoint}),
                None,
            )
            .await?;
            let (offer, rest) = wait_offer(&api, session).await?;
            Ok::<_, JanusError>((handle, offer, rest))
        }
        .await;
        let (handle, offer, rest) = match opened {
            Ok(o) => o,
            Err(e) => {
                guard.armed = false;
                destroy(&api, session).await;
                return Err(e);
            }
        };
        guard.armed = false;
        drop(guard);
        conn.event(format!(
            "janus session {session}: watching mountpoint {mountpoint}, offer received"
        ));
        let (tx, rx) = mpsc::channel(EVENTS);
        let stop = shutdown.child_token();
        let task = PollTask {
            api: api.clone(),
            session,
            tx,
            stop: stop.clone(),
            closed: conn.closed_token(),
            conn: conn.downgrade(),
        };
        let poll = monitor.spawn("janus-poll", Owner::Connection(conn.id()), task.run(rest));
        let brokered = Brokered {
            api,
            session,
            handle,
            conn,
            monitor: monitor.clone(),
            stop,
            poll: Some(poll),
            closed: false,
        };
        Ok((brokered, rx, offer))
    }

    /// The Janus session id.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Sends the viewer's answer: `start` with the answer JSEP.
    pub async fn set_answer(&self, sdp: &str) -> Result<(), JanusError> {
        self.api
            .message(
                self.session,
                self.handle,
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": sdp})),
            )
            .await?;
        self.conn
            .event(format!("janus session {}: answer sent", self.session));
        // No playout delay (min = max = 0, in 10 ms units), which Janus sends in the playout-delay extension: the
        // browser then shows each frame as soon as it is decoded. A Janus that refuses only costs latency.
        let configure = json!({"request": "configure", "min_delay": 0, "max_delay": 0});
        if let Err(e) = self
            .api
            .message(self.session, self.handle, configure, None)
            .await
        {
            self.conn.event(format!(
                "janus session {}: no playout delay: {e}",
                self.session
            ));
        }
        Ok(())
    }

    /// Trickles one of the viewer's candidates; `None` or an empty candidate: end of candidates.
    pub async fn add_candidate(&self, c: Option<CandidateInit>) -> Result<(), JanusError> {
        let c = c
            .filter(|c| !c.candidate.is_empty())
            .map(|c| (c.candidate, c.sdp_mid, c.sdp_mline_index));
        self.api.trickle(self.session, self.handle, c).await
    }

    /// Destroys the Janus session (≤ [`CLOSE_TIMEOUT`]) and waits for the poll task to end.
    pub async fn close(mut self) {
        self.closed = true;
        self.stop.cancel();
        if let Some(poll) = self.poll.take() {
            let _ = poll.await;
        }
        destroy(&self.api, self.session).await;
    }
}

impl Drop for Brokered {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.closed || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        spawn_destroy(&self.monitor, &self.api, self.session);
    }
}

/// Destroys a session unless disarmed, when `open` does not get to the end.
struct SessionGuard<'a> {
    api: &'a JanusApi,
    session: u64,
    monitor: &'a Monitor,
    armed: bool,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if self.armed && tokio::runtime::Handle::try_current().is_ok() {
            spawn_destroy(self.monitor, self.api, self.session);
        }
    }
}

/// Destroys a session in a tracked background task. Owned by the gateway, not the connection: it may outlive
/// the connection by up to [`CLOSE_TIMEOUT`].
fn spawn_destroy(monitor: &Monitor, api: &JanusApi, session: u64) {
    let api = api.clone();
    monitor.spawn("janus-destroy", Owner::Gateway, async move {
        destroy(&api, session).await;
    });
}

/// Destroys a session, bounded by [`CLOSE_TIMEOUT`]; failures are only logged (Janus times the session out).
async fn destroy(api: &JanusApi, session: u64) {
    match tokio::time::timeout(CLOSE_TIMEOUT, api.destroy_session(session)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_no_such_session() => {}
        Ok(Err(e)) => tracing::debug!(
            janus = api.base(),
            session,
            "janus session not destroyed: {e}"
        ),
        Err(_) => tracing::debug!(
            janus = api.base(),
            session,
            "janus session destroy timed out"
        ),
    }
}

/// Long-polls until the offer; returns its SDP and the events that came after it in the same reply.
async fn wait_offer(api: &JanusApi, session: u64) -> Result<(String, Vec<Value>), JanusError> {
    let wait = async {
        loop {
            let mut events = api.poll(session, MAXEV).await?.into_iter();
            while let Some(ev) = events.next() {
                if let Some(sdp) = offer_of(&ev)? {
                    return Ok((sdp, events.collect()));
                }
            }
        }
    };
    tokio::time::timeout(OFFER_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| {
            Err(JanusError::Protocol(format!(
                "no offer within {} s of watch",
                OFFER_TIMEOUT.as_secs()
            )))
        })
}

/// An event before the offer: the offer's SDP, nothing (`None`: keep waiting), or why it will never come.
fn offer_of(ev: &Value) -> Result<Option<String>, JanusError> {
    match ev.get("janus").and_then(Value::as_str) {
        Some("event") => {
            if let Some(e) = plugin_error(ev) {
                return Err(e);
            }
            let jsep = ev.get("jsep");
            if jsep.and_then(|j| j.get("type")).and_then(Value::as_str) == Some("offer") {
                let sdp = jsep.and_then(|j| j.get("sdp")).and_then(Value::as_str);
                return sdp
                    .map(|s| Some(s.to_owned()))
                    .ok_or_else(|| JanusError::Protocol("offer without sdp".into()));
            }
            Ok(None)
        }
        Some("hangup" | "detached" | "timeout") => Err(JanusError::Protocol(format!(
            "Janus ended the session before the offer: {}",
            lost_reason(ev)
        ))),
        _ => Ok(None),
    }
}

/// What one event means for the viewer: `None` for nothing it needs to know.
fn classify(ev: &Value) -> Option<BrokerEvent> {
    match ev.get("janus").and_then(Value::as_str)? {
        "trickle" => {
            let c = ev.get("candidate")?;
            if c.get("completed").and_then(Value::as_bool) == Some(true) {
                return Some(BrokerEvent::Candidate(None));
            }
            Some(BrokerEvent::Candidate(Some(CandidateInit {
                candidate: c.get("candidate")?.as_str()?.to_owned(),
                sdp_mid: c.get("sdpMid").and_then(Value::as_str).map(str::to_owned),
                sdp_mline_index: c
                    .get("sdpMLineIndex")
                    .and_then(Value::as_u64)
                    .and_then(|m| u16::try_from(m).ok()),
            })))
        }
        "webrtcup" => Some(BrokerEvent::Up),
        "hangup" | "detached" | "timeout" => Some(BrokerEvent::Lost(lost_reason(ev))),
        "event" => {
            if let Some(e) = plugin_error(ev) {
                return Some(BrokerEvent::Lost(e.to_string()));
            }
            let status = plugin_data(ev)?.pointer("/result/status")?.as_str()?;
            (status == "stopped").then(|| BrokerEvent::Lost("the mountpoint stopped".into()))
        }
        _ => None,
    }
}

fn lost_reason(ev: &Value) -> String {
    match ev.get("janus").and_then(Value::as_str) {
        Some("hangup") => format!(
            "Janus hung up ({})",
            ev.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason")
        ),
        Some("detached") => "Janus detached the viewer's handle".into(),
        Some("timeout") => "the Janus session timed out".into(),
        other => format!("Janus sent {}", other.unwrap_or("an unknown event")),
    }
}

type KeepaliveFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JanusError>> + Send + 'a>>;

/// The poll task's state.
struct PollTask {
    api: JanusApi,
    session: u64,
    tx: mpsc::Sender<BrokerEvent>,
    stop: CancellationToken,
    /// The viewer's connection closed.
    closed: CancellationToken,
    /// For timeline events, without keeping the connection open.
    conn: WeakConnection,
}

impl PollTask {
    async fn run(self, first: Vec<Value>) {
        let reason = self.run_inner(first).await;
        tracing::debug!(
            janus = self.api.base(),
            session = self.session,
            reason,
            "janus poll ended"
        );
    }

    async fn run_inner(&self, first: Vec<Value>) -> &'static str {
        for ev in &first {
            if let Some(end) = self.forward(ev).await {
                return end;
            }
        }
        let mut failed = false;
        let mut last_request = Instant::now();
        let mut keepalive: Option<KeepaliveFuture<'_>> = None;
        loop {
            last_request = last_request.max(Instant::now());
            let poll = self.api.poll(self.session, MAXEV);
            let mut poll = std::pin::pin!(poll);
            let result = loop {
                let due = tokio::time::sleep_until(last_request + KEEPALIVE);
                tokio::select! {
                    () = self.stop.cancelled() => return "stopped",
                    () = self.closed.cancelled() => return "connection closed",
                    r = &mut poll => break r,
                    () = due, if keepalive.is_none() => {
                        last_request = Instant::now();
                        keepalive = Some(Box::pin(self.api.keepalive(self.session)));
                    }
                    r = async { keepalive.as_mut().expect("guarded by is_some").await }, if keepalive.is_some() => {
                        keepalive = None;
                        if let Err(e) = r {
                            tracing::debug!(session = self.session, "janus keepalive failed: {e}");
                        }
                    }
                }
            };
            match result {
                Ok(events) => {
                    failed = false;
                    for ev in &events {
                        if let Some(end) = self.forward(ev).await {
                            return end;
                        }
                    }
                }
                Err(e) if e.is_no_such_session() || failed => {
                    let why = if e.is_no_such_session() {
                        "the Janus session is gone".to_owned()
                    } else {
                        format!("Janus unreachable: {e}")
                    };
                    self.send(BrokerEvent::Lost(why)).await;
                    return "lost";
                }
                Err(e) => {
                    tracing::debug!(
                        session = self.session,
                        "janus poll failed, retrying once: {e}"
                    );
                    failed = true;
                    tokio::select! {
                        () = self.stop.cancelled() => return "stopped",
                        () = self.closed.cancelled() => return "connection closed",
                        () = tokio::time::sleep(RETRY_DELAY) => {}
                    }
                }
            }
        }
    }

    /// Forwards one event; `Some(reason)` when the task must end.
    async fn forward(&self, ev: &Value) -> Option<&'static str> {
        let msg = classify(ev)?;
        if let Some(conn) = self.conn.upgrade() {
            match &msg {
                BrokerEvent::Up => conn.event(format!("janus session {}: webrtcup", self.session)),
                BrokerEvent::Lost(why) => {
                    conn.event(format!("janus session {}: {why}", self.session))
                }
                BrokerEvent::Candidate(_) => {}
            }
        }
        let lost = matches!(msg, BrokerEvent::Lost(_));
        if !self.send(msg).await {
            return Some("viewer gone");
        }
        lost.then_some("lost")
    }

    /// Sends to the viewer, waiting for room; false when the viewer is gone or the task must stop.
    async fn send(&self, msg: BrokerEvent) -> bool {
        tokio::select! {
            r = self.tx.send(msg) => r.is_ok(),
            () = self.stop.cancelled() => false,
            () = self.closed.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn the_offer_is_found_and_errors_before_it_end_the_wait() {
        let preparing = j(
            r#"{"janus":"event","session_id":1,"sender":2,"transaction":"t","plugindata":{"plugin":"janus.plugin.streaming","data":{"streaming":"event","result":{"status":"preparing"}}},"jsep":{"type":"offer","sdp":"v=0\r\n"}}"#,
        );
        assert_eq!(offer_of(&preparing).unwrap().as_deref(), Some("v=0\r\n"));
        let ack_like = j(
            r#"{"janus":"event","plugindata":{"data":{"streaming":"event","result":{"status":"starting"}}}}"#,
        );
        assert_eq!(offer_of(&ack_like).unwrap(), None);
        let missing = j(
            r#"{"janus":"event","plugindata":{"plugin":"janus.plugin.streaming","data":{"streaming":"event","error_code":455,"error":"No such mountpoint/stream 9"}}}"#,
        );
        assert!(offer_of(&missing).unwrap_err().is_no_such_mountpoint());
        let hangup = j(r#"{"janus":"hangup","reason":"Close PC"}"#);
        assert!(matches!(offer_of(&hangup), Err(JanusError::Protocol(_))));
    }

    #[test]
    fn events_become_broker_events() {
        let c = classify(&j(
            r#"{"janus":"trickle","session_id":1,"sender":2,"candidate":{"sdpMid":"v","sdpMLineIndex":0,"candidate":"candidate:1 1 udp 2015363327 10.0.0.1 40000 typ host"}}"#,
        ));
        assert_eq!(
            c,
            Some(BrokerEvent::Candidate(Some(CandidateInit {
                candidate: "candidate:1 1 udp 2015363327 10.0.0.1 40000 typ host".into(),
                sdp_mid: Some("v".into()),
                sdp_mline_index: Some(0),
            })))
        );
        assert_eq!(
            classify(&j(r#"{"janus":"trickle","candidate":{"completed":true}}"#)),
            Some(BrokerEvent::Candidate(None))
        );
        assert_eq!(
            classify(&j(r#"{"janus":"webrtcup","sender":2}"#)),
            Some(BrokerEvent::Up)
        );
        assert_eq!(
            classify(&j(r#"{"janus":"hangup","sender":2,"reason":"Close PC"}"#)),
            Some(BrokerEvent::Lost("Janus hung up (Close PC)".into()))
        );
        assert_eq!(
            classify(&j(
                r#"{"janus":"event","plugindata":{"data":{"streaming":"event","result":{"status":"stopped"}}}}"#
            )),
            Some(BrokerEvent::Lost("the mountpoint stopped".into()))
        );
        for quiet in [
            r#"{"janus":"event","plugindata":{"data":{"streaming":"event","result":{"status":"started"}}}}"#,
            r#"{"janus":"media","type":"video","receiving":true}"#,
            r#"{"janus":"slowlink","uplink":false,"lost":10}"#,
            r#"{"janus":"trickle"}"#,
            r#"{"no":"janus"}"#,
        ] {
            assert_eq!(classify(&j(quiet)), None, "{quiet}");
        }
        assert!(matches!(
            classify(&j(r#"{"janus":"timeout","session_id":1}"#)),
            Some(BrokerEvent::Lost(_))
        ));
    }
}
