"""Label selectors (kubectl syntax) and narrowing a snapshot to the pods they match."""

from __future__ import annotations

import pytest

from analyzer.errors import SidecarImpactError
from analyzer.model.selection import matches, parse_selector, select_pods
from analyzer.model.workloads import pod_owners
from analyzer.synth.generate import Synthetic

LABELS = {"app": "web", "tier": "front", "example.com/team": "shop"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("missing!=x", True),  # the API server: != also matches pods without the key
        ("tier in (front, back)", True),
        ("tier in (back)", False),
        ("tier notin (back)", True),
        ("missing notin (x)", True),
        ("example.com/team", True),
        ("!example.com/team", False),
        ("!missing", True),
        ("app=web,tier in (back,front),!missing", True),
        ("app=web, tier=back", False),
    ],
)
def test_requirements_follow_the_api_server(selector: str, expected: bool) -> None:
    assert matches(LABELS, parse_selector(selector)) is expected


@pytest.mark.parametrize(
    ("selector", "part"),
    [("tier in (a", "tier in (a"), ("app=web,,x", ""), ("=web", "=web"), ("a b", "a b"), ("k in (a b)", "k in (a b)")],
)
def test_a_malformed_selector_names_the_part(selector: str, part: str) -> None:
    with pytest.raises(SidecarImpactError, match="--selector") as err:
        parse_selector(selector)
    assert part in str(err.value) or "empty requirement" in str(err.value)


def test_select_pods_keeps_the_matched_pods_and_what_owns_or_targets_them(small: Synthetic) -> None:
    snap = small.snapshot
    teams = {p["metadata"]["name"]: p["metadata"]["labels"]["team"] for p in snap.items("Pod")}
    picked = select_pods(snap, "team in (payments, edge)")
    names = {p["metadata"]["name"] for p in picked.items("Pod")}
    assert names == {n for n, t in teams.items() if t in ("payments", "edge")} and names
    assert set(picked.usage["pod"].astype(str)) <= names
    assert len(picked.usage) == int(snap.usage["pod"].astype(str).isin(names).sum())
    owners = pod_owners(picked)
    workloads = set(owners["workload"])
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in picked.items("HorizontalPodAutoscaler")}
    all_targets = {h["spec"]["scaleTargetRef"]["name"] for h in snap.items("HorizontalPodAutoscaler")}
    assert hpa_targets == all_targets & workloads and hpa_targets
    assert set(picked.replicas["name"].astype(str)) == set(snap.replicas["name"].astype(str)) & workloads
    assert select_pods(snap, "team=nobody").usage.empty
