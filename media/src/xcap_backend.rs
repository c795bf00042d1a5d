//! The macOS and Windows backend: xcap lists and captures monitors, enigo injects input.
//!
//! # Parts
//! - [`XcapDesktop`] is the [`Desktop`]. It keeps no xcap handles (a Windows `HMONITOR` is not `Send`): every call
//!   re-lists the monitors and finds its own by xcap's stable id, which costs microseconds next to a capture.
//! - [`XcapSource`] captures one monitor with `capture_image` (RGBA), skips unchanged screens by comparing with the
//!   previous capture (xcap has no change notification), and converts to BGRA once per changed frame.
//! - Input goes through one lazily created `Enigo` behind a mutex (created on first use, so capture-only use never
//!   asks macOS for the Accessibility permission; recreated after a failure). Pointer moves are converted from
//!   captured pixels to the coordinates the OS uses (points on macOS, which differ on Retina displays); keys go by
//!   DOM code to native key codes (`native_keys`); text goes through enigo's Unicode text entry.
//!
//! This module is compiled only on macOS and Windows. It was written against the sources of xcap 0.9.8 and
//! enigo 0.6.1 and has not been compiled on those targets in this repository's CI (no such toolchains on the
//! Linux build machine).

#[path = "x11/native_keys.rs"]
mod native_keys;
#[path = "x11/wheel.rs"]
mod wheel;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use enigo::{Axis, Button, Coordinate, Direction, Enigo, Key, Keyboard, Mouse, Settings};
use parking_lot::Mutex;
use xcap::Monitor;

use crate::{
    Desktop, Frame, FrameSource, InputEvent, MediaError, MouseButton, ScreenInfo, SourceKind,
    WindowId, WindowInfo, WindowList, WindowSource,
};
use wheel::WheelAccumulator;

/// Longest text one event may type (characters): [`sightline_limits::MAX_TEXT_CHARS`], the bound every edge
/// enforces. enigo types character by character and holds the input lock meanwhile, so texts longer than this are
/// refused rather than truncated.
const MAX_TEXT_CHARS: usize = sightline_limits::MAX_TEXT_CHARS;
/// Most windows [`Desktop::windows`] returns (the topmost), as on X11: each costs several system calls.
const MAX_WINDOWS: usize = 512;
/// Longest title kept, in characters.
const MAX_TITLE_CHARS: usize = 1024;

/// One monitor as xcap reports it, with the numbers input needs.
#[derive(Clone, Debug)]
struct MonitorEntry {
    info: ScreenInfo,
    /// xcap's id (CGDirectDisplayID on macOS, HMONITOR value on Windows): stable while the monitor is attached.
    xcap_id: u32,
    /// Origin and size in the coordinates the OS uses for the pointer (points on macOS, pixels on Windows).
    x: i32,
    y: i32,
    logical_width: u32,
    logical_height: u32,
}

fn xcap_err(what: &str) -> impl FnOnce(xcap::XCapError) -> MediaError + '_ {
    move |e| MediaError::Display(format!("{what}: {e}"))
}

/// The size of a capture in pixels. On macOS xcap reports points and captures at the backing scale; on Windows
/// it reports pixels already (the process is made DPI-aware when the desktop opens).
fn pixel_size(monitor: &Monitor, width: u32, height: u32) -> (u32, u32) {
    #[cfg(target_os = "macos")]
    {
        let scale = monitor.scale_factor().unwrap_or(1.0).max(0.1);
        (
            (width as f32 * scale).round() as u32,
            (height as f32 * scale).round() as u32,
        )
    }
    #[cfg(not(target_os = "macos"))]
    {
        let _ = monitor;
        (width, height)
    }
}

/// Lists the monitors in xcap's order with ids `"0"`, `"1"`, …; exactly one is primary (the OS's main display,
/// else the first).
fn list_monitors() -> Result<Vec<MonitorEntry>, MediaError> {
    let all = Monitor::all().map_err(xcap_err("cannot list monitors"))?;
    let mut out = Vec::with_capacity(all.len());
    for (i, m) in all.into_iter().enumerate() {
        let xcap_id = m.id().map_err(xcap_err("monitor id"))?;
        let name = m.name().unwrap_or_else(|_| format!("monitor {xcap_id}"));
        let (x, y) = (
            m.x().map_err(xcap_err("monitor x"))?,
            m.y().map_err(xcap_err("monitor y"))?,
        );
        let logical_width = m.width().map_err(xcap_err("monitor width"))?;
        let logical_height = m.height().map_err(xcap_err("monitor height"))?;
        let (width, height) = pixel_size(&m, logical_width, logical_height);
        let primary = m.is_primary().unwrap_or(false);
        let entry = MonitorEntry {
            info: ScreenInfo {
                id: i.to_string(),
                name,
                width,
                height,
                source: SourceKind::Xcap,
                primary,
            },
            xcap_id,
            x,
            y,
            logical_width,
            logical_height,
        };
        out.push(entry);
    }
    let primary = out.iter().position(|e| e.info.primary).unwrap_or(0);
    for (i, e) in out.iter_mut().enumerate() {
        e.info.primary = i == primary;
    }
    Ok(out)
}

/// The monitor holding the centre of a window at (`x`, `y`) sized `width × height` in the OS's coordinates, and the
/// window's rectangle in that monitor's pixels; no monitor → `None` and the OS's coordinates.
fn place_window(
    monitors: &[MonitorEntry],
    x: i32,
    y: i32,
    width: u32,
    height: u32,
) -> (Option<String>, i32, i32, u32, u32) {
    let cx = i64::from(x) + i64::from(width / 2);
    let cy = i64::from(y) + i64::from(height / 2);
    let on = monitors.iter().find(|m| {
        let (mx, my) = (i64::from(m.x), i64::from(m.y));
        (mx..mx + i64::from(m.logical_width)).contains(&cx)
            && (my..my + i64::from(m.logical_height)).contains(&cy)
    });
    let Some(m) = on else {
        return (None, x, y, width, height);
    };
    // Points to pixels on macOS (Retina: 2 pixels per point); 1:1 on Windows.
    let sx = |v: i64| v * i64::from(m.info.width) / i64::from(m.logical_width.max(1));
    let sy = |v: i64| v * i64::from(m.info.height) / i64::from(m.logical_height.max(1));
    (
        Some(m.info.id.clone()),
        sx(i64::from(x) - i64::from(m.x)) as i32,
        sy(i64::from(y) - i64::from(m.y)) as i32,
        sx(i64::from(width)) as u32,
        sy(i64::from(height)) as u32,
    )
}

/// The top-level windows as xcap lists them, bottom first. xcap's rectangle is the whole window (with its title
/// bar), and on macOS "focused" means "of the frontmost application".
fn list_windows() -> Result<WindowList, MediaError> {
    let monitors = list_monitors()?;
    // xcap lists the topmost first.
    let all = xcap::Window::all().map_err(xcap_err("cannot list windows"))?;
    let mut windows = Vec::new();
    for w in all.into_iter().take(MAX_WINDOWS) {
        // A window that closed while being read is skipped.
        let (Ok(id), Ok(x), Ok(y), Ok(width), Ok(height)) =
            (w.id(), w.x(), w.y(), w.width(), w.height())
        else {
            continue;
        };
        let (screen, x, y, width, height) = place_window(&monitors, x, y, width, height);
        windows.push(WindowInfo {
            id: WindowId::from(id),
            title: w
                .title()
                .unwrap_or_default()
                .chars()
                .take(MAX_TITLE_CHARS)
                .collect(),
            app: w.app_name().ok().filter(|a| !a.is_empty()),
            pid: w.pid().ok(),
            screen,
            x,
            y,
            width,
            height,
            focused: w.is_focused().unwrap_or(false),
            minimized: w.is_minimized().unwrap_or(false),
        });
    }
    windows.reverse();
    Ok(WindowList {
        source: WindowSource::Xcap,
        windows,
    })
}

fn find_monitor(id: &str) -> Result<MonitorEntry, MediaError> {
    list_monitors()?
        .into_iter()
        .find(|e| e.info.id == id)
        .ok_or_else(|| MediaError::UnknownScreen(id.to_owned()))
}

/// Input state behind the desktop's mutex.
#[derive(Default)]
struct Input {
    /// Created on first use; dropped after a failure so the next event starts afresh.
    enigo: Option<Enigo>,
    /// Fractional wheel steps per screen id (bounded: ids are checked against the monitor list first).
    wheels: HashMap<String, WheelAccumulator>,
}

/// The macOS/Windows [`Desktop`].
pub struct XcapDesktop {
    input: Mutex<Input>,
}

impl std::fmt::Debug for XcapDesktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XcapDesktop").finish_non_exhaustive()
    }
}

impl XcapDesktop {
    /// Checks that monitors can be listed and makes the process DPI-aware on Windows, so captures, monitor
    /// geometry and pointer coordinates all use physical pixels.
    pub fn open() -> Result<Self, MediaError> {
        #[cfg(target_os = "windows")]
        {
            // Fails harmlessly when the awareness was already set (by a manifest or an earlier call).
            let _ = enigo::set_dpi_awareness();
        }
        let monitors = list_monitors().map_err(|e| MediaError::Unavailable(e.to_string()))?;
        if monitors.is_empty() {
            return Err(MediaError::Unavailable("xcap found no monitor".into()));
        }
        Ok(Self {
            input: Mutex::new(Input::default()),
        })
    }
}

fn direction(down: bool) -> Direction {
    if down {
        Direction::Press
    } else {
        Direction::Release
    }
}

fn native_key(code: &str) -> Option<u32> {
    #[cfg(target_os = "macos")]
    let native = native_keys::mac_keycode(code);
    #[cfg(target_os = "windows")]
    let native = native_keys::windows_vk(code);
    native.map(u32::from)
}

impl Input {
    fn enigo(&mut self) -> Result<&mut Enigo, MediaError> {
        if self.enigo.is_none() {
            let settings = Settings {
                // A gateway must not pop up dialogs; a missing permission is reported as an error instead.
                open_prompt_to_get_permissions: false,
                ..Settings::default()
            };
            let enigo = Enigo::new(&settings)
                .map_err(|e| MediaError::Input(format!("cannot start input injection: {e}")))?;
            self.enigo = Some(enigo);
        }
        Ok(self.enigo.as_mut().expect("created above"))
    }

    fn inject(&mut self, monitor: &MonitorEntry, event: &InputEvent) -> Result<(), MediaError> {
        let failed = |e: enigo::InputError| MediaError::Input(e.to_string());
        match event {
            InputEvent::PointerMove { x, y } => {
                let (w, h) = (monitor.info.width.max(1), monitor.info.height.max(1));
                let lx =
                    u64::from((*x).min(w - 1)) * u64::from(monitor.logical_width) / u64::from(w);
                let ly =
                    u64::from((*y).min(h - 1)) * u64::from(monitor.logical_height) / u64::from(h);
                self.enigo()?
                    .move_mouse(
                        monitor.x + lx as i32,
                        monitor.y + ly as i32,
                        Coordinate::Abs,
                    )
                    .map_err(failed)
            }
            InputEvent::Button { button, down } => {
                let button = match button {
                    MouseButton::Left => Button::Left,
                    MouseButton::Middle => Button::Middle,
                    MouseButton::Right => Button::Right,
                };
                self.enigo()?
                    .button(button, direction(*down))
                    .map_err(failed)
            }
            InputEvent::Wheel { dx, dy } => {
                if !dx.is_finite() || !dy.is_finite() {
                    return Err(MediaError::invalid(
                        "wheel delta",
                        "must be a finite number",
                    ));
                }
                let (sx, sy) = self
                    .wheels
                    .entry(monitor.info.id.clone())
                    .or_default()
                    .add(*dx, *dy);
                // enigo: positive scrolls down / right, like our deltas.
                if sy != 0 {
                    self.enigo()?.scroll(sy, Axis::Vertical).map_err(failed)?;
                }
                if sx != 0 {
                    self.enigo()?.scroll(sx, Axis::Horizontal).map_err(failed)?;
                }
                Ok(())
            }
            InputEvent::Key { code, down } => {
                let native = native_key(code).ok_or_else(|| {
                    MediaError::Input(format!(
                        "unknown key code {code:?} (or no such key on this platform)"
                    ))
                })?;
                self.enigo()?
                    .key(Key::Other(native), direction(*down))
                    .map_err(failed)
            }
            InputEvent::Text { text } => {
                let count = text.chars().count();
                if count > MAX_TEXT_CHARS {
                    return Err(MediaError::invalid(
                        "text",
                        format!("{count} characters; at most {MAX_TEXT_CHARS} per event"),
                    ));
                }
                if let Some(c) = text
                    .chars()
                    .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                {
                    return Err(MediaError::invalid(
                        "text",
                        format!("control character U+{:04X} cannot be typed", u32::from(c)),
                    ));
                }
                self.enigo()?.text(text).map_err(failed)
            }
        }
    }
}

impl Desktop for XcapDesktop {
    fn kind(&self) -> SourceKind {
        SourceKind::Xcap
    }

    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        Ok(list_monitors()?.into_iter().map(|e| e.info).collect())
    }

    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError> {
        let entry = find_monitor(screen)?;
        Ok(Box::new(XcapSource {
            info: entry.info,
            xcap_id: entry.xcap_id,
            seq: 0,
            previous: Vec::new(),
        }))
    }

    fn windows(&self) -> Result<WindowList, MediaError> {
        list_windows()
    }

    fn focus_window(&self, id: WindowId) -> Result<WindowInfo, MediaError> {
        // xcap reads windows but cannot activate them, and enigo has no such call either.
        Err(MediaError::Unavailable(format!(
            "focusing windows is not supported on macOS and Windows yet (window {id}); click into the window instead"
        )))
    }

    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError> {
        let entry = find_monitor(screen)?;
        let mut input = self.input.lock();
        let result = input.inject(&entry, event);
        if matches!(result, Err(MediaError::Input(_))) {
            input.enigo = None; // start afresh next time (e.g. after permissions were granted)
        }
        result
    }
}

/// The [`FrameSource`] of one xcap monitor.
pub struct XcapSource {
    info: ScreenInfo,
    xcap_id: u32,
    seq: u64,
    /// The last capture (RGBA), to tell an unchanged screen by comparison.
    previous: Vec<u8>,
}

impl std::fmt::Debug for XcapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XcapSource")
            .field("screen", &self.info.id)
            .finish_non_exhaustive()
    }
}

impl FrameSource for XcapSource {
    fn screen(&self) -> &ScreenInfo {
        &self.info
    }

    fn capture(&mut self, force: bool) -> Result<Option<Frame>, MediaError> {
        let monitor = Monitor::all()
            .map_err(xcap_err("cannot list monitors"))?
            .into_iter()
            .find(|m| m.id().ok() == Some(self.xcap_id))
            .ok_or_else(|| MediaError::Display(format!("monitor {} is gone", self.info.name)))?;
        let image = monitor
            .capture_image()
            .map_err(|e| MediaError::Capture(format!("xcap: {e}")))?;
        let captured_at = SystemTime::now();
        let (width, height) = (image.width(), image.height());
        let rgba = image.into_raw();
        if !force && self.seq > 0 && rgba == self.previous {
            return Ok(None);
        }
        // RGBA → BGRA, once per changed frame.
        let data: Arc<[u8]> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], p[3]])
            .collect();
        self.previous = rgba;
        self.info.width = width;
        self.info.height = height;
        self.seq += 1;
        Ok(Some(Frame {
            width,
            height,
            stride: width as usize * 4,
            data,
            captured_at,
            seq: self.seq,
        }))
    }
}
