"""The PromQL this tool sends: every query covers whole namespaces (aggregated on the server with
``by (...)``, or raw samples evaluated on the client), so the number of requests grows with the time
range and the number of metrics, never with the number of pods.

Selectors drop cAdvisor's cgroup aggregates (``container=""``) and pause containers
(``container="POD"``); ``max by`` folds the same series scraped by two jobs into one instead of
summing it twice (cAdvisor's series, docs/collect.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from analyzer.collect.timerange import promql_duration

CPU_COUNTER = "container_cpu_usage_seconds_total"
MEMORY_GAUGE = "container_memory_working_set_bytes"
_CONTAINER_ONLY = ('container!=""', 'container!="POD"')


@dataclass(frozen=True)
class Scope:
    """Label matchers every selector carries: the cluster (on a shared Prometheus) and namespaces."""

    cluster_label: str | None = None
    cluster: str | None = None
    namespaces: tuple[str, ...] = ()

    def matchers(self, *extra: str) -> str:
        parts = list(extra)
        if self.cluster_label is not None:
            parts.append(f'{self.cluster_label}="{escape(self.cluster or "")}"')
        if self.namespaces:
            parts.append(f'namespace=~"{namespace_regex(self.namespaces)}"')
        return "{" + ",".join(parts) + "}"

    def only(self, namespaces: Iterable[str]) -> Scope:
        return Scope(self.cluster_label, self.cluster, tuple(namespaces))


def escape(value: str) -> str:
    """A string as the body of a PromQL double-quoted literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def namespace_regex(namespaces: Iterable[str]) -> str:
    return escape("|".join(re.escape(ns) for ns in sorted(namespaces)))


def cpu_usage(scope: Scope, window_s: float) -> str:
    """Cores per (namespace, pod, container): ``rate()`` of the cAdvisor counter over ``window_s``."""
    selector = CPU_COUNTER + scope.matchers(*_CONTAINER_ONLY)
    return f"max by (namespace, pod, container) (rate({selector}[{promql_duration(window_s)}]))"


def memory_usage(scope: Scope) -> str:
    """Working-set bytes per (namespace, pod, container)."""
    return f"max by (namespace, pod, container) ({MEMORY_GAUGE}{scope.matchers(*_CONTAINER_ONLY)})"


def series_per_namespace(scope: Scope) -> str:
    """How many containers report memory at once, per namespace: sizes the namespace batches."""
    return f"count by (namespace) ({memory_usage(scope)})"


def raw_samples(scope: Scope, window_s: float, metric: str = MEMORY_GAUGE) -> str:
    """The raw samples of ``metric`` in the last ``window_s`` (a range vector, every label kept): the
    scrape interval from their timestamps, and usage evaluated on the client (collect/grid.py)."""
    return f"{metric}{scope.matchers(*_CONTAINER_ONLY)}[{promql_duration(window_s)}]"


def last_seen(metric: str, by: Iterable[str], scope: Scope, window_s: float, *extra: str) -> str:
    """The newest value of each ``by`` group of a kube-state-metrics series within ``window_s``."""
    labels = ", ".join(by)
    return f"max by ({labels}) (last_over_time({metric}{scope.matchers(*extra)}[{promql_duration(window_s)}]))"


def present(metric: str, by: Iterable[str], scope: Scope, *extra: str) -> str:
    """``max by`` of a kube-state-metrics series at each step (replicas over time)."""
    return f"max by ({', '.join(by)}) ({metric}{scope.matchers(*extra)})"


def changes(metrics: Iterable[str], by: Iterable[str], scope: Scope, step_s: float, *extra: str) -> str:
    """The points where ``max by`` of the series (``or``-ed over ``metrics``: a container's and an init
    container's) differs from one step before, or has no value a step before (it appeared): a status
    that rarely changes costs a row per change, not per step."""

    def now(offset: str = "") -> str:
        return " or ".join(f"max by ({', '.join(by)}) ({m}{scope.matchers(*extra)}{offset})" for m in metrics)

    before = now(f" offset {promql_duration(step_s)}")
    return f"({now()}) unless (({now()}) == ({before}))"


def changed_containers(metrics: Iterable[str], by: Iterable[str], scope: Scope, window_s: float) -> str:
    """The containers (namespace, pod, container) one of whose series changed value within ``window_s``,
    or that had more than one of them (a label such as the last termination's reason changed): one
    evaluation over the window, which reads each sample once, not a comparison at every step."""
    span = promql_duration(window_s)
    group, labels = "namespace, pod, container", ", ".join(by)
    return " or ".join(f"(max by ({group}) (changes({m}{scope.matchers()}[{span}])) > 0) or (count by ({group}) "
                       f"(max by ({labels}) (last_over_time({m}{scope.matchers()}[{span}]))) > 1)"
                       for m in metrics)  # fmt: skip


def last_values(metrics: Iterable[str], by: Iterable[str], scope: Scope, window_s: float) -> str:
    """Each series' newest value within ``window_s`` (``max by``, ``or``-ed over ``metrics``)."""
    span = promql_duration(window_s)
    return " or ".join(f"max by ({', '.join(by)}) (last_over_time({m}{scope.matchers()}[{span}]))" for m in metrics)


def values_of(metrics: Iterable[str], by: Iterable[str], scope: Scope, *extra: str) -> str:
    """``max by`` of the series, ``or``-ed over ``metrics``: the status at one instant."""
    return " or ".join(f"max by ({', '.join(by)}) ({m}{scope.matchers(*extra)})" for m in metrics)
