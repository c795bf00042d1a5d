//! HTTPS on the listen address (a gateway on the synthetic screen; a rustls client that trusts only the expected
//! certificates):
//! - `self_signed = true` generates a certificate into `self_signed_dir`, serves it, and a second start serves
//!   the same one (same SHA-256 fingerprint); the binary prints that fingerprint and an `https://` ready line;
//! - certificate and key files are reloaded when they change, and a broken file keeps the served certificate;
//!   a missing file stops start-up with an error naming `tls.cert`;
//! - a plain-HTTP client or a stalled handshake on the TLS port is closed and counted as `tls_handshake`;
//! - `redirect_http` answers `308` to the same path over HTTPS;
//! - Chromium, trusting exactly this certificate (`--ignore-certificate-errors-spki-list`), loads the viewer over
//!   HTTPS, signals over `wss://` and plays H.264 (`tests/e2e/tls_viewer.mjs`).
//!
//! Run: `cargo test -p sightline --test tls -- --nocapture`

mod common;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tempdir::TempDir;
use common::{CONTROL_TOKEN, last_json, run_node};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use sightline::config::Config;
use sightline::edge::tls::{RELOAD_POLL, fingerprint};
use sightline::server::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn config_text(tls: &str) -> String {
    common::synthetic_config(&format!(
        "synthetic_size = \"1280x720\"\nfps = 30\n[tls]\n{tls}\n"
    ))
}

async fn gateway(tls: &str) -> anyhow::Result<Running> {
    let config = Config::parse(&config_text(tls)).map_err(anyhow::Error::msg)?;
    config.validate()?;
    sightline::server::start(config).await
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}

fn cert_der(pem_path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(pem_path)
        .unwrap_or_else(|e| panic!("{}: {e}", pem_path.display()))
}

/// A TLS 1.3 `GET path` to `addr` as `localhost`, trusting only `roots`: the status line and the served leaf.
async fn https_get(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
    path: &str,
) -> Result<(String, Vec<u8>), String> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).map_err(|e| format!("root: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| e.to_string())?
    .with_root_certificates(store)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("localhost").expect("server name");
    let mut tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map_err(|e| format!("handshake: {e}"))?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .expect("peer certificates")[0]
        .to_vec();
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    Ok((text.lines().next().unwrap_or_default().to_owned(), leaf))
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

/// `sightline serve` from the built binary until its ready line: (process, every stdout line up to it).
fn binary_until_ready(config: &str, dir: &Path) -> (std::process::Child, Vec<String>) {
    let path = dir.join("sightline.toml");
    std::fs::write(&path, config).expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .arg("--config")
        .arg(&path)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sightline");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let ready = line.contains("ready: open");
            lines.push(line);
            if ready {
                return (child, lines);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no ready line within 30 s; stdout: {lines:?}");
}

fn stop_binary(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .arg("-15")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the gateway did not exit within 15 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_generated_kept_and_served() {
    let dir = TempDir::new();
    let certs = dir.path().join("tls");
    let tls = format!(
        "self_signed = true\nself_signed_dir = \"{}\"\nself_signed_names = [\"viewer.test\"]",
        toml_path(&certs)
    );
    let first = gateway(&tls).await.expect("first start");
    assert_eq!(first.scheme, "https");
    let info = first.cert.clone().expect("certificate info");
    let file = cert_der(&certs.join("cert.pem"));
    assert_eq!(
        info.fingerprint,
        fingerprint(file.as_ref()),
        "printed = kept"
    );
    assert_eq!(info.fingerprint.len(), 95, "colon hex of 32 bytes");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(certs.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private: mode {mode:o}");
    }
    let (status, leaf) = https_get(first.addr, std::slice::from_ref(&file), "/healthz")
        .await
        .expect("HTTPS request trusting the kept certificate");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(fingerprint(&leaf), info.fingerprint, "served = kept");
    first.stop().await;

    let second = gateway(&tls).await.expect("second start");
    assert_eq!(
        second.cert.as_ref().map(|c| c.fingerprint.clone()),
        Some(info.fingerprint.clone()),
        "a restart keeps the certificate"
    );
    let (_, leaf) = https_get(second.addr, &[file], "/healthz")
        .await
        .expect("HTTPS after the restart");
    assert_eq!(fingerprint(&leaf), info.fingerprint);
    second.stop().await;

    // The binary prints the fingerprint, then an https:// ready line.
    let (child, lines) = binary_until_ready(&config_text(&tls), dir.path());
    let ready = lines.last().expect("ready line");
    assert!(ready.contains("ready: open https://"), "{ready}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("fingerprint") && l.contains(&info.fingerprint)),
        "the fingerprint is printed before the ready line: {lines:?}"
    );
    stop_binary(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_files_are_reloaded_and_a_broken_file_keeps_the_served_one() {
    let dir = TempDir::new();
    let cert = dir.path().join("fullchain.pem");
    let key = dir.path().join("privkey.pem");
    let make = || rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (a, b) = (make(), make());
    std::fs::write(&cert, a.cert.pem()).unwrap();
    std::fs::write(&key, a.signing_key.serialize_pem()).unwrap();
    let roots = [a.cert.der().clone(), b.cert.der().clone()];
    let fp_a = fingerprint(a.cert.der());
    let fp_b = fingerprint(b.cert.der());

    let tls = format!(
        "cert = \"{}\"\nkey = \"{}\"",
        toml_path(&cert),
        toml_path(&key)
    );
    let gw = gateway(&tls).await.expect("start with certificate files");
    let roots = &roots;
    let served = |gw_addr| async move {
        let (status, leaf) = https_get(gw_addr, roots, "/healthz").await?;
        if !status.starts_with("HTTP/1.1 200") {
            return Err(format!("status {status}"));
        }
        Ok::<String, String>(fingerprint(&leaf))
    };
    assert_eq!(served(gw.addr).await.expect("served"), fp_a);

    // Renewal: key and certificate replaced (in that order, as certbot's hooks may).
    std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
    std::fs::write(&cert, b.cert.pem()).unwrap();
    let deadline = Instant::now() + RELOAD_POLL * 5;
    loop {
        let now = served(gw.addr).await.expect("served during the swap");
        if now == fp_b {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still serving A {:?} after the files changed",
            RELOAD_POLL * 5
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A broken certificate file: the served one stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    tokio::time::sleep(RELOAD_POLL * 3).await;
    assert_eq!(served(gw.addr).await.expect("still served"), fp_b);

    // Plain HTTP on the TLS port, and a client that never starts its handshake: closed, counted.
    let before = refused(&gw, "tls_handshake");
    let mut plain = TcpStream::connect(gw.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), plain.read_to_end(&mut got)).await;
    assert!(
        closed.is_ok(),
        "plain HTTP on the TLS port still open after 3 s"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "plain HTTP was served on the TLS port"
    );
    assert_eq!(refused(&gw, "tls_handshake"), before + 1);
    gw.stop().await;

    // A missing file stops start-up, naming the key.
    let missing = format!(
        "cert = \"{}\"\nkey = \"{}\"",
        toml_path(&dir.path().join("nope.pem")),
        toml_path(&key)
    );
    let err = gateway(&missing)
        .await
        .expect_err("start-up with a missing certificate");
    assert!(format!("{err:#}").contains("tls.cert"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_closed_after_the_header_timeout() {
    let dir = TempDir::new();
    let tls = format!(
        "self_signed = true\nself_signed_dir = \"{}\"\n[limits]\nheader_timeout_ms = 700",
        toml_path(dir.path())
    );
    let gw = gateway(&tls).await.expect("start");
    let started = Instant::now();
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    let took = started.elapsed();
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "not closed: {r:?}");
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(2500),
        "closed after {took:?}, header timeout 700 ms"
    );
    assert_eq!(refused(&gw, "tls_handshake"), 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_http_answers_308_to_the_same_path_over_https() {
    let dir = TempDir::new();
    let tls = format!(
        "self_signed = true\nself_signed_dir = \"{}\"\nredirect_http = \"127.0.0.1:0\"",
        toml_path(dir.path())
    );
    let gw = gateway(&tls).await.expect("start");
    let redirect = gw.redirect_addr.expect("redirect listener");
    for method in ["GET", "POST"] {
        let mut s = TcpStream::connect(redirect).await.unwrap();
        s.write_all(
            format!(
                "{method} /monitor?x=1 HTTP/1.1\r\nHost: localhost:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                redirect.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
            .await
            .expect("answered and closed")
            .expect("read");
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 308 "), "{method}: {text:?}");
        let want = format!(
            "location: https://localhost:{}/monitor?x=1\r\n",
            gw.addr.port()
        );
        assert!(
            text.contains(&want),
            "{method}: expected {want:?} in {text:?}"
        );
    }
    // …and the target works.
    let kept = cert_der(&dir.path().join("cert.pem"));
    let (status, _) = https_get(gw.addr, &[kept], "/healthz")
        .await
        .expect("HTTPS");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_the_viewer_over_https() {
    let dir = TempDir::new();
    let tls = format!(
        "self_signed = true\nself_signed_dir = \"{}\"",
        toml_path(dir.path())
    );
    let gw = gateway(&tls).await.expect("start");
    let spki = gw.cert.as_ref().expect("certificate").spki_sha256.clone();
    let base = gw.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let out = tokio::task::spawn_blocking(move || {
        run_node(
            "tls_viewer.mjs",
            &["--base", &base, "--token", CONTROL_TOKEN, "--spki", &spki],
            Duration::from_secs(90),
        )
    })
    .await
    .expect("node task");
    let r = last_json(&out);
    eprintln!("tls_viewer: {r:#}");
    assert_eq!(r["protocol"], "https:");
    let sockets = r["webSockets"].as_array().expect("webSockets");
    assert!(!sockets.is_empty(), "the page opened no WebSocket");
    for s in sockets {
        assert!(
            s.as_str().is_some_and(|u| u.starts_with("wss://")),
            "a WebSocket not over TLS: {s}"
        );
    }
    assert_eq!(
        r["insecureRequests"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r["insecureRequests"]
    );
    assert_eq!(r["codec"], "video/H264");
    assert_eq!(r["frameSize"], "1280x720");
    let fps = r["fps"].as_f64().expect("fps");
    assert!(
        fps >= 15.0,
        "decoded {fps:.1} fps over HTTPS-signalled WebRTC"
    );
    assert_eq!(
        r["pageErrors"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r["pageErrors"]
    );
    gw.stop().await;
}
