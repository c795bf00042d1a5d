//! `/ws` limits against a real gateway, with raw TCP clients that write WebSocket frames byte by byte (what a
//! browser would never send) and tokio-tungstenite clients: a frame header declaring megabytes is refused with
//! 1009 before its payload is read; each RFC 6455 violation gets its close code; sockets that have not
//! authenticated are capped (503) and closed at the configured deadline (1008); `Origin` and `Host` are checked
//! on the upgrade (403); a flood of pings is rate-limited and then banned (1008), and the banned address is
//! refused (429); `/metrics` and the diagnostics report show it all.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, GatewayProcess, VIEW_TOKEN, http_async, synthetic_config};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// How long the gateway may take to answer a refused frame: "at once", with room for a loaded CI machine.
const PROMPT: Duration = Duration::from_secs(2);

/// A TCP connection to `addr` from `src` (any address of 127.0.0.0/8 works on Linux), so bans stay apart.
async fn tcp_from(src: IpAddr, addr: &str) -> TcpStream {
    let addr: SocketAddr = addr.parse().expect("gateway address");
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(src, 0)).expect("bind source");
    sock.connect(addr).await.expect("connect")
}

fn local(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A raw upgrade's answer: status, head (lower-cased), and the stream (positioned after the head on 101).
struct Upgraded {
    status: u16,
    head: String,
    tcp: TcpStream,
}

/// Sends a WebSocket upgrade request with `host` and extra header lines, and reads the answer's head.
async fn upgrade_raw(src: IpAddr, addr: &str, host: &str, extra: &[(&str, &str)]) -> Upgraded {
    let mut tcp = tcp_from(src, addr).await;
    let mut req = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.expect("write upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so nothing after the head (the first frames) is consumed.
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            other => panic!(
                "no complete answer head ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
        assert!(head.len() < 64 * 1024, "answer head too long");
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Upgraded { status, head, tcp }
}

/// The body of a non-101 answer (`content-length` bytes).
async fn body_of(mut u: Upgraded) -> String {
    let len: usize = u
        .head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no content-length in {:?}", u.head));
    let mut body = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(5), u.tcp.read_exact(&mut body))
        .await
        .expect("the body in time")
        .expect("the whole body");
    String::from_utf8_lossy(&body).into_owned()
}

/// One client frame: `first` is the FIN/RSV/opcode byte; masked unless `masked` is false.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            f.push(mask_bit | 126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend(key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend(payload);
    }
    f
}

/// What the gateway wrote until it closed: its text messages and its close frame (code, reason).
#[derive(Debug, Default)]
struct Received {
    texts: Vec<Value>,
    close: Option<(u16, String)>,
}

/// Reads server frames until a close frame, EOF or `within`.
async fn read_until_close(tcp: &mut TcpStream, within: Duration) -> Received {
    let mut got = Received::default();
    let deadline = tokio::time::Instant::now() + within;
    let mut read = async |n: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        match tokio::time::timeout_at(deadline, tcp.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(buf),
            _ => None,
        }
    };
    loop {
        let Some(h) = read(2).await else {
            return got;
        };
        let opcode = h[0] & 0x0f;
        let len = match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes(
                read(2).await.unwrap().try_into().unwrap(),
            )),
            127 => u64::from_be_bytes(read(8).await.unwrap().try_into().unwrap()),
            n => u64::from(n),
        };
        assert_eq!(h[1] & 0x80, 0, "server frames are never masked");
        let Some(payload) = read(len as usize).await else {
            return got;
        };
        match opcode {
            0x1 => got
                .texts
                .push(serde_json::from_slice(&payload).expect("JSON text")),
            0x8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                got.close = Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
                return got;
            }
            _ => {}
        }
    }
}

async fn admin_json(gw: &GatewayProcess, path: &str) -> Value {
    let (status, _, body) =
        http_async("GET", &format!("{}{path}", gw.base), Some(ADMIN_TOKEN), &[]).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

async fn diagnostics(gw: &GatewayProcess) -> Value {
    admin_json(gw, "/api/v0/mcp/monitor/webrtc/diagnostics").await
}

async fn metrics(gw: &GatewayProcess) -> String {
    let (status, _, body) = http_async(
        "GET",
        &format!("{}/metrics", gw.base),
        Some(ADMIN_TOKEN),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    String::from_utf8(body).expect("UTF-8 metrics")
}

/// The value of one sample line of the Prometheus text, e.g. `sightline_bans_total`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A gateway that never bans (so one test can commit many violations from one address), with `extra` limits.
fn lenient(extra: &str) -> GatewayProcess {
    GatewayProcess::start(&synthetic_config(&format!(
        "[limits]\nban_after = 100000\n{extra}"
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_header_declaring_15_mib_is_refused_with_1009_before_its_payload() {
    let gw = lenient("");
    let host = gw.addr.clone();
    let rss_before = gw.rss_kib();
    const SOCKETS: usize = 16;
    let mut held = Vec::new();
    for i in 0..SOCKETS {
        let mut u = upgrade_raw(local(1), &gw.addr, &host, &[]).await;
        assert_eq!(u.status, 101, "{}", u.head);
        // A masked text frame header declaring 15 MiB, then a few bytes of it: never authenticated.
        let mut head = vec![0x81, 0x80 | 127];
        head.extend((15u64 << 20).to_be_bytes());
        head.extend([1, 2, 3, 4]);
        head.extend([b'x'; 16]);
        u.tcp.write_all(&head).await.expect("write header");
        let start = Instant::now();
        let got = read_until_close(&mut u.tcp, PROMPT * 2).await;
        let took = start.elapsed();
        assert_eq!(
            got.close,
            Some((1009, "frame too large".into())),
            "socket {i}: {got:?}"
        );
        assert!(took < PROMPT, "socket {i} closed after {took:?}");
        held.push(u.tcp);
    }
    // Nothing of the declared payloads was reserved or read: 16 × 15 MiB would be 240 MiB.
    let grown = gw.rss_kib().saturating_sub(rss_before);
    assert!(grown < 32 * 1024, "RSS grew by {grown} KiB");
    let d = diagnostics(&gw).await;
    assert_eq!(d["totals"]["violations"]["frame_too_large"], SOCKETS);
    drop(held);
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_protocol_violation_closes_with_its_rfc_6455_code() {
    let gw = lenient("");
    let host = gw.addr.clone();
    let big = vec![b' '; 200 * 1024];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked frame", frame(0x81, b"{}", false), 1002),
        ("RSV1 set", frame(0xc1, b"{}", true), 1002),
        ("reserved data opcode", frame(0x83, b"x", true), 1002),
        ("reserved control opcode", frame(0x8b, b"", true), 1002),
        ("fragmented ping", frame(0x09, b"", true), 1002),
        ("126-byte ping", frame(0x89, &[0u8; 126], true), 1002),
        (
            "continuation without a start",
            frame(0x80, b"x", true),
            1002,
        ),
        (
            "invalid UTF-8",
            frame(0x81, &[0xff, 0xfe, 0xfd], true),
            1007,
        ),
        (
            "a fragmented message over the limit",
            [frame(0x01, &big, true), frame(0x80, &big, true)].concat(),
            1009,
        ),
    ];
    for (what, bytes, code) in &cases {
        let mut u = upgrade_raw(local(1), &gw.addr, &host, &[]).await;
        assert_eq!(u.status, 101, "{what}: {}", u.head);
        u.tcp.write_all(bytes).await.expect("write frames");
        let start = Instant::now();
        let got = read_until_close(&mut u.tcp, PROMPT * 2).await;
        assert_eq!(
            got.close.as_ref().map(|c| c.0),
            Some(*code),
            "{what}: {got:?}"
        );
        assert!(start.elapsed() < PROMPT, "{what}: {:?}", start.elapsed());
    }

    // A binary message is answered once with an error, the next one closes with 1003.
    let mut u = upgrade_raw(local(1), &gw.addr, &host, &[]).await;
    u.tcp
        .write_all(&frame(0x82, b"\x00\x01", true))
        .await
        .unwrap();
    u.tcp
        .write_all(&frame(
            0x81,
            br#"{"type":"ping","id":"after-binary"}"#,
            true,
        ))
        .await
        .unwrap();
    u.tcp
        .write_all(&frame(0x82, b"\x00\x01", true))
        .await
        .unwrap();
    let got = read_until_close(&mut u.tcp, PROMPT * 2).await;
    assert_eq!(got.texts[0]["code"], "bad_message", "{got:?}");
    assert_eq!(got.texts[1], json!({"type":"pong","id":"after-binary"}));
    assert_eq!(
        got.close,
        Some((1003, "binary messages are not accepted".into()))
    );

    let d = diagnostics(&gw).await;
    let v = &d["totals"]["violations"];
    assert_eq!(v["protocol"], 7, "{d}");
    assert_eq!(v["bad_utf8"], 1, "{d}");
    assert_eq!(v["message_too_large"], 1, "{d}");
    assert_eq!(v["binary"], 2, "{d}");
    let m = metrics(&gw).await;
    assert_eq!(
        sample(&m, "sightline_protocol_violations_total{kind=\"protocol\"}"),
        Some(7.0),
        "{m}"
    );
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sockets_are_capped_and_closed_at_the_deadline() {
    let gw = lenient("max_unauthenticated = 3\nauth_timeout_ms = 800\n");
    let host = gw.addr.clone();
    let opened = Instant::now();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let u = upgrade_raw(local(1), &gw.addr, &host, &[]).await;
        assert_eq!(u.status, 101, "{}", u.head);
        waiting.push(u.tcp);
    }
    let refused = upgrade_raw(local(1), &gw.addr, &host, &[]).await;
    assert_eq!(refused.status, 503, "{}", refused.head);
    assert!(body_of(refused).await.contains("waiting to authenticate"));
    // A bearer token on the upgrade authenticates at once: not counted against the cap.
    let bearer = format!("Bearer {VIEW_TOKEN}");
    let mut authed = upgrade_raw(
        local(1),
        &gw.addr,
        &host,
        &[("Authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(authed.status, 101, "{}", authed.head);

    // The silent ones are closed with 1008 at the configured deadline, not the default 5 s.
    for tcp in &mut waiting {
        let got = read_until_close(tcp, Duration::from_secs(5)).await;
        assert_eq!(
            got.close,
            Some((1008, "no valid token within 800 ms".into())),
            "{got:?}"
        );
    }
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // Their places are free again.
    let mut again = None;
    for _ in 0..50 {
        let u = upgrade_raw(local(1), &gw.addr, &host, &[]).await;
        if u.status == 101 {
            again = Some(u);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a freed place is taken again");
    // The authenticated one is still served.
    authed
        .tcp
        .write_all(&frame(0x81, br#"{"type":"ping","id":9}"#, true))
        .await
        .unwrap();
    let mut buf = [0u8; 2];
    authed.tcp.read_exact(&mut buf).await.expect("welcome");
    assert_eq!(buf[0], 0x81, "a text frame");

    let d = diagnostics(&gw).await;
    assert_eq!(d["totals"]["refused"]["unauthenticated_cap"], 1, "{d}");
    assert_eq!(d["totals"]["violations"]["unauthenticated"], 3, "{d}");
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_and_host_are_checked_on_the_upgrade() {
    // Defaults: any host; same-origin or no Origin only.
    let gw = lenient("");
    let port = gw.addr.rsplit(':').next().unwrap().to_owned();
    let host = gw.addr.clone();
    let own = format!("http://{host}");
    let other_port = "http://127.0.0.1:1".to_owned();
    let localhost = format!("http://localhost:{port}");
    for (origin, want) in [
        (None, 101),
        (Some(own.as_str()), 101),
        (Some("http://evil.example"), 403),
        (Some(other_port.as_str()), 403),
        (Some(localhost.as_str()), 403),
        (Some("null"), 403),
    ] {
        let extra: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let u = upgrade_raw(local(1), &gw.addr, &host, &extra).await;
        assert_eq!(u.status, want, "Origin {origin:?}: {}", u.head);
        if want == 403 {
            let body = body_of(u).await;
            assert!(body.contains("allowed_origins"), "{body}");
        }
    }
    let d = diagnostics(&gw).await;
    assert_eq!(d["totals"]["refused"]["origin"], 4, "{d}");
    assert!(gw.stop().success());

    // Listed hosts and origins.
    let config = synthetic_config("[limits]\nban_after = 100000\n").replacen(
        "[server]\n",
        "[server]\nallowed_hosts = [\"localhost\"]\nallowed_origins = [\"https://app.example\"]\n",
        1,
    );
    let gw = GatewayProcess::start(&config);
    let port = gw.addr.rsplit(':').next().unwrap().to_owned();
    let named = format!("localhost:{port}");
    let own = format!("http://localhost:{port}");
    for (host, origin, want) in [
        (gw.addr.as_str(), None, 403),
        (named.as_str(), None, 101),
        (named.as_str(), Some("https://app.example"), 101),
        (named.as_str(), Some(own.as_str()), 101),
        (named.as_str(), Some("https://evil.example"), 403),
    ] {
        let extra: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let u = upgrade_raw(local(1), &gw.addr, host, &extra).await;
        assert_eq!(u.status, want, "Host {host}, Origin {origin:?}: {}", u.head);
        if want == 403 && origin.is_none() {
            assert!(body_of(u).await.contains("allowed_hosts"));
        }
    }
    let d = diagnostics(&gw).await;
    assert_eq!(d["totals"]["refused"]["host"], 1, "{d}");
    assert_eq!(d["totals"]["refused"]["origin"], 1, "{d}");
    assert!(gw.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_rate_limited_then_banned_and_the_address_refused() {
    let gw = GatewayProcess::start(&synthetic_config(""));
    let attacker = local(2);
    let tcp = tcp_from(attacker, &gw.addr).await;
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", gw.addr), tcp)
        .await
        .expect("upgrade");
    ws.send(Message::Text(
        json!({"type":"auth","token":VIEW_TOKEN}).to_string().into(),
    ))
    .await
    .unwrap();
    let start = Instant::now();
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..1000 {
            let ping = json!({"type":"ping","id":i}).to_string();
            // The gateway closes the socket midway: later sends fail, which is expected.
            if tx.feed(Message::Text(ping.into())).await.is_err() {
                break;
            }
        }
        let _ = tx.flush().await;
        tx
    });
    let (mut pongs, mut limited, mut close) = (0, Vec::new(), None);
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), rx.next()).await {
        match m {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") => limited.push(v),
                    _ => {}
                }
            }
            Message::Close(f) => {
                close = f.map(|f| (u16::from(f.code), f.reason.to_string()));
                break;
            }
            _ => {}
        }
    }
    let _ = sender.await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(close, Some((1008, "banned for 30 s".into())));
    // The light burst (50, one of them the auth) passes, plus what refilled meanwhile (20 a second).
    assert!((45..=55).contains(&pongs), "{pongs} pongs");
    assert!(!limited.is_empty());
    for e in &limited {
        assert_eq!(e["code"], "rate_limited", "{e}");
        assert!(e["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{e}");
    }
    assert!(limited.len() < 20, "coalesced: {} errors", limited.len());

    // The banned address is refused, others are not.
    let again = upgrade_raw(attacker, &gw.addr, &gw.addr, &[]).await;
    assert_eq!(again.status, 429, "{}", again.head);
    assert!(again.head.contains("retry-after: "), "{}", again.head);
    let other = upgrade_raw(local(3), &gw.addr, &gw.addr, &[]).await;
    assert_eq!(other.status, 101, "{}", other.head);

    // Metrics and the diagnostics report show it.
    let m = metrics(&gw).await;
    assert_eq!(sample(&m, "sightline_bans_total"), Some(1.0), "{m}");
    assert!(
        sample(&m, "sightline_rate_limited_total{class=\"light\"}").is_some_and(|n| n >= 20.0),
        "{m}"
    );
    let d = diagnostics(&gw).await;
    assert_eq!(d["totals"]["bans"], 1, "{d}");
    // Refused at the edge or at the upgrade, the refusal is counted either way.
    assert!(
        d["totals"]["refused"]["banned"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{d}"
    );
    let banned = &d["banned"][0];
    assert_eq!(banned["address"], "127.0.0.2", "{d}");
    assert!(
        banned["remaining_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 20_000 && ms <= 30_000),
        "{d}"
    );
    let worst = &d["top_connections"][0];
    assert!(
        worst["remote"].as_str().unwrap().starts_with("127.0.0.2:"),
        "{d}"
    );
    assert_eq!(worst["rate_limited"], 20, "{d}");
    assert_eq!(worst["banned_ms"], 30_000, "{d}");
    assert!(worst["messages_received"].as_u64().unwrap() >= 65, "{d}");
    // The connection's monitor detail carries the same counters.
    let id = worst["id"].as_str().unwrap();
    let detail = admin_json(&gw, &format!("/api/v0/mcp/monitor/webrtc/connections/{id}")).await;
    assert_eq!(detail["counters"]["rate_limited"], 20, "{detail}");
    assert_eq!(detail["counters"]["banned_ms"], 30_000, "{detail}");
    assert_eq!(detail["counters"]["violations"], json!({}), "{detail}");

    // Both answers are what docs/openapi.yaml says, field by field.
    let samples = json!([
        {"path": "/api/v0/mcp/monitor/webrtc/diagnostics", "method": "get", "status": 200, "body": d},
        {"path": "/api/v0/mcp/monitor/webrtc/connections/{id}", "method": "get", "status": 200, "body": detail},
    ]);
    let file = gw.dir().join("samples.json");
    std::fs::write(&file, serde_json::to_vec(&samples).unwrap()).unwrap();
    let spec = common::root().join("docs/openapi.yaml");
    let out = common::run_python(
        "check_openapi.py",
        &[spec.to_str().unwrap(), file.to_str().unwrap()],
        Duration::from_secs(60),
    );
    let result = common::last_json(&out);
    assert_eq!(result["errors"], json!([]), "{result}");
    assert!(gw.stop().success());
}
