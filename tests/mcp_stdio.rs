//! `sightline mcp`: MCP over stdin/stdout with the whole gateway in the same process, as desktop MCP clients
//! launch it. Driven by the official Python SDK's stdio client, and by hand to check that stdout carries nothing but
//! the protocol and that the process ends when its client closes stdin. The configured HTTP port is held by the
//! test: the stdio server must not care.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tempdir::TempDir;
use common::{last_json, run_python};
use serde_json::{Value, json};

/// A configuration for the synthetic screen whose HTTP port is already taken (the listener is returned: keep it).
fn config_with_taken_port(dir: &Path) -> (PathBuf, TcpListener) {
    let held = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = held.local_addr().expect("bound").port();
    let path = dir.join("sightline.toml");
    std::fs::write(
        &path,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[capture]\nsource = \"synthetic\"\n"),
    )
    .expect("write config");
    (path, held)
}

#[test]
fn the_python_sdk_drives_the_stdio_server_even_when_the_http_port_is_taken() {
    let dir = TempDir::new();
    let (config, _held) = config_with_taken_port(dir.path());
    let out = dir.path().to_string_lossy().into_owned();
    let command = format!("--command={}", env!("CARGO_BIN_EXE_sightline"));
    // `--arg=` form: the server's own arguments start with dashes.
    let config = format!("--arg={}", config.display());
    let r = last_json(&run_python(
        "mcp_client.py",
        &[
            "smoke",
            "--mode",
            "stdio",
            &command,
            "--arg=--config",
            &config,
            "--arg=mcp",
            "--out",
            &out,
        ],
        Duration::from_secs(120),
    ));
    assert_eq!(r["protocol"], "2026-07-28", "{r}");
    assert_eq!(
        r["screens"]["structured"]["screens"][0]["source"],
        "synthetic"
    );
    let file = r["shot"]["images"][0]["file"].as_str().expect("an image");
    let img = image::open(file).expect("a PNG").to_rgb8();
    assert_eq!(img.dimensions(), (1280, 720));
    assert_eq!(
        r["click"]["is_error"], false,
        "the stdio client is admin: {}",
        r["click"]
    );
    let sessions = r["sessions"]["structured"]["sessions"].as_array().unwrap();
    let mcp: Vec<&Value> = sessions.iter().filter(|s| s["kind"] == "mcp").collect();
    assert_eq!(mcp.len(), 1, "{sessions:?}");
    assert_eq!(mcp[0]["role"], "admin");
}

#[test]
fn stdout_carries_only_the_protocol_and_stdin_closing_ends_the_process() {
    let dir = TempDir::new();
    let (config, _held) = config_with_taken_port(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .arg("--config")
        .arg(&config)
        .arg("mcp")
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sightline mcp");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let send = |stdin: &mut std::process::ChildStdin, v: Value| {
        writeln!(stdin, "{v}").expect("write to sightline");
        stdin.flush().expect("flush");
    };
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "by-hand", "version": "1"}}}),
    );
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "list_screens", "arguments": {}}}),
    );
    let mut replies = Vec::new();
    while replies.len() < 2 {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a reply on stdout within 30 s");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a line that is not JSON-RPC ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        replies.push(v);
    }
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-06-18");
    let screens = &replies[1]["result"]["structuredContent"]["screens"];
    assert_eq!(screens[0]["width"], 1280, "{}", replies[1]);

    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sightline mcp did not exit within 15 s of stdin closing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = errors.join().unwrap_or_default();
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    assert!(
        lines.try_recv().is_err(),
        "nothing else was written to stdout"
    );
    assert!(stderr.contains("the HTTP port is taken"), "{stderr}");
    assert!(stderr.contains("ready: open http://127.0.0.1:"), "{stderr}");
}
