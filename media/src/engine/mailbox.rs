//! The mailbox: how the engine and the capture thread wake a worker thread, bounded by construction.
//!
//! Every field of [`Mail`] is a single slot (latest wins): a frame not yet taken is replaced by a newer one and
//! counted in `replaced`, a second keyframe request merges into the first. A worker sleeps in
//! [`Mailbox::take`] until something arrives or its own deadline passes, so an idle pipeline costs nothing.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::Frame;

/// What a worker thread finds when it wakes.
#[derive(Default)]
pub(super) struct Mail {
    pub(super) frame: Option<Arc<Frame>>,
    /// Frames replaced before the worker took them (it was behind).
    pub(super) replaced: u64,
    pub(super) keyframe: bool,
    pub(super) bitrate_kbps: Option<u32>,
    pub(super) fps: Option<u32>,
    /// The engine stopped this worker.
    pub(super) stop: bool,
    /// The source ended (screen gone): finish with what is here, then end.
    pub(super) closed: bool,
}

impl Mail {
    fn is_empty(&self) -> bool {
        self.frame.is_none()
            && !self.keyframe
            && self.bitrate_kbps.is_none()
            && self.fps.is_none()
            && !self.stop
            && !self.closed
    }
}

/// One worker's mail slot and the condition variable it sleeps on.
#[derive(Default)]
pub(super) struct Mailbox {
    mail: Mutex<Mail>,
    cond: Condvar,
}

impl Mailbox {
    /// Changes the mail and wakes the worker.
    pub(super) fn update(&self, f: impl FnOnce(&mut Mail)) {
        f(&mut self.mail.lock());
        self.cond.notify_one();
    }

    /// Hands over a frame, replacing (and counting) one not yet taken.
    pub(super) fn post_frame(&self, frame: Arc<Frame>) {
        self.update(|m| {
            if m.frame.replace(frame).is_some() {
                m.replaced += 1;
            }
        });
    }

    /// Whether the worker was told to stop (without taking anything).
    pub(super) fn is_stopped(&self) -> bool {
        self.mail.lock().stop
    }

    /// Waits until there is mail or `deadline` passes, then takes everything.
    pub(super) fn take(&self, deadline: Option<Instant>) -> Mail {
        let mut mail = self.mail.lock();
        while mail.is_empty() {
            match deadline {
                Some(d) => {
                    if self.cond.wait_until(&mut mail, d).timed_out() {
                        break;
                    }
                }
                None => self.cond.wait(&mut mail),
            }
        }
        // `closed` and `stop` are states, not events: keep them for the next take.
        let (stop, closed) = (mail.stop, mail.closed);
        let taken = std::mem::take(&mut *mail);
        mail.stop = stop;
        mail.closed = closed;
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn mailbox_keeps_the_latest_frame_and_counts_replaced_ones() {
        let mb = Mailbox::default();
        let frame = |seq| {
            Arc::new(Frame {
                width: 2,
                height: 2,
                stride: 8,
                data: Arc::from(vec![0u8; 16]),
                captured_at: SystemTime::now(),
                seq,
            })
        };
        mb.post_frame(frame(1));
        mb.post_frame(frame(2));
        mb.update(|m| m.keyframe = true);
        let mail = mb.take(None);
        assert_eq!(mail.frame.unwrap().seq, 2);
        assert_eq!(mail.replaced, 1);
        assert!(mail.keyframe);
        // Nothing pending: a deadline ends the wait with empty mail.
        let empty = mb.take(Some(Instant::now() + Duration::from_millis(5)));
        assert!(empty.frame.is_none() && !empty.keyframe);
        // Stop is a state: every later take sees it at once.
        assert!(!mb.is_stopped());
        mb.update(|m| m.stop = true);
        assert!(mb.is_stopped());
        assert!(mb.take(None).stop);
        assert!(mb.take(None).stop);
    }
}
