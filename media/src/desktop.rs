//! Screen backends: the [`Desktop`] trait, the [`FrameSource`] a capture thread drives, and the description of a
//! screen shared by every view of the gateway (CLI, REST, MCP, the viewer page).

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::cursor::CursorSink;
use crate::{
    Clipboard, CursorMode, CursorState, Frame, InputEvent, MediaError, WindowId, WindowInfo,
    WindowList, WindowSource,
};

/// Which backend produced a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// X11 through x11rb and MIT-SHM.
    X11,
    /// xcap (macOS, Windows).
    Xcap,
    /// The synthetic test screen.
    Synthetic,
    /// A screen of another sightline (a device dialled in to this hub), relayed: its streams come from that device
    /// ([`crate::engine::Upstream`]), never from a backend of this process.
    Remote,
}

impl SourceKind {
    /// The lower-case name used in config, CLI output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X11 => "x11",
            Self::Xcap => "xcap",
            Self::Synthetic => "synthetic",
            Self::Remote => "remote",
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One screen a viewer can watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenInfo {
    /// Stable id within this gateway run: `"0"`, `"1"`, … in backend order.
    pub id: String,
    /// Human-readable name (for X11: the display string and the RandR monitor name).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Which backend serves it.
    pub source: SourceKind,
    /// Whether this is the primary screen (exactly one screen of a desktop is primary).
    pub primary: bool,
}

/// Which backend the configuration asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceSelection {
    /// X11 when `DISPLAY` (or the configured display) opens, the synthetic screen otherwise.
    #[default]
    Auto,
    /// X11 only; fails when the display cannot be opened.
    X11,
    /// xcap only (macOS/Windows); fails elsewhere.
    Xcap,
    /// The synthetic test screen.
    Synthetic,
}

/// What [`crate::open_desktop`] needs to pick and open a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Which backend.
    pub source: SourceSelection,
    /// X11 display string (`":0"`); `None` uses `DISPLAY`.
    pub display: Option<String>,
    /// Size of the synthetic screen.
    pub synthetic_size: (u32, u32),
    /// Whether the cursor is reported beside the frames or painted into them.
    pub cursor: CursorMode,
}

/// A screen backend. Implementations are cheap to share (`Arc<dyn Desktop>`) and safe to call from any thread;
/// their methods block briefly (a round trip to the display at most) and are called from plain threads or
/// `spawn_blocking`, never directly on the async runtime.
pub trait Desktop: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> SourceKind;

    /// The screens, in id order. Re-reads the display, so a removed monitor disappears.
    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError>;

    /// Opens a capturer for one screen. The capturer is owned by one capture thread.
    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError>;

    /// Injects one input event into `screen` (pixel coordinates of that screen).
    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError>;

    /// Shows that an AI agent acted on `screen`, for the people watching. Backends that draw their own picture
    /// (the synthetic screen) paint an agent cursor and markers; a real display is left untouched (drawing on a
    /// user's desktop would change what applications see), and viewers show the activity in their overlay instead.
    fn show_agent(&self, screen: &str, mark: &AgentMark) {
        let _ = (screen, mark);
    }

    /// The desktop's clipboard, when the backend has one.
    fn clipboard(&self) -> Option<Arc<dyn Clipboard>> {
        None
    }

    /// Opens a warm grabber of one screen for stills ([`crate::Engine::still`] keeps it between calls). The
    /// default keeps a [`FrameSource`] open and captures the whole screen each time; X11 grabs only the region.
    fn open_still(&self, screen: &str) -> Result<Box<dyn crate::still::StillSource>, MediaError> {
        Ok(Box::new(crate::still::FrameStill::new(self.open(screen)?)))
    }

    /// The top-level windows, bottom of the stack first. Backends without windows (the synthetic screen) return
    /// an empty list with [`WindowSource::None`].
    fn windows(&self) -> Result<WindowList, MediaError> {
        Ok(WindowList {
            source: WindowSource::None,
            windows: Vec::new(),
        })
    }

    /// Gives window `id` the input focus and raises it (un-minimizing it), through the window manager when one
    /// runs; returns the window as it is afterwards.
    fn focus_window(&self, id: WindowId) -> Result<WindowInfo, MediaError> {
        Err(MediaError::Unavailable(format!(
            "the {} backend has no windows to focus (window {id})",
            self.kind()
        )))
    }
}

/// An agent's action as a backend may draw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentMark {
    /// Where it acted, in pixels of the screen, when the action has a position.
    pub at: Option<(u32, u32)>,
    /// The action (`click`, `type_text`, …).
    pub action: String,
    /// Whether it was a click (drawn as a marker that stays a while).
    pub click: bool,
}

/// A capturer for one screen, driven by one thread at the pacer's rate.
pub trait FrameSource: Send {
    /// The screen being captured.
    fn screen(&self) -> &ScreenInfo;

    /// Captures the screen if it changed since the last returned frame, or unconditionally when `force` is set.
    /// `Ok(None)` means unchanged: the caller neither converts nor encodes anything.
    fn capture(&mut self, force: bool) -> Result<Option<Frame>, MediaError>;

    /// The pointer as the last [`FrameSource::capture`] saw it, for [`CursorMode::Overlay`]; `None` when the
    /// backend does not report one (its frames carry whatever pointer the screen shows).
    fn cursor(&self) -> Option<CursorState> {
        None
    }

    /// Where to report pointer moves and shape changes as they happen, between ticks, in
    /// [`CursorMode::Overlay`] (coalesced by the source). Sources that only sample per tick ignore it (the
    /// default); the caller keeps publishing [`FrameSource::cursor`] after every tick either way.
    fn set_cursor_sink(&mut self, sink: CursorSink) {
        let _ = sink;
    }
}
