//! TURN with ephemeral credentials against a real coturn (Debian `coturn`, started here with `use-auth-secret` on
//! loopback): the viewer page in Chromium, allowed relay candidates only, plays the H.264 stream through the relay
//! with the credential its `welcome` carried; a credential signed with the wrong secret and an expired one gather
//! no relay candidate, and coturn logs the 401 for each. With `[turn] server_side` the gateway's own peer
//! allocates a relay with its own credential. WHEP's `Link` headers carry a credential too. The secret is never in
//! `welcome`, the `Link` headers or the gateway's log.
//!
//! Run: `cargo test -p sightline --test turn -- --nocapture`

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::clients::{WsClient, WsEvent};
use common::{GatewayProcess, VIEW_TOKEN, last_json, run_node, synthetic_config, tempdir::TempDir};
use serde_json::json;

/// coturn's `static-auth-secret` and the gateway's `[turn] secret`.
const SECRET: &str = "turn-test-secret-0123456789";
/// `[turn] ttl_s` of the test gateway.
const TTL_S: u64 = 600;
/// Frames the page must decode through the relay (the synthetic screen runs at 30 fps; the case plays ≥ 3 s).
const MIN_FRAMES: u64 = 30;

/// A coturn process on a free loopback port, its configuration and log in a temp dir; killed on drop.
struct Coturn {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

/// A port free for both UDP and TCP on loopback (coturn listens on both).
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// Whether a STUN Binding request to `port` gets an answer (RFC 5389: type 0x0001, length 0, magic cookie).
fn stun_answers(port: u16) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(b"sightline-tx");
    let _ = sock.send_to(&req, ("127.0.0.1", port));
    let mut buf = [0u8; 512];
    matches!(sock.recv(&mut buf), Ok(n) if n >= 20 && buf[0..2] == [0x01, 0x01])
}

impl Coturn {
    fn start() -> Self {
        common::ensure_test_deps();
        let dir = TempDir::new();
        let port = free_port();
        let log = dir.path().join("turn.log");
        // Loopback only; coturn's own TLS/DTLS and admin CLI off; relaying to loopback peers (the gateway) allowed,
        // which only a test may do.
        let conf = format!(
            "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port={port}\n\
             use-auth-secret\nstatic-auth-secret={SECRET}\nrealm=sightline.test\n\
             no-tls\nno-dtls\nno-cli\nallow-loopback-peers\nfingerprint\n\
             log-file={}\nsimple-log\nverbose\npidfile={}\n",
            log.display(),
            dir.path().join("turn.pid").display(),
        );
        let conf_path = dir.path().join("turnserver.conf");
        std::fs::write(&conf_path, conf).expect("write turnserver.conf");
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(&conf_path)
            .arg(format!("--db={}", dir.path().join("turndb").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start turnserver (scripts/install-deps.sh --test installs coturn): {e}"
                )
            });
        let mut me = Self {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !stun_answers(port) {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("turnserver exited with {status}; log:\n{}", me.log());
            }
            assert!(
                Instant::now() < deadline,
                "turnserver did not answer STUN on 127.0.0.1:{port} within 10 s; log:\n{}",
                me.log()
            );
        }
        me
    }

    fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(turn: &Coturn, extra: &str) -> GatewayProcess {
    GatewayProcess::start(&synthetic_config(&format!(
        "synthetic_size = \"640x360\"\n[turn]\nurls = [\"{}\"]\nsecret = \"{SECRET}\"\nttl_s = {TTL_S}\n{extra}",
        turn.url()
    )))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The expiry of a `"<expiry>:<user>"` TURN user name.
fn expiry_of(username: &str) -> u64 {
    username
        .split_once(':')
        .and_then(|(e, _)| e.parse().ok())
        .unwrap_or_else(|| panic!("{username:?} is not <expiry>:<user>"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_plays_through_the_relay_and_bad_credentials_do_not_relay() {
    let turn = Coturn::start();
    let gw = gateway(&turn, "");

    // welcome: the relay with this session's credential, never the secret.
    let (ws, welcome) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    assert!(
        !welcome.to_string().contains(SECRET),
        "welcome carries the secret: {welcome}"
    );
    let session = welcome["session"].as_str().expect("session").to_owned();
    let entry = welcome["ice_servers"]
        .as_array()
        .expect("ice_servers")
        .iter()
        .find(|s| s["urls"] == json!([turn.url()]))
        .unwrap_or_else(|| panic!("no TURN entry in {}", welcome["ice_servers"]))
        .clone();
    let username = entry["username"].as_str().expect("username");
    assert_eq!(
        username.split_once(':').map(|(_, u)| u),
        Some(session.as_str())
    );
    let expires_in = expiry_of(username).abs_diff(unix_now() + TTL_S);
    assert!(expires_in <= 5, "expiry {username} is not now + {TTL_S} s");
    assert_eq!(
        entry["credential"].as_str(),
        Some(sightline::turn::credential(SECRET.as_bytes(), username).as_str())
    );
    ws.close().await;

    // The page: welcome's credential; one signed with another secret; one that expired a minute ago.
    let wrong_user = format!("{}:wrong-secret", unix_now() + TTL_S);
    let expired_user = format!("{}:expired", unix_now() - 60);
    let cases = json!([
        {"name": "ok"},
        {"name": "wrong", "username": wrong_user,
         "credential": sightline::turn::credential(b"not-the-turn-secret", &wrong_user)},
        {"name": "expired", "username": expired_user,
         "credential": sightline::turn::credential(SECRET.as_bytes(), &expired_user)},
    ]);
    let out = run_node(
        "turn_relay.mjs",
        &[
            "--base",
            &gw.base,
            "--token",
            VIEW_TOKEN,
            "--cases",
            &cases.to_string(),
        ],
        Duration::from_secs(90),
    );
    let r = last_json(&out);
    eprintln!("turn_relay: {r:#}");
    let log = turn.log();

    let ok = &r["ok"];
    assert!(
        ok["policy"]
            .as_array()
            .is_some_and(|p| !p.is_empty() && p.iter().all(|p| p == "relay")),
        "the page's peers were not relay-only: {ok}"
    );
    let sel = &ok["selected"];
    assert_eq!(sel["local"]["type"], "relay", "selected pair {sel}");
    assert_eq!(sel["local"]["address"], "127.0.0.1", "relay address {sel}");
    assert_eq!(sel["state"], "succeeded", "selected pair {sel}");
    let frames = ok["framesDecoded"].as_u64().unwrap_or(0);
    assert!(
        frames > MIN_FRAMES,
        "{frames} frames decoded through the relay"
    );
    let page_user = ok["turnServers"][0][0]["username"]
        .as_str()
        .unwrap_or_else(|| panic!("the page had no TURN server: {ok}"));
    assert!(
        log.contains(&format!(
            "user <{page_user}>: incoming packet ALLOCATE processed, success"
        )),
        "coturn did not allocate for {page_user}; log:\n{log}"
    );
    assert!(
        log.contains("CHANNEL_BIND processed, success")
            || log.contains("CREATE_PERMISSION processed, success"),
        "the relay was never given a peer; log:\n{log}"
    );

    for (name, user) in [("wrong", &wrong_user), ("expired", &expired_user)] {
        let c = &r[name];
        let relays = c["candidateTypes"]
            .as_array()
            .expect("candidate types")
            .iter()
            .filter(|t| *t == "relay")
            .count();
        assert_eq!(
            relays, 0,
            "{name}: relay candidates with a bad credential: {c}"
        );
        assert_ne!(c["connectionState"], "connected", "{name}: {c}");
        assert!(
            !c["states"]
                .as_array()
                .is_some_and(|s| s.contains(&json!("connected"))),
            "{name}: connected without a relay: {c}"
        );
        assert_eq!(c["framesDecoded"].as_u64(), Some(0), "{name}: {c}");
        assert!(
            log.contains(&format!(
                "user <{user}>: incoming packet message processed, error 401"
            )),
            "{name}: coturn did not refuse {user} with 401; log:\n{log}"
        );
        assert!(
            !log.contains(&format!(
                "user <{user}>: incoming packet ALLOCATE processed, success"
            )),
            "{name}: coturn allocated for {user}"
        );
    }

    // WHEP: the 201's `Link` header names the relay with a credential of its own, never the secret.
    let whep = &r["whep"];
    assert_eq!(whep["status"], 201, "WHEP answer: {whep}");
    let link = whep["link"].as_str().unwrap_or_default();
    assert!(
        !link.contains(SECRET),
        "WHEP Link carries the secret: {link}"
    );
    let quoted = |attr: &str| {
        link.split(&format!("{attr}=\"")[..])
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no {attr} in WHEP Link {link:?}"))
            .to_owned()
    };
    assert!(
        link.contains(&format!("<{}>; rel=\"ice-server\"", turn.url())),
        "WHEP Link {link:?}"
    );
    let (user, cred) = (quoted("username"), quoted("credential"));
    assert!(
        expiry_of(&user).abs_diff(unix_now() + TTL_S) <= 30,
        "{user}"
    );
    assert_eq!(cred, sightline::turn::credential(SECRET.as_bytes(), &user));
    assert!(link.contains("credential-type=\"password\""), "{link}");

    assert!(
        !gw.stderr().contains(SECRET),
        "the gateway logged the secret"
    );
    gw.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_side_relay_uses_its_own_credential() {
    let turn = Coturn::start();
    let gw = gateway(&turn, "server_side = true\n");
    let (mut ws, _) = WsClient::authed(&gw.ws_url(), VIEW_TOKEN).await;
    ws.send(json!({"type":"watch","screen":"0","transport":"webrtc"}))
        .await;
    let offer = ws.expect_type("offer").await;
    let mut candidates: Vec<String> = offer["sdp"]
        .as_str()
        .expect("sdp")
        .lines()
        .filter_map(|l| l.strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(str::to_owned)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !candidates.iter().any(|c| c.contains("typ relay")) && Instant::now() < deadline {
        if let Some(WsEvent::Json(v)) = ws.next_timeout(Duration::from_millis(200)).await
            && v["type"] == "candidate"
        {
            candidates.push(v["candidate"].as_str().unwrap_or_default().to_owned());
        }
    }
    let relay = candidates
        .iter()
        .find(|c| c.contains("typ relay"))
        .unwrap_or_else(|| panic!("the gateway gathered no relay candidate: {candidates:?}"));
    assert!(relay.contains("127.0.0.1"), "{relay}");
    let log = turn.log();
    let allocated: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("incoming packet ALLOCATE processed, success"))
        .filter_map(|l| l.split("user <").nth(1)?.split('>').next())
        .collect();
    let user = allocated
        .iter()
        .find(|u| u.ends_with(&format!(":{}", sightline::turn::GATEWAY_USER)))
        .unwrap_or_else(|| panic!("no allocation by the gateway's user; log:\n{log}"));
    assert!(
        expiry_of(user).abs_diff(unix_now() + TTL_S) <= 15,
        "the gateway's credential {user} does not expire in {TTL_S} s"
    );
    ws.close().await;
    gw.stop();
}
