//! The H.264 pipeline's thread: convert (+downscale), ask the [`KeyframeGate`] whether to force an IDR, encode
//! once, and hand the `Arc<AccessUnit>` to the [`Fanout`] every subscriber reads.
//!
//! A keyframe pending on an unchanged screen re-encodes the last picture as an IDR, so a new viewer of a static
//! screen gets a picture. Before each picture the thread works out the encoder's bitrate target from the profile
//! and its subscribers' wishes (the rules are in `target`) and changes it live, without an IDR, when it moved.
//! With frame skipping on, openh264 may drop a picture to hold that target; it is counted as an
//! `encoder_skipped` drop. The thread ends when the engine stops it, when its capture closes, or after
//! [`MAX_ENCODE_FAILURES`] failed encodes in a row; ending drops every subscriber's sender.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::pipe::{Encoding, Env};
use super::profile::VideoProfile;
use super::target::{encoder_target, worth_retargeting};
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

/// What an H.264 pipe's subscribers share with its thread.
pub(super) struct VideoOutput {
    /// Every subscriber's queue (and wish).
    pub(super) fanout: Arc<Mutex<Fanout>>,
    /// The bitrate the encoder aims at now, kbit/s; written by the thread, read by subscribers' controls.
    pub(super) target_kbps: Arc<AtomicU32>,
}

impl Encoding for H264 {
    type Profile = VideoProfile;
    type Output = VideoOutput;
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
        let target_kbps = Arc::new(AtomicU32::new(profile.bitrate_kbps));
        let ctx = Ctx {
            profile,
            fanout: Arc::clone(&fanout),
            target_kbps: Arc::clone(&target_kbps),
            env,
        };
        let output = VideoOutput {
            fanout,
            target_kbps,
        };
        (output, Box::new(move || run(ctx)))
    }
}

struct Ctx {
    profile: VideoProfile,
    fanout: Arc<Mutex<Fanout>>,
    target_kbps: Arc<AtomicU32>,
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
    // The profile's bitrate, or what `VideoControl::set_bitrate` made it: the top of the target's band.
    let mut base_kbps = ctx.profile.bitrate_kbps;
    // A target openh264 refused, not retried until the wanted target changes.
    let mut refused: Option<u32> = None;
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
        if let Some(kbps) = mail.bitrate_kbps {
            base_kbps = kbps;
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
        let wanted = encoder_target(base_kbps, ctx.fanout.lock().desired_bitrates());
        let enc = match encoder.as_mut() {
            Some(enc) => {
                retarget(ctx, enc, wanted, base_kbps, &mut refused);
                enc
            }
            None => {
                let settings = H264Settings {
                    width: picture.width(),
                    height: picture.height(),
                    fps: env.fps,
                    bitrate_kbps: wanted,
                    usage: ctx.profile.usage,
                    frame_skip: env.frame_skip,
                };
                let op = env.monitor.operation("encoder_start", None);
                let enc = encoder.insert(op.finish_with(H264Encoder::new(settings))?);
                ctx.target_kbps.store(wanted, Relaxed);
                enc
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

/// Moves the encoder's target to `wanted` (kbit/s) when the change is worth it, live and without an IDR. A target
/// openh264 refused is logged once and not retried until `wanted` changes; the encoder keeps its old target.
fn retarget(
    ctx: &Ctx,
    enc: &mut H264Encoder,
    wanted: u32,
    base_kbps: u32,
    refused: &mut Option<u32>,
) {
    let current = enc.settings().bitrate_kbps;
    if !worth_retargeting(current, wanted, base_kbps) || *refused == Some(wanted) {
        return;
    }
    match enc.set_target_bitrate(wanted) {
        Ok(()) => {
            *refused = None;
            ctx.target_kbps.store(wanted, Relaxed);
            tracing::debug!(pipeline = %ctx.env.key, from = current, to = wanted, "encoder target changed");
        }
        Err(e) => {
            *refused = Some(wanted);
            tracing::warn!(
                pipeline = %ctx.env.key, error = %e, target = current, wanted,
                "encoder target unchanged"
            );
        }
    }
}
