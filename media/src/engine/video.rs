//! The H.264 pipeline's thread: convert (+downscale), ask the [`KeyframeGate`] whether to force an IDR, encode
//! once, and hand the `Arc<AccessUnit>` to the [`Fanout`] every subscriber reads.
//!
//! A keyframe pending on an unchanged screen re-encodes the last picture as an IDR, so a new viewer of a static
//! screen gets a picture. The thread ends when the engine stops it, when its capture closes, or after
//! [`MAX_ENCODE_FAILURES`] failed encodes in a row; ending drops every subscriber's sender.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::pipe::{Encoding, Env};
use super::profile::VideoProfile;
use crate::convert::{I420Buffer, bgra_to_i420};
use crate::fanout::Fanout;
use crate::h264::{H264Encoder, H264Settings};
use crate::keyframe::KeyframeGate;
use crate::{Frame, MediaError};

/// Consecutive encoder failures after which a video pipeline ends. One failure is retried on the next frame; five
/// in a row (a sixth of a second at 30 fps) mean the encoder will not recover, and its subscribers are better told.
pub const MAX_ENCODE_FAILURES: u32 = 5;

/// Subscriber drops are logged at most this often, as one aggregate line.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The H.264 kind of [`Pipe`](super::pipe::Pipe): one per (screen, [`VideoProfile`]).
pub(super) struct H264;

impl Encoding for H264 {
    type Profile = VideoProfile;
    type Output = Arc<Mutex<Fanout>>;
    const KIND: &'static str = "h264";

    fn profile_name(profile: &VideoProfile) -> String {
        profile.name()
    }

    fn spawn_error(e: std::io::Error) -> MediaError {
        MediaError::Encoder(format!("cannot start the encode thread: {e}"))
    }

    fn prepare(
        profile: VideoProfile,
        env: Env,
    ) -> (Self::Output, Box<dyn FnOnce() + Send + 'static>) {
        let fanout = Arc::new(Mutex::new(Fanout::new()));
        let ctx = Ctx {
            profile,
            fanout: Arc::clone(&fanout),
            env,
        };
        (fanout, Box::new(move || run(ctx)))
    }
}

struct Ctx {
    profile: VideoProfile,
    fanout: Arc<Mutex<Fanout>>,
    env: Env,
}

fn run(ctx: Ctx) {
    let mut gate = KeyframeGate::default();
    let result = video_loop(&ctx, &mut gate);
    let (requests, coalesced, forced) = (gate.requests(), gate.coalesced(), gate.forced());
    let key = &ctx.env.key;
    match result {
        Ok(()) => tracing::debug!(
            pipeline = %key, requests, coalesced, forced, "video pipeline stopped"
        ),
        Err(e) => tracing::warn!(
            pipeline = %key, error = %e, requests, coalesced, forced, "video pipeline ended"
        ),
    }
    ctx.env.ended.store(true, Relaxed);
    // Dropping the senders ends every subscriber's `recv()`.
    *ctx.fanout.lock() = Fanout::new();
}

fn video_loop(ctx: &Ctx, gate: &mut KeyframeGate) -> Result<(), MediaError> {
    let env = &ctx.env;
    let mut encoder: Option<H264Encoder> = None;
    let mut bitrate = ctx.profile.bitrate_kbps;
    let mut picture = I420Buffer::new();
    let mut last_capture: Option<SystemTime> = None;
    let mut last_frame: Option<Arc<Frame>> = None;
    let mut failures = 0u32;
    let (mut drops_unlogged, mut drops_logged_at) = (0u64, Instant::now());
    loop {
        let deadline = last_capture.and(gate.due_at(Instant::now()));
        let mail = env.mailbox.take(deadline);
        if mail.stop {
            return Ok(());
        }
        let now = Instant::now();
        if mail.keyframe {
            gate.request(now);
        }
        for _ in 0..mail.replaced {
            env.stats.record_drop("encoder_behind");
        }
        if let Some(kbps) = mail.bitrate_kbps
            && kbps != bitrate
        {
            bitrate = kbps;
            if let Some(enc) = encoder.as_mut() {
                let op = env.monitor.operation("encoder_restart", None);
                op.finish_with(enc.set_bitrate(kbps))?;
                env.stats.record_restart();
            }
        }
        // A consumer attaching while the capture publishes can be handed the same frame twice: encode it once.
        let fresh = mail
            .frame
            .filter(|f| last_frame.as_ref().is_none_or(|last| !Arc::ptr_eq(last, f)));
        let captured_at = match &fresh {
            Some(frame) => {
                let started = Instant::now();
                bgra_to_i420(frame, ctx.profile.max_width, &mut picture)?;
                env.stats
                    .record_convert(started.elapsed().as_secs_f64() * 1000.0);
                last_capture = Some(frame.captured_at);
                last_frame = Some(Arc::clone(frame));
                frame.captured_at
            }
            // Unchanged screen: re-encode the last picture only to serve a pending keyframe.
            None => match last_capture {
                Some(at) if gate.due_at(now).is_some_and(|due| due <= now) => at,
                _ => {
                    if mail.closed {
                        return Err(MediaError::Stopped);
                    }
                    continue;
                }
            },
        };
        let enc = match encoder.as_mut() {
            Some(enc) => enc,
            None => {
                let settings = H264Settings {
                    width: picture.width(),
                    height: picture.height(),
                    fps: env.fps,
                    bitrate_kbps: bitrate,
                    usage: ctx.profile.usage,
                };
                let op = env.monitor.operation("encoder_start", None);
                encoder.insert(op.finish_with(H264Encoder::new(settings))?)
            }
        };
        let force = gate.should_force(now);
        match enc.encode(&picture, force, captured_at) {
            Ok(Some(au)) => {
                failures = 0;
                if au.keyframe {
                    gate.on_idr(now);
                }
                env.stats
                    .record_encode(au.encode_ms, au.data.len(), au.keyframe);
                let published = ctx.fanout.lock().publish(&Arc::new(au));
                for _ in 0..published.dropped {
                    env.stats.record_drop("subscriber_queue_full");
                }
                drops_unlogged += published.dropped as u64;
                if drops_unlogged > 0 && drops_logged_at.elapsed() >= DROP_LOG_INTERVAL {
                    tracing::info!(
                        pipeline = %env.key, dropped = drops_unlogged, subscribers = ctx.fanout.lock().len(),
                        "units dropped for lagging subscribers (they resume at the next IDR)"
                    );
                    (drops_unlogged, drops_logged_at) = (0, Instant::now());
                }
                if published.keyframe_wanted {
                    gate.request(now);
                    env.stats.record_keyframe_request();
                }
            }
            Ok(None) => env.stats.record_drop("encoder_skipped"),
            Err(e) => {
                failures += 1;
                tracing::warn!(pipeline = %env.key, error = %e, failures, "encode failed");
                if failures >= MAX_ENCODE_FAILURES {
                    return Err(e);
                }
            }
        }
        if mail.closed {
            return Err(MediaError::Stopped);
        }
    }
}
