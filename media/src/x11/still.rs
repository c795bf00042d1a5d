//! The X11 [`StillSource`]: one warm grabber per monitor for stills (MCP screenshots, REST snapshots).
//!
//! Unlike a capture ([`super::capture::X11Source`]) it selects no events (no DAMAGE, no XFixes cursor or RandR
//! notifications) and keeps nothing between grabs but its connection, its MIT-SHM segment (sized for the whole
//! monitor, so any region fits) and the monitor's rectangle. One grab is one `ShmGetImage` of only the region;
//! with the pointer drawn in, QueryPointer and GetCursorImage travel in the same round trip. The pixels are lent
//! out of the shared memory as a [`View`] and encoded from there: no copy of the picture is made.
//!
//! The monitor's rectangle is re-read every [`GEOMETRY_RECHECK`] and whenever the server refuses a grab (a monitor
//! that shrank), so a changed layout costs one failed request at most.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::rust_connection::RustConnection;

use super::capture::{Grabber, Rect as MonitorRect, monitor_rect, pointer_state};
use super::display::{DisplayTarget, Expiry, XError};
use super::layout::{self, AtomNames, Monitor};
use crate::still::{Grab, Rect, StillSource, View, compose};
use crate::{CursorShape, MediaError};

/// How often the grabber re-reads its monitor's rectangle when nothing failed: as a capture does (RandR 1.5
/// monitors change without an event, and the grabber selects none anyway).
const GEOMETRY_RECHECK: Duration = Duration::from_secs(2);

/// A warm grabber of one X11 monitor.
pub(crate) struct X11Still {
    target: DisplayTarget,
    /// X screen index and RandR monitor name: how the monitor is found again after a change.
    screen: usize,
    monitor_name: String,
    id: String,
    /// The monitor's rectangle in its root window.
    rect: MonitorRect,
    conn: RustConnection,
    root: Window,
    grabber: Grabber,
    randr: bool,
    atoms: AtomNames,
    /// XFixes 2+ (cursor images): asked once, on the first grab with the pointer.
    xfixes: Option<bool>,
    /// The last cursor image, converted once per XFixes serial.
    cursor: Option<Arc<CursorShape>>,
    geometry_check: Expiry,
    /// The region with the pointer drawn in (a copy of the region only, when the pointer is over it).
    composed: Vec<u8>,
    seq: u64,
    broken: bool,
}

impl X11Still {
    /// Connects a grabber for `monitor` of the display `target`.
    pub(crate) fn open(target: DisplayTarget, monitor: Monitor) -> Result<Self, MediaError> {
        let rect = MonitorRect::of(&monitor);
        let connect = || -> Result<_, XError> {
            let conn = target.connect()?;
            super::display::check_pixel_format(conn.setup(), monitor.screen)?;
            let root = conn.setup().roots[monitor.screen].root;
            let randr = layout::randr_monitors_supported(&conn)?;
            let grabber = Grabber::new(&conn, &target, rect.bytes())?;
            Ok((conn, root, randr, grabber))
        };
        let (conn, root, randr, grabber) =
            connect().map_err(|e| e.into_media(MediaError::Display))?;
        Ok(Self {
            screen: monitor.screen,
            monitor_name: monitor.monitor_name,
            id: monitor.info.id,
            rect,
            conn,
            root,
            grabber,
            randr,
            atoms: AtomNames::default(),
            xfixes: None,
            cursor: None,
            geometry_check: Expiry::fresh_for(Instant::now(), GEOMETRY_RECHECK),
            composed: Vec::new(),
            seq: 0,
            broken: false,
            target,
        })
    }

    /// Re-reads the monitor's rectangle; resizes the segment when its size changed.
    fn refresh_geometry(&mut self) -> Result<(), XError> {
        self.geometry_check = Expiry::fresh_for(Instant::now(), GEOMETRY_RECHECK);
        let rect = monitor_rect(
            &self.conn,
            self.root,
            self.randr,
            &mut self.atoms,
            &self.monitor_name,
            self.screen,
        )?;
        if rect != self.rect {
            tracing::info!(screen = %self.id, ?rect, "X11 monitor geometry changed (still grabber)");
            if rect.bytes() != self.rect.bytes() {
                self.grabber
                    .resize(&self.conn, &self.target, rect.bytes())?;
            }
            self.rect = rect;
        }
        Ok(())
    }

    /// Whether the server has XFixes 2+ (asked once).
    fn xfixes(&mut self) -> Result<bool, XError> {
        if let Some(x) = self.xfixes {
            return Ok(x);
        }
        let x = match self
            .conn
            .extension_information(xfixes::X11_EXTENSION_NAME)?
        {
            Some(_) => self.conn.xfixes_query_version(5, 0)?.reply()?.major_version >= 2,
            None => false,
        };
        self.xfixes = Some(x);
        Ok(x)
    }

    /// One grab of `region` (checked against the monitor) and, when asked, the pointer over it.
    fn grab_inner(
        &mut self,
        region: Option<Rect>,
        include_cursor: bool,
    ) -> Result<(Rect, Option<crate::CursorState>, SystemTime), XError> {
        if !self.geometry_check.is_fresh(Instant::now()) {
            self.refresh_geometry()?;
        }
        let region =
            Rect::checked(region, self.rect.width, self.rect.height).map_err(XError::Refused)?;
        let (pointer, image) = if include_cursor {
            let image = if self.xfixes()? {
                Some(self.conn.xfixes_get_cursor_image()?)
            } else {
                None
            };
            (Some(self.conn.query_pointer(self.root)?), image)
        } else {
            (None, None)
        };
        let grab = MonitorRect {
            x: self.rect.x + region.x as i32,
            y: self.rect.y + region.y as i32,
            width: region.width,
            height: region.height,
        };
        self.grabber.grab(&self.conn, self.root, grab)?;
        let captured_at = SystemTime::now();
        let cursor = match pointer {
            Some(p) => {
                let p = p.reply()?;
                if let Some(reply) = image.map(|c| c.reply()).transpose().ok().flatten()
                    && self
                        .cursor
                        .as_ref()
                        .is_none_or(|c| c.serial != reply.cursor_serial)
                {
                    self.cursor = super::cursor::shape_from_xfixes(
                        reply.width,
                        reply.height,
                        reply.xhot,
                        reply.yhot,
                        reply.cursor_serial,
                        &reply.cursor_image,
                    )
                    .map(Arc::new);
                }
                let (px, py) = (
                    i32::from(p.root_x) - self.rect.x,
                    i32::from(p.root_y) - self.rect.y,
                );
                Some(pointer_state(
                    px,
                    py,
                    p.same_screen,
                    self.rect,
                    self.cursor.clone(),
                ))
            }
            None => None,
        };
        Ok((region, cursor, captured_at))
    }
}

impl StillSource for X11Still {
    fn grab(&mut self, region: Option<Rect>, include_cursor: bool) -> Result<Grab<'_>, MediaError> {
        let mut result = self.grab_inner(region, include_cursor);
        // A refused grab may be a monitor that shrank or moved: re-read it and try once more.
        if matches!(result, Err(XError::Protocol(_))) {
            result = self
                .refresh_geometry()
                .and_then(|()| self.grab_inner(region, include_cursor));
        }
        let (region, cursor, captured_at) = result.map_err(|e| {
            if e.is_broken() {
                self.broken = true;
                e.into_media(MediaError::Display)
            } else {
                e.into_media(MediaError::Capture)
            }
        })?;
        self.seq += 1;
        let (screen_width, screen_height) = (self.rect.width, self.rect.height);
        let pixels = self
            .grabber
            .pixels(region.width as usize * region.height as usize * 4);
        let stride = region.width as usize * 4;
        let view = View::new(pixels, region.width, region.height, stride)?;
        let view = match cursor {
            Some(c) => compose(view, region, &c, &mut self.composed)?,
            None => view,
        };
        Ok(Grab {
            view,
            region,
            screen_width,
            screen_height,
            seq: self.seq,
            captured_at,
        })
    }

    fn is_broken(&self) -> bool {
        self.broken
    }
}
