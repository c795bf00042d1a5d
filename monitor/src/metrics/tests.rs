//! Tests of the whole exposition: a strict OpenMetrics parser and a scrape of a registry in a known state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::pipeline::PipelineKey;
use crate::registry::{Monitor, MonitorConfig};
use crate::types::{ConnectionAttrs, ConnectionKind, Lifecycle};

/// Buckets (le, cumulative count) and `_count` of one histogram series.
type HistSeries = (Vec<(f64, f64)>, Option<f64>);

/// A strict parser of the OpenMetrics/Prometheus text format as far as we emit it: every family has HELP and
/// TYPE before its samples, sample names match their family's type, labels are well formed and escaped,
/// values are numbers, histograms are cumulative and end with `le="+Inf"` equal to `_count`, no series
/// repeats, `# EOF` ends the text. Returns `series → value` with series written `name{k="v",...}` (labels
/// sorted, `le` included).
fn parse(text: &str) -> Result<BTreeMap<String, f64>, String> {
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
    m.abuse().refused("origin");
    m.abuse().refused("origin");
    m.abuse().violation("frame_too_large");
    m.abuse().rate_limited("light");
    m.abuse().banned();
    assert!(m.abuse().try_admit_unauthenticated(4));

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
    assert!((s[&format!("sightline_pipeline_encode_seconds_sum{{{pl}}}")] - 0.045).abs() < 1e-6);
    let reason = pl.replace(",screen", ",reason=\"lag\",screen");
    assert_eq!(
        s[&format!("sightline_pipeline_dropped_frames_total{{{reason}}}")],
        1.0
    );
    assert_eq!(s["sightline_refused_total{reason=\"origin\"}"], 2.0);
    assert_eq!(
        s["sightline_protocol_violations_total{kind=\"frame_too_large\"}"],
        1.0
    );
    assert_eq!(s["sightline_rate_limited_total{class=\"light\"}"], 1.0);
    assert_eq!(s["sightline_bans_total{}"], 1.0);
    assert_eq!(s["sightline_unauthenticated_sockets{}"], 1.0);
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
fn viewer_families_cover_open_rtp_viewers_only() {
    let m = Monitor::new(MonitorConfig::default());
    let attrs = |screen: &str| ConnectionAttrs {
        screen: Some(screen.into()),
        ..ConnectionAttrs::default()
    };
    let phone = m.open_connection(ConnectionKind::WebRtc, attrs("main \"1\"\\\n"));
    phone.update_counters(|c| {
        c.estimate_kbps = Some(850.5);
        c.target_kbps = Some(800.0);
        c.bitrate_kbps = 790.0;
        c.tier = Some(2);
        c.tier_name = Some("t2 320w 450k".into());
        c.tier_switches = 3;
        c.loss_fraction = Some(0.07);
        c.rtt_ms = Some(120.0);
        c.nack_received = 40;
        c.pli_received = 2;
        c.retransmitted_packets = 30;
        c.retransmitted_bytes = 36_000;
    });
    // Congestion control off: no estimate, target, tier or loss yet; the counters still show.
    let player = m.open_connection(ConnectionKind::Whep, attrs("0"));
    player.update_counters(|c| c.bitrate_kbps = 4000.0);
    let jpeg = m.open_connection(ConnectionKind::Jpeg, attrs("0"));
    jpeg.update_counters(|c| c.bitrate_kbps = 900.0);
    let gone = m.open_connection(ConnectionKind::WebRtc, attrs("0"));
    gone.update_counters(|c| c.estimate_kbps = Some(1.0));
    gone.close("left");

    let text = m.openmetrics_text();
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let p = format!(
        "connection=\"{}\",screen=\"main \\\"1\\\"\\\\\\n\"",
        phone.id()
    );
    let w = format!("connection=\"{}\",screen=\"0\"", player.id());
    let at = |name: &str, labels: &str| s.get(&format!("{name}{{{labels}}}")).copied();
    assert_eq!(at("sightline_viewer_estimate_kbps", &p), Some(850.5));
    assert_eq!(at("sightline_viewer_target_kbps", &p), Some(800.0));
    assert_eq!(at("sightline_viewer_bitrate_kbps", &p), Some(790.0));
    assert_eq!(at("sightline_viewer_tier", &p), Some(2.0));
    assert_eq!(at("sightline_viewer_tier_switches_total", &p), Some(3.0));
    assert_eq!(at("sightline_viewer_loss_ratio", &p), Some(0.07));
    assert_eq!(at("sightline_viewer_rtt_seconds", &p), Some(0.12));
    assert_eq!(at("sightline_viewer_nacks_total", &p), Some(40.0));
    assert_eq!(at("sightline_viewer_plis_total", &p), Some(2.0));
    assert_eq!(
        at("sightline_viewer_retransmitted_bytes_total", &p),
        Some(36_000.0)
    );
    assert_eq!(at("sightline_viewer_bitrate_kbps", &w), Some(4000.0));
    assert_eq!(at("sightline_viewer_nacks_total", &w), Some(0.0));
    for unknown in [
        "sightline_viewer_estimate_kbps",
        "sightline_viewer_tier",
        "sightline_viewer_loss_ratio",
    ] {
        assert_eq!(at(unknown, &w), None, "{unknown} without a value");
    }
    for other in [jpeg.id(), gone.id()] {
        let label = format!("connection=\"{other}\"");
        assert!(
            !s.keys().any(|k| k.contains(&label)),
            "{other} is not an open RTP viewer"
        );
    }
    // The 0.0.4 text names the counters after their samples.
    let text004 = m.prometheus_text();
    assert!(text004.contains("# TYPE sightline_viewer_nacks_total counter\n"));
    assert!(text004.contains("# TYPE sightline_viewer_rtt_seconds gauge\n"));
}

#[test]
fn sfu_instances_and_publications_are_scraped() {
    let m = Monitor::new(MonitorConfig::default());
    m.sfu().set_instance(
        "janus-1",
        crate::InstanceState {
            url: "http://127.0.0.1:8088/janus".into(),
            up: true,
            viewers: 12,
            publications: 1,
            failures_total: 3,
            last_error: None,
        },
    );
    m.sfu()
        .set_instance("janus-2", crate::InstanceState::default());
    let p = m.sfu().publication("janus", "janus-1", "0", "t0");
    p.add_sent(10, 12_000);
    p.add_keyframe();
    p.add_pli();
    p.add_fir();
    p.set_viewers(12);
    // Two WHIP egresses with the same labels become one series (summed), not a repeated one.
    let w1 = m.sfu().publication("whip", "https://ingest/x", "0", "t1");
    let w2 = m.sfu().publication("whip", "https://ingest/x", "0", "t1");
    w1.add_sent(1, 100);
    w2.add_sent(2, 200);

    let text = m.openmetrics_text();
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(s["sightline_sfu_instance_up{instance=\"janus-1\"}"], 1.0);
    assert_eq!(s["sightline_sfu_instance_up{instance=\"janus-2\"}"], 0.0);
    assert_eq!(
        s["sightline_sfu_instance_viewers{instance=\"janus-1\"}"],
        12.0
    );
    assert_eq!(
        s["sightline_sfu_instance_health_failures_total{instance=\"janus-1\"}"],
        3.0
    );
    let l = "kind=\"janus\",screen=\"0\",target=\"janus-1\",tier=\"t0\"";
    let at = |name: &str, labels: &str| s[&format!("{name}{{{labels}}}")];
    assert_eq!(at("sightline_publication_bytes_total", l), 12_000.0);
    assert_eq!(at("sightline_publication_packets_total", l), 10.0);
    assert_eq!(at("sightline_publication_keyframes_total", l), 1.0);
    assert_eq!(at("sightline_publication_plis_total", l), 1.0);
    assert_eq!(at("sightline_publication_firs_total", l), 1.0);
    assert_eq!(at("sightline_publication_viewers", l), 12.0);
    let w = "kind=\"whip\",screen=\"0\",target=\"https://ingest/x\",tier=\"t1\"";
    assert_eq!(at("sightline_publication_bytes_total", w), 300.0);
    assert_eq!(s["sightline_connections_opened_total{kind=\"sfu\"}"], 0.0);
    assert_eq!(
        s["sightline_connections_opened_total{kind=\"publish\"}"],
        0.0
    );
    for kind in ["device", "upstream"] {
        let key = format!("sightline_connections_opened_total{{kind=\"{kind}\"}}");
        assert_eq!(s[key.as_str()], 0.0, "{key}");
    }

    drop((p, w1, w2));
    let text = m.openmetrics_text();
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        !s.keys().any(|k| k.starts_with("sightline_publication_")),
        "a dropped publication leaves the scrape"
    );
    assert_eq!(m.summary().sfu.instances.len(), 2);
}
