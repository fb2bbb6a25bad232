"""A collection's usage rows gathered into one frame, for tests that compare query plans on small ranges."""

from __future__ import annotations

import pandas as pd

from analyzer.collect import promql
from analyzer.collect.prometheus_connection import PromClient
from analyzer.collect.prometheus_usage import Request, usage_parts
from analyzer.collect.timerange import TimeRange
from analyzer.snapshot.tables import empty_usage

KEYS = ("namespace", "pod", "container")


def collect_usage(
    client: PromClient, scope: promql.Scope, tr: TimeRange, scrape_s: float, requests: list[Request]
) -> pd.DataFrame:
    """Every request's usage rows (snapshot usage columns) in one frame, label columns sharing categories."""
    parts = list(usage_parts(client, scope, tr, scrape_s, requests))
    if not parts:
        return empty_usage()
    for key in KEYS:
        categories = sorted(set().union(*(set(p[key].astype(str)) for p in parts)))
        for part in parts:
            part[key] = pd.Categorical(part[key].astype(str), categories=categories)
    return pd.concat(parts, ignore_index=True)
