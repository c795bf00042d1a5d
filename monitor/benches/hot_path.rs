//! Cost of the calls media and the transports make per frame or per event: pipeline `record_*`, connection
//! `dropped`/`update_counters`, an operation guard, and a `/metrics` scrape. Run with
//! `cargo bench -p sightline-monitor --bench hot_path`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sightline_monitor::{ConnectionAttrs, ConnectionKind, Monitor, MonitorConfig, PipelineKey};

fn key(profile: &str) -> PipelineKey {
    PipelineKey {
        screen: "0".into(),
        kind: "h264".into(),
        profile: profile.into(),
    }
}

fn hot_path(c: &mut Criterion) {
    let m = Monitor::new(MonitorConfig::default());
    let p = m.pipeline(key("720p"));
    let conn = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());

    c.bench_function("pipeline.record_encode", |b| {
        b.iter(|| p.record_encode(black_box(4.2), black_box(2400), false))
    });
    c.bench_function("pipeline.record_capture", |b| {
        b.iter(|| p.record_capture(black_box(0.7)))
    });
    c.bench_function("pipeline.record_drop", |b| {
        b.iter(|| p.record_drop(black_box("queue_full")))
    });
    c.bench_function("connection.dropped", |b| {
        b.iter(|| conn.dropped(black_box("queue_full"), 1))
    });
    c.bench_function("connection.update_counters", |b| {
        b.iter(|| conn.update_counters(|k| k.packets_sent += black_box(1)))
    });
    c.bench_function("operation start+ok", |b| {
        b.iter(|| m.operation("keyframe_request", None).ok())
    });
}

fn scrape(c: &mut Criterion) {
    let m = Monitor::new(MonitorConfig::default());
    let _pipes: Vec<_> = ["360p", "720p", "1080p"]
        .into_iter()
        .map(|p| {
            let h = m.pipeline(key(p));
            for i in 0..200 {
                h.record_encode(f64::from(i % 20), 2000, i % 50 == 0);
                h.record_capture(0.7);
            }
            h
        })
        .collect();
    let _conns: Vec<_> = (0..50)
        .map(|_| m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default()))
        .collect();
    for _ in 0..100 {
        m.operation("create_offer", None).ok();
        m.operation("set_remote_description", None).ok();
    }
    c.bench_function("prometheus_text (3 pipelines, 50 connections)", |b| {
        b.iter(|| black_box(m.prometheus_text()))
    });
    c.bench_function("summary (50 connections)", |b| {
        b.iter(|| black_box(m.summary()))
    });
}

criterion_group!(benches, hot_path, scrape);
criterion_main!(benches);
