#!/usr/bin/env python3
"""Parses a /metrics scrape with the official Prometheus client's parsers (independent of the gateway).

Usage: parse_metrics.py FILE [prometheus|openmetrics]   (default prometheus: the text format 0.0.4)
Prints one JSON line: {"families": N, "samples": N, "names": [...], "types": {...}, "missing_help": [...]} and
exits non-zero when the text does not parse.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus


def main() -> None:
    text = open(sys.argv[1], encoding="utf-8").read()
    fmt = sys.argv[2] if len(sys.argv) > 2 else "prometheus"
    parse = {"prometheus": parse_prometheus, "openmetrics": parse_openmetrics}[fmt]
    families = list(parse(text))
    samples = sum(len(f.samples) for f in families)
    missing_help = [f.name for f in families if not (f.documentation or "").strip()]
    print(json.dumps({
        "families": len(families),
        "samples": samples,
        "names": sorted(f.name for f in families),
        "types": {f.name: f.type for f in families},
        "missing_help": missing_help,
    }))


if __name__ == "__main__":
    main()
