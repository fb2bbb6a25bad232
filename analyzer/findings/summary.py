"""Every finding of an analysis in one table, with a severity the CLI's ``--fail-on`` acts on.

The rules (docs/findings.md): a stalled HPA is high; an HPA's sidecar skew is high from 25 % of its
app-only replica-hours, medium from 10 %, low from 2 %; VPA hazards carry their own severity; a pod
whose app container had to be guessed, and an HPA replay that does not reproduce the observed
replicas, are low (the figures around them are rough); so is each note the collector left in the
snapshot (a kind it could not list, sources that disagree).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEVERITIES = ("low", "medium", "high")
SKEW_HIGH_PERCENT = 25.0
SKEW_MEDIUM_PERCENT = 10.0

FINDING_COLUMNS = {
    "severity": "high, medium or low",
    "kind": "hpa-stalled, hpa-inflation, hpa-dilution, hpa-uncalibrated, ambiguous-app, vpa-<hazard> or collection",
    "namespace": "namespace of the object",
    "object": "the HPA, VPA or pod concerned",
    "message": "what was found",
    "cost_month": "monthly cost at stake, dollars (NaN where not priced)",
    "fix": "YAML to apply, or how to decide",
}


def severity_rank(severity: str) -> int:
    """0 for low up to 2 for high; -1 for anything else (e.g. "none")."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def findings_table(
    hpa_skew: pd.DataFrame,
    remedies: pd.DataFrame,
    vpa_hazards: pd.DataFrame,
    classes: pd.DataFrame,
    collection_notes: list[str] | tuple[str, ...] = (),
) -> pd.DataFrame:
    """All findings, highest severity first (:data:`FINDING_COLUMNS`).

    ``collection_notes`` (what the collector could not see, e.g. no permission to list VPAs, or the
    API and kube-state-metrics disagreeing) become low ``collection`` findings: they qualify the rest.
    """
    rows: list[tuple[object, ...]] = [
        ("low", "collection", "", "snapshot", note, np.nan, "") for note in collection_notes
    ]
    best_fix = _best_remedies(remedies)
    for r in hpa_skew.itertuples(index=False):
        fix = best_fix.get((r.namespace, r.hpa), "")
        if r.direction == "stalled":
            rows.append(("high", "hpa-stalled", r.namespace, f"hpa/{r.hpa}",
                         f"the HPA could not compute a replica count for {r.stalled_hours:,.1f} h "
                         f"(replicas frozen at {r.replica_hours_as_deployed:,.0f} replica-hours vs "
                         f"{r.replica_hours_app_only:,.0f} the app needs)", np.nan, fix))  # fmt: skip
        elif r.direction in ("inflation", "dilution"):
            pct = abs(r.skew_percent)
            sev = "high" if pct >= SKEW_HIGH_PERCENT else "medium" if pct >= SKEW_MEDIUM_PERCENT else "low"
            rows.append((sev, f"hpa-{r.direction}", r.namespace, f"hpa/{r.hpa}",
                         f"sidecars ({r.sidecars}) move the HPA by {r.skew_replica_hours:+,.1f} replica-hours "
                         f"({r.skew_percent:+.1f} % of what the app needs)", abs(r.skew_cost_month), fix))  # fmt: skip
        if not r.calibrated and isinstance(r.calibration_within_1, float) and not np.isnan(r.calibration_within_1):
            message = (
                f"the replay matches the observed replicas within ±1 only {r.calibration_within_1:.0%} "
                "of the time: treat its figures as rough"
            )
            rows.append(("low", "hpa-uncalibrated", r.namespace, f"hpa/{r.hpa}", message, np.nan, ""))
    for h in vpa_hazards.itertuples(index=False):
        rows.append((h.severity, f"vpa-{h.hazard}", h.namespace, f"vpa/{h.vpa}", h.evidence, np.nan, h.fix))
    ambiguous = classes[classes["ambiguous"]].drop_duplicates(["namespace", "workload"])
    for a in ambiguous.itertuples(index=False):
        rows.append(("low", "ambiguous-app", a.namespace, f"pod/{a.pod}", a.note, np.nan,
                     "# rules.yaml\nrules:\n  - match: {namespace: " + a.namespace + ", container: " + a.container
                     + "}\n    role: app\n"))  # fmt: skip
    table = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    order = table["severity"].map(severity_rank).fillna(-1)
    return (
        table.assign(_o=-order)
        .sort_values(["_o", "kind", "namespace", "object"])
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def _best_remedies(remedies: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Per HPA, the patch of the remedy with the smallest residual skew that leaves nothing stalled."""
    out: dict[tuple[str, str], str] = {}
    if remedies.empty:
        return out
    ok = remedies[remedies["stalled_hours"] == 0].assign(_r=lambda f: f["residual_skew_replica_hours"].abs())
    for (ns, hpa), group in ok.groupby(["namespace", "hpa"], sort=False):
        out[(ns, hpa)] = str(group.sort_values("_r").iloc[0]["patch"])
    return out
