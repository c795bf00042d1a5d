//! The gateway-wide abuse families: refusals by reason, protocol violations by kind, rate-limited messages by
//! class, bans, and the sockets waiting to authenticate. Label values are the gateway's fixed names
//! ([`AbuseCounters`](crate::AbuseCounters)), so the number of series is bounded.

use prometheus_client::metrics::MetricType;

use super::exposition::{Exposition, Value};
use crate::registry::Inner;

/// Adds the abuse families to one scrape.
pub(super) fn gather_abuse(inner: &Inner, x: &mut Exposition) {
    let a = inner.abuse.snapshot();
    for (name, help, label, map) in [
        (
            "sightline_refused",
            "Connections and requests refused at the edge or the upgrade, by reason.",
            "reason",
            &a.refused,
        ),
        (
            "sightline_protocol_violations",
            "Protocol violations by clients (bad frames, bad messages, binary, oversized, bad UTF-8), by kind.",
            "kind",
            &a.violations,
        ),
        (
            "sightline_rate_limited",
            "Client messages refused by a rate limit and not carried out, by message class.",
            "class",
            &a.rate_limited,
        ),
    ] {
        let f = x.family(name, help, MetricType::Counter);
        for (k, n) in map {
            f.push((vec![(label, k.clone())], Value::Counter(*n)));
        }
    }
    x.family(
        "sightline_bans",
        "Temporary bans of client addresses for repeated rate-limit hits or protocol violations.",
        MetricType::Counter,
    )
    .push((vec![], Value::Counter(a.bans)));
    x.family(
        "sightline_unauthenticated_sockets",
        "WebSocket connections open now that have not authenticated yet.",
        MetricType::Gauge,
    )
    .push((vec![], Value::Gauge(a.unauthenticated_sockets as f64)));
}
