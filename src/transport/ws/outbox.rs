//! The socket's outbox: messages from producers other than the socket task (the JPEG stream, HQ frames), which
//! the socket task alone writes.

use bytes::Bytes;
use sightline_signaling::ServerMessage;

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
    /// Watch number N ended on its own (its screen went away): the socket ends that watch, if it is still the
    /// current one, and sends the message.
    WatchEnded(u64, ServerMessage),
}
