//! The bounds of a device's link to its hub: queue depth, streams and calls at once, how often screens are re-read.

use std::time::Duration;

/// Pictures queued for the socket writer across all streams of a link; a full queue drops pictures (a video stream
/// then skips to its next IDR, which it requests). Two seconds of a 30 fps stream: a hub link that cannot keep up
/// for longer needs fewer or smaller streams, not a deeper queue.
pub const DEVICE_OUTBOX: usize = 64;
/// Most streams open at once on one link; the hub opens one per (screen, profile) it relays.
pub const MAX_DEVICE_STREAMS: usize = 64;
/// Most calls (input, tools, snapshots) running at once on one link; one more is answered `busy`.
pub const MAX_DEVICE_CALLS: usize = 16;
/// How often the device re-reads its screen list and announces a change.
pub const SCREENS_POLL: Duration = Duration::from_secs(3);
