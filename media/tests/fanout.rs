//! One encoder, fifty subscribers, one deliberately slow: the slow one skips to the next IDR, the others receive
//! every frame, the slow one's queue stays bounded, and the pipeline stops when the last subscriber leaves.

use std::sync::Arc;
use std::time::Duration;

use sightline_media::engine::{Engine, EngineConfig, VideoProfile, VideoSubscription};
use sightline_media::fanout::SUBSCRIBER_QUEUE;
use sightline_media::h264::Usage;
use sightline_media::synthetic::SyntheticDesktop;
use sightline_monitor::{Monitor, MonitorConfig};
use tokio::time::{Instant, sleep, sleep_until};

const SUBSCRIBERS: usize = 50;
const FPS: u32 = 15;
const RUN: Duration = Duration::from_secs(4);
const SLOW_STALL: Duration = Duration::from_millis(1500);

/// (seq, keyframe) of everything a subscriber received before `until`.
async fn collect(sub: &mut VideoSubscription, until: Instant) -> Vec<(u64, bool)> {
    let mut got = Vec::new();
    loop {
        tokio::select! {
            au = sub.recv() => match au {
                Some(au) => got.push((au.seq, au.keyframe)),
                None => panic!("pipeline ended early"),
            },
            _ = sleep_until(until) => return got,
        }
    }
}

fn h264_pipelines(monitor: &Monitor) -> Vec<sightline_monitor::PipelineSnapshot> {
    monitor
        .pipelines()
        .into_iter()
        .filter(|p| p.kind == "h264")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_skips_to_the_next_idr_while_the_others_get_every_frame() {
    let monitor = Monitor::new(MonitorConfig::default());
    let desktop = Arc::new(SyntheticDesktop::new(320, 240));
    let engine = Engine::new(
        desktop,
        EngineConfig {
            fps: FPS,
            ..EngineConfig::default()
        },
        monitor.clone(),
    );
    let profile = VideoProfile {
        bitrate_kbps: 500,
        max_width: None,
        usage: Usage::Camera,
    };
    let mut subs: Vec<VideoSubscription> = (0..SUBSCRIBERS)
        .map(|_| engine.subscribe_video("0", profile).unwrap())
        .collect();

    // Encode once: one pipeline for all fifty.
    let pipes = h264_pipelines(&monitor);
    assert_eq!(pipes.len(), 1, "one encoder for one profile");
    assert_eq!(pipes[0].subscribers, SUBSCRIBERS as u64);

    let until = Instant::now() + RUN;
    let mut slow = subs.pop().unwrap();
    let slow_task = tokio::spawn(async move {
        // Take the first unit, stall without reading, then read normally again.
        let first = slow.recv().await.expect("first unit");
        let mut got = vec![(first.seq, first.keyframe)];
        sleep(SLOW_STALL).await;
        let queued_after_stall = slow.stats().received - 1;
        got.extend(collect(&mut slow, until).await);
        (slow, got, queued_after_stall)
    });
    let fast_tasks: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            tokio::spawn(async move {
                let got = collect(&mut sub, until).await;
                (sub, got)
            })
        })
        .collect();

    let mut fast = Vec::new();
    for t in fast_tasks {
        fast.push(t.await.unwrap());
    }
    let (slow, slow_got, queued_after_stall) = slow_task.await.unwrap();

    // The fast ones: start at an IDR, then every unit without a gap, nothing dropped.
    let min_frames = (RUN.as_secs_f64() * f64::from(FPS) * 0.5) as usize;
    for (i, (sub, got)) in fast.iter().enumerate() {
        assert!(
            got.len() >= min_frames,
            "subscriber {i} got only {} units",
            got.len()
        );
        assert!(got[0].1, "subscriber {i} starts with an IDR");
        for w in got.windows(2) {
            assert_eq!(
                w[1].0,
                w[0].0 + 1,
                "subscriber {i} missed units between {} and {}",
                w[0].0,
                w[1].0
            );
        }
        let stats = sub.stats();
        assert_eq!(stats.dropped, 0, "subscriber {i} dropped units");
        assert_eq!(stats.received as usize, got.len());
    }
    // All fast subscribers saw the same units.
    let reference = &fast[0].1;
    for (i, (_, got)) in fast.iter().enumerate() {
        let common_start = got[0].0.max(reference[0].0);
        let common_end = got.last().unwrap().0.min(reference.last().unwrap().0);
        let a: Vec<_> = got
            .iter()
            .filter(|u| (common_start..=common_end).contains(&u.0))
            .collect();
        let b: Vec<_> = reference
            .iter()
            .filter(|u| (common_start..=common_end).contains(&u.0))
            .collect();
        assert_eq!(a, b, "subscriber {i} saw different units");
    }

    // The slow one: its queue stayed bounded during the stall, it dropped, and after the gap it resumed at an IDR.
    assert!(
        queued_after_stall <= SUBSCRIBER_QUEUE as u64,
        "{queued_after_stall} units queued for a stalled subscriber (bound {SUBSCRIBER_QUEUE})"
    );
    let stats = slow.stats();
    assert!(
        stats.dropped >= 1,
        "the stalled subscriber dropped nothing: {stats:?}"
    );
    let gap = slow_got
        .windows(2)
        .position(|w| w[1].0 != w[0].0 + 1)
        .expect("the stalled subscriber's units have a gap");
    assert!(
        slow_got[gap + 1].1,
        "after the gap it resumes at an IDR: {slow_got:?}"
    );
    assert!(slow_got.len() > gap + 2, "it keeps receiving after the IDR");

    // Its lag caused a keyframe for everyone, and requests were coalesced: far fewer IDRs than requests.
    let keyframes = reference.iter().filter(|u| u.1).count();
    assert!(keyframes >= 2, "the lag triggered a new IDR ({keyframes})");
    let pipe = &h264_pipelines(&monitor)[0];
    assert!(
        pipe.keyframes_total < pipe.keyframe_requests_total,
        "{} IDRs for {} requests",
        pipe.keyframes_total,
        pipe.keyframe_requests_total
    );
    assert!(
        pipe.keyframes_total as f64 <= RUN.as_secs_f64() / 0.3 + 2.0,
        "IDRs are rate limited"
    );

    // Last one out stops the pipeline and the capture; their threads end.
    drop(fast);
    drop(slow);
    let stop_deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live: Vec<String> = monitor.tasks().live.into_iter().map(|t| t.name).collect();
        let media_threads: Vec<&String> = live
            .iter()
            .filter(|n| n.starts_with("h264-") || n.starts_with("capture-"))
            .collect();
        if media_threads.is_empty() {
            break;
        }
        assert!(
            Instant::now() < stop_deadline,
            "pipeline threads still alive: {media_threads:?}"
        );
        sleep(Duration::from_millis(50)).await;
    }
    assert!(
        h264_pipelines(&monitor).is_empty(),
        "the pipeline's statistics are unregistered"
    );
    engine.shutdown();
}
