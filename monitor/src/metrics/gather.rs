//! What one scrape shows: the metric families (names, help, types, labels) gathered from the registry's state.

use prometheus_client::metrics::MetricType;

use super::exposition::{Exposition, Labels, Value};
use crate::pipeline::{PipelineKey, PipelineSnapshot};
use crate::process;
use crate::registry::Inner;
use crate::types::{ConnectionKind, Lifecycle};

fn pipeline_labels(k: &PipelineKey) -> Labels {
    vec![
        ("screen", k.screen.clone()),
        ("kind", k.kind.clone()),
        ("profile", k.profile.clone()),
    ]
}

/// Reads the current state of every registry into the families of one scrape.
pub(super) fn gather(inner: &Inner) -> Exposition {
    let mut x = Exposition::default();

    // Connections.
    let (live, opened, closed) = {
        let t = inner.conns.lock();
        let mut live = [[0u64; 4]; ConnectionKind::ALL.len()];
        for c in t.live.values() {
            live[c.kind.index()][c.lifecycle() as usize] += 1;
        }
        (live, t.opened_by_kind, t.closed_by_kind)
    };
    let f = x.family(
        "sightline_connections",
        "Open connections by kind and lifecycle state.",
        MetricType::Gauge,
    );
    for k in ConnectionKind::ALL {
        for l in [Lifecycle::New, Lifecycle::Connecting, Lifecycle::Connected] {
            f.push((
                vec![("kind", k.as_str().into()), ("state", l.as_str().into())],
                Value::Gauge(live[k.index()][l as usize] as f64),
            ));
        }
    }
    let f = x.family(
        "sightline_connections_opened",
        "Connections opened since start, by kind.",
        MetricType::Counter,
    );
    for k in ConnectionKind::ALL {
        f.push((
            vec![("kind", k.as_str().into())],
            Value::Counter(opened[k.index()]),
        ));
    }
    let f = x.family(
        "sightline_connections_closed",
        "Connections closed since start, by kind.",
        MetricType::Counter,
    );
    for k in ConnectionKind::ALL {
        f.push((
            vec![("kind", k.as_str().into())],
            Value::Counter(closed[k.index()]),
        ));
    }
    let drops: Vec<_> = inner
        .conn_drops
        .lock()
        .iter()
        .map(|((k, r), n)| (*k, *r, *n))
        .collect();
    let f = x.family(
        "sightline_connection_frames_dropped",
        "Frames not sent to a connection, by connection kind and reason.",
        MetricType::Counter,
    );
    for (k, r, n) in drops {
        f.push((
            vec![("kind", k.as_str().into()), ("reason", r.into())],
            Value::Counter(n),
        ));
    }

    // Viewers.
    super::viewers::gather_viewers(inner, &mut x);

    // Refusals, violations, rate limits, bans.
    super::abuse::gather_abuse(inner, &mut x);

    // SFU instances and published streams.
    super::sfu::gather_sfu(inner, &mut x);

    // Operations.
    {
        let ops = inner.ops.lock();
        let mut kinds: Vec<_> = ops.stats.iter().collect();
        kinds.sort_by_key(|(k, _)| **k);
        let f = x.family(
            "sightline_operations",
            "Finished operations by kind and result (ok, error, abandoned).",
            MetricType::Counter,
        );
        for (k, s) in &kinds {
            for (r, n) in s.counts() {
                f.push((
                    vec![("kind", (**k).into()), ("result", r.as_str().into())],
                    Value::Counter(n),
                ));
            }
        }
        let f = x.family(
            "sightline_operation_duration_seconds",
            "Duration of finished operations, by kind.",
            MetricType::Histogram,
        );
        for (k, s) in &kinds {
            f.push((
                vec![("kind", (**k).into())],
                Value::Histogram(s.histogram.read()),
            ));
        }
        let running = ops.running_count();
        x.family(
            "sightline_operations_running",
            "Operations started and not yet finished.",
            MetricType::Gauge,
        )
        .push((vec![], Value::Gauge(running as f64)));
    }

    // Tasks.
    let c = inner.tasks.lock().counts();
    let f = x.family(
        "sightline_tasks",
        "Live tasks by state (pending, running, leaked; leaked ones are also pending or running).",
        MetricType::Gauge,
    );
    for (s, n) in [
        ("pending", c.pending),
        ("running", c.running),
        ("leaked", c.leaked),
    ] {
        f.push((vec![("state", s.into())], Value::Gauge(n as f64)));
    }
    let f = x.family(
        "sightline_tasks_ended",
        "Tasks ended since start, by how (finished, panicked, cancelled).",
        MetricType::Counter,
    );
    for (s, n) in [
        ("finished", c.finished),
        ("panicked", c.panicked),
        ("cancelled", c.cancelled),
    ] {
        f.push((vec![("state", s.into())], Value::Counter(n)));
    }
    x.family(
        "sightline_tasks_spawned",
        "Tasks spawned since start.",
        MetricType::Counter,
    )
    .push((vec![], Value::Counter(c.spawned)));
    x.family(
        "sightline_tasks_leaked",
        "Tasks detected alive after their owner closed plus the grace period, since start.",
        MetricType::Counter,
    )
    .push((vec![], Value::Counter(c.leaked_total)));

    // Pipelines.
    let pipes: Vec<_> = inner
        .pipelines
        .lock()
        .values()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    let now = std::time::Instant::now();
    let snaps: Vec<_> = pipes.iter().map(|p| (p, p.snapshot(now))).collect();
    type Field = fn(&PipelineSnapshot) -> u64;
    let counters: [(&'static str, &'static str, Field); 7] = [
        (
            "sightline_pipeline_frames",
            "Frames encoded (or captured, for capture pipelines).",
            |s| {
                if s.kind == "capture" {
                    s.captures_total
                } else {
                    s.frames_total
                }
            },
        ),
        (
            "sightline_pipeline_captures",
            "Captures that produced a frame.",
            |s| s.captures_total,
        ),
        (
            "sightline_pipeline_unchanged",
            "Captures skipped because the screen had not changed.",
            |s| s.unchanged_total,
        ),
        (
            "sightline_pipeline_keyframes",
            "Keyframes (IDR) encoded.",
            |s| s.keyframes_total,
        ),
        (
            "sightline_pipeline_encoded_bytes",
            "Bytes of encoded output.",
            |s| s.bytes_total,
        ),
        (
            "sightline_pipeline_keyframe_requests",
            "Keyframe requests received, before coalescing.",
            |s| s.keyframe_requests_total,
        ),
        (
            "sightline_pipeline_restarts",
            "Encoder or source restarts.",
            |s| s.restarts_total,
        ),
    ];
    for (name, help, get) in counters {
        let f = x.family(name, help, MetricType::Counter);
        for (p, s) in &snaps {
            f.push((pipeline_labels(&p.key), Value::Counter(get(s))));
        }
    }
    let f = x.family(
        "sightline_pipeline_dropped_frames",
        "Frames dropped by a pipeline, by reason.",
        MetricType::Counter,
    );
    for (p, _) in &snaps {
        for (r, n) in p.drops() {
            let mut l = pipeline_labels(&p.key);
            l.push(("reason", r.into()));
            f.push((l, Value::Counter(n)));
        }
    }
    type GaugeField = fn(&PipelineSnapshot) -> f64;
    let gauges: [(&'static str, &'static str, GaugeField); 3] = [
        (
            "sightline_pipeline_subscribers",
            "Current subscribers of a pipeline.",
            |s| s.subscribers as f64,
        ),
        (
            "sightline_pipeline_fps",
            "Output frames per second over the last 2 s.",
            |s| {
                if s.kind == "capture" {
                    s.capture_fps
                } else {
                    s.encode_fps
                }
            },
        ),
        (
            "sightline_pipeline_bitrate_kbps",
            "Encoded output rate over the last 2 s, kbit/s.",
            |s| s.bitrate_kbps,
        ),
    ];
    for (name, help, get) in gauges {
        let f = x.family(name, help, MetricType::Gauge);
        for (p, s) in &snaps {
            f.push((pipeline_labels(&p.key), Value::Gauge(get(s))));
        }
    }
    let f = x.family(
        "sightline_pipeline_encode_seconds",
        "Time to encode one frame.",
        MetricType::Histogram,
    );
    for (p, _) in &snaps {
        f.push((
            pipeline_labels(&p.key),
            Value::Histogram(p.encode_hist.read()),
        ));
    }
    let f = x.family(
        "sightline_pipeline_capture_seconds",
        "Time to capture one frame.",
        MetricType::Histogram,
    );
    for (p, _) in &snaps {
        f.push((
            pipeline_labels(&p.key),
            Value::Histogram(p.capture_hist.read()),
        ));
    }

    // Log files.
    let (written, dropped, errors) = inner.log.as_ref().map(|l| l.counts()).unwrap_or_default();
    x.family(
        "sightline_log_files_written",
        "Monitor JSON log files written.",
        MetricType::Counter,
    )
    .push((vec![], Value::Counter(written)));
    x.family(
        "sightline_log_records_dropped",
        "Monitor log records dropped because the writer queue was full.",
        MetricType::Counter,
    )
    .push((vec![], Value::Counter(dropped)));
    x.family(
        "sightline_log_write_errors",
        "Monitor log file write errors.",
        MetricType::Counter,
    )
    .push((vec![], Value::Counter(errors)));

    // Process (standard names), only where they can be read.
    if let Ok(p) = process::read() {
        x.family(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            MetricType::Counter,
        )
        .push((vec![], Value::CounterF(p.cpu_seconds)));
        x.family(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            MetricType::Gauge,
        )
        .push((vec![], Value::Gauge(p.rss_bytes as f64)));
        x.family(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            MetricType::Gauge,
        )
        .push((vec![], Value::Gauge(p.vm_bytes as f64)));
        x.family(
            "process_threads",
            "Number of OS threads in the process.",
            MetricType::Gauge,
        )
        .push((vec![], Value::Gauge(p.threads as f64)));
    }
    x.family(
        "sightline_uptime_seconds",
        "Seconds since the monitor started.",
        MetricType::Gauge,
    )
    .push((
        vec![],
        Value::Gauge(
            now.saturating_duration_since(inner.clock.started())
                .as_secs_f64(),
        ),
    ));
    x
}
