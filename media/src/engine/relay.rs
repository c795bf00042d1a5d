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
//! - keyframe requests of the subscribers (join, lag, PLI) are coalesced and become [`Upstream::request_keyframe`];
//!   a sole subscriber's bitrate wish becomes [`Upstream::set_bitrate`];
//! - [`Engine::remove_remote`](super::Engine::remove_remote) (the device went offline) ends every subscription of
//!   the screen: their `recv`/`changed` return `None`.
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
/// never block, never await): the engine calls them with its locks released but from any thread or task.
pub trait Upstream: Send + Sync + 'static {
    /// Start sending `profile`'s H.264 access units of this screen into `sink` (beginning with an IDR), until
    /// [`Upstream::close`] of `sink.id()`.
    fn open_video(&self, profile: VideoProfile, sink: VideoSink);
    /// Start sending JPEG frames of this screen at `profile` into `sink` (only changed pictures, at most
    /// `profile.fps` per second), until [`Upstream::close`].
    fn open_jpeg(&self, profile: JpegProfile, sink: JpegSink);
    /// Stop a stream opened by `open_video` or `open_jpeg`: its last subscriber left.
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
