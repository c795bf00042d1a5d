//! The SFU families: per instance (up, viewers, health failures) and per published stream (bytes, packets,
//! keyframes, PLIs, FIRs, viewers). Instance names come from the configuration and publications are bounded
//! ([`MAX_SFU_INSTANCES`](crate::MAX_SFU_INSTANCES), [`MAX_PUBLICATIONS`](crate::MAX_PUBLICATIONS)), so the
//! number of series is too.

use std::collections::BTreeMap;

use prometheus_client::metrics::MetricType;

use super::exposition::{Exposition, Labels, Value};
use crate::registry::Inner;
use crate::sfu::PublicationSnapshot;

/// Per-publication counters: (family name without `_total`, help, field).
type PubCounter = (&'static str, &'static str, fn(&PublicationSnapshot) -> u64);

const PUB_COUNTERS: [PubCounter; 5] = [
    (
        "sightline_publication_bytes",
        "Bytes of RTP (headers included) sent to an SFU or WHIP endpoint, by publication.",
        |p| p.bytes,
    ),
    (
        "sightline_publication_packets",
        "RTP packets sent to an SFU or WHIP endpoint, by publication.",
        |p| p.packets,
    ),
    (
        "sightline_publication_plis",
        "Picture Loss Indications received from the SFU, by publication.",
        |p| p.plis,
    ),
    (
        "sightline_publication_firs",
        "Full Intra Requests received from the SFU, by publication.",
        |p| p.firs,
    ),
    (
        "sightline_publication_keyframes",
        "Keyframes (IDR access units) sent, by publication.",
        |p| p.keyframes,
    ),
];

fn pub_labels(p: &PublicationSnapshot) -> Labels {
    vec![
        ("kind", p.kind.clone()),
        ("target", p.target.clone()),
        ("screen", p.screen.clone()),
        ("tier", p.tier.clone()),
    ]
}

/// Publications with the same labels (two WHIP egresses of one tier to one endpoint) summed into one series,
/// since a series may appear only once per scrape.
fn merged(pubs: &[PublicationSnapshot]) -> Vec<(Labels, PublicationSnapshot)> {
    let mut out: BTreeMap<Labels, PublicationSnapshot> = BTreeMap::new();
    for p in pubs {
        let m = out.entry(pub_labels(p)).or_default();
        m.bytes += p.bytes;
        m.packets += p.packets;
        m.plis += p.plis;
        m.firs += p.firs;
        m.keyframes += p.keyframes;
        m.viewers += p.viewers;
    }
    out.into_iter().collect()
}

/// Adds the SFU families to one scrape.
pub(super) fn gather_sfu(inner: &Inner, x: &mut Exposition) {
    let s = inner.sfu.snapshot();
    let pubs = merged(&s.publications);
    let f = x.family(
        "sightline_sfu_instance_up",
        "Whether an SFU instance passes its health checks (1) or is down (0).",
        MetricType::Gauge,
    );
    for i in &s.instances {
        f.push((
            vec![("instance", i.name.clone())],
            Value::Gauge(if i.state.up { 1.0 } else { 0.0 }),
        ));
    }
    let f = x.family(
        "sightline_sfu_instance_viewers",
        "Viewers routed to an SFU instance and still watching.",
        MetricType::Gauge,
    );
    for i in &s.instances {
        f.push((
            vec![("instance", i.name.clone())],
            Value::Gauge(i.state.viewers as f64),
        ));
    }
    let f = x.family(
        "sightline_sfu_instance_health_failures",
        "Failed health checks of an SFU instance since start.",
        MetricType::Counter,
    );
    for i in &s.instances {
        f.push((
            vec![("instance", i.name.clone())],
            Value::Counter(i.state.failures_total),
        ));
    }
    for (name, help, field) in PUB_COUNTERS {
        let f = x.family(name, help, MetricType::Counter);
        for (labels, p) in &pubs {
            f.push((labels.clone(), Value::Counter(field(p))));
        }
    }
    let f = x.family(
        "sightline_publication_viewers",
        "Viewers watching a published stream through its SFU.",
        MetricType::Gauge,
    );
    for (labels, p) in pubs {
        f.push((labels, Value::Gauge(p.viewers as f64)));
    }
}
