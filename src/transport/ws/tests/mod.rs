//! The `/ws` socket task driven through channels: a `Stream` of [`WsIn`] the test feeds and a `Sink` of [`WsOut`]
//! the test reads (or stalls), over a session manager on the synthetic screen. Timing tests run on paused tokio
//! time; the busy test runs on real time because the engine's input thread is a real thread. The test client
//! answers the heartbeat's pings like a browser does, unless a test turns that off.
//!
//! `limits.rs` holds the tests of the socket's limits: heartbeat and idle timeout, the authentication deadline,
//! rate limits, strikes and bans, protocol violations.

mod limits;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::{FutureExt, Sink};
use serde_json::{Value, json};
use sightline_media::engine::{Engine, INPUT_QUEUE};
use sightline_media::synthetic::SyntheticDesktop;
use sightline_media::{Desktop, FrameSource, InputEvent, MediaError, ScreenInfo, SourceKind};
use sightline_monitor::Monitor;
use sightline_signaling::Role;
use sightline_signaling::state::AUTH_TIMEOUT;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

use super::{CLOSE_TIMEOUT, Handshake, WRITE_TIMEOUT, WsIn, WsOut, run};
use crate::auth::Tokens;
use crate::config::{AuthConfig, Config};
use crate::control::{Error, ErrorKind, Intent};
use crate::mcp::error::ToolError;
use crate::mcp::tools::{TypeTextArgs, type_text};
use crate::session::{Actor, SessionManager};

const VIEW: &str = "view-token-1";
const CONTROL: &str = "control-token-1";

fn manager_over(desktop: Arc<dyn Desktop>) -> SessionManager {
    manager_with(desktop, Config::default())
}

/// A manager over `desktop` with `config` and the test tokens.
fn manager_with(desktop: Arc<dyn Desktop>, config: Config) -> SessionManager {
    let config = Config {
        auth: AuthConfig {
            viewers: vec![VIEW.into()],
            controllers: vec![CONTROL.into()],
            admins: Vec::new(),
            devices: Vec::new(),
        },
        ..config
    };
    config.validate().expect("test config is valid");
    let monitor = Monitor::new(config.monitor_settings());
    let engine = Engine::new(desktop, config.engine_settings(), monitor.clone());
    let tokens = Tokens::from_config(&config.auth);
    SessionManager::new(config, tokens, engine, monitor, CancellationToken::new())
}

fn manager() -> SessionManager {
    manager_over(Arc::new(SyntheticDesktop::new(320, 240)))
}

/// The client's side of the socket: writes go to `out`; while `stuck` is set the sink never becomes ready (a
/// client that stopped reading) until [`Client::unstick`] wakes it. While `auto_pong` is set, a ping is answered
/// with a pong on `input` (as a browser does) instead of reaching `out`; a close frame is always answered with a
/// close.
struct TestSink {
    out: mpsc::UnboundedSender<WsOut>,
    /// Weak, so dropping the test's sender still ends the socket's input.
    input: mpsc::WeakUnboundedSender<WsIn>,
    auto_pong: Arc<AtomicBool>,
    stuck: Arc<AtomicBool>,
    /// The waiting writer, woken only by [`Client::unstick`]: otherwise only the socket's own timers end the wait.
    waiting: Arc<Mutex<Option<Waker>>>,
}

impl TestSink {
    fn ready(&self, cx: &Context<'_>) -> Poll<Result<(), ()>> {
        if self.stuck.load(Ordering::SeqCst) {
            *self.waiting.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

impl Sink<WsOut> for TestSink {
    type Error = ();

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        self.ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: WsOut) -> Result<(), ()> {
        // The client may have closed its input already; then there is nobody to answer.
        let answer = |m: WsIn| {
            if let Some(input) = self.input.upgrade() {
                let _ = input.send(m);
            }
        };
        if item == WsOut::Ping && self.auto_pong.load(Ordering::SeqCst) {
            answer(WsIn::Pong);
            return Ok(());
        }
        if matches!(item, WsOut::Close(..)) {
            // A client answers a close frame with its own (the closing handshake).
            answer(WsIn::Close);
        }
        self.out.send(item).map_err(drop)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        self.ready(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        self.ready(cx)
    }
}

/// A socket task and the test's ends of it.
struct Client {
    tx: mpsc::UnboundedSender<WsIn>,
    rx: mpsc::UnboundedReceiver<WsOut>,
    stuck: Arc<AtomicBool>,
    waiting: Arc<Mutex<Option<Waker>>>,
    auto_pong: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// The address the test clients come from.
const REMOTE: &str = "127.0.0.1:9";

/// A socket from [`REMOTE`], authenticated on the upgrade as `pre_auth` (with that role's test token).
fn connect(manager: &SessionManager, pre_auth: Option<Role>) -> Client {
    let bearer = pre_auth.map(|role| {
        let token = if role == Role::View { VIEW } else { CONTROL };
        (role, token.to_owned())
    });
    connect_with(
        manager,
        Handshake {
            bearer,
            remote: Some(REMOTE.parse().expect("an address")),
            permit: None,
        },
    )
}

fn connect_with(manager: &SessionManager, handshake: Handshake) -> Client {
    let (tx, mut in_rx) = mpsc::unbounded_channel();
    let (out_tx, rx) = mpsc::unbounded_channel();
    let stuck = Arc::new(AtomicBool::new(false));
    let waiting = Arc::new(Mutex::new(None));
    let auto_pong = Arc::new(AtomicBool::new(true));
    let stream = futures_util::stream::poll_fn(move |cx| in_rx.poll_recv(cx));
    let sink = TestSink {
        out: out_tx,
        input: tx.downgrade(),
        auto_pong: Arc::clone(&auto_pong),
        stuck: Arc::clone(&stuck),
        waiting: Arc::clone(&waiting),
    };
    let task = tokio::spawn(run(manager.clone(), stream, sink, handshake));
    Client {
        tx,
        rx,
        stuck,
        waiting,
        auto_pong,
        task,
    }
}

impl Client {
    /// The client reads again: the sink is ready and the waiting writer is woken.
    fn unstick(&self) {
        self.stuck.store(false, Ordering::SeqCst);
        if let Some(waker) = self.waiting.lock().unwrap().take() {
            waker.wake();
        }
    }

    fn send(&self, text: &str) {
        self.tx
            .send(WsIn::Text(text.into()))
            .expect("socket task alive");
    }

    /// The next thing the socket wrote (30 s of virtual or real time at most).
    async fn next(&mut self) -> Option<WsOut> {
        timeout(Duration::from_secs(30), self.rx.recv())
            .await
            .expect("the socket wrote nothing in time")
    }

    /// The next message, which must be JSON text.
    async fn next_json(&mut self) -> Value {
        match self.next().await {
            Some(WsOut::Text(t)) => serde_json::from_str(&t).expect("JSON text"),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// Waits for the socket task to end (it must, within `within`).
    async fn ended(self, within: Duration) {
        timeout(within, self.task)
            .await
            .expect("the socket task did not end")
            .expect("the socket task panicked");
    }
}

#[tokio::test(start_paused = true)]
async fn no_auth_closes_with_1008_after_the_deadline_and_not_before() {
    let m = manager();
    let mut c = connect(&m, None);
    tokio::time::sleep(AUTH_TIMEOUT - Duration::from_millis(100)).await;
    assert_eq!(
        c.rx.try_recv(),
        Err(mpsc::error::TryRecvError::Empty),
        "nothing is sent before the deadline"
    );
    assert!(!c.task.is_finished());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.next().await,
        Some(WsOut::Close(1008, "no valid token within 5 s".into()))
    );
    assert_eq!(c.next().await, None, "nothing after the close frame");
    c.ended(CLOSE_TIMEOUT).await;
    assert!(m.sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_wrong_token_closes_with_4401_at_once() {
    let m = manager();
    let mut c = connect(&m, None);
    c.send(r#"{"type":"auth","token":"not-a-token"}"#);
    let start = Instant::now();
    assert_eq!(
        c.next().await,
        Some(WsOut::Close(4401, "invalid token".into()))
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    c.ended(CLOSE_TIMEOUT).await;
    assert!(m.sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let m = manager();
    let mut c = connect(&m, Some(Role::View));
    assert_eq!(c.next_json().await["type"], "welcome");
    assert_eq!(m.sessions().len(), 1);

    c.stuck.store(true, Ordering::SeqCst);
    let start = Instant::now();
    c.send(r#"{"type":"ping","id":1}"#);
    tokio::time::sleep(WRITE_TIMEOUT - Duration::from_millis(100)).await;
    assert!(!c.task.is_finished(), "the pong write is still waiting");
    assert_eq!(m.sessions().len(), 1, "the session lives until the timeout");

    let Client { task, mut rx, .. } = c;
    timeout(CLOSE_TIMEOUT * 3, task)
        .await
        .expect("the stalled socket ended")
        .expect("no panic");
    assert!(start.elapsed() >= WRITE_TIMEOUT);
    assert!(m.sessions().is_empty(), "the stalled session was removed");
    assert_eq!(
        rx.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected),
        "nothing was written to a client that does not read"
    );
}

#[tokio::test(start_paused = true)]
async fn ping_after_auth_gets_its_pong() {
    let m = manager();
    let mut c = connect(&m, None);
    c.send(&json!({"type": "auth", "token": VIEW}).to_string());
    let welcome = c.next_json().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["role"], "view");
    assert_eq!(welcome["screens"].as_array().map(Vec::len), Some(1));
    let sessions = m.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(welcome["session"], sessions[0].id.as_str());
    assert_eq!(sessions[0].remote.as_deref(), Some("127.0.0.1:9"));

    c.send(r#"{"type":"ping","id":7}"#);
    assert_eq!(c.next_json().await, json!({"type": "pong", "id": 7}));

    // The auth deadline no longer applies once authenticated.
    tokio::time::sleep(AUTH_TIMEOUT * 2).await;
    assert!(!c.task.is_finished());
    drop(c.tx);
    timeout(CLOSE_TIMEOUT * 2, c.task).await.unwrap().unwrap();
    assert!(m.sessions().is_empty(), "a closed socket ends its session");
}

#[tokio::test(start_paused = true)]
async fn a_kick_closes_the_socket_with_4403() {
    let m = manager();
    let mut c = connect(&m, Some(Role::Control));
    let welcome = c.next_json().await;
    let id = welcome["session"].as_str().expect("session id").to_owned();

    assert!(m.kick(&id).await);
    assert_eq!(
        c.next().await,
        Some(WsOut::Close(4403, "ended by an administrator".into()))
    );
    assert_eq!(c.next().await, None);
    c.ended(CLOSE_TIMEOUT).await;
    assert!(m.sessions().is_empty());
    assert!(!m.kick(&id).await, "a kicked session is gone");
}

#[tokio::test(start_paused = true)]
async fn a_kick_ends_a_stalled_write_at_once() {
    let m = manager();
    let mut c = connect(&m, Some(Role::View));
    let id = c.next_json().await["session"]
        .as_str()
        .expect("session id")
        .to_owned();
    c.stuck.store(true, Ordering::SeqCst);
    c.send(r#"{"type":"ping","id":1}"#);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    assert!(m.kick(&id).await);
    // The pending write is abandoned at once; only the bounded closing handshake remains.
    c.ended(CLOSE_TIMEOUT * 3).await;
    assert!(start.elapsed() < WRITE_TIMEOUT / 2);
    assert!(m.sessions().is_empty());
}

// ---- the input queue ----

/// A synthetic desktop whose `inject` blocks (on the engine's input thread) until the test opens the gate.
struct GatedDesktop {
    inner: SyntheticDesktop,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Gate {
    entered: AtomicUsize,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when dropped, so a failing test never leaves the input thread blocked (the engine joins it).
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl Desktop for GatedDesktop {
    fn kind(&self) -> SourceKind {
        SourceKind::Synthetic
    }

    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        self.inner.screens()
    }

    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError> {
        self.inner.open(screen)
    }

    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError> {
        self.gate.entered.fetch_add(1, Ordering::SeqCst);
        let open = self.gate.open.lock().unwrap();
        let (open, _) = self
            .gate
            .opened
            .wait_timeout_while(open, Duration::from_secs(20), |open| !*open)
            .unwrap();
        if !*open {
            return Err(MediaError::Input("the test never opened the gate".into()));
        }
        drop(open);
        self.inner.inject(screen, event)
    }
}

type Act = Pin<Box<dyn Future<Output = Result<ScreenInfo, Error>> + Send>>;

/// Starts one text input and polls it once: by then its event is queued (or refused), since `act` only awaits
/// after handing the event to the engine. Returns the finished result, or the still-waiting act.
fn start_act(m: &SessionManager, actor: &Actor) -> Result<Act, Result<ScreenInfo, Error>> {
    let (m, actor) = (m.clone(), actor.clone());
    let mut act: Act = Box::pin(async move {
        m.act(&actor, None, &[Intent::Text { text: "a".into() }], None)
            .await
    });
    match (&mut act).now_or_never() {
        Some(done) => Err(done),
        None => Ok(act),
    }
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_full_input_queue_answers_busy_on_ws_and_mcp() {
    let gate = Arc::new(Gate::default());
    let m = manager_over(Arc::new(GatedDesktop {
        inner: SyntheticDesktop::new(320, 240),
        gate: Arc::clone(&gate),
    }));
    // Declared after the manager so it is dropped first: the engine's input thread is never left blocked.
    let _open_on_drop = OpenOnDrop(Arc::clone(&gate));
    let actor = Actor {
        session: "busy-test".into(),
        connection: None,
        role: Role::Control,
        agent: false,
    };

    // One event is taken by the input thread and blocks in `inject`...
    let first = start_act(&m, &actor).expect("the first event is queued");
    let mut acts = vec![tokio::spawn(first)];
    until("the input thread is injecting", || {
        gate.entered.load(Ordering::SeqCst) == 1
    })
    .await;
    // ...then exactly INPUT_QUEUE more wait in the queue...
    for i in 0..INPUT_QUEUE {
        let act = start_act(&m, &actor)
            .unwrap_or_else(|r| panic!("event {i} of {INPUT_QUEUE} was not queued: {r:?}"));
        acts.push(tokio::spawn(act));
    }
    // ...and the next one is refused at once.
    match start_act(&m, &actor) {
        Err(Err(e)) => assert_eq!(e.kind, ErrorKind::Busy, "{e}"),
        Err(Ok(_)) => panic!("an event was injected while the input thread was blocked"),
        Ok(_) => panic!("the queue took more than {INPUT_QUEUE} waiting events"),
    }

    // (i) A /ws client with a control token gets `busy` for its command.
    let mut ws = connect(&m, None);
    ws.send(&json!({"type": "auth", "token": CONTROL}).to_string());
    let welcome = ws.next_json().await;
    assert_eq!(welcome["role"], "control");
    ws.send(r#"{"type":"text","text":"x","id":1}"#);
    let reply = ws.next_json().await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "busy", "{reply}");
    assert_eq!(reply["id"], 1, "{reply}");
    assert!(
        reply["message"].as_str().is_some_and(|s| !s.is_empty()),
        "{reply}"
    );

    // A click (move, press, release) is one queue entry: refused whole, so no button is left pressed.
    ws.send(r#"{"type":"pointer","action":"click","x":0.5,"y":0.5,"screen":"0","id":3}"#);
    let reply = ws.next_json().await;
    assert_eq!(reply["code"], "busy", "{reply}");
    assert_eq!(reply["id"], 3, "{reply}");

    // (ii) An MCP agent's `type_text` gets the Busy tool error.
    let agent = Actor {
        session: "busy-test-agent".into(),
        connection: None,
        role: Role::Control,
        agent: true,
    };
    let args = TypeTextArgs {
        text: "x".into(),
        screen: None,
    };
    let e = type_text(&m, &agent, args)
        .await
        .expect_err("type_text on a full queue fails");
    assert_eq!(e, ToolError::Busy);
    assert_eq!(e.to_string(), "the input queue is full; retry shortly");

    // Released, every queued event is injected and every act completes; the refused ones never reached the
    // desktop.
    gate.open();
    for (i, act) in acts.into_iter().enumerate() {
        let screen = timeout(Duration::from_secs(5), act)
            .await
            .unwrap_or_else(|_| panic!("act {i} did not complete"))
            .expect("act task panicked")
            .unwrap_or_else(|e| panic!("act {i} failed: {e}"));
        assert_eq!(screen.id, "0");
    }
    assert_eq!(gate.entered.load(Ordering::SeqCst), INPUT_QUEUE + 1);

    // The socket's next command goes through.
    ws.send(r#"{"type":"text","text":"y","id":2}"#);
    assert_eq!(ws.next_json().await, json!({"type": "ack", "id": 2}));
    assert_eq!(gate.entered.load(Ordering::SeqCst), INPUT_QUEUE + 2);
    drop(ws.tx);
    timeout(Duration::from_secs(5), ws.task)
        .await
        .unwrap()
        .unwrap();
}

// ---- the JPEG stream follows its socket ----

/// Virtual time the test moves on per round while it drives the clock, and the real time it then gives the
/// engine's threads (they encode in real time, at the stream's fps): time runs ten times faster than real.
const ROUND: Duration = Duration::from_millis(20);
const ROUND_REAL: Duration = Duration::from_millis(2);

impl Client {
    /// Drives the clock by [`ROUND`]s for at most `within` (virtual) until `done` holds, collecting the frame
    /// headers the socket writes. Never lets the runtime idle, so paused time moves only here: the stream's
    /// timers fire on the test's schedule while the engine's real threads get real time between rounds.
    async fn drive(
        &mut self,
        within: Duration,
        frames: &mut Vec<Value>,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            tokio::time::advance(ROUND).await;
            for _ in 0..16 {
                tokio::task::yield_now().await;
            }
            std::thread::sleep(ROUND_REAL);
            while let Ok(out) = self.rx.try_recv() {
                if let WsOut::Text(t) = out {
                    let v: Value = serde_json::from_str(&t).expect("JSON text");
                    if v["type"] == "frame" {
                        frames.push(v);
                    }
                }
            }
            if done(frames) {
                return true;
            }
        }
        false
    }
}

/// The open JPEG watch's monitor connection.
fn jpeg_connection(m: &SessionManager) -> sightline_monitor::ConnectionSummary {
    let mut jpeg: Vec<_> = m
        .monitor_view()
        .connections()
        .into_iter()
        .filter(|c| c.kind == sightline_monitor::ConnectionKind::Jpeg && c.closed_ms.is_none())
        .collect();
    assert_eq!(jpeg.len(), 1, "one open JPEG watch");
    jpeg.remove(0)
}

fn jpeg_tier(m: &SessionManager) -> Option<u32> {
    jpeg_connection(m).counters.tier
}

/// The watch's `jpeg up`/`jpeg down` timeline lines, oldest first.
fn jpeg_steps(m: &SessionManager) -> Vec<String> {
    let id = jpeg_connection(m).id;
    m.monitor_view()
        .connection(id)
        .expect("the connection's detail")
        .timeline
        .into_iter()
        .map(|e| e.text)
        .filter(|t| t.starts_with("jpeg "))
        .collect()
}

fn widths(frames: &[Value]) -> Vec<u64> {
    frames.iter().filter_map(|f| f["width"].as_u64()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_jpeg_watch_steps_down_while_the_client_does_not_read_and_back_up_once_it_does() {
    use super::adapt::{DOWN_AFTER, DOWN_SETTLE, UP_HOLD};

    let m = manager_over(Arc::new(SyntheticDesktop::new(640, 480)));
    let mut c = connect(&m, Some(Role::View));
    assert_eq!(c.next_json().await["type"], "welcome");
    c.send(
        r#"{"type":"watch","screen":"0","transport":"jpeg","fps":10,"quality":70,"max_width":640}"#,
    );
    let mut frames = Vec::new();
    assert!(
        c.drive(Duration::from_secs(10), &mut frames, |f| f.len() >= 3)
            .await,
        "frames flow"
    );
    // A client that reads keeps what it asked for.
    let reading = Duration::from_secs(8);
    assert!(!c.drive(reading, &mut frames, |_| false).await);
    assert!(frames.len() >= 5, "{} frames in {reading:?}", frames.len());
    assert!(widths(&frames).iter().all(|w| *w == 640), "{frames:?}");
    assert!(jpeg_steps(&m).is_empty(), "{:?}", jpeg_steps(&m));
    let conn = jpeg_connection(&m);
    assert_eq!(conn.counters.tier, Some(0));
    assert_eq!(conn.counters.tier_name.as_deref(), Some("q70-w640"));

    // The client stops reading: the stream walks down to the floor although no write ends.
    c.stuck.store(true, Ordering::SeqCst);
    let stalled = Instant::now();
    assert!(
        c.drive(WRITE_TIMEOUT / 2, &mut frames, |_| jpeg_tier(&m) == Some(2))
            .await,
        "stepped down to the floor while stalled: {:?}",
        jpeg_steps(&m)
    );
    let walked = stalled.elapsed();
    assert!(
        walked >= DOWN_AFTER + DOWN_SETTLE,
        "one step per settle: {walked:?}"
    );
    assert_eq!(
        jpeg_steps(&m)
            .iter()
            .map(|t| t.split(':').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        [
            // The ladder's rungs snapped to the shared profiles (qualities 30/50/70/85, the tiers' widths).
            "jpeg down to q50-w640 (step 1 of 2)",
            "jpeg down to q30-w320 (step 2 of 2)",
        ]
    );
    let pipes: Vec<_> = m
        .monitor_view()
        .pipelines()
        .into_iter()
        .filter(|p| p.kind == "jpeg" && p.subscribers > 0)
        .map(|p| p.profile)
        .collect();
    assert_eq!(
        pipes,
        ["q30-w320"],
        "only the floor's encoder is subscribed"
    );
    assert_eq!(m.sessions().len(), 1, "still within the write timeout");

    // It reads again: the floor's smaller frames arrive, then it climbs back one rung per drained hold.
    let before = frames.len();
    c.unstick();
    let drained = Instant::now();
    assert!(
        c.drive(Duration::from_secs(60), &mut frames, |_| jpeg_tier(&m)
            == Some(0))
            .await,
        "back at the top: {:?}",
        jpeg_steps(&m)
    );
    assert!(
        drained.elapsed() >= UP_HOLD * 2,
        "one step per hold: {:?}",
        drained.elapsed()
    );
    let steps = jpeg_steps(&m);
    assert_eq!(
        steps[2..]
            .iter()
            .map(|t| t.split(':').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        [
            "jpeg up to q50-w640 (step 1 of 2)",
            "jpeg up to q70-w640 (step 0 of 2)",
        ]
    );
    let conn = jpeg_connection(&m);
    assert_eq!(conn.counters.tier_switches, 4);
    assert_eq!(conn.counters.tier_name.as_deref(), Some("q70-w640"));
    // The frame headers follow the rungs: the one frame stuck in the socket at the old size, then the floor's
    // width, growing back to the request's.
    assert!(
        c.drive(Duration::from_secs(10), &mut frames, |f| {
            f.len() > before + 1 && f.last().is_some_and(|f| f["width"] == 640)
        })
        .await
    );
    let after = widths(&frames[before..]);
    assert_eq!(
        after[0], 640,
        "the frame the client had not read: {after:?}"
    );
    assert!(after[1..].contains(&320), "{after:?}");
    assert!(after[1..].is_sorted(), "{after:?}");

    drop(c.tx);
    timeout(CLOSE_TIMEOUT * 2, c.task).await.unwrap().unwrap();
    assert!(m.sessions().is_empty());
}
