//! Per-viewer families: how each open WebRTC or WHEP viewer's path is doing (estimate, tier, loss, RTT,
//! NACKs, PLIs, retransmissions), labelled `connection` and `screen`. The number of series is bounded by the
//! gateway's connection limit; closed viewers leave the exposition at once (their history stays in REST and
//! the log files).

use prometheus_client::metrics::MetricType;

use super::exposition::{Exposition, Labels, Value};
use crate::registry::Inner;
use crate::types::Counters;

type Gauge = fn(&Counters) -> Option<f64>;
type Counter = fn(&Counters) -> u64;

const GAUGES: [(&str, &str, Gauge); 6] = [
    (
        "sightline_viewer_estimate_kbps",
        "Congestion controller's estimate of the viewer's path, kbit/s (absent without congestion control).",
        |c| c.estimate_kbps,
    ),
    (
        "sightline_viewer_target_kbps",
        "Bitrate the viewer's encoder aims at, kbit/s.",
        |c| c.target_kbps,
    ),
    (
        "sightline_viewer_bitrate_kbps",
        "Bitrate sent to the viewer, kbit/s.",
        |c| Some(c.bitrate_kbps),
    ),
    (
        "sightline_viewer_tier",
        "The viewer's quality tier (0 = best).",
        |c| c.tier.map(f64::from),
    ),
    (
        "sightline_viewer_loss_ratio",
        "Fraction of packets the viewer reported lost over its last receiver report interval.",
        |c| c.loss_fraction,
    ),
    (
        "sightline_viewer_rtt_seconds",
        "Round-trip time to the viewer.",
        |c| c.rtt_ms.map(|ms| ms / 1000.0),
    ),
];

const COUNTERS: [(&str, &str, Counter); 4] = [
    (
        "sightline_viewer_tier_switches",
        "Quality tier changes of the viewer.",
        |c| c.tier_switches,
    ),
    (
        "sightline_viewer_nacks",
        "NACKs received from the viewer.",
        |c| c.nack_received,
    ),
    (
        "sightline_viewer_plis",
        "Picture loss indications received from the viewer.",
        |c| c.pli_received,
    ),
    (
        "sightline_viewer_retransmitted_bytes",
        "Bytes sent again to the viewer in answer to NACKs.",
        |c| c.retransmitted_bytes,
    ),
];

/// Adds the per-viewer families of every open RTP viewer connection to `x`, in connection id order.
pub(super) fn gather_viewers(inner: &Inner, x: &mut Exposition) {
    // Records first, counters after: the table lock is not held while each connection's state is read.
    let mut records: Vec<_> = inner
        .conns
        .lock()
        .live
        .values()
        .filter(|c| c.kind.is_rtp_viewer())
        .cloned()
        .collect();
    records.sort_by_key(|c| c.id);
    let viewers: Vec<(Labels, Counters)> = records
        .iter()
        .map(|c| {
            let labels = vec![
                ("connection", c.id.to_string()),
                ("screen", c.attrs.screen.clone().unwrap_or_default()),
            ];
            (labels, c.counters())
        })
        .collect();
    for (name, help, get) in GAUGES {
        let f = x.family(name, help, MetricType::Gauge);
        for (labels, c) in &viewers {
            if let Some(v) = get(c).filter(|v| v.is_finite()) {
                f.push((labels.clone(), Value::Gauge(v)));
            }
        }
    }
    for (name, help, get) in COUNTERS {
        let f = x.family(name, help, MetricType::Counter);
        for (labels, c) in &viewers {
            f.push((labels.clone(), Value::Counter(get(c))));
        }
    }
}
