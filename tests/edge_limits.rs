//! The HTTP edge holds its bounds against raw TCP clients (a gateway on the synthetic screen, started in this
//! process so the diagnostics counters can be read):
//! - a request head sent a few bytes at a time (slowloris) gets `408` and is closed after `header_timeout_ms`,
//!   however long the client keeps trickling;
//! - a 400 KB head gets `431`; a head under `max_header_bytes` is served;
//! - an idle keep-alive connection, and one that never sends a byte, are closed after `header_timeout_ms`
//!   without an answer;
//! - past `max_connections_per_ip` that address's next connection is closed at once while its open ones and other
//!   addresses keep working; past `max_connections` everyone's is, until a place frees; a WebSocket holds its
//!   place after the upgrade;
//! - a banned address gets `429` with `Retry-After` before its request is read;
//! - stopping the gateway with connections open returns within the drain grace.
//!
//! Other addresses are 127.0.0.2 and 127.0.0.3 (any 127/8 address is local on Linux).
//!
//! Run: `cargo test -p sightline --test edge_limits`

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sightline::config::Config;
use sightline::server::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A gateway with `[limits]` lines `limits`.
async fn gateway(limits: &str) -> Running {
    let text = common::synthetic_config(&format!("[limits]\n{limits}\n"));
    let config = Config::parse(&text).expect("test config parses");
    config.validate().expect("test config validates");
    sightline::server::start(config)
        .await
        .expect("gateway starts")
}

async fn connect_from(src: &str, addr: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().expect("socket");
    s.bind(SocketAddr::new(src.parse().expect("ip"), 0))
        .expect("bind the source address");
    s.connect(addr).await.expect("connect")
}

/// Everything the server sends until it closes (EOF or reset) or `within` passes; and whether it closed.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `GET /healthz` (keep-alive) and reads one complete response; returns its status line and body.
async fn healthz(s: &mut TcpStream) -> Result<(String, String), String> {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: edge.test\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    read_response(s).await
}

async fn read_response(s: &mut TcpStream) -> Result<(String, String), String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).to_string();
                return Ok((head.lines().next().unwrap_or_default().to_owned(), body));
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Err(format!("no complete response within 5 s (got {got:?})")),
            Ok(Ok(0)) => return Err(format!("closed after {} bytes", got.len())),
            Ok(Err(e)) => return Err(format!("read: {e}")),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Connects from `src` until a connection is served (a freed place is seen once the server noticed the close).
async fn eventually_served(src: &str, addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = connect_from(src, addr).await;
        match healthz(&mut s).await {
            Ok((status, _)) if status.starts_with("HTTP/1.1 200") => return,
            other => assert!(
                Instant::now() < deadline,
                "{what}: not served within 5 s ({other:?})"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn refused(r: &Running, reason: &str) -> u64 {
    r.gateway
        .diagnostics()
        .snapshot()
        .refused
        .get(reason)
        .copied()
        .unwrap_or(0)
}

/// Asserts the server closes `s` without a byte, within `within`.
async fn assert_closed_unanswered(s: &mut TcpStream, within: Duration, what: &str) {
    let (got, closed) = read_until_closed(s, within).await;
    assert!(closed, "{what}: still open after {within:?}");
    assert!(
        got.is_empty(),
        "{what}: expected no answer, got {:?}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_gets_408_and_is_closed_after_the_header_timeout() {
    let gw = gateway("header_timeout_ms = 800").await;
    let started = Instant::now();
    let s = TcpStream::connect(gw.addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        wr.write_all(b"GET /healthz HTTP/1.1\r\nHost: edge.test\r\n")
            .await
            .ok();
        // One header line every 100 ms for up to 10 s: the head never completes.
        for i in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if wr
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut got)).await;
    let took = started.elapsed();
    trickle.abort();
    assert!(
        closed.is_ok(),
        "still open 5 s after connecting (header timeout 800 ms)"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "expected a 408 answer, got {text:?}"
    );
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text:?}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(2500),
        "closed after {took:?}, header timeout 800 ms"
    );
    assert_eq!(refused(&gw, "header_timeout"), 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_kb_head_gets_431_and_a_12_kb_head_is_served() {
    let gw = gateway("").await;
    // Under the default 16 KiB.
    let mut s = TcpStream::connect(gw.addr).await.expect("connect");
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: edge.test\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(12 * 1024)
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let (status, body) = read_response(&mut s).await.expect("12 KB head answered");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "ok");

    let s = TcpStream::connect(gw.addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let big = format!(
            "GET /healthz HTTP/1.1\r\nHost: edge.test\r\nX-Big: {}\r\n\r\n",
            "a".repeat(400 * 1024)
        );
        let _ = wr.write_all(big.as_bytes()).await;
        wr
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let closed = loop {
        match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    };
    writer.abort();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 431 "),
        "expected 431, got {text:?}"
    );
    assert!(closed, "the connection stays open after the 431");
    assert_eq!(refused(&gw, "header_too_large"), 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_silent_connections_are_closed_after_the_header_timeout() {
    let gw = gateway("header_timeout_ms = 800").await;
    let mut kept = TcpStream::connect(gw.addr).await.expect("connect");
    let mut silent = TcpStream::connect(gw.addr).await.expect("connect");
    // Keep-alive works while the client is active…
    for _ in 0..3 {
        let (status, body) = healthz(&mut kept).await.expect("keep-alive request");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert_eq!(body, "ok");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // …and ends once it idles past the header timeout.
    let idle_from = Instant::now();
    assert_closed_unanswered(&mut kept, Duration::from_secs(3), "idle keep-alive").await;
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(400),
        "closed after only {idle:?} idle (timeout 800 ms, minus the 300 ms already idle)"
    );
    assert_closed_unanswered(
        &mut silent,
        Duration::from_secs(3),
        "never-sending connection",
    )
    .await;
    assert_eq!(
        refused(&gw, "header_timeout"),
        0,
        "idle closes are not refusals"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_ip_limit_refuses_the_next_connection_while_others_keep_working() {
    let gw = gateway("max_connections = 16\nmax_connections_per_ip = 3").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect_from("127.0.0.1", gw.addr).await);
    }
    // Admission happens in the accept loop: make sure the three are admitted before the fourth arrives.
    for s in &mut open {
        let (status, _) = healthz(s).await.expect("an admitted connection");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    }
    let mut fourth = connect_from("127.0.0.1", gw.addr).await;
    assert_closed_unanswered(&mut fourth, Duration::from_secs(2), "4th from 127.0.0.1").await;
    assert_eq!(refused(&gw, "max_connections_per_ip"), 1);

    for s in &mut open {
        let (status, _) = healthz(s).await.expect("the open ones keep working");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    }
    let mut other = connect_from("127.0.0.2", gw.addr).await;
    let (status, _) = healthz(&mut other).await.expect("another address");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    drop(open.pop());
    eventually_served(
        "127.0.0.1",
        gw.addr,
        "127.0.0.1 after one of its connections closed",
    )
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_limit_refuses_everyone_until_a_place_frees() {
    let gw = gateway("max_connections = 4\nmax_connections_per_ip = 3").await;
    let mut open = Vec::new();
    for src in ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"] {
        let mut s = connect_from(src, gw.addr).await;
        let (status, _) = healthz(&mut s).await.expect("admitted");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        open.push(s);
    }
    let mut third = connect_from("127.0.0.3", gw.addr).await;
    assert_closed_unanswered(
        &mut third,
        Duration::from_secs(2),
        "a fresh address over the global limit",
    )
    .await;
    assert_eq!(refused(&gw, "max_connections"), 1);
    for s in &mut open {
        let (status, _) = healthz(s).await.expect("the open ones keep working");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    }
    drop(open.remove(0));
    eventually_served("127.0.0.3", gw.addr, "a fresh address after a place freed").await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_keeps_its_place_after_the_upgrade() {
    let gw = gateway("max_connections = 16\nmax_connections_per_ip = 2").await;
    let url = format!("ws://{}/ws", gw.addr);
    let (ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("WebSocket upgrade");
    let mut plain = TcpStream::connect(gw.addr).await.expect("connect");
    let (status, _) = healthz(&mut plain).await.expect("second place");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let mut third = TcpStream::connect(gw.addr).await.expect("connect");
    assert_closed_unanswered(
        &mut third,
        Duration::from_secs(2),
        "3rd connection while a WebSocket and a request hold both places",
    )
    .await;
    drop(ws);
    // The upgraded socket's place frees when it closes.
    eventually_served("127.0.0.1", gw.addr, "after the WebSocket closed").await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_address_gets_429_with_retry_after() {
    let gw = gateway("ban_after = 3\nban_ms = 30000").await;
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let mut ban = None;
    for _ in 0..3 {
        ban = gw.gateway.limits().strike(ip, std::time::Instant::now());
    }
    assert_eq!(ban, Some(Duration::from_secs(30)), "3 strikes ban for 30 s");

    let mut s = connect_from("127.0.0.1", gw.addr).await;
    // The answer comes without a request being sent.
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(
        text.starts_with("http/1.1 429 "),
        "expected 429, got {text:?}"
    );
    let retry: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {text:?}"));
    assert!((28..=30).contains(&retry), "Retry-After {retry}");
    assert!(closed, "closed after the 429");
    assert_eq!(refused(&gw, "banned"), 1);

    let mut other = connect_from("127.0.0.2", gw.addr).await;
    let (status, _) = healthz(&mut other)
        .await
        .expect("other addresses are served");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_with_connections_open_returns_within_the_drain_grace() {
    let gw = gateway("header_timeout_ms = 60000").await;
    let mut idle = TcpStream::connect(gw.addr).await.expect("connect");
    let (status, _) = healthz(&mut idle).await.expect("served");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let silent = TcpStream::connect(gw.addr).await.expect("connect");
    let mut half = TcpStream::connect(gw.addr).await.expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: e")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    gw.stop().await;
    let took = started.elapsed();
    let bound = sightline::edge::DRAIN_GRACE + Duration::from_secs(5);
    assert!(took < bound, "stop took {took:?} (bound {bound:?})");
    assert_closed_unanswered(
        &mut idle,
        Duration::from_secs(1),
        "idle keep-alive at shutdown",
    )
    .await;
    drop(silent);
}
