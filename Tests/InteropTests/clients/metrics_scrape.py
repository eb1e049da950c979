#!/usr/bin/env python3
"""Scrape a Prometheus text endpoint and print it as one JSON object, parsed by the reference
parser (prometheus_client.parser): {"metric{label=value,...}": value, ...}.

    VENV/bin/python metrics_scrape.py http://127.0.0.1:PORT/metrics

Exit 1 if the fetch fails, the status is not 200, or the text does not parse.
"""

import json
import sys
import urllib.request

sys.dont_write_bytecode = True

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def main(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        if response.status != 200:
            print(f"status {response.status}", file=sys.stderr)
            return 1
        text = response.read().decode("utf-8")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    print(json.dumps(samples, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
