//! Windows on a real X server (a private two-screen Xvfb per test), with the openbox window manager started by the
//! test and with none: two xterms with known titles and geometry are listed (REST `GET /api/v1/windows` and MCP
//! `list_windows`) where `xwininfo` sees them, `focus_window` (MCP and REST) moves `_NET_ACTIVE_WINDOW` and the X
//! input focus as `xprop`/`xdotool` read them, a minimized window says so and is restored by focusing it, a
//! screenshot of a window (MCP `screenshot` with `window`) has the window's size, and the roles hold: a view
//! token lists but cannot focus. The REST answers are checked against docs/openapi.yaml.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use common::xvfb::{Xvfb, require_tool};
use common::{ADMIN_TOKEN, CONTROL_TOKEN, GatewayProcess, VIEW_TOKEN, http, poll_every};
use serde_json::{Value, json};

/// How long X clients (xterm, openbox) may take to appear: the machine may be busy building.
const APPEAR_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
/// The xterms: title, position asked with `-geometry`.
const WIN_A: (&str, i32, i32) = ("WinA", 50, 60);
const WIN_B: (&str, i32, i32) = ("WinB", 600, 400);

fn x11_config(display: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[auth]\nviewers = [\"{VIEW_TOKEN}\"]\ncontrollers = [\"{CONTROL_TOKEN}\"]\n\
         admins = [\"{ADMIN_TOKEN}\"]\n[capture]\nsource = \"x11\"\ndisplay = \"{display}\"\n"
    )
}

/// An X client started by the test, killed on drop.
struct XClient(Child);

impl XClient {
    fn spawn(display: &str, program: &str, args: &[&str]) -> Self {
        require_tool(program);
        let child = Command::new(program)
            .args(args)
            .env("DISPLAY", display)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} failed to start: {e}"));
        Self(child)
    }

    /// An xterm titled `title` at `x`,`y` running `sleep` (no shell that could retitle it).
    fn xterm(display: &str, (title, x, y): (&str, i32, i32)) -> Self {
        let geometry = format!("40x10+{x}+{y}");
        Self::spawn(
            display,
            "xterm",
            &["-T", title, "-geometry", &geometry, "-e", "sleep", "600"],
        )
    }

    /// openbox, once the root names a live manager (`_NET_SUPPORTING_WM_CHECK`).
    fn openbox(xvfb: &Xvfb) -> Self {
        let wm = Self::spawn(&xvfb.screen(0), "openbox", &["--sm-disable"]);
        poll_every(
            "openbox to manage the display",
            APPEAR_TIMEOUT,
            POLL,
            || {
                let out = xprop(xvfb, &["-root", "_NET_SUPPORTING_WM_CHECK"]);
                match out.contains("window id #") {
                    true => Ok(()),
                    false => Err(out),
                }
            },
        );
        wm
    }

    /// Stops the client and waits for it to exit.
    fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for XClient {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `xprop` output (an empty string when the property or the window is not there).
fn xprop(xvfb: &Xvfb, args: &[&str]) -> String {
    let out = Command::new("xprop")
        .args(args)
        .env("DISPLAY", xvfb.screen(0))
        .output()
        .expect("xprop runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The window a root `WINDOW` property names (`xprop -root NAME`).
fn root_window_prop(xvfb: &Xvfb, name: &str) -> Option<u64> {
    let out = xprop(xvfb, &["-root", name]);
    let hex = out
        .split("window id # ")
        .nth(1)?
        .split([',', '\n'])
        .next()?;
    u64::from_str_radix(hex.trim().trim_start_matches("0x"), 16).ok()
}

/// (left, right, top, bottom) of `_NET_FRAME_EXTENTS`, once the manager set them.
fn frame_extents(xvfb: &Xvfb, id: u64) -> [i32; 4] {
    poll_every("frame extents", APPEAR_TIMEOUT, POLL, || {
        let out = xprop(xvfb, &["-id", &id.to_string(), "_NET_FRAME_EXTENTS"]);
        let values: Vec<i32> = out
            .split('=')
            .nth(1)
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_default();
        values.try_into().map_err(|_| out)
    })
}

/// What `xwininfo -id` says: absolute x, y of the client area, width, height.
fn xwininfo(xvfb: &Xvfb, id: u64) -> (i64, i64, u64, u64) {
    let out = xvfb.run(0, "xwininfo", &["-id", &id.to_string()]);
    let field = |name: &str| -> i64 {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in xwininfo output:\n{out}"))
    };
    (
        field("Absolute upper-left X:"),
        field("Absolute upper-left Y:"),
        field("Width:") as u64,
        field("Height:") as u64,
    )
}

/// The X border width of a window (`xwininfo`).
fn border_width(xvfb: &Xvfb, id: u64) -> i32 {
    let out = xvfb.run(0, "xwininfo", &["-id", &id.to_string()]);
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Border width:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no border width in xwininfo output:\n{out}"))
}

/// The window holding the X input focus (`xdotool getwindowfocus`).
fn input_focus(xvfb: &Xvfb) -> u64 {
    let out = xvfb.run(0, "xdotool", &["getwindowfocus"]);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("xdotool getwindowfocus said {out:?}"))
}

/// A REST call: (status, JSON body).
fn rest(gw: &GatewayProcess, method: &str, path: &str, token: &str) -> (u16, Value) {
    let (status, _, body) = http(
        method,
        &format!("{}{path}", gw.base),
        Some(token),
        None,
        b"",
        &[],
    );
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value)
}

/// A session-less (2026-07-28) MCP `tools/call`; the JSON-RPC `result`.
fn mcp(gw: &GatewayProcess, token: &str, tool: &str, args: Value) -> Value {
    common::mcp_tool_call(gw, token, "x11-windows-test", tool, args)
}

/// The text of a tool error; panics when the call succeeded.
fn tool_error(result: &Value) -> String {
    assert_eq!(result["isError"], true, "expected a tool error: {result}");
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn tool_ok(result: &Value) -> &Value {
    assert_ne!(result["isError"], true, "the tool failed: {result}");
    &result["structuredContent"]
}

/// The listed window titled `title`.
fn by_title<'a>(list: &'a Value, title: &str) -> &'a Value {
    list["windows"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["title"] == title))
        .unwrap_or_else(|| panic!("no window {title:?} in {list}"))
}

/// The REST window list once it holds every title of `titles`.
fn wait_for_windows(gw: &GatewayProcess, titles: &[&str]) -> Value {
    poll_every("the xterms to be listed", APPEAR_TIMEOUT, POLL, || {
        let (status, list) = rest(gw, "GET", "/api/v1/windows", VIEW_TOKEN);
        let all = status == 200
            && titles.iter().all(|t| {
                list["windows"]
                    .as_array()
                    .is_some_and(|ws| ws.iter().any(|w| w["title"] == *t))
            });
        if all { Ok(list) } else { Err(list.to_string()) }
    })
}

/// The window is where `xwininfo` sees it, on screen `screen` (whose origin is the root's, as on this Xvfb).
/// xwininfo's corner is outside the X border; the listed one is the client area's, inside it.
fn assert_matches_xwininfo(xvfb: &Xvfb, w: &Value, screen: &str) {
    let id = w["id"].as_u64().expect("numeric id");
    let (x, y, width, height) = xwininfo(xvfb, id);
    let border = i64::from(border_width(xvfb, id));
    let (x, y) = (x + border, y + border);
    assert_eq!(
        (&w["x"], &w["y"], &w["width"], &w["height"], &w["screen"]),
        (
            &json!(x),
            &json!(y),
            &json!(width),
            &json!(height),
            &json!(screen)
        ),
        "{w}"
    );
}

/// An MCP screenshot of window `id` as PNG: (image width, image height, structured content).
fn window_screenshot(gw: &GatewayProcess, id: u64) -> (u32, u32, Value) {
    let r = mcp(
        gw,
        VIEW_TOKEN,
        "screenshot",
        json!({"window": id, "format": "png"}),
    );
    let s = tool_ok(&r).clone();
    let image = r["content"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "image"))
        .unwrap_or_else(|| panic!("no image in {r}"));
    let data = base64::engine::general_purpose::STANDARD
        .decode(image["data"].as_str().expect("base64 data"))
        .expect("valid base64");
    let img = image::load_from_memory(&data).expect("the PNG decodes");
    (img.width(), img.height(), s)
}

/// A screenshot of the window has exactly its client area's size and says which region it shows.
fn assert_window_screenshot(gw: &GatewayProcess, w: &Value) {
    let id = w["id"].as_u64().unwrap();
    let (iw, ih, s) = window_screenshot(gw, id);
    assert_eq!(
        (json!(iw), json!(ih)),
        (w["width"].clone(), w["height"].clone()),
        "{s}"
    );
    assert_eq!(
        s["region"],
        json!({"x": w["x"], "y": w["y"], "width": w["width"], "height": w["height"]}),
        "{s}"
    );
    assert_eq!(s["screen"], w["screen"], "{s}");
}

/// The REST answers are what docs/openapi.yaml says, field by field.
fn check_openapi(gw: &GatewayProcess, samples: Vec<(&str, &str, u16, Value)>) {
    let samples: Vec<Value> = samples
        .into_iter()
        .map(|(method, path, status, body)| {
            json!({"path": path, "method": method, "status": status, "body": body})
        })
        .collect();
    let file = gw.dir().join("windows-samples.json");
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
fn openbox_windows_are_listed_focused_minimized_and_captured() {
    let xvfb = Xvfb::start();
    let wm = XClient::openbox(&xvfb);
    let display = xvfb.screen(0);
    let gw = GatewayProcess::start(&x11_config(&xvfb.display()));
    // One after the other, so WinB is the newest.
    let _a = XClient::xterm(&display, WIN_A);
    wait_for_windows(&gw, &[WIN_A.0]);
    let _b = XClient::xterm(&display, WIN_B);
    let list = wait_for_windows(&gw, &[WIN_A.0, WIN_B.0]);
    // openbox focuses the newest window, a moment after mapping it.
    let b_id = by_title(&list, WIN_B.0)["id"].as_u64().unwrap();
    poll_every(
        "openbox to activate WinB",
        APPEAR_TIMEOUT,
        POLL,
        || match root_window_prop(&xvfb, "_NET_ACTIVE_WINDOW") {
            Some(w) if w == b_id => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let (_, list) = rest(&gw, "GET", "/api/v1/windows", VIEW_TOKEN);
    assert_eq!(list["source"], "ewmh", "{list}");
    for (title, x, y) in [WIN_A, WIN_B] {
        let w = by_title(&list, title);
        let id = w["id"].as_u64().unwrap();
        // openbox puts the frame where -geometry asked: the client area is inside it by the frame extents.
        let [left, _, top, _] = frame_extents(&xvfb, id);
        assert_eq!(
            (&w["x"], &w["y"]),
            (&json!(x + left), &json!(y + top)),
            "{w}"
        );
        assert_matches_xwininfo(&xvfb, w, "0");
        assert_eq!(w["app"], "XTerm", "{w}");
        assert!(w["pid"].as_u64().is_some_and(|p| p > 0), "{w}");
        assert_eq!(w["minimized"], false, "{w}");
    }
    let (a, b) = (
        by_title(&list, WIN_A.0).clone(),
        by_title(&list, WIN_B.0).clone(),
    );
    let a_id = a["id"].as_u64().unwrap();
    assert_eq!(
        (&a["focused"], &b["focused"]),
        (&json!(false), &json!(true))
    );

    // MCP lists the same, and says so in its text.
    let r = mcp(&gw, VIEW_TOKEN, "list_windows", json!({}));
    let listed = tool_ok(&r);
    assert_eq!(listed["source"], "ewmh");
    assert_eq!(by_title(listed, WIN_A.0), &a);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("window {a_id} \"WinA\" (XTerm")),
        "{text}"
    );

    // A view token cannot focus, over MCP or REST; nothing moves.
    let err = tool_error(&mcp(
        &gw,
        VIEW_TOKEN,
        "focus_window",
        json!({"window": a_id}),
    ));
    assert!(err.contains("needs role control"), "{err}");
    let (status, forbidden) = rest(
        &gw,
        "POST",
        &format!("/api/v1/windows/{a_id}/focus"),
        VIEW_TOKEN,
    );
    assert_eq!(status, 403, "{forbidden}");
    assert_eq!(root_window_prop(&xvfb, "_NET_ACTIVE_WINDOW"), Some(b_id));

    // MCP focus_window: the manager activates WinA.
    let r = mcp(&gw, CONTROL_TOKEN, "focus_window", json!({"window": a_id}));
    let focused = tool_ok(&r);
    assert_eq!(focused["window"]["id"], a_id, "{focused}");
    assert_eq!(focused["window"]["focused"], true, "{focused}");
    assert_eq!(root_window_prop(&xvfb, "_NET_ACTIVE_WINDOW"), Some(a_id));
    assert_eq!(input_focus(&xvfb), a_id);

    // REST focus: WinB again, by its hex id as xdotool prints it.
    let (status, focused_b) = rest(
        &gw,
        "POST",
        &format!("/api/v1/windows/{b_id:#x}/focus"),
        CONTROL_TOKEN,
    );
    assert_eq!(status, 200, "{focused_b}");
    assert_eq!(
        (&focused_b["id"], &focused_b["focused"]),
        (&json!(b_id), &json!(true))
    );
    assert_eq!(root_window_prop(&xvfb, "_NET_ACTIVE_WINDOW"), Some(b_id));
    assert_eq!(input_focus(&xvfb), b_id);
    let (status, missing) = rest(&gw, "POST", "/api/v1/windows/12345/focus", CONTROL_TOKEN);
    assert_eq!(status, 404, "{missing}");
    let (status, bad) = rest(&gw, "POST", "/api/v1/windows/first/focus", CONTROL_TOKEN);
    assert_eq!(status, 400, "{bad}");
    let err = tool_error(&mcp(
        &gw,
        CONTROL_TOKEN,
        "focus_window",
        json!({"window": 12345}),
    ));
    assert!(err.contains("no window 12345"), "{err}");

    // A screenshot of a window has its size.
    assert_window_screenshot(&gw, &a);
    assert_window_screenshot(&gw, &b);

    // Minimized: listed as such, no screenshot; focusing restores it.
    xvfb.run(0, "xdotool", &["windowminimize", &a_id.to_string()]);
    let list = poll_every("WinA to be minimized", APPEAR_TIMEOUT, POLL, || {
        let (_, list) = rest(&gw, "GET", "/api/v1/windows", VIEW_TOKEN);
        match by_title(&list, WIN_A.0)["minimized"] == true {
            true => Ok(list),
            false => Err(list.to_string()),
        }
    });
    let err = tool_error(&mcp(&gw, VIEW_TOKEN, "screenshot", json!({"window": a_id})));
    assert!(err.contains("minimized"), "{err}");
    let r = mcp(&gw, CONTROL_TOKEN, "focus_window", json!({"window": a_id}));
    let restored = &tool_ok(&r)["window"];
    assert_eq!(
        (&restored["focused"], &restored["minimized"]),
        (&json!(true), &json!(false)),
        "{restored}"
    );
    assert_eq!(root_window_prop(&xvfb, "_NET_ACTIVE_WINDOW"), Some(a_id));

    check_openapi(
        &gw,
        vec![
            ("get", "/api/v1/windows", 200, list),
            ("post", "/api/v1/windows/{id}/focus", 200, focused_b),
            ("post", "/api/v1/windows/{id}/focus", 403, forbidden),
            ("post", "/api/v1/windows/{id}/focus", 404, missing),
            ("post", "/api/v1/windows/{id}/focus", 400, bad),
        ],
    );

    // openbox exits: its root properties stay behind, but the list comes from the X tree again, where the
    // clients now are (reparented to the root at their frames' places).
    wm.stop();
    let list = poll_every("the list without a manager", APPEAR_TIMEOUT, POLL, || {
        let (_, list) = rest(&gw, "GET", "/api/v1/windows", VIEW_TOKEN);
        match list["source"] == "x_tree" && list["windows"].as_array().is_some_and(|w| w.len() == 2)
        {
            true => Ok(list),
            false => Err(list.to_string()),
        }
    });
    assert!(
        root_window_prop(&xvfb, "_NET_SUPPORTING_WM_CHECK").is_some(),
        "openbox leaves it behind"
    );
    for title in [WIN_A.0, WIN_B.0] {
        assert_matches_xwininfo(&xvfb, by_title(&list, title), "0");
    }
}

#[test]
fn without_a_window_manager_the_x_tree_is_listed_and_focused() {
    let xvfb = Xvfb::start();
    let _a = XClient::xterm(&xvfb.screen(0), WIN_A);
    let _b = XClient::xterm(&xvfb.screen(0), WIN_B);
    // One on the second X screen: gateway screen 1.
    let _c = XClient::xterm(&xvfb.screen(1), ("WinC", 30, 40));
    let gw = GatewayProcess::start(&x11_config(&xvfb.display()));

    let list = wait_for_windows(&gw, &[WIN_A.0, WIN_B.0, "WinC"]);
    assert_eq!(list["source"], "x_tree", "{list}");
    for (title, x, y) in [WIN_A, WIN_B] {
        let w = by_title(&list, title);
        // No manager: the window is where -geometry asked, its client area inside its X border.
        let border = border_width(&xvfb, w["id"].as_u64().unwrap());
        assert_eq!(
            (&w["x"], &w["y"]),
            (&json!(x + border), &json!(y + border)),
            "{w}"
        );
        assert_matches_xwininfo(&xvfb, w, "0");
        assert_eq!(
            (&w["app"], &w["minimized"]),
            (&json!("XTerm"), &json!(false)),
            "{w}"
        );
    }
    let c = by_title(&list, "WinC");
    let border = border_width(&xvfb, c["id"].as_u64().unwrap());
    assert_eq!(
        (&c["screen"], &c["x"], &c["y"]),
        (&json!("1"), &json!(30 + border), &json!(40 + border)),
        "{c}"
    );

    for title in [WIN_A.0, WIN_B.0, "WinC"] {
        let id = by_title(&list, title)["id"].as_u64().unwrap();
        let r = mcp(&gw, CONTROL_TOKEN, "focus_window", json!({"window": id}));
        let w = &tool_ok(&r)["window"];
        assert_eq!((&w["id"], &w["focused"]), (&json!(id), &json!(true)), "{w}");
        assert_eq!(input_focus(&xvfb), id, "{title}");
        // Exactly one window is focused.
        let (_, now) = rest(&gw, "GET", "/api/v1/windows", VIEW_TOKEN);
        let focused: Vec<&Value> = now["windows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["focused"] == true)
            .collect();
        assert_eq!(focused.len(), 1, "{now}");
        assert_eq!(focused[0]["id"], id);
    }
    let (status, _) = rest(
        &gw,
        "POST",
        &format!("/api/v1/windows/{}/focus", by_title(&list, WIN_A.0)["id"]),
        CONTROL_TOKEN,
    );
    assert_eq!(status, 200);
    assert_eq!(
        input_focus(&xvfb),
        by_title(&list, WIN_A.0)["id"].as_u64().unwrap()
    );

    for title in [WIN_A.0, "WinC"] {
        assert_window_screenshot(&gw, by_title(&list, title));
    }
}
