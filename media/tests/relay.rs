//! Relayed (remote) screens: one upstream stream per (screen, profile) whatever the number of subscribers, closed
//! after the last; keyframe requests forwarded and coalesced; a lagging subscriber waiting for the next IDR; a sole
//! subscriber's bitrate wish forwarded; JPEG latest-wins; removal, replacement and the far end's end ending every
//! subscription; frames, stills and input of a remote screen refused with a clear error; a local screen working
//! alongside.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;
use sightline_media::engine::{
    Engine, EngineConfig, JpegProfile, JpegSink, MAX_JPEG_FPS, RelayStreamId, Upstream,
    VideoProfile, VideoSink,
};
use sightline_media::fanout::SUBSCRIBER_QUEUE;
use sightline_media::synthetic::SyntheticDesktop;
use sightline_media::{
    AccessUnit, Desktop, FrameSource, InputEvent, JpegFrame, MediaError, ScreenInfo, SourceKind,
    StillEncoding, StillRequest, Usage,
};
use sightline_monitor::{Monitor, MonitorConfig};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);
const REMOTE: &str = "dev1/0";

/// One call the engine made on the fake upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    OpenVideo(RelayStreamId, VideoProfile),
    OpenJpeg(RelayStreamId, JpegProfile),
    Close(RelayStreamId),
    Keyframe(RelayStreamId),
    Bitrate(RelayStreamId, Option<u32>),
}

/// An upstream that records every call and keeps the sinks it was given.
#[derive(Default)]
struct FakeUpstream {
    calls: Mutex<Vec<Call>>,
    video: Mutex<Vec<VideoSink>>,
    jpeg: Mutex<Vec<JpegSink>>,
    /// Push an IDR from inside `open_video`, as a far end answering at once might.
    idr_on_open: bool,
}

impl FakeUpstream {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    fn count(&self, f: impl Fn(&Call) -> bool) -> usize {
        self.calls.lock().iter().filter(|c| f(c)).count()
    }

    fn keyframes(&self) -> usize {
        self.count(|c| matches!(c, Call::Keyframe(_)))
    }

    fn video_sink(&self, i: usize) -> VideoSink {
        self.video.lock()[i].clone()
    }

    fn jpeg_sink(&self, i: usize) -> JpegSink {
        self.jpeg.lock()[i].clone()
    }
}

impl Upstream for FakeUpstream {
    fn open_video(&self, profile: VideoProfile, sink: VideoSink) {
        self.calls.lock().push(Call::OpenVideo(sink.id(), profile));
        if self.idr_on_open {
            sink.push(au(true));
        }
        self.video.lock().push(sink);
    }

    fn open_jpeg(&self, profile: JpegProfile, sink: JpegSink) {
        self.calls.lock().push(Call::OpenJpeg(sink.id(), profile));
        self.jpeg.lock().push(sink);
    }

    fn close(&self, stream: RelayStreamId) {
        self.calls.lock().push(Call::Close(stream));
    }

    fn request_keyframe(&self, stream: RelayStreamId) {
        self.calls.lock().push(Call::Keyframe(stream));
    }

    fn set_bitrate(&self, stream: RelayStreamId, kbps: Option<u32>) {
        self.calls.lock().push(Call::Bitrate(stream, kbps));
    }
}

/// The synthetic desktop, counting every use of its capture and input (a remote screen must never reach them).
struct CountingDesktop {
    inner: SyntheticDesktop,
    uses: AtomicU64,
}

impl Desktop for CountingDesktop {
    fn kind(&self) -> SourceKind {
        SourceKind::Synthetic
    }

    fn screens(&self) -> Result<Vec<ScreenInfo>, MediaError> {
        self.inner.screens()
    }

    fn open(&self, screen: &str) -> Result<Box<dyn FrameSource>, MediaError> {
        self.uses.fetch_add(1, Relaxed);
        self.inner.open(screen)
    }

    fn inject(&self, screen: &str, event: &InputEvent) -> Result<(), MediaError> {
        self.uses.fetch_add(1, Relaxed);
        self.inner.inject(screen, event)
    }
}

struct Setup {
    engine: Engine,
    monitor: Monitor,
    desktop: Arc<CountingDesktop>,
    up: Arc<FakeUpstream>,
}

fn setup_with(up: FakeUpstream) -> Setup {
    let desktop = Arc::new(CountingDesktop {
        inner: SyntheticDesktop::new(320, 240),
        uses: AtomicU64::new(0),
    });
    let monitor = Monitor::new(MonitorConfig::default());
    let engine = Engine::new(
        Arc::clone(&desktop) as Arc<dyn Desktop>,
        EngineConfig::default(),
        monitor.clone(),
    );
    let up = Arc::new(up);
    engine.add_remote(remote_info(REMOTE), Arc::clone(&up) as Arc<dyn Upstream>);
    Setup {
        engine,
        monitor,
        desktop,
        up,
    }
}

fn setup() -> Setup {
    setup_with(FakeUpstream::default())
}

fn remote_info(id: &str) -> ScreenInfo {
    ScreenInfo {
        id: id.into(),
        name: "laptop: Screen 0".into(),
        width: 1920,
        height: 1080,
        source: SourceKind::Remote,
        primary: false,
    }
}

fn au(keyframe: bool) -> AccessUnit {
    AccessUnit {
        data: Bytes::from_static(&[0, 0, 0, 1, 0x65, 0x88, 0x84]),
        keyframe,
        captured_at: SystemTime::now(),
        seq: 77,
        width: 1920,
        height: 1080,
        encode_ms: 2.0,
    }
}

fn jpeg(seq: u64) -> JpegFrame {
    JpegFrame {
        data: Bytes::from(vec![0xff, 0xd8, seq as u8, 0xff, 0xd9]),
        width: 960,
        height: 540,
        quality: 70,
        seq,
        captured_at: SystemTime::now(),
    }
}

fn profile(bitrate_kbps: u32) -> VideoProfile {
    VideoProfile {
        bitrate_kbps,
        max_width: Some(1280),
        usage: Usage::Screen,
    }
}

#[tokio::test]
async fn three_subscribers_share_one_upstream_stream_closed_after_the_last() {
    let s = setup();
    let subs: Vec<_> = (0..3)
        .map(|_| s.engine.subscribe_video(REMOTE, profile(2000)).unwrap())
        .collect();
    let opens: Vec<_> =
        s.up.calls()
            .into_iter()
            .filter(|c| matches!(c, Call::OpenVideo(..)))
            .collect();
    let id = s.up.video_sink(0).id();
    assert_eq!(opens, [Call::OpenVideo(id, profile(2000))]);
    assert_eq!(subs[0].screen().source, SourceKind::Remote);
    // The hub's monitor shows the relayed stream with its subscribers.
    let relay = s
        .monitor
        .pipelines()
        .into_iter()
        .find(|p| p.kind == "relay")
        .expect("a relay pipeline");
    assert_eq!((relay.screen.as_str(), relay.subscribers), (REMOTE, 3));
    // Another profile is another stream.
    let other = s.engine.subscribe_video(REMOTE, profile(800)).unwrap();
    assert_eq!(s.up.count(|c| matches!(c, Call::OpenVideo(..))), 2);
    drop(other);
    let mut subs = subs;
    subs.truncate(1);
    assert_eq!(
        s.up.count(|c| *c == Call::Close(id)),
        0,
        "one subscriber left"
    );
    drop(subs);
    assert_eq!(s.up.count(|c| *c == Call::Close(id)), 1);
    assert_eq!(s.up.count(|c| matches!(c, Call::Close(_))), 2);
    assert!(s.up.video_sink(0).is_closed());
    assert!(s.monitor.pipelines().iter().all(|p| p.kind != "relay"));
    // Pushing into a closed stream does nothing; the next subscriber opens a new one.
    s.up.video_sink(0).push(au(true));
    let _again = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    assert_ne!(s.up.video.lock().last().unwrap().id(), id);
}

#[tokio::test]
async fn units_reach_every_subscriber_from_the_first_idr_renumbered() {
    let s = setup();
    let mut a = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let mut b = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let sink = s.up.video_sink(0);
    sink.push(au(false));
    sink.push(au(true));
    sink.push(au(false));
    for sub in [&mut a, &mut b] {
        let first = timeout(WAIT, sub.recv()).await.unwrap().unwrap();
        assert!(first.keyframe);
        assert_eq!(first.seq, 2, "the relay numbers units itself");
        assert_eq!(timeout(WAIT, sub.recv()).await.unwrap().unwrap().seq, 3);
        assert_eq!(sub.stats().received, 2);
        assert_eq!(sub.stats().skipped_waiting_for_idr, 1);
    }
    let stats = s
        .monitor
        .pipelines()
        .into_iter()
        .find(|p| p.kind == "relay")
        .unwrap();
    assert_eq!((stats.frames_total, stats.keyframes_total), (3, 1));
    assert_eq!(stats.bytes_total, 3 * au(true).data.len() as u64);
}

#[tokio::test]
async fn keyframe_requests_are_coalesced_until_an_idr_answers() {
    let s = setup();
    let a = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    // The open asks for an IDR itself: the first subscriber's request is not forwarded.
    assert_eq!(s.up.keyframes(), 0);
    let _b = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    a.request_keyframe();
    assert_eq!(s.up.keyframes(), 0, "merged into the open's IDR");
    let sink = s.up.video_sink(0);
    sink.push(au(true));
    // Answered: the next request goes out at once, a burst after it merges into it.
    for _ in 0..10 {
        a.control().request_keyframe();
    }
    let _c = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    assert_eq!(s.up.keyframes(), 1);
    sink.push(au(false));
    assert_eq!(s.up.keyframes(), 1);
    sink.push(au(true));
    a.request_keyframe();
    assert_eq!(s.up.keyframes(), 2);
    assert_eq!(
        s.up.calls().last(),
        Some(&Call::Keyframe(sink.id())),
        "named by the stream"
    );
}

#[tokio::test]
async fn an_upstream_may_push_from_inside_open() {
    let s = setup_with(FakeUpstream {
        idr_on_open: true,
        ..FakeUpstream::default()
    });
    let mut a = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let first = timeout(WAIT, a.recv()).await.unwrap().unwrap();
    assert!(first.keyframe && first.seq == 1);
}

#[tokio::test]
async fn a_lagging_subscriber_waits_for_the_next_idr_and_asks_for_it() {
    let s = setup();
    let mut fast = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let mut slow = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let sink = s.up.video_sink(0);
    sink.push(au(true));
    let before = s.up.keyframes();
    for _ in 0..SUBSCRIBER_QUEUE + 3 {
        sink.push(au(false));
        while fast.try_recv_for_test().is_some() {}
    }
    assert_eq!(s.up.keyframes(), before + 1, "the lag became one request");
    assert!(slow.stats().waiting_for_idr);
    assert_eq!(slow.stats().dropped, 1);
    // The slow one drains what it had, then resumes at the next IDR only.
    for _ in 0..SUBSCRIBER_QUEUE {
        timeout(WAIT, slow.recv()).await.unwrap().unwrap();
    }
    sink.push(au(false));
    sink.push(au(true));
    let next = timeout(WAIT, slow.recv()).await.unwrap().unwrap();
    assert!(next.keyframe);
    assert!(!slow.stats().waiting_for_idr);
}

/// Receiving without waiting, for a test that drains a subscriber between pushes.
trait TryRecv {
    fn try_recv_for_test(&mut self) -> Option<Arc<AccessUnit>>;
}

impl TryRecv for sightline_media::VideoSubscription {
    fn try_recv_for_test(&mut self) -> Option<Arc<AccessUnit>> {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let mut fut = std::pin::pin!(self.recv());
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(au) => au,
            Poll::Pending => None,
        }
    }
}

#[tokio::test]
async fn a_sole_subscribers_wish_and_the_pipeline_bitrate_are_forwarded() {
    let s = setup();
    let a = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let id = s.up.video_sink(0).id();
    assert_eq!(a.target_kbps(), 2000);
    a.set_desired_bitrate(Some(1200));
    assert_eq!(s.up.calls().last(), Some(&Call::Bitrate(id, Some(1200))));
    assert_eq!(a.target_kbps(), 1200);
    a.set_desired_bitrate(Some(1210));
    assert_eq!(
        s.up.count(|c| matches!(c, Call::Bitrate(..))),
        1,
        "too small a change"
    );
    // A second subscriber: the profile rules again.
    let b = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    assert_eq!(s.up.calls().last(), Some(&Call::Bitrate(id, None)));
    assert_eq!(b.target_kbps(), 2000);
    b.set_bitrate(3000).unwrap();
    assert_eq!(s.up.calls().last(), Some(&Call::Bitrate(id, Some(3000))));
    assert!(b.set_bitrate(1).is_err(), "out of range");
    // Alone again, a's wish rules.
    drop(b);
    assert_eq!(s.up.calls().last(), Some(&Call::Bitrate(id, Some(1210))));
}

#[tokio::test]
async fn jpeg_is_relayed_latest_wins_at_the_highest_rate() {
    let s = setup();
    let slow = JpegProfile {
        quality: 70,
        max_width: Some(960),
        fps: 2,
    };
    let mut a = s.engine.subscribe_jpeg(REMOTE, slow).unwrap();
    let mut b = s
        .engine
        .subscribe_jpeg(REMOTE, JpegProfile { fps: 10, ..slow })
        .unwrap();
    let sink = s.up.jpeg_sink(0);
    assert_eq!(
        s.up.calls(),
        [Call::OpenJpeg(
            sink.id(),
            JpegProfile {
                fps: MAX_JPEG_FPS,
                ..slow
            }
        )]
    );
    for seq in 1..=3 {
        sink.push(jpeg(seq));
    }
    assert_eq!(timeout(WAIT, a.changed()).await.unwrap().unwrap().seq, 3);
    assert_eq!(timeout(WAIT, b.changed()).await.unwrap().unwrap().seq, 3);
    // A late subscriber gets the latest picture at once.
    let mut c = s.engine.subscribe_jpeg(REMOTE, slow).unwrap();
    assert_eq!(timeout(WAIT, c.changed()).await.unwrap().unwrap().seq, 3);
    drop((a, b, c));
    assert_eq!(s.up.calls().last(), Some(&Call::Close(sink.id())));
    assert!(sink.is_closed());
}

#[tokio::test]
async fn remove_remote_ends_every_subscription_and_forgets_the_screen() {
    let s = setup();
    let mut video = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let mut pictures = s
        .engine
        .subscribe_jpeg(REMOTE, JpegProfile::default())
        .unwrap();
    assert_eq!(s.engine.remote_screens(), [remote_info(REMOTE)]);
    assert!(s.engine.is_remote(REMOTE));
    s.engine.remove_remote(REMOTE);
    assert!(timeout(WAIT, video.recv()).await.unwrap().is_none());
    assert!(timeout(WAIT, pictures.changed()).await.unwrap().is_none());
    assert_eq!(s.up.count(|c| matches!(c, Call::Close(_))), 2);
    assert!(s.engine.remote_screens().is_empty());
    assert!(matches!(
        s.engine.subscribe_video(REMOTE, profile(2000)),
        Err(MediaError::UnknownScreen(_))
    ));
    assert!(matches!(
        s.engine.subscribe_jpeg(REMOTE, JpegProfile::default()),
        Err(MediaError::UnknownScreen(_))
    ));
    drop((video, pictures));
    assert_eq!(
        s.up.count(|c| matches!(c, Call::Close(_))),
        2,
        "closed once"
    );
}

#[tokio::test]
async fn the_far_end_ending_a_stream_ends_its_subscribers_and_the_next_one_reopens() {
    let s = setup();
    let mut a = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let old = s.up.video_sink(0);
    old.end("encoder failed on the device");
    assert!(old.is_closed());
    assert!(timeout(WAIT, a.recv()).await.unwrap().is_none());
    let _b = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let new = s.up.video_sink(1);
    assert_ne!(new.id(), old.id());
    drop(a);
    assert_eq!(
        s.up.count(|c| matches!(c, Call::Close(_))),
        0,
        "an ended stream is not closed"
    );
    let mut pictures = s
        .engine
        .subscribe_jpeg(REMOTE, JpegProfile::default())
        .unwrap();
    s.up.jpeg_sink(0).end("gone");
    assert!(timeout(WAIT, pictures.changed()).await.unwrap().is_none());
}

#[tokio::test]
async fn add_remote_replaces_a_screen_and_ends_its_old_subscriptions() {
    let s = setup();
    let mut a = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let old_id = s.up.video_sink(0).id();
    let up2 = Arc::new(FakeUpstream::default());
    s.engine
        .add_remote(remote_info(REMOTE), Arc::clone(&up2) as Arc<dyn Upstream>);
    assert!(timeout(WAIT, a.recv()).await.unwrap().is_none());
    assert_eq!(s.up.calls().last(), Some(&Call::Close(old_id)));
    let _b = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    assert_eq!(up2.count(|c| matches!(c, Call::OpenVideo(..))), 1);
    drop(a);
    assert!(up2.calls().iter().all(|c| !matches!(c, Call::Close(_))));
    assert_eq!(s.engine.remote_screens().len(), 1);
}

#[tokio::test]
async fn frames_stills_and_input_of_a_remote_screen_are_refused_clearly() {
    let s = setup();
    let check = |e: MediaError| {
        let MediaError::Unavailable(msg) = &e else {
            panic!("not Unavailable: {e}");
        };
        assert!(
            msg.starts_with(&format!("screen \"{REMOTE}\" is a remote screen: ")),
            "{msg}"
        );
    };
    check(s.engine.subscribe_frames(REMOTE).unwrap_err());
    check(s.engine.subscribe_cursor(REMOTE).unwrap_err());
    check(s.engine.snapshot(REMOTE).await.unwrap_err());
    check(s.engine.snapshot_with_cursor(REMOTE).await.unwrap_err());
    let still = StillRequest {
        region: None,
        include_cursor: false,
        encoding: StillEncoding::Png { max_width: None },
    };
    check(s.engine.still(REMOTE, still).await.unwrap_err());
    let click = InputEvent::PointerMove { x: 1, y: 1 };
    check(s.engine.inject(REMOTE, click.clone()).await.unwrap_err());
    check(s.engine.inject_all(REMOTE, vec![click]).await.unwrap_err());
    assert_eq!(
        s.desktop.uses.load(Relaxed),
        0,
        "the backend was never touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_screen_works_alongside() {
    let s = setup();
    let _remote = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    let mut local = s.engine.subscribe_video("0", profile(2000)).unwrap();
    let first = timeout(WAIT, local.recv()).await.unwrap().unwrap();
    assert!(first.keyframe);
    assert_eq!(local.screen().source, SourceKind::Synthetic);
    let frames = s.engine.subscribe_frames("0").unwrap();
    assert_eq!(frames.screen().id, "0");
    s.engine.shutdown();
}

#[tokio::test]
async fn shutdown_ends_relayed_streams() {
    let s = setup();
    let mut a = s.engine.subscribe_video(REMOTE, profile(2000)).unwrap();
    s.engine.shutdown();
    assert!(timeout(WAIT, a.recv()).await.unwrap().is_none());
    assert_eq!(s.up.count(|c| matches!(c, Call::Close(_))), 1);
    assert!(matches!(
        s.engine.subscribe_video(REMOTE, profile(2000)),
        Err(MediaError::Stopped)
    ));
}

#[test]
fn concurrent_subscribers_open_and_close_each_stream_exactly_once() {
    let s = setup();
    let pusher_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let (up, stop) = (Arc::clone(&s.up), Arc::clone(&pusher_stop));
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                let sink = up.video.lock().last().cloned();
                if let Some(sink) = sink {
                    sink.push(au(true));
                    sink.push(au(false));
                }
                std::thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let (engine, up) = (s.engine.clone(), Arc::clone(&s.up));
            std::thread::spawn(move || {
                for n in 0..200 {
                    let sub = engine.subscribe_video(REMOTE, profile(2000)).unwrap();
                    sub.set_desired_bitrate(Some(1000 + n));
                    if (i + n) % 3 == 0 {
                        sub.request_keyframe();
                    }
                    if n % 50 == 0 && i == 0 {
                        // Replacing the screen (same far end) closes its streams under the subscribers' feet.
                        engine
                            .add_remote(remote_info(REMOTE), Arc::clone(&up) as Arc<dyn Upstream>);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    pusher_stop.store(true, Relaxed);
    pusher.join().unwrap();
    let opens = s.up.count(|c| matches!(c, Call::OpenVideo(..)));
    let closes = s.up.count(|c| matches!(c, Call::Close(_)));
    assert!(opens > 0);
    assert_eq!(opens, closes, "every opened stream closed once");
    let mut closed: Vec<_> =
        s.up.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Close(id) => Some(id),
                _ => None,
            })
            .collect();
    closed.sort_unstable();
    closed.dedup();
    assert_eq!(closed.len(), closes, "no stream closed twice");
    assert!(s.monitor.pipelines().iter().all(|p| p.kind != "relay"));
}
