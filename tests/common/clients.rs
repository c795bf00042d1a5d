//! Test clients: a `/ws` client (tokio-tungstenite) and the aiortc peer of `tests/e2e/aiortc_peer.py`.

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What a `/ws` client received.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    /// A JSON text message.
    Json(Value),
    /// A binary message.
    Binary(Vec<u8>),
    /// The server closed with this code and reason.
    Closed(Option<u16>, String),
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `/ws` client.
pub struct WsClient {
    ws: WsStream,
}

impl WsClient {
    /// Connects without authenticating.
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect /ws");
        Self { ws }
    }

    /// Connects with `Authorization: Bearer` on the upgrade.
    pub async fn connect_bearer(
        url: &str,
        token: &str,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Self { ws })
    }

    /// Connects and authenticates with an `auth` message; returns the client and the `welcome`.
    pub async fn authed(url: &str, token: &str) -> (Self, Value) {
        let mut c = Self::connect(url).await;
        c.send(json!({"type":"auth","token":token})).await;
        let welcome = c.expect_type("welcome").await;
        (c, welcome)
    }

    /// Sends JSON.
    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("ws send");
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, t: &str) {
        self.ws
            .send(Message::Text(t.to_owned().into()))
            .await
            .expect("ws send");
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, b: Vec<u8>) {
        self.ws
            .send(Message::Binary(b.into()))
            .await
            .expect("ws send");
    }

    /// The next event, or `None` after `timeout`.
    pub async fn next_timeout(&mut self, timeout: Duration) -> Option<WsEvent> {
        loop {
            let m = match tokio::time::timeout(timeout, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(WsEvent::Closed(None, String::new())),
                Ok(Some(Err(_))) => return Some(WsEvent::Closed(None, "error".into())),
                Ok(Some(Ok(m))) => m,
            };
            return Some(match m {
                Message::Text(t) => {
                    WsEvent::Json(serde_json::from_str(&t).expect("server sends JSON"))
                }
                Message::Binary(b) => WsEvent::Binary(b.to_vec()),
                Message::Close(f) => WsEvent::Closed(
                    f.as_ref().map(|f| u16::from(f.code)),
                    f.map(|f| f.reason.to_string()).unwrap_or_default(),
                ),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            });
        }
    }

    /// The next event (10 s timeout, then panic).
    pub async fn next(&mut self) -> WsEvent {
        self.next_timeout(Duration::from_secs(10))
            .await
            .expect("no message from the gateway within 10 s")
    }

    /// Waits for a JSON message of `type` (skipping others); panics on close or after 10 s.
    pub async fn expect_type(&mut self, ty: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_timeout(left).await {
                Some(WsEvent::Json(v)) if v["type"] == ty => return v,
                Some(WsEvent::Closed(code, reason)) => {
                    panic!("socket closed ({code:?} {reason}) while waiting for {ty}")
                }
                Some(_) => {}
                None => panic!("no {ty} message within 10 s"),
            }
        }
    }

    /// Waits until the socket closes; returns the close code.
    pub async fn expect_close(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_timeout(left).await {
                Some(WsEvent::Closed(code, _)) => return code,
                Some(_) => {}
                None => panic!("the socket did not close within {within:?}"),
            }
        }
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The aiortc peer script, driven over its stdin/stdout JSON-lines protocol.
pub struct AiortcPeer {
    child: Child,
    stdin: ChildStdin,
    events: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

impl AiortcPeer {
    /// Starts the script and waits for `ready`.
    pub async fn start() -> Self {
        let py = super::python();
        let mut child = Command::new(py)
            .arg(super::root().join("tests/e2e/aiortc_peer.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiortc_peer.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let mut p = Self {
            child,
            stdin,
            events,
        };
        p.expect("ready", Duration::from_secs(30)).await;
        p
    }

    /// Sends a command.
    pub async fn cmd(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to aiortc peer");
        self.stdin.flush().await.expect("flush");
    }

    /// Waits for an event of `type`, skipping others; panics after `within`.
    pub async fn expect(&mut self, ty: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(v)) if v["type"] == ty => return v,
                Ok(Some(v)) if v["type"] == "error" => panic!("aiortc peer error: {v}"),
                Ok(Some(_)) => {}
                Ok(None) => panic!("aiortc peer exited while waiting for {ty}"),
                Err(_) => panic!("aiortc peer: no {ty} within {within:?}"),
            }
        }
    }

    /// Collects events for `dur`.
    pub async fn collect(&mut self, dur: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + dur;
        let mut out = Vec::new();
        while let Ok(Some(v)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            out.push(v);
        }
        out
    }

    /// Closes the peer connection and starts a fresh one in the same process (events of the old one are
    /// discarded).
    pub async fn reset(&mut self) {
        self.cmd(json!({"cmd":"reset"})).await;
        self.expect("reset", Duration::from_secs(10)).await;
    }

    /// Closes the peer and waits for the script to exit.
    pub async fn close(mut self) {
        self.cmd(json!({"cmd":"close"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Drives one WebRTC watch through `/ws`: offer → aiortc → answer, candidates both ways. Returns once aiortc is
/// connected.
pub async fn watch_webrtc(ws: &mut WsClient, peer: &mut AiortcPeer, screen: &str) {
    ws.send(json!({"type":"watch","screen":screen,"transport":"webrtc"}))
        .await;
    let offer = ws.expect_type("offer").await;
    let sdp = offer["sdp"].as_str().expect("offer sdp");
    assert!(
        sdp.contains("H264") || sdp.contains("h264"),
        "the offer has H.264"
    );
    assert!(sdp.contains("packetization-mode=1"), "{sdp}");
    assert!(
        sdp.contains("42e01f"),
        "constrained baseline profile-level-id in the offer"
    );
    peer.cmd(json!({"cmd":"offer","sdp":sdp})).await;
    let answer = peer.expect("answer", Duration::from_secs(20)).await;
    ws.send(json!({"type":"answer","sdp":answer["sdp"]})).await;
    // Trickle the server's candidates into aiortc until it connects.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::select! {
            ev = ws.next_timeout(Duration::from_millis(50)) => {
                if let Some(WsEvent::Json(v)) = ev
                    && v["type"] == "candidate"
                {
                    peer.cmd(json!({"cmd":"candidate","candidate":v["candidate"],"sdpMid":v["sdpMid"],"sdpMLineIndex":v["sdpMLineIndex"]})).await;
                }
            }
            () = tokio::time::sleep_until(deadline) => panic!("aiortc did not connect within 20 s"),
        }
        let events = peer.collect(Duration::from_millis(1)).await;
        if events
            .iter()
            .any(|e| e["type"] == "state" && e["state"] == "connected")
        {
            return;
        }
        if let Some(e) = events
            .iter()
            .find(|e| e["type"] == "state" && e["state"] == "failed")
        {
            panic!("aiortc failed: {e}");
        }
    }
}
