//! The device link against a fake hub (a plain tokio-tungstenite server on 127.0.0.1): the hello, heartbeats both
//! ways, reconnecting after the hub closes, refusals, a video stream from the synthetic screen, and calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use sightline_media::engine::Engine;
use sightline_media::synthetic::SyntheticDesktop;
use sightline_monitor::Monitor;
use sightline_signaling::fleet::{
    CLOSE_REFUSED, CLOSE_TIMEOUT, CONNECT_PATH, DeviceMsg, HubMsg, MediaHeader, MediaKind,
    PROTOCOL_VERSION, parse_device,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_util::sync::CancellationToken;

use super::{Identity, run};
use crate::auth::Tokens;
use crate::config::{Config, HubConfig};
use crate::session::SessionManager;

const TOKEN: &str = "device-token-1";
const WAIT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<TcpStream>;

fn manager() -> SessionManager {
    let mut config = Config::default();
    config.auth.admins = vec!["admin-token-1".into()];
    config.capture.cursor = sightline_media::CursorMode::Video;
    config.validate().expect("test config is valid");
    let monitor = Monitor::new(config.monitor_settings());
    let desktop = Arc::new(SyntheticDesktop::new(320, 240));
    let engine = Engine::new(desktop, config.engine_settings(), monitor.clone());
    let tokens = Tokens::from_config(&config.auth);
    SessionManager::new(config, tokens, engine, monitor, CancellationToken::new())
}

fn identity() -> Identity {
    Identity {
        id: "0123456789abcdef".into(),
        name: "test device".into(),
    }
}

/// A fake hub and a device dialling it.
struct Rig {
    listener: TcpListener,
    shutdown: CancellationToken,
    device: tokio::task::JoinHandle<()>,
}

async fn rig(min_ms: u64, max_ms: u64) -> Rig {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = HubConfig {
        url: format!("http://{}/prefix/", listener.local_addr().unwrap()),
        token: TOKEN.into(),
        reconnect_min_ms: min_ms,
        reconnect_max_ms: max_ms,
        ..HubConfig::default()
    };
    let shutdown = CancellationToken::new();
    let device = tokio::spawn(run(manager(), hub, identity(), shutdown.clone()));
    Rig {
        listener,
        shutdown,
        device,
    }
}

impl Rig {
    /// Accepts the device's next connection; checks the path and the token.
    async fn accept(&self) -> Ws {
        let (tcp, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("the device dials")
            .unwrap();
        #[allow(clippy::result_large_err)]
        let check = |req: &Request, resp: Response| {
            assert_eq!(req.uri().path(), format!("/prefix{CONNECT_PATH}"));
            let auth = req
                .headers()
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap();
            assert_eq!(auth, format!("Bearer {TOKEN}"));
            Ok(resp)
        };
        tokio_tungstenite::accept_hdr_async(tcp, check)
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.device)
            .await
            .expect("the device stops")
            .unwrap();
    }
}

async fn send(ws: &mut Ws, msg: &HubMsg) {
    let text = serde_json::to_string(msg).unwrap();
    ws.send(Message::Text(text.into())).await.unwrap();
}

/// The next message of any kind.
async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .expect("a good message")
}

/// The next text message that is not a device ping.
async fn next_msg(ws: &mut Ws) -> DeviceMsg {
    loop {
        if let Message::Text(t) = next(ws).await {
            match parse_device(&t).unwrap() {
                DeviceMsg::Ping { .. } => continue,
                m => return m,
            }
        }
    }
}

async fn welcome(ws: &mut Ws, heartbeat_ms: u64) -> sightline_signaling::fleet::Hello {
    let DeviceMsg::Hello(hello) = next_msg(ws).await else {
        panic!("the first message is the hello");
    };
    send(
        ws,
        &HubMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            version: "test".into(),
            heartbeat_ms,
        },
    )
    .await;
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_heartbeats_and_reconnect() {
    let rig = rig(50, 200).await;
    let mut ws = rig.accept().await;
    let hello = welcome(&mut ws, 200).await;
    assert_eq!(hello.protocol, PROTOCOL_VERSION);
    assert_eq!(hello.id, "0123456789abcdef");
    assert_eq!(hello.name, "test device");
    assert_eq!(hello.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(hello.screens.len(), 1);
    let s = &hello.screens[0];
    assert_eq!((s.width, s.height, s.primary), (320, 240, true));
    sightline_signaling::fleet::check_hello(&hello).unwrap();

    // The device pings on its own at the welcome's period, and answers the hub's pings.
    let started = Instant::now();
    loop {
        if let Message::Text(t) = next(&mut ws).await
            && let DeviceMsg::Ping { t } = parse_device(&t).unwrap()
        {
            send(&mut ws, &HubMsg::Pong { t }).await;
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    send(&mut ws, &HubMsg::Ping { t: 42 }).await;
    assert_eq!(next_msg(&mut ws).await, DeviceMsg::Pong { t: 42 });

    // The hub goes away: the device dials again and says hello again.
    drop(ws);
    let mut ws = rig.accept().await;
    let again = welcome(&mut ws, 200).await;
    assert_eq!(again.id, hello.id);
    rig.stop().await;
    // A clean shutdown says goodbye with 1001.
    loop {
        match next(&mut ws).await {
            Message::Close(Some(f)) => {
                assert_eq!(u16::from(f.code), 1001);
                break;
            }
            Message::Close(None) => panic!("close without a code"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_hub_is_closed_with_4408() {
    let rig = rig(50, 100).await;
    let mut ws = rig.accept().await;
    welcome(&mut ws, 200).await;
    let started = Instant::now();
    let code = loop {
        // Read but never answer: the device's pings go unanswered.
        if let Message::Close(f) = next(&mut ws).await {
            break f.map(|f| u16::from(f.code));
        }
    };
    assert_eq!(code, Some(CLOSE_TIMEOUT));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // And it comes back.
    let mut ws = rig.accept().await;
    welcome(&mut ws, 200).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_device_retries_at_the_longest_delay() {
    let rig = rig(50, 600).await;
    let mut ws = rig.accept().await;
    let DeviceMsg::Hello(_) = next_msg(&mut ws).await else {
        panic!("hello first");
    };
    send(
        &mut ws,
        &HubMsg::Refused {
            reason: "device 0123456789abcdef (test device) is not in [devices] allowed".into(),
        },
    )
    .await;
    ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: CLOSE_REFUSED.into(),
        reason: "refused".into(),
    }))
    .await
    .unwrap();
    let refused_at = Instant::now();
    let mut ws = rig.accept().await;
    let waited = refused_at.elapsed();
    // The longest delay, less its jitter (the minimum alone would be 50 ms).
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
    welcome(&mut ws, 1000).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_streams_and_calls_are_served() {
    let rig = rig(50, 200).await;
    let mut ws = rig.accept().await;
    let hello = welcome(&mut ws, 1000).await;
    let screen = hello.screens[0].id.clone();
    send(
        &mut ws,
        &HubMsg::OpenVideo {
            stream: 7,
            screen: screen.clone(),
            bitrate_kbps: 1000,
            max_width: None,
            usage: "camera".into(),
        },
    )
    .await;
    let (header, payload) = loop {
        if let Message::Binary(b) = next(&mut ws).await {
            let (h, p) = MediaHeader::decode(&b).unwrap();
            break (h, p.to_vec());
        }
    };
    assert_eq!(header.kind, MediaKind::H264);
    assert!(header.keyframe, "a stream starts with an IDR");
    assert_eq!(header.stream, 7);
    assert_eq!((header.width, header.height), (320, 240));
    assert!(header.captured_us > 1_600_000_000_000_000);
    assert!(payload.starts_with(&[0, 0, 0, 1]) || payload.starts_with(&[0, 0, 1]));

    // A bitrate wish and a keyframe request: the next IDR follows (the static screen's picture re-encoded).
    send(
        &mut ws,
        &HubMsg::Bitrate {
            stream: 7,
            kbps: Some(500),
        },
    )
    .await;
    send(&mut ws, &HubMsg::Keyframe { stream: 7 }).await;
    loop {
        if let Message::Binary(b) = next(&mut ws).await {
            let (h, _) = MediaHeader::decode(&b).unwrap();
            assert_eq!(h.stream, 7);
            if h.keyframe && h.seq > header.seq {
                break;
            }
        }
    }

    // An unknown screen ends the stream at once, with the reason.
    send(
        &mut ws,
        &HubMsg::OpenJpeg {
            stream: 8,
            screen: "9".into(),
            quality: 70,
            max_width: None,
            fps: 5,
        },
    )
    .await;
    send(
        &mut ws,
        &HubMsg::Input {
            id: 1,
            screen: screen.clone(),
            events: vec![json!({"kind": "pointer_move", "x": 10, "y": 20})],
        },
    )
    .await;
    send(
        &mut ws,
        &HubMsg::Input {
            id: 2,
            screen: screen.clone(),
            events: vec![json!({"kind": "teleport"})],
        },
    )
    .await;
    send(
        &mut ws,
        &HubMsg::Snapshot {
            id: 3,
            screen: screen.clone(),
            format: "png".into(),
            quality: None,
            max_width: Some(160),
        },
    )
    .await;
    send(
        &mut ws,
        &HubMsg::Tool {
            id: 4,
            name: "list_screens".into(),
            arguments: serde_json::Map::new(),
            role: sightline_signaling::Role::View,
        },
    )
    .await;
    send(
        &mut ws,
        &HubMsg::Tool {
            id: 5,
            name: "click".into(),
            arguments: serde_json::Map::new(),
            role: sightline_signaling::Role::View,
        },
    )
    .await;
    send(&mut ws, &HubMsg::Close { stream: 7 }).await;
    let mut results = std::collections::BTreeMap::new();
    let mut ended = None;
    while results.len() < 5 || ended.is_none() {
        match next_msg(&mut ws).await {
            DeviceMsg::Result(r) => {
                results.insert(r.id, r);
            }
            DeviceMsg::StreamEnded { stream, reason } => ended = Some((stream, reason)),
            other => panic!("unexpected {other:?}"),
        }
    }
    let (stream, reason) = ended.unwrap();
    assert_eq!(stream, 8);
    assert!(reason.contains("unknown screen"), "{reason}");
    // Input: `ok: null` on the wire, so no error.
    assert!(results[&1].error.is_none(), "{:?}", results[&1]);
    assert_eq!(results[&2].error.as_ref().unwrap().kind, "invalid");
    let snap = results[&3].ok.clone().expect("a snapshot");
    assert_eq!(snap["mime"], "image/png");
    assert_eq!(snap["width"], 160);
    assert!(snap["data"].as_str().unwrap().len() > 100);
    let listed = results[&4].ok.clone().expect("a tool result");
    assert_eq!(listed["isError"], Value::Bool(false), "{listed}");
    assert!(listed.to_string().contains("320"), "{listed}");
    let forbidden = results[&5].error.as_ref().expect("refused locally");
    assert_eq!(forbidden.kind, "forbidden");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_trusts_the_ca_file() {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let ca_file = std::env::temp_dir().join(format!(
        "sightline-device-ca-{}-{}.pem",
        std::process::id(),
        super::identity::generate_id().unwrap()
    ));
    std::fs::write(&ca_file, cert.pem()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = HubConfig {
        url: format!("wss://localhost:{}", listener.local_addr().unwrap().port()),
        token: TOKEN.into(),
        ca_file: ca_file.to_string_lossy().into_owned(),
        reconnect_min_ms: 50,
        reconnect_max_ms: 100,
        ..HubConfig::default()
    };
    let shutdown = CancellationToken::new();
    let device = tokio::spawn(run(manager(), hub, identity(), shutdown.clone()));
    let (tcp, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let tls = acceptor
        .accept(tcp)
        .await
        .expect("the device trusts the CA");
    let mut ws = tokio_tungstenite::accept_async(tls).await.unwrap();
    let msg = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(t) = msg else {
        panic!("hello first");
    };
    assert!(matches!(parse_device(&t).unwrap(), DeviceMsg::Hello(_)));
    shutdown.cancel();
    tokio::time::timeout(WAIT, device).await.unwrap().unwrap();
    std::fs::remove_file(ca_file).unwrap();
}
