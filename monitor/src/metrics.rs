//! Prometheus exposition of the monitor's state, encoded by `prometheus-client` in the OpenMetrics text format.
//!
//! The registry is the monitor itself: each scrape gathers the current values into an [`Exposition`] (a
//! `prometheus_client` [`Collector`]) and encodes it, so `/metrics` and the REST snapshots can never disagree.
//! Durations that need buckets are kept in lock-free [`AtomicHistogram`]s updated where the events happen.
//!
//! Counter families are named without `_total`; the encoder appends it to the samples (OpenMetrics rule), so
//! `sightline_connections_opened` is scraped as `sightline_connections_opened_total`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::operation::OP_BUCKETS;
use crate::types::{ConnectionKind, Lifecycle};
use crate::Inner;

/// A fixed-bucket histogram of seconds, updated with a few relaxed atomic adds (no lock, no allocation).
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    /// One per bound, plus +Inf last.
    buckets: Box<[AtomicU64]>,
    /// Sum of observations in nanoseconds: integer adds stay lock-free; 2^64 ns is 584 years.
    sum_ns: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        Self::new(OP_BUCKETS)
    }
}

impl AtomicHistogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one observation in seconds (negative or NaN counts as 0).
    pub(crate) fn observe(&self, secs: f64) {
        let secs = if secs.is_finite() && secs > 0.0 { secs } else { 0.0 };
        let i = self.bounds.iter().position(|b| secs <= *b).unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add((secs * 1e9) as u64, Relaxed);
    }

    /// (sum seconds, count, per-bucket counts with +Inf last). The count is the sum of the buckets, so the
    /// exposition stays consistent under concurrent observations.
    pub(crate) fn read(&self) -> HistogramData {
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut count = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Relaxed);
            count += n;
            buckets.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        HistogramData {
            sum: self.sum_ns.load(Relaxed) as f64 / 1e9,
            count,
            buckets,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct HistogramData {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

#[derive(Debug)]
enum Value {
    Gauge(f64),
    Counter(u64),
    CounterF(f64),
    Histogram(HistogramData),
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels, Value)>,
}

/// Everything one scrape shows.
#[derive(Debug, Default)]
struct Exposition(Vec<Family>);

impl Exposition {
    fn family(&mut self, name: &'static str, help: &'static str, kind: MetricType) -> &mut Vec<(Labels, Value)> {
        self.0.push(Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        });
        &mut self.0.last_mut().expect("just pushed").samples
    }
}

fn encode_value(enc: &mut MetricEncoder<'_>, v: &Value) -> Result<(), std::fmt::Error> {
    match v {
        Value::Gauge(g) => enc.encode_gauge(g),
        Value::Counter(c) => enc.encode_counter::<NoLabelSet, _, u64>(c, None),
        Value::CounterF(c) => enc.encode_counter::<NoLabelSet, _, f64>(c, None),
        Value::Histogram(h) => enc.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None),
    }
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            let mut me = encoder.encode_descriptor(f.name, f.help, None, f.kind)?;
            for (labels, v) in &f.samples {
                if labels.is_empty() {
                    encode_value(&mut me, v)?;
                } else {
                    encode_value(&mut me.encode_family(labels)?, v)?;
                }
            }
        }
        Ok(())
    }
}

fn pipeline_labels(k: &crate::PipelineKey) -> Labels {
    vec![
        ("screen", k.screen.clone()),
        ("kind", k.kind.clone()),
        ("profile", k.profile.clone()),
    ]
}

fn gather(inner: &Inner) -> Exposition {
    let mut x = Exposition::default();

    // Connections.
    let (live, opened, closed) = {
        let t = inner.conns.lock();
        let mut live = [[0u64; 4]; 6];
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
        f.push((vec![("kind", k.as_str().into())], Value::Counter(opened[k.index()])));
    }
    let f = x.family(
        "sightline_connections_closed",
        "Connections closed since start, by kind.",
        MetricType::Counter,
    );
    for k in ConnectionKind::ALL {
        f.push((vec![("kind", k.as_str().into())], Value::Counter(closed[k.index()])));
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
        f.push((vec![("kind", k.as_str().into()), ("reason", r.into())], Value::Counter(n)));
    }

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
                f.push((vec![("kind", (**k).into()), ("result", r.as_str().into())], Value::Counter(n)));
            }
        }
        let f = x.family(
            "sightline_operation_duration_seconds",
            "Duration of finished operations, by kind.",
            MetricType::Histogram,
        );
        for (k, s) in &kinds {
            f.push((vec![("kind", (**k).into())], Value::Histogram(s.histogram.read())));
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
    for (s, n) in [("pending", c.pending), ("running", c.running), ("leaked", c.leaked)] {
        f.push((vec![("state", s.into())], Value::Gauge(n as f64)));
    }
    let f = x.family(
        "sightline_tasks_ended",
        "Tasks ended since start, by how (finished, panicked, cancelled).",
        MetricType::Counter,
    );
    for (s, n) in [("finished", c.finished), ("panicked", c.panicked), ("cancelled", c.cancelled)] {
        f.push((vec![("state", s.into())], Value::Counter(n)));
    }
    x.family("sightline_tasks_spawned", "Tasks spawned since start.", MetricType::Counter)
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
    let snaps: Vec<_> = pipes.iter().map(|p| (p, p.snapshot(inner, now))).collect();
    type Field = fn(&crate::PipelineSnapshot) -> u64;
    let counters: [(&'static str, &'static str, Field); 7] = [
        (
            "sightline_pipeline_frames",
            "Frames encoded (or captured, for capture pipelines).",
            |s| if s.kind == "capture" { s.captures_total } else { s.frames_total },
        ),
        ("sightline_pipeline_captures", "Captures that produced a frame.", |s| s.captures_total),
        (
            "sightline_pipeline_unchanged",
            "Captures skipped because the screen had not changed.",
            |s| s.unchanged_total,
        ),
        ("sightline_pipeline_keyframes", "Keyframes (IDR) encoded.", |s| s.keyframes_total),
        ("sightline_pipeline_encoded_bytes", "Bytes of encoded output.", |s| s.bytes_total),
        (
            "sightline_pipeline_keyframe_requests",
            "Keyframe requests received, before coalescing.",
            |s| s.keyframe_requests_total,
        ),
        ("sightline_pipeline_restarts", "Encoder or source restarts.", |s| s.restarts_total),
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
    type GaugeField = fn(&crate::PipelineSnapshot) -> f64;
    let gauges: [(&'static str, &'static str, GaugeField); 3] = [
        ("sightline_pipeline_subscribers", "Current subscribers of a pipeline.", |s| s.subscribers as f64),
        (
            "sightline_pipeline_fps",
            "Output frames per second over the last 2 s.",
            |s| if s.kind == "capture" { s.capture_fps } else { s.encode_fps },
        ),
        ("sightline_pipeline_bitrate_kbps", "Encoded output rate over the last 2 s, kbit/s.", |s| {
            s.bitrate_kbps
        }),
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
        f.push((pipeline_labels(&p.key), Value::Histogram(p.encode_hist.read())));
    }
    let f = x.family(
        "sightline_pipeline_capture_seconds",
        "Time to capture one frame.",
        MetricType::Histogram,
    );
    for (p, _) in &snaps {
        f.push((pipeline_labels(&p.key), Value::Histogram(p.capture_hist.read())));
    }

    // Log files.
    let (written, dropped, errors) = inner.log.as_ref().map(|l| l.counts()).unwrap_or_default();
    x.family("sightline_log_files_written", "Monitor JSON log files written.", MetricType::Counter)
        .push((vec![], Value::Counter(written)));
    x.family(
        "sightline_log_records_dropped",
        "Monitor log records dropped because the writer queue was full.",
        MetricType::Counter,
    )
    .push((vec![], Value::Counter(dropped)));
    x.family("sightline_log_write_errors", "Monitor log file write errors.", MetricType::Counter)
        .push((vec![], Value::Counter(errors)));

    // Process (standard names), only where they can be read.
    if let Ok(p) = crate::process::read() {
        x.family(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            MetricType::Counter,
        )
        .push((vec![], Value::CounterF(p.cpu_seconds)));
        x.family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge)
            .push((vec![], Value::Gauge(p.rss_bytes as f64)));
        x.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge)
            .push((vec![], Value::Gauge(p.vm_bytes as f64)));
        x.family("process_threads", "Number of OS threads in the process.", MetricType::Gauge)
            .push((vec![], Value::Gauge(p.threads as f64)));
    }
    x.family("sightline_uptime_seconds", "Seconds since the monitor started.", MetricType::Gauge)
        .push((vec![], Value::Gauge(now.saturating_duration_since(inner.clock.started()).as_secs_f64())));
    x
}

pub(crate) fn render(inner: &Inner) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(gather(inner)));
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would be a bug in a label value we produce.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!("prometheus encoding failed: {e}");
    }
    out
}
