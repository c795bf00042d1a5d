//! The Prometheus text exposition format 0.0.4, rewritten from the OpenMetrics text.

/// Rewrites the OpenMetrics text of [`render`](super::render) in the Prometheus text exposition format 0.0.4
/// (`text/plain; version=0.0.4`), the format every Prometheus-compatible scraper understands: counter families are
/// named after their `_total` samples, `# UNIT` and `# EOF` go, and HELP loses the `\"` escape 0.0.4 does not have.
/// Only the metric types [`render`](super::render) emits (counter, gauge, histogram) occur.
pub(super) fn to_text_004(openmetrics: &str) -> String {
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
    use super::*;

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
}
