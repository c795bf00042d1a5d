//! The streams a hub opens on one link: one task per stream, subscribed to the local engine, turning each
//! access unit or JPEG picture into a binary message ([`MediaHeader`] + payload) on the link's media queue.
//!
//! The queue ([`super::DEVICE_OUTBOX`] messages) is shared by every stream of the link and drained by the socket
//! writer. When it is full the picture is dropped (counted on the link's monitor connection as `outbox_full`), and a
//! video stream then skips to its next IDR, which it requests at once: the hub's decoders never see a picture whose
//! reference is missing, and its viewers recover within one keyframe.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use sightline_media::engine::{JpegProfile, VideoProfile};
use sightline_media::h264::Usage;
use sightline_monitor::Connection;
use sightline_signaling::fleet::{MediaHeader, MediaKind};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::bounds::MAX_DEVICE_STREAMS;
use super::outbox::Outbox;
use crate::session::SessionManager;

/// What the hub asked a stream to carry.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamRequest {
    /// H.264 of a screen at a profile.
    Video {
        /// The device's screen id.
        screen: String,
        /// The encoder profile.
        profile: VideoProfile,
    },
    /// JPEG pictures of a screen.
    Jpeg {
        /// The device's screen id.
        screen: String,
        /// Quality, width and rate.
        profile: JpegProfile,
    },
}

impl StreamRequest {
    /// The request of an `open_video`: the usage must be `camera` or `screen`.
    pub fn video(
        screen: String,
        bitrate_kbps: u32,
        max_width: Option<u32>,
        usage: &str,
    ) -> Result<Self, String> {
        let usage = match usage {
            "camera" => Usage::Camera,
            "screen" => Usage::Screen,
            other => return Err(format!("usage must be camera or screen, not {other:?}")),
        };
        Ok(Self::Video {
            screen,
            profile: VideoProfile {
                bitrate_kbps,
                max_width,
                usage,
            },
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Video { .. } => "video",
            Self::Jpeg { .. } => "jpeg",
        }
    }
}

/// The hub's controls of one open stream, held by the link loop.
struct Entry {
    /// Tells an entry from a later stream that reuses its id.
    generation: u64,
    stop: CancellationToken,
    /// Coalesced keyframe requests.
    keyframe: Arc<Notify>,
    /// The latest bitrate wish (latest wins).
    bitrate: watch::Sender<Option<u32>>,
}

/// The open streams of one link. Every stream task ends when the link's token is cancelled.
pub struct Streams {
    manager: SessionManager,
    conn: Connection,
    out: Outbox,
    link: CancellationToken,
    open: Arc<Mutex<HashMap<u32, Entry>>>,
    next_generation: u64,
}

impl Streams {
    /// No streams yet.
    pub fn new(
        manager: SessionManager,
        conn: Connection,
        out: Outbox,
        link: CancellationToken,
    ) -> Self {
        Self {
            manager,
            conn,
            out,
            link,
            open: Arc::default(),
            next_generation: 0,
        }
    }

    /// Opens `stream`. A stream id already open is a protocol error (the hub's ids are unique while open); past
    /// [`MAX_DEVICE_STREAMS`] or for an unknown screen the stream ends at once with a reason (`stream_ended`).
    pub fn open(&mut self, stream: u32, request: StreamRequest) -> Result<(), String> {
        let mut open = self.open.lock();
        if open.contains_key(&stream) {
            return Err(format!("stream {stream} is already open"));
        }
        if open.len() >= MAX_DEVICE_STREAMS {
            drop(open);
            self.out.ended(
                stream,
                format!("the device serves at most {MAX_DEVICE_STREAMS} streams per link"),
            );
            return Ok(());
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        let stop = self.link.child_token();
        let keyframe = Arc::new(Notify::new());
        let (bitrate, wish) = watch::channel(None);
        open.insert(
            stream,
            Entry {
                generation,
                stop: stop.clone(),
                keyframe: Arc::clone(&keyframe),
                bitrate,
            },
        );
        drop(open);
        self.conn
            .track(&format!("stream {stream}"), request.kind(), "open");
        let task = StreamTask {
            manager: self.manager.clone(),
            conn: self.conn.clone(),
            out: self.out.clone(),
            stream,
            stop,
            keyframe,
            wish,
        };
        let open = Arc::clone(&self.open);
        let conn = self.conn.clone();
        self.manager.spawn(
            format!("device-stream-{stream}"),
            self.conn.owner(),
            async move {
                let ended = task.run(request.clone()).await;
                let mut map = open.lock();
                if map.get(&stream).is_some_and(|e| e.generation == generation) {
                    map.remove(&stream);
                }
                drop(map);
                conn.track(&format!("stream {stream}"), request.kind(), "ended");
                if let Some(reason) = ended {
                    tracing::info!(stream, reason, "a stream ended on the device");
                }
            },
        );
        Ok(())
    }

    /// Stops `stream` (the hub's `close`); an unknown id is ignored (it may have just ended here).
    pub fn close(&mut self, stream: u32) {
        if let Some(e) = self.open.lock().remove(&stream) {
            e.stop.cancel();
        }
    }

    /// Asks `stream` for an IDR soon.
    pub fn keyframe(&self, stream: u32) {
        if let Some(e) = self.open.lock().get(&stream) {
            e.keyframe.notify_one();
        }
    }

    /// Sets the hub's bitrate wish of `stream`.
    pub fn bitrate(&self, stream: u32, kbps: Option<u32>) {
        if let Some(e) = self.open.lock().get(&stream) {
            let _ = e.bitrate.send(kbps);
        }
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        for (_, e) in self.open.lock().drain() {
            e.stop.cancel();
        }
    }
}

struct StreamTask {
    manager: SessionManager,
    conn: Connection,
    out: Outbox,
    stream: u32,
    stop: CancellationToken,
    keyframe: Arc<Notify>,
    wish: watch::Receiver<Option<u32>>,
}

impl StreamTask {
    /// Serves the stream until the hub closes it or the link ends (`None`), or until it ends here: then the hub is
    /// told why (`stream_ended`) and the reason returned.
    async fn run(self, request: StreamRequest) -> Option<String> {
        let result = match request {
            StreamRequest::Video { screen, profile } => self.video(&screen, profile).await,
            StreamRequest::Jpeg { screen, profile } => self.jpeg(&screen, profile).await,
        };
        let reason = result.err()?;
        if self.stop.is_cancelled() {
            return None;
        }
        self.out.ended(self.stream, reason.clone());
        Some(reason)
    }

    async fn video(&self, screen: &str, profile: VideoProfile) -> Result<(), String> {
        let this = self;
        let mut sub = this
            .manager
            .subscribe_video(screen, profile)
            .map_err(|e| e.message)?;
        let mut wish = this.wish.clone();
        // Set after a dropped picture: nothing but an IDR may follow.
        let mut skip_to_keyframe = false;
        loop {
            tokio::select! {
                biased;
                () = this.stop.cancelled() => return Ok(()),
                () = this.keyframe.notified() => sub.request_keyframe(),
                changed = wish.changed() => {
                    if changed.is_ok() {
                        sub.set_desired_bitrate(*wish.borrow_and_update());
                    }
                }
                au = sub.recv() => {
                    let Some(au) = au else {
                        return Err("the screen's video stream ended on the device (screen gone or encoder failed)".into());
                    };
                    if skip_to_keyframe && !au.keyframe {
                        continue;
                    }
                    let header = MediaHeader {
                        kind: MediaKind::H264,
                        keyframe: au.keyframe,
                        quality: 0,
                        stream: this.stream,
                        seq: au.seq,
                        captured_us: micros(au.captured_at),
                        width: au.width,
                        height: au.height,
                    };
                    match this.out.media(Message::Binary(header.encode(&au.data).into())) {
                        Sent::Yes => {
                            skip_to_keyframe = false;
                            this.conn.update_counters(|c| {
                                c.frames_sent += 1;
                                c.keyframes_sent += u64::from(au.keyframe);
                            });
                        }
                        Sent::Full => {
                            skip_to_keyframe = true;
                            sub.request_keyframe();
                            this.conn.dropped("outbox_full", 1);
                        }
                        Sent::Closed => return Ok(()),
                    }
                }
            }
        }
    }

    async fn jpeg(&self, screen: &str, profile: JpegProfile) -> Result<(), String> {
        let mut sub = self
            .manager
            .subscribe_jpeg(screen, profile)
            .map_err(|e| e.message)?;
        loop {
            let frame = tokio::select! {
                biased;
                () = self.stop.cancelled() => return Ok(()),
                f = sub.changed() => f,
            };
            let Some(frame) = frame else {
                return Err(
                    "the screen's JPEG stream ended on the device (screen gone or encoder failed)"
                        .into(),
                );
            };
            let header = MediaHeader {
                kind: MediaKind::Jpeg,
                keyframe: true,
                quality: frame.quality,
                stream: self.stream,
                seq: frame.seq,
                captured_us: micros(frame.captured_at),
                width: frame.width,
                height: frame.height,
            };
            match self
                .out
                .media(Message::Binary(header.encode(&frame.data).into()))
            {
                Sent::Yes => self.conn.update_counters(|c| c.frames_sent += 1),
                // The next changed picture replaces this one: JPEG streams never queue.
                Sent::Full => self.conn.dropped("outbox_full", 1),
                Sent::Closed => return Ok(()),
            }
        }
    }
}

/// What became of a media message.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued for the writer.
    Yes,
    /// Dropped: the queue is full.
    Full,
    /// The link is gone.
    Closed,
}

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
