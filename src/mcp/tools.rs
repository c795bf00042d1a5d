//! What each tool does, given the gateway and the caller: argument types (with the JSON schemas agents read),
//! validation, and the calls into the session manager: input as [`Intent`]s through
//! [`SessionManager::act`], pictures and waits through its frame methods.
//! Nothing here knows about MCP transports; [`super::handler`] wraps these in tool results and the audit trail.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rmcp::schemars::{self, JsonSchema};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sightline_media::{Frame, Rect, ScreenInfo, StillEncoding, StillRequest};
use sightline_signaling::Role;
use sightline_signaling::messages::{KeyAction, PointerAction};
use tokio::time::Instant;

use super::change::{ChangeWait, StableWait, Verdict, region_differs};
use super::error::ToolError;
use super::geometry::{self, Mapping, Point, Region, check_point};
use crate::control::{Action, At, Intent};
use crate::session::{Actor, Overlay, SessionManager};

use sightline_limits::{self as limits, MAX_KEYS, MAX_TEXT_CHARS, MAX_WAIT_MS, MAX_WHEEL_STEPS};
/// `wait_for_change` timeout when none is given.
pub const DEFAULT_CHANGE_TIMEOUT_MS: u64 = 5_000;
/// `wait_until_stable` quiet period when none is given: long enough to outlast an animation frame or a repaint
/// burst, short enough to keep an agent moving.
pub const DEFAULT_QUIET_MS: u64 = 500;
/// Accepted `wait_until_stable` quiet periods, in ms (below 50 ms two frames at 30 fps already count as quiet).
pub const QUIET_RANGE_MS: std::ops::RangeInclusive<u64> = 50..=10_000;
/// `wait_until_stable` timeout when none is given.
pub const DEFAULT_STABLE_TIMEOUT_MS: u64 = 10_000;
/// JPEG quality when none is given: small enough for a quick round trip, clean enough to read small text.
pub const DEFAULT_JPEG_QUALITY: u8 = 80;
/// The longest hold of keys (`press_keys` `hold_ms`) or of a button (`long_press` `duration_ms`): a hold keeps the
/// input of everyone sharing the display in that state, so it is short; longer interactions are several calls.
pub const MAX_HOLD_MS: u64 = 10_000;
/// Largest screenshot base64-encoded on the async runtime; larger ones go to the blocking pool. 512 KiB encodes
/// in well under a millisecond (base64 runs at GB/s), less than a trip to the pool costs.
const INLINE_BASE64_BYTES: usize = 512 * 1024;

/// What each tool does in the policy table: screens, screenshots and waits watch; the session list and the monitor
/// summary inspect; the rest is input. `None` = no such tool.
pub fn action(tool: &str) -> Option<Action> {
    match tool {
        "list_screens" | "screenshot" | "wait_for_change" | "wait_until_stable"
        | "list_windows" | "ui_tree" | "list_devices" => Some(Action::Watch),
        "list_sessions" | "monitor_summary" => Some(Action::Inspect),
        "get_clipboard" | "set_clipboard" => Some(Action::Clipboard),
        "click" | "move_pointer" | "drag" | "scroll" | "type_text" | "press_keys"
        | "focus_window" | "click_element" | "set_text" | "long_press" => Some(Action::Input),
        _ => None,
    }
}

/// The role a tool needs, from the policy table. `None` = no such tool.
pub fn required_role(tool: &str) -> Option<Role> {
    action(tool).map(Action::required_role)
}

pub use super::output::Output;

/// A mouse button: the wire protocol's own type, so viewers and agents name buttons the same way.
pub use sightline_signaling::messages::Button;

/// How a button reads in a tool's result.
fn button_name(b: Button) -> &'static str {
    match b {
        Button::Left => "left",
        Button::Middle => "middle",
        Button::Right => "right",
    }
}

/// A picture format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG: small and fast; fine for reading the screen.
    #[default]
    Jpeg,
    /// PNG: lossless, exact pixels; larger and slower.
    Png,
}

/// Arguments of `screenshot`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenshotArgs {
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
    /// `jpeg` (default) or `png` (lossless).
    pub format: Option<Format>,
    /// JPEG quality 1-100 (default 80). Ignored for PNG.
    #[schemars(range(min = *limits::JPEG_QUALITY.start(), max = *limits::JPEG_QUALITY.end()))]
    pub quality: Option<u8>,
    /// Largest image width in pixels; see the schema description.
    #[schemars(
        range(min = *limits::MAX_WIDTH.start(), max = *limits::MAX_WIDTH.end()),
        description = "Largest image width in pixels (16-8192; aspect kept, never upscaled). Default: at most \
                       1568 px on the long edge and 1.15 megapixels, the size vision models use without shrinking \
                       it further. Pass the region's width for every pixel."
    )]
    pub max_width: Option<u32>,
    /// Part of the screen to capture, in screen pixels. Default: the whole screen.
    pub region: Option<Region>,
    /// Whether to draw the pointer; see the schema description.
    #[schemars(
        description = "Draw the mouse pointer into the picture where it is. Default false: the picture shows the \
                       screen without the pointer (with [capture] cursor = \"video\" it is always in it)."
    )]
    pub include_cursor: Option<bool>,
    /// Window id from list_windows; see the schema description.
    #[schemars(
        description = "Window id from list_windows: capture that window's client area on its screen (clipped to \
                       it). Takes the place of screen and region."
    )]
    pub window: Option<sightline_media::WindowId>,
}

/// Arguments of `click`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickArgs {
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
    /// Horizontal screen pixel (0 = left edge).
    pub x: u32,
    /// Vertical screen pixel (0 = top edge).
    pub y: u32,
    /// `left` (default), `middle` or `right`.
    pub button: Option<Button>,
    /// Double-click instead of a single click.
    pub double: Option<bool>,
}

/// Arguments of `move_pointer`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveArgs {
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
    /// Horizontal screen pixel (0 = left edge).
    pub x: u32,
    /// Vertical screen pixel (0 = top edge).
    pub y: u32,
}

/// Arguments of `drag`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DragArgs {
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
    /// Where the button is pressed, in screen pixels.
    pub from: Point,
    /// Where it is released, in screen pixels.
    pub to: Point,
    /// `left` (default), `middle` or `right`.
    pub button: Option<Button>,
}

/// Arguments of `scroll`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrollArgs {
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
    /// Horizontal wheel steps (notches), positive = right; -100..100, fractions allowed. Default 0.
    pub dx: Option<f64>,
    /// Vertical wheel steps (notches), positive = down; -100..100, fractions allowed. Default 0.
    pub dy: Option<f64>,
    /// Move the pointer here first (screen pixels); give both x and y, or neither to scroll where it is.
    pub x: Option<u32>,
    /// See x.
    pub y: Option<u32>,
}

/// Arguments of `type_text`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeTextArgs {
    /// The text, up to 4096 characters; any Unicode, typed as-is into the focused window.
    #[schemars(length(min = 1, max = limits::MAX_TEXT_CHARS))]
    pub text: String,
    /// Screen id of the display to type on. Default: the primary screen.
    pub screen: Option<String>,
}

/// Arguments of `press_keys`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PressKeysArgs {
    /// Keys by DOM `KeyboardEvent.code` name; see the schema description.
    #[schemars(
        length(min = 1, max = limits::MAX_KEYS),
        description = "Keys by DOM KeyboardEvent.code name, e.g. [\"ControlLeft\",\"ShiftLeft\",\"KeyT\"], \
                       [\"Enter\"], [\"AltLeft\",\"F4\"]: all pressed in this order, then released in reverse. \
                       1-16 keys."
    )]
    pub keys: Vec<String>,
    /// Screen id of the display to type on. Default: the primary screen.
    pub screen: Option<String>,
    /// How long the keys stay down; see the schema description.
    #[schemars(
        range(max = MAX_HOLD_MS),
        description = "Hold the keys down this long in ms (at most 10000) before releasing them in reverse: a key \
                       hold (auto-repeat, hold-to-act). Default: released at once."
    )]
    pub hold_ms: Option<u64>,
}

/// Arguments of `wait_for_change`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitForChangeArgs {
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
    /// Only changes inside this part of the screen count (screen pixels). Default: the whole screen.
    pub region: Option<Region>,
    /// Longest wait in ms (default 5000, at most 60000).
    #[schemars(range(max = limits::MAX_WAIT_MS))]
    pub timeout_ms: Option<u64>,
}

/// Arguments of `wait_until_stable`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitUntilStableArgs {
    /// Screen id from list_screens. Default: the primary screen.
    pub screen: Option<String>,
    /// Only changes inside this part of the screen count (screen pixels). Default: the whole screen.
    pub region: Option<Region>,
    /// How long the screen must stay unchanged, in ms (default 500, 50-10000).
    #[schemars(range(min = *QUIET_RANGE_MS.start(), max = *QUIET_RANGE_MS.end()))]
    pub quiet_ms: Option<u64>,
    /// Longest wait in ms (default 10000, at most 60000).
    #[schemars(range(max = limits::MAX_WAIT_MS))]
    pub timeout_ms: Option<u64>,
}

/// The named screen, or the primary one.
async fn screen(gw: &SessionManager, id: Option<String>) -> Result<ScreenInfo, ToolError> {
    Ok(gw.find_screen(id).await?)
}

fn wait_ms(value: Option<u64>, default: u64, name: &str) -> Result<Duration, ToolError> {
    let ms = value.unwrap_or(default);
    if ms > MAX_WAIT_MS {
        return Err(ToolError::invalid(format!(
            "{name} {ms} is too long (at most {MAX_WAIT_MS} ms)"
        )));
    }
    Ok(Duration::from_millis(ms))
}

/// `list_screens`.
pub async fn list_screens(gw: &SessionManager) -> Result<Output, ToolError> {
    let screens = gw.screen_entries().await?;
    Ok(Output::json(json!({ "screens": screens })))
}

/// `screenshot`: the running pipeline's latest frame when there is one (no extra capture), otherwise a grab of
/// only the region by the screen's warm still grabber; encoded straight from the captured pixels
/// ([`sightline_media::Engine::still`]). A `window` is resolved to its screen and client area first.
pub async fn screenshot(gw: &SessionManager, args: ScreenshotArgs) -> Result<Output, ToolError> {
    let format = args.format.unwrap_or_default();
    let quality = args.quality.unwrap_or(DEFAULT_JPEG_QUALITY);
    sightline_limits::check(
        "quality",
        u32::from(quality),
        &sightline_limits::JPEG_QUALITY,
    )
    .map_err(ToolError::Invalid)?;
    let (info, region) = match args.window {
        Some(window) => {
            if args.screen.is_some() || args.region.is_some() {
                return Err(ToolError::invalid(
                    "window takes the place of screen and region: pass only one of them",
                ));
            }
            let (id, region) = super::windows::window_region(gw, window).await?;
            (screen(gw, Some(id)).await?, Some(region))
        }
        None => (screen(gw, args.screen).await?, args.region),
    };
    // Checked against the listed size for a clear message; the engine checks again against the screen's size
    // when it grabs (a screen resized since the list was read).
    let asked = region
        .unwrap_or(Region::full(info.width, info.height))
        .check(&info.id, info.width, info.height)?;
    let max_width = geometry::target_width(asked.width, asked.height, args.max_width)?;
    let encoding = match format {
        Format::Jpeg => StillEncoding::Jpeg { quality, max_width },
        Format::Png => StillEncoding::Png { max_width },
    };
    let request = StillRequest {
        region: region.map(|r| Rect {
            x: r.x,
            y: r.y,
            width: r.width,
            height: r.height,
        }),
        include_cursor: args.include_cursor.unwrap_or(false),
        encoding,
    };
    let still = gw.still(&info.id, request).await?;
    let region = Region {
        x: still.region.x,
        y: still.region.y,
        width: still.region.width,
        height: still.region.height,
    };
    let (width, height, mime) = (still.width, still.height, still.mime);
    let bytes = still.data.len();
    let data = if bytes > INLINE_BASE64_BYTES {
        gw.blocking("mcp-screenshot-base64", move || {
            base64::engine::general_purpose::STANDARD.encode(&still.data)
        })
        .await?
    } else {
        base64::engine::general_purpose::STANDARD.encode(&still.data)
    };
    let m = Mapping::new(region, width, height);
    let format_name = match format {
        Format::Jpeg => format!("JPEG (quality {quality})"),
        Format::Png => "PNG".to_owned(),
    };
    let text = format!(
        "Screen {id} is {sw}x{sh} px. This {width}x{height} {format_name} image shows its region x={rx} y={ry} \
         width={rw} height={rh}. To act on a point of the image, use screen pixel \
         x = {rx} + image_x * {scx:.4}, y = {ry} + image_y * {scy:.4}.",
        id = info.id,
        sw = still.screen_width,
        sh = still.screen_height,
        rx = region.x,
        ry = region.y,
        rw = region.width,
        rh = region.height,
        scx = m.scale_x,
        scy = m.scale_y,
    );
    let structured = json!({
        "screen": info.id,
        "screen_width": still.screen_width,
        "screen_height": still.screen_height,
        "image_width": width,
        "image_height": height,
        "format": mime,
        "bytes": bytes,
        "region": region,
        "scale_x": m.scale_x,
        "scale_y": m.scale_y,
        "seq": still.seq,
        "captured_at_ms": still.captured_at_ms,
        "window": args.window,
    });
    Ok(Output {
        text,
        image: Some((data, mime)),
        structured: Some(structured),
    })
}

/// Carries out an agent's input on screen `s` and shows it to the people watching.
async fn act(
    gw: &SessionManager,
    actor: &Actor,
    s: &ScreenInfo,
    intents: &[Intent],
    action: &str,
    detail: &str,
) -> Result<(), ToolError> {
    let overlay = Overlay {
        action: action.to_owned(),
        detail: detail.to_owned(),
    };
    gw.act(actor, Some(&s.id), intents, Some(overlay)).await?;
    Ok(())
}

fn pixel(p: Point) -> At {
    At::Pixel { x: p.x, y: p.y }
}

/// The named screen (or the primary one) and (x, y) checked to lie on it.
pub(crate) async fn screen_point(
    gw: &SessionManager,
    id: Option<String>,
    x: u32,
    y: u32,
) -> Result<(ScreenInfo, Point), ToolError> {
    let s = screen(gw, id).await?;
    let p = check_point(&s.id, Point { x, y }, s.width, s.height)?;
    Ok((s, p))
}

/// `click`: move, then press and release (twice for a double click).
pub async fn click(
    gw: &SessionManager,
    actor: &Actor,
    args: ClickArgs,
) -> Result<Output, ToolError> {
    let (s, p) = screen_point(gw, args.screen, args.x, args.y).await?;
    let button = args.button.unwrap_or_default();
    let double = args.double.unwrap_or(false);
    let intent = Intent::Pointer {
        action: if double {
            PointerAction::Dblclick
        } else {
            PointerAction::Click
        },
        at: Some(pixel(p)),
        button,
    };
    let what = if double { "double-clicked" } else { "clicked" };
    let detail = format!("{what} {} at ({}, {})", button_name(button), p.x, p.y);
    act(gw, actor, &s, &[intent], "click", &detail).await?;
    Ok(Output::text(format!("{detail} on screen {}", s.id)))
}

/// `move_pointer`.
pub async fn move_pointer(
    gw: &SessionManager,
    actor: &Actor,
    args: MoveArgs,
) -> Result<Output, ToolError> {
    let (s, p) = screen_point(gw, args.screen, args.x, args.y).await?;
    let detail = format!("moved the pointer to ({}, {})", p.x, p.y);
    let intent = Intent::Pointer {
        action: PointerAction::Move,
        at: Some(pixel(p)),
        button: Button::Left,
    };
    act(gw, actor, &s, &[intent], "move_pointer", &detail).await?;
    Ok(Output::text(format!("{detail} on screen {}", s.id)))
}

/// `drag`: press at `from`, move in steps, release at `to`.
pub async fn drag(gw: &SessionManager, actor: &Actor, args: DragArgs) -> Result<Output, ToolError> {
    let s = screen(gw, args.screen).await?;
    let from = check_point(&s.id, args.from, s.width, s.height)?;
    let to = check_point(&s.id, args.to, s.width, s.height)?;
    let intent = Intent::Drag {
        from: pixel(from),
        to: pixel(to),
        button: args.button.unwrap_or_default(),
    };
    let detail = format!(
        "dragged from ({}, {}) to ({}, {})",
        from.x, from.y, to.x, to.y
    );
    act(gw, actor, &s, &[intent], "drag", &detail).await?;
    Ok(Output::text(format!("{detail} on screen {}", s.id)))
}

/// `scroll`.
pub async fn scroll(
    gw: &SessionManager,
    actor: &Actor,
    args: ScrollArgs,
) -> Result<Output, ToolError> {
    let (dx, dy) = (args.dx.unwrap_or(0.0), args.dy.unwrap_or(0.0));
    for (name, v) in [("dx", dx), ("dy", dy)] {
        if !v.is_finite() || v.abs() > MAX_WHEEL_STEPS {
            return Err(ToolError::invalid(format!(
                "{name} {v} is out of range (-{MAX_WHEEL_STEPS}..={MAX_WHEEL_STEPS} wheel steps)"
            )));
        }
    }
    if dx == 0.0 && dy == 0.0 {
        return Err(ToolError::invalid("give dx or dy (wheel steps) to scroll"));
    }
    let s = screen(gw, args.screen).await?;
    let at = match (args.x, args.y) {
        (Some(x), Some(y)) => Some(check_point(&s.id, Point { x, y }, s.width, s.height)?),
        (None, None) => None,
        _ => return Err(ToolError::invalid("give both x and y, or neither")),
    };
    let detail = match at {
        Some(p) => format!("scrolled dx={dx} dy={dy} at ({}, {})", p.x, p.y),
        None => format!("scrolled dx={dx} dy={dy} at the pointer"),
    };
    let intent = Intent::Wheel {
        at: at.map(pixel),
        dx,
        dy,
    };
    act(gw, actor, &s, &[intent], "scroll", &detail).await?;
    Ok(Output::text(format!("{detail} on screen {}", s.id)))
}

/// `type_text`.
pub async fn type_text(
    gw: &SessionManager,
    actor: &Actor,
    args: TypeTextArgs,
) -> Result<Output, ToolError> {
    let chars = args.text.chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(ToolError::invalid(format!(
            "text has {chars} characters; give 1 to {MAX_TEXT_CHARS}"
        )));
    }
    let s = screen(gw, args.screen).await?;
    let detail = format!("typed {chars} characters");
    let intent = Intent::Text { text: args.text };
    act(gw, actor, &s, &[intent], "type_text", &detail).await?;
    Ok(Output::text(detail))
}

/// `press_keys`: every key pressed in order, then released in reverse. If a key cannot be pressed (an unknown
/// code), the keys already down are released before the error is returned, so no modifier stays stuck.
pub async fn press_keys(
    gw: &SessionManager,
    actor: &Actor,
    args: PressKeysArgs,
) -> Result<Output, ToolError> {
    if args.keys.is_empty() || args.keys.len() > MAX_KEYS {
        return Err(ToolError::invalid(format!(
            "keys has {} entries; give 1 to {MAX_KEYS}",
            args.keys.len()
        )));
    }
    if let Some(bad) = args
        .keys
        .iter()
        .find(|k| k.is_empty() || k.len() > 32 || !k.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(ToolError::invalid(format!(
            "{bad:?} is not a DOM KeyboardEvent.code name (like \"KeyA\", \"Enter\", \"ShiftLeft\")"
        )));
    }
    let s = screen(gw, args.screen).await?;
    let key = |code: &String, action| Intent::Key {
        action,
        code: code.clone(),
    };
    let releases = |keys: &[String]| -> Vec<Intent> {
        keys.iter().rev().map(|c| key(c, KeyAction::Up)).collect()
    };
    for (i, code) in args.keys.iter().enumerate() {
        if let Err(e) = gw
            .act(actor, Some(&s.id), &[key(code, KeyAction::Down)], None)
            .await
        {
            let release = releases(&args.keys[..i]);
            if !release.is_empty()
                && let Err(r) = gw.act(actor, Some(&s.id), &release, None).await
            {
                tracing::warn!(error = %r, "could not release keys after a failed press_keys");
            }
            return Err(match ToolError::from(e) {
                ToolError::Invalid(m) | ToolError::Failed(m) => ToolError::Failed(format!(
                    "key {code:?} could not be pressed ({m}); nothing stays pressed"
                )),
                other => other,
            });
        }
    }
    let chord = args.keys.join("+");
    let detail = format!("pressed {chord}");
    act(gw, actor, &s, &releases(&args.keys), "press_keys", &detail).await?;
    Ok(Output::text(detail))
}

/// The next frame of a subscription, or `None` at `until`. A capture that ended is an error.
async fn next_frame(
    sub: &mut sightline_media::engine::FrameSubscription,
    until: Instant,
) -> Result<Option<Arc<Frame>>, ToolError> {
    match tokio::time::timeout_at(until, sub.changed()).await {
        Ok(Some(f)) => Ok(Some(f)),
        Ok(None) => Err(ToolError::Failed(
            "the screen's capture ended (the screen vanished or the gateway is stopping)".into(),
        )),
        Err(_) => Ok(None),
    }
}

fn checked_region(s: &ScreenInfo, region: Option<Region>) -> Result<Option<Region>, ToolError> {
    region
        .map(|r| r.check(&s.id, s.width, s.height))
        .transpose()
}

/// `wait_for_change`: subscribes to the screen's captured frames (starting its capture if nobody watches) and
/// returns at the first frame whose region differs from the frame current when the call began.
pub async fn wait_for_change(
    gw: &SessionManager,
    args: WaitForChangeArgs,
) -> Result<Output, ToolError> {
    let timeout = wait_ms(args.timeout_ms, DEFAULT_CHANGE_TIMEOUT_MS, "timeout_ms")?;
    let s = screen(gw, args.screen).await?;
    let region = checked_region(&s, args.region)?;
    let started = Instant::now();
    let mut wait = ChangeWait::new(started, timeout);
    let mut sub = gw.subscribe_frames(&s.id)?;
    let mut baseline = sub.latest();
    let mut seq = baseline.as_ref().map(|f| f.seq);
    loop {
        let until = match wait.poll(Instant::now()) {
            Verdict::Done | Verdict::TimedOut => break,
            Verdict::WaitUntil(t) => t,
        };
        let Some(frame) = next_frame(&mut sub, until).await? else {
            continue;
        };
        seq = Some(frame.seq);
        match &baseline {
            Some(b) => wait.on_frame(region_differs(b, &frame, region)),
            None => baseline = Some(frame),
        }
    }
    let elapsed = started.elapsed().as_millis() as u64;
    let changed = wait.poll(Instant::now()) == Verdict::Done;
    let text = if changed {
        format!("screen {} changed after {elapsed} ms", s.id)
    } else {
        format!(
            "no change on screen {} within {} ms",
            s.id,
            timeout.as_millis()
        )
    };
    Ok(Output {
        structured: Some(json!({
            "changed": changed, "elapsed_ms": elapsed, "screen": s.id, "region": region, "seq": seq,
        })),
        text,
        image: None,
    })
}

/// `wait_until_stable`: returns once the region went `quiet_ms` without changing, or at the timeout.
pub async fn wait_until_stable(
    gw: &SessionManager,
    args: WaitUntilStableArgs,
) -> Result<Output, ToolError> {
    let timeout = wait_ms(args.timeout_ms, DEFAULT_STABLE_TIMEOUT_MS, "timeout_ms")?;
    let quiet_ms = args.quiet_ms.unwrap_or(DEFAULT_QUIET_MS);
    if !QUIET_RANGE_MS.contains(&quiet_ms) {
        return Err(ToolError::invalid(format!(
            "quiet_ms {quiet_ms} is out of range ({}..={})",
            QUIET_RANGE_MS.start(),
            QUIET_RANGE_MS.end()
        )));
    }
    let s = screen(gw, args.screen).await?;
    let region = checked_region(&s, args.region)?;
    let started = Instant::now();
    let mut wait = StableWait::new(started, Duration::from_millis(quiet_ms), timeout);
    let mut sub = gw.subscribe_frames(&s.id)?;
    let mut previous = sub.latest();
    loop {
        let until = match wait.poll(Instant::now()) {
            Verdict::Done | Verdict::TimedOut => break,
            Verdict::WaitUntil(t) => t,
        };
        let Some(frame) = next_frame(&mut sub, until).await? else {
            continue;
        };
        if let Some(p) = &previous {
            wait.on_frame(Instant::now(), region_differs(p, &frame, region));
        }
        previous = Some(frame);
    }
    let elapsed = started.elapsed().as_millis() as u64;
    let stable = wait.poll(Instant::now()) == Verdict::Done;
    let text = if stable {
        format!(
            "screen {} has been unchanged for {quiet_ms} ms (after {} changes, {elapsed} ms)",
            s.id,
            wait.changes()
        )
    } else {
        format!(
            "screen {} kept changing ({} changes) and was not stable within {} ms",
            s.id,
            wait.changes(),
            timeout.as_millis()
        )
    };
    Ok(Output {
        structured: Some(json!({
            "stable": stable, "elapsed_ms": elapsed, "changes": wait.changes(), "screen": s.id, "region": region,
        })),
        text,
        image: None,
    })
}

/// `list_sessions`: the session table, as `GET /api/v1/sessions` shows it.
pub fn list_sessions(gw: &SessionManager) -> Output {
    Output::json(json!({ "sessions": gw.sessions() }))
}

/// `monitor_summary`: the monitor's summary, the same snapshot type as the REST summary.
pub fn monitor_summary(gw: &SessionManager) -> Result<Output, ToolError> {
    let summary = serde_json::to_value(gw.monitor_view().summary())
        .map_err(|e| ToolError::Failed(format!("summary could not be serialised: {e}")))?;
    Ok(Output::json(summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_what_a_tool_can_do() {
        assert_eq!(required_role("screenshot"), Some(Role::View));
        assert_eq!(required_role("wait_until_stable"), Some(Role::View));
        assert_eq!(required_role("press_keys"), Some(Role::Control));
        assert_eq!(required_role("monitor_summary"), Some(Role::View));
        assert_eq!(required_role("list_sessions"), Some(Role::View));
        assert_eq!(required_role("format_disk"), None);
    }

    #[test]
    fn arguments_reject_unknown_fields_and_name_the_field() {
        let e = serde_json::from_value::<ClickArgs>(json!({"x": 1, "y": 2, "buton": "left"}))
            .unwrap_err();
        assert!(e.to_string().contains("buton"), "{e}");
        let a: ClickArgs =
            serde_json::from_value(json!({"x": 1, "y": 2, "button": "right"})).unwrap();
        assert_eq!(a.button, Some(Button::Right));
        assert!(serde_json::from_value::<ScreenshotArgs>(json!({"format": "gif"})).is_err());
    }

    #[test]
    fn schemas_state_the_shared_limits() {
        let schema = |v: schemars::Schema| serde_json::to_value(v).unwrap();
        let shot = schema(schemars::schema_for!(ScreenshotArgs));
        assert_eq!(shot["properties"]["quality"]["maximum"], 100);
        assert_eq!(
            shot["properties"]["max_width"]["maximum"],
            *limits::MAX_WIDTH.end()
        );
        let text = schema(schemars::schema_for!(TypeTextArgs));
        assert_eq!(
            text["properties"]["text"]["maxLength"],
            limits::MAX_TEXT_CHARS
        );
        let keys = schema(schemars::schema_for!(PressKeysArgs));
        assert_eq!(keys["properties"]["keys"]["maxItems"], limits::MAX_KEYS);
        let wait = schema(schemars::schema_for!(WaitForChangeArgs));
        assert_eq!(
            wait["properties"]["timeout_ms"]["maximum"],
            limits::MAX_WAIT_MS
        );
    }

    #[test]
    fn wait_lengths_are_bounded() {
        assert_eq!(wait_ms(None, 5000, "t").unwrap(), Duration::from_secs(5));
        assert!(wait_ms(Some(MAX_WAIT_MS + 1), 5000, "t").is_err());
    }
}
