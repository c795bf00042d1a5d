//! The JPEG pipeline's thread: encodes only changed frames, at the highest fps its subscribers asked for, into a
//! `watch` (latest wins, never queues).
//!
//! One pipe per (screen, quality, max_width) while a JPEG subscriber exists. A closing capture flushes its last
//! picture at once; an encoder error ends the pipe, and dropping the `watch` ends every subscriber's `changed()`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tokio::sync::watch;

use super::pipe::{Encoding, Env};
use super::profile::JpegProfile;
use crate::jpeg::{JpegEncoder, JpegFrame};
use crate::pacer::Pacer;
use crate::{Frame, MediaError};

/// The JPEG kind of [`Pipe`](super::pipe::Pipe).
pub(super) struct Jpeg;

impl Encoding for Jpeg {
    type Profile = JpegProfile;
    type Output = watch::Receiver<Option<Arc<JpegFrame>>>;
    const KIND: &'static str = "jpeg";

    fn profile_name(profile: &JpegProfile) -> String {
        profile.name()
    }

    fn spawn_error(e: std::io::Error) -> MediaError {
        MediaError::Encoder(format!("cannot start the jpeg thread: {e}"))
    }

    fn prepare(
        profile: JpegProfile,
        env: Env,
    ) -> (Self::Output, Box<dyn FnOnce() + Send + 'static>) {
        let (tx, rx) = watch::channel(None);
        let ctx = Ctx {
            profile,
            frames: tx,
            env,
        };
        (rx, Box::new(move || run(ctx)))
    }
}

struct Ctx {
    /// Quality and width; `fps` is the rate the pipe starts at (the engine changes it through the mailbox).
    profile: JpegProfile,
    frames: watch::Sender<Option<Arc<JpegFrame>>>,
    env: Env,
}

fn run(ctx: Ctx) {
    if let Err(e) = jpeg_loop(&ctx) {
        tracing::warn!(error = %e, "jpeg pipeline ended");
    }
    ctx.env.ended.store(true, Relaxed);
    // Dropping `ctx.frames` ends every subscriber's `changed()`.
}

fn jpeg_loop(ctx: &Ctx) -> Result<(), MediaError> {
    let env = &ctx.env;
    let mut encoder = JpegEncoder::new()?;
    let mut pacer = Pacer::new(ctx.profile.fps);
    let mut pending: Option<Arc<Frame>> = None;
    let mut last_seq = None;
    loop {
        let deadline = pending.as_ref().map(|_| pacer.deadline(Instant::now()));
        let mail = env.mailbox.take(deadline);
        if mail.stop {
            return Ok(());
        }
        if let Some(fps) = mail.fps {
            pacer.set_fps(fps, Instant::now());
        }
        if let Some(frame) = mail.frame {
            // Unchanged pictures are neither re-encoded nor re-published.
            if last_seq != Some(frame.seq) {
                pending = Some(frame);
            }
        }
        // A closing source flushes its last picture at once instead of waiting for the pacer.
        if pending.is_some() && (mail.closed || pacer.poll(Instant::now()).is_some()) {
            let frame = pending.take().expect("checked above");
            let started = Instant::now();
            let jpeg = encoder.encode(&frame, ctx.profile.quality, ctx.profile.max_width)?;
            env.stats.record_encode(
                started.elapsed().as_secs_f64() * 1000.0,
                jpeg.data.len(),
                true,
            );
            last_seq = Some(frame.seq);
            ctx.frames.send_replace(Some(Arc::new(jpeg)));
        }
        if mail.closed {
            return Err(MediaError::Stopped);
        }
    }
}
