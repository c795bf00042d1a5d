//! One scrape's families and samples as plain data, and their encoding by `prometheus-client` (a [`Collector`]).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::histogram::HistogramData;

#[derive(Debug)]
pub(super) enum Value {
    Gauge(f64),
    Counter(u64),
    CounterF(f64),
    Histogram(HistogramData),
}

pub(super) type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels, Value)>,
}

/// Everything one scrape shows.
#[derive(Debug, Default)]
pub(super) struct Exposition(Vec<Family>);

impl Exposition {
    pub(super) fn family(
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
