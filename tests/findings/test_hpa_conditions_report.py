"""The controller's conditions in the report: replayed per sync, compared with the observed status, and
used to say in words what held an HPA."""

from __future__ import annotations

import re

import numpy as np
import pytest

from analyzer.api import Analysis, load_snapshot
from analyzer.findings.hpa_held import agrees, held_text
from analyzer.simulate.hpa_conditions import N_REASONS, Reason


def test_the_replayed_final_conditions_match_the_generators_controller(sample_analysis: Analysis) -> None:
    """The sample's HPAs carry the conditions the generator's own controller left (all three types, with
    reasons); the replay of each, as deployed, ends with the same ones."""
    replayed = sample_analysis.hpa_skew.dropna(subset=["replica_hours_as_deployed"])
    assert len(replayed) == len(load_snapshot().items("HorizontalPodAutoscaler"))
    assert replayed.conditions_observed.str.contains("AbleToScale True").all()
    assert (replayed.conditions_agree == True).all(), replayed[["hpa", "conditions_replayed", "conditions_observed"]]  # noqa: E712
    ledger = replayed.set_index("hpa").loc["ledger"]
    assert "ScalingActive False FailedGetResourceMetric" in ledger.conditions_replayed


def test_what_held_the_hpa_is_said_in_words_and_fits_the_replicas(sample_analysis: Analysis) -> None:
    """inventory's sidecar dilutes its CPU: as deployed the controller sat clamped at minReplicas
    (ScalingLimited TooFewReplicas), app-only it did not. Clamped hours cannot exceed the hours at min."""
    rows = sample_analysis.hpa_skew.set_index("hpa")
    inventory = rows.loc["inventory"]
    held = re.search(r"held at minReplicas ([\d.,]+) h \(ScalingLimited TooFewReplicas\)", inventory.held_as_deployed)
    assert held and "held at minReplicas" not in inventory.held_app_only
    assert 0.25 * 72 <= float(held.group(1)) <= inventory.hours_at_min_as_deployed + 0.1
    message = sample_analysis.findings.set_index("object").message["hpa/inventory"]
    assert "as deployed the controller was held at minReplicas" in message
    stalled = sample_analysis.findings.set_index("object").message["hpa/ledger"]
    assert "ScalingActive False: missing request for cpu in container linkerd-proxy" in stalled
    assert rows.loc["ledger"].held_as_deployed.startswith("unable to compute a replica count (scaling frozen) 72.0 h")


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ({}, None),  # nothing recorded
        ({"ScalingActive": ("True", "ValidMetricFound")}, True),
        ({"ScalingActive": ("True", "")}, True),  # kube-state-metrics: status only
        ({"ScalingLimited": ("True", "TooManyReplicas")}, False),  # the replay ended within range
        ({"AbleToScale": ("True", "ScaleDownStabilized")}, False),  # same status, other reason
        ({"ScalingActive": ("False", "")}, False),
    ],
)
def test_agreement_checks_status_and_the_reason_where_recorded(observed, expected) -> None:
    codes = np.array([Reason.READY_FOR_NEW_SCALE, Reason.VALID_METRIC_FOUND, Reason.DESIRED_WITHIN_RANGE], np.int8)
    assert agrees(codes, observed) is expected


def test_a_failed_metric_matches_any_failed_get_reason() -> None:
    codes = np.array([Reason.SUCCEEDED_GET_SCALE, Reason.FAILED_GET_METRIC, Reason.NONE], np.int8)
    assert agrees(codes, {"ScalingActive": ("False", "FailedGetContainerResourceMetric")}) is True


def test_held_text_leaves_out_short_spells_and_orders_by_hours() -> None:
    syncs = np.zeros(N_REASONS, dtype=np.int64)
    syncs[Reason.TOO_MANY_REPLICAS] = 300
    syncs[Reason.SCALE_DOWN_STABILIZED] = 900
    syncs[Reason.SCALE_UP_LIMIT] = 10  # under 5 % of the window
    syncs[Reason.VALID_METRIC_FOUND] = syncs[Reason.READY_FOR_NEW_SCALE] = syncs[Reason.DESIRED_WITHIN_RANGE] = 1
    total = syncs.sum() / 3
    text = held_text(syncs, window_h=total * 15 / 3600)
    assert text.startswith("kept up by the scale-down stabilization window")
    assert "pinned at maxReplicas 1.2 h (ScalingLimited TooManyReplicas)" in text and "rate limit" not in text
