//! Capturing one monitor: [`X11Source`], the [`FrameSource`] of the X11 backend.
//!
//! # One tick
//! 1. Read whatever events arrived, without blocking: DAMAGE says "something was drawn", XFixes says "the cursor
//!    shape changed", RandR says "the screen was resized".
//! 2. One pipelined round trip: QueryPointer always; the cursor image only after a shape change; and, only after a
//!    DAMAGE event, DamageSubtract + FetchRegion to learn *where* the drawing happened.
//! 3. Record the pointer ([`FrameSource::cursor`]) in [`CursorMode::Overlay`]: its pixel in this monitor, whether
//!    it is on it, and the shape (converted to straight alpha once per XFixes serial). In overlay mode a "pointer"
//!    thread ([`super::pointer`]) also reports moves and shape changes as they happen, through the
//!    [`crate::cursor::CursorSink`] the engine sets; the tick's sample is the fallback when it cannot run.
//! 4. If nothing was drawn inside this monitor, return `None`: an unchanged screen costs one non-blocking read and
//!    one tiny round trip, never an image. In overlay mode a pointer that only moves (or changes shape) is no
//!    change; in [`CursorMode::Video`] a cursor not where it was drawn last time is one.
//! 5. Otherwise grab the monitor's rectangle (MIT-SHM into a segment shared with the server; plain GetImage when
//!    shared memory is impossible), copy it once into the frame, and (video mode) draw the cursor into it.
//!
//! Servers without DAMAGE fall back to grabbing every tick and comparing with the previous grab, which costs a
//! grab and a memcmp but still spares the encoder.

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::ReplyError;
use x11rb::protocol::Event;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, Rectangle, Window};
use x11rb::rust_connection::RustConnection;

use super::cursor::{self as xcursor, Placement};
use super::display::{DisplayTarget, Expiry, XError};
use super::layout::{self, AtomNames, Monitor};
use super::pointer::{PointerShared, PointerThread};
use crate::cursor::CursorSink;
use crate::{CursorMode, CursorShape, CursorState, Frame, FrameSource, MediaError, ScreenInfo};

/// How often a capturer re-reads its monitor's geometry when no event announced a change: RandR 1.5 monitors
/// (`xrandr --setmonitor`) change silently. One round trip every two seconds is noise next to 30 ticks a second.
const GEOMETRY_RECHECK: Duration = Duration::from_secs(2);

/// A monitor's rectangle inside its X screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub(super) fn of(m: &Monitor) -> Self {
        Self {
            x: m.x,
            y: m.y,
            width: m.info.width,
            height: m.info.height,
        }
    }

    fn intersects(&self, r: &Rectangle) -> bool {
        let (rx, ry) = (i32::from(r.x), i32::from(r.y));
        rx < self.x + self.width as i32
            && ry < self.y + self.height as i32
            && rx + i32::from(r.width) > self.x
            && ry + i32::from(r.height) > self.y
    }

    pub(super) fn bytes(&self) -> usize {
        self.width as usize * self.height as usize * 4
    }
}

/// The [`FrameSource`] of one X11 monitor. Owns its connection and shared-memory segment.
pub(crate) struct X11Source {
    target: DisplayTarget,
    info: ScreenInfo,
    /// X screen index and RandR monitor name: how the monitor is found again after a change or a reconnect.
    screen: usize,
    monitor_name: String,
    rect: Rect,
    /// `None` after the connection broke; the next capture reconnects.
    live: Option<Live>,
    /// Sequence number of the last returned frame.
    seq: u64,
    /// A frame is owed regardless of change detection (first capture, reconnect, new geometry).
    need_frame: bool,
    /// Whether the cursor is painted into frames or reported beside them.
    mode: CursorMode,
    /// Overlay mode: the monitor's rectangle, the newest shape and pointer sample, and the engine's sink, shared
    /// by the ticks and the pointer thread.
    pointer: Arc<Mutex<PointerShared>>,
    /// Overlay mode: the thread reporting moves as they happen, started with the sink (`None` in video mode,
    /// before a sink is set, or when it cannot start).
    pointer_thread: Option<PointerThread>,
    /// Where the cursor was drawn in the last returned frame (video mode only).
    drawn_cursor: Option<Placement>,
    /// The previous grab, kept only when the server has no DAMAGE and changes are found by comparing.
    previous: Vec<u8>,
    geometry_check: Expiry,
}

impl X11Source {
    /// Connects to the display and prepares the capture of `monitor`, with the cursor handled as `mode` says.
    pub(crate) fn open(
        target: DisplayTarget,
        monitor: Monitor,
        mode: CursorMode,
    ) -> Result<Self, MediaError> {
        let rect = Rect::of(&monitor);
        let mut source = Self {
            live: None,
            mode,
            pointer: Arc::new(Mutex::new(PointerShared {
                rect: Some(rect),
                ..PointerShared::default()
            })),
            pointer_thread: None,
            info: monitor.info,
            screen: monitor.screen,
            monitor_name: monitor.monitor_name,
            rect,
            seq: 0,
            need_frame: true,
            drawn_cursor: None,
            previous: Vec::new(),
            geometry_check: Expiry::fresh_for(Instant::now(), GEOMETRY_RECHECK),
            target,
        };
        source.live = Some(
            Live::connect(&source.target, source.screen, rect)
                .map_err(|e| e.into_media(MediaError::Display))?,
        );
        Ok(source)
    }

    /// Overlay mode, once a sink is set: starts the pointer thread unless one is running (it ends on its own when
    /// the display goes). One-shot sources (snapshots) never set a sink, so they cost no thread or connection.
    fn start_pointer_thread(&mut self) {
        if self.mode != CursorMode::Overlay
            || self.pointer.lock().sink.is_none()
            || self
                .pointer_thread
                .as_ref()
                .is_some_and(|t| !t.is_finished())
        {
            return;
        }
        self.pointer_thread = None; // joins a finished one
        self.pointer_thread = PointerThread::start(
            &self.target,
            self.screen,
            &self.info.id,
            Arc::clone(&self.pointer),
        );
    }

    fn capture_inner(&mut self, force: bool) -> Result<Option<Frame>, XError> {
        let now = Instant::now();
        // A connection found dead before this tick sent anything (the server restarted) is replaced at once.
        if let Some(live) = &mut self.live
            && let Err(e) = live.drain_events()
        {
            if !e.is_broken() {
                return Err(e);
            }
            tracing::warn!(screen = %self.info.id, error = ?e, "X11 capture connection lost; reconnecting");
            self.live = None;
        }
        if self.live.is_none() {
            self.live = Some(Live::connect(&self.target, self.screen, self.rect)?);
            self.need_frame = true;
            self.refresh_geometry(now)?; // the monitor may have changed while the display was away
            self.start_pointer_thread(); // the old one ended with its connection
        }
        let live = self.live.as_mut().expect("connected above");
        if live.geometry_changed || !self.geometry_check.is_fresh(now) {
            self.refresh_geometry(now)?;
        }
        let rect = self.rect;
        let live = self.live.as_mut().expect("connected above");

        // One round trip for everything this tick needs to know. A running pointer thread reads shape changes
        // itself (and shares them): the tick asks for the image only without one, so a change is fetched once.
        let thread_reads_shapes = self
            .pointer_thread
            .as_ref()
            .is_some_and(|t| !t.is_finished());
        let pointer = live.conn.query_pointer(live.root)?;
        let cursor = if live.xfixes && live.cursor_stale && !thread_reads_shapes {
            Some(live.conn.xfixes_get_cursor_image()?)
        } else {
            None
        };
        let damage = match &live.damage {
            Some(d) if d.pending => {
                live.conn.damage_subtract(d.damage, x11rb::NONE, d.region)?;
                Some(live.conn.xfixes_fetch_region(d.region)?)
            }
            _ => None,
        };
        let pointer = pointer.reply()?;
        let sampled_at = Instant::now();
        if let Some(cookie) = cursor {
            match cookie.reply() {
                Ok(reply) => {
                    live.cursor = xcursor::shape_from_xfixes(
                        reply.width,
                        reply.height,
                        reply.xhot,
                        reply.yhot,
                        reply.cursor_serial,
                        &reply.cursor_image,
                    )
                    .map(Arc::new);
                    if self.mode == CursorMode::Overlay {
                        self.pointer
                            .lock()
                            .offer_shape(sampled_at, live.cursor.clone());
                    }
                    live.cursor_stale = false;
                    live.cursor_refused = false;
                }
                // Servers refuse the image now and then (Xvfb answers BadAccess right after the cursor's owner
                // freed it): keep the old shape and ask again next tick rather than failing the capture.
                Err(ReplyError::X11Error(e)) => {
                    if !std::mem::replace(&mut live.cursor_refused, true) {
                        tracing::debug!(screen = %self.info.id, error = %XError::from_x11(&e).into_media(MediaError::Capture), "cursor image refused; retrying");
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let damaged = match damage {
            Some(cookie) => {
                let region = cookie.reply()?;
                if let Some(d) = &mut live.damage {
                    d.pending = false;
                }
                region.rectangles.iter().any(|r| rect.intersects(r))
            }
            None => false,
        };

        let px = i32::from(pointer.root_x) - rect.x;
        let py = i32::from(pointer.root_y) - rect.y;
        let (placement, cursor_moved) = match self.mode {
            CursorMode::Video => {
                let placement = live
                    .cursor
                    .as_deref()
                    .filter(|_| pointer.same_screen)
                    .and_then(|c| xcursor::placement(c, px, py, rect.width, rect.height));
                (placement, placement != self.drawn_cursor)
            }
            CursorMode::Overlay => {
                let mut shared = self.pointer.lock();
                // The newest shape, whichever of the tick and the pointer thread read it.
                let shape = shared.shape().or_else(|| live.cursor.clone());
                let state = pointer_state(px, py, pointer.same_screen, rect, shape);
                shared.offer(sampled_at, state);
                (None, false)
            }
        };
        let comparing = live.damage.is_none();
        let owed = force || self.need_frame || cursor_moved;
        if !owed && !damaged && !comparing {
            return Ok(None);
        }

        // Damage drawn before this point is covered by the grab below; clear it so an event already on its way
        // does not cause a second, identical frame.
        if let Some(d) = &live.damage
            && !damaged
        {
            live.conn
                .damage_subtract(d.damage, x11rb::NONE, x11rb::NONE)?;
        }
        let pixels = live.grabber.grab(&live.conn, live.root, rect)?;
        if comparing {
            if !owed && pixels == self.previous.as_slice() {
                return Ok(None);
            }
            self.previous.clear();
            self.previous.extend_from_slice(pixels);
        }

        let captured_at = SystemTime::now();
        let stride = rect.width as usize * 4;
        let mut data: Arc<[u8]> = Arc::from(pixels);
        if let (Some(p), Some(c)) = (placement, &live.cursor) {
            let buf = Arc::get_mut(&mut data).expect("a freshly created Arc has no other owner");
            crate::cursor::blend(
                c,
                buf,
                stride,
                rect.width,
                rect.height,
                i64::from(p.x),
                i64::from(p.y),
            );
        }
        self.drawn_cursor = placement;
        self.need_frame = false;
        self.seq += 1;
        Ok(Some(Frame {
            width: rect.width,
            height: rect.height,
            stride,
            data,
            captured_at,
            seq: self.seq,
        }))
    }

    /// Re-reads the monitor's rectangle; on a change, resizes the grab and owes a frame.
    fn refresh_geometry(&mut self, now: Instant) -> Result<(), XError> {
        self.geometry_check = Expiry::fresh_for(now, GEOMETRY_RECHECK);
        let live = self.live.as_mut().expect("called with a live connection");
        live.geometry_changed = false;
        let rect = monitor_rect(
            &live.conn,
            live.root,
            live.randr,
            &mut live.atoms,
            &self.monitor_name,
            self.screen,
        )?;
        if rect != self.rect {
            tracing::info!(screen = %self.info.id, ?rect, "X11 monitor geometry changed");
            if rect.bytes() != self.rect.bytes() {
                live.grabber
                    .resize(&live.conn, &self.target, rect.bytes())?;
            }
            self.rect = rect;
            self.pointer.lock().rect = Some(rect);
            self.info.width = rect.width;
            self.info.height = rect.height;
            self.need_frame = true;
            self.previous.clear();
        }
        Ok(())
    }
}

impl FrameSource for X11Source {
    fn screen(&self) -> &ScreenInfo {
        &self.info
    }

    fn capture(&mut self, force: bool) -> Result<Option<Frame>, MediaError> {
        self.capture_inner(force).map_err(|e| {
            if e.is_broken() {
                // Reconnects on the next tick; until the display is back every tick reports Display.
                self.live = None;
                e.into_media(MediaError::Display)
            } else {
                e.into_media(MediaError::Capture)
            }
        })
    }

    /// The pointer as the last successful tick saw it, in [`CursorMode::Overlay`]; always `None` in
    /// [`CursorMode::Video`], where the frames already show the cursor.
    ///
    /// With the pointer thread running this is the newest sample of either, so it may be fresher than the tick.
    fn cursor(&self) -> Option<CursorState> {
        match self.mode {
            CursorMode::Overlay => self.pointer.lock().latest.as_ref().map(|(_, c)| c.clone()),
            CursorMode::Video => None,
        }
    }

    /// Starts the pointer thread, which calls `sink` for every (coalesced) move or shape change it sees. Ignored
    /// in video mode.
    fn set_cursor_sink(&mut self, sink: CursorSink) {
        if self.mode == CursorMode::Overlay {
            self.pointer.lock().sink = Some(sink);
            self.start_pointer_thread();
        }
    }
}

/// The pointer at (`px`, `py`) in the coordinates of the monitor `rect` (possibly outside it) as a
/// [`CursorState`]: clamped into the monitor, visible only when on the same X screen and inside the monitor.
pub(crate) fn pointer_state(
    px: i32,
    py: i32,
    same_screen: bool,
    rect: Rect,
    shape: Option<Arc<CursorShape>>,
) -> CursorState {
    let (w, h) = (rect.width as i32, rect.height as i32);
    let inside = (0..w).contains(&px) && (0..h).contains(&py);
    CursorState {
        x: px.clamp(0, (w - 1).max(0)) as u32,
        y: py.clamp(0, (h - 1).max(0)) as u32,
        visible: same_screen && inside,
        shape,
    }
}

/// DAMAGE state: one damage object on the root (report level NonEmpty: one event each time the damaged region
/// goes from empty to non-empty) and a region to read the damaged rectangles into.
struct DamageTracker {
    damage: damage::Damage,
    region: xfixes::Region,
    /// An event arrived since the damage was last subtracted.
    pending: bool,
}

/// A live connection and what was set up on it.
struct Live {
    conn: RustConnection,
    root: Window,
    grabber: Grabber,
    /// `None` when the server lacks DAMAGE: changes are found by comparing grabs.
    damage: Option<DamageTracker>,
    /// The server has XFixes 2+ (cursor images and shape events).
    xfixes: bool,
    /// The displayed cursor's shape, converted once per XFixes serial.
    cursor: Option<Arc<CursorShape>>,
    cursor_stale: bool,
    /// The last GetCursorImage was refused (logged once per streak).
    cursor_refused: bool,
    randr: bool,
    atoms: AtomNames,
    /// A RandR event announced a screen change.
    geometry_changed: bool,
}

impl Live {
    fn connect(target: &DisplayTarget, screen: usize, rect: Rect) -> Result<Self, XError> {
        let conn = target.connect()?;
        super::display::check_pixel_format(conn.setup(), screen)?;
        let root = conn.setup().roots[screen].root;

        let xfixes = match conn.extension_information(xfixes::X11_EXTENSION_NAME)? {
            Some(_) => conn.xfixes_query_version(5, 0)?.reply()?.major_version >= 2,
            None => false,
        };
        if xfixes {
            conn.xfixes_select_cursor_input(root, xfixes::CursorNotifyMask::DISPLAY_CURSOR)?;
        }
        let damage = if xfixes
            && conn
                .extension_information(damage::X11_EXTENSION_NAME)?
                .is_some()
        {
            conn.damage_query_version(1, 1)?.reply()?;
            let d = conn.generate_id()?;
            conn.damage_create(d, root, damage::ReportLevel::NON_EMPTY)?
                .check()?;
            let region = conn.generate_id()?;
            conn.xfixes_create_region(region, &[])?.check()?;
            Some(DamageTracker {
                damage: d,
                region,
                pending: false,
            })
        } else {
            tracing::info!(display = %target.connect, "X server has no DAMAGE; comparing frames instead");
            None
        };
        let randr = layout::randr_monitors_supported(&conn)?;
        if randr {
            conn.randr_select_input(root, randr::NotifyMask::SCREEN_CHANGE)?;
        }
        let grabber = Grabber::new(&conn, target, rect.bytes())?;
        Ok(Self {
            conn,
            root,
            grabber,
            damage,
            xfixes,
            cursor: None,
            cursor_stale: xfixes,
            cursor_refused: false,
            randr,
            atoms: AtomNames::default(),
            geometry_changed: false,
        })
    }

    fn drain_events(&mut self) -> Result<(), XError> {
        while let Some(event) = self.conn.poll_for_event()? {
            match event {
                Event::DamageNotify(_) => {
                    if let Some(d) = &mut self.damage {
                        d.pending = true;
                    }
                }
                Event::XfixesCursorNotify(_) => self.cursor_stale = true,
                Event::RandrScreenChangeNotify(_) => self.geometry_changed = true,
                Event::Error(e) => return Err(XError::from_x11(&e)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// How pixels get from the server to us (also used by the still grabber, [`super::still`]).
pub(super) enum Grabber {
    /// MIT-SHM: the server writes straight into memory we share with it (local displays).
    Shm(ShmSegment),
    /// Plain GetImage: the pixels travel through the socket (remote displays, servers without MIT-SHM).
    Core(Vec<u8>),
}

impl Grabber {
    pub(super) fn new(
        conn: &RustConnection,
        target: &DisplayTarget,
        len: usize,
    ) -> Result<Self, XError> {
        if target.local
            && conn
                .extension_information(shm::X11_EXTENSION_NAME)?
                .is_some()
        {
            conn.shm_query_version()?.reply()?;
            if let Some(seg) = ShmSegment::attach(conn, len)? {
                return Ok(Self::Shm(seg));
            }
        }
        tracing::info!(display = %target.connect, "X11 capture without shared memory (plain GetImage)");
        Ok(Self::Core(Vec::new()))
    }

    pub(super) fn resize(
        &mut self,
        conn: &RustConnection,
        target: &DisplayTarget,
        len: usize,
    ) -> Result<(), XError> {
        if let Self::Shm(seg) = self {
            conn.shm_detach(seg.seg)?;
        }
        *self = Self::new(conn, target, len)?;
        Ok(())
    }

    /// Reads `rect` of `root` (inside the segment's size) and returns its BGRX pixels, `rect.width * 4` bytes per
    /// row, `rect.bytes()` in all.
    pub(super) fn grab(
        &mut self,
        conn: &RustConnection,
        root: Window,
        rect: Rect,
    ) -> Result<&[u8], XError> {
        let (x, y, w, h) = (
            rect.x as i16,
            rect.y as i16,
            rect.width as u16,
            rect.height as u16,
        );
        let format = ImageFormat::Z_PIXMAP.into();
        let got = match self {
            Self::Shm(seg) => {
                let reply = conn
                    .shm_get_image(root, x, y, w, h, !0, format, seg.seg, 0)?
                    .reply()?;
                reply.size as usize
            }
            Self::Core(buf) => {
                *buf = conn
                    .get_image(ImageFormat::Z_PIXMAP, root, x, y, w, h, !0)?
                    .reply()?
                    .data;
                buf.len()
            }
        };
        if got != rect.bytes() {
            return Err(XError::Protocol(format!(
                "the X server returned {got} bytes for a {}x{} grab",
                rect.width, rect.height
            )));
        }
        Ok(match self {
            Self::Shm(seg) => &seg.pixels()[..got],
            Self::Core(buf) => buf,
        })
    }
}

impl Grabber {
    /// The first `len` bytes of the last grab's pixels (what [`Grabber::grab`] returned, borrowed again).
    pub(super) fn pixels(&self, len: usize) -> &[u8] {
        match self {
            Self::Shm(seg) => &seg.pixels()[..len.min(seg.len)],
            Self::Core(buf) => &buf[..len.min(buf.len())],
        }
    }
}

/// A System V shared-memory segment mapped here and attached in the X server.
///
/// Marked for removal right after the server attaches it, so the kernel frees it once both sides let go, even if
/// this process dies. The server detaches when asked ([`Grabber::resize`]) or when the connection closes.
pub(super) struct ShmSegment {
    seg: shm::Seg,
    addr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by exactly one `ShmSegment`, which hands out borrows tied to `&self` only; the
// memory is process-wide, so reading or unmapping it from another thread is sound. The X server writes into it
// only while a ShmGetImage of ours is being processed, and `Grabber::grab` reads it only after that reply.
unsafe impl Send for ShmSegment {}

impl ShmSegment {
    /// Creates and attaches a segment of `len` bytes; `Ok(None)` when shared memory is impossible here (no SysV
    /// IPC, or the server refused to attach, e.g. because it runs in another IPC namespace).
    fn attach(conn: &RustConnection, len: usize) -> Result<Option<Self>, XError> {
        // SAFETY: plain system calls with valid arguments; the results are checked below.
        let shmid = unsafe { libc::shmget(libc::IPC_PRIVATE, len.max(1), libc::IPC_CREAT | 0o600) };
        if shmid < 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "shmget failed; X11 capture without shared memory");
            return Ok(None);
        }
        // SAFETY: `shmid` is the segment just created; a null address lets the kernel choose the mapping.
        let addr = unsafe { libc::shmat(shmid, std::ptr::null(), 0) };
        let mapped = NonNull::new(addr.cast::<u8>()).filter(|_| addr as isize != -1);
        let attached = match mapped {
            Some(addr) => {
                // From here on, dropping `segment` unmaps the memory on every path.
                let mut segment = Self { seg: 0, addr, len };
                match Self::attach_in_server(conn, shmid) {
                    Ok(Some(seg)) => {
                        segment.seg = seg;
                        Ok(Some(segment))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            None => {
                tracing::warn!(error = %std::io::Error::last_os_error(), "shmat failed; X11 capture without shared memory");
                Ok(None)
            }
        };
        // SAFETY: marks the segment for removal; attachments (ours, the server's) keep it alive until detached.
        unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) };
        attached
    }

    fn attach_in_server(conn: &RustConnection, shmid: i32) -> Result<Option<shm::Seg>, XError> {
        let seg = conn.generate_id()?;
        match conn.shm_attach(seg, shmid as u32, false)?.check() {
            Ok(()) => Ok(Some(seg)),
            Err(x11rb::errors::ReplyError::X11Error(e)) => {
                tracing::warn!(error = ?e.error_kind, "X server cannot attach our shared memory; using GetImage");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn pixels(&self) -> &[u8] {
        // SAFETY: `addr` maps `len` bytes for as long as `self` lives; the server does not write while no
        // ShmGetImage is outstanding, and the returned borrow ends before the next grab (`&mut self` there).
        unsafe { std::slice::from_raw_parts(self.addr.as_ptr(), self.len) }
    }
}

impl Drop for ShmSegment {
    fn drop(&mut self) {
        // SAFETY: `addr` came from shmat and is unmapped exactly once, here.
        unsafe { libc::shmdt(self.addr.as_ptr().cast()) };
    }
}

/// Where monitor `name` of X screen `screen` is now (clipped to the screen), or an error when it is gone.
pub(super) fn monitor_rect(
    conn: &RustConnection,
    root: Window,
    randr: bool,
    atoms: &mut AtomNames,
    name: &str,
    screen: usize,
) -> Result<Rect, XError> {
    let screens = layout::query_screens(conn, &[root], randr, atoms)?;
    let found = screens
        .first()
        .map(layout::RawScreen::clipped_monitors)
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            XError::Refused(MediaError::Display(format!(
                "monitor {name:?} of X screen {screen} is gone"
            )))
        })?;
    Ok(Rect {
        x: found.x,
        y: found.y,
        width: found.width,
        height: found.height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_rectangles_count_only_inside_the_monitor() {
        let m = Rect {
            x: 960,
            y: 0,
            width: 960,
            height: 1080,
        };
        let r = |x, y, width, height| Rectangle {
            x,
            y,
            width,
            height,
        };
        assert!(m.intersects(&r(960, 0, 1, 1)));
        assert!(m.intersects(&r(900, 500, 61, 1)));
        assert!(!m.intersects(&r(900, 500, 60, 1))); // ends exactly at the left edge
        assert!(!m.intersects(&r(0, 0, 960, 1080)));
        assert!(!m.intersects(&r(1000, 1080, 10, 10)));
        assert!(m.intersects(&r(1919, 1079, 5, 5)));
    }

    #[test]
    fn the_pointer_is_clamped_into_the_monitor_and_visible_only_inside_it() {
        let m = Rect {
            x: 960,
            y: 0,
            width: 960,
            height: 1080,
        };
        let at = |x, y, same| {
            let s = pointer_state(x, y, same, m, None);
            (s.x, s.y, s.visible)
        };
        assert_eq!(at(0, 0, true), (0, 0, true));
        assert_eq!(at(959, 1079, true), (959, 1079, true));
        assert_eq!(at(960, 500, true), (959, 500, false));
        assert_eq!(at(-960, -5, true), (0, 0, false));
        assert_eq!(at(10, 10, false), (10, 10, false)); // on another X screen
    }
}
