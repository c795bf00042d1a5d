//! WHIP egress (RFC 9725) against an independent WebRTC stack: `tests/e2e/whip_ingest.py` is a WHIP server whose
//! receiving peer is aiortc (FFmpeg decoding). The gateway publishes its synthetic screen there — from the REST API
//! and from `[[whip]]` at start-up — the ingest decodes frames of the right size, and `DELETE` ends it on both
//! sides. A wrong token is the WHIP server's `401`, reported by the gateway as a `502` that says so.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, GatewayProcess, VIEW_TOKEN, synthetic_config};
use serde_json::{Value, json};

/// How long the ingest may take to decode its first frames (ICE + DTLS on loopback take well under a second).
const FRAMES_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames the ingest must decode.
const MIN_FRAMES: u64 = 10;

/// The WHIP ingest process and the events it printed.
struct Ingest {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    endpoint: String,
}

impl Ingest {
    fn start(token: &str) -> Self {
        let mut child = Command::new(common::python())
            .arg(common::root().join("tests/e2e/whip_ingest.py"))
            .args(["--token", token])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/e2e/whip_ingest.py");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take().expect("stdin");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        let mut ingest = Self {
            child,
            stdin,
            events,
            seen: Vec::new(),
            endpoint: String::new(),
        };
        let ready = ingest.wait_for("ready", Duration::from_secs(30), |e| e["type"] == "ready");
        ingest.endpoint = ready["endpoint"].as_str().expect("endpoint").to_owned();
        ingest
    }

    fn cmd(&mut self, cmd: Value) {
        writeln!(self.stdin, "{cmd}").expect("write to the ingest");
    }

    /// Reads events until `pred` holds for one (already seen ones count); panics after `timeout`.
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    let hit = pred(&e);
                    self.seen.push(e.clone());
                    if hit {
                        return e;
                    }
                }
                Err(_) => panic!(
                    "the ingest did not report {what} within {timeout:?}; last events: {:?}",
                    &self.seen[self.seen.len().saturating_sub(8)..]
                ),
            }
        }
    }

    /// Waits for [`MIN_FRAMES`] decoded frames of `resource` (the path) and checks their size.
    fn expect_frames(&mut self, resource: &str, width: u64, height: u64) {
        let frame = self.wait_for("decoded frames", FRAMES_TIMEOUT, |e| {
            e["type"] == "frame" && e["resource"] == resource && e["n"].as_u64() >= Some(MIN_FRAMES)
        });
        assert_eq!(
            (frame["width"].as_u64(), frame["height"].as_u64()),
            (Some(width), Some(height)),
            "decoded frame size"
        );
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn api(gw: &GatewayProcess, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, _, body) = common::http(
        method,
        &format!("{}{path}", gw.base),
        Some(ADMIN_TOKEN),
        Some("application/json"),
        bytes.as_bytes(),
        &[],
    );
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value)
}

fn first_screen(gw: &GatewayProcess) -> String {
    let (status, body) = api(gw, "GET", "/api/v1/screens", None);
    assert_eq!(status, 200, "{body}");
    body["screens"][0]["id"]
        .as_str()
        .expect("a screen")
        .to_owned()
}

/// Polls the screen's publication list until `pred` holds for it.
fn wait_list(gw: &GatewayProcess, screen: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = api(
            gw,
            "GET",
            &format!("/api/v1/screens/{screen}/publish"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        let list = body["publications"].as_array().cloned().unwrap_or_default();
        if pred(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "publication list never matched: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The resource path the ingest knows (`/whip/resource/N`) from the absolute URL the gateway resolved.
fn resource_path(publication: &Value, ingest: &Ingest) -> String {
    let resource = publication["resource"].as_str().expect("resource URL");
    let origin = ingest.endpoint.trim_end_matches("/whip/endpoint");
    resource
        .strip_prefix(origin)
        .unwrap_or_else(|| panic!("{resource} was not resolved against {origin}"))
        .to_owned()
}

fn connection_closed(gw: &GatewayProcess, publication: &Value) -> bool {
    let id = publication["connection"].as_str().expect("connection id");
    let (status, detail) = api(
        gw,
        "GET",
        &format!("/api/v0/mcp/monitor/webrtc/connections/{id}"),
        None,
    );
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["kind"], "publish", "{detail}");
    !detail["closed_ms"].is_null()
}

/// The answers are what docs/openapi.yaml says, field by field.
fn check_openapi(gw: &GatewayProcess, samples: Vec<(&str, u16, Value)>) {
    let samples: Vec<Value> = samples
        .into_iter()
        .map(|(method, status, body)| {
            json!({"path": "/api/v1/screens/{id}/publish", "method": method, "status": status, "body": body})
        })
        .collect();
    let file = gw.dir().join("whip-samples.json");
    std::fs::write(&file, serde_json::to_vec(&samples).unwrap()).unwrap();
    let spec = common::root().join("docs/openapi.yaml");
    let out = common::run_python(
        "check_openapi.py",
        &[spec.to_str().unwrap(), file.to_str().unwrap()],
        Duration::from_secs(60),
    );
    let result = common::last_json(&out);
    assert_eq!(result["errors"], json!([]), "{result}");
}

#[test]
fn rest_publishes_to_an_aiortc_ingest_and_delete_ends_it() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"640x360\"\n"));
    let mut ingest = Ingest::start("s3cret-whip");
    let screen = first_screen(&gw);
    let path = format!("/api/v1/screens/{screen}/publish");

    // Only an admin may publish.
    let (status, _, _) = common::http(
        "POST",
        &format!("{}{path}", gw.base),
        Some(VIEW_TOKEN),
        Some("application/json"),
        json!({"url": ingest.endpoint}).to_string().as_bytes(),
        &[],
    );
    assert_eq!(status, 403);

    let (status, created) = api(
        &gw,
        "POST",
        &path,
        Some(json!({"url": ingest.endpoint, "token": "s3cret-whip", "tier": 0})),
    );
    assert_eq!(status, 201, "{created}");
    assert!(
        !created.to_string().contains("s3cret-whip"),
        "the token is never echoed: {created}"
    );
    assert_eq!(created["screen"], screen.as_str());
    assert_eq!(created["url"], ingest.endpoint.as_str());
    assert_eq!(created["tier"], 0);
    let id = created["id"].as_str().expect("id").to_owned();
    // The relative Location was resolved against the endpoint.
    let resource = resource_path(&created, &ingest);
    assert!(resource.starts_with("/whip/resource/"), "{resource}");

    ingest.expect_frames(&resource, 640, 360);
    let list = wait_list(&gw, &screen, |l| {
        l.len() == 1 && l[0]["state"] == "publishing"
    });
    assert_eq!(list[0]["id"], id.as_str());
    assert!(!connection_closed(&gw, &list[0]));
    // The publication's counters are a `whip` row of the SFU view (target = the endpoint's host).
    let host = ingest
        .endpoint
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, sfu) = api(&gw, "GET", "/api/v1/sfu", None);
        assert_eq!(status, 200, "{sfu}");
        let row = sfu["publications"].as_array().and_then(|p| {
            p.iter()
                .find(|r| r["kind"] == "whip" && r["target"] == host.as_str())
                .cloned()
        });
        if let Some(row) = &row
            && row["bytes"].as_u64() > Some(0)
            && row["packets"].as_u64() > Some(0)
        {
            assert_eq!(row["screen"], screen.as_str(), "{row}");
            break;
        }
        assert!(Instant::now() < deadline, "no whip row with bytes in {sfu}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (status, listed) = api(&gw, "GET", &path, None);
    assert_eq!(status, 200);
    check_openapi(
        &gw,
        vec![("post", 201, created.clone()), ("get", 200, listed)],
    );

    // DELETE reaches the WHIP resource and closes the gateway's peer.
    let (status, _) = api(&gw, "DELETE", &path, None);
    assert_eq!(status, 204);
    ingest.wait_for("deleted", Duration::from_secs(10), |e| {
        e["type"] == "deleted" && e["resource"] == resource.as_str()
    });
    wait_list(&gw, &screen, <[Value]>::is_empty);
    assert!(
        connection_closed(&gw, &list[0]),
        "the publishing peer is closed"
    );
    // Deleting one that is gone names it.
    let (status, body) = api(&gw, "DELETE", &format!("{path}?id={id}"), None);
    assert_eq!(status, 404, "{body}");
}

#[test]
fn refusals_are_clear_and_leave_nothing_behind() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"320x180\"\n"));
    let mut ingest = Ingest::start("the-right-token");
    let screen = first_screen(&gw);
    let path = format!("/api/v1/screens/{screen}/publish");

    // The WHIP server's 401 is the gateway's 502, with the status and the server's words.
    let (status, body) = api(
        &gw,
        "POST",
        &path,
        Some(json!({"url": ingest.endpoint, "token": "a-wrong-token"})),
    );
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["upstream_status"], 401, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("401") && message.contains("invalid bearer token"),
        "{message}"
    );
    assert!(!message.contains("a-wrong-token"), "{message}");
    let mut samples = vec![("post", 502, body.clone())];
    ingest.wait_for("the unauthorized POST", Duration::from_secs(5), |e| {
        e["type"] == "unauthorized"
    });

    let (status, body) = api(
        &gw,
        "POST",
        &path,
        Some(json!({"url": ingest.endpoint, "tier": 99})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("tier 99"),
        "{body}"
    );
    let (status, body) = api(&gw, "POST", &path, Some(json!({"url": "ftp://x/whip"})));
    assert_eq!(status, 400, "{body}");
    let (status, body) = api(&gw, "POST", &path, Some(json!({"nope": 1})));
    assert_eq!(status, 400, "{body}");
    let (status, body) = api(
        &gw,
        "POST",
        "/api/v1/screens/no-such-screen/publish",
        Some(json!({"url": ingest.endpoint})),
    );
    assert_eq!(status, 404, "{body}");
    samples.push(("post", 404, body));
    // Nobody listening: a 502 that says the endpoint could not be reached.
    let (status, body) = api(
        &gw,
        "POST",
        &path,
        Some(json!({"url": "http://127.0.0.1:9/whip"})),
    );
    assert_eq!(status, 502, "{body}");

    samples.push(("post", 502, body));
    check_openapi(&gw, samples);

    wait_list(&gw, &screen, <[Value]>::is_empty);
    assert!(
        !ingest.seen.iter().any(|e| e["type"] == "created"),
        "no resource was created"
    );
}

#[test]
fn configured_targets_publish_at_start_up() {
    let mut ingest = Ingest::start("config-token");
    let config = synthetic_config(&format!(
        "synthetic_size = \"640x360\"\n[[whip]]\nurl = \"{}\"\ntoken = \"config-token\"\ntier = 0\n",
        ingest.endpoint
    ));
    let gw = GatewayProcess::start(&config);
    let screen = first_screen(&gw);
    let created = ingest.wait_for("created", FRAMES_TIMEOUT, |e| e["type"] == "created");
    let resource = created["resource"].as_str().expect("resource").to_owned();
    ingest.expect_frames(&resource, 640, 360);
    let list = wait_list(&gw, &screen, |l| {
        l.len() == 1 && l[0]["state"] == "publishing"
    });
    assert_eq!(resource_path(&list[0], &ingest), resource);
    assert!(
        !gw.stderr().contains("config-token"),
        "the token never reaches the logs"
    );

    let (status, _) = api(
        &gw,
        "DELETE",
        &format!(
            "/api/v1/screens/{screen}/publish?id={}",
            list[0]["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(status, 204);
    ingest.wait_for("deleted", Duration::from_secs(10), |e| {
        e["type"] == "deleted" && e["resource"] == resource.as_str()
    });
}

#[test]
fn a_lost_path_is_restarted_or_republished() {
    let gw = GatewayProcess::start(&synthetic_config("synthetic_size = \"320x180\"\n"));
    let mut ingest = Ingest::start("");
    let screen = first_screen(&gw);
    let path = format!("/api/v1/screens/{screen}/publish");
    let (status, created) = api(&gw, "POST", &path, Some(json!({"url": ingest.endpoint})));
    assert_eq!(status, 201, "{created}");
    let first = resource_path(&created, &ingest);
    ingest.expect_frames(&first, 320, 180);

    // The path goes silent: the gateway sees the connection disconnected, tries an ICE restart (this server
    // answers the PATCH with 405), then re-publishes: DELETE of the old resource, a new POST, frames again.
    ingest.cmd(json!({"cmd": "freeze"}));
    let patch = ingest.wait_for("the ICE restart PATCH", Duration::from_secs(30), |e| {
        e["type"] == "request" && e["method"] == "PATCH"
    });
    assert_eq!(patch["path"], first.as_str());
    assert_eq!(patch["status"], 405);
    ingest.wait_for("the old resource deleted", Duration::from_secs(10), |e| {
        e["type"] == "deleted" && e["resource"] == first.as_str()
    });
    let again = ingest.wait_for("a new resource", Duration::from_secs(20), |e| {
        e["type"] == "created" && e["resource"] != first.as_str()
    });
    let second = again["resource"].as_str().unwrap().to_owned();
    ingest.expect_frames(&second, 320, 180);
    let list = wait_list(&gw, &screen, |l| {
        l.len() == 1 && l[0]["state"] == "publishing" && l[0]["republishes"] == 1
    });
    assert_eq!(resource_path(&list[0], &ingest), second);

    // The first attempt's monitor connection says what happened.
    let old = created["connection"].as_str().expect("connection");
    let (_, detail) = api(
        &gw,
        "GET",
        &format!("/api/v0/mcp/monitor/webrtc/connections/{old}"),
        None,
    );
    let timeline = detail["timeline"].to_string();
    assert!(timeline.contains("ICE restart not possible"), "{timeline}");
    assert!(timeline.contains("re-publishing"), "{timeline}");

    let (status, _) = api(&gw, "DELETE", &path, None);
    assert_eq!(status, 204);
    ingest.wait_for("deleted", Duration::from_secs(10), |e| {
        e["type"] == "deleted" && e["resource"] == second.as_str()
    });
}
