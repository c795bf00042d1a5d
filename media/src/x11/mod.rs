//! The X11 backend: capture through MIT-SHM, change detection through DAMAGE, the cursor through XFixes, input
//! through XTEST, all over x11rb's pure-Rust connection.
//!
//! # Parts
//! - [`X11Desktop`] is the [`Desktop`]: it lists every RandR monitor of every X screen of one display
//!   (`layout`), opens a capturer per monitor and injects input. It keeps one persistent "control" connection
//!   (behind a mutex, reopened when it breaks) for layout queries and input.
//! - `capture::X11Source` is the [`FrameSource`] of one monitor. It owns its own connection and shared-memory
//!   segment, so capture threads never contend with each other or with input. An unchanged monitor costs one
//!   non-blocking socket read and one QueryPointer round trip per tick: no image request, no copy.
//! - `input` turns [`InputEvent`]s into XTEST fake events: absolute pointer moves on the right screen, buttons,
//!   wheel steps, keys by DOM code, and Unicode text (borrowing free keycodes for characters the layout lacks).
//! - `display` resolves which display to talk to, turns X errors into `XError`s and holds the pixel-format check.
//! - [`keymap`] is the pure keyboard translation (DOM code → keysym, character ↔ keysym, keymap lookups).
//! - `windows` lists the top-level windows (from an EWMH window manager, else the X window tree) and focuses
//!   them.
//! - `still` is the warm grabber for stills: one connection and MIT-SHM segment, region-only ShmGetImage, no
//!   events.
//!
//! Every X error is turned into a [`MediaError`]; nothing here panics on what a server or a viewer sends.

pub(crate) mod capture;
pub(crate) mod clipboard;
pub(crate) mod cursor;
pub(crate) mod display;
pub(crate) mod input;
pub mod keymap;
mod keysyms;
pub(crate) mod layout;
#[cfg(test)]
mod native_keys;
mod pointer;
mod still;
pub(crate) mod wheel;
mod windows;

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::Window;
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use crate::{Desktop, FrameSource, InputEvent, MediaError, ScreenInfo, SourceKind};
use display::{DisplayTarget, Expiry, XError};
use input::InputState;
use layout::{AtomNames, Monitor};

/// How long [`Desktop::inject`] trusts the monitor layout it last read. RandR 1.5 monitor changes
/// (`xrandr --setmonitor`) send no event, so the layout is re-read at most this often while input flows (one
/// round trip); RandR screen changes, which do send events, invalidate it at once.
const LAYOUT_TTL: Duration = Duration::from_secs(1);

/// The desktop's own connection for layout queries and input, with what it has learnt about the server.
struct Control {
    conn: RustConnection,
    roots: Vec<Window>,
    /// The server speaks RandR 1.5 (monitors).
    randr: bool,
    /// The server has XTEST (input).
    xtest: bool,
    atoms: AtomNames,
    layout: Vec<Monitor>,
    layout_expiry: Expiry,
    input: InputState,
}

impl Control {
    fn connect(target: &DisplayTarget) -> Result<Self, XError> {
        let conn = target.connect()?;
        let roots: Vec<Window> = conn.setup().roots.iter().map(|s| s.root).collect();
        let randr = layout::randr_monitors_supported(&conn)?;
        if randr {
            // Resolution and output changes arrive as events and invalidate the cached layout at once.
            let mask = randr::NotifyMask::SCREEN_CHANGE
                | randr::NotifyMask::CRTC_CHANGE
                | randr::NotifyMask::OUTPUT_CHANGE;
            for &root in &roots {
                conn.randr_select_input(root, mask)?;
            }
        }
        let xtest = conn
            .extension_information(xtest::X11_EXTENSION_NAME)?
            .is_some();
        if xtest {
            conn.xtest_get_version(2, 2)?.reply()?;
        }
        Ok(Self {
            conn,
            roots,
            randr,
            xtest,
            atoms: AtomNames::default(),
            layout: Vec::new(),
            layout_expiry: Expiry::expired(),
            input: InputState::default(),
        })
    }

    /// Handles what the server sent since the last call, without blocking.
    fn drain_events(&mut self) -> Result<(), XError> {
        while let Some(event) = self.conn.poll_for_event()? {
            match event {
                Event::MappingNotify(_) => self.input.keymap_changed(),
                Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_) => {
                    self.layout_expiry = Expiry::expired()
                }
                // Errors of requests sent without waiting (fake input, keymap changes) land here.
                Event::Error(e) => {
                    tracing::warn!(error = %XError::from_x11(&e).into_media(MediaError::Input), "X11 input")
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn refresh_layout(&mut self, target: &DisplayTarget, now: Instant) -> Result<(), XError> {
        let screens = layout::query_screens(&self.conn, &self.roots, self.randr, &mut self.atoms)?;
        self.layout = layout::build_layout(&target.base, target.default_screen, &screens);
        self.layout_expiry = Expiry::fresh_for(now, LAYOUT_TTL);
        Ok(())
    }

    /// The monitor with this id, from the cached layout if fresh, re-read otherwise or when the id is unknown.
    fn monitor(
        &mut self,
        target: &DisplayTarget,
        id: &str,
        now: Instant,
    ) -> Result<Monitor, XError> {
        if !self.layout_expiry.is_fresh(now) || !self.layout.iter().any(|m| m.info.id == id) {
            self.refresh_layout(target, now)?;
        }
        self.layout
            .iter()
            .find(|m| m.info.id == id)
            .cloned()
            .ok_or_else(|| XError::Refused(MediaError::UnknownScreen(id.to_owned())))
    }
}

/// The X11 [`Desktop`]: every RandR monitor of every screen of one X display.
pub struct X11Desktop {
    target: DisplayTarget,
    /// `None` after the connection broke; the next call reconnects.
    control: Mutex<Option<Control>>,
    /// The clipboard thread, started by the first [`Desktop::clipboard`] call and joined on drop.
    clipboard: clipboard::ClipboardSlot,
    /// How the captures this desktop opens handle the cursor.
    cursor: crate::CursorMode,
}

impl std::fmt::Debug for X11Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Desktop")
            .field("display", &self.target.connect)
            .finish_non_exhaustive()
    }
}

impl X11Desktop {
    /// Connects to `display` (`":0"`, `":91.1"`, `"host:10"`), or to `$DISPLAY` when `None`.
    ///
    /// Fails with [`MediaError::Unavailable`] when the display cannot be opened, so callers can fall back to
    /// another backend.
    pub fn open(display: Option<&str>) -> Result<Self, MediaError> {
        let target = DisplayTarget::parse(display)?;
        let control = Control::connect(&target).map_err(|e| match e {
            XError::Refused(e) => e,
            XError::Broken(msg) | XError::Protocol(msg) => MediaError::Unavailable(format!(
                "cannot open X display {:?}: {msg}",
                target.connect
            )),
        })?;
        Ok(Self {
            target,
            control: Mutex::new(Some(control)),
            clipboard: clipboard::ClipboardSlot::default(),
            cursor: crate::CursorMode::default(),
        })
    }

    /// This desktop with its captures handling the cursor as `mode` says (the default is
    /// [`crate::CursorMode::Overlay`]: reported beside the frames, not painted into them). Applies to captures
    /// opened afterwards.
    pub fn with_cursor_mode(mut self, mode: crate::CursorMode) -> Self {
        self.cursor = mode;
        self
    }

    /// How the captures of this desktop handle the cursor.
    pub fn cursor_mode(&self) -> crate::CursorMode {
        self.cursor
    }

    /// The display string every connection of this desktop uses.
    pub fn display(&self) -> &str {
        &self.target.connect
    }

    /// Runs `f` on the control connection, connecting first if needed and dropping the connection if it broke.
    fn with_control<T>(
        &self,
        f: impl FnOnce(&mut Control) -> Result<T, XError>,
    ) -> Result<T, XError> {
        let mut guard = self.control.lock();
        // A connection found dead before anything is sent on it (the server restarted while nobody called) is
        // replaced at once, so the caller sees no error for it.
        if let Some(control) = guard.as_mut()
            && let Err(e) = control.drain_events()
        {
            if !e.is_broken() {
                return Err(e);
            }
            tracing::warn!(display = %self.target.connect, error = ?e, "X11 control connection lost; reconnecting");
            *guard = None;
        }
        if guard.is_none() {
            *guard = Some(Control::connect(&self.target)?);
        }
        let control = guard.as_mut().expect("connected just above");
        let result = f(control);
        if result.as_ref().is_err_and(XError::is_broken) {
            tracing::warn!(display = %self.target.connect, "X11 control connection broke; reconnecting on next use");
            *guard = None;
        }
        result
    }
}

impl Desktop for X11Desktop {
    fn kind(&self) -> SourceKind {
        SourceKind::X11
    }

    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        self.with_control(|c| {
            c.refresh_layout(&self.target, Instant::now())?;
            Ok(c.layout.iter().map(|m| m.info.clone()).collect())
        })
        .map_err(|e| e.into_media(MediaError::Display))
    }

    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError> {
        let monitor = self
            .with_control(|c| {
                c.refresh_layout(&self.target, Instant::now())?;
                c.monitor(&self.target, screen, Instant::now())
            })
            .map_err(|e| e.into_media(MediaError::Display))?;
        let source = capture::X11Source::open(self.target.clone(), monitor, self.cursor)?;
        Ok(Box::new(source))
    }

    /// A warm grabber of only the asked region ([`still`]), on the monitor as the cached layout has it.
    fn open_still(&self, screen: &str) -> Result<Box<dyn crate::still::StillSource>, MediaError> {
        let monitor = self
            .with_control(|c| c.monitor(&self.target, screen, Instant::now()))
            .map_err(|e| e.into_media(MediaError::Display))?;
        Ok(Box::new(still::X11Still::open(
            self.target.clone(),
            monitor,
        )?))
    }

    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError> {
        self.with_control(|c| {
            if !c.xtest {
                return Err(XError::Refused(MediaError::Unavailable(
                    "the X server has no XTEST extension: input cannot be injected".into(),
                )));
            }
            let monitor = c.monitor(&self.target, screen, Instant::now())?;
            let root = *c
                .roots
                .get(monitor.screen)
                .ok_or_else(|| XError::Refused(MediaError::UnknownScreen(screen.to_owned())))?;
            c.input.inject(&c.conn, root, &monitor, event)
        })
        .map_err(|e| e.into_media(MediaError::Input))
    }

    fn clipboard(&self) -> Option<std::sync::Arc<dyn crate::Clipboard>> {
        match self.clipboard.get(&self.target) {
            Ok(c) => Some(c as std::sync::Arc<dyn crate::Clipboard>),
            Err(e) => {
                tracing::warn!(display = %self.target.connect, error = %e, "X11 clipboard unavailable");
                None
            }
        }
    }

    fn windows(&self) -> Result<crate::WindowList, MediaError> {
        windows::list(self)
    }

    fn focus_window(&self, id: crate::WindowId) -> Result<crate::WindowInfo, MediaError> {
        windows::focus(self, id)
    }
}

impl Drop for X11Desktop {
    fn drop(&mut self) {
        // Keys or buttons a viewer left pressed, and keycodes still borrowed, must not outlive the gateway.
        if let Some(control) = self.control.get_mut().as_mut()
            && let Err(e) = control.input.release_all(&control.conn)
        {
            tracing::warn!(error = ?e, "X11: could not release held input");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_display_that_does_not_exist_is_unavailable() {
        // Display 59000 is far above anything a test or a desktop starts (and has no TCP listener either).
        let err = X11Desktop::open(Some(":59000")).expect_err("no such display");
        assert!(matches!(err, MediaError::Unavailable(_)), "{err}");
    }
}
