//! The health score of `GET /api/v1/performance`: a pure function of the monitor's snapshots, so every rule is
//! tested on plain values. 100 is healthy; each finding subtracts a penalty and says why and what to do.

use serde::{Deserialize, Serialize};
use sightline_monitor::{PipelineSnapshot, ProcessSnapshot};

/// The score and its explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// 0–100.
    pub score: u8,
    /// `healthy` (≥ 80), `degraded` (≥ 50) or `unhealthy`.
    pub status: String,
    /// Why points were taken off (empty when healthy).
    pub reasons: Vec<String>,
    /// What an operator can do about it.
    pub recommendations: Vec<String>,
}

/// Resident memory above which the gateway is considered bloated: a 4K pipeline with a few JPEG profiles stays well
/// under 1 GiB, so 2 GiB means something is holding frames.
const RSS_WARN_BYTES: u64 = 2 * 1024 * 1024 * 1024;

struct Findings {
    score: i32,
    reasons: Vec<String>,
    recommendations: Vec<String>,
}

impl Findings {
    fn add(&mut self, penalty: i32, reason: String, recommendation: &str) {
        self.score -= penalty;
        self.reasons.push(reason);
        if !self.recommendations.iter().any(|r| r == recommendation) {
            self.recommendations.push(recommendation.to_owned());
        }
    }
}

/// Scores the gateway: leaked tasks, CPU saturation, pipelines over their frame budget, lagging viewers, memory.
pub fn assess(
    process: &ProcessSnapshot,
    pipelines: &[PipelineSnapshot],
    leaked: u64,
    fps: u32,
) -> Health {
    let mut f = Findings {
        score: 100,
        reasons: Vec::new(),
        recommendations: Vec::new(),
    };
    if leaked > 0 {
        f.add(
            30,
            format!("{leaked} task(s) outlived their owner (leaked)"),
            "inspect /api/v0/mcp/monitor/webrtc/tasks and report the leaked task names as a bug",
        );
    }
    if let (Some(cpu), Some(cpus)) = (process.cpu_percent, process.cpus) {
        let share = cpu / (cpus.max(1) as f64 * 100.0);
        if share > 0.9 {
            f.add(
                25,
                format!("CPU saturated: {cpu:.0}% of {cpus} core(s)"),
                "lower [capture] fps or [video] max_width, or use [video] usage = \"camera\"",
            );
        } else if share > 0.75 {
            f.add(
                10,
                format!("CPU busy: {cpu:.0}% of {cpus} core(s)"),
                "lower [capture] fps or [video] max_width, or use [video] usage = \"camera\"",
            );
        }
    }
    let budget_ms = 1000.0 / f64::from(fps.max(1));
    for p in pipelines {
        let name = format!("{} pipeline of screen {} ({})", p.kind, p.screen, p.profile);
        if p.encode.samples > 0 {
            if p.encode.p95_ms > budget_ms {
                f.add(
                    20,
                    format!(
                        "{name}: encode p95 {:.1} ms exceeds the {budget_ms:.1} ms frame budget",
                        p.encode.p95_ms
                    ),
                    "set [video] max_width (e.g. 1280), lower [capture] fps, or use [video] usage = \"camera\"",
                );
            } else if p.encode.median_ms > budget_ms / 2.0 {
                f.add(
                    5,
                    format!(
                        "{name}: encode median {:.1} ms uses over half of the {budget_ms:.1} ms frame budget",
                        p.encode.median_ms
                    ),
                    "set [video] max_width (e.g. 1280), lower [capture] fps, or use [video] usage = \"camera\"",
                );
            }
        }
        if p.capture.samples > 0 && p.capture.p95_ms > budget_ms / 2.0 {
            f.add(
                10,
                format!("{name}: capture p95 {:.1} ms is slow", p.capture.p95_ms),
                "check that MIT-SHM works (a remote X display falls back to slow copies)",
            );
        }
        let lagging: u64 = p
            .drops
            .iter()
            .filter(|(reason, _)| reason.contains("lag") || reason.contains("full"))
            .map(|(_, n)| n)
            .sum();
        if lagging > 0 {
            f.add(
                5,
                format!("{name}: {lagging} frame(s) dropped for slow viewers"),
                "slow viewers skip to the next keyframe; lower [video] bitrate_kbps if their links are slow",
            );
        }
    }
    if let Some(rss) = process.rss_bytes
        && rss > RSS_WARN_BYTES
    {
        f.add(
            10,
            format!("resident memory is {} MiB", rss / (1024 * 1024)),
            "check /api/v1/status for pipelines nobody watches and report it",
        );
    }
    let score = f.score.clamp(0, 100) as u8;
    let status = match score {
        80..=100 => "healthy",
        50..=79 => "degraded",
        _ => "unhealthy",
    };
    Health {
        score,
        status: status.to_owned(),
        reasons: f.reasons,
        recommendations: f.recommendations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(cpu: f64) -> ProcessSnapshot {
        serde_json::from_value(serde_json::json!({
            "available": true, "unavailable_reason": null, "pid": 1, "cpus": 2, "cpu_percent": cpu,
            "cpu_window_ms": 1000.0, "cpu_seconds_total": 1.0, "rss_bytes": 100_000_000u64,
            "rss_peak_bytes": 100_000_000u64, "vm_bytes": 1u64, "threads": 10, "uptime_ms": 1.0
        }))
        .expect("process snapshot shape")
    }

    fn pipeline(encode_p95: f64, encode_median: f64, drops: u64) -> PipelineSnapshot {
        let timing = |median: f64, p95: f64| serde_json::json!({"samples": 100, "median_ms": median, "mean_ms": median, "p95_ms": p95, "max_ms": p95});
        serde_json::from_value(serde_json::json!({
            "screen": "0", "kind": "h264", "profile": "camera-4000k-full", "started_ms": 0, "uptime_ms": 1.0,
            "subscribers": 1, "capture_fps": 30.0, "encode_fps": 30.0, "mean_frame_bytes": 1000.0,
            "bitrate_kbps": 1000.0, "capture": timing(0.7, 1.0), "convert": timing(0.6, 0.8),
            "encode": timing(encode_median, encode_p95), "captures_total": 100, "unchanged_total": 0,
            "frames_total": 100, "keyframes_total": 1, "bytes_total": 1000, "keyframe_requests_total": 1,
            "restarts_total": 0, "dropped_total": drops, "drops": {"lagging": drops}
        }))
        .expect("pipeline snapshot shape")
    }

    #[test]
    fn an_idle_gateway_is_healthy() {
        let h = assess(&process(3.0), &[pipeline(6.0, 5.0, 0)], 0, 30);
        assert_eq!(h.score, 100);
        assert_eq!(h.status, "healthy");
        assert!(h.reasons.is_empty() && h.recommendations.is_empty());
    }

    #[test]
    fn each_finding_costs_points_and_says_why() {
        let h = assess(&process(195.0), &[pipeline(40.0, 30.0, 3)], 2, 30);
        assert_eq!(h.score, 100 - 30 - 25 - 20 - 5);
        assert_eq!(h.status, "unhealthy");
        assert_eq!(h.reasons.len(), 4);
        assert!(h.reasons[0].contains("leaked"));
        assert!(h.reasons.iter().any(|r| r.contains("frame budget")));
        assert!(!h.recommendations.is_empty());
    }

    #[test]
    fn half_budget_encode_is_a_warning() {
        let h = assess(&process(10.0), &[pipeline(20.0, 18.0, 0)], 0, 30);
        assert_eq!(h.score, 95);
        assert_eq!(h.status, "healthy");
    }
}
