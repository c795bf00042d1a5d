//! Top-level windows of an X display: [`list`] (what [`crate::Desktop::windows`] returns) and [`focus`].
//!
//! # Where the list comes from
//! - **A live EWMH window manager** (root `_NET_SUPPORTING_WM_CHECK` names a window whose own property names
//!   itself): its `_NET_CLIENT_LIST_STACKING` (bottom first), else `_NET_CLIENT_LIST`. The focused window is
//!   root `_NET_ACTIVE_WINDOW`. The root property alone is not trusted: openbox leaves it (and
//!   `_NET_ACTIVE_WINDOW`) behind when it exits.
//! - **No window manager**: the root's children (bottom first) that are viewable, InputOutput and not
//!   override-redirect. Under a reparenting manager without EWMH each child is a frame: the client is the first
//!   descendant with `WM_STATE`, as `XmuClientWindow` finds it. The focused window is the one holding the X input
//!   focus, or an ancestor of it.
//!
//! Every window costs one batch of pipelined requests (title, class, pid, states, position, size): a listing is a
//! handful of round trips however many windows there are, bounded by [`MAX_WINDOWS`].
//!
//! Geometry is the client area (no decorations): `translate_coordinates` to the root gives its origin under any
//! reparenting, `get_geometry` its size. The screen is the monitor holding the window's centre.
//!
//! # Focusing
//! With a manager, a `_NET_ACTIVE_WINDOW` client message (source 2, "pager": openbox then focuses, raises and
//! un-minimizes without focus-stealing prevention), then a bounded wait until the root property names the window.
//! Without one (or when the manager did not act), map + raise + `SetInputFocus`. The control connection's lock is
//! held one round trip at a time, never across the wait, so input keeps flowing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::cookie::Cookie;
use x11rb::errors::ReplyError;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConfigureWindowAux, ConnectionExt as _, EventMask, InputFocus,
    MapState, StackMode, Window, WindowClass,
};

use super::display::XError;
use super::layout::Monitor;
use super::{Control, X11Desktop};
use crate::{MediaError, WindowId, WindowInfo, WindowList, WindowSource};

/// Most windows one listing returns (the topmost ones). Each costs nine small requests; a desktop with more
/// top-level windows than this is not one an agent can reason about anyway.
pub(crate) const MAX_WINDOWS: usize = 512;
/// Most window ids read from a root's client list or children (the topmost), before filtering: bounds the
/// requests a listing sends when something created windows by the thousand.
const MAX_CANDIDATES: u32 = 4096;
/// Most bytes of a title read from the server (a title is cut there, on a character boundary).
const MAX_TITLE_BYTES: u32 = 1024;
/// Most bytes of `WM_CLASS` read (instance and class, NUL-separated).
const MAX_CLASS_BYTES: u32 = 256;
/// Most atoms of `_NET_WM_STATE` read (the spec defines 13).
const MAX_STATE_ATOMS: u32 = 64;
/// How deep below a root child the client (the window with `WM_STATE`) is looked for: reparenting managers put
/// it one or two levels down.
const MAX_CLIENT_DEPTH: usize = 3;
/// Most windows searched per level below one root child.
const MAX_SEARCH_WIDTH: usize = 64;
/// Most levels walked up from the input focus to the root (X trees are a few levels deep).
const MAX_FOCUS_ANCESTRY: usize = 32;
/// How long [`focus`] waits for a window manager to act on `_NET_ACTIVE_WINDOW` (it acts asynchronously;
/// openbox takes a few milliseconds).
const FOCUS_WAIT: Duration = Duration::from_millis(500);
/// How often the wait re-reads `_NET_ACTIVE_WINDOW`.
const FOCUS_POLL: Duration = Duration::from_millis(10);
/// ICCCM `WM_STATE` value of a minimized window.
const ICONIC_STATE: u32 = 3;
/// `_NET_ACTIVE_WINDOW` source indication "pager or user": managers honour it without focus-stealing prevention.
const SOURCE_PAGER: u32 = 2;
/// `GetInputFocus` values that are not windows (`None`, `PointerRoot`).
const FOCUS_NOT_A_WINDOW: Window = 1;

x11rb::atom_manager! {
    Atoms: AtomsCookie {
        _NET_SUPPORTING_WM_CHECK,
        _NET_CLIENT_LIST,
        _NET_CLIENT_LIST_STACKING,
        _NET_ACTIVE_WINDOW,
        _NET_WM_NAME,
        _NET_WM_PID,
        _NET_WM_STATE,
        _NET_WM_STATE_HIDDEN,
        UTF8_STRING,
        COMPOUND_TEXT,
        WM_STATE,
    }
}

/// One listed window with what focusing it needs.
#[derive(Clone, Debug)]
pub(super) struct Found {
    pub info: WindowInfo,
    /// The root of its X screen.
    root: Window,
    /// The root child holding it: itself, or a frame of a manager without EWMH (raised instead of the client).
    frame: Window,
    /// Whether it is viewable (only viewable windows can take the input focus).
    viewable: bool,
}

/// A listing: where it came from and the windows, bottom first.
#[derive(Debug)]
pub(super) struct Listing {
    source: WindowSource,
    windows: Vec<Found>,
}

impl Listing {
    fn into_list(self) -> WindowList {
        WindowList {
            source: self.source,
            windows: self.windows.into_iter().map(|f| f.info).collect(),
        }
    }

    fn find(&self, id: WindowId) -> Option<&Found> {
        self.windows.iter().find(|f| f.info.id == id)
    }
}

/// The reply, or `None` when the server refused the request (the window went away in between).
fn reply<C: RequestConnection, R: x11rb::x11_utils::TryParse>(
    cookie: Cookie<'_, C, R>,
) -> Result<Option<R>, XError> {
    match cookie.reply() {
        Ok(r) => Ok(Some(r)),
        Err(ReplyError::X11Error(_)) => Ok(None),
        Err(ReplyError::ConnectionError(e)) => Err(e.into()),
    }
}

fn first_u32(r: &Option<x11rb::protocol::xproto::GetPropertyReply>) -> Option<u32> {
    r.as_ref()?.value32()?.next()
}

fn u32s(r: &Option<x11rb::protocol::xproto::GetPropertyReply>) -> Vec<u32> {
    r.as_ref()
        .and_then(|r| r.value32())
        .map(|v| v.collect())
        .unwrap_or_default()
}

/// Lists the windows of every X screen; `layout` places them on monitors.
fn list_on(c: &Control, layout: &[Monitor]) -> Result<Listing, XError> {
    let conn = &c.conn;
    let atoms = Atoms::new(conn)?.reply()?;
    let focus = conn.get_input_focus()?.reply()?.focus;
    let focus_chain = ancestry(conn, focus)?;
    let mut source = WindowSource::XTree;
    let mut windows = Vec::new();
    for (screen, &root) in c.roots.iter().enumerate() {
        let check = conn.get_property(
            false,
            root,
            atoms._NET_SUPPORTING_WM_CHECK,
            AtomEnum::WINDOW,
            0,
            1,
        )?;
        let stacking = conn.get_property(
            false,
            root,
            atoms._NET_CLIENT_LIST_STACKING,
            AtomEnum::WINDOW,
            0,
            MAX_CANDIDATES,
        )?;
        let clients = conn.get_property(
            false,
            root,
            atoms._NET_CLIENT_LIST,
            AtomEnum::WINDOW,
            0,
            MAX_CANDIDATES,
        )?;
        let active = conn.get_property(
            false,
            root,
            atoms._NET_ACTIVE_WINDOW,
            AtomEnum::WINDOW,
            0,
            1,
        )?;
        let (check, stacking, clients, active) = (
            reply(check)?,
            reply(stacking)?,
            reply(clients)?,
            reply(active)?,
        );
        let wm = match first_u32(&check).filter(|&w| w != 0) {
            Some(w) => {
                let own = conn.get_property(
                    false,
                    w,
                    atoms._NET_SUPPORTING_WM_CHECK,
                    AtomEnum::WINDOW,
                    0,
                    1,
                )?;
                // A stale property names a window that is gone (BadWindow) or that is someone else's.
                first_u32(&reply(own)?) == Some(w)
            }
            None => false,
        };
        // With a manager its active window is the focused one (when it names none, the input focus decides).
        let (candidates, active): (Vec<(Window, Window)>, Option<Window>) = if wm {
            source = WindowSource::Ewmh;
            let mut ids = u32s(&stacking);
            if ids.is_empty() {
                ids = u32s(&clients);
            }
            let ids = ids.into_iter().map(|w| (w, w)).collect();
            (ids, first_u32(&active).filter(|&a| a != 0))
        } else {
            (tree_clients(conn, root, &atoms)?, None)
        };
        let focused = |id: Window, frame: Window| match active {
            Some(a) => id == a,
            None => focus_chain.contains(&id) || focus_chain.contains(&frame),
        };
        let start = candidates.len().saturating_sub(MAX_WINDOWS);
        let details = describe(conn, &atoms, root, &candidates[start..])?;
        for (d, &(id, frame)) in details.into_iter().zip(&candidates[start..]) {
            let Some(d) = d else { continue };
            let (screen_id, x, y) = place(layout, screen, d.x, d.y, d.width, d.height);
            windows.push(Found {
                info: WindowInfo {
                    id: WindowId::from(id),
                    title: d.title,
                    app: d.app,
                    pid: d.pid,
                    screen: screen_id,
                    x,
                    y,
                    width: d.width,
                    height: d.height,
                    focused: focused(id, frame),
                    // Without a manager only viewable windows are listed: a stale state a dead manager left
                    // behind does not make them minimized.
                    minimized: wm && d.minimized,
                },
                root,
                frame,
                viewable: d.viewable,
            });
        }
    }
    let start = windows.len().saturating_sub(MAX_WINDOWS);
    windows.drain(..start);
    Ok(Listing { source, windows })
}

/// `window` and its ancestors up to (not including) the root; empty when the focus is `None` or `PointerRoot`.
fn ancestry(conn: &impl Connection, window: Window) -> Result<HashSet<Window>, XError> {
    let mut chain = HashSet::new();
    let mut w = window;
    for _ in 0..MAX_FOCUS_ANCESTRY {
        if w <= FOCUS_NOT_A_WINDOW {
            break;
        }
        let Some(tree) = reply(conn.query_tree(w)?)? else {
            break;
        };
        if tree.root == w {
            break;
        }
        chain.insert(w);
        w = tree.parent;
    }
    Ok(chain)
}

/// The clients of a root without a window manager, bottom first, each with the root child holding it.
fn tree_clients(
    conn: &impl Connection,
    root: Window,
    atoms: &Atoms,
) -> Result<Vec<(Window, Window)>, XError> {
    let Some(tree) = reply(conn.query_tree(root)?)? else {
        return Ok(Vec::new());
    };
    let children = &tree.children[tree.children.len().saturating_sub(MAX_CANDIDATES as usize)..];
    let cookies = children
        .iter()
        .map(|&w| conn.get_window_attributes(w))
        .collect::<Result<Vec<_>, _>>()?;
    let mut frames = Vec::new();
    for (&w, cookie) in children.iter().zip(cookies) {
        if let Some(a) = reply(cookie)?
            && a.map_state == MapState::VIEWABLE
            && !a.override_redirect
            && a.class == WindowClass::INPUT_OUTPUT
        {
            frames.push(w);
        }
    }
    let frames = &frames[frames.len().saturating_sub(MAX_WINDOWS)..];
    // Level by level below each frame, the first window with WM_STATE is its client.
    let mut client: Vec<Option<Window>> = vec![None; frames.len()];
    let mut level: Vec<Vec<Window>> = frames.iter().map(|&f| vec![f]).collect();
    for depth in 0..=MAX_CLIENT_DEPTH {
        let cookies = level
            .iter()
            .map(|ws| {
                ws.iter()
                    .map(|&w| conn.get_property(false, w, atoms.WM_STATE, atoms.WM_STATE, 0, 1))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, cs) in cookies.into_iter().enumerate() {
            for (&w, cookie) in level[i].iter().zip(cs) {
                let has = reply(cookie)?.is_some_and(|r| r.type_ != u32::from(AtomEnum::NONE));
                if has && client[i].is_none() {
                    client[i] = Some(w);
                }
            }
        }
        if depth == MAX_CLIENT_DEPTH {
            break;
        }
        let searching: Vec<usize> = (0..frames.len()).filter(|&i| client[i].is_none()).collect();
        let trees = searching
            .iter()
            .map(|&i| {
                level[i]
                    .iter()
                    .map(|&w| conn.query_tree(w))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut next: Vec<Vec<Window>> = vec![Vec::new(); frames.len()];
        for (&i, ts) in searching.iter().zip(trees) {
            for cookie in ts {
                if let Some(t) = reply(cookie)? {
                    next[i].extend(t.children);
                }
            }
            next[i].truncate(MAX_SEARCH_WIDTH);
        }
        if next.iter().all(Vec::is_empty) {
            break;
        }
        level = next;
    }
    Ok(frames
        .iter()
        .zip(client)
        .map(|(&f, c)| (c.unwrap_or(f), f))
        .collect())
}

/// What one window says about itself.
#[derive(Debug)]
struct Details {
    title: String,
    app: Option<String>,
    pid: Option<u32>,
    minimized: bool,
    viewable: bool,
    /// Client-area origin in root coordinates.
    x: i32,
    y: i32,
    width: u32,
    height: u32,
}

/// Asks about every window at once (pipelined), then reads the answers; `None` for a window that went away.
fn describe(
    conn: &impl Connection,
    atoms: &Atoms,
    root: Window,
    windows: &[(Window, Window)],
) -> Result<Vec<Option<Details>>, XError> {
    let prop =
        |w: Window, atom: u32, ty: u32, words: u32| conn.get_property(false, w, atom, ty, 0, words);
    let title_words = MAX_TITLE_BYTES / 4;
    let mut batches = Vec::with_capacity(windows.len());
    for &(w, _) in windows {
        batches.push((
            prop(w, atoms._NET_WM_NAME, atoms.UTF8_STRING, title_words)?,
            prop(
                w,
                AtomEnum::WM_NAME.into(),
                AtomEnum::ANY.into(),
                title_words,
            )?,
            prop(
                w,
                AtomEnum::WM_CLASS.into(),
                AtomEnum::STRING.into(),
                MAX_CLASS_BYTES / 4,
            )?,
            prop(w, atoms._NET_WM_PID, AtomEnum::CARDINAL.into(), 1)?,
            prop(
                w,
                atoms._NET_WM_STATE,
                AtomEnum::ATOM.into(),
                MAX_STATE_ATOMS,
            )?,
            prop(w, atoms.WM_STATE, atoms.WM_STATE, 1)?,
            conn.translate_coordinates(w, root, 0, 0)?,
            conn.get_geometry(w)?,
            conn.get_window_attributes(w)?,
        ));
    }
    let mut out = Vec::with_capacity(windows.len());
    for (net_name, name, class, pid, net_state, wm_state, origin, geometry, attrs) in batches {
        let (net_name, name, class, pid) =
            (reply(net_name)?, reply(name)?, reply(class)?, reply(pid)?);
        let (net_state, wm_state) = (reply(net_state)?, reply(wm_state)?);
        let (origin, geometry, attrs) = (reply(origin)?, reply(geometry)?, reply(attrs)?);
        let (Some(origin), Some(geometry), Some(attrs)) = (origin, geometry, attrs) else {
            out.push(None);
            continue;
        };
        let title = net_name
            .filter(|r| r.format == 8 && r.type_ == atoms.UTF8_STRING && !r.value.is_empty())
            .map(|r| utf8_prefix(&r.value))
            .or_else(|| {
                name.filter(|r| r.format == 8).map(|r| {
                    if r.type_ == atoms.UTF8_STRING {
                        utf8_prefix(&r.value)
                    } else {
                        // STRING is Latin-1; COMPOUND_TEXT is read as such (its ASCII part is right).
                        latin1(&r.value)
                    }
                })
            })
            .unwrap_or_default();
        let hidden = u32s(&net_state).contains(&atoms._NET_WM_STATE_HIDDEN);
        let iconic = first_u32(&wm_state) == Some(ICONIC_STATE);
        out.push(Some(Details {
            title,
            app: class
                .filter(|r| r.format == 8)
                .and_then(|r| wm_class(&r.value)),
            pid: first_u32(&pid),
            minimized: hidden || iconic,
            viewable: attrs.map_state == MapState::VIEWABLE,
            x: i32::from(origin.dst_x),
            y: i32::from(origin.dst_y),
            width: u32::from(geometry.width),
            height: u32::from(geometry.height),
        }));
    }
    Ok(out)
}

/// The longest valid UTF-8 prefix (a title cut at [`MAX_TITLE_BYTES`] may end inside a character), without
/// control characters.
fn utf8_prefix(bytes: &[u8]) -> String {
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    };
    valid.chars().filter(|c| !c.is_control()).collect()
}

/// Latin-1 text without control characters.
fn latin1(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| char::from(b))
        .filter(|c| !c.is_control())
        .collect()
}

/// The class part of `WM_CLASS` (`instance\0class\0`); `None` when it is missing or empty.
fn wm_class(bytes: &[u8]) -> Option<String> {
    let class = bytes.split(|&b| b == 0).nth(1)?;
    (!class.is_empty()).then(|| latin1(class))
}

/// The monitor of X screen `screen` holding the centre of a window at (`x`, `y`) (root coordinates) and the
/// window's position in that monitor's pixels; no monitor → `None` and root coordinates.
fn place(
    layout: &[Monitor],
    screen: usize,
    x: i32,
    y: i32,
    width: u32,
    height: u32,
) -> (Option<String>, i32, i32) {
    let cx = i64::from(x) + i64::from(width / 2);
    let cy = i64::from(y) + i64::from(height / 2);
    layout
        .iter()
        .filter(|m| m.screen == screen)
        .find(|m| {
            let (mx, my) = (i64::from(m.x), i64::from(m.y));
            (mx..mx + i64::from(m.info.width)).contains(&cx)
                && (my..my + i64::from(m.info.height)).contains(&cy)
        })
        .map_or((None, x, y), |m| {
            (Some(m.info.id.clone()), x - m.x, y - m.y)
        })
}

/// Lists the windows on the control connection (the monitor layout re-read when stale).
fn listing(desktop: &X11Desktop) -> Result<Listing, XError> {
    desktop.with_control(|c| {
        let now = Instant::now();
        if !c.layout_expiry.is_fresh(now) {
            c.refresh_layout(&desktop.target, now)?;
        }
        list_on(c, &c.layout)
    })
}

/// [`crate::Desktop::windows`] for X11.
pub(super) fn list(desktop: &X11Desktop) -> Result<WindowList, MediaError> {
    listing(desktop)
        .map(Listing::into_list)
        .map_err(|e| e.into_media(MediaError::Display))
}

fn unknown(id: WindowId) -> MediaError {
    MediaError::invalid(
        "window",
        format!("no top-level window {id} (it may have closed; list the windows again)"),
    )
}

/// [`crate::Desktop::focus_window`] for X11.
pub(super) fn focus(desktop: &X11Desktop, id: WindowId) -> Result<WindowInfo, MediaError> {
    let display = |e: XError| e.into_media(MediaError::Display);
    let found = listing(desktop)
        .map_err(display)?
        .find(id)
        .cloned()
        .ok_or_else(|| unknown(id))?;
    let window = found.info.id as Window;
    let mut outcome = Activation::AlreadyFocused;
    if !found.info.focused {
        outcome = activate(desktop, &found).map_err(display)?;
        if outcome != Activation::Done {
            // A refusal (an unmapped window cannot take the focus) is reported by the check below.
            match direct(desktop, &found) {
                Err(e) if e.is_broken() => return Err(display(e)),
                Err(e) => tracing::debug!(window, error = ?e, "X11: focusing directly failed"),
                Ok(()) => {}
            }
        }
    }
    let after = listing(desktop)
        .map_err(display)?
        .find(id)
        .cloned()
        .ok_or_else(|| unknown(id))?;
    if !after.info.focused {
        let why = match outcome {
            Activation::Ignored => format!(
                " (the window manager did not activate it within {} ms)",
                FOCUS_WAIT.as_millis()
            ),
            _ => String::new(),
        };
        return Err(MediaError::Unavailable(format!(
            "window {window} did not take the focus{why}"
        )));
    }
    Ok(after.info)
}

/// What asking the window manager to activate a window did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Activation {
    /// Nothing was asked: the window had the focus already.
    AlreadyFocused,
    /// No window manager runs.
    NoManager,
    /// The manager made it the active window.
    Done,
    /// The manager did not make it active within [`FOCUS_WAIT`].
    Ignored,
}

/// Asks a live window manager to activate the window and waits until it did, at most [`FOCUS_WAIT`].
fn activate(desktop: &X11Desktop, found: &Found) -> Result<Activation, XError> {
    let window = found.info.id as Window;
    let sent = desktop.with_control(|c| {
        let atoms = Atoms::new(&c.conn)?.reply()?;
        let check = |w: Window| -> Result<Option<u32>, XError> {
            let r = c.conn.get_property(
                false,
                w,
                atoms._NET_SUPPORTING_WM_CHECK,
                AtomEnum::WINDOW,
                0,
                1,
            )?;
            Ok(first_u32(&reply(r)?))
        };
        let live = match check(found.root)?.filter(|&w| w != 0) {
            Some(w) => check(w)? == Some(w),
            None => false,
        };
        if !live {
            return Ok(None);
        }
        let current = first_u32(&reply(c.conn.get_property(
            false,
            found.root,
            atoms._NET_ACTIVE_WINDOW,
            AtomEnum::WINDOW,
            0,
            1,
        )?)?)
        .unwrap_or(0);
        let event = ClientMessageEvent::new(
            32,
            window,
            atoms._NET_ACTIVE_WINDOW,
            [SOURCE_PAGER, x11rb::CURRENT_TIME, current, 0, 0],
        );
        c.conn
            .send_event(
                false,
                found.root,
                EventMask::SUBSTRUCTURE_REDIRECT | EventMask::SUBSTRUCTURE_NOTIFY,
                event,
            )?
            .check()?;
        Ok(Some(atoms._NET_ACTIVE_WINDOW))
    })?;
    let Some(active_atom) = sent else {
        return Ok(Activation::NoManager);
    };
    let deadline = Instant::now() + FOCUS_WAIT;
    loop {
        let active = desktop.with_control(|c| {
            let r = c
                .conn
                .get_property(false, found.root, active_atom, AtomEnum::WINDOW, 0, 1)?;
            Ok(first_u32(&reply(r)?))
        })?;
        if active == Some(window) {
            return Ok(Activation::Done);
        }
        if Instant::now() >= deadline {
            tracing::debug!(
                window,
                "the window manager did not activate the window in time"
            );
            return Ok(Activation::Ignored);
        }
        std::thread::sleep(FOCUS_POLL);
    }
}

/// Focuses without a window manager: map (un-minimize), raise the root child holding it, give it the input focus.
fn direct(desktop: &X11Desktop, found: &Found) -> Result<(), XError> {
    let window = found.info.id as Window;
    desktop.with_control(|c| {
        if !found.viewable {
            c.conn.map_window(window)?.check()?;
            if found.frame != window {
                c.conn.map_window(found.frame)?.check()?;
            }
        }
        c.conn
            .configure_window(
                found.frame,
                &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
            )?
            .check()?;
        c.conn
            .set_input_focus(InputFocus::PARENT, window, x11rb::CURRENT_TIME)?
            .check()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScreenInfo, SourceKind};

    fn monitor(id: &str, screen: usize, x: i32, y: i32, w: u32, h: u32) -> Monitor {
        Monitor {
            info: ScreenInfo {
                id: id.into(),
                name: id.into(),
                width: w,
                height: h,
                source: SourceKind::X11,
                primary: id == "0",
            },
            screen,
            monitor_name: id.into(),
            x,
            y,
        }
    }

    #[test]
    fn a_window_belongs_to_the_monitor_holding_its_centre() {
        let layout = [
            monitor("0", 0, 0, 0, 1920, 1080),
            monitor("1", 0, 1920, 0, 1280, 1024),
            monitor("2", 1, 0, 0, 1280, 720),
        ];
        assert_eq!(
            place(&layout, 0, 51, 80, 244, 148),
            (Some("0".into()), 51, 80)
        );
        // Mostly on the right monitor: its coordinates, negative x.
        assert_eq!(
            place(&layout, 0, 1900, 10, 400, 100),
            (Some("1".into()), -20, 10)
        );
        // Same root coordinates on the second X screen.
        assert_eq!(
            place(&layout, 1, 51, 80, 244, 148),
            (Some("2".into()), 51, 80)
        );
        // Centre off every monitor: root coordinates.
        assert_eq!(place(&layout, 0, -500, -500, 100, 100), (None, -500, -500));
    }

    #[test]
    fn titles_are_cut_on_character_boundaries_and_lose_control_characters() {
        assert_eq!(utf8_prefix("Grüße".as_bytes()), "Grüße");
        let cut = &"ab€".as_bytes()[..4]; // inside the euro sign
        assert_eq!(utf8_prefix(cut), "ab");
        assert_eq!(utf8_prefix(b"a\nb\x07"), "ab");
        assert_eq!(latin1(b"Gr\xfc\xdfe"), "Grüße");
    }

    #[test]
    fn the_app_is_the_class_of_wm_class() {
        assert_eq!(wm_class(b"xterm\0XTerm\0"), Some("XTerm".into()));
        assert_eq!(wm_class(b"xterm\0\0"), None);
        assert_eq!(wm_class(b"xterm"), None);
        assert_eq!(wm_class(b""), None);
    }
}
