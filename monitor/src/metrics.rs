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

use crate::Inner;
use crate::operation::OP_BUCKETS;
use crate::types::{ConnectionKind, Lifecycle};

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
        let secs = if secs.is_finite() && secs > 0.0 {
            secs
        } else {
            0.0
        };
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
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
    fn family(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: MetricType,
    ) -> &mut Vec<(Labels, Value)> {
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
    let snaps: Vec<_> = pipes.iter().map(|p| (p, p.snapshot(inner, now))).collect();
    type Field = fn(&crate::PipelineSnapshot) -> u64;
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
    type GaugeField = fn(&crate::PipelineSnapshot) -> f64;
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
    if let Ok(p) = crate::process::read() {
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

/// Rewrites the OpenMetrics text of [`render`] in the Prometheus text exposition format 0.0.4 (`text/plain;
/// version=0.0.4`), the format every Prometheus-compatible scraper understands: counter families are named
/// after their `_total` samples, `# UNIT` and `# EOF` go, and HELP loses the `\"` escape 0.0.4 does not have.
/// Only the metric types [`render`] emits (counter, gauge, histogram) occur.
pub(crate) fn to_text_004(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let rename = |name: &str| -> String {
        if counters.contains(name) {
            format!("{name}_total")
        } else {
            name.to_owned()
        }
    };
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!(
                "# HELP {} {}\n",
                rename(name),
                help.replace("\\\"", "\"")
            ));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            out.push_str(&format!("# TYPE {} {kind}\n", rename(name)));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{ConnectionAttrs, Monitor, MonitorConfig, PipelineKey};

    /// Buckets (le, cumulative count) and `_count` of one histogram series.
    type HistSeries = (Vec<(f64, f64)>, Option<f64>);

    /// A strict parser of the OpenMetrics/Prometheus text format as far as we emit it: every family has HELP and
    /// TYPE before its samples, sample names match their family's type, labels are well formed and escaped,
    /// values are numbers, histograms are cumulative and end with `le="+Inf"` equal to `_count`, no series
    /// repeats, `# EOF` ends the text. Returns `series → value` with series written `name{k="v",...}` (labels
    /// sorted, `le` included).
    pub(crate) fn parse(text: &str) -> Result<BTreeMap<String, f64>, String> {
        let mut out = BTreeMap::new();
        let mut families: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut saw_eof = false;
        // histogram series (name without suffix + labels without le) → (buckets (le, count), count)
        let mut hist: BTreeMap<String, HistSeries> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let err = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
            if saw_eof {
                return Err(err("text after # EOF"));
            }
            if line == "# EOF" {
                saw_eof = true;
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let (kw, name, arg) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next(),
                );
                check_name(name).map_err(|e| err(&e))?;
                let fam = families.entry(name.to_owned()).or_default();
                match kw {
                    "HELP" => {
                        let help = arg.ok_or_else(|| err("HELP without text"))?;
                        if help.trim().is_empty() || fam.0.replace(help.to_owned()).is_some() {
                            return Err(err("empty or repeated HELP"));
                        }
                    }
                    "TYPE" => {
                        let t = arg.ok_or_else(|| err("TYPE without type"))?;
                        if ![
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "unknown",
                            "info",
                        ]
                        .contains(&t)
                        {
                            return Err(err("unknown type"));
                        }
                        if fam.1.replace(t.to_owned()).is_some() {
                            return Err(err("repeated TYPE"));
                        }
                        if fam.0.is_none() {
                            return Err(err("TYPE before HELP"));
                        }
                        current = Some(name.to_owned());
                    }
                    "UNIT" => {}
                    _ => return Err(err("unknown comment")),
                }
                continue;
            }
            // A sample.
            let (name, labels, value) = parse_sample(line).map_err(|e| err(&e))?;
            let fam = current
                .as_ref()
                .ok_or_else(|| err("sample before any TYPE"))?;
            let ty = families[fam].1.clone().unwrap_or_default();
            let suffix = name
                .strip_prefix(fam.as_str())
                .ok_or_else(|| err("sample outside its family"))?;
            let allowed: &[&str] = match ty.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "gauge" | "unknown" => &[""],
                "info" => &["_info"],
                _ => &["", "_sum", "_count"],
            };
            if !allowed.contains(&suffix) {
                return Err(err(&format!("suffix {suffix:?} not allowed for a {ty}")));
            }
            if ty == "counter" && value < 0.0 {
                return Err(err("negative counter"));
            }
            let mut sorted = labels.clone();
            sorted.sort();
            let key = format!(
                "{name}{{{}}}",
                sorted
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            if out.insert(key.clone(), value).is_some() {
                return Err(err("repeated series"));
            }
            if ty == "histogram" {
                let le = sorted
                    .iter()
                    .find(|(k, _)| k == "le")
                    .map(|(_, v)| v.clone());
                let rest: Vec<_> = sorted.iter().filter(|(k, _)| k != "le").collect();
                let hkey = format!("{fam}{rest:?}");
                let h = hist.entry(hkey).or_default();
                match (suffix, le) {
                    ("_bucket", Some(le)) => {
                        let b = if le == "+Inf" {
                            f64::INFINITY
                        } else {
                            le.parse().map_err(|_| err("bad le"))?
                        };
                        if let Some((prev_le, prev)) = h.0.last()
                            && (b <= *prev_le || value < *prev)
                        {
                            return Err(err("buckets not increasing/cumulative"));
                        }
                        h.0.push((b, value));
                    }
                    ("_bucket", None) => return Err(err("bucket without le")),
                    ("_count", _) => h.1 = Some(value),
                    _ => {}
                }
            }
        }
        if !saw_eof {
            return Err("missing # EOF".into());
        }
        for (name, (help, ty)) in &families {
            if help.is_none() || ty.is_none() {
                return Err(format!("family {name} lacks HELP or TYPE"));
            }
        }
        for (k, (buckets, count)) in &hist {
            let last = buckets.last().ok_or(format!("{k}: no buckets"))?;
            if last.0 != f64::INFINITY || Some(last.1) != *count {
                return Err(format!("{k}: +Inf bucket missing or different from _count"));
            }
        }
        Ok(out)
    }

    fn check_name(name: &str) -> Result<(), String> {
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if ok {
            Ok(())
        } else {
            Err(format!("bad metric name {name:?}"))
        }
    }

    #[allow(clippy::type_complexity)]
    fn parse_sample(line: &str) -> Result<(String, Vec<(String, String)>, f64), String> {
        let name_end = line.find(['{', ' ']).ok_or("no value")?;
        let name = &line[..name_end];
        check_name(name)?;
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut pos = 0;
            loop {
                if r[pos..].starts_with('}') {
                    rest = &r[pos + 1..];
                    break;
                }
                let eq = r[pos..].find('=').ok_or("label without =")? + pos;
                let key = &r[pos..eq];
                if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("bad label name {key:?}"));
                }
                if !r[eq + 1..].starts_with('"') {
                    return Err("label value not quoted".into());
                }
                let mut value = String::new();
                let mut it = r[eq + 2..].char_indices();
                let end = loop {
                    match it.next().ok_or("unterminated label value")? {
                        (i, '"') => break eq + 2 + i,
                        (_, '\\') => match it.next().ok_or("dangling escape")?.1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            c => return Err(format!("bad escape \\{c}")),
                        },
                        (_, c) => value.push(c),
                    }
                };
                labels.push((key.to_owned(), value));
                pos = end + 1;
                if r[pos..].starts_with(',') {
                    pos += 1;
                } else if !r[pos..].starts_with('}') {
                    return Err("expected , or } after a label".into());
                }
            }
        }
        let mut parts = rest
            .strip_prefix(' ')
            .ok_or("no space before value")?
            .split(' ');
        let v = parts.next().ok_or("no value")?;
        let value = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            _ => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
        };
        if let Some(ts) = parts.next() {
            ts.parse::<f64>().map_err(|_| "bad timestamp")?;
        }
        if parts.next().is_some() {
            return Err("trailing fields".into());
        }
        Ok((name.to_owned(), labels, value))
    }

    #[test]
    fn parser_rejects_broken_text() {
        let good = "# HELP a_b Help.\n# TYPE a_b counter\na_b_total{k=\"v\\\"q\"} 1\n# EOF\n";
        assert_eq!(parse(good).unwrap()["a_b_total{k=\"v\\\"q\"}"], 1.0);
        let bad = [
            "# TYPE a counter\na_total 1\n# EOF\n",            // no HELP
            "# HELP a x\n# TYPE a counter\na_total 1\n",       // no EOF
            "# HELP a x\n# TYPE a counter\na 1\n# EOF\n",      // counter without _total
            "# HELP a x\n# TYPE a gauge\na{k=\"v} 1\n# EOF\n", // unterminated
            "# HELP a x\n# TYPE a gauge\na{k=v} 1\n# EOF\n",   // unquoted
            "# HELP a x\n# TYPE a gauge\na 1\na 2\n# EOF\n",   // repeated series
            "# HELP a x\n# TYPE a gauge\na one\n# EOF\n",      // not a number
            "# HELP a x\n# TYPE a gauge\nb 1\n# EOF\n",        // outside family
            "# HELP h x\n# TYPE h histogram\nh_count 2\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
            "# HELP h x\n# TYPE h histogram\nh_count 3\nh_bucket{le=\"+Inf\"} 2\n# EOF\n",
        ];
        for b in bad {
            assert!(parse(b).is_err(), "accepted: {b}");
        }
    }

    #[test]
    fn prometheus_text_parses_and_reflects_state() {
        let m = Monitor::new(MonitorConfig {
            leak_grace: Duration::from_secs(5),
            ..MonitorConfig::default()
        });
        let a = m.open_connection(ConnectionKind::WebRtc, ConnectionAttrs::default());
        a.set_lifecycle(Lifecycle::Connected);
        let b = m.open_connection(ConnectionKind::Jpeg, ConnectionAttrs::default());
        b.dropped("queue_full", 3);
        m.open_connection(ConnectionKind::Mcp, ConnectionAttrs::default())
            .close("done");
        m.operation("create_offer", Some(a.id())).ok();
        m.operation("create_offer", Some(a.id())).fail("boom");
        let _running = m.operation("snapshot", None);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = m
            .spawn_thread("stuck", b.owner(), move || rx.recv().ok())
            .unwrap();
        b.close("test");
        m.check_leaks(Instant::now() + Duration::from_secs(10));
        // A label value that needs escaping.
        let p = m.pipeline(PipelineKey {
            screen: "odd \"screen\"\\1\nx".into(),
            kind: "h264".into(),
            profile: "720p".into(),
        });
        for i in 0..10 {
            p.record_encode(f64::from(i), 1000, i == 0);
        }
        p.set_subscribers(2);
        p.record_drop("lag");

        let text = m.openmetrics_text();
        let s = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            s["sightline_connections{kind=\"webrtc\",state=\"connected\"}"],
            1.0
        );
        assert_eq!(
            s["sightline_connections{kind=\"jpeg\",state=\"new\"}"], 0.0,
            "closed"
        );
        assert_eq!(s["sightline_connections_opened_total{kind=\"mcp\"}"], 1.0);
        assert_eq!(s["sightline_connections_closed_total{kind=\"jpeg\"}"], 1.0);
        assert_eq!(
            s["sightline_connection_frames_dropped_total{kind=\"jpeg\",reason=\"queue_full\"}"],
            3.0
        );
        assert_eq!(
            s["sightline_operations_total{kind=\"create_offer\",result=\"ok\"}"],
            1.0
        );
        assert_eq!(
            s["sightline_operations_total{kind=\"create_offer\",result=\"error\"}"],
            1.0
        );
        assert_eq!(
            s["sightline_operation_duration_seconds_count{kind=\"create_offer\"}"],
            2.0
        );
        assert_eq!(s["sightline_operations_running{}"], 1.0);
        assert_eq!(s["sightline_tasks{state=\"leaked\"}"], 1.0);
        assert_eq!(s["sightline_tasks_leaked_total{}"], 1.0);
        assert_eq!(s["sightline_tasks_spawned_total{}"], 1.0);
        let pl = "kind=\"h264\",profile=\"720p\",screen=\"odd \\\"screen\\\"\\\\1\\nx\"";
        assert_eq!(s[&format!("sightline_pipeline_frames_total{{{pl}}}")], 10.0);
        assert_eq!(
            s[&format!("sightline_pipeline_keyframes_total{{{pl}}}")],
            1.0
        );
        assert_eq!(s[&format!("sightline_pipeline_subscribers{{{pl}}}")], 2.0);
        assert_eq!(
            s[&format!("sightline_pipeline_encode_seconds_count{{{pl}}}")],
            10.0
        );
        let le = pl.replace(",profile", ",le=\"0.004\",profile");
        assert_eq!(
            s[&format!("sightline_pipeline_encode_seconds_bucket{{{le}}}")],
            5.0
        );
        assert!(
            (s[&format!("sightline_pipeline_encode_seconds_sum{{{pl}}}")] - 0.045).abs() < 1e-6
        );
        let reason = pl.replace(",screen", ",reason=\"lag\",screen");
        assert_eq!(
            s[&format!("sightline_pipeline_dropped_frames_total{{{reason}}}")],
            1.0
        );
        #[cfg(target_os = "linux")]
        assert!(s["process_resident_memory_bytes{}"] > 0.0);
        // Every family has help text (the parser enforces HELP; check it is not a placeholder).
        let families: BTreeSet<_> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# HELP "))
            .collect();
        assert!(families.len() >= 25, "{}", families.len());
        assert!(
            families
                .iter()
                .all(|h| h.split_once(' ').is_some_and(|(_, t)| t.len() > 10))
        );
        tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn text_004_names_counters_after_their_samples() {
        let om = "# HELP a_ops Operations \\\"quoted\\\".\n# TYPE a_ops counter\na_ops_total{k=\"v\"} 3\n\
                  # HELP a_up Up.\n# TYPE a_up gauge\n# UNIT a_up seconds\na_up 1\n# EOF\n";
        assert_eq!(
            to_text_004(om),
            "# HELP a_ops_total Operations \"quoted\".\n# TYPE a_ops_total counter\na_ops_total{k=\"v\"} 3\n\
             # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n"
        );
    }

    #[test]
    fn atomic_histogram_buckets() {
        let h = AtomicHistogram::new(&[0.01, 0.1]);
        for v in [0.005, 0.01, 0.05, 1.0, f64::NAN, -1.0] {
            h.observe(v);
        }
        let d = h.read();
        assert_eq!(d.count, 6);
        assert_eq!(d.buckets, vec![(0.01, 4), (0.1, 1), (f64::INFINITY, 1)]);
        assert!((d.sum - 1.065).abs() < 1e-9);
    }
}
