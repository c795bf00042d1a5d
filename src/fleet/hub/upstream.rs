//! The engine's side of one device link: [`LinkShared`], which every device screen's [`ScreenUpstream`] (the
//! media engine's [`Upstream`]) and every call share with the link task.
//!
//! - Requests to the device (open, close, keyframe, bitrate, calls, heartbeats) go into the link's bounded outbox
//!   ([`HUB_OUTBOX`]) with `try_send`: the engine calls an [`Upstream`] from any thread and must never wait. A
//!   full outbox means the device has not read for a long time (the heartbeat ends such a link): an open then ends
//!   its sink at once, a keyframe or bitrate wish is dropped (the engine asks again), a close is retried when the
//!   stream's next media arrives.
//! - Media from the device arrives in the link task, which hands it to [`LinkShared::on_media`]: the header names
//!   the stream, whose sink gets an [`AccessUnit`] or a [`JpegFrame`] holding a slice of the message (no copy).
//! - Each open stream is a child monitor connection of kind `upstream` with the relayed bytes and messages.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use sightline_media::engine::{
    JpegProfile, JpegSink, MAX_JPEG_FPS, RelayStreamId, Upstream, VideoProfile, VideoSink,
};
use sightline_media::h264::AccessUnit;
use sightline_media::jpeg::JpegFrame;
use sightline_monitor::{Connection, ConnectionAttrs, ConnectionKind, Lifecycle, Monitor};
use sightline_signaling::fleet::{HubMsg, MEDIA_HEADER_LEN, MediaHeader, MediaKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::calls::Calls;
use super::wire::{End, LinkOut};

/// Messages queued for one device's writer. Hub-to-device messages are small and rare (stream control, calls,
/// heartbeats): 256 of them waiting means the device stopped reading. Overload policy: see the module docs.
pub const HUB_OUTBOX: usize = 256;

/// Streams open at once on one link (a screen per profile and JPEG quality: far fewer in practice); past this an
/// open ends its sink at once.
pub const MAX_STREAMS: usize = 256;

/// What one device link shares with its screens' upstreams, its calls and the hub.
pub(crate) struct LinkShared {
    /// The link's number (unique in the hub's run): a replaced link's late changes are ignored by it.
    pub(super) id: u64,
    /// The device id.
    pub(super) device: String,
    /// The device's name on the hub.
    pub(super) name: String,
    outbox: mpsc::Sender<LinkOut>,
    streams: Mutex<Streams>,
    pub(super) calls: Mutex<Calls>,
    /// Cancelled to end the link from outside (replaced, removed), with the reason in `end`.
    kill: CancellationToken,
    end: Mutex<Option<End>>,
    /// The link's monitor connection.
    pub(super) conn: Connection,
    monitor: Monitor,
    remote: Option<String>,
}

/// A request for a stream, as the device gets it.
#[derive(Clone, Copy, Debug)]
pub(super) enum OpenSpec {
    Video(VideoProfile),
    Jpeg(JpegProfile),
}

/// Where one stream's media goes: the engine's sink (or a test's). Never called with the link's stream table
/// locked: a sink may call back into the [`Upstream`] at once (a lagging subscriber asks for a keyframe).
pub(super) trait StreamTarget: Send + Sync {
    /// One picture.
    fn push(&self, header: &MediaHeader, payload: Bytes);
    /// The stream ended on the device or the link went down.
    fn end(&self, reason: &str);
    /// The engine's id of the stream.
    fn relay_id(&self) -> RelayStreamId;
}

/// An access unit of a device's H.264 stream (its `seq` is renumbered by the engine; nothing was encoded here).
pub(super) fn access_unit(h: &MediaHeader, payload: Bytes) -> AccessUnit {
    AccessUnit {
        data: payload,
        keyframe: h.keyframe,
        captured_at: UNIX_EPOCH + Duration::from_micros(h.captured_us),
        seq: h.seq,
        width: h.width,
        height: h.height,
        encode_ms: 0.0,
    }
}

/// A JPEG frame of a device's stream.
pub(super) fn jpeg_frame(h: &MediaHeader, payload: Bytes) -> JpegFrame {
    JpegFrame {
        data: payload,
        width: h.width,
        height: h.height,
        quality: h.quality,
        seq: h.seq,
        captured_at: UNIX_EPOCH + Duration::from_micros(h.captured_us),
    }
}

impl StreamTarget for VideoSink {
    fn push(&self, h: &MediaHeader, payload: Bytes) {
        VideoSink::push(self, access_unit(h, payload));
    }
    fn end(&self, reason: &str) {
        VideoSink::end(self, reason);
    }
    fn relay_id(&self) -> RelayStreamId {
        self.id()
    }
}

impl StreamTarget for JpegSink {
    fn push(&self, h: &MediaHeader, payload: Bytes) {
        JpegSink::push(self, jpeg_frame(h, payload));
    }
    fn end(&self, reason: &str) {
        JpegSink::end(self, reason);
    }
    fn relay_id(&self) -> RelayStreamId {
        self.id()
    }
}

struct Stream {
    kind: MediaKind,
    target: Arc<dyn StreamTarget>,
    conn: Connection,
    started: bool,
}

#[derive(Default)]
struct Streams {
    /// The last wire id handed out (ids start at 1).
    last: u32,
    open: HashMap<u32, Stream>,
    by_relay: HashMap<RelayStreamId, u32>,
    /// Closed streams whose `close` found the outbox full: sent again when their media arrives.
    unsent_close: HashSet<u32>,
    /// The link is down: opens end at once.
    down: Option<String>,
}

impl LinkShared {
    pub(super) fn new(
        id: u64,
        device: &str,
        name: &str,
        outbox: mpsc::Sender<LinkOut>,
        conn: Connection,
        monitor: Monitor,
        remote: Option<String>,
    ) -> Self {
        Self {
            id,
            device: device.to_owned(),
            name: name.to_owned(),
            outbox,
            streams: Mutex::default(),
            calls: Mutex::new(Calls::default()),
            kill: CancellationToken::new(),
            end: Mutex::new(None),
            conn,
            monitor,
            remote,
        }
    }

    /// `device "kiosk" (0123…)`.
    pub(super) fn label(&self) -> String {
        crate::fleet::device_label(&self.name, &self.device)
    }

    /// Queues a message for the device; `false` when the outbox is full or the link is gone.
    pub(super) fn send(&self, msg: &HubMsg) -> bool {
        match serde_json::to_string(msg) {
            Ok(text) => self.outbox.try_send(LinkOut::Text(text)).is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "a hub message does not serialize");
                false
            }
        }
    }

    /// Ends the link from outside with `end` (the first reason wins).
    pub(super) fn kill(&self, end: End) {
        self.end.lock().get_or_insert(end);
        self.kill.cancel();
    }

    pub(super) fn killed(&self) -> &CancellationToken {
        &self.kill
    }

    pub(super) fn take_end(&self) -> Option<End> {
        self.end.lock().take()
    }

    /// Opens a stream of `screen` (the device's id) into `target`.
    pub(super) fn open(&self, screen: &str, spec: OpenSpec, target: Arc<dyn StreamTarget>) {
        if let Err(why) = self.try_open(screen, spec, target.clone()) {
            target.end(&why);
        }
    }

    /// [`LinkShared::open`]; the error is why the stream cannot start (its sink is ended with it, unlocked).
    fn try_open(
        &self,
        screen: &str,
        spec: OpenSpec,
        target: Arc<dyn StreamTarget>,
    ) -> Result<(), String> {
        let mut s = self.streams.lock();
        if let Some(why) = &s.down {
            return Err(why.clone());
        }
        if s.open.len() >= MAX_STREAMS {
            return Err(format!(
                "{} already relays {MAX_STREAMS} streams",
                self.label()
            ));
        }
        let Some(stream) = s.last.checked_add(1) else {
            return Err("the link ran out of stream ids; it reconnects".into());
        };
        s.last = stream;
        let (msg, kind, what) = match spec {
            OpenSpec::Video(p) => (
                HubMsg::OpenVideo {
                    stream,
                    screen: screen.to_owned(),
                    bitrate_kbps: p.bitrate_kbps,
                    max_width: p.max_width,
                    usage: p.usage.as_str().to_owned(),
                },
                MediaKind::H264,
                format!("video {}", p.name()),
            ),
            OpenSpec::Jpeg(p) => (
                HubMsg::OpenJpeg {
                    stream,
                    screen: screen.to_owned(),
                    quality: p.quality,
                    max_width: p.max_width,
                    // One upstream serves every subscriber of (quality, max_width), whatever rate each wants.
                    fps: MAX_JPEG_FPS,
                },
                MediaKind::Jpeg,
                format!("jpeg q{}", p.quality),
            ),
        };
        if !self.send(&msg) {
            return Err(format!(
                "the link to {} is congested; retry shortly",
                self.label()
            ));
        }
        let conn = self.monitor.open_connection(
            ConnectionKind::Upstream,
            ConnectionAttrs {
                screen: Some(format!("{}/{screen}", self.device)),
                role: Some("upstream".into()),
                remote: self.remote.clone(),
                parent: Some(self.conn.id()),
                ..ConnectionAttrs::default()
            },
        );
        conn.set_lifecycle(Lifecycle::Connecting);
        conn.event(format!("stream {stream}: {what} of {}", self.label()));
        s.by_relay.insert(target.relay_id(), stream);
        s.open.insert(
            stream,
            Stream {
                kind,
                target,
                conn,
                started: false,
            },
        );
        Ok(())
    }

    /// The engine's last subscriber of a stream left.
    pub(super) fn close(&self, relay: RelayStreamId) {
        let closed = {
            let mut s = self.streams.lock();
            let Some(stream) = s.by_relay.remove(&relay) else {
                return;
            };
            if s.down.is_none() && !self.send(&HubMsg::Close { stream }) {
                s.unsent_close.insert(stream);
            }
            s.open.remove(&stream)
        };
        // Dropped unlocked: the sink may be the engine's last handle of the stream.
        if let Some(st) = closed {
            st.conn.close("closed: no subscriber left");
        }
    }

    /// The wire id of an open stream.
    fn wire(&self, relay: RelayStreamId) -> Option<u32> {
        self.streams.lock().by_relay.get(&relay).copied()
    }

    pub(super) fn request_keyframe(&self, relay: RelayStreamId) {
        if let Some(stream) = self.wire(relay)
            && !self.send(&HubMsg::Keyframe { stream })
        {
            tracing::debug!(device = %self.device, stream, "keyframe request dropped: outbox full");
        }
    }

    pub(super) fn set_bitrate(&self, relay: RelayStreamId, kbps: Option<u32>) {
        if let Some(stream) = self.wire(relay)
            && !self.send(&HubMsg::Bitrate { stream, kbps })
        {
            tracing::debug!(device = %self.device, stream, "bitrate wish dropped: outbox full");
        }
    }

    /// One binary message from the device. An error is a protocol violation (the link ends with 4400).
    pub(super) fn on_media(&self, message: Bytes) -> Result<(), String> {
        let (header, _) = MediaHeader::decode(&message)?;
        let mut s = self.streams.lock();
        let stream = header.stream;
        let Some(st) = s.open.get_mut(&stream) else {
            if stream == 0 || stream > s.last {
                return Err(format!(
                    "media for stream {stream}, which the hub never opened"
                ));
            }
            // A stream closed a moment ago: its last pictures are still on the way.
            if s.unsent_close.contains(&stream) && self.send(&HubMsg::Close { stream }) {
                s.unsent_close.remove(&stream);
            }
            return Ok(());
        };
        if header.kind != st.kind {
            return Err(format!(
                "stream {stream} carries {:?}, not {:?}",
                header.kind, st.kind
            ));
        }
        let len = message.len() as u64;
        if !st.started {
            st.started = true;
            st.conn.set_lifecycle(Lifecycle::Connected);
        }
        st.conn.update_counters(|c| {
            c.bytes_received += len;
            c.messages_received += 1;
        });
        let target = st.target.clone();
        drop(s);
        target.push(&header, message.slice(MEDIA_HEADER_LEN..));
        Ok(())
    }

    /// The device ended a stream.
    pub(super) fn on_stream_ended(&self, stream: u32, reason: &str) {
        let ended = {
            let mut s = self.streams.lock();
            let st = s.open.remove(&stream);
            if let Some(st) = &st {
                s.by_relay.remove(&st.target.relay_id());
            }
            st
        };
        if let Some(st) = ended {
            st.target.end(reason);
            st.conn.close(reason);
        }
    }

    /// The link is down: every stream ends with `reason`, later opens end at once.
    pub(super) fn end_streams(&self, reason: &str) {
        let ended: Vec<Stream> = {
            let mut s = self.streams.lock();
            s.down = Some(reason.to_owned());
            s.by_relay.clear();
            s.open.drain().map(|(_, st)| st).collect()
        };
        for st in ended {
            st.target.end(reason);
            st.conn.close(reason);
        }
    }

    /// Streams open now.
    #[cfg(test)]
    pub(super) fn open_streams(&self) -> usize {
        self.streams.lock().open.len()
    }
}

/// One device screen as the media engine drives it.
pub(crate) struct ScreenUpstream {
    /// The device's own screen id.
    pub(super) screen: String,
    pub(super) link: Arc<LinkShared>,
}

impl Upstream for ScreenUpstream {
    fn open_video(&self, profile: VideoProfile, sink: VideoSink) {
        self.link
            .open(&self.screen, OpenSpec::Video(profile), Arc::new(sink));
    }

    fn open_jpeg(&self, profile: JpegProfile, sink: JpegSink) {
        self.link
            .open(&self.screen, OpenSpec::Jpeg(profile), Arc::new(sink));
    }

    fn close(&self, stream: RelayStreamId) {
        self.link.close(stream);
    }

    fn request_keyframe(&self, stream: RelayStreamId) {
        self.link.request_keyframe(stream);
    }

    fn set_bitrate(&self, stream: RelayStreamId, kbps: Option<u32>) {
        self.link.set_bitrate(stream, kbps);
    }
}
