//! The WebRTC peer against an independent WebRTC stack: aiortc (Python) with FFmpeg decoding.
//!
//! Each test starts `tests/e2e/aiortc_peer.py` (protocol documented at its top), negotiates with a real
//! `sightline::peer::Peer`, and checks what the *receiver* saw: decoded frames at the right size, a keyframe
//! after a PLI, data-channel messages both ways, and that closing or failing leaves no task alive in the
//! monitor. Timings (connected, first frame, data-channel round trip) are printed, not asserted.
//!
//! The H.264 comes from FFmpeg's libx264 (constrained baseline, Annex-B) split into access units: one IDR per
//! clip loop, so a keyframe seen by the receiver right after a request is one the request produced.
//!
//! Run: `cargo test -p sightline --test peer_aiortc -- --nocapture` (needs ffmpeg and the aiortc venv, which
//! `scripts/install-deps.sh --test` installs; the tests call it). The helpers live in `tests/common/aiortc.rs`.

#[path = "common/aiortc.rs"]
mod aiortc;
mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use aiortc::{
    Aiortc, ClipFeed, EngineFeed, STEP_TIMEOUT, assert_no_tasks_left, candidate_cmd, clip,
    epoch_ms, event_ms, lifecycle_history, monitor, ms, next_peer_event, open_conn,
    print_breakdown, udp_rcvbuf_errors,
};
use serde_json::json;
use sightline::peer::{CandidateInit, Peer, PeerConfig, PeerError, PeerEvent};

/// Offer flow (WS /ws): sightline offers, aiortc answers with trickled candidates both ways; video decodes
/// at the clip's size, a PLI produces an IDR, the control channel works both ways, close cleans up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_flow_streams_decodable_video_to_aiortc() {
    let clip = clip(1280, 720, 300, false);
    let (feed, feed_stats) = ClipFeed::new(clip.clone());
    let monitor = monitor();
    let conn = open_conn(&monitor);
    let mut aiortc = Aiortc::start().await;

    let t0 = Instant::now();
    let t0_ms = epoch_ms(SystemTime::now());
    let (peer, mut events, offer) =
        Peer::offer(&PeerConfig::default(), feed, conn.clone(), &monitor)
            .await
            .expect("offer");
    assert!(offer.contains("H264/90000") && offer.contains("a=sendonly"));
    assert!(
        offer.contains("webrtc-datachannel"),
        "offer has the control channel"
    );
    assert!(
        offer.contains("http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"),
        "offer proposes the playout-delay extension (zero delay for browsers)"
    );
    assert!(
        offer.contains("transport-cc")
            && offer.contains(
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
            ),
        "offer negotiates transport-wide congestion control feedback"
    );

    aiortc.send(json!({"cmd": "offer", "sdp": offer})).await;
    let answer = aiortc.wait_for("answer").await;
    peer.set_answer(answer["sdp"].as_str().expect("answer sdp"))
        .await
        .expect("set_answer");

    // Trickle our candidates until connected; the control channel opens right after.
    let mut connected_at = None;
    let mut control_open = false;
    let mut control_open_at = Duration::ZERO;
    let mut candidates = 0;
    while connected_at.is_none() || !control_open {
        match next_peer_event(&mut events).await {
            PeerEvent::LocalCandidate(c) => {
                if c.is_some() {
                    candidates += 1;
                }
                aiortc.send(candidate_cmd(c)).await;
            }
            PeerEvent::Connected => connected_at = Some(t0.elapsed()),
            PeerEvent::ControlOpen => {
                control_open = true;
                control_open_at = t0.elapsed();
            }
            PeerEvent::KeyframeRequested => {}
            other => panic!("unexpected event before connected: {other:?}"),
        }
    }
    assert!(
        candidates >= 1,
        "at least the 127.0.0.1 host candidate was trickled"
    );

    let first = aiortc.wait_for("frame").await;
    let first_frame_ms = event_ms(&first, t0_ms);
    assert_eq!(first["key"], true, "the first decoded frame is a keyframe");
    print_breakdown(&monitor, &conn, &mut aiortc, t0_ms).await;
    assert_eq!(first["width"], clip.width);
    assert_eq!(first["height"], clip.height);

    // Let it run: every decoded frame has the clip's size.
    let mut decoded = 1;
    while decoded < 45 {
        let f = aiortc.wait_for("frame").await;
        assert_eq!(
            (f["width"].clone(), f["height"].clone()),
            (json!(clip.width), json!(clip.height))
        );
        decoded += 1;
    }

    // PLI from aiortc → KeyframeRequested → the feed forces an IDR → aiortc decodes a keyframe.
    let requests_before = feed_stats.requests.load(Ordering::Relaxed);
    let forced_before = feed_stats.forced_idrs.load(Ordering::Relaxed);
    aiortc.send(json!({"cmd": "pli"})).await;
    aiortc.wait_for("pli_sent").await;
    let pli_sent = Instant::now();
    loop {
        match next_peer_event(&mut events).await {
            PeerEvent::KeyframeRequested => break,
            PeerEvent::LocalCandidate(_) | PeerEvent::Network(_) => {}
            other => panic!("unexpected event waiting for the keyframe request: {other:?}"),
        }
    }
    let keyframe_after_pli = loop {
        let f = aiortc.wait_for("frame").await;
        if f["key"] == true {
            break pli_sent.elapsed();
        }
    };
    assert!(feed_stats.requests.load(Ordering::Relaxed) > requests_before);
    assert!(feed_stats.forced_idrs.load(Ordering::Relaxed) > forced_before);

    // Control channel, client → gateway.
    aiortc
        .send(json!({"cmd": "send", "text": "hello from aiortc"}))
        .await;
    loop {
        match next_peer_event(&mut events).await {
            PeerEvent::Control(text) => {
                assert_eq!(text, "hello from aiortc");
                break;
            }
            PeerEvent::KeyframeRequested | PeerEvent::LocalCandidate(_) => {}
            other => panic!("unexpected event waiting for a control message: {other:?}"),
        }
    }
    // Gateway → client → gateway (aiortc echoes "echo:" messages): round trip.
    let mut round_trips = Vec::new();
    for i in 0..10 {
        let text = format!("echo:ping-{i}");
        let sent = Instant::now();
        peer.send_control(text.clone()).await.expect("send_control");
        loop {
            match next_peer_event(&mut events).await {
                PeerEvent::Control(back) if back == text => break,
                PeerEvent::Control(other) => panic!("unexpected control message {other:?}"),
                _ => {}
            }
        }
        round_trips.push(ms(sent.elapsed()));
    }
    round_trips.sort_by(f64::total_cmp);

    // Counters come from the stats task (once a second).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let detail = monitor.connection(conn.id()).expect("connection detail");
    let c = &detail.summary.counters;
    assert!(c.bytes_sent > 20_000, "bytes_sent {}", c.bytes_sent);
    assert!(c.packets_sent > 100, "packets_sent {}", c.packets_sent);
    assert!(c.frames_sent >= 45, "frames_sent {}", c.frames_sent);
    assert!(c.keyframes_sent >= 2, "keyframes_sent {}", c.keyframes_sent);
    assert!(c.pli_received >= 1, "pli_received {}", c.pli_received);
    assert!(c.fps > 0.0 && c.bitrate_kbps > 0.0, "rates {c:?}");
    assert!(
        detail
            .data_channels
            .iter()
            .any(|d| d.label == "control" && d.state == "open"),
        "{:?}",
        detail.data_channels
    );
    assert!(
        detail
            .tracks
            .iter()
            .any(|t| t.kind == "video" && t.state == "live")
    );
    assert!(
        detail.drops.get("not_connected").copied().unwrap_or(0) > 0,
        "frames before connecting are counted as dropped: {:?}",
        detail.drops
    );

    aiortc.send(json!({"cmd": "stats"})).await;
    let stats = aiortc.wait_for("stats").await;
    eprintln!(
        "offer flow 1280x720: connected {:.1} ms, control channel open {:.1} ms, first frame {:.1} ms after Peer::offer; keyframe {:.1} ms after \
         PLI; data channel round trip median {:.2} ms (max {:.2}); aiortc decoded {} frames ({} key), \
         counters {:?}",
        ms(connected_at.unwrap()),
        ms(control_open_at),
        first_frame_ms,
        ms(keyframe_after_pli),
        round_trips[round_trips.len() / 2],
        round_trips[round_trips.len() - 1],
        stats["frames"],
        stats["keyframes"],
        c
    );
    assert_eq!(stats["decode_errors"], 0);

    peer.close().await;
    assert!(peer.is_closed());
    let mut saw_closed = false;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        saw_closed |= e == PeerEvent::Closed;
    }
    assert!(saw_closed, "PeerEvent::Closed after close()");
    assert_no_tasks_left(&monitor, &conn).await;
    assert_eq!(
        lifecycle_history(&monitor, &conn),
        ["new", "connecting", "connected", "closed"]
    );
    let ops: Vec<String> = monitor
        .connection(conn.id())
        .unwrap()
        .operations
        .into_iter()
        .map(|o| o.kind)
        .collect();
    for kind in [
        "create_offer",
        "set_local_description",
        "set_remote_description",
        "close",
    ] {
        assert!(
            ops.iter().any(|k| k == kind),
            "operation {kind} recorded: {ops:?}"
        );
    }
    // Closing again is a no-op; calls after close fail cleanly.
    peer.close().await;
    assert!(matches!(
        peer.send_control("late".into()).await,
        Err(PeerError::ControlNotOpen | PeerError::Closed)
    ));
    assert!(matches!(
        peer.add_remote_candidate(CandidateInit::default()).await,
        Err(PeerError::Closed)
    ));
    aiortc.close().await;
    assert_eq!(monitor.summary().leaked, 0);
}

/// The real pipeline: media's synthetic screen (1080p, capture-time barcode) → openh264 through the Engine →
/// the peer → aiortc. The barcode read back from every decoded frame gives capture-to-decode latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_synthetic_screen_to_aiortc() {
    let monitor = monitor();
    let desktop: Arc<dyn sightline_media::Desktop> = Arc::new(
        sightline_media::synthetic::SyntheticDesktop::new(1920, 1080),
    );
    let engine = sightline_media::engine::Engine::new(
        desktop,
        sightline_media::engine::EngineConfig::default(),
        monitor.clone(),
    );
    let sub = engine
        .subscribe_video("0", sightline_media::engine::VideoProfile::default())
        .expect("subscribe to the synthetic screen");
    let conn = open_conn(&monitor);
    let mut aiortc = Aiortc::start().await;

    let t0 = Instant::now();
    let t0_ms = epoch_ms(SystemTime::now());
    let (peer, mut events, offer) = Peer::offer(
        &PeerConfig::default(),
        EngineFeed(sub),
        conn.clone(),
        &monitor,
    )
    .await
    .expect("offer");
    aiortc.send(json!({"cmd": "offer", "sdp": offer})).await;
    let answer = aiortc.wait_for("answer").await;
    peer.set_answer(answer["sdp"].as_str().unwrap())
        .await
        .expect("set_answer");
    let connected_at = loop {
        match next_peer_event(&mut events).await {
            PeerEvent::LocalCandidate(c) => aiortc.send(candidate_cmd(c)).await,
            PeerEvent::Connected => break t0.elapsed(),
            _ => {}
        }
    };
    let first = aiortc.wait_for("frame").await;
    let first_frame_ms = event_ms(&first, t0_ms);
    print_breakdown(&monitor, &conn, &mut aiortc, t0_ms).await;
    assert_eq!(first["key"], true);
    assert_eq!(
        (first["width"].clone(), first["height"].clone()),
        (json!(1920), json!(1080))
    );
    let mut latencies = Vec::new();
    let mut unreadable = 0;
    for _ in 0..90 {
        let f = aiortc.wait_for("frame").await;
        assert_eq!(f["width"], 1920);
        match f["barcode_ms"].as_u64() {
            Some(captured) => latencies.push(f["t_ms"].as_u64().unwrap() as f64 - captured as f64),
            None => unreadable += 1,
        }
    }
    assert!(
        latencies.len() >= 80,
        "the synthetic screen's barcode is readable in decoded frames ({unreadable} of 90 unreadable)"
    );
    latencies.sort_by(f64::total_cmp);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let c = monitor.connection(conn.id()).unwrap().summary.counters;
    eprintln!(
        "engine 1920x1080 synthetic → aiortc: connected {:.1} ms, first frame {:.1} ms after Peer::offer; \
         capture→decoded latency median {:.0} ms, p90 {:.0} ms, max {:.0} ms (aiortc in Python, same host); \
         {:.0} kbit/s, {:.1} fps, RTT {:?} ms",
        ms(connected_at),
        first_frame_ms,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 9 / 10],
        latencies[latencies.len() - 1],
        c.bitrate_kbps,
        c.fps,
        c.rtt_ms,
    );
    peer.close().await;
    assert_no_tasks_left(&monitor, &conn).await;
    engine.shutdown();
    aiortc.close().await;
}

/// Answer flow (WHEP): aiortc offers recvonly video plus a control channel; sightline answers with its
/// candidates inside; video decodes and the client-created control channel works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_flow_whep_style() {
    let clip = clip(640, 360, 300, false);
    let (feed, _stats) = ClipFeed::new(clip.clone());
    let monitor = monitor();
    let conn = open_conn(&monitor);
    let mut aiortc = Aiortc::start().await;

    aiortc
        .send(json!({"cmd": "create_offer", "datachannel": true}))
        .await;
    let offer = aiortc.wait_for("offer").await;
    let t0 = Instant::now();
    let t0_ms = epoch_ms(SystemTime::now());
    let (peer, mut events, answer) = Peer::answer(
        &PeerConfig::default(),
        offer["sdp"].as_str().unwrap(),
        feed,
        conn.clone(),
        &monitor,
    )
    .await
    .expect("answer");
    let answered_in = t0.elapsed();
    assert!(
        answer.contains("a=candidate:"),
        "non-trickle answer carries candidates:\n{answer}"
    );
    assert!(answer.contains("a=sendonly"), "we send video:\n{answer}");
    aiortc.send(json!({"cmd": "answer", "sdp": answer})).await;

    let mut connected_at = None;
    let mut control_open = false;
    while connected_at.is_none() || !control_open {
        match next_peer_event(&mut events).await {
            PeerEvent::Connected => connected_at = Some(t0.elapsed()),
            PeerEvent::ControlOpen => control_open = true,
            PeerEvent::KeyframeRequested => {}
            other => panic!("unexpected event: {other:?}"),
        }
    }
    let first = aiortc.wait_for("frame").await;
    let first_frame_ms = event_ms(&first, t0_ms);
    assert_eq!(first["key"], true);
    assert_eq!(
        (first["width"].clone(), first["height"].clone()),
        (json!(640), json!(360))
    );
    for _ in 0..20 {
        let f = aiortc.wait_for("frame").await;
        assert_eq!(f["width"], 640);
    }
    aiortc.send(json!({"cmd": "send", "text": "input"})).await;
    loop {
        if let PeerEvent::Control(t) = next_peer_event(&mut events).await {
            assert_eq!(t, "input");
            break;
        }
    }
    peer.send_control("ack".into()).await.expect("send_control");
    let msg = aiortc.wait_for("dc_message").await;
    assert_eq!(msg["text"], "ack");
    eprintln!(
        "answer flow 640x360: answer ready {:.1} ms, connected {:.1} ms, first frame {:.1} ms after Peer::answer",
        ms(answered_in),
        ms(connected_at.unwrap()),
        first_frame_ms
    );

    // A second offer-side call is refused: this peer answered.
    assert!(matches!(
        peer.set_answer("v=0").await,
        Err(PeerError::WrongState(_))
    ));
    peer.close().await;
    assert_no_tasks_left(&monitor, &conn).await;
    assert_eq!(
        lifecycle_history(&monitor, &conn),
        ["new", "connecting", "connected", "closed"]
    );
    aiortc.close().await;
}

/// An offer that cannot take our video is refused with a clear error and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_refuses_an_offer_without_h264() {
    let clip = clip(640, 360, 300, false);
    let monitor = monitor();
    let mut aiortc = Aiortc::start().await;
    aiortc
        .send(json!({"cmd": "create_offer", "datachannel": false}))
        .await;
    let offer = aiortc.wait_for("offer").await;
    let vp8_only = offer["sdp"]
        .as_str()
        .unwrap()
        .replace("H264/90000", "VP9/90000");
    let conn = open_conn(&monitor);
    let (feed, _) = ClipFeed::new(clip);
    let err = Peer::answer(
        &PeerConfig::default(),
        &vp8_only,
        feed,
        conn.clone(),
        &monitor,
    )
    .await
    .expect_err("an offer without H.264 is refused");
    assert!(matches!(err, PeerError::NoH264("offer")), "{err:?}");
    assert!(err.to_string().contains("H.264"), "{err}");
    assert!(conn.is_closed());
    assert_no_tasks_left(&monitor, &conn).await;
    aiortc.close().await;
}

/// The remote vanishes before ICE completes: checks fail, the peer reports `Failed`, tears itself down and
/// leaves no task behind — without anyone calling `close()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_failure_tears_the_peer_down() {
    let clip = clip(640, 360, 300, false);
    let (feed, _) = ClipFeed::new(clip);
    let monitor = monitor();
    let conn = open_conn(&monitor);
    let mut aiortc = Aiortc::start().await;
    let (peer, mut events, offer) =
        Peer::offer(&PeerConfig::default(), feed, conn.clone(), &monitor)
            .await
            .expect("offer");
    aiortc.send(json!({"cmd": "offer", "sdp": offer})).await;
    let answer = aiortc.wait_for("answer").await;
    // The answerer is gone before any check reaches it: its candidates point at closed ports.
    aiortc.child.kill().await.expect("kill aiortc");
    let t0 = Instant::now();
    peer.set_answer(answer["sdp"].as_str().unwrap())
        .await
        .expect("set_answer");
    let failed = loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("the peer reports failure")
            .expect("events open")
        {
            PeerEvent::Failed(text) => break text,
            PeerEvent::LocalCandidate(_) | PeerEvent::Network(_) => {}
            other => panic!("unexpected event: {other:?}"),
        }
    };
    assert!(!failed.is_empty());
    assert_eq!(next_peer_event(&mut events).await, PeerEvent::Closed);
    eprintln!(
        "ice failure detected {:.0} ms after set_answer: {failed}",
        ms(t0.elapsed())
    );
    assert_no_tasks_left(&monitor, &conn).await;
    assert!(conn.is_closed());
    assert_eq!(
        lifecycle_history(&monitor, &conn)
            .last()
            .map(String::as_str),
        Some("closed")
    );
    assert_eq!(
        monitor
            .connection(conn.id())
            .unwrap()
            .summary
            .close_reason
            .as_deref(),
        Some("ice failed")
    );
    drop(peer);
}

/// Dropping a peer without `close()` still ends all its tasks and closes its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_peer_cleans_up() {
    let clip = clip(640, 360, 300, false);
    let (feed, _) = ClipFeed::new(clip);
    let monitor = monitor();
    let conn = open_conn(&monitor);
    let (peer, _events, _offer) = Peer::offer(&PeerConfig::default(), feed, conn.clone(), &monitor)
        .await
        .expect("offer");
    assert!(
        monitor
            .tasks()
            .live
            .iter()
            .filter(|t| t.owner == conn.owner())
            .count()
            >= 4,
        "driver, media, stats and webrtc-driver are registered: {:?}",
        monitor
            .tasks()
            .live
            .iter()
            .map(|t| &t.name)
            .collect::<Vec<_>>()
    );
    drop(peer);
    assert_no_tasks_left(&monitor, &conn).await;
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !conn.is_closed() {
        assert!(Instant::now() < deadline, "connection closed after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A session manager that stops reading events (a full event queue) cannot keep the peer from closing: the
/// driver stops waiting for room when the peer shuts down, and teardown completes normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_event_queue_does_not_block_close() {
    let clip = clip(640, 360, 300, false);
    let (feed, _) = ClipFeed::new(clip);
    let monitor = monitor();
    let conn = open_conn(&monitor);
    let mut aiortc = Aiortc::start().await;
    let (peer, mut events, offer) =
        Peer::offer(&PeerConfig::default(), feed, conn.clone(), &monitor)
            .await
            .expect("offer");
    aiortc.send(json!({"cmd": "offer", "sdp": offer})).await;
    let answer = aiortc.wait_for("answer").await;
    peer.set_answer(answer["sdp"].as_str().unwrap())
        .await
        .unwrap();
    let mut open = false;
    while !open {
        match next_peer_event(&mut events).await {
            PeerEvent::LocalCandidate(c) => aiortc.send(candidate_cmd(c)).await,
            PeerEvent::ControlOpen => open = true,
            _ => {}
        }
    }
    // Far more messages than the event queue holds, and nobody reads them.
    for i in 0..(3 * sightline::peer::PEER_EVENT_CAPACITY) {
        aiortc
            .send(json!({"cmd": "send", "text": format!("m{i}")}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    peer.close().await;
    assert_no_tasks_left(&monitor, &conn).await;
    let closed = monitor.connection(conn.id()).unwrap().summary;
    assert_eq!(
        closed.close_reason.as_deref(),
        Some("closed"),
        "a normal teardown, not the timeout fallback"
    );
    drop(events);
    aiortc.close().await;
}

/// A configuration that cannot work fails the offer with a clear error and leaves nothing behind: an invalid
/// one before anything is built, an address that is not local when webrtc-rs binds its socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_failures_leave_nothing_behind() {
    let clip = clip(640, 360, 300, false);
    let monitor = monitor();
    for (cfg, invalid) in [
        (
            PeerConfig {
                udp_addrs: vec!["not an address".into()],
                ..Default::default()
            },
            true,
        ),
        (
            // TEST-NET-1: never assigned to this host, so the bind fails.
            PeerConfig {
                udp_addrs: vec!["192.0.2.1:0".into()],
                ..Default::default()
            },
            false,
        ),
    ] {
        let conn = open_conn(&monitor);
        let (feed, _) = ClipFeed::new(clip.clone());
        let err = Peer::offer(&cfg, feed, conn.clone(), &monitor)
            .await
            .expect_err("this configuration cannot work");
        if invalid {
            assert!(matches!(err, PeerError::InvalidConfig(_)), "{err:?}");
        } else {
            assert!(matches!(err, PeerError::Setup(_)), "{err:?}");
            assert_eq!(err.to_string(), "could not set up the WebRTC connection");
        }
        assert!(conn.is_closed());
        assert_no_tasks_left(&monitor, &conn).await;
    }
    assert!(
        monitor
            .operations()
            .recent
            .iter()
            .any(|o| o.kind == "create_offer" && o.error.is_some()),
        "the failed create_offer is recorded with its cause"
    );
}

/// Bad input from a client gives errors, never a panic, and the peer keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_input_is_rejected_cleanly() {
    let clip = clip(640, 360, 300, false);
    let (feed, _) = ClipFeed::new(clip);
    let monitor = monitor();
    let conn = open_conn(&monitor);
    let (peer, _events, offer) = Peer::offer(&PeerConfig::default(), feed, conn.clone(), &monitor)
        .await
        .expect("offer");
    // A candidate before the answer.
    let early = CandidateInit {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    };
    assert!(matches!(
        peer.add_remote_candidate(early).await,
        Err(PeerError::WrongState(_))
    ));
    // mDNS candidates are ignored, not errors.
    let mdns = CandidateInit {
        candidate:
            "candidate:1 1 udp 2122260223 0a1b2c3d-0000-4000-8000-000000000000.local 9 typ host"
                .into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    };
    peer.add_remote_candidate(mdns).await.expect("mDNS ignored");
    for garbage in ["", "v=0", "hello", &"v=0\r\n".repeat(20_000)] {
        assert!(peer.set_answer(garbage).await.is_err(), "{garbage:.20}");
    }
    // Our own offer is not an acceptable answer (wrong direction: sendonly).
    assert!(peer.set_answer(&offer).await.is_err());
    let junk = CandidateInit {
        candidate: "candidate:garbage".into(),
        ..Default::default()
    };
    assert!(peer.add_remote_candidate(junk).await.is_err());
    assert!(matches!(
        peer.send_control("x".into()).await,
        Err(PeerError::ControlNotOpen)
    ));
    peer.close().await;
    assert_no_tasks_left(&monitor, &conn).await;
    assert_eq!(monitor.summary().leaked, 0);
}

/// Pacing, measured: a 1080p stream with large keyframes to aiortc, with and without the pacer, with the
/// receiver's default socket buffer and with a small one (64 KB effective, a constrained receiver). Prints
/// how long each keyframe's packets took to arrive, PLI→keyframe decode time, NACKs and the kernel's UDP
/// receive-buffer drops. Figures only: the outcome depends on the machine's load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_keyframe_bursts_figures() {
    let clip = clip(1920, 1080, 60, true);
    let idr_bytes = clip.units[0].0.len();
    for rcvbuf in [None, Some(32 * 1024)] {
        for pacing_bps in [0u64, PeerConfig::default().pacing_bps] {
            let (feed, _stats) = ClipFeed::new(clip.clone());
            let monitor = monitor();
            let conn = open_conn(&monitor);
            let rcvbuf_arg = rcvbuf.map(|b: usize| b.to_string());
            let args: Vec<&str> = match &rcvbuf_arg {
                Some(b) => vec!["--rcvbuf", b.as_str()],
                None => vec![],
            };
            let mut aiortc = Aiortc::start_with(&args).await;
            let cfg = PeerConfig {
                pacing_bps,
                ..Default::default()
            };
            let (peer, mut events, offer) = Peer::offer(&cfg, feed, conn.clone(), &monitor)
                .await
                .expect("offer");
            aiortc.send(json!({"cmd": "offer", "sdp": offer})).await;
            let answer = aiortc.wait_for("answer").await;
            peer.set_answer(answer["sdp"].as_str().unwrap())
                .await
                .unwrap();
            loop {
                match next_peer_event(&mut events).await {
                    PeerEvent::LocalCandidate(c) => aiortc.send(candidate_cmd(c)).await,
                    PeerEvent::Connected => break,
                    _ => {}
                }
            }
            aiortc.wait_for("frame").await;
            let rcvbuf_before = udp_rcvbuf_errors();
            let mut keyframe_ms = Vec::new();
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                aiortc.send(json!({"cmd": "pli"})).await;
                aiortc.wait_for("pli_sent").await;
                let sent = Instant::now();
                loop {
                    let f = aiortc.wait_for("frame").await;
                    if f["key"] == true {
                        keyframe_ms.push(ms(sent.elapsed()));
                        break;
                    }
                }
            }
            let drops = udp_rcvbuf_errors().saturating_sub(rcvbuf_before);
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let counters = monitor.connection(conn.id()).unwrap().summary.counters;
            let mut spreads: Vec<f64> = aiortc
                .take("burst")
                .iter()
                .filter_map(|b| b["spread_ms"].as_f64())
                .collect();
            spreads.sort_by(f64::total_cmp);
            keyframe_ms.sort_by(f64::total_cmp);
            eprintln!(
                "pacing {:>10}, receiver SO_RCVBUF {:>7}: IDR {} KB ≈ {} packets arrive over median {:.1} ms \
                 (n={}); PLI→keyframe decoded median {:.1} ms (max {:.1}); NACKs received {}; UDP RcvbufErrors \
                 +{} (system-wide)",
                if pacing_bps == 0 {
                    "off".to_owned()
                } else {
                    format!("{} Mbit/s", pacing_bps / 1_000_000)
                },
                rcvbuf.map_or("default".to_owned(), |b| format!("{}K", b / 1024)),
                idr_bytes / 1024,
                idr_bytes / 1188 + 1,
                spreads.get(spreads.len() / 2).copied().unwrap_or(f64::NAN),
                spreads.len(),
                keyframe_ms[keyframe_ms.len() / 2],
                keyframe_ms[keyframe_ms.len() - 1],
                counters.nack_received,
                drops,
            );
            peer.close().await;
            assert_no_tasks_left(&monitor, &conn).await;
            aiortc.close().await;
        }
    }
}
