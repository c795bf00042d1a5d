//! Media pipeline benchmarks (criterion): median milliseconds per frame at 1280×720 and 1920×1080 for
//! - the synthetic screen (target ≤ 1 ms at 1080p),
//! - BGRA→I420 conversion, full size and downscaled,
//! - H.264 encode, P and IDR frames, camera and screen usage,
//! - JPEG encode, the 960-wide q50 preview and the full-size q90 HQ frame (targets ≤ 2 ms and ≤ 8 ms at 1080p),
//! - the whole path synthetic → BGRA → I420 → H.264 (target ≤ 8 ms per changed 1080p frame).
//!
//! Content is the synthetic screen: a desktop-like picture (windows full of small text glyphs, flat areas, a
//! taskbar) with a moving window, a scrolling terminal, a moving gradient bar and changing barcodes/text, so P
//! frames carry real motion. Run with `cargo bench -p sightline-media --bench pipeline`; a table of medians
//! (read back from criterion's estimates) is printed at the end.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion};
use sightline_media::convert::{I420Buffer, bgra_to_i420};
use sightline_media::h264::{H264Encoder, H264Settings, Usage};
use sightline_media::jpeg::JpegEncoder;
use sightline_media::synthetic::{SyntheticDesktop, SyntheticSource};
use sightline_media::{Desktop, Frame, InputEvent};

const SIZES: [(u32, u32); 2] = [(1280, 720), (1920, 1080)];
/// Distinct consecutive frames encoded in a loop by the P-frame benchmarks (each held as I420).
const P_SEQUENCE: usize = 30;

fn label((w, h): (u32, u32)) -> String {
    format!("{w}x{h}")
}

fn source(size: (u32, u32)) -> SyntheticSource {
    let desktop = SyntheticDesktop::new(size.0, size.1);
    desktop
        .inject(
            "0",
            &InputEvent::PointerMove {
                x: size.0 / 3,
                y: size.1 / 2,
            },
        )
        .unwrap();
    desktop
        .inject(
            "0",
            &InputEvent::Text {
                text: "benchmark typing".into(),
            },
        )
        .unwrap();
    let mut src = desktop.source();
    // Warm the buffer pool: steady state reuses buffers.
    for _ in 0..8 {
        src.render(SystemTime::now());
    }
    src
}

fn frames(size: (u32, u32), n: usize) -> Vec<Frame> {
    let mut src = source(size);
    (0..n).map(|_| src.render(SystemTime::now())).collect()
}

fn settings(size: (u32, u32), usage: Usage) -> H264Settings {
    H264Settings {
        width: size.0,
        height: size.1,
        fps: 30,
        bitrate_kbps: 4000,
        usage,
        // Time every picture's encoding: a skipped one would take no time.
        frame_skip: false,
    }
}

fn usage_name(u: Usage) -> &'static str {
    u.as_str()
}

fn bench_synthetic(c: &mut Criterion) {
    let mut g = c.benchmark_group("synthetic_render");
    for size in SIZES {
        let mut src = source(size);
        g.bench_function(BenchmarkId::from_parameter(label(size)), |b| {
            b.iter(|| black_box(src.render(SystemTime::now())))
        });
    }
    g.finish();
}

fn bench_convert(c: &mut Criterion) {
    let mut g = c.benchmark_group("convert_bgra_to_i420");
    for size in SIZES {
        let frame = frames(size, 1).remove(0);
        let mut out = I420Buffer::new();
        g.bench_function(BenchmarkId::new("full", label(size)), |b| {
            b.iter(|| bgra_to_i420(black_box(&frame), None, &mut out).unwrap())
        });
        for max in [960u32, 1280] {
            if max < size.0 {
                g.bench_function(BenchmarkId::new(format!("to_w{max}"), label(size)), |b| {
                    b.iter(|| bgra_to_i420(black_box(&frame), Some(max), &mut out).unwrap())
                });
            }
        }
    }
    g.finish();
}

fn bench_h264(c: &mut Criterion) {
    let mut g = c.benchmark_group("h264_encode");
    g.sample_size(20);
    for size in SIZES {
        let pictures: Vec<(I420Buffer, SystemTime)> = frames(size, P_SEQUENCE)
            .iter()
            .map(|f| {
                let mut p = I420Buffer::new();
                bgra_to_i420(f, None, &mut p).unwrap();
                (p, f.captured_at)
            })
            .collect();
        for usage in [Usage::Camera, Usage::Screen] {
            for idr in [false, true] {
                let mut enc = H264Encoder::new(settings(size, usage)).unwrap();
                let mut i = 0usize;
                let kind = if idr { "idr" } else { "p" };
                g.bench_function(
                    BenchmarkId::new(format!("{}_{kind}", usage_name(usage)), label(size)),
                    |b| {
                        b.iter(|| {
                            let (pic, at) = &pictures[i % P_SEQUENCE];
                            i += 1;
                            black_box(enc.encode(pic, idr, *at).unwrap())
                        })
                    },
                );
            }
        }
    }
    g.finish();
}

fn bench_jpeg(c: &mut Criterion) {
    let mut g = c.benchmark_group("jpeg_encode");
    g.sample_size(30);
    for size in SIZES {
        let frame = frames(size, 1).remove(0);
        let mut enc = JpegEncoder::new().unwrap();
        // The fallback's defaults: the `[preview]` stream (quality 50, 960 wide) and an HQ frame (quality 90, full
        // size).
        g.bench_function(BenchmarkId::new("preview_w960_q50", label(size)), |b| {
            b.iter(|| black_box(enc.encode(&frame, 50, Some(960)).unwrap()))
        });
        g.bench_function(BenchmarkId::new("hq_full_q90", label(size)), |b| {
            b.iter(|| black_box(enc.encode(&frame, 90, None).unwrap()))
        });
    }
    g.finish();
}

fn bench_whole_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("whole_path_synthetic_i420_h264");
    g.sample_size(20);
    for size in SIZES {
        for usage in [Usage::Camera, Usage::Screen] {
            let mut src = source(size);
            let mut picture = I420Buffer::new();
            let mut enc = H264Encoder::new(settings(size, usage)).unwrap();
            g.bench_function(BenchmarkId::new(usage_name(usage), label(size)), |b| {
                b.iter(|| {
                    let frame = src.render(SystemTime::now());
                    bgra_to_i420(&frame, None, &mut picture).unwrap();
                    black_box(enc.encode(&picture, false, frame.captured_at).unwrap())
                })
            });
        }
    }
    g.finish();
}

/// criterion's output folder: `$CRITERION_HOME`, else `<target>/criterion` next to this executable's profile dir.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/pipeline-<hash>
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// Prints the median of every benchmark of this file, in ms, from criterion's saved estimates.
fn print_medians() {
    let Some(dir) = criterion_dir() else { return };
    let groups = [
        "synthetic_render",
        "convert_bgra_to_i420",
        "h264_encode",
        "jpeg_encode",
        "whole_path_synthetic_i420_h264",
    ];
    println!(
        "\nmedian ms per frame (criterion estimates, {})",
        dir.display()
    );
    for group in groups {
        let mut rows = Vec::new();
        collect_estimates(&dir.join(group), group, &mut rows);
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, ms) in rows {
            println!("  {name:<60} {ms:>8.3}");
        }
    }
}

fn collect_estimates(dir: &std::path::Path, name: &str, rows: &mut Vec<(String, f64)>) {
    let est = dir.join("new").join("estimates.json");
    if let Ok(text) = std::fs::read_to_string(&est)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(ns) = v["median"]["point_estimate"].as_f64()
    {
        rows.push((name.to_owned(), ns / 1e6));
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() && file_name != "report" && file_name != "new" && file_name != "base" {
            collect_estimates(&e.path(), &format!("{name}/{file_name}"), rows);
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_synthetic(&mut c);
    bench_convert(&mut c);
    bench_jpeg(&mut c);
    bench_h264(&mut c);
    bench_whole_path(&mut c);
    c.final_summary();
    print_medians();
}
