//! Event-driven pointer reports for [`CursorMode::Overlay`](crate::CursorMode::Overlay): the "pointer" thread of
//! an [`X11Source`](super::capture::X11Source).
//!
//! A capture tick samples the pointer once (QueryPointer), so a move waits up to a whole tick (33 ms at 30 fps)
//! before viewers hear of it. This thread removes that wait: it has its own connection, selects XInput2
//! `RawMotion` on every root window and XFixes `DisplayCursor` notifications on its screen's root, and blocks on
//! the connection. Every wake drains the pending events and, when one of them was a move or a shape change, does
//! one QueryPointer (and GetCursorImage after a shape change), turns the answer into a [`CursorState`] with the
//! capture's own rule ([`pointer_state`]) and hands it to the [`CursorSink`] the engine gave the source.
//!
//! Publications are coalesced ([`Coalescer`]): the first change after a quiet spell goes out at once, later ones
//! at most once per [`MIN_INTERVAL`], the latest state last, so a burst of moves never floods viewers.
//!
//! The thread and the capture tick share a [`PointerShared`]: the monitor's rectangle (the tick updates it when
//! the geometry changes), the newest shape, the newest sample (by the time its reply arrived, so a slow tick never
//! overwrites a fresher move) and the sink. Without XInput2 the thread logs once and ends, and an X error or a
//! lost connection ends it quietly: the per-tick sampling goes on either way, so nothing is lost but latency.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xinput::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::rust_connection::RustConnection;

use super::capture::{Rect, pointer_state};
use super::cursor as xcursor;
use super::display::{DisplayTarget, XError};
use crate::cursor::CursorSink;
use crate::{CursorShape, CursorState};

/// The shortest time between two publications of the thread: 250 a second at most, well above any display's
/// refresh rate, while a burst of hundreds of moves costs viewers a handful of messages.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(4);

/// The longest the thread sleeps without an event (a safety net; stopping wakes it at once).
const MAX_WAIT: Duration = Duration::from_secs(1);

/// `XIAllMasterDevices`: events of the master pointer, whichever physical or XTEST device moved it.
const ALL_MASTER_DEVICES: xinput::DeviceId = 1;

/// What the capture tick and the pointer thread share, behind one mutex.
#[derive(Default)]
pub(crate) struct PointerShared {
    /// The monitor's rectangle in its X screen, kept current by the capture.
    pub rect: Option<Rect>,
    /// The newest cursor shape and when its image arrived.
    pub shape: Option<(Instant, Option<Arc<CursorShape>>)>,
    /// The newest pointer sample and when its reply arrived.
    pub latest: Option<(Instant, CursorState)>,
    /// Where the thread publishes; `None` until the engine sets one.
    pub sink: Option<CursorSink>,
}

impl PointerShared {
    /// Records a shape whose image arrived at `at`, unless a newer one is already known.
    pub(crate) fn offer_shape(&mut self, at: Instant, shape: Option<Arc<CursorShape>>) {
        if self.shape.as_ref().is_none_or(|(t, _)| *t <= at) {
            self.shape = Some((at, shape));
        }
    }

    /// The newest shape known.
    pub(crate) fn shape(&self) -> Option<Arc<CursorShape>> {
        self.shape.as_ref().and_then(|(_, s)| s.clone())
    }

    /// Records a sample whose reply arrived at `at`; `false` (and nothing stored) when a newer one is known.
    pub(crate) fn offer(&mut self, at: Instant, state: CursorState) -> bool {
        if self.latest.as_ref().is_some_and(|(t, _)| *t > at) {
            return false;
        }
        self.latest = Some((at, state));
        true
    }
}

/// The coalescing rule, as pure bookkeeping: a change publishes at once when the last publication is at least
/// `interval` old (leading edge); otherwise it is owed, and [`Coalescer::deadline`] says when the trailing
/// publication (of whatever the state is then) is due.
#[derive(Debug)]
pub(crate) struct Coalescer {
    interval: Duration,
    last: Option<Instant>,
    owed: bool,
}

impl Coalescer {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            owed: false,
        }
    }

    /// Something changed at `now`: `true` when it is to be published now (and counts as published).
    pub(crate) fn changed(&mut self, now: Instant) -> bool {
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= self.interval)
        {
            self.last = Some(now);
            self.owed = false;
            true
        } else {
            self.owed = true;
            false
        }
    }

    /// The publication decided at the last `changed`/`due` went out at `at` (after its round trip): the interval
    /// counts from there, so the sink never sees two calls closer than `interval`.
    pub(crate) fn published(&mut self, at: Instant) {
        if self.last.is_some_and(|t| t < at) {
            self.last = Some(at);
        }
    }

    /// When the owed trailing publication is due; `None` when nothing is owed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match (self.owed, self.last) {
            (true, Some(t)) => Some(t + self.interval),
            _ => None,
        }
    }

    /// Whether the owed trailing publication is due at `now` (it then counts as published).
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if self.deadline().is_some_and(|d| d <= now) {
            self.last = Some(now);
            self.owed = false;
            true
        } else {
            false
        }
    }
}

/// A running pointer thread; stops and joins it on drop.
pub(crate) struct PointerThread {
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl PointerThread {
    /// Starts the thread for X screen `screen` of `target`, publishing through `shared`. `None` (logged) when the
    /// thread cannot start: the per-tick sampling still reports the pointer.
    pub(crate) fn start(
        target: &DisplayTarget,
        screen: usize,
        name: &str,
        shared: Arc<Mutex<PointerShared>>,
    ) -> Option<Self> {
        let started = (|| {
            let (wake, wake_rx) = UnixStream::pair()?;
            wake.set_nonblocking(true)?;
            wake_rx.set_nonblocking(true)?;
            let stop = Arc::new(AtomicBool::new(false));
            let worker = Worker {
                target: target.clone(),
                screen,
                name: name.to_owned(),
                shared,
                stop: Arc::clone(&stop),
                wake: wake_rx,
            };
            let thread = std::thread::Builder::new()
                .name(format!("x11-pointer-{name}"))
                .spawn(move || worker.run())?;
            Ok::<_, std::io::Error>(Self {
                stop,
                wake,
                thread: Some(thread),
            })
        })();
        match started {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(screen = %name, error = %e, "cannot start the X11 pointer thread; sampling per tick");
                None
            }
        }
    }
}

impl PointerThread {
    /// Whether the thread ended on its own (no XInput2, an X error, the display gone).
    pub(crate) fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for PointerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if !self.is_finished() {
            let _ = (&self.wake).write(&[1]);
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("X11 pointer thread panicked");
        }
    }
}

/// The thread's state.
struct Worker {
    target: DisplayTarget,
    screen: usize,
    /// The screen id, for logs.
    name: String,
    shared: Arc<Mutex<PointerShared>>,
    stop: Arc<AtomicBool>,
    wake: UnixStream,
}

/// The thread's connection and what it set up.
struct Conn {
    conn: RustConnection,
    root: Window,
    xfixes: bool,
}

impl Worker {
    fn run(mut self) {
        let conn = match self.connect() {
            Ok(Some(c)) => c,
            Ok(None) => {
                // Once per process at info: every capture (and every one-shot snapshot) would say it again.
                static LOGGED: AtomicBool = AtomicBool::new(false);
                if !LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::info!(screen = %self.name, "X server has no XInput2; the pointer is sampled once per capture tick");
                } else {
                    tracing::debug!(screen = %self.name, "X server has no XInput2; the pointer is sampled once per capture tick");
                }
                return;
            }
            Err(e) => {
                tracing::debug!(screen = %self.name, error = ?e, "X11 pointer thread could not connect; sampling per tick");
                return;
            }
        };
        if let Err(e) = self.serve(&conn) {
            tracing::debug!(screen = %self.name, error = ?e, "X11 pointer thread ended; sampling per tick");
        }
    }

    /// Connects and selects the events; `Ok(None)` when the server lacks XInput 2.
    fn connect(&self) -> Result<Option<Conn>, XError> {
        let conn = self.target.connect()?;
        let roots: Vec<Window> = conn.setup().roots.iter().map(|s| s.root).collect();
        let Some(&root) = roots.get(self.screen) else {
            return Err(XError::Protocol(format!("no X screen {}", self.screen)));
        };
        if conn
            .extension_information(xinput::X11_EXTENSION_NAME)?
            .is_none()
        {
            return Ok(None);
        }
        let version = conn.xinput_xi_query_version(2, 2)?.reply()?;
        if version.major_version < 2 {
            return Ok(None);
        }
        // Raw events are selected on root windows; every root, so a move on any X screen wakes the thread (a
        // move onto another screen hides the pointer on this one).
        let mask = [xinput::EventMask {
            deviceid: ALL_MASTER_DEVICES,
            mask: vec![xinput::XIEventMask::RAW_MOTION],
        }];
        for &r in &roots {
            conn.xinput_xi_select_events(r, &mask)?.check()?;
        }
        let xfixes = match conn.extension_information(xfixes::X11_EXTENSION_NAME)? {
            Some(_) => conn.xfixes_query_version(5, 0)?.reply()?.major_version >= 2,
            None => false,
        };
        if xfixes {
            conn.xfixes_select_cursor_input(root, xfixes::CursorNotifyMask::DISPLAY_CURSOR)?
                .check()?;
        }
        Ok(Some(Conn { conn, root, xfixes }))
    }

    fn serve(&mut self, c: &Conn) -> Result<(), XError> {
        let mut coalescer = Coalescer::new(MIN_INTERVAL);
        // The first sample reads the shape too and publishes at once.
        let mut shape_stale = c.xfixes;
        let mut moved = true;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            // Events a reply read may already have buffered are drained before sleeping on the socket.
            let mut woke = false;
            while let Some(event) = c.conn.poll_for_event()? {
                woke = true;
                match event {
                    Event::XinputRawMotion(_) => moved = true,
                    Event::XfixesCursorNotify(_) => {
                        moved = true;
                        shape_stale = c.xfixes;
                    }
                    Event::Error(e) => return Err(XError::from_x11(&e)),
                    _ => {}
                }
            }
            let now = Instant::now();
            let publish = if moved {
                moved = false;
                coalescer.changed(now)
            } else {
                coalescer.due(now)
            };
            if publish {
                self.sample(c, &mut shape_stale)?;
                coalescer.published(Instant::now());
                continue; // the reply may have brought events along
            }
            if woke {
                continue;
            }
            let wait = coalescer
                .deadline()
                .map_or(MAX_WAIT, |d| d.saturating_duration_since(now))
                .min(MAX_WAIT);
            super::display::wait_readable(
                "X11 pointer",
                &[c.conn.stream().as_raw_fd(), self.wake.as_raw_fd()],
                wait,
            );
            let mut buf = [0u8; 16];
            while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        }
    }

    /// One QueryPointer (and the cursor image after a shape change), recorded in the shared state and published.
    fn sample(&self, c: &Conn, shape_stale: &mut bool) -> Result<(), XError> {
        let pointer = c.conn.query_pointer(c.root)?;
        let image = if *shape_stale {
            Some(c.conn.xfixes_get_cursor_image()?)
        } else {
            None
        };
        let pointer = pointer.reply()?;
        let mut shape = None;
        if let Some(cookie) = image {
            match cookie.reply() {
                Ok(r) => {
                    shape = Some(
                        xcursor::shape_from_xfixes(
                            r.width,
                            r.height,
                            r.xhot,
                            r.yhot,
                            r.cursor_serial,
                            &r.cursor_image,
                        )
                        .map(Arc::new),
                    );
                    *shape_stale = false;
                }
                // Refused now and then (see the capture): keep the shape known and ask again next time.
                Err(x11rb::errors::ReplyError::X11Error(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let at = Instant::now();
        let mut shared = self.shared.lock();
        if let Some(shape) = shape {
            shared.offer_shape(at, shape);
        }
        let Some(rect) = shared.rect else {
            return Ok(());
        };
        let state = pointer_state(
            i32::from(pointer.root_x) - rect.x,
            i32::from(pointer.root_y) - rect.y,
            pointer.same_screen,
            rect,
            shared.shape(),
        );
        // Published under the lock, so two samples never reach the sink out of order.
        if shared.offer(at, state.clone())
            && let Some(sink) = &shared.sink
        {
            sink(state);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_goes_out_at_once_and_a_burst_is_coalesced() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut c = Coalescer::new(Duration::from_millis(4));
        assert_eq!(c.deadline(), None);
        assert!(!c.due(t0), "nothing owed");
        // Leading edge.
        assert!(c.changed(t0));
        assert_eq!(c.deadline(), None);
        // Changes inside the interval are owed, once, for its end.
        assert!(!c.changed(ms(1)));
        assert!(!c.changed(ms(3)));
        assert_eq!(c.deadline(), Some(ms(4)));
        assert!(!c.due(ms(3)));
        assert!(c.due(ms(4)), "the trailing publication");
        assert!(!c.due(ms(5)), "only once");
        assert_eq!(c.deadline(), None);
        // A change right after the trailing publication waits for the next interval.
        assert!(!c.changed(ms(6)));
        assert_eq!(c.deadline(), Some(ms(8)));
        assert!(c.due(ms(9)));
        // After a quiet spell: immediately again. A slow round trip moves the interval's start.
        assert!(c.changed(ms(20)));
        c.published(ms(22));
        assert!(!c.changed(ms(25)));
        assert_eq!(c.deadline(), Some(ms(26)));
        c.published(ms(1)); // never backwards
        assert_eq!(c.deadline(), Some(ms(26)));

        // 100 changes 0.5 ms apart publish about once per interval, never more.
        let mut c = Coalescer::new(Duration::from_millis(4));
        let mut published = 0;
        for i in 0..100u64 {
            let now = t0 + Duration::from_micros(500 * i);
            if c.due(now) {
                published += 1;
            }
            if c.changed(now) {
                published += 1;
            }
        }
        if c.due(t0 + Duration::from_secs(1)) {
            published += 1;
        }
        assert!((12..=14).contains(&published), "{published} publications");
    }

    #[test]
    fn older_samples_and_shapes_never_replace_newer_ones() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_millis(5);
        let at = |x| CursorState {
            x,
            y: 0,
            visible: true,
            shape: None,
        };
        let mut s = PointerShared::default();
        assert!(s.offer(later, at(2)));
        assert!(!s.offer(t0, at(1)), "a slow tick's older sample");
        assert_eq!(s.latest.as_ref().map(|(_, c)| c.x), Some(2));
        assert!(s.offer(later, at(3)), "the same instant is not older");

        let shape = |serial| {
            Arc::new(CursorShape {
                serial,
                width: 0,
                height: 0,
                hot_x: 0,
                hot_y: 0,
                rgba: Vec::new(),
            })
        };
        s.offer_shape(later, Some(shape(2)));
        s.offer_shape(t0, Some(shape(1)));
        assert_eq!(s.shape().map(|s| s.serial), Some(2));
    }
}
