//! Benchmark, not a test (ignored; run by `scripts/bench-network.sh` with a release build): sightline on real,
//! constrained paths, side by side with itself without congestion control and with the best peer there is —
//! Chromium sending to Chromium (libwebrtc's own GCC, pacer and encoder rate control) — under the same shaping,
//! in one run (issue 10, "Benchmark").
//!
//! Per screen size (1280×720, 1920×1080) and scenario, each sender gets a fresh viewer in a viewer namespace:
//! - `uncapped`; `cap1500` and `cap600` (a `tbf` cap from the start); `loss5` (5 % random UDP loss on arrival);
//! - `switch`: an 8 Mbit/s cap, switched to 1 Mbit/s and back mid-run.
//!
//! Senders: `cc` (sightline, `[congestion] enabled = true`), `nocc` (`enabled = false`: today's behaviour) and
//! `chromium` (tests/e2e/c2c_sender.html painting the same kind of noise and barcode on a canvas). Figures per
//! run, over the measured window after a short settle: glass-to-glass latency p50/p95 (barcode time → expected
//! display, as web/js/latency.js), decoded fps, longest freeze (no new picture presented), received kbit/s; for
//! `switch`, time to adapt down (the first second from which latency is back near its pre-drop level with
//! frames flowing, for 3 s) and time to recover (full width and ≥ 80 % of the pre-drop bitrate, for 3 s). Then
//! ratios sightline/Chromium. Results also go to `target/bench-network/<time>.json`.
//!
//! Environment (the script's flags set them): `SIGHTLINE_BENCH_QUICK=1` (720p only, 10 s windows, no 600k),
//! `SIGHTLINE_BENCH_SENDERS=cc,nocc,chromium`, `SIGHTLINE_BENCH_SIZES=720,1080`,
//! `SIGHTLINE_BENCH_SCENARIOS=uncapped,cap1500,cap600,loss5,switch`, `SIGHTLINE_BENCH_SECONDS=30`,
//! `SIGHTLINE_BENCH_C2C_HINT=motion|detail|text` (the Chromium sender track's `contentHint`; default none).
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::netrig::NetRig;
use common::netview::{Figures, Samples, now_ms, percentile};
use common::noise::NoiseSpec;
use serde_json::{Value, json};

/// Not measured: the viewer connects and its first estimate settles.
const SETTLE: Duration = Duration::from_secs(3);
/// sightline's ceiling (`[video] bitrate_kbps` default) is also the Chromium sender's `maxBitrate`.
const MAX_KBPS: u32 = 4000;
/// The switch scenario: high cap, low cap, when the low one applies and when it lifts. Fixed times, also in quick
/// mode: the low phase must be longer than the 2 s the issue allows to adapt down (plus [`SUSTAIN_SAMPLES`]),
/// and the last phase longer than the 10 s it allows to recover.
const SWITCH_HIGH_KBPS: u32 = 8000;
const SWITCH_LOW_KBPS: u32 = 1000;
const SWITCH_DOWN_AT: Duration = Duration::from_secs(8);
const SWITCH_UP_AT: Duration = Duration::from_secs(18);
const SWITCH_WINDOW: Duration = Duration::from_secs(30);
/// "Adapted down": the per-second median latency is within the latency target under a cap (or twice the
/// pre-drop latency, if that is higher).
const ADAPTED_LATENCY_MS: f64 = 150.0;
/// "Adapted" and "recovered" must hold this many one-second samples.
const SUSTAIN_SAMPLES: usize = 3;
/// "Frames flowing" in a one-second sample: pictures presented.
const FLOWING_PICTURES: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Uncapped,
    Cap(u32),
    Loss(f64),
    Switch,
}

impl Scenario {
    fn name(self) -> String {
        match self {
            Self::Uncapped => "uncapped".into(),
            Self::Cap(k) => format!("cap{k}"),
            Self::Loss(p) => format!("loss{p}"),
            Self::Switch => "switch".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sender {
    Cc,
    NoCc,
    Chromium,
}

impl Sender {
    fn name(self) -> &'static str {
        match self {
            Self::Cc => "cc",
            Self::NoCc => "nocc",
            Self::Chromium => "chromium",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Cc => "sightline (cc on)",
            Self::NoCc => "sightline (cc off)",
            Self::Chromium => "chromium→chromium",
        }
    }
}

/// One measured run.
#[derive(Clone, Debug, Default)]
struct Run {
    figures: Figures,
    /// Switch only: seconds to adapt down / to recover; None = not within the phase.
    adapt_s: Option<f64>,
    recover_s: Option<f64>,
    /// Switch, sightline only: seconds until the gateway's `network` message left / returned to tier 0.
    tier_down_s: Option<f64>,
    tier_up_s: Option<f64>,
    codec: String,
    /// sightline only: when the viewer page switched to the JPEG fallback, s from the window's start (negative:
    /// during the settle), and the gateway's reason if it sent one. The figures count video only.
    jpeg_at_s: Option<f64>,
    jpeg_reason: Option<String>,
    extra: Value,
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
#[ignore = "a benchmark: scripts/bench-network.sh runs it with a release build"]
fn bench_network() {
    let quick = std::env::var("SIGHTLINE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let seconds: u64 = std::env::var("SIGHTLINE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 10 } else { 30 });
    let senders: Vec<Sender> = env_list("SIGHTLINE_BENCH_SENDERS", "cc,nocc,chromium")
        .iter()
        .map(|s| match s.as_str() {
            "cc" => Sender::Cc,
            "nocc" => Sender::NoCc,
            "chromium" => Sender::Chromium,
            other => panic!("unknown sender {other} (cc, nocc, chromium)"),
        })
        .collect();
    let sizes = env_list(
        "SIGHTLINE_BENCH_SIZES",
        if quick { "720" } else { "720,1080" },
    );
    let scenarios: Vec<Scenario> = env_list(
        "SIGHTLINE_BENCH_SCENARIOS",
        if quick {
            "uncapped,cap1500,loss5,switch"
        } else {
            "uncapped,cap1500,cap600,loss5,switch"
        },
    )
    .iter()
    .map(|s| match s.as_str() {
        "uncapped" => Scenario::Uncapped,
        "switch" => Scenario::Switch,
        s if s.starts_with("cap") => Scenario::Cap(s[3..].parse().expect("capNNN in kbit/s")),
        s if s.starts_with("loss") => Scenario::Loss(s[4..].parse().expect("lossN in %")),
        other => panic!("unknown scenario {other}"),
    })
    .collect();
    let window = Duration::from_secs(seconds);
    println!(
        "network benchmark: senders {:?}, sizes {sizes:?}, scenarios {:?}, {seconds} s each after {SETTLE:?} \
         settle; {} build; load average {}",
        senders.iter().map(|s| s.name()).collect::<Vec<_>>(),
        scenarios.iter().map(|s| s.name()).collect::<Vec<_>>(),
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        },
        load_average()
    );
    let mut all = Vec::new();
    for size in &sizes {
        let screen = match size.as_str() {
            "720" => 1,
            "1080" => 0,
            other => panic!("unknown size {other} (720, 1080)"),
        };
        let spec = NoiseSpec {
            screen,
            ..NoiseSpec::default()
        };
        let mut rig = NetRig::new(1, spec);
        let (w, h) = rig.size();
        let mut results: BTreeMap<(String, &'static str), Run> = BTreeMap::new();
        for &scenario in &scenarios {
            for &sender in &senders {
                let run = measure(&mut rig, spec, sender, scenario, window);
                println!(
                    "{w}x{h} {:<9} {:<9} {}",
                    scenario.name(),
                    sender.name(),
                    one_line(&run)
                );
                all.push(json!({
                    "size": format!("{w}x{h}"), "scenario": scenario.name(), "sender": sender.name(),
                    "p50_ms": run.figures.p50_ms, "p95_ms": run.figures.p95_ms, "fps": run.figures.fps,
                    "longest_freeze_ms": run.figures.longest_freeze_ms, "kbps": run.figures.kbps,
                    "presented": run.figures.presented, "adapt_s": run.adapt_s, "recover_s": run.recover_s,
                    "tier_down_s": run.tier_down_s, "tier_up_s": run.tier_up_s, "codec": run.codec,
                    "jpeg_at_s": run.jpeg_at_s, "jpeg_reason": run.jpeg_reason,
                    "extra": run.extra,
                }));
                results.insert((scenario.name(), sender.name()), run);
            }
        }
        print_table(&format!("{w}x{h}"), &scenarios, &senders, &results);
        if senders.contains(&Sender::Cc) {
            print_targets("cc", &results);
        }
    }
    let dir = common::root().join("target/bench-network");
    std::fs::create_dir_all(&dir).expect("create target/bench-network");
    let path = dir.join(format!("{}.json", now_ms() as u64));
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("JSON"))
        .expect("write results");
    println!(
        "\nresults: {} (load average at the end {})",
        path.display(),
        load_average()
    );
}

fn measure(
    rig: &mut NetRig,
    spec: NoiseSpec,
    sender: Sender,
    scenario: Scenario,
    window: Duration,
) -> Run {
    match scenario {
        Scenario::Uncapped | Scenario::Switch => {}
        Scenario::Cap(k) => rig.topo.cap(0, k),
        Scenario::Loss(p) => rig.topo.set_loss(0, p),
    }
    if scenario == Scenario::Switch {
        rig.topo.cap(0, SWITCH_HIGH_KBPS);
    }
    let (node, name) = match sender {
        Sender::Cc | Sender::NoCc => {
            if rig.painted() == 0 {
                rig.resume_noise(spec);
            }
            let on = sender == Sender::Cc;
            // SIGHTLINE_BENCH_CC_EXTRA: more [congestion] keys for the cc sender (e.g. `prefer = "motion"`).
            let extra = match sender {
                Sender::Cc => std::env::var("SIGHTLINE_BENCH_CC_EXTRA").unwrap_or_default(),
                _ => String::new(),
            };
            rig.start_gateway(&format!("[congestion]\nenabled = {on}\n{extra}\n"));
            (rig.open_viewers(&[(0, "v")]), "v")
        }
        Sender::Chromium => {
            rig.stop_gateway();
            rig.pause_noise();
            let hint = std::env::var("SIGHTLINE_BENCH_C2C_HINT").unwrap_or_default();
            (rig.open_c2c(0, spec, MAX_KBPS, &hint), "c2c")
        }
    };
    std::thread::sleep(SETTLE);
    let from = now_ms();
    let (mut down_at, mut up_at) = (None, None);
    let window = if scenario == Scenario::Switch {
        SWITCH_WINDOW
    } else {
        window
    };
    let start = Instant::now();
    while start.elapsed() < window {
        let elapsed = start.elapsed();
        if scenario == Scenario::Switch && down_at.is_none() && elapsed >= SWITCH_DOWN_AT {
            rig.topo.cap(0, SWITCH_LOW_KBPS);
            down_at = Some(now_ms());
        }
        if scenario == Scenario::Switch && up_at.is_none() && elapsed >= SWITCH_UP_AT {
            rig.topo.cap(0, SWITCH_HIGH_KBPS);
            up_at = Some(now_ms());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let to = now_ms();
    let lines = node.stop();
    rig.topo.uncap(0);
    rig.topo.set_loss(0, 0.0);
    let samples = Samples(
        lines
            .into_iter()
            .filter(|l| l["event"] == "sample" && l["viewer"] == name)
            .collect(),
    );
    let mut run = Run {
        figures: samples.figures(from, to),
        codec: samples
            .0
            .last()
            .and_then(|s| s["codec"].as_str())
            .unwrap_or("-")
            .to_owned(),
        extra: samples.0.last().map_or(Value::Null, |s| {
            json!({"network": s["network"], "watching": s["watching"], "fallback": s["fallback"],
                   "sender": s["sender"], "nackCount": s["nackCount"],
                   "pliCount": s["pliCount"], "packetsLost": s["packetsLost"]})
        }),
        ..Run::default()
    };
    if let Some(jpeg) = samples.0.iter().find(|x| x["watching"] == "jpeg") {
        run.jpeg_at_s = jpeg["t"]
            .as_f64()
            .map(|t| ((t - from) / 100.0).round() / 10.0);
        run.jpeg_reason = samples
            .0
            .iter()
            .find_map(|x| x["fallback"]["reason"].as_str())
            .map(str::to_owned);
    }
    if let (Some(down), Some(up)) = (down_at, up_at) {
        switch_times(&samples, from, down, up, to, &mut run);
        run.extra["down_at_s"] = json!((down - from) / 1000.0);
        run.extra["up_at_s"] = json!((up - from) / 1000.0);
    }
    // Second by second, for plots and for explaining a figure: [s from the window's start, kbit/s, width,
    // median latency ms, pictures, the gateway's tier (sightline only)].
    run.extra["series"] = intervals(&samples)
        .into_iter()
        .filter(|i| i.end >= from && i.end <= to)
        .map(|i| {
            let at = ((i.end - from) / 100.0).round() / 10.0;
            json!([at, i.kbps.round(), i.width, i.p50_ms, i.pictures, i.tier])
        })
        .collect();
    run
}

/// What one sample interval (about a second) showed.
#[derive(Clone, Debug)]
struct Interval {
    /// Wall-clock ms at its end.
    end: f64,
    kbps: f64,
    /// Decoded frame width at its end (0 before the first frame).
    width: f64,
    /// Median glass-to-glass latency of the pictures presented in it (NaN without any).
    p50_ms: f64,
    pictures: usize,
    /// The gateway's tier from its last `network` message (sightline only; null otherwise).
    tier: Value,
}

fn intervals(s: &Samples) -> Vec<Interval> {
    s.0.windows(2)
        .filter_map(|w| {
            let (t0, t1) = (w[0]["t"].as_f64()?, w[1]["t"].as_f64()?);
            let bytes = |x: &Value| x["bytesReceived"].as_f64().unwrap_or(0.0);
            let mut lat: Vec<f64> = s.latency(t0, t1).iter().map(|l| l.1).collect();
            lat.sort_by(f64::total_cmp);
            Some(Interval {
                end: t1,
                kbps: (bytes(&w[1]) - bytes(&w[0])).max(0.0) * 8.0 / (t1 - t0).max(1.0),
                width: w[1]["frameWidth"].as_f64().unwrap_or(0.0),
                p50_ms: percentile(&lat, 50.0),
                pictures: lat.len(),
                tier: w[1]["network"]["tier"].clone(),
            })
        })
        .collect()
}

/// The first interval ending after `after` that starts a run of [`SUSTAIN_SAMPLES`] intervals (or until
/// `until`) satisfying `ok`; returns seconds from `after` to that interval's end.
fn sustained(
    iv: &[Interval],
    after: f64,
    until: f64,
    ok: impl Fn(&Interval) -> bool,
) -> Option<f64> {
    let phase: Vec<_> = iv
        .iter()
        .filter(|i| i.end > after && i.end <= until)
        .collect();
    // Near the phase's end a shorter run counts: the phase is what there is to hold it in.
    (0..phase.len()).find_map(|k| {
        let run = &phase[k..(k + SUSTAIN_SAMPLES).min(phase.len())];
        run.iter()
            .all(|i| ok(i))
            .then(|| (phase[k].end - after) / 1000.0)
    })
}

fn switch_times(s: &Samples, from: f64, down: f64, up: f64, to: f64, run: &mut Run) {
    let iv = intervals(s);
    let pre = s.figures((down - 5000.0).max(from), down);
    let lat_ok = if pre.p50_ms.is_finite() {
        ADAPTED_LATENCY_MS.max(2.0 * pre.p50_ms)
    } else {
        ADAPTED_LATENCY_MS
    };
    // No bitrate test: what arrives through the cap is below it by construction; a sender that has not adapted
    // shows as a queue, i.e. latency.
    run.adapt_s = sustained(&iv, down, up, |i| {
        i.pictures >= FLOWING_PICTURES && i.p50_ms <= lat_ok
    });
    let (w0, k0) = (pre.width, pre.kbps);
    run.recover_s = sustained(&iv, up, to, |i| {
        w0 > 0.0 && i.width >= w0 && i.kbps >= 0.8 * k0
    });
    // The gateway's own word, for sightline: the `network` message's tier.
    let tier_at = |t0: f64, t1: f64, want_top: bool| {
        s.0.iter()
            .filter(|x| x["t"].as_f64().is_some_and(|t| t > t0 && t <= t1))
            .find(|x| {
                x["network"]["tier"]
                    .as_u64()
                    .is_some_and(|t| (t == 0) == want_top)
            })
            .and_then(|x| x["t"].as_f64())
            .map(|t| (t - t0) / 1000.0)
    };
    run.tier_down_s = tier_at(down, up, false);
    run.tier_up_s = tier_at(up, to, true);
}

fn fmt(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

fn fmt_s(v: Option<f64>) -> String {
    v.map_or("never".into(), |v| format!("{v:.1}"))
}

fn one_line(r: &Run) -> String {
    let f = &r.figures;
    let mut s = format!(
        "p50 {} ms, p95 {} ms, {} fps, longest freeze {} ms, {} kbit/s, {} pictures, {} px wide at the end, {}",
        fmt(f.p50_ms, 0),
        fmt(f.p95_ms, 0),
        fmt(f.fps, 1),
        fmt(f.longest_freeze_ms, 0),
        fmt(f.kbps, 0),
        f.presented,
        f.width,
        r.codec
    );
    if let Some(at) = r.jpeg_at_s {
        s.push_str(&format!(
            "; JPEG FALLBACK at {at:.1} s ({})",
            r.jpeg_reason
                .as_deref()
                .unwrap_or("no `fallback` message: WebRTC did not connect in time")
        ));
    }
    if r.adapt_s.is_some() || r.recover_s.is_some() || r.tier_down_s.is_some() {
        s.push_str(&format!(
            "; adapt down {} s, recover {} s (tier: down {} s, top again {} s)",
            fmt_s(r.adapt_s),
            fmt_s(r.recover_s),
            fmt_s(r.tier_down_s),
            fmt_s(r.tier_up_s)
        ));
    }
    s
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

fn print_table(
    size: &str,
    scenarios: &[Scenario],
    senders: &[Sender],
    results: &BTreeMap<(String, &'static str), Run>,
) {
    println!(
        "\n{size}: glass-to-glass p50/p95 ms, decoded fps, longest freeze ms, received kbit/s"
    );
    let mut head = format!("{:<10}", "scenario");
    for s in senders {
        head.push_str(&format!(" | {:<36}", s.title()));
    }
    let compare = senders.contains(&Sender::Cc) && senders.contains(&Sender::Chromium);
    if compare {
        head.push_str(" | cc/chromium p50 p95 fps freeze");
    }
    println!("{head}");
    println!("{}", "-".repeat(head.chars().count()));
    for sc in scenarios {
        let mut row = format!("{:<10}", sc.name());
        for s in senders {
            let f = results
                .get(&(sc.name(), s.name()))
                .map(|r| r.figures.clone())
                .unwrap_or_default();
            row.push_str(&format!(
                " | {:>4}/{:<5} {:>5} fps {:>6} {:>6}k",
                fmt(f.p50_ms, 0),
                fmt(f.p95_ms, 0),
                fmt(f.fps, 1),
                fmt(f.longest_freeze_ms, 0),
                fmt(f.kbps, 0)
            ));
        }
        if compare {
            let a = &results[&(sc.name(), "cc")].figures;
            let b = &results[&(sc.name(), "chromium")].figures;
            row.push_str(&format!(
                " | {:>5} {:>5} {:>5} {:>6}",
                ratio(a.p50_ms, b.p50_ms),
                ratio(a.p95_ms, b.p95_ms),
                ratio(a.fps, b.fps),
                ratio(a.longest_freeze_ms, b.longest_freeze_ms)
            ));
        }
        println!("{row}");
        if *sc == Scenario::Switch {
            let mut row = format!("{:<10}", "  adapt");
            for s in senders {
                let r = results
                    .get(&(sc.name(), s.name()))
                    .cloned()
                    .unwrap_or_default();
                row.push_str(&format!(
                    " | down {:>5} s, up {:>5} s{:<14}",
                    fmt_s(r.adapt_s),
                    fmt_s(r.recover_s),
                    ""
                ));
            }
            println!("{row}");
        }
    }
    for sc in scenarios {
        for s in senders {
            if let Some(r) = results.get(&(sc.name(), s.name()))
                && let Some(at) = r.jpeg_at_s
            {
                println!(
                    "  {} / {}: the page fell back to JPEG at {at:.1} s (video figures only above)",
                    sc.name(),
                    s.title()
                );
            }
        }
    }
    println!(
        "(ratios: latency and freeze below 1 and fps above 1 mean sightline is ahead; switch: {SWITCH_HIGH_KBPS} \
         kbit/s, {SWITCH_LOW_KBPS} kbit/s from {SWITCH_DOWN_AT:?} to {SWITCH_UP_AT:?} of {SWITCH_WINDOW:?}; adapt \
         down = median latency ≤ max({ADAPTED_LATENCY_MS} ms, 2 × pre-drop) with ≥ {FLOWING_PICTURES} pictures/s, \
         up = pre-drop width and ≥ 80 % of the pre-drop bitrate, each held {SUSTAIN_SAMPLES} s)"
    );
}

/// The targets for sightline with congestion control, checked against this run's figures.
fn print_targets(sender: &'static str, results: &BTreeMap<(String, &'static str), Run>) {
    let mut lines = Vec::new();
    let mut check = |what: String, ok: bool| {
        lines.push(format!("  {} {what}", if ok { "met " } else { "MISS" }))
    };
    if let Some(r) = results.get(&("cap1500".to_owned(), sender)) {
        let f = &r.figures;
        check(
            format!("cap1500: p95 {} ms ≤ 150", fmt(f.p95_ms, 0)),
            f.p95_ms <= 150.0,
        );
        check(
            format!("cap1500: {} fps ≥ 24", fmt(f.fps, 1)),
            f.fps >= 24.0,
        );
        check(
            format!(
                "cap1500: longest freeze {} ms ≤ 500",
                fmt(f.longest_freeze_ms, 0)
            ),
            f.longest_freeze_ms <= 500.0,
        );
    }
    if let Some(r) = results.get(&("loss5".to_owned(), sender)) {
        let f = &r.figures;
        check(format!("loss5: {} fps ≥ 25", fmt(f.fps, 1)), f.fps >= 25.0);
        check(
            format!(
                "loss5: longest freeze {} ms ≤ 1000",
                fmt(f.longest_freeze_ms, 0)
            ),
            f.longest_freeze_ms <= 1000.0,
        );
    }
    if let Some(r) = results.get(&("switch".to_owned(), sender)) {
        check(
            format!(
                "switch: left the top tier {} s after the drop ≤ 2",
                fmt_s(r.tier_down_s)
            ),
            r.tier_down_s.is_some_and(|s| s <= 2.0),
        );
        check(
            format!(
                "switch: back on the top tier {} s after the lift ≤ 10",
                fmt_s(r.tier_up_s)
            ),
            r.tier_up_s.is_some_and(|s| s <= 10.0),
        );
    }
    if !lines.is_empty() {
        println!("issue 10 targets, sightline (cc on):\n{}", lines.join("\n"));
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
