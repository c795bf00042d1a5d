//! The socket's outbox: messages from producers other than the socket task (the JPEG stream, HQ frames), which
//! the socket task alone writes.

use bytes::Bytes;
use sightline_signaling::ServerMessage;
use tokio::sync::oneshot;

/// Messages waiting for the socket writer. Producers block when it is full (the JPEG stream then skips frames:
/// its source keeps only the latest), so a slow reader costs at most this many messages of memory.
pub const OUTBOX_CAPACITY: usize = 8;

/// What producers other than the socket task send through the outbox.
#[derive(Debug)]
pub enum Outbound {
    /// One JSON message.
    Message(ServerMessage),
    /// A `frame` header and its JPEG, written back to back.
    Frame(ServerMessage, Bytes),
    /// A frame of the JPEG stream, written like [`Outbound::Frame`]; the socket task drops its [`Receipt`] once
    /// the pair is written (or abandoned), which is how the stream sees the socket drain.
    StreamFrame(ServerMessage, Bytes, Receipt),
    /// Watch number N ended on its own (its screen went away): the socket ends that watch, if it is still the
    /// current one, and sends the message.
    WatchEnded(u64, ServerMessage),
}

/// Travels with a stream frame through the outbox and the socket's write; dropping it resolves its [`Delivery`].
#[derive(Debug)]
pub struct Receipt {
    _written: oneshot::Sender<()>,
}

/// Resolves when the frame's [`Receipt`] is dropped: the socket wrote the frame, gave up on it, or ended.
pub type Delivery = oneshot::Receiver<()>;

/// A receipt for one frame and the delivery its producer awaits.
pub fn receipt() -> (Receipt, Delivery) {
    let (tx, rx) = oneshot::channel();
    (Receipt { _written: tx }, rx)
}
