//! The hub against fake devices over in-memory channels (no sockets), with a fake engine that records the remote
//! screens registered: hello and welcome, refusals, pending and approval persisted to a real TOML file, removal,
//! media into a stream's sink, calls (timeout, link drop), replacement (4409) and the heartbeat (4408).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, Stream};
use parking_lot::Mutex;
use serde_json::Value;
use sightline_media::engine::{RelayStreamId, Upstream, VideoProfile};
use sightline_media::h264::AccessUnit;
use sightline_media::{InputEvent, ScreenInfo, SourceKind};
use sightline_monitor::{ConnectionKind, Monitor, MonitorConfig};
use sightline_signaling::fleet::{
    CLOSE_PROTOCOL, CLOSE_REFUSED, CLOSE_REPLACED, CLOSE_TIMEOUT, CallResult, DeviceMsg, Hello,
    HubMsg, MediaHeader, MediaKind, PROTOCOL_VERSION, RemoteScreen, parse_hub,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::upstream::{OpenSpec, StreamTarget, access_unit};
use super::*;
use crate::config::Config;

const ID: &str = "0123456789abcdef";
const OTHER: &str = "fedcba9876543210";
/// Longest a test waits for the hub (longer than the hello timeout, which paused-time tests reach).
const WAIT: Duration = Duration::from_secs(10);

/// The engine's side, recorded.
#[derive(Default)]
struct FakeScreens {
    added: Mutex<Vec<ScreenInfo>>,
    removed: Mutex<Vec<String>>,
}

impl RemoteScreens for FakeScreens {
    fn add(&self, info: ScreenInfo, _upstream: Arc<dyn Upstream>) {
        self.added.lock().push(info);
    }
    fn remove(&self, id: &str) {
        self.removed.lock().push(id.to_owned());
    }
}

/// A stream's sink, recorded.
#[derive(Default)]
struct FakeTarget {
    units: Mutex<Vec<AccessUnit>>,
    ended: Mutex<Option<String>>,
}

impl StreamTarget for FakeTarget {
    fn push(&self, h: &MediaHeader, payload: Bytes) {
        self.units.lock().push(access_unit(h, payload));
    }
    fn end(&self, reason: &str) {
        *self.ended.lock() = Some(reason.to_owned());
    }
    fn relay_id(&self) -> RelayStreamId {
        77
    }
}

struct Fixture {
    hub: Hub,
    screens: Arc<FakeScreens>,
    monitor: Monitor,
}

fn fixture(tune: impl FnOnce(&mut Config)) -> Fixture {
    let mut config = Config::default();
    tune(&mut config);
    let screens = Arc::new(FakeScreens::default());
    let monitor = Monitor::new(MonitorConfig::default());
    let hub = Hub::with_screens(
        &config,
        screens.clone(),
        monitor.clone(),
        CancellationToken::new(),
    );
    Fixture {
        hub,
        screens,
        monitor,
    }
}

/// One fake device's end of the link.
struct Device {
    tx: mpsc::Sender<LinkIn>,
    rx: mpsc::Receiver<LinkOut>,
    task: tokio::task::JoinHandle<()>,
}

/// What the hub sent, pings skipped.
#[derive(Debug, PartialEq)]
enum Got {
    Msg(HubMsg),
    Close(u16, String),
}

fn channels() -> (
    mpsc::Sender<LinkIn>,
    impl Stream<Item = LinkIn> + Unpin + Send,
    mpsc::Receiver<LinkOut>,
    impl Sink<LinkOut, Error = &'static str> + Unpin + Send,
) {
    let (in_tx, in_rx) = mpsc::channel::<LinkIn>(64);
    let (out_tx, out_rx) = mpsc::channel::<LinkOut>(64);
    let stream = Box::pin(futures_util::stream::unfold(in_rx, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    }));
    let sink = Box::pin(futures_util::sink::unfold(
        out_tx,
        |tx, item: LinkOut| async move {
            tx.send(item).await.map_err(|_| "closed")?;
            Ok(tx)
        },
    ));
    (in_tx, stream, out_rx, sink)
}

fn connect(hub: &Hub) -> Device {
    let (tx, stream, rx, sink) = channels();
    let hub = hub.clone();
    let task = tokio::spawn(async move { hub.serve_link(stream, sink, None).await });
    Device { tx, rx, task }
}

fn hello(id: &str, name: &str) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        id: id.into(),
        name: name.into(),
        version: "0.1.0".into(),
        screens: vec![RemoteScreen {
            id: "0".into(),
            name: "Main".into(),
            width: 1280,
            height: 720,
            primary: true,
        }],
    }
}

impl Device {
    async fn send(&self, msg: &DeviceMsg) {
        let text = serde_json::to_string(msg).unwrap();
        self.tx.send(LinkIn::Text(text)).await.unwrap();
    }

    async fn next(&mut self) -> Got {
        loop {
            let out = tokio::time::timeout(WAIT, self.rx.recv())
                .await
                .expect("the hub answers")
                .expect("the link is open");
            match out {
                LinkOut::Close(code, reason) => return Got::Close(code, reason),
                LinkOut::Text(t) => match parse_hub(&t).unwrap() {
                    HubMsg::Ping { .. } => continue,
                    m => return Got::Msg(m),
                },
            }
        }
    }

    /// Says hello and expects the welcome.
    async fn join(hub: &Hub, id: &str, name: &str) -> Self {
        let mut d = connect(hub);
        d.send(&DeviceMsg::Hello(hello(id, name))).await;
        match d.next().await {
            Got::Msg(HubMsg::Welcome { protocol, .. }) => assert_eq!(protocol, PROTOCOL_VERSION),
            other => panic!("expected a welcome, got {other:?}"),
        }
        d
    }

    /// Expects `refused` with a reason containing `mentions`, then a close with `code`.
    async fn refused(&mut self, mentions: &str) {
        match self.next().await {
            Got::Msg(HubMsg::Refused { reason }) => {
                assert!(
                    reason.contains(mentions),
                    "{reason:?} should mention {mentions:?}"
                );
            }
            other => panic!("expected refused, got {other:?}"),
        }
        match self.next().await {
            Got::Close(code, _) => assert_eq!(code, CLOSE_REFUSED),
            other => panic!("expected a close, got {other:?}"),
        }
    }

    async fn closed_with(&mut self, code: u16) -> String {
        match self.next().await {
            Got::Close(c, reason) => {
                assert_eq!(c, code, "{reason}");
                reason
            }
            other => panic!("expected a close {code}, got {other:?}"),
        }
    }
}

fn link_of(hub: &Hub, id: &str) -> Arc<upstream::LinkShared> {
    hub.inner
        .registry
        .lock()
        .get(id)
        .and_then(|d| d.link.clone())
        .expect("the device is online")
}

/// Waits until `f` holds (the link task runs concurrently).
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn hello_gets_welcome_and_screens_reach_the_engine() {
    let f = fixture(|_| {});
    let mut events = f.hub.subscribe_events();
    let _d = Device::join(&f.hub, ID, "kiosk").await;
    let added = f.screens.added.lock().clone();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].id, format!("{ID}/0"));
    assert_eq!(added[0].name, "kiosk: Main");
    assert_eq!(added[0].source, SourceKind::Remote);
    let info = f.hub.device(ID).unwrap();
    assert!(info.online);
    assert_eq!(info.state, "allowed");
    assert_eq!(info.version, "0.1.0");
    assert!(info.last_seen.is_some());
    let screens = f.hub.screens();
    assert_eq!(screens.len(), 1);
    assert!(screens[0].online);
    assert_eq!(f.hub.screen(&format!("{ID}/0")).unwrap().width, 1280);
    assert!(f.hub.screen(&format!("{ID}/9")).is_err());
    // Open enrollment (the allowed list was empty): registered, then online.
    let e = events.recv().await.unwrap();
    assert_eq!(
        (e.kind, e.detail["how"].as_str()),
        (events::REGISTERED, Some("open"))
    );
    assert_eq!(events.recv().await.unwrap().kind, events::ONLINE);
    // The link is a device connection in the monitor.
    let conns = f.monitor.connections();
    assert!(conns.iter().any(|c| c.kind == ConnectionKind::Device));
}

#[tokio::test]
async fn a_bad_hello_is_refused_with_its_reason() {
    let f = fixture(|_| {});
    let mut d = connect(&f.hub);
    let mut h = hello(ID, "kiosk");
    h.protocol = 99;
    d.send(&DeviceMsg::Hello(h)).await;
    d.refused("protocol 99").await;
    let mut d = connect(&f.hub);
    d.send(&DeviceMsg::Ping { t: 1 }).await;
    d.refused("hello").await;
    let mut d = connect(&f.hub);
    d.tx.send(LinkIn::Text("{nope".into())).await.unwrap();
    d.refused("bad message").await;
    assert!(f.hub.devices().is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_hello_in_time_closes_4408() {
    let f = fixture(|_| {});
    let mut d = connect(&f.hub);
    let reason = d.closed_with(CLOSE_TIMEOUT).await;
    assert!(reason.contains("hello"), "{reason}");
}

/// A configuration file with comments and other keys, and an allowed list naming `OTHER` only.
fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("sightline.toml");
    std::fs::write(
        &path,
        format!(
            "# my hub\n[server]\nlisten = \"127.0.0.1:9\" # keep\n\n[devices]\n# approved by hand\nallowed = [\"{OTHER} lab\"]\nmax_pending = 8\n"
        ),
    )
    .unwrap();
    path
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sightline-hub-{name}-{}", std::process::id()))
}

#[tokio::test]
async fn unknown_devices_wait_for_approval_which_is_persisted() {
    let dir = temp_dir("approve");
    let path = config_file(&dir);
    let f = fixture(|c| {
        c.devices.allowed = vec![format!("{OTHER} lab")];
        c.path = Some(path.clone());
    });
    let mut events = f.hub.subscribe_events();
    let mut d = connect(&f.hub);
    d.send(&DeviceMsg::Hello(hello(ID, "kiosk"))).await;
    d.refused(&format!("POST /api/v1/devices/{ID}/approve"))
        .await;
    let e = events.recv().await.unwrap();
    assert_eq!(e.kind, events::PENDING);
    let info = f.hub.device(ID).unwrap();
    assert_eq!((info.state, info.online), ("pending", false));
    assert!(f.screens.added.lock().is_empty());
    // Pending devices have no screens on the hub.
    assert!(f.hub.screens().is_empty());

    let info = f.hub.approve(ID).unwrap();
    assert_eq!(info.state, "allowed");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(&format!("\"{OTHER} lab\", \"{ID} kiosk\"")),
        "{text}"
    );
    assert!(
        text.starts_with("# my hub\n[server]\nlisten = \"127.0.0.1:9\" # keep\n"),
        "{text}"
    );
    assert!(
        text.contains("# approved by hand\n") && text.contains("max_pending = 8"),
        "{text}"
    );
    let e = events.recv().await.unwrap();
    assert_eq!(
        (e.kind, e.detail["how"].as_str()),
        (events::REGISTERED, Some("approved"))
    );

    // The next connection is welcome.
    let _d = Device::join(&f.hub, ID, "kiosk").await;
    assert!(f.hub.device(ID).unwrap().online);
    // An approval of a device never seen, named by the admin.
    let info = f
        .hub
        .approve_named("00000000aaaaaaaa", Some("spare"))
        .unwrap();
    assert_eq!(info.name, "spare");
    assert!(f.hub.approve("NOT-HEX").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn removal_is_persisted_and_closes_the_link() {
    let dir = temp_dir("remove");
    let path = config_file(&dir);
    let f = fixture(|c| {
        c.devices.allowed = vec![format!("{OTHER} lab")];
        c.path = Some(path.clone());
    });
    let mut d = Device::join(&f.hub, OTHER, "somename").await;
    // The allowed list's name wins.
    assert_eq!(f.hub.device(OTHER).unwrap().name, "lab");
    assert_eq!(f.screens.added.lock()[0].name, "lab: Main");
    let mut events = f.hub.subscribe_events();
    f.hub.remove(OTHER).unwrap();
    d.refused("removed by an administrator").await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(OTHER), "{text}");
    assert!(text.contains("# approved by hand"), "{text}");
    assert_eq!(events.recv().await.unwrap().kind, events::REMOVED);
    until("the screens leave the engine", || {
        f.screens.removed.lock().contains(&format!("{OTHER}/0"))
    })
    .await;
    assert!(f.hub.device(OTHER).is_none());
    assert!(f.hub.remove(OTHER).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn media_reaches_the_stream_sink() {
    let f = fixture(|_| {});
    let mut d = Device::join(&f.hub, ID, "kiosk").await;
    let link = link_of(&f.hub, ID);
    let target = Arc::new(FakeTarget::default());
    link.open(
        "0",
        OpenSpec::Video(VideoProfile::default()),
        target.clone(),
    );
    let stream = match d.next().await {
        Got::Msg(HubMsg::OpenVideo {
            stream,
            screen,
            bitrate_kbps,
            usage,
            ..
        }) => {
            assert_eq!(
                (screen.as_str(), bitrate_kbps, usage.as_str()),
                ("0", 4000, "camera")
            );
            stream
        }
        other => panic!("expected open_video, got {other:?}"),
    };
    let header = MediaHeader {
        kind: MediaKind::H264,
        keyframe: true,
        quality: 0,
        stream,
        seq: 5,
        captured_us: 1_700_000_000_000_000,
        width: 1280,
        height: 720,
    };
    let payload = b"\0\0\0\x01\x65\x88";
    d.tx.send(LinkIn::Binary(Bytes::from(header.encode(payload))))
        .await
        .unwrap();
    until("the sink gets the unit", || !target.units.lock().is_empty()).await;
    let au = target.units.lock()[0].clone();
    assert_eq!(&au.data[..], payload);
    assert!(au.keyframe);
    assert_eq!(
        (au.seq, au.width, au.height, au.encode_ms),
        (5, 1280, 720, 0.0)
    );
    assert_eq!(
        au.captured_at,
        std::time::UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_000)
    );
    // Keyframe and bitrate requests name the wire stream; close ends it on the device.
    link.request_keyframe(77);
    assert_eq!(d.next().await, Got::Msg(HubMsg::Keyframe { stream }));
    link.set_bitrate(77, Some(900));
    assert_eq!(
        d.next().await,
        Got::Msg(HubMsg::Bitrate {
            stream,
            kbps: Some(900)
        })
    );
    assert!(
        f.monitor
            .connections()
            .iter()
            .any(|c| c.kind == ConnectionKind::Upstream)
    );
    link.close(77);
    assert_eq!(d.next().await, Got::Msg(HubMsg::Close { stream }));
    assert_eq!(link.open_streams(), 0);
    // Late media of the closed stream is dropped quietly; media of a stream never opened breaks the protocol.
    d.tx.send(LinkIn::Binary(Bytes::from(header.encode(payload))))
        .await
        .unwrap();
    let never = MediaHeader {
        stream: 99,
        ..header
    };
    d.tx.send(LinkIn::Binary(Bytes::from(never.encode(payload))))
        .await
        .unwrap();
    let reason = d.closed_with(CLOSE_PROTOCOL).await;
    assert!(reason.contains("never opened"), "{reason}");
    assert_eq!(target.units.lock().len(), 1);
}

#[tokio::test]
async fn stream_end_and_link_drop_end_the_sinks() {
    let f = fixture(|_| {});
    let mut d = Device::join(&f.hub, ID, "kiosk").await;
    let link = link_of(&f.hub, ID);
    let (a, b) = (
        Arc::new(FakeTarget::default()),
        Arc::new(FakeTarget::default()),
    );
    link.open("0", OpenSpec::Video(VideoProfile::default()), a.clone());
    let Got::Msg(HubMsg::OpenVideo { stream, .. }) = d.next().await else {
        panic!("open_video")
    };
    d.send(&DeviceMsg::StreamEnded {
        stream,
        reason: "encoder failed".into(),
    })
    .await;
    until("the first sink ends", || a.ended.lock().is_some()).await;
    assert!(
        a.ended
            .lock()
            .as_deref()
            .unwrap()
            .contains("encoder failed")
    );
    link.open("0", OpenSpec::Video(VideoProfile::default()), b.clone());
    d.tx.send(LinkIn::Closed).await.unwrap();
    until("the second sink ends", || b.ended.lock().is_some()).await;
    assert!(b.ended.lock().as_deref().unwrap().contains("went offline"));
}

#[tokio::test]
async fn a_call_times_out_and_late_answers_are_dropped() {
    let f = fixture(|_| {});
    let mut d = Device::join(&f.hub, ID, "kiosk").await;
    let link = link_of(&f.hub, ID);
    let err = link
        .call("input", Duration::from_millis(50), |id| HubMsg::Input {
            id,
            screen: "0".into(),
            events: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, crate::control::ErrorKind::Unavailable);
    assert!(err.message.contains("did not answer the input"), "{err}");
    assert_eq!(link.calls.lock().len(), 0);
    let Got::Msg(HubMsg::Input { id, .. }) = d.next().await else {
        panic!("input")
    };
    d.send(&DeviceMsg::Result(CallResult {
        id,
        ok: None,
        error: None,
    }))
    .await;
    // A call answered in time: the tool's result, and a device error with its kind.
    let hub = f.hub.clone();
    let call = tokio::spawn(async move {
        hub.call_tool(
            &format!("{ID}/0"),
            "screenshot",
            serde_json::Map::new(),
            sightline_signaling::Role::Control,
        )
        .await
    });
    let Got::Msg(HubMsg::Tool { id, arguments, .. }) = d.next().await else {
        panic!("tool")
    };
    assert_eq!(arguments["screen"], "0");
    d.send(&DeviceMsg::Result(CallResult {
        id,
        ok: Some(serde_json::json!({"content": []})),
        error: None,
    }))
    .await;
    assert_eq!(
        call.await.unwrap().unwrap(),
        serde_json::json!({"content": []})
    );
}

#[tokio::test]
async fn a_dropped_link_fails_its_calls_and_leaves_a_gone_reason() {
    let f = fixture(|_| {});
    let mut d = Device::join(&f.hub, ID, "kiosk").await;
    let mut events = f.hub.subscribe_events();
    let hub = f.hub.clone();
    let screen = format!("{ID}/0");
    let s = screen.clone();
    let call = tokio::spawn(async move {
        hub.inject(&s, vec![InputEvent::PointerMove { x: 1, y: 2 }])
            .await
    });
    let Got::Msg(HubMsg::Input { events: sent, .. }) = d.next().await else {
        panic!("input")
    };
    assert_eq!(sent.len(), 1);
    assert!(f.hub.gone_reason(&screen).is_none());
    d.tx.send(LinkIn::Closed).await.unwrap();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind, crate::control::ErrorKind::Unavailable);
    assert_eq!(err.message, format!("device \"kiosk\" ({ID}) went offline"));
    d.task.await.unwrap();
    let gone = f.hub.gone_reason(&screen).unwrap();
    assert!(
        gone.starts_with(&format!("device \"kiosk\" ({ID}) went offline at 20")),
        "{gone}"
    );
    assert!(f.screens.removed.lock().contains(&screen));
    let e = events.recv().await.unwrap();
    assert_eq!(e.kind, events::OFFLINE);
    assert!(e.detail["reason"].as_str().unwrap().contains("closed"));
    // Offline: listed with its last screens; its screen is unavailable, naming the device.
    let info = f.hub.device(ID).unwrap();
    assert!(!info.online && info.rtt_ms.is_none());
    assert_eq!(info.screens.len(), 1);
    assert!(!f.hub.screens()[0].online);
    let err = f.hub.screen(&screen).unwrap_err();
    assert_eq!(err.kind, crate::control::ErrorKind::Unavailable);
    assert!(f.hub.inject(&screen, Vec::new()).await.is_err());
    // Device connections are closed with their reason.
    let closed: Vec<_> = f
        .monitor
        .connections()
        .into_iter()
        .filter(|c| c.kind == ConnectionKind::Device)
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].lifecycle, sightline_monitor::Lifecycle::Closed);
}

#[tokio::test]
async fn the_same_device_again_replaces_its_link() {
    let f = fixture(|_| {});
    let mut first = Device::join(&f.hub, ID, "kiosk").await;
    let mut events = f.hub.subscribe_events();
    let _second = Device::join(&f.hub, ID, "kiosk").await;
    first.closed_with(CLOSE_REPLACED).await;
    first.task.await.unwrap();
    assert!(f.hub.device(ID).unwrap().online);
    // The old link's end takes nothing out of the engine and publishes no offline event.
    assert!(f.screens.removed.lock().is_empty());
    assert_eq!(f.screens.added.lock().len(), 2);
    assert_eq!(events.recv().await.unwrap().kind, events::ONLINE);
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn a_silent_device_is_closed_4408() {
    let f = fixture(|c| c.devices.heartbeat_ms = 200);
    let mut d = Device::join(&f.hub, ID, "kiosk").await;
    let started = std::time::Instant::now();
    let reason = d.closed_with(CLOSE_TIMEOUT).await;
    assert!(reason.contains("3 heartbeats"), "{reason}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(!f.hub.device(ID).unwrap().online);
}

#[tokio::test]
async fn pongs_measure_the_rtt_and_pings_are_answered() {
    let f = fixture(|c| c.devices.heartbeat_ms = 200);
    let mut d = connect(&f.hub);
    d.send(&DeviceMsg::Hello(hello(ID, "kiosk"))).await;
    let mut pinged = None;
    while pinged.is_none() {
        let out = tokio::time::timeout(WAIT, d.rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let LinkOut::Text(t) = out
            && let HubMsg::Ping { t } = parse_hub(&t).unwrap()
        {
            pinged = Some(t);
        }
    }
    d.send(&DeviceMsg::Pong { t: pinged.unwrap() }).await;
    until("the RTT is recorded", || {
        f.hub.device(ID).is_some_and(|i| i.rtt_ms.is_some())
    })
    .await;
    d.send(&DeviceMsg::Ping { t: 42 }).await;
    assert_eq!(d.next().await, Got::Msg(HubMsg::Pong { t: 42 }));
}

#[tokio::test]
async fn the_device_limit_refuses_more() {
    let f = fixture(|c| c.devices.max_devices = 1);
    let _a = Device::join(&f.hub, ID, "a").await;
    let mut b = connect(&f.hub);
    b.send(&DeviceMsg::Hello(hello(OTHER, "b"))).await;
    b.refused("limit of 1 devices").await;
    // Pending devices are bounded: the oldest is forgotten.
    let f = fixture(|c| {
        c.devices.allowed = vec![format!("{ID} a")];
        c.devices.max_pending = 1;
    });
    for id in ["1111111111111111", "2222222222222222"] {
        let mut d = connect(&f.hub);
        d.send(&DeviceMsg::Hello(hello(id, "p"))).await;
        d.refused("approve").await;
    }
    let pending: Vec<_> = f
        .hub
        .devices()
        .into_iter()
        .filter(|d| d.state == "pending")
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "2222222222222222");
}

#[tokio::test]
async fn screens_messages_update_the_engine() {
    let f = fixture(|_| {});
    let mut d = Device::join(&f.hub, ID, "kiosk").await;
    let mut events = f.hub.subscribe_events();
    let second = RemoteScreen {
        id: "1".into(),
        name: "Side".into(),
        width: 800,
        height: 600,
        primary: false,
    };
    d.send(&DeviceMsg::Screens {
        screens: vec![second.clone()],
    })
    .await;
    let e = events.recv().await.unwrap();
    assert_eq!(e.kind, events::SCREENS_CHANGED);
    assert_eq!(e.detail["screens"][0]["id"], Value::from("1"));
    assert!(f.screens.removed.lock().contains(&format!("{ID}/0")));
    assert!(
        f.screens
            .added
            .lock()
            .iter()
            .any(|s| s.id == format!("{ID}/1"))
    );
    assert_eq!(f.hub.device(ID).unwrap().screens, vec![second]);
    // A bad list breaks the protocol.
    d.send(&DeviceMsg::Screens {
        screens: vec![RemoteScreen {
            id: "a/b".into(),
            name: "x".into(),
            width: 1,
            height: 1,
            primary: false,
        }],
    })
    .await;
    d.closed_with(CLOSE_PROTOCOL).await;
}

#[tokio::test]
async fn the_real_engine_relays_a_device_screen() {
    use sightline_media::engine::Engine;
    use sightline_media::synthetic::SyntheticDesktop;
    let config = Config::default();
    let monitor = Monitor::new(MonitorConfig::default());
    let desktop = Arc::new(SyntheticDesktop::new(64, 48));
    let engine = Engine::new(desktop, config.engine_settings(), monitor.clone());
    let hub = Hub::new(&config, engine.clone(), monitor, CancellationToken::new());
    let mut d = Device::join(&hub, ID, "kiosk").await;
    let screen = format!("{ID}/0");
    assert!(engine.remote_screens().iter().any(|s| s.id == screen));
    let mut sub = engine
        .subscribe_video(&screen, VideoProfile::default())
        .unwrap();
    let stream = loop {
        match d.next().await {
            Got::Msg(HubMsg::OpenVideo { stream, .. }) => break stream,
            Got::Msg(HubMsg::Keyframe { .. } | HubMsg::Bitrate { .. }) => {}
            other => panic!("expected open_video, got {other:?}"),
        }
    };
    let header = MediaHeader {
        kind: MediaKind::H264,
        keyframe: true,
        quality: 0,
        stream,
        seq: 1,
        captured_us: 1_700_000_000_000_000,
        width: 1280,
        height: 720,
    };
    d.tx.send(LinkIn::Binary(Bytes::from(
        header.encode(b"\0\0\0\x01\x65"),
    )))
    .await
    .unwrap();
    let au = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .expect("an access unit");
    assert!(au.keyframe);
    assert_eq!(&au.data[..], b"\0\0\0\x01\x65");
    // The device goes: the subscription ends, the engine forgets the screen.
    d.tx.send(LinkIn::Closed).await.unwrap();
    let end = tokio::time::timeout(WAIT, async { while sub.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "the subscription ends");
    assert!(engine.remote_screens().is_empty());
    assert!(hub.gone_reason(&screen).is_some());
}
