"""Headline figures as Prometheus metrics: a textfile for node-exporter, or a push to a Pushgateway."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, generate_latest, push_to_gateway

from analyzer.errors import SidecarImpactError, SourceError, clip, reason
from analyzer.render.outputs import cannot_write, check_file_target

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

JOB = "sidecar-impact"


def registry_of(analysis: Analysis) -> CollectorRegistry:
    """Gauges named by Prometheus conventions (base units, ``_dollars``, ``_ratio``), labelled by cluster."""
    reg = CollectorRegistry()
    cluster = analysis.metadata.cluster
    s = analysis.summary()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, ("cluster", *labels), registry=reg)

    gauge("sidecar_impact_sidecar_cost_dollars_per_month", "Monthly cost of sidecar containers").labels(cluster).set(
        s["sidecar_cost_month"]
    )
    gauge("sidecar_impact_hpas", "HPAs analysed").labels(cluster).set(s["hpas"])
    gauge("sidecar_impact_hpas_stalled", "HPAs that cannot compute a replica count").labels(cluster).set(
        s["hpas_stalled"]
    )
    gauge("sidecar_impact_hpas_skewed", "HPAs whose replicas sidecars move by 2 % or more").labels(cluster).set(
        s["hpas_skewed"]
    )
    gauge("sidecar_impact_skew_cost_dollars_per_month", "Monthly cost of the HPA skew from sidecars").labels(
        cluster
    ).set(s["skew_cost_month"])
    findings = gauge("sidecar_impact_findings", "Findings by severity", ("severity",))
    for severity in ("high", "medium", "low"):
        findings.labels(cluster, severity).set(s[f"findings_{severity}"])
    skew = gauge(
        "sidecar_impact_hpa_skew_ratio", "Replica-hours as deployed over app-only, minus one", ("namespace", "hpa")
    )
    for r in analysis.hpa_skew.dropna(subset=["skew_percent"]).itertuples(index=False):
        skew.labels(cluster, r.namespace, r.hpa).set(r.skew_percent / 100.0)
    return reg


def write_metrics_file(analysis: Analysis, path: str | os.PathLike[str]) -> None:
    """Write the text exposition atomically: a fresh temporary file (``mkstemp``: created exclusively,
    never through a link) in the same folder, renamed over ``path`` when whole."""
    target = Path(path)
    check_file_target(target, "--metrics-file")
    text = generate_latest(registry_of(analysis))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)  # node-exporter runs as another user
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise cannot_write(target, exc) from None


def push_metrics(analysis: Analysis, url: str, timeout_s: float = 10.0) -> None:
    """Push to a Pushgateway (job ``sidecar-impact``, grouped by cluster); failures are a :class:`SourceError`."""
    try:
        push_to_gateway(
            url, job=JOB, registry=registry_of(analysis), grouping_key={"cluster": analysis.metadata.cluster},
            timeout=timeout_s,
        )  # fmt: skip
    except ValueError as exc:
        raise SidecarImpactError(f"--pushgateway {clip(url)}: not a URL ({reason(exc)})") from exc
    except OSError as exc:
        raise SourceError(f"pushgateway {url}: {reason(exc)}") from exc
