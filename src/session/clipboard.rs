//! The shared clipboard: the one place viewers and MCP clients read and set the remote desktop's clipboard, under
//! `[clipboard]`'s policy (least role each way, size limit, images, PRIMARY).
//!
//! A watcher task follows the backend's change counters ([`Clipboard::changes`]); for each change it reads the
//! selection once (text, else a PNG image when images are on) on a blocking thread and broadcasts it to every
//! subscribed viewer. Content over `max_bytes` is announced by its size only. Reads and writes are operations in
//! the monitor (`clipboard_read`, `clipboard_write`); the content is never logged.

use std::sync::Arc;
use std::time::Duration;

use sightline_media::{
    Clipboard, ClipboardData, ClipboardKind, ClipboardSerials, MediaError, Selection,
};
use sightline_monitor::{ConnectionId, Monitor, Owner};
use sightline_signaling::{ClipboardPayload, ClipboardSelection, Role};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::config::ClipboardConfig;
use crate::control::Error;

/// Clipboard changes buffered per viewer; a viewer further behind misses the oldest (only the latest matters).
const CLIPBOARD_EVENTS_CAPACITY: usize = 8;

/// The shortest time between two reads of a changing selection: an application that retakes the clipboard in a
/// loop costs at most this rate of reads, and the last change is always read.
const MIN_READ_INTERVAL: Duration = Duration::from_millis(100);

/// What a selection holds, as viewers receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClipboardContent {
    /// Empty, or nothing this gateway can pass on (neither text nor a PNG image).
    Empty,
    /// Text or an image.
    Data(Arc<ClipboardData>),
    /// Over `[clipboard] max_bytes`: only its size.
    TooLarge {
        /// What kind it was.
        kind: ClipboardKind,
        /// Its size in bytes.
        bytes: u64,
    },
}

/// A selection changed on the remote desktop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipboardEvent {
    /// Which selection.
    pub selection: Selection,
    /// What it holds now.
    pub content: ClipboardContent,
}

/// The clipboard of the desktop under the configured policy.
pub struct ClipboardHub {
    config: ClipboardConfig,
    backend: Option<Arc<dyn Clipboard>>,
    events: broadcast::Sender<ClipboardEvent>,
    monitor: Monitor,
}

impl std::fmt::Debug for ClipboardHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipboardHub")
            .field("config", &self.config)
            .field("backend", &self.backend.is_some())
            .finish_non_exhaustive()
    }
}

/// The media crate's selection for the wire's.
pub fn selection(s: ClipboardSelection) -> Selection {
    match s {
        ClipboardSelection::Clipboard => Selection::Clipboard,
        ClipboardSelection::Primary => Selection::Primary,
    }
}

impl ClipboardHub {
    /// The hub for `backend` (the desktop's clipboard, if it has one); starts the watcher when the clipboard is
    /// enabled and exists. The watcher ends with `shutdown`.
    pub fn start(
        config: ClipboardConfig,
        backend: Option<Arc<dyn Clipboard>>,
        monitor: &Monitor,
        shutdown: CancellationToken,
    ) -> Self {
        let (events, _) = broadcast::channel(CLIPBOARD_EVENTS_CAPACITY);
        let backend = backend.filter(|_| config.enabled);
        if let Some(b) = &backend {
            let watcher = Watcher {
                config: config.clone(),
                backend: Arc::clone(b),
                events: events.clone(),
                monitor: monitor.clone(),
            };
            let changes = b.changes();
            monitor.spawn("clipboard-watch", Owner::Gateway, async move {
                tokio::select! {
                    () = watcher.run(changes) => {}
                    () = shutdown.cancelled() => {}
                }
            });
        }
        Self {
            config,
            backend,
            events,
            monitor: monitor.clone(),
        }
    }

    /// The policy in force.
    pub fn config(&self) -> &ClipboardConfig {
        &self.config
    }

    /// Changes of the remote clipboard for a session of `role`; `None` when the policy does not let it read.
    pub fn subscribe(&self, role: Role) -> Option<broadcast::Receiver<ClipboardEvent>> {
        self.readable_by(role).ok()?;
        Some(self.events.subscribe())
    }

    fn readable_by(&self, role: Role) -> Result<&Arc<dyn Clipboard>, Error> {
        self.usable(role, self.config.read_role, "read the clipboard")
    }

    fn usable(&self, role: Role, needed: Role, what: &str) -> Result<&Arc<dyn Clipboard>, Error> {
        if !self.config.enabled {
            return Err(Error::new(
                crate::control::ErrorKind::Forbidden,
                "the clipboard is disabled ([clipboard] enabled = false)",
            ));
        }
        if !role.allows(needed) {
            return Err(Error::forbidden(role, what));
        }
        self.backend
            .as_ref()
            .ok_or_else(|| Error::unavailable("this screen backend has no clipboard"))
    }

    /// Reads `selection` now, as text or as an image, for a session of `role`.
    pub async fn get(
        &self,
        role: Role,
        connection: Option<ConnectionId>,
        selection: Selection,
        kind: ClipboardKind,
    ) -> Result<ClipboardContent, Error> {
        let backend = Arc::clone(self.readable_by(role)?);
        if kind == ClipboardKind::Image && !self.config.images {
            return Err(Error::invalid(
                "images are not shared ([clipboard] images = false)",
            ));
        }
        let op = self.monitor.operation("clipboard_read", connection);
        let max = self.config.max_bytes;
        let result = blocking(&self.monitor, move || read(&*backend, selection, kind, max)).await;
        op.finish_with(result)
    }

    /// Sets `selection` to `payload` for a session of `role`; returns once the desktop holds it, so input sent
    /// after it (Ctrl+V) pastes the new content.
    pub async fn set(
        &self,
        role: Role,
        connection: Option<ConnectionId>,
        selection: Selection,
        payload: ClipboardPayload,
    ) -> Result<(), Error> {
        let backend = Arc::clone(self.usable(role, self.config.write_role, "set the clipboard")?);
        let data = match payload {
            ClipboardPayload::Text(t) => ClipboardData::Text(t),
            ClipboardPayload::Png(_) if !self.config.images => {
                return Err(Error::invalid(
                    "images are not shared ([clipboard] images = false)",
                ));
            }
            ClipboardPayload::Png(p) => ClipboardData::Png(p),
        };
        if data.len() > self.config.max_bytes {
            return Err(Error::invalid(format!(
                "clipboard content of {} bytes is over the limit of {} bytes ([clipboard] max_bytes)",
                data.len(),
                self.config.max_bytes
            )));
        }
        let op = self.monitor.operation("clipboard_write", connection);
        let result = blocking(&self.monitor, move || {
            backend.set(selection, data).map_err(Error::from)
        })
        .await;
        op.finish_with(result)
    }
}

/// Runs `f` on a blocking thread of the monitor's pool.
async fn blocking<T: Send + 'static>(
    monitor: &Monitor,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    monitor
        .spawn_blocking("clipboard", Owner::Gateway, f)
        .await
        .map_err(|e| Error::internal(format!("clipboard job failed: {e}")))?
}

/// Reads one selection as `kind`, turning "over the limit" into [`ClipboardContent::TooLarge`].
fn read(
    backend: &dyn Clipboard,
    selection: Selection,
    kind: ClipboardKind,
    max: usize,
) -> Result<ClipboardContent, Error> {
    match backend.get(selection, kind, max) {
        Ok(Some(data)) if !data.is_empty() => Ok(ClipboardContent::Data(Arc::new(data))),
        Ok(_) => Ok(ClipboardContent::Empty),
        Err(MediaError::TooLarge { size, .. }) => {
            Ok(ClipboardContent::TooLarge { kind, bytes: size })
        }
        Err(e) => Err(e.into()),
    }
}

/// Follows the backend's change counters and broadcasts each changed selection's content.
struct Watcher {
    config: ClipboardConfig,
    backend: Arc<dyn Clipboard>,
    events: broadcast::Sender<ClipboardEvent>,
    monitor: Monitor,
}

impl Watcher {
    async fn run(self, mut changes: watch::Receiver<ClipboardSerials>) {
        let mut seen = *changes.borrow_and_update();
        while changes.changed().await.is_ok() {
            let now = *changes.borrow_and_update();
            for sel in [Selection::Clipboard, Selection::Primary] {
                if now.of(sel) == seen.of(sel) {
                    continue;
                }
                if sel == Selection::Primary && !self.config.primary {
                    continue;
                }
                // Nobody subscribed: nothing to read.
                if self.events.receiver_count() == 0 {
                    continue;
                }
                match self.read_changed(sel).await {
                    Ok(content) => {
                        let _ = self.events.send(ClipboardEvent {
                            selection: sel,
                            content,
                        });
                    }
                    Err(e) => {
                        tracing::debug!(selection = sel.as_str(), error = %e, "clipboard read failed")
                    }
                }
            }
            seen = now;
            tokio::time::sleep(MIN_READ_INTERVAL).await;
        }
    }

    /// Text first; an image when the selection holds no text and images are on.
    async fn read_changed(&self, sel: Selection) -> Result<ClipboardContent, Error> {
        let backend = Arc::clone(&self.backend);
        let (max, images) = (self.config.max_bytes, self.config.images);
        blocking(&self.monitor, move || {
            let text = read(&*backend, sel, ClipboardKind::Text, max)?;
            if text == ClipboardContent::Empty && images {
                return read(&*backend, sel, ClipboardKind::Image, max);
            }
            Ok(text)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;
    use sightline_monitor::MonitorConfig;

    use super::*;

    /// A clipboard in memory that counts its reads.
    struct Fake {
        text: Mutex<Option<String>>,
        serials: watch::Sender<ClipboardSerials>,
        reads: Mutex<usize>,
    }

    impl Fake {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                text: Mutex::new(None),
                serials: watch::channel(ClipboardSerials::default()).0,
                reads: Mutex::new(0),
            })
        }

        /// Another application copies `text`.
        fn copy(&self, text: &str) {
            *self.text.lock() = Some(text.to_owned());
            self.serials.send_modify(|s| s.clipboard += 1);
        }
    }

    impl Clipboard for Fake {
        fn get(
            &self,
            _: Selection,
            kind: ClipboardKind,
            max_bytes: usize,
        ) -> Result<Option<ClipboardData>, MediaError> {
            *self.reads.lock() += 1;
            match (&*self.text.lock(), kind) {
                (Some(t), ClipboardKind::Text) if t.len() > max_bytes => {
                    Err(MediaError::TooLarge {
                        what: "clipboard content",
                        size: t.len() as u64,
                        max: max_bytes as u64,
                    })
                }
                (Some(t), ClipboardKind::Text) => Ok(Some(ClipboardData::Text(t.clone()))),
                _ => Ok(None),
            }
        }

        fn set(&self, _: Selection, data: ClipboardData) -> Result<(), MediaError> {
            if let ClipboardData::Text(t) = data {
                self.copy(&t);
            }
            Ok(())
        }

        fn changes(&self) -> watch::Receiver<ClipboardSerials> {
            self.serials.subscribe()
        }
    }

    fn hub(config: ClipboardConfig, fake: &Arc<Fake>) -> ClipboardHub {
        let backend: Arc<dyn Clipboard> = Arc::clone(fake) as Arc<dyn Clipboard>;
        ClipboardHub::start(
            config,
            Some(backend),
            &Monitor::new(MonitorConfig::default()),
            CancellationToken::new(),
        )
    }

    #[tokio::test]
    async fn roles_limits_and_the_switch_decide() {
        let fake = Fake::new();
        let h = hub(
            ClipboardConfig {
                max_bytes: 8,
                ..Default::default()
            },
            &fake,
        );
        let text = |t: &str| ClipboardPayload::Text(t.into());
        let e = h
            .set(Role::View, None, Selection::Clipboard, text("x"))
            .await;
        assert_eq!(e.unwrap_err().kind, crate::control::ErrorKind::Forbidden);
        assert!(h.subscribe(Role::View).is_none());
        assert!(h.subscribe(Role::Control).is_some());
        let e = h
            .set(Role::Admin, None, Selection::Clipboard, text("123456789"))
            .await
            .unwrap_err();
        assert_eq!(e.kind, crate::control::ErrorKind::Invalid);
        assert!(e.message.contains("max_bytes"), "{e}");
        h.set(Role::Control, None, Selection::Clipboard, text("ok"))
            .await
            .unwrap();
        let got = h
            .get(
                Role::Control,
                None,
                Selection::Clipboard,
                ClipboardKind::Text,
            )
            .await
            .unwrap();
        assert_eq!(
            got,
            ClipboardContent::Data(Arc::new(ClipboardData::Text("ok".into())))
        );
        fake.copy("far too long");
        let got = h
            .get(
                Role::Control,
                None,
                Selection::Clipboard,
                ClipboardKind::Text,
            )
            .await
            .unwrap();
        assert_eq!(
            got,
            ClipboardContent::TooLarge {
                kind: ClipboardKind::Text,
                bytes: 12
            }
        );

        let off = hub(
            ClipboardConfig {
                enabled: false,
                ..Default::default()
            },
            &fake,
        );
        let e = off
            .get(Role::Admin, None, Selection::Clipboard, ClipboardKind::Text)
            .await
            .unwrap_err();
        assert!(e.message.contains("disabled"), "{e}");
        assert!(off.subscribe(Role::Admin).is_none());
    }

    #[tokio::test]
    async fn changes_are_read_once_and_broadcast_only_while_someone_listens() {
        let fake = Fake::new();
        let h = hub(ClipboardConfig::default(), &fake);
        fake.copy("nobody listens");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*fake.reads.lock(), 0, "no subscriber, no read");
        let mut a = h.subscribe(Role::Control).unwrap();
        let mut b = h.subscribe(Role::Admin).unwrap();
        fake.copy("copied");
        let want = ClipboardEvent {
            selection: Selection::Clipboard,
            content: ClipboardContent::Data(Arc::new(ClipboardData::Text("copied".into()))),
        };
        assert_eq!(a.recv().await.unwrap(), want);
        assert_eq!(b.recv().await.unwrap(), want);
        assert_eq!(*fake.reads.lock(), 1, "one read for every viewer");
    }
}
