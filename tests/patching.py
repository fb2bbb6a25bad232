"""Applying a report's patches to a snapshot's objects, as kubectl would: what the fix tests and the run
comparison tests re-analyse."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonpatch
import kubernetes_validate

from analyzer.findings.remedies import KIND_OF_RESOURCE
from analyzer.simulate.keda import generated_metric
from analyzer.snapshot.schema import Snapshot
from analyzer.snapshot.validation import VALIDATORS, first_problem


def valid(obj: dict[str, Any]) -> None:
    """Against the Kubernetes schemas; a ScaledObject or a VPA (CRDs they do not hold) against the schema they
    are read with."""
    if obj["kind"] in ("ScaledObject", "VerticalPodAutoscaler"):
        assert first_problem(VALIDATORS[obj["kind"]], obj) is None
        return
    kubernetes_validate.validate({k: v for k, v in obj.items() if k != "status"}, "1.33", strict=False)


def find(snapshot: Snapshot, namespace: str, obj: str) -> dict[str, Any]:
    resource, _, name = obj.partition("/")
    return next(o for o in snapshot.items(KIND_OF_RESOURCE[resource])
                if o["metadata"]["namespace"] == namespace and o["metadata"]["name"] == name)  # fmt: skip


def patched(snapshot: Snapshot, remedies: Any) -> Snapshot:
    """The snapshot with each remedy's patch applied to its object (an HPA, a workload, or a KEDA
    ScaledObject, whose HPA is then regenerated from its triggers as KEDA does)."""
    objects = copy.deepcopy(snapshot.objects)
    shadow = replace(snapshot, objects=objects)
    for r in remedies.itertuples(index=False):
        target = find(shadow, r.namespace, r.object)
        target.update(jsonpatch.apply_patch(target, json.loads(r.patch)))
        if target["kind"] == "ScaledObject":
            hpa = next(h for h in objects["HorizontalPodAutoscaler"] if h["metadata"]["name"] == r.hpa)
            hpa["spec"]["metrics"] = [generated_metric(t) for t in target["spec"]["triggers"]]
    return shadow


def kubectl_local(command: str, obj: dict[str, Any], root: Path) -> subprocess.CompletedProcess[str]:
    """An emitted ``kubectl patch RESOURCE NAME -n NS --type json --patch-file FILE`` run as written, but on
    ``obj`` with ``--local -f`` instead of the cluster's object (``patch --local`` needs no API server)."""
    words = shlex.split(command)
    assert words[:2] == ["kubectl", "patch"] and words[4] == "-n"
    source = root / "object.json"
    source.write_text(json.dumps(obj))
    local = ["kubectl", "patch", "--local", "-f", str(source), *words[4:], "-o", "json"]
    return subprocess.run(local, cwd=root, capture_output=True, text=True, timeout=60)


def script_commands(script: Path) -> list[str]:
    """The kubectl commands a fixes script lists."""
    return [line for line in script.read_text().splitlines() if line.startswith("kubectl ")]


def applied(command: str, snapshot: Snapshot, root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The object ``command`` patches, as collected, and as a real kubectl leaves it (which must succeed) and
    validated."""
    words = shlex.split(command)
    obj = find(snapshot, words[5], f"{words[2]}/{words[3]}")
    done = kubectl_local(command, obj, root)
    assert done.returncode == 0, (command, done.stderr)
    after = json.loads(done.stdout)
    valid(after)
    return obj, after
