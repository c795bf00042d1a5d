//! The engine's table of remote screens ([`super::relay`]): each one's far end and its running relay pipes
//! (`relay_pipe`), keyed by profile, so that subscribers asking for the same stream share one pipe.
//!
//! A subscriber joins a live pipe of its key or, when there is none (never opened, closed by its last subscriber,
//! or ended by the far end), starts a new one, which it opens upstream with the table lock released. A pipe whose
//! last subscriber left is dropped from the table after it closed; one replaced meanwhile is left alone (its
//! liveness is checked under its own lock, so a joiner never joins a pipe that is over). Removing or replacing a
//! screen takes it out of the table first, then closes its pipes with the lock released.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;
use sightline_monitor::Monitor;
use tokio::sync::watch;

use super::profile::{JpegProfile, VideoProfile};
use super::relay::{RelayStreamId, Upstream};
use super::relay_pipe::{JpegRelay, VideoRelay};
use crate::fanout::{Fanout, SubscriberCounters};
use crate::h264::AccessUnit;
use crate::jpeg::JpegFrame;
use crate::{MediaError, ScreenInfo};

/// The engine's remote screens and their relay pipes.
#[derive(Default)]
pub(super) struct Remotes {
    table: Mutex<Table>,
    /// The last relay stream id handed out (ids are never reused).
    last_stream: AtomicU64,
}

#[derive(Default)]
struct Table {
    shut_down: bool,
    screens: HashMap<String, Remote>,
}

/// One remote screen: its far end and its pipes (each dropped once its last subscriber left).
struct Remote {
    info: ScreenInfo,
    upstream: Arc<dyn Upstream>,
    video: HashMap<VideoProfile, Arc<VideoRelay>>,
    jpeg: HashMap<(u8, Option<u32>), Arc<JpegRelay>>,
}

impl Remote {
    /// Closes every pipe and ends its subscribers' streams.
    fn stop(self) {
        self.video.values().for_each(|p| p.stop());
        self.jpeg.values().for_each(|p| p.stop());
    }
}

/// What a new video subscriber of a remote screen joined.
pub(super) struct VideoJoined {
    pub(super) info: ScreenInfo,
    pub(super) relay: Arc<VideoRelay>,
    /// Its slot in the pipe's fan-out.
    pub(super) slot: u64,
    pub(super) rx: tokio::sync::mpsc::Receiver<Arc<AccessUnit>>,
    pub(super) counters: Arc<SubscriberCounters>,
}

/// What a new JPEG subscriber of a remote screen joined.
pub(super) struct JpegJoined {
    pub(super) info: ScreenInfo,
    pub(super) relay: Arc<JpegRelay>,
    pub(super) frames: watch::Receiver<Option<Arc<JpegFrame>>>,
}

impl Remotes {
    /// Registers (or replaces, closing the old one's pipes) a remote screen.
    pub(super) fn add(&self, info: ScreenInfo, upstream: Arc<dyn Upstream>) {
        let remote = Remote {
            info,
            upstream,
            video: HashMap::new(),
            jpeg: HashMap::new(),
        };
        let old = self
            .table
            .lock()
            .screens
            .insert(remote.info.id.clone(), remote);
        if let Some(old) = old {
            tracing::info!(screen = %old.info.id, "remote screen replaced");
            old.stop();
        }
    }

    /// Forgets a remote screen, closing its pipes; `false` when there was none.
    pub(super) fn remove(&self, screen: &str) -> bool {
        let old = self.table.lock().screens.remove(screen);
        old.map(Remote::stop).is_some()
    }

    /// The remote screens, in id order.
    pub(super) fn screens(&self) -> Vec<ScreenInfo> {
        let mut v: Vec<_> = self
            .table
            .lock()
            .screens
            .values()
            .map(|r| r.info.clone())
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Whether `screen` is a remote screen.
    pub(super) fn contains(&self, screen: &str) -> bool {
        self.table.lock().screens.contains_key(screen)
    }

    /// Fails with [`MediaError::Unavailable`] `screen "<id>" is a remote screen: <why>` when `screen` is a remote
    /// screen, whose frames, pointer, stills and input are not the engine's business.
    pub(super) fn refuse(&self, screen: &str, why: &str) -> Result<(), MediaError> {
        if self.contains(screen) {
            return Err(MediaError::Unavailable(format!(
                "screen \"{screen}\" is a remote screen: {why}"
            )));
        }
        Ok(())
    }

    /// Closes every pipe and refuses new subscribers ([`MediaError::Stopped`]). Idempotent.
    pub(super) fn shutdown(&self) {
        let screens = {
            let mut table = self.table.lock();
            table.shut_down = true;
            std::mem::take(&mut table.screens)
        };
        screens.into_values().for_each(Remote::stop);
    }

    fn next_stream(&self) -> RelayStreamId {
        self.last_stream.fetch_add(1, Relaxed) + 1
    }

    /// Adds a video subscriber to `screen`'s pipe for `profile`, opening it upstream if it is the first; `None`
    /// when `screen` is not a remote screen.
    pub(super) fn join_video(
        &self,
        monitor: &Monitor,
        screen: &str,
        profile: VideoProfile,
    ) -> Result<Option<VideoJoined>, MediaError> {
        let (tx, rx) = Fanout::channel();
        let counters = Arc::new(SubscriberCounters::default());
        let mut tx = Some(tx);
        let (info, relay, slot, open) = {
            let mut table = self.table.lock();
            if table.shut_down {
                return Err(MediaError::Stopped);
            }
            let Some(remote) = table.screens.get_mut(screen) else {
                return Ok(None);
            };
            let existing = remote.video.get(&profile).cloned();
            let joined = existing.and_then(|r| Some((r.try_join(&mut tx, &counters)?, r)));
            let (relay, slot, open) = match joined {
                Some((slot, relay)) => (relay, slot, None),
                None => {
                    let upstream = Arc::clone(&remote.upstream);
                    let relay = VideoRelay::new(
                        self.next_stream(),
                        screen,
                        profile,
                        Arc::clone(&upstream),
                        monitor,
                    );
                    remote.video.insert(profile, Arc::clone(&relay));
                    let slot = relay
                        .try_join(&mut tx, &counters)
                        .expect("a new pipe takes its first subscriber");
                    (relay, slot, Some(upstream))
                }
            };
            (remote.info.clone(), relay, slot, open)
        };
        if let Some(upstream) = open {
            upstream.open_video(profile, relay.sink());
            relay.opened();
        }
        relay.poll();
        Ok(Some(VideoJoined {
            info,
            relay,
            slot,
            rx,
            counters,
        }))
    }

    /// Removes a video subscriber; the last one closes the pipe, which then leaves the table.
    pub(super) fn leave_video(&self, relay: &Arc<VideoRelay>, slot: u64) {
        if !relay.leave(slot) {
            return;
        }
        let mut table = self.table.lock();
        if let Some(remote) = table.screens.get_mut(relay.screen())
            && remote
                .video
                .get(&relay.profile())
                .is_some_and(|r| Arc::ptr_eq(r, relay))
        {
            remote.video.remove(&relay.profile());
        }
    }

    /// Adds a JPEG subscriber to `screen`'s pipe for `profile`'s (quality, max_width), opening it upstream at
    /// [`super::MAX_JPEG_FPS`] if it is the first; `None` when `screen` is not a remote screen.
    pub(super) fn join_jpeg(
        &self,
        monitor: &Monitor,
        screen: &str,
        profile: JpegProfile,
    ) -> Result<Option<JpegJoined>, MediaError> {
        let key = (profile.quality, profile.max_width);
        let (info, relay, frames, open) = {
            let mut table = self.table.lock();
            if table.shut_down {
                return Err(MediaError::Stopped);
            }
            let Some(remote) = table.screens.get_mut(screen) else {
                return Ok(None);
            };
            let existing = remote.jpeg.get(&key).cloned();
            let joined = existing.and_then(|r| Some((r.try_join()?, r)));
            let (relay, frames, open) = match joined {
                Some((frames, relay)) => (relay, frames, None),
                None => {
                    let upstream = Arc::clone(&remote.upstream);
                    let relay = JpegRelay::new(
                        self.next_stream(),
                        screen,
                        profile,
                        Arc::clone(&upstream),
                        monitor,
                    );
                    remote.jpeg.insert(key, Arc::clone(&relay));
                    let frames = relay
                        .try_join()
                        .expect("a new pipe takes its first subscriber");
                    (relay, frames, Some(upstream))
                }
            };
            (remote.info.clone(), relay, frames, open)
        };
        if let Some(upstream) = open {
            upstream.open_jpeg(JpegRelay::wire_profile(profile), relay.sink());
            relay.opened();
        }
        Ok(Some(JpegJoined {
            info,
            relay,
            frames,
        }))
    }

    /// Removes a JPEG subscriber; the last one closes the pipe, which then leaves the table.
    pub(super) fn leave_jpeg(&self, relay: &Arc<JpegRelay>) {
        if !relay.leave() {
            return;
        }
        let mut table = self.table.lock();
        if let Some(remote) = table.screens.get_mut(relay.screen())
            && remote
                .jpeg
                .get(&relay.key())
                .is_some_and(|r| Arc::ptr_eq(r, relay))
        {
            remote.jpeg.remove(&relay.key());
        }
    }
}
