#!/usr/bin/env python3
"""Parses a /metrics scrape with the official Prometheus client's OpenMetrics parser (an independent parser).

Usage: parse_metrics.py FILE   Prints one JSON line: {"families": N, "samples": N, "names": [...],
"missing_help": [...]} and exits non-zero when the text does not parse.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    text = open(sys.argv[1], encoding="utf-8").read()
    families = list(text_string_to_metric_families(text))
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
