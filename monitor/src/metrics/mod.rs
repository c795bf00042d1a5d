//! Prometheus exposition of the monitor's state, encoded by `prometheus-client` in the OpenMetrics text format.
//!
//! The registry is the monitor itself: each scrape gathers the current values into an
//! [`Exposition`](exposition::Exposition) (a `prometheus_client`
//! [`Collector`](prometheus_client::collector::Collector)) and encodes it, so `/metrics` and the REST snapshots can
//! never disagree. Durations that need buckets are kept in lock-free
//! [`AtomicHistogram`](histogram::AtomicHistogram)s updated where the events happen.
//!
//! Counter families are named without `_total`; the encoder appends it to the samples (OpenMetrics rule), so
//! `sightline_connections_opened` is scraped as `sightline_connections_opened_total`.
//!
//! # Files
//! - `gather.rs`: which families a scrape shows, read from the registry.
//! - `abuse.rs`: the gateway-wide refusals, protocol violations, rate-limited messages and bans.
//! - `sfu.rs`: the SFU instances (up, viewers, health failures) and the published streams' counters.
//! - `viewers.rs`: the per-viewer families (estimate, tier, loss, RTT, NACKs, … of each open WebRTC/WHEP viewer).
//! - `exposition.rs`: the families as plain data and their `prometheus-client` encoding.
//! - `histogram.rs`: the lock-free histogram the operation and pipeline records update.
//! - `text004.rs`: the Prometheus 0.0.4 text rewritten from the OpenMetrics text.
//! - `tests.rs`: a strict parser of the exposition and a scrape of a known state.

mod abuse;
mod exposition;
mod gather;
pub(crate) mod histogram;
mod sfu;
#[cfg(test)]
mod tests;
mod text004;
mod viewers;

use prometheus_client::registry::Registry;

use crate::registry::{Inner, Monitor};

impl Monitor {
    /// All metrics in the OpenMetrics text format (serve it with content type
    /// `application/openmetrics-text; version=1.0.0; charset=utf-8`).
    pub fn openmetrics_text(&self) -> String {
        render(&self.inner)
    }

    /// All metrics in the Prometheus text exposition format 0.0.4 (serve it with content type
    /// `text/plain; version=0.0.4; charset=utf-8`): the same families and samples as [`Self::openmetrics_text`].
    pub fn prometheus_text(&self) -> String {
        text004::to_text_004(&render(&self.inner))
    }
}

fn render(inner: &Inner) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(gather::gather(inner)));
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would be a bug in a label value we produce.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!("prometheus encoding failed: {e}");
    }
    out
}
