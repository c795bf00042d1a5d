//! Which X display to talk to, what can go wrong talking to it, and whether its pixels are ones we can read:
//! [`DisplayTarget`], [`XError`] (every x11rb error, before it becomes a [`MediaError`]), [`Expiry`] and
//! [`check_pixel_format`]. A leaf of the backend: the desktop, capture, input and layout all use it.

use std::time::{Duration, Instant};

use x11rb::errors::{ConnectError, ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::xproto;
use x11rb::reexports::x11rb_protocol::parse_display::parse_display;
use x11rb::rust_connection::RustConnection;
use x11rb::x11_utils::X11Error;

use crate::MediaError;

/// The highest display number whose TCP port (6000 + n) fits in 16 bits.
const MAX_DISPLAY_NUMBER: u16 = u16::MAX - 6000;

/// Which display to talk to, resolved once when the desktop opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DisplayTarget {
    /// What every connection of this desktop connects to (the given string, or `$DISPLAY`).
    pub connect: String,
    /// `":91"` or `"host:91"`: the display part of screen names.
    pub base: String,
    /// The screen named by the display string (`1` for `:91.1`), used to choose the primary monitor.
    pub default_screen: usize,
    /// Whether the server runs on this machine (no host part), the condition for shared memory.
    pub local: bool,
}

impl DisplayTarget {
    /// Parses `display`, or `$DISPLAY` when `None`.
    pub(crate) fn parse(display: Option<&str>) -> Result<Self, MediaError> {
        let connect = match display {
            Some(d) => d.to_owned(),
            None => std::env::var("DISPLAY")
                .map_err(|_| MediaError::Unavailable("no X display: DISPLAY is not set".into()))?,
        };
        let parsed = parse_display(Some(&connect))
            .map_err(|e| MediaError::Unavailable(format!("bad X display {connect:?}: {e}")))?;
        // x11rb computes the TCP port 6000 + display in u16 and overflows (panics in debug builds) above this.
        if parsed.display > MAX_DISPLAY_NUMBER {
            return Err(MediaError::Unavailable(format!(
                "bad X display {connect:?}: display numbers go up to {MAX_DISPLAY_NUMBER}"
            )));
        }
        Ok(Self {
            base: format!("{}:{}", parsed.host, parsed.display),
            default_screen: usize::from(parsed.screen),
            local: parsed.host.is_empty(),
            connect,
        })
    }

    /// Opens a new connection to the display.
    pub(crate) fn connect(&self) -> Result<RustConnection, XError> {
        Ok(x11rb::connect(Some(&self.connect))?.0)
    }
}

/// What went wrong inside the backend, before it becomes a [`MediaError`] at the trait boundary.
#[derive(Debug)]
pub(crate) enum XError {
    /// The connection is unusable (closed, I/O error, malformed data): drop it and reconnect next time.
    Broken(String),
    /// The server refused one request; the connection is still fine.
    Protocol(String),
    /// The caller asked for something impossible (unknown screen or key); passed through unchanged.
    Refused(MediaError),
}

impl XError {
    /// Whether the connection that produced this error must be replaced.
    pub(crate) fn is_broken(&self) -> bool {
        matches!(self, Self::Broken(_))
    }

    /// The [`MediaError`] for a caller; server-side failures are wrapped by `wrap`.
    pub(crate) fn into_media(self, wrap: fn(String) -> MediaError) -> MediaError {
        match self {
            Self::Broken(msg) | Self::Protocol(msg) => wrap(msg),
            Self::Refused(e) => e,
        }
    }

    pub(crate) fn from_x11(e: &X11Error) -> Self {
        Self::Protocol(format!(
            "X server refused {} ({:?}, value {:#x})",
            e.request_name.unwrap_or("a request"),
            e.error_kind,
            e.bad_value
        ))
    }
}

impl From<ConnectionError> for XError {
    fn from(e: ConnectionError) -> Self {
        Self::Broken(format!("X connection failed: {e}"))
    }
}

impl From<ConnectError> for XError {
    fn from(e: ConnectError) -> Self {
        Self::Broken(format!("cannot connect to the X display: {e}"))
    }
}

impl From<ReplyError> for XError {
    fn from(e: ReplyError) -> Self {
        match e {
            ReplyError::ConnectionError(e) => e.into(),
            ReplyError::X11Error(e) => Self::from_x11(&e),
        }
    }
}

impl From<ReplyOrIdError> for XError {
    fn from(e: ReplyOrIdError) -> Self {
        match e {
            ReplyOrIdError::ConnectionError(e) => e.into(),
            ReplyOrIdError::X11Error(e) => Self::from_x11(&e),
            ReplyOrIdError::IdsExhausted => Self::Broken("X resource ids exhausted".into()),
        }
    }
}

/// A deadline that is either met or not, renewed by the caller: the plain-struct clock behind cache lifetimes
/// and periodic re-checks (takes `now`, so tests need no sleeping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expiry {
    until: Option<Instant>,
}

impl Expiry {
    /// Already expired.
    pub(crate) fn expired() -> Self {
        Self { until: None }
    }

    /// Fresh until `now + ttl`.
    pub(crate) fn fresh_for(now: Instant, ttl: Duration) -> Self {
        Self {
            until: Some(now + ttl),
        }
    }

    /// Whether `now` is before the deadline.
    pub(crate) fn is_fresh(&self, now: Instant) -> bool {
        self.until.is_some_and(|t| now < t)
    }
}

/// Refuses screens whose pixels are not 32-bit little-endian xRGB (the BGRA byte order [`crate::Frame`] holds).
/// Every X server of the last twenty years uses it at depth 24; depth 16 or 30 would need a conversion.
pub(crate) fn check_pixel_format(setup: &xproto::Setup, screen: usize) -> Result<(), XError> {
    let refuse =
        |why: String| XError::Refused(MediaError::Unavailable(format!("X screen {screen}: {why}")));
    let s = setup
        .roots
        .get(screen)
        .ok_or_else(|| refuse("no such screen".into()))?;
    let bpp = setup
        .pixmap_formats
        .iter()
        .find(|f| f.depth == s.root_depth)
        .map(|f| f.bits_per_pixel);
    let visual = s
        .allowed_depths
        .iter()
        .flat_map(|d| d.visuals.iter())
        .find(|v| v.visual_id == s.root_visual);
    let masks = visual.map(|v| (v.red_mask, v.green_mask, v.blue_mask));
    if bpp != Some(32)
        || masks != Some((0xff_0000, 0xff00, 0xff))
        || setup.image_byte_order != xproto::ImageOrder::LSB_FIRST
    {
        return Err(refuse(format!(
            "unsupported pixel format (depth {}, {bpp:?} bits per pixel, masks {masks:x?}, byte order {:?}); \
             sightline needs depth 24 with 32-bit little-endian xRGB pixels",
            s.root_depth, setup.image_byte_order
        )));
    }
    Ok(())
}

/// Waits until one of `fds` (an X connection's socket, a wake-up socket) is readable or `timeout` passed (rounded up
/// to a millisecond): how the X11 helper threads (clipboard, pointer) sleep. A failed `poll` is logged, naming
/// `who`, and backs off 10 ms so a persistent failure cannot spin.
pub(crate) fn wait_readable(who: &str, fds: &[std::os::fd::RawFd], timeout: Duration) {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    // SAFETY: `pfds` is a live, exclusively borrowed array of exactly `pfds.len()` pollfd structs.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            tracing::warn!(error = %e, "{who}: poll failed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_strings_resolve_to_base_and_default_screen() {
        let t = DisplayTarget::parse(Some(":91.1")).expect("valid");
        assert_eq!(
            (t.base.as_str(), t.default_screen, t.local),
            (":91", 1, true)
        );
        let t = DisplayTarget::parse(Some("remote:10")).expect("valid");
        assert_eq!(
            (t.base.as_str(), t.default_screen, t.local),
            ("remote:10", 0, false)
        );
        assert!(matches!(
            DisplayTarget::parse(Some("nonsense")),
            Err(MediaError::Unavailable(_))
        ));
        assert!(matches!(
            DisplayTarget::parse(Some(":65000")),
            Err(MediaError::Unavailable(_))
        ));
        assert!(DisplayTarget::parse(Some(":59535")).is_ok());
    }

    #[test]
    fn expiry_is_fresh_only_before_its_deadline() {
        let t0 = Instant::now();
        assert!(!Expiry::expired().is_fresh(t0));
        let e = Expiry::fresh_for(t0, Duration::from_secs(1));
        assert!(e.is_fresh(t0));
        assert!(e.is_fresh(t0 + Duration::from_millis(999)));
        assert!(!e.is_fresh(t0 + Duration::from_secs(1)));
    }
}
