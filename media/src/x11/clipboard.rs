//! The X11 [`Clipboard`]: CLIPBOARD and PRIMARY, read from and served to other applications by a thread of its
//! own.
//!
//! # How it works
//! X selections are not stored by the server: the owning application answers each reader itself. So a
//! [`ClipboardSlot`] (a field of the desktop) starts, on the first [`crate::Desktop::clipboard`] call, a thread
//! with its own connection and an unmapped 1×1 InputOnly window that
//! - watches owner changes of both selections through XFixes and bumps the [`ClipboardSerials`] watch for each
//!   (its own [`Clipboard::set`] included, before `set` returns);
//! - reads a selection by `ConvertSelection` into a property of its window: the owner's TARGETS first (owners
//!   like xclip answer any target with whatever they hold), then UTF8_STRING falling back to Latin-1 STRING, or
//!   image/png; the size is checked before the data is fetched, INCR transfers are followed, and content of
//!   another type than asked for is ignored; when it owns the selection itself it answers from memory;
//! - owns a selection after [`Clipboard::set`] and serves `SelectionRequest`s (TARGETS, TIMESTAMP, the text
//!   targets, image/png; MULTIPLE is refused), in INCR chunks above [`incr_threshold`], until a `SelectionClear`
//!   says another application took it.
//!
//! Callers reach the thread through a bounded channel and a wake-up socket; the thread waits on that socket and
//! the X connection with `poll`, never longer than a second, and every wait for another application ends at
//! [`CLIPBOARD_TIMEOUT`](crate::clipboard::CLIPBOARD_TIMEOUT). A broken connection (the display restarted) is
//! reopened on the next request or within a second; while the display is gone, requests fail with
//! [`MediaError::Unavailable`]. The thread ends when the slot (the desktop) drops.
//!
//! `selection` holds the X side (the connection, its window, serving and reading selections); this file the
//! handle, the thread and the pure target tables.

mod selection;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::display::{DisplayTarget, XError};
use crate::MediaError;
use crate::clipboard::{
    Clipboard, ClipboardData, ClipboardKind, ClipboardSerials, Selection, to_latin1,
};
use selection::XSide;

/// Requests waiting for the thread; more are refused with [`MediaError::Busy`].
const QUEUE: usize = 8;
/// How long a caller waits for its answer: its own request plus one queued ahead of it.
const REPLY_TIMEOUT: Duration = Duration::from_millis(2 * 1000 + 500);
/// The longest the thread sleeps, and the pause between reconnection attempts while the display is gone.
const TICK: Duration = Duration::from_secs(1);
/// INCR transfers served at once; further readers of large content are refused until one ends.
const MAX_OUTGOING: usize = 8;
/// Chunk size of INCR transfers we serve: what GTK and Qt use, well below any server's request limit.
pub(crate) const INCR_CHUNK: usize = 256 * 1024;

x11rb::atom_manager! {
    Atoms: AtomsCookie {
        CLIPBOARD,
        TARGETS,
        TIMESTAMP,
        MULTIPLE,
        INCR,
        UTF8_STRING,
        TEXT,
        TEXT_PLAIN_UTF8: b"text/plain;charset=utf-8",
        TEXT_PLAIN: b"text/plain",
        IMAGE_PNG: b"image/png",
        TRANSFER: b"SIGHTLINE_SELECTION",
        TIME: b"SIGHTLINE_TIME",
    }
}

/// A conversion target this clipboard serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Targets,
    Timestamp,
    Utf8String,
    /// Latin-1, offered only when the text fits.
    String,
    Text,
    TextPlainUtf8,
    TextPlain,
    Png,
}

/// What [`Clipboard::set`]'s data is offered as, in the order of TARGETS.
pub(crate) fn offered(data: &ClipboardData) -> Vec<Target> {
    let mut targets = vec![Target::Targets, Target::Timestamp];
    match data {
        ClipboardData::Text(text) => {
            targets.extend([Target::Utf8String, Target::TextPlainUtf8, Target::Text]);
            if text.chars().all(|c| u32::from(c) <= 0xff) {
                targets.push(Target::String);
            }
            targets.push(Target::TextPlain);
        }
        ClipboardData::Png(_) => targets.push(Target::Png),
    }
    targets
}

/// The bytes of `data` converted to `target`, `None` when it cannot be (text as an image, non-Latin-1 text as
/// STRING, and the meta targets).
pub(crate) fn encode(data: &ClipboardData, target: Target) -> Option<Vec<u8>> {
    match (data, target) {
        (ClipboardData::Text(text), Target::String) => to_latin1(text),
        (
            ClipboardData::Text(text),
            Target::Utf8String | Target::Text | Target::TextPlainUtf8 | Target::TextPlain,
        ) => Some(text.as_bytes().to_vec()),
        (ClipboardData::Png(png), Target::Png) => Some(png.clone()),
        _ => None,
    }
}

/// Content above this many bytes is served in INCR chunks: [`INCR_CHUNK`], or less when the server's request
/// limit (`max_request_bytes`, x11rb's `maximum_request_bytes()`) is smaller than a chunk plus headers.
pub(crate) fn incr_threshold(max_request_bytes: usize) -> usize {
    INCR_CHUNK
        .min(max_request_bytes.saturating_sub(64))
        .max(1024)
}

fn slot(selection: Selection) -> usize {
    match selection {
        Selection::Clipboard => 0,
        Selection::Primary => 1,
    }
}

fn bump(serials: &watch::Sender<ClipboardSerials>, selection: Selection) {
    serials.send_modify(|s| match selection {
        Selection::Clipboard => s.clipboard += 1,
        Selection::Primary => s.primary += 1,
    });
}

type Reply<T> = SyncSender<Result<T, MediaError>>;

enum Request {
    Get(
        Selection,
        ClipboardKind,
        usize,
        Reply<Option<ClipboardData>>,
    ),
    Set(Selection, ClipboardData, Reply<()>),
}

/// The handle callers hold: a channel to the thread.
pub(crate) struct X11Clipboard {
    requests: SyncSender<Request>,
    wake: Mutex<UnixStream>,
    serials: Arc<watch::Sender<ClipboardSerials>>,
}

impl X11Clipboard {
    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, MediaError> {
        let (tx, rx) = mpsc::sync_channel(1);
        match self.requests.try_send(make(tx)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(MediaError::Busy(
                    "the X clipboard is busy with other requests".into(),
                ));
            }
            Err(TrySendError::Disconnected(_)) => return Err(MediaError::Stopped),
        }
        // A full socket means a wake-up is already pending.
        let _ = self.wake.lock().write(&[1]);
        rx.recv_timeout(REPLY_TIMEOUT).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => MediaError::Display(format!(
                "the X clipboard did not answer within {REPLY_TIMEOUT:?}"
            )),
            mpsc::RecvTimeoutError::Disconnected => MediaError::Stopped,
        })?
    }
}

impl Clipboard for X11Clipboard {
    fn get(
        &self,
        selection: Selection,
        kind: ClipboardKind,
        max_bytes: usize,
    ) -> Result<Option<ClipboardData>, MediaError> {
        self.ask(|reply| Request::Get(selection, kind, max_bytes, reply))
    }

    fn set(&self, selection: Selection, data: ClipboardData) -> Result<(), MediaError> {
        self.ask(|reply| Request::Set(selection, data, reply))
    }

    fn changes(&self) -> watch::Receiver<ClipboardSerials> {
        self.serials.subscribe()
    }
}

/// The desktop's clipboard thread, started on first use and stopped (joined) when the slot drops.
#[derive(Default)]
pub(crate) struct ClipboardSlot {
    running: Mutex<Option<Running>>,
}

struct Running {
    handle: Arc<X11Clipboard>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ClipboardSlot {
    /// The clipboard of `target`, starting its thread on the first call.
    pub(crate) fn get(&self, target: &DisplayTarget) -> Result<Arc<X11Clipboard>, MediaError> {
        let mut running = self.running.lock();
        if let Some(r) = running.as_ref() {
            return Ok(Arc::clone(&r.handle));
        }
        let io = |e: std::io::Error| MediaError::Unavailable(format!("X clipboard: {e}"));
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(io)?;
        wake_tx.set_nonblocking(true).map_err(io)?;
        wake_rx.set_nonblocking(true).map_err(io)?;
        let (requests, queue) = mpsc::sync_channel(QUEUE);
        let serials = Arc::new(watch::Sender::new(ClipboardSerials::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            target: target.clone(),
            queue,
            wake: wake_rx,
            stop: Arc::clone(&stop),
            serials: Arc::clone(&serials),
            x: None,
            retry_at: Instant::now(),
            last_error: String::new(),
        };
        let thread = std::thread::Builder::new()
            .name("x11-clipboard".into())
            .spawn(move || worker.run())
            .map_err(io)?;
        let handle = Arc::new(X11Clipboard {
            requests,
            wake: Mutex::new(wake_tx),
            serials,
        });
        *running = Some(Running {
            handle: Arc::clone(&handle),
            stop,
            thread: Some(thread),
        });
        Ok(handle)
    }
}

impl Drop for ClipboardSlot {
    fn drop(&mut self) {
        if let Some(mut r) = self.running.get_mut().take() {
            r.stop.store(true, Ordering::SeqCst);
            let _ = r.handle.wake.lock().write(&[1]);
            if let Some(thread) = r.thread.take()
                && thread.join().is_err()
            {
                tracing::warn!("X11 clipboard thread panicked");
            }
        }
    }
}

/// The thread's state.
struct Worker {
    target: DisplayTarget,
    queue: Receiver<Request>,
    wake: UnixStream,
    stop: Arc<AtomicBool>,
    serials: Arc<watch::Sender<ClipboardSerials>>,
    /// `None` while the display is unreachable.
    x: Option<XSide>,
    retry_at: Instant,
    last_error: String,
}

impl Worker {
    fn run(mut self) {
        while !self.stop.load(Ordering::SeqCst) {
            if self.x.is_none() && Instant::now() >= self.retry_at {
                self.reconnect();
            }
            while let Ok(request) = self.queue.try_recv() {
                self.handle(request);
            }
            let mut fds = vec![self.wake.as_raw_fd()];
            if let Some(x) = self.x.as_mut() {
                match x.pump(&self.serials) {
                    Ok(()) => fds.push(x.fd()),
                    Err(e) => self.lost(e),
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            super::display::wait_readable("X11 clipboard", &fds, TICK);
            let mut buf = [0u8; 64];
            while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
        }
    }

    fn reconnect(&mut self) {
        match XSide::connect(&self.target) {
            Ok(x) => self.x = Some(x),
            Err(e) => {
                self.last_error = format!("{}", e.into_media(MediaError::Display));
                self.retry_at = Instant::now() + TICK;
            }
        }
    }

    /// Forgets a broken connection; what this process owned died with it, so both selections changed.
    fn lost(&mut self, e: XError) {
        tracing::warn!(display = %self.target.connect, error = ?e, "X11 clipboard connection lost");
        self.last_error = format!("{}", e.into_media(MediaError::Display));
        self.x = None;
        self.retry_at = Instant::now() + TICK;
        bump(&self.serials, Selection::Clipboard);
        bump(&self.serials, Selection::Primary);
    }

    fn handle(&mut self, request: Request) {
        if self.x.is_none() {
            self.reconnect();
        }
        match request {
            Request::Get(selection, kind, max, reply) => {
                let result = self.with_x(|x, serials| x.get(selection, kind, max, serials));
                let _ = reply.send(result);
            }
            Request::Set(selection, data, reply) => {
                let result = self.with_x(|x, serials| x.set(selection, data, serials));
                let _ = reply.send(result);
            }
        }
    }

    fn with_x<T>(
        &mut self,
        f: impl FnOnce(&mut XSide, &watch::Sender<ClipboardSerials>) -> Result<T, XError>,
    ) -> Result<T, MediaError> {
        let Some(x) = self.x.as_mut() else {
            return Err(MediaError::Unavailable(format!(
                "the X clipboard of {} is unavailable: {}",
                self.target.connect, self.last_error
            )));
        };
        f(x, &self.serials).map_err(|e| {
            let broken = e.is_broken();
            let err = e.into_media(MediaError::Display);
            if broken {
                self.lost(XError::Broken(err.to_string()));
            }
            err
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_offered_as_utf8_and_as_latin1_only_when_it_fits() {
        let latin = ClipboardData::Text("héllo".into());
        assert_eq!(
            offered(&latin),
            [
                Target::Targets,
                Target::Timestamp,
                Target::Utf8String,
                Target::TextPlainUtf8,
                Target::Text,
                Target::String,
                Target::TextPlain
            ]
        );
        assert_eq!(encode(&latin, Target::String), Some(b"h\xe9llo".to_vec()));
        assert_eq!(
            encode(&latin, Target::Utf8String),
            Some("héllo".as_bytes().to_vec())
        );
        assert_eq!(encode(&latin, Target::Png), None);
        let wide = ClipboardData::Text("1 €".into());
        assert!(!offered(&wide).contains(&Target::String));
        assert_eq!(encode(&wide, Target::String), None);
        assert_eq!(
            encode(&wide, Target::TextPlain),
            Some("1 €".as_bytes().to_vec())
        );
    }

    #[test]
    fn images_are_offered_as_png_only() {
        let png = ClipboardData::Png(vec![0x89, b'P', b'N', b'G']);
        assert_eq!(
            offered(&png),
            [Target::Targets, Target::Timestamp, Target::Png]
        );
        assert_eq!(
            encode(&png, Target::Png),
            Some(vec![0x89, b'P', b'N', b'G'])
        );
        assert_eq!(encode(&png, Target::Utf8String), None);
        assert_eq!(encode(&png, Target::Targets), None);
    }

    #[test]
    fn incr_starts_at_a_chunk_or_below_the_request_limit() {
        assert_eq!(incr_threshold(16 * 1024 * 1024), INCR_CHUNK);
        assert_eq!(incr_threshold(262_140), 262_140 - 64);
        assert_eq!(incr_threshold(0), 1024);
    }
}
