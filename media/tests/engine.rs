//! Engine behaviour: pipelines start with their first subscriber and stop with their last, JPEG sharing and
//! change-only publishing, keyframes for new viewers of a static screen, run-time bitrate changes and a sole
//! viewer's bitrate wish (live, without an IDR), snapshots,
//! ordered and bounded input, a vanishing screen, and shutdown.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::Poll;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use sightline_media::engine::{
    Engine, EngineConfig, INPUT_QUEUE, JpegProfile, MAX_CAPTURE_FAILURES, VideoProfile,
    VideoSubscription,
};
use sightline_media::fanout::SUBSCRIBER_QUEUE;
use sightline_media::synthetic::{SyntheticDesktop, SyntheticSource};
use sightline_media::{
    Desktop, Frame, FrameSource, InputEvent, MediaError, ScreenInfo, SourceKind, barcode,
};
use sightline_monitor::{Monitor, MonitorConfig};
use tokio::time::{sleep, timeout};

const WAIT: Duration = Duration::from_secs(5);

type InjectFuture = Pin<Box<dyn Future<Output = Result<(), MediaError>> + Send>>;

/// How a [`FakeDesktop`]'s capture behaves.
#[derive(Clone, Copy)]
enum Mode {
    /// A new frame on every capture (the synthetic screen).
    Animated,
    /// A frame on the first or a forced capture only: an unchanged screen.
    Static,
    /// `n` frames, then errors forever: a screen that vanished.
    FailAfter(u64),
}

/// A desktop built on the synthetic screen with scripted capture and a closable input gate.
struct FakeDesktop {
    inner: SyntheticDesktop,
    mode: Mode,
    captures: Arc<AtomicU64>,
    /// While `false`, `inject` blocks (a stuck display).
    gate: Arc<(Mutex<bool>, Condvar)>,
    injected: Arc<Mutex<Vec<InputEvent>>>,
    /// Calls of `inject` so far, counted before the gate.
    entered: AtomicU64,
}

impl FakeDesktop {
    fn new(mode: Mode) -> Self {
        Self {
            inner: SyntheticDesktop::new(320, 240),
            mode,
            captures: Arc::default(),
            gate: Arc::new((Mutex::new(true), Condvar::new())),
            injected: Arc::default(),
            entered: AtomicU64::new(0),
        }
    }
}

struct FakeSource {
    inner: SyntheticSource,
    mode: Mode,
    captures: Arc<AtomicU64>,
    given: u64,
}

impl FrameSource for FakeSource {
    fn screen(&self) -> &ScreenInfo {
        self.inner.screen()
    }

    fn capture(&mut self, force: bool) -> Result<Option<Frame>, MediaError> {
        self.captures.fetch_add(1, Relaxed);
        match self.mode {
            Mode::Animated => {}
            Mode::Static if force || self.given == 0 => {}
            Mode::Static => return Ok(None),
            Mode::FailAfter(n) if self.given < n => {}
            Mode::FailAfter(_) => return Err(MediaError::Display("screen is gone".into())),
        }
        self.given += 1;
        self.inner.capture(true)
    }
}

impl Desktop for FakeDesktop {
    fn kind(&self) -> SourceKind {
        SourceKind::Synthetic
    }

    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        self.inner.screens()
    }

    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError> {
        self.inner
            .screens()?
            .iter()
            .find(|s| s.id == screen)
            .ok_or(MediaError::UnknownScreen(screen.into()))?;
        Ok(Box::new(FakeSource {
            inner: self.inner.source(),
            mode: self.mode,
            captures: Arc::clone(&self.captures),
            given: 0,
        }))
    }

    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError> {
        self.entered.fetch_add(1, Relaxed);
        let (open, cond) = &*self.gate;
        let mut open = open.lock();
        while !*open {
            cond.wait(&mut open);
        }
        self.inner.inject(screen, event)?;
        self.injected.lock().push(event.clone());
        Ok(())
    }
}

fn engine_with(desktop: Arc<dyn Desktop>, fps: u32) -> (Engine, Monitor) {
    let monitor = Monitor::new(MonitorConfig::default());
    let engine = Engine::new(
        desktop,
        EngineConfig {
            fps,
            ..EngineConfig::default()
        },
        monitor.clone(),
    );
    (engine, monitor)
}

fn pipelines(monitor: &Monitor, kind: &str) -> Vec<sightline_monitor::PipelineSnapshot> {
    monitor
        .pipelines()
        .into_iter()
        .filter(|p| p.kind == kind)
        .collect()
}

async fn wait_for_no_media_threads(monitor: &Monitor) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let live: Vec<String> = monitor
            .tasks()
            .live
            .into_iter()
            .map(|t| t.name)
            .filter(|n| !n.starts_with("media-input"))
            .collect();
        if live.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "threads still alive: {live:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_pipeline_starts_with_the_first_subscriber_and_stops_with_the_last() {
    let (engine, monitor) = engine_with(Arc::new(SyntheticDesktop::new(640, 360)), 30);
    assert!(
        monitor.pipelines().is_empty(),
        "nothing runs before a subscriber"
    );
    let profile = VideoProfile {
        max_width: Some(320),
        ..VideoProfile::default()
    };
    let mut a = engine.subscribe_video("0", profile).unwrap();
    let first = timeout(WAIT, a.recv()).await.unwrap().unwrap();
    assert!(first.keyframe, "a new subscriber starts at an IDR");
    assert_eq!(
        (first.width, first.height),
        (320, 180),
        "downscaled to max_width"
    );
    assert_eq!(a.screen().id, "0");
    assert_eq!(pipelines(&monitor, "h264").len(), 1);
    assert_eq!(pipelines(&monitor, "capture").len(), 1);
    assert!(
        monitor
            .operations()
            .by_kind
            .iter()
            .any(|k| k.kind == "encoder_start" && k.ok == 1)
    );

    // A second profile is a second encoder on the same capture.
    let mut b = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    let b_first = timeout(WAIT, b.recv()).await.unwrap().unwrap();
    assert!(b_first.keyframe);
    assert_eq!((b_first.width, b_first.height), (640, 360));
    assert_eq!(pipelines(&monitor, "h264").len(), 2);
    assert_eq!(
        pipelines(&monitor, "capture").len(),
        1,
        "one capture per screen"
    );

    drop(a);
    drop(b);
    wait_for_no_media_threads(&monitor).await;
    assert!(monitor.pipelines().is_empty());
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_viewer_of_a_static_screen_gets_an_idr() {
    let desktop = Arc::new(FakeDesktop::new(Mode::Static));
    let (engine, monitor) = engine_with(desktop.clone(), 30);
    let mut a = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    let first = timeout(WAIT, a.recv()).await.unwrap().unwrap();
    assert!(first.keyframe);
    // The screen does not change: nothing more is encoded.
    assert!(
        timeout(Duration::from_millis(500), a.recv()).await.is_err(),
        "an unchanged screen is not re-encoded"
    );
    assert!(pipelines(&monitor, "capture")[0].unchanged_total > 0);

    // A late joiner requests a keyframe: the last picture is re-encoded as an IDR for it (and for `a`).
    let mut b = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    let idr = timeout(WAIT, b.recv())
        .await
        .expect("the late joiner got a picture")
        .unwrap();
    assert!(idr.keyframe);
    assert_eq!(
        idr.captured_at, first.captured_at,
        "the same (unchanged) picture"
    );
    let again = timeout(WAIT, a.recv()).await.unwrap().unwrap();
    assert_eq!(again.seq, idr.seq);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitrate_changes_at_run_time_without_an_idr() {
    let (engine, monitor) = engine_with(Arc::new(SyntheticDesktop::new(320, 240)), 30);
    let mut sub = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    for _ in 0..5 {
        timeout(WAIT, sub.recv()).await.unwrap().unwrap();
    }
    assert_eq!(sub.target_kbps(), VideoProfile::default().bitrate_kbps);
    assert!(sub.set_bitrate(1).is_err(), "out-of-range bitrate refused");
    sub.set_bitrate(800).unwrap();
    let keyframes = until_target(&mut sub, 800).await;
    assert_eq!(keyframes, 0, "changed live, without an IDR");
    let h264 = &pipelines(&monitor, "h264")[0];
    assert_eq!((h264.keyframes_total, h264.restarts_total), (1, 0));
    engine.shutdown();
}

/// Receives units until the pipeline's encoder aims at `kbps` and one more unit came out after that (at most
/// `MAX_UNITS`); returns how many keyframes arrived meanwhile.
async fn until_target(sub: &mut VideoSubscription, kbps: u32) -> u32 {
    const MAX_UNITS: usize = 90;
    let mut keyframes = 0;
    let mut reached = false;
    for _ in 0..MAX_UNITS {
        let au = timeout(WAIT, sub.recv()).await.unwrap().unwrap();
        keyframes += u32::from(au.keyframe);
        if reached {
            return keyframes;
        }
        reached = sub.target_kbps() == kbps;
    }
    panic!(
        "the encoder target stayed at {} kbit/s, expected {kbps}",
        sub.target_kbps()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_viewers_wish_steers_its_encoder_and_a_second_viewer_restores_the_profile() {
    let (engine, _monitor) = engine_with(Arc::new(SyntheticDesktop::new(320, 240)), 30);
    let profile = VideoProfile {
        bitrate_kbps: 2000,
        ..VideoProfile::default()
    };
    let mut a = engine.subscribe_video("0", profile).unwrap();
    let control = a.control();
    assert!(timeout(WAIT, a.recv()).await.unwrap().unwrap().keyframe);
    assert_eq!(a.target_kbps(), 2000);

    // Followed live, within the shared limits (above the profile too: the subscriber bounds its wish), without an IDR.
    let floor = *sightline_limits::BITRATE_KBPS.start();
    for (wish, target) in [(700, 700), (50, floor), (9000, 9000), (700, 700)] {
        control.set_desired_bitrate(Some(wish));
        assert_eq!(control.desired_bitrate(), Some(wish));
        assert_eq!(until_target(&mut a, target).await, 0, "wish {wish}");
    }
    // A change under MIN_RETARGET_PERCENT is not worth a retarget.
    a.set_desired_bitrate(Some(710));
    for _ in 0..5 {
        timeout(WAIT, a.recv()).await.unwrap().unwrap();
    }
    assert_eq!(a.target_kbps(), 700);

    // Two viewers share the encoder: the profile rules (b's join forces an IDR for both).
    let mut b = engine.subscribe_video("0", profile).unwrap();
    until_target(&mut a, 2000).await;
    assert_eq!(b.target_kbps(), 2000);
    assert!(timeout(WAIT, b.recv()).await.unwrap().unwrap().keyframe);
    drop(b);
    until_target(&mut a, 710).await;
    control.set_desired_bitrate(None);
    until_target(&mut a, 2000).await;
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jpeg_is_shared_per_profile_and_only_changed_frames_are_published() {
    let (engine, monitor) = engine_with(Arc::new(SyntheticDesktop::new(640, 360)), 30);
    let preview = JpegProfile {
        quality: 60,
        max_width: Some(320),
        fps: 10,
    };
    let mut a = engine.subscribe_jpeg("0", preview).unwrap();
    let mut b = engine
        .subscribe_jpeg("0", JpegProfile { fps: 20, ..preview })
        .unwrap();
    let mut c = engine
        .subscribe_jpeg(
            "0",
            JpegProfile {
                quality: 90,
                ..preview
            },
        )
        .unwrap();
    assert_eq!(
        pipelines(&monitor, "jpeg").len(),
        2,
        "shared per (quality, max_width)"
    );
    let mut counts: Vec<u64> = pipelines(&monitor, "jpeg")
        .iter()
        .map(|p| p.subscribers)
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2], "subscribers per JPEG pipeline");
    assert_eq!(
        pipelines(&monitor, "capture")[0].subscribers,
        2,
        "the capture feeds two pipelines"
    );
    let fa = timeout(WAIT, a.changed()).await.unwrap().unwrap();
    let fb = timeout(WAIT, b.changed()).await.unwrap().unwrap();
    let fc = timeout(WAIT, c.changed()).await.unwrap().unwrap();
    assert_eq!((fa.width, fa.height, fa.quality), (320, 180, 60));
    assert_eq!(fc.quality, 90);
    assert!(fb.seq >= fa.seq);
    let img = image::load_from_memory(&fa.data).unwrap();
    assert_eq!((img.width(), img.height()), (320, 180));
    let next = timeout(WAIT, a.changed()).await.unwrap().unwrap();
    assert!(next.seq > fa.seq, "changed() returns a newer picture");
    drop((a, b, c));
    wait_for_no_media_threads(&monitor).await;

    // A static screen: one JPEG, then nothing re-encoded or re-published.
    let desktop = Arc::new(FakeDesktop::new(Mode::Static));
    let (engine2, monitor2) = engine_with(desktop, 30);
    let mut s = engine2.subscribe_jpeg("0", preview).unwrap();
    let only = timeout(WAIT, s.changed()).await.unwrap().unwrap();
    assert!(
        timeout(Duration::from_millis(600), s.changed())
            .await
            .is_err()
    );
    assert_eq!(pipelines(&monitor2, "jpeg")[0].frames_total, 1);
    // A later subscriber of the same profile gets the latest picture at once.
    let mut late = engine2.subscribe_jpeg("0", preview).unwrap();
    assert_eq!(
        timeout(WAIT, late.changed()).await.unwrap().unwrap().seq,
        only.seq
    );
    engine.shutdown();
    engine2.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_and_snapshots() {
    let (engine, monitor) = engine_with(Arc::new(SyntheticDesktop::new(320, 240)), 30);
    // No capture running: a one-off capture.
    let shot = engine.snapshot("0").await.unwrap();
    assert_eq!((shot.width, shot.height), (320, 240));
    assert!(barcode::decode_timestamp(&shot).is_some());
    assert!(
        monitor
            .operations()
            .by_kind
            .iter()
            .any(|k| k.kind == "frame_capture" && k.ok == 1)
    );
    assert!(matches!(
        engine.snapshot("9").await,
        Err(MediaError::UnknownScreen(_))
    ));

    let mut frames = engine.subscribe_frames("0").unwrap();
    let f1 = timeout(WAIT, frames.changed()).await.unwrap().unwrap();
    let f2 = timeout(WAIT, frames.changed()).await.unwrap().unwrap();
    assert!(f2.seq > f1.seq);
    // While the capture runs, a snapshot is its latest frame (no second capture).
    let shot = engine.snapshot("0").await.unwrap();
    assert!(shot.seq >= f2.seq);
    let jpeg = engine.encode_jpeg(shot, 85, None).await.unwrap();
    assert_eq!((jpeg.width, jpeg.height, jpeg.quality), (320, 240, 85));
    assert!(engine.encode_jpeg(f1, 0, None).await.is_err());
    drop(frames);
    wait_for_no_media_threads(&monitor).await;
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_injected_in_order_and_a_full_queue_fails_at_once() {
    let desktop = Arc::new(FakeDesktop::new(Mode::Animated));
    let (engine, _monitor) = engine_with(desktop.clone(), 30);
    for x in 0..50 {
        engine
            .inject("0", InputEvent::PointerMove { x, y: 7 })
            .await
            .unwrap();
    }
    let xs: Vec<u32> = desktop
        .injected
        .lock()
        .iter()
        .map(|e| match e {
            InputEvent::PointerMove { x, .. } => *x,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(xs, (0..50).collect::<Vec<_>>());
    assert!(matches!(
        engine
            .inject("7", InputEvent::Text { text: "x".into() })
            .await,
        Err(MediaError::UnknownScreen(_))
    ));

    // A stuck display: one event in the thread, INPUT_QUEUE waiting, the next one is refused immediately.
    // Each future is polled once by hand: that enqueues it (in this order) and leaves it waiting for its reply.
    *desktop.gate.0.lock() = false;
    let entered_before = desktop.entered.load(Relaxed);
    let mut pending: Vec<InjectFuture> = Vec::new();
    for i in 0..=INPUT_QUEUE as u32 {
        let e = engine.clone();
        let mut fut: InjectFuture = Box::pin(async move {
            e.inject("0", InputEvent::PointerMove { x: 100 + i, y: 1 })
                .await
        });
        poll_fn(|cx| {
            assert!(fut.as_mut().poll(cx).is_pending(), "event {i} was refused");
            Poll::Ready(())
        })
        .await;
        pending.push(fut);
        if i == 0 {
            // Wait until the input thread holds the first event (blocked in the stuck display).
            let deadline = tokio::time::Instant::now() + WAIT;
            while desktop.entered.load(Relaxed) < entered_before + 1 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the input thread never took the event"
                );
                sleep(Duration::from_millis(1)).await;
            }
        }
    }
    {
        let (open, cond) = &*desktop.gate;
        *open.lock() = true;
        cond.notify_all();
    }
    for p in pending {
        p.await.unwrap();
    }
    let tail: Vec<u32> = desktop.injected.lock()[50..]
        .iter()
        .map(|e| match e {
            InputEvent::PointerMove { x, .. } => *x,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(tail, (100..=100 + INPUT_QUEUE as u32).collect::<Vec<_>>());
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_screen_ends_its_subscriptions() {
    let desktop = Arc::new(FakeDesktop::new(Mode::FailAfter(5)));
    let (engine, monitor) = engine_with(desktop.clone(), 50);
    let mut video = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    let mut jpeg = engine.subscribe_jpeg("0", JpegProfile::default()).unwrap();
    let mut frames = engine.subscribe_frames("0").unwrap();
    let ended = async {
        while video.recv().await.is_some() {}
        while jpeg.changed().await.is_some() {}
        while frames.changed().await.is_some() {}
    };
    timeout(WAIT, ended).await.expect("every subscription ends");
    // Five frames, then MAX_CAPTURE_FAILURES failed captures, then no more attempts.
    assert_eq!(
        desktop.captures.load(Relaxed),
        5 + u64::from(MAX_CAPTURE_FAILURES)
    );
    drop((video, jpeg, frames));
    wait_for_no_media_threads(&monitor).await;

    // Subscribing again restarts the capture (which fails again here, but starts cleanly).
    let before = desktop.captures.load(Relaxed);
    let mut again = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    assert!(timeout(WAIT, again.recv()).await.is_ok());
    assert!(desktop.captures.load(Relaxed) > before);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_everything_and_refuses_new_work() {
    let (engine, monitor) = engine_with(Arc::new(SyntheticDesktop::new(320, 240)), 30);
    let mut video = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    let mut jpeg = engine.subscribe_jpeg("0", JpegProfile::default()).unwrap();
    let mut frames = engine.subscribe_frames("0").unwrap();
    timeout(WAIT, video.recv()).await.unwrap().unwrap();
    let engine2 = engine.clone();
    tokio::task::spawn_blocking(move || engine2.shutdown())
        .await
        .unwrap();
    let ended = async {
        while video.recv().await.is_some() {}
        while jpeg.changed().await.is_some() {}
        while frames.changed().await.is_some() {}
    };
    timeout(WAIT, ended).await.expect("every subscription ends");
    assert!(matches!(
        engine.subscribe_video("0", VideoProfile::default()),
        Err(MediaError::Stopped)
    ));
    assert!(matches!(
        engine
            .inject("0", InputEvent::Text { text: "x".into() })
            .await,
        Err(MediaError::Stopped)
    ));
    assert!(matches!(
        engine.snapshot("0").await,
        Err(MediaError::Stopped)
    ));
    engine.shutdown(); // idempotent
    // Every thread the engine started has ended, the input thread included.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !monitor.tasks().live.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            monitor.tasks().live
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn bad_requests_are_refused_with_clear_errors() {
    let (engine, _monitor) = engine_with(Arc::new(SyntheticDesktop::new(320, 240)), 30);
    assert!(matches!(
        engine.subscribe_video("1", VideoProfile::default()),
        Err(MediaError::UnknownScreen(_))
    ));
    let bad = VideoProfile {
        bitrate_kbps: 0,
        ..VideoProfile::default()
    };
    assert!(matches!(
        engine.subscribe_video("0", bad),
        Err(MediaError::Invalid { .. })
    ));
    let bad = JpegProfile {
        quality: 0,
        ..JpegProfile::default()
    };
    assert!(matches!(
        engine.subscribe_jpeg("0", bad),
        Err(MediaError::Invalid { .. })
    ));
    let bad = JpegProfile {
        max_width: Some(3),
        ..JpegProfile::default()
    };
    assert!(matches!(
        engine.subscribe_jpeg("0", bad),
        Err(MediaError::Invalid { .. })
    ));
    assert!(
        EngineConfig {
            fps: 0,
            ..EngineConfig::default()
        }
        .validate()
        .is_err()
    );
    assert_eq!(engine.screens().unwrap().len(), 1);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_requests_are_served_and_coalesced() {
    let (engine, monitor) = engine_with(Arc::new(SyntheticDesktop::new(320, 240)), 30);
    let mut sub = engine
        .subscribe_video("0", VideoProfile::default())
        .unwrap();
    assert!(timeout(WAIT, sub.recv()).await.unwrap().unwrap().keyframe);
    // Past the gate's window (300 ms = 9 frames at 30 fps), so the next request is served at once.
    for _ in 0..12 {
        assert!(!timeout(WAIT, sub.recv()).await.unwrap().unwrap().keyframe);
    }
    // A burst of requests (a PLI storm): exactly one IDR, on the next frame or the one after.
    for _ in 0..5 {
        sub.request_keyframe();
    }
    let mut frames = Vec::new();
    for _ in 0..8 {
        frames.push(timeout(WAIT, sub.recv()).await.unwrap().unwrap().keyframe);
    }
    assert_eq!(
        frames.iter().filter(|k| **k).count(),
        1,
        "one IDR for five requests: {frames:?}"
    );
    // Promptly: at most the units already queued before the request (SUBSCRIBER_QUEUE) come first.
    let at = frames.iter().position(|k| *k).unwrap();
    assert!(at <= SUBSCRIBER_QUEUE, "served promptly: {frames:?}");
    let pipe = &pipelines(&monitor, "h264")[0];
    assert_eq!(pipe.keyframes_total, 2);
    assert_eq!(
        pipe.keyframe_requests_total, 6,
        "the join and the five requests"
    );
    engine.shutdown();
}
