"""Every finding of an analysis in one table, with a severity the CLI's ``--fail-on`` acts on.

The rules (docs/findings.md): a stalled HPA is high; an HPA's sidecar skew is high from 25 % of its
app-only replica-hours, medium from 10 %, low from 2 %; VPA hazards carry their own severity; a pod
whose app container had to be guessed, a workload with several app containers one of which rests on no
evidence, and an HPA replay that does not reproduce the observed
replicas, are low (the figures around them are rough); so is each note the collector left in the
snapshot (a kind it could not list, sources that disagree).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analyzer.findings.hpa_skew import CALIBRATED_SHARE, STALLED_SHARE, Direction
from analyzer.findings.jobs_held import job_hold_rows
from analyzer.findings.severity import Severity, severity_rank
from analyzer.findings.sidecar_failures import failure_rows
from analyzer.findings.start_order import start_order_rows
from analyzer.findings.stop_order import stop_order_rows
from analyzer.findings.vpa_hazards import HAZARDS
from analyzer.model.classify import NO_SIDECAR_EVIDENCE, Role

SKEW_HIGH_PERCENT = 25.0
SKEW_MEDIUM_PERCENT = 10.0

FINDING_COLUMNS = {
    "severity": "high, medium or low",
    "kind": "hpa-stalled, hpa-inflation, hpa-dilution, hpa-uncalibrated, ambiguous-app, multi-app, vpa-<hazard>, "
    "sidecar-slow-start, sidecar-crash-loop, sidecar-oom, sidecar-start-order, sidecar-stop-order, "
    "job-held-by-sidecar or collection",
    "namespace": "namespace of the object",
    "object": "the HPA, VPA, workload or pod concerned",
    "message": "what was found",
    "cost_month": "waste: dollars per month of replicas beyond the app's need (≥ 0; NaN for a shortfall, "
    "which costs capacity, not money)",
    "fix": "YAML to apply, or how to decide",
}
FINDING_TABLE_COLUMNS = {
    **FINDING_COLUMNS,
    "cause": "the key of its cause in the causes table (findings of one cause share a fix at the source)",
}
"""The findings table as an analysis holds it: :data:`FINDING_COLUMNS` and, once ranked, its cause."""


def findings_table(
    hpa_skew: pd.DataFrame,
    remedies: pd.DataFrame,
    vpa_hazards: pd.DataFrame,
    classes: pd.DataFrame,
    collection_notes: Sequence[str] = (),
    hpas: pd.DataFrame | None = None,
    failures: pd.DataFrame | None = None,
    jobs_held: pd.DataFrame | None = None,
    start_order: pd.DataFrame | None = None,
    stop_order: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """All findings, highest severity first (:data:`FINDING_COLUMNS`).

    ``cost_month`` is waste only (dollars per month of replicas beyond the app's need, ≥ 0); a
    dilution or a stall has no dollar figure, its message gives the missing capacity. ``hpas``
    (:data:`analyzer.findings.hpa_status.HPA_COLUMNS`) gives a stalled HPA's cause in its message.

    ``collection_notes`` (what the collector could not see, e.g. no permission to list VPAs, or the
    API and kube-state-metrics disagreeing) become low ``collection`` findings: they qualify the rest.
    """
    rows = collection_rows(collection_notes)
    best_fix = _best_remedies(remedies)
    causes = {} if hpas is None else {(h.namespace, h.hpa): h.reason for h in hpas.itertuples(index=False)}
    for r in hpa_skew.itertuples(index=False):
        fix = best_fix.get((r.namespace, r.hpa), "")
        if r.direction == Direction.STALLED:
            cause = causes.get((r.namespace, r.hpa)) or "a metric could not be computed"
            waste = r.waste_cost_month if r.excess_replica_hours > 0 else np.nan
            rows.append((Severity.HIGH, "hpa-stalled", r.namespace, f"hpa/{r.hpa}",
                         f"the HPA could not compute a replica count for {r.stalled_hours:,.1f} h (ScalingActive "
                         f"False: {cause}): its "
                         f"replicas stayed frozen, {r.excess_replica_hours:,.1f} replica-hours beyond and "
                         f"{r.missing_replica_hours:,.1f} short of what the app needed (up to "
                         f"{r.replicas_too_many_p95:,.0f} too many and {r.replicas_too_few_p95:,.0f} too few at the "
                         f"95th percentile; rule: high when a metric fails for at least {STALLED_SHARE:.0%} of the "
                         "window)", waste, fix))  # fmt: skip
        elif r.direction == Direction.UNCERTAIN:
            effect = "stalled" if r.stalled_hours > 0 else f"skewed {r.skew_percent:+.1f} %"
            rows.append((Severity.LOW, "hpa-uncertain", r.namespace, f"hpa/{r.hpa}",
                         "cannot tell: the HPA was rebuilt from kube-state-metrics, which exports a ContainerResource "
                         f"metric as a Resource one; replayed as Resource it would be {effect}, on the app container "
                         "alone it would not be. Collect with the Kubernetes API to know (rule: low, an HPA whose "
                         "metrics cannot be told from kube-state-metrics)", np.nan, ""))  # fmt: skip
        elif r.direction == Direction.INFLATION:
            rows.append((_skew_severity(r.skew_percent), "hpa-inflation", r.namespace, f"hpa/{r.hpa}",
                         f"sidecars ({r.sidecars}) make the HPA run {r.excess_replica_hours:,.1f} replica-hours "
                         f"beyond the app's need ({r.skew_percent:+.1f} % net; {r.replicas_too_many_mean:,.1f} "
                         f"replicas too many on average, {r.replicas_too_many_p95:,.0f} at the 95th percentile; "
                         f"{_rule(r.skew_percent)}){_held(r)}",
                         r.waste_cost_month, fix))  # fmt: skip
        elif r.direction == Direction.DILUTION:
            rows.append((_skew_severity(r.skew_percent), "hpa-dilution", r.namespace, f"hpa/{r.hpa}",
                         f"sidecars ({r.sidecars}) make the HPA run {r.missing_replica_hours:,.1f} replica-hours "
                         f"short of the app's need ({r.skew_percent:+.1f} % net; under-provisioned "
                         f"{r.under_provisioned_hours:,.1f} h, {r.replicas_too_few_mean:,.1f} replicas too few on "
                         f"average, {r.replicas_too_few_p95:,.0f} at the 95th percentile; {_rule(r.skew_percent)})"
                         f"{_held(r)}", np.nan, fix))  # fmt: skip
        if not r.calibrated and isinstance(r.calibration_within_1, float) and not np.isnan(r.calibration_within_1):
            message = (
                f"the replay matches the observed replicas within ±1 only {r.calibration_within_1:.0%} "
                f"of the time: treat its figures as rough (rule: low below {CALIBRATED_SHARE:.0%})"
            )
            rows.append((Severity.LOW, "hpa-uncalibrated", r.namespace, f"hpa/{r.hpa}", message, np.nan, ""))
    rules = {h.id: h.summary for h in HAZARDS}
    for h in vpa_hazards.itertuples(index=False):
        message = f"{h.evidence} (rule: {h.severity} when {rules.get(h.hazard, h.hazard)})"
        rows.append((h.severity, f"vpa-{h.hazard}", h.namespace, f"vpa/{h.vpa}", message, np.nan, h.fix))
    ambiguous = classes[classes["ambiguous"]].drop_duplicates(["namespace", "workload"])
    for a in ambiguous.itertuples(index=False):
        rows.append((Severity.LOW, "ambiguous-app", a.namespace, f"pod/{a.pod}",
                     f"{a.note} (rule: low, the figures around the pod rest on a guess)", np.nan,
                     "# rules.yaml\nrules:\n  - match: {namespace: " + a.namespace + ", container: " + a.container
                     + "}\n    role: app\n"))  # fmt: skip
    rows += _multi_app_rows(classes)
    if failures is not None:
        rows += failure_rows(failures)
    if jobs_held is not None:
        rows += job_hold_rows(jobs_held)
    if start_order is not None:
        rows += start_order_rows(start_order)
    if stop_order is not None:
        rows += stop_order_rows(stop_order)
    return order_findings(pd.DataFrame(rows, columns=list(FINDING_COLUMNS)))


def collection_rows(notes: Sequence[str]) -> list[tuple[Any, ...]]:
    """One low ``collection`` finding per note the collector left (:data:`FINDING_COLUMNS` order)."""
    return [
        (Severity.LOW, "collection", "", "snapshot", f"{note} (rule: low, what the collector could not see qualifies "
         "the rest)", np.nan, "") for note in notes
    ]  # fmt: skip


def order_findings(table: pd.DataFrame) -> pd.DataFrame:
    """Findings highest severity first, then by kind, namespace and object; ties keep their order."""
    order = table["severity"].map(severity_rank).fillna(-1)
    return (
        table.assign(_o=-order)
        .sort_values(["_o", "kind", "namespace", "object"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def rebuilt_notes(rebuilt: Sequence[tuple[str, int]]) -> list[str]:
    """One note saying which objects the collector rebuilt from kube-state-metrics (``(kind, count)``), if any."""
    listed = ", ".join(f"{n} {kind}" for kind, n in rebuilt if n)
    if not listed:
        return []
    return [
        f"rebuilt from kube-state-metrics, not read from the API: {listed}. These have no pod templates or "
        "annotations, and their HPAs cannot tell a ContainerResource metric from a Resource one"
    ]


def _multi_app_rows(classes: pd.DataFrame) -> list[tuple[Any, ...]]:
    """A low finding per workload whose pods have several app containers, one of them on no evidence:
    the rule counts them all as the app, which is right unless one is an unknown sidecar."""
    key = ["namespace", "workload_kind", "workload"]
    apps = classes[classes["role"] == Role.APP].drop_duplicates([*key, "container"])
    guessed_any = (~apps["primary"] & (apps["evidence"] == NO_SIDECAR_EVIDENCE)).groupby([apps[k] for k in key]).any()
    apps = apps.join(guessed_any.rename("_guessed"), on=key)
    apps = apps[apps["_guessed"]]  # only workloads with such a container: no Python step for every workload
    rows = []
    for (ns, kind, workload), group in apps.groupby(["namespace", "workload_kind", "workload"], sort=True):
        guessed = group[~group["primary"] & (group["evidence"] == NO_SIDECAR_EVIDENCE)]
        if len(group) < 2 or guessed.empty:
            continue
        names = ", ".join(group.sort_values("primary", ascending=False)["container"])
        message = (f"{len(group)} app containers ({names}): no sidecar evidence for {', '.join(guessed.container)}, "
                   "so the app-only view counts them all; if one is a sidecar, say so with a rule (rule: low, an "
                   "app container that rests on no evidence)")  # fmt: skip
        fix = "# rules.yaml\nrules:\n" + "".join(
            f"  - match: {{namespace: {ns}, workload: {workload}, container: {c}}}\n    role: sidecar\n"
            for c in guessed.container
        )
        rows.append((Severity.LOW, "multi-app", ns, f"{kind.lower()}/{workload}", message, np.nan, fix))
    return rows


def _held(r: Any) -> str:
    """What the controller's conditions say held the HPA as deployed, against app-only, as a clause."""
    if not isinstance(r.held_as_deployed, str) or not r.held_as_deployed:
        return ""
    app_only = r.held_app_only if isinstance(r.held_app_only, str) and r.held_app_only else "nothing of the kind"
    return f"; as deployed the controller was {r.held_as_deployed}; app-only: {app_only}"


def _rule(skew_percent: float) -> str:
    """The severity rule the net skew met, in words."""
    return (f"|net| {abs(skew_percent):.1f} % against the rule high ≥ {SKEW_HIGH_PERCENT:g} %, medium ≥ "
            f"{SKEW_MEDIUM_PERCENT:g} %, low ≥ 2 %")  # fmt: skip


def _skew_severity(skew_percent: float) -> Severity:
    pct = abs(skew_percent)
    return (
        Severity.HIGH if pct >= SKEW_HIGH_PERCENT else Severity.MEDIUM if pct >= SKEW_MEDIUM_PERCENT else Severity.LOW
    )


def _best_remedies(remedies: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Per HPA, its recommended remedy as fix text: what it changes, the command, the patch."""
    out: dict[tuple[str, str], str] = {}
    if remedies.empty:
        return out
    for r in remedies[remedies["recommended"]].itertuples(index=False):
        parts = [f"{r.remedy}: {r.description}", f"# {r.command}" if r.command else "", r.patch,
                 f"# {r.notes}" if r.notes else ""]  # fmt: skip
        out[(r.namespace, r.hpa)] = "\n".join(p.rstrip("\n") for p in parts if p) + "\n"
    return out
