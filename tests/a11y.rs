//! The accessibility tools against a real GTK 3 application: a private Xvfb, a private D-Bus session bus with
//! `at-spi-bus-launcher` on it (started by the test), the form of `tests/e2e/gtk_app.py`, and the gateway started
//! with that session bus. MCP calls are raw JSON-RPC (the session-less 2026-07-28 revision).
//!
//! - `ui_tree` lists the form's elements with ids, roles, names, states, actions, and bounds that match the X
//!   window (`xwininfo`) and the screen's pixels (a screenshot of a button's bounds shows the button).
//! - `set_text` fills an entry and `click_element` presses a button, both verified by what the application itself
//!   prints; an element without actions is clicked with the pointer at its centre; an id whose application is gone
//!   says so.
//! - Without an accessibility bus the tools say what to start, and the rest of the gateway works as before.
//! - The time of `ui_tree` for the form is printed (target ≤ 50 ms).
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::tempdir::TempDir;
use common::xvfb::{Xvfb, require_tool};
use common::{CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN};
use serde_json::{Value, json};

/// The launcher's own binary (at-spi2-core).
const LAUNCHER: &str = "/usr/libexec/at-spi-bus-launcher";
/// The system Python: it has python3-gi (the test venv's Python does not).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// How long the bus, the launcher and the application get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an application gets to print the effect of an action.
const EFFECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `ui_tree` calls timed for the printed figure.
const TIMED_CALLS: usize = 20;
/// The form's title.
const TITLE: &str = "Sightline A11y Form";

fn x11_config(display: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         [capture]\nsource = \"x11\"\ndisplay = \"{display}\"\n"
    )
}

/// A private D-Bus session bus with the accessibility bus launcher on it; both stopped on drop.
struct A11yBus {
    dir: TempDir,
    /// `DBUS_SESSION_BUS_ADDRESS` of the session bus.
    address: String,
    dbus_pid: u32,
    launcher: Child,
}

impl A11yBus {
    fn start(display: &str) -> Self {
        require_tool("dbus-daemon");
        require_tool("dbus-send");
        assert!(
            Path::new(LAUNCHER).exists(),
            "{LAUNCHER} is missing; run `scripts/install-deps.sh --test` (package at-spi2-core)"
        );
        let dir = TempDir::new();
        let socket = dir.path().join("bus");
        // The daemon's XDG_RUNTIME_DIR is what a launcher it activates inherits: private too, should one start.
        let out = Command::new("dbus-daemon")
            .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
            .arg(format!("--address=unix:path={}", socket.display()))
            .env("XDG_RUNTIME_DIR", dir.path())
            .output()
            .expect("dbus-daemon starts");
        assert!(out.status.success(), "dbus-daemon: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let address = lines
            .next()
            .expect("dbus-daemon prints its address")
            .to_owned();
        let dbus_pid = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("dbus-daemon prints its pid");
        let launcher = Command::new(LAUNCHER)
            .arg("--launch-immediately")
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("DISPLAY", display)
            .env("XDG_RUNTIME_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("at-spi-bus-launcher starts");
        let bus = Self {
            dir,
            address,
            dbus_pid,
            launcher,
        };
        // Asked with NameHasOwner, not a call to org.a11y.Bus: a call before the launcher owns the name would make
        // the daemon activate a second launcher from the system's service file, which could win the name.
        common::poll_every(
            "org.a11y.Bus on the session bus",
            START_TIMEOUT,
            Duration::from_millis(50),
            || {
                let out = Command::new("dbus-send")
                    .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus"])
                    .args(["/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner"])
                    .arg("string:org.a11y.Bus")
                    .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
                    .output()
                    .map_err(|e| e.to_string())?;
                let reply = String::from_utf8_lossy(&out.stdout);
                if out.status.success() && reply.contains("boolean true") {
                    Ok(())
                } else {
                    Err(format!("{reply}{}", String::from_utf8_lossy(&out.stderr)))
                }
            },
        );
        bus
    }
}

impl Drop for A11yBus {
    fn drop(&mut self) {
        // SIGTERM: the launcher then stops its own bus daemon (SIGKILL would leave it behind).
        let _ = Command::new("kill")
            .args(["-TERM", &self.launcher.id().to_string()])
            .status();
        let _ = self.launcher.wait();
        let _ = Command::new("kill")
            .args(["-TERM", &self.dbus_pid.to_string()])
            .status();
    }
}

/// The GTK form, its stdout collected line by line.
struct App {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl App {
    fn start(display: &str, bus: &A11yBus) -> Self {
        let probe = Command::new(SYSTEM_PYTHON)
            .args(["-c", "import gi; gi.require_version('Gtk', '3.0')"])
            .output();
        assert!(
            probe.as_ref().is_ok_and(|o| o.status.success()),
            "{SYSTEM_PYTHON} cannot load GTK 3 through gi ({probe:?}); run `scripts/install-deps.sh --test` \
             (packages python3-gi gir1.2-gtk-3.0)"
        );
        let mut child = Command::new(SYSTEM_PYTHON)
            .arg(common::root().join("tests/e2e/gtk_app.py"))
            .args(["--title", TITLE, "--x", "100", "--y", "120"])
            .env("DISPLAY", display)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("XDG_RUNTIME_DIR", bus.dir.path())
            .env_remove("NO_AT_BRIDGE")
            .env_remove("AT_SPI_BUS_ADDRESS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the GTK app starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let app = Self { child, lines };
        app.wait_for("the form to be shown", START_TIMEOUT, |l| {
            l.starts_with("ready ")
        });
        app
    }

    /// Waits until the application printed a line for which `want` holds.
    fn wait_for(&self, what: &str, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        common::poll_every(what, timeout, Duration::from_millis(20), || {
            let lines = self.lines.lock().unwrap();
            lines
                .iter()
                .find(|l| want(l))
                .cloned()
                .ok_or_else(|| format!("{lines:?}"))
        })
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A session-less `tools/call`: the JSON-RPC result (`content`, `structuredContent`, `isError`).
fn call(gw: &GatewayProcess, token: &str, tool: &str, args: Value) -> Value {
    common::mcp_tool_call(gw, token, "a11y-test", tool, args)
}

/// A call that must succeed: its structured content.
fn ok(gw: &GatewayProcess, tool: &str, args: Value) -> Value {
    let r = call(gw, CONTROL_TOKEN, tool, args);
    assert_ne!(r["isError"], true, "{tool} failed: {r}");
    r["structuredContent"].clone()
}

/// A call that must fail: its text.
fn fails(gw: &GatewayProcess, tool: &str, args: Value) -> String {
    let r = call(gw, CONTROL_TOKEN, tool, args);
    assert_eq!(r["isError"], true, "{tool} should fail: {r}");
    r["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Every node of a tree, depth first.
fn nodes(tree: &Value) -> Vec<&Value> {
    let mut out = vec![tree];
    let mut i = 0;
    while i < out.len() {
        if let Some(children) = out[i]["children"].as_array() {
            out.extend(children);
        }
        i += 1;
    }
    out
}

fn find<'a>(tree: &'a Value, role: &str, name: &str) -> &'a Value {
    nodes(tree)
        .into_iter()
        .find(|n| n["role"] == role && n["name"] == name)
        .unwrap_or_else(|| panic!("no {role} {name:?} in {tree:#}"))
}

fn bounds(n: &Value) -> (i64, i64, i64, i64) {
    let b = &n["bounds"];
    let get = |k: &str| b[k].as_i64().unwrap_or_else(|| panic!("no bounds in {n}"));
    (get("x"), get("y"), get("width"), get("height"))
}

/// `xwininfo`'s absolute position and size of window `id`.
fn xwininfo(xvfb: &Xvfb, id: &str) -> (i64, i64, i64, i64) {
    let out = xvfb.run(0, "xwininfo", &["-id", id]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    (
        field("Absolute upper-left X:"),
        field("Absolute upper-left Y:"),
        field("Width:"),
        field("Height:"),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Everything a test needs, stopped in reverse order on drop: Xvfb, optionally openbox, the buses, the form (by
/// its X window id) and a gateway on that session bus.
struct Rig {
    gw: GatewayProcess,
    wid: String,
    app: Option<App>,
    _bus: A11yBus,
    _wm: Option<Child>,
    xvfb: Xvfb,
}

impl Rig {
    fn start(window_manager: bool) -> Self {
        let xvfb = Xvfb::start();
        let display = xvfb.display();
        let wm = window_manager.then(|| openbox(&xvfb));
        let bus = A11yBus::start(&display);
        let app = App::start(&display, &bus);
        let wid = xvfb.run(0, "xdotool", &["search", "--sync", "--name", TITLE]);
        let wid = wid
            .lines()
            .next()
            .expect("xdotool finds the form")
            .to_owned();
        if !window_manager {
            // Nobody gives the form the focus: do it, as a user's click would.
            xvfb.run(0, "xdotool", &["windowfocus", "--sync", &wid]);
        }
        let gw = GatewayProcess::start_with(
            &x11_config(&display),
            &[],
            &[
                ("DBUS_SESSION_BUS_ADDRESS", &bus.address),
                ("AT_SPI_BUS_ADDRESS", ""),
            ],
        );
        Self {
            gw,
            wid,
            app: Some(app),
            _bus: bus,
            _wm: wm,
            xvfb,
        }
    }

    fn app(&self) -> &App {
        self.app.as_ref().expect("the form runs")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(wm) = self._wm.as_mut() {
            let _ = wm.kill();
            let _ = wm.wait();
        }
    }
}

/// openbox on screen 0, once the root names a live manager.
fn openbox(xvfb: &Xvfb) -> Child {
    require_tool("openbox");
    let wm = Command::new("openbox")
        .arg("--sm-disable")
        .env("DISPLAY", xvfb.screen(0))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openbox starts");
    common::poll_every(
        "openbox to manage the display",
        START_TIMEOUT,
        Duration::from_millis(50),
        || {
            let out = xvfb.run(0, "xprop", &["-root", "_NET_SUPPORTING_WM_CHECK"]);
            out.contains("window id #").then_some(()).ok_or(out)
        },
    );
    wm
}

/// The focused window's tree, once the form's bridge has registered on the bus (it does so asynchronously after
/// the window is shown).
fn first_tree(gw: &GatewayProcess) -> Value {
    common::poll_every(
        "the form on the accessibility bus",
        START_TIMEOUT,
        Duration::from_millis(100),
        || {
            let r = call(gw, CONTROL_TOKEN, "ui_tree", json!({}));
            match (&r["isError"], &r["structuredContent"]["title"]) {
                (Value::Bool(true), _) => Err(r.to_string()),
                (_, t) if t == TITLE => Ok(r["structuredContent"].clone()),
                _ => Err(r.to_string()),
            }
        },
    )
}

#[test]
fn ui_tree_set_text_and_click_element_drive_a_gtk_app() {
    let mut rig = Rig::start(false);
    let (gw, wid, xvfb) = (&rig.gw, rig.wid.clone(), &rig.xvfb);
    let app = rig.app();

    // The focused window's tree.
    let r = first_tree(gw);
    let tree = &r["tree"];
    println!(
        "{}",
        call(gw, VIEW_TOKEN, "ui_tree", json!({}))["content"][0]["text"]
            .as_str()
            .unwrap()
    );
    assert_eq!(r["title"], TITLE, "{r}");
    assert_eq!(r["screen"], "0", "{r}");
    assert_eq!(r["window"]["id"].as_u64().unwrap().to_string(), wid, "{r}");
    let ok_button = find(tree, "button", "OK");
    let name = find(tree, "text", "Name");
    let tap = find(tree, "label", "Tap area");
    let newsletter = find(tree, "check box", "Newsletter");
    assert!(
        ok_button["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("click")),
        "{ok_button}"
    );
    assert!(
        name["states"]
            .as_array()
            .unwrap()
            .contains(&json!("editable")),
        "{name}"
    );
    assert!(
        tap.get("actions").is_none(),
        "a label has no actions: {tap}"
    );
    let count = r["count"].as_u64().unwrap();
    assert!(
        (30..=120).contains(&count),
        "a typical form: {count} elements"
    );
    let text = call(gw, CONTROL_TOKEN, "ui_tree", json!({}))["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("- button \"OK\"") && text.contains(ok_button["id"].as_str().unwrap()),
        "{text}"
    );

    // Bounds: the window is the X window's client area, every element lies inside it, and the pixels at the
    // button's bounds are a button (its label and edges: many colours), not the flat window background.
    let (wx, wy, ww, wh) = xwininfo(xvfb, &wid);
    assert_eq!(bounds(tree), (wx, wy, ww, wh), "{tree}");
    for n in [ok_button, name, tap, newsletter] {
        let (x, y, w, h) = bounds(n);
        assert!(
            x >= wx && y >= wy && x + w <= wx + ww && y + h <= wy + wh,
            "{n} is outside the window {:?}",
            (wx, wy, ww, wh)
        );
    }
    let (bx, by, bw, bh) = bounds(ok_button);
    let png = call(
        gw,
        CONTROL_TOKEN,
        "screenshot",
        json!({"format": "png", "region": {"x": bx, "y": by, "width": bw, "height": bh}}),
    );
    let data = png["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "image")
        .and_then(|c| c["data"].as_str())
        .unwrap_or_else(|| panic!("no image in {png}"));
    let img = image::load_from_memory(
        &base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
    .to_rgb8();
    assert_eq!(img.dimensions(), (bw as u32, bh as u32));
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() >= 4,
        "the button's bounds show a button (label and edges), not {} flat colours",
        colours.len()
    );

    // The same window by its id.
    let by_id = ok(
        gw,
        "ui_tree",
        json!({"window": r["window"]["id"], "max_depth": 3}),
    );
    assert_eq!(by_id["title"], TITLE);
    assert!(
        by_id["truncated"]
            .as_str()
            .is_some_and(|t| t.contains("3 levels")),
        "{by_id}"
    );

    // set_text through EditableText, then the button through its action: the app prints the entry's text.
    let set = ok(
        gw,
        "set_text",
        json!({"element": name["id"], "text": "hello from sightline"}),
    );
    assert_eq!(set["method"], "editable_text", "{set}");
    assert_eq!(set["text"], "hello from sightline", "{set}");
    let clicked = ok(gw, "click_element", json!({"element": ok_button["id"]}));
    assert_eq!(
        (clicked["method"].clone(), clicked["action"].clone()),
        (json!("action"), json!("click"))
    );
    app.wait_for("the OK button's output", EFFECT_TIMEOUT, |l| {
        l == "clicked: hello from sightline"
    });
    let toggled = ok(gw, "click_element", json!({"element": newsletter["id"]}));
    assert_eq!(toggled["method"], "action", "{toggled}");
    app.wait_for("the check box's output", EFFECT_TIMEOUT, |l| {
        l == "toggled: Newsletter on"
    });

    // A label has no action: the pointer clicks its centre, and the event box under it sees the click.
    let tapped = ok(gw, "click_element", json!({"element": tap["id"]}));
    assert_eq!(tapped["method"], "pointer", "{tapped}");
    let (tx, ty, tw, th) = bounds(tap);
    assert_eq!(
        (tapped["x"].clone(), tapped["y"].clone()),
        (json!(tx + tw / 2), json!(ty + th / 2))
    );
    app.wait_for("the tap area's output", EFFECT_TIMEOUT, |l| l == "tapped");

    // An element without an editable-text interface: focused, Ctrl+A, typed through the input path.
    let pad = find(tree, "drawing area", "Key pad");
    let typed = ok(
        gw,
        "set_text",
        json!({"element": pad["id"], "text": "typed in"}),
    );
    assert_eq!(typed["method"], "typing", "{typed}");
    app.wait_for("the key pad's output", EFFECT_TIMEOUT, |l| {
        l == "keys: typed in"
    });

    // A view token may read the tree but not act.
    assert_ne!(call(gw, VIEW_TOKEN, "ui_tree", json!({}))["isError"], true);
    let refused = call(
        gw,
        VIEW_TOKEN,
        "click_element",
        json!({"element": ok_button["id"]}),
    );
    assert_eq!(refused["isError"], true, "{refused}");

    // Malformed and dead ids.
    assert!(fails(gw, "click_element", json!({"element": "42"})).contains("not an element id"));
    // The timing figure, before the app goes away.
    let mut server = Vec::new();
    let mut round_trip = Vec::new();
    for _ in 0..TIMED_CALLS {
        let t = Instant::now();
        let r = ok(gw, "ui_tree", json!({}));
        round_trip.push(t.elapsed().as_secs_f64() * 1000.0);
        server.push(r["elapsed_ms"].as_f64().unwrap());
    }
    println!(
        "ui_tree of a GTK form with {count} elements: median {:.1} ms in the gateway, {:.1} ms per MCP call \
         (HTTP round trip included), {TIMED_CALLS} calls (target <= 50 ms)",
        median(server),
        median(round_trip)
    );
    rig.app.take();
    let gw = &rig.gw;
    let gone = fails(gw, "click_element", json!({"element": ok_button["id"]}));
    assert!(gone.contains("no longer exists"), "{gone}");
    let gone = fails(gw, "set_text", json!({"element": name["id"], "text": "x"}));
    assert!(gone.contains("no longer exists"), "{gone}");
}

#[test]
fn under_a_window_manager_the_active_window_is_found_and_bounds_stay_on_the_client_area() {
    let rig = Rig::start(true);
    let (gw, app) = (&rig.gw, rig.app());
    // openbox gives the new window the focus: AT-SPI marks its frame active. The X client area is inside the
    // decorated frame, and bounds are the client's (list_windows' and screenshot's space).
    let r = first_tree(gw);
    let tree = &r["tree"];
    assert_eq!(r["title"], TITLE, "{r}");
    assert_eq!(
        r["window"]["id"].as_u64().unwrap().to_string(),
        rig.wid,
        "{r}"
    );
    let (wx, wy, ww, wh) = xwininfo(&rig.xvfb, &rig.wid);
    assert_eq!(bounds(tree), (wx, wy, ww, wh), "{tree}");
    let tap = find(tree, "label", "Tap area");
    let (x, y, w, h) = bounds(tap);
    assert!(
        x >= wx && y >= wy && x + w <= wx + ww && y + h <= wy + wh,
        "{tap}"
    );
    let tapped = ok(gw, "click_element", json!({"element": tap["id"]}));
    assert_eq!(tapped["method"], "pointer", "{tapped}");
    app.wait_for("the tap area's output", EFFECT_TIMEOUT, |l| l == "tapped");
    let ok_button = find(tree, "button", "OK");
    ok(gw, "click_element", json!({"element": ok_button["id"]}));
    app.wait_for("the OK button's output", EFFECT_TIMEOUT, |l| {
        l == "clicked: "
    });
}

#[test]
fn without_an_accessibility_bus_the_tools_say_what_to_start() {
    let dir = TempDir::new();
    let nowhere = format!("unix:path={}", dir.path().join("no-bus").display());
    let gw = GatewayProcess::start_with(
        &common::synthetic_config(""),
        &[],
        &[
            ("DBUS_SESSION_BUS_ADDRESS", &nowhere),
            ("AT_SPI_BUS_ADDRESS", ""),
        ],
    );
    for (tool, args) in [
        ("ui_tree", json!({})),
        (
            "click_element",
            json!({"element": ":1.0/org/a11y/atspi/accessible/1"}),
        ),
        (
            "set_text",
            json!({"element": ":1.0/org/a11y/atspi/accessible/1", "text": "x"}),
        ),
    ] {
        let text = fails(&gw, tool, args);
        assert!(
            text.starts_with("no accessibility bus:") && text.contains("at-spi-bus-launcher"),
            "{tool}: {text}"
        );
    }
    // Everything else works as before.
    let screens = ok(&gw, "list_screens", json!({}));
    assert_eq!(screens["screens"][0]["source"], "synthetic", "{screens}");
}
