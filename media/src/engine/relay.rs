//! Relayed screens: screens encoded elsewhere (a device dialled in to this sightline, its hub) whose H.264 access
//! units and JPEG frames this engine fans out without decoding or re-encoding.
//!
//! The gateway registers a remote screen with [`Engine::add_remote`](super::Engine::add_remote) and an
//! [`Upstream`] that knows how to ask the far end for streams. From then on [`subscribe_video`] and
//! [`subscribe_jpeg`] of that screen id return the ordinary [`VideoSubscription`](super::VideoSubscription) and
//! [`JpegSubscription`](super::JpegSubscription) every consumer already uses:
//! - the first subscriber of a (screen, profile) makes the engine call [`Upstream::open_video`] once with a
//!   [`VideoSink`]; later subscribers share it (one upstream per screen and profile, whatever the number of
//!   viewers); the last one leaving calls [`Upstream::close`];
//! - keyframe requests of the subscribers (join, lag, PLI) are coalesced and become [`Upstream::request_keyframe`]:
//!   at most one is outstanding per stream until an IDR arrives or
//!   [`RELAY_KEYFRAME_RETRY`](super::RELAY_KEYFRAME_RETRY) passed (then the next request or pushed unit sends
//!   another; nothing is scheduled); opening a stream counts as a request;
//! - a sole subscriber's bitrate wish (or the pipeline bitrate set by `VideoControl::set_bitrate`) becomes
//!   [`Upstream::set_bitrate`], with the hysteresis of a local encoder ([`worth_retargeting`](super::worth_retargeting));
//! - the access units are renumbered (`seq` per stream) and fanned out through bounded queues: a new or lagging
//!   subscriber waits for the next IDR (and its lag asks for one); JPEG frames go to a latest-wins watch;
//! - [`Engine::remove_remote`](super::Engine::remove_remote) (the device went offline) ends every subscription of
//!   the screen: their `recv`/`changed` return `None`.
//!
//! The far end ending a stream ([`VideoSink::end`], [`JpegSink::end`]) ends its subscriptions the same way, and the
//! next subscriber opens a new stream. Each relayed stream shows in the monitor as a pipeline `<screen>/relay/<video
//! profile>` or `<screen>/relay-jpeg/<q…-w…>` (subscribers, frames, bytes, keyframes, drops, keyframe requests).
//!
//! Frames, cursor, stills and input of a remote screen are not the engine's business: those calls return
//! [`MediaError::Unavailable`](crate::MediaError::Unavailable) naming the screen as remote, and the gateway routes
//! them to the device itself.
//!
//! [`subscribe_video`]: super::Engine::subscribe_video
//! [`subscribe_jpeg`]: super::Engine::subscribe_jpeg

use super::profile::{JpegProfile, VideoProfile};
use crate::h264::AccessUnit;
use crate::jpeg::JpegFrame;

/// The engine's id of one relayed stream, unique within the engine for its whole life.
pub type RelayStreamId = u64;

/// The far end of a remote screen, as the engine drives it. Every method must return at once (queue the request;
/// never block, never await): the engine calls them with its locks released but from any thread or task — a
/// subscriber's, the one pushing into a sink, or the one calling `add_remote`/`remove_remote`/`shutdown` — so an
/// implementation may call back into the engine, but must not hold a lock of its own across its calls to the
/// engine that one of these methods takes. A request racing a close may arrive just after [`Upstream::close`]:
/// ignore requests for unknown streams.
pub trait Upstream: Send + Sync + 'static {
    /// Start sending `profile`'s H.264 access units of this screen into `sink` (beginning with an IDR), until
    /// [`Upstream::close`] of `sink.id()`.
    fn open_video(&self, profile: VideoProfile, sink: VideoSink);
    /// Start sending JPEG frames of this screen at `profile` into `sink` (only changed pictures, at most
    /// `profile.fps` per second), until [`Upstream::close`].
    fn open_jpeg(&self, profile: JpegProfile, sink: JpegSink);
    /// Stop a stream opened by `open_video` or `open_jpeg`: its last subscriber left, or the screen was removed or
    /// replaced, or the engine shut down. Called exactly once per opened stream, after its `open_*` returned —
    /// except for a stream the far end ended through its sink's `end`, which is not closed again.
    fn close(&self, stream: RelayStreamId);
    /// Send an IDR on a video stream soon (already coalesced by the engine).
    fn request_keyframe(&self, stream: RelayStreamId);
    /// The bitrate the stream's sole subscriber wishes for, kbit/s (`None`: no wish, the profile's bitrate).
    fn set_bitrate(&self, stream: RelayStreamId, kbps: Option<u32>);
}

/// Where the far end's access units of one relayed video stream go. Cheap to clone; pushing never blocks.
#[derive(Clone)]
pub struct VideoSink {
    pub(super) id: RelayStreamId,
    pub(super) inner: std::sync::Arc<dyn SinkTarget<AccessUnit>>,
}

/// Where the far end's JPEG frames of one relayed stream go. Cheap to clone; pushing never blocks.
#[derive(Clone)]
pub struct JpegSink {
    pub(super) id: RelayStreamId,
    pub(super) inner: std::sync::Arc<dyn SinkTarget<JpegFrame>>,
}

/// What a sink feeds (the engine's relay pipe).
pub(super) trait SinkTarget<T>: Send + Sync {
    fn push(&self, item: T);
    fn end(&self, reason: &str);
    fn is_closed(&self) -> bool;
}

impl VideoSink {
    /// The stream's id (what [`Upstream::close`] and the others name).
    pub fn id(&self) -> RelayStreamId {
        self.id
    }

    /// Hands one access unit to every subscriber of the stream (bounded queues; a lagging subscriber skips to the
    /// next IDR and asks for one). The engine renumbers `seq` per stream.
    pub fn push(&self, au: AccessUnit) {
        self.inner.push(au);
    }

    /// The far end ended the stream: its subscribers' `recv` returns `None`.
    pub fn end(&self, reason: &str) {
        self.inner.end(reason);
    }

    /// Whether nobody subscribes any more (the stream was closed): pushing is then a no-op.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl JpegSink {
    /// The stream's id.
    pub fn id(&self) -> RelayStreamId {
        self.id
    }

    /// Publishes the latest frame (latest wins: subscribers skip frames they had no time for).
    pub fn push(&self, frame: JpegFrame) {
        self.inner.push(frame);
    }

    /// The far end ended the stream: its subscribers' `changed` returns `None`.
    pub fn end(&self, reason: &str) {
        self.inner.end(reason);
    }

    /// Whether nobody subscribes any more.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl std::fmt::Debug for VideoSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoSink").field("id", &self.id).finish()
    }
}

impl std::fmt::Debug for JpegSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpegSink").field("id", &self.id).finish()
    }
}
