"""Which containers of each live pod are the app, sidecars (of which kind) or run-once init containers.

Classification runs on live pods, not workload templates: webhook-injected sidecars exist only in
pods. Each decision records its evidence. User rules (:mod:`analyzer.model.rules`) come first, then
the built-in signals listed in docs/model.md in order of how definitive they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from analyzer.model import signals
from analyzer.model.rules import Rule
from analyzer.snapshot.kube import Container, Pod
from analyzer.snapshot.schema import Snapshot

CLASS_COLUMNS = {
    "namespace": "pod namespace",
    "pod": "pod name",
    "workload_kind": "owning workload kind (ReplicaSets resolved to Deployments)",
    "workload": "owning workload name",
    "container": "container name",
    "image": "container image reference",
    "role": "app, sidecar or init-only",
    "kind": "sidecar kind (istio, linkerd, vault, cloud-sql-proxy, dapr, ..., generic); empty for the app",
    "native_sidecar": "init container with restartPolicy Always",
    "injected": "in the live pod but not in the owner's pod template (added by a webhook)",
    "evidence": "the signal that decided the role",
    "primary": "the pod's primary app container (default-container annotation, a rule, named after the "
    "workload, else the first app container)",
    "ambiguous": "every container looked like a sidecar, so one was taken as the app; see note",
    "note": "for ambiguous pods: the choice made and how to override it",
}


class Role(StrEnum):
    """What a container is to its pod (the ``role`` column)."""

    APP = "app"
    SIDECAR = "sidecar"
    INIT_ONLY = "init-only"


NO_SIDECAR_EVIDENCE = "no sidecar evidence"
"""The evidence of an app container among several that nothing identified as a sidecar."""


@dataclass(frozen=True)
class _Decision:
    role: str
    kind: str
    evidence: str


def classify(snapshot: Snapshot, owners: pd.DataFrame, rules: Sequence[Rule] = ()) -> pd.DataFrame:
    """One row per container of every pod in the snapshot (:data:`CLASS_COLUMNS`)."""
    templates = _templates(snapshot)
    owner_of = {(r.namespace, r.pod): (r.workload_kind, r.workload) for r in owners.itertuples(index=False)}
    rows: list[tuple[Any, ...]] = []
    for pod in snapshot.pods:
        kind, workload = owner_of.get(pod.key, ("Pod", pod.name))
        ref = pod.controller
        template = None if ref is None else templates.get((pod.namespace, ref.kind, ref.name))
        if template is None and kind == "CronJob":  # its Job is gone: the CronJob's template is the Job's
            template = templates.get((pod.namespace, kind, workload))
        rows.extend(classify_pod(pod, kind, workload, template, rules))
    return pd.DataFrame(rows, columns=list(CLASS_COLUMNS))


def classify_pod(
    pod: Pod,
    workload_kind: str,
    workload: str,
    template_names: frozenset[str] | None,
    rules: Sequence[Rule] = (),
) -> list[tuple[Any, ...]]:
    """Rows (in :data:`CLASS_COLUMNS` order) for one pod; ``template_names`` None when the template is unknown."""
    ns, name, labels = pod.namespace, pod.name, pod.labels
    listed = _listed_by_injectors(pod.annotations)
    default = pod.annotations.get(signals.DEFAULT_CONTAINER_ANNOTATION)
    entries = pod.spec.all_containers

    decided: dict[str, _Decision | None] = {}
    for c in entries:
        injected = template_names is not None and c.name not in template_names
        decided[c.name] = _decide(c, injected, ns, workload, listed, default, rules)

    candidates = [c.name for c in entries if not c.init and decided[c.name] is None]
    forced = [c.name for c in entries if not c.init and (d := decided[c.name]) and d.role == Role.APP]
    ambiguous, note = False, ""
    if candidates or forced:
        alone = len(candidates) == 1 and not forced
        evidence = "the only container not identified as a sidecar" if alone else NO_SIDECAR_EVIDENCE
        for n in candidates:
            decided[n] = _Decision(Role.APP, "", evidence)
        apps = forced + candidates
        named = [n for n in apps if n in {workload, labels.get("app.kubernetes.io/name"), labels.get("app")}]
        primary = default if default in forced else (forced or named or apps)[0]
    else:
        primary = next(c.name for c in entries if not c.init)
        ambiguous = True
        note = (
            f"ambiguous: every container looks like a sidecar; treated {primary} (first in spec.containers) as the "
            f"app. Set the annotation {signals.DEFAULT_CONTAINER_ANNOTATION} or add a rule (--rules) to decide"
        )
        decided[primary] = _Decision(Role.APP, "", "first in spec.containers (ambiguous)")

    rows = []
    for c in entries:
        d = decided[c.name]
        assert d is not None
        injected = template_names is not None and c.name not in template_names
        flag = ambiguous and d.role == Role.APP
        rows.append(
            (ns, name, workload_kind, workload, c.name, c.image, d.role, d.kind, c.native_sidecar, injected,
             d.evidence, c.name == primary, flag, note if flag else "")
        )  # fmt: skip
    return rows


def _decide(
    c: Container,
    injected: bool,
    namespace: str,
    workload: str,
    listed: dict[str, tuple[str, str]],
    default: str | None,
    rules: Sequence[Rule],
) -> _Decision | None:
    """The decision for one container, or None when it could be the app (decided per pod)."""
    name, image = c.name, c.image
    for rule in rules:
        if rule.matches(namespace, workload, name, image):
            return _Decision(rule.role, rule.kind, f"rule {rule.source}")
    by_name, by_image = signals.known_by_name(name), signals.known_by_image(image)
    known_kind = (by_name or by_image).kind if (by_name or by_image) else None
    if c.runs_once:
        kind = signals.RUN_ONCE_INIT.get(name) or known_kind or ""
        why = "init container without restartPolicy Always (runs once, before the app)"
        return _Decision(Role.INIT_ONLY, kind, why)
    if c.native_sidecar:
        kind = listed[name][0] if name in listed else known_kind or "generic"
        return _Decision(Role.SIDECAR, kind, "native sidecar: initContainers entry with restartPolicy: Always")
    if name in listed:
        kind, key = listed[name]
        return _Decision(Role.SIDECAR, kind, f"injected, listed by annotation {key}")
    if default == name:
        return _Decision(Role.APP, "", f"named by annotation {signals.DEFAULT_CONTAINER_ANNOTATION}")
    if by_name is not None:
        return _Decision(Role.SIDECAR, by_name.kind, f"container name {name}")
    if by_image is not None:
        return _Decision(Role.SIDECAR, by_image.kind, f"image repository {signals.image_repository(image)}")
    if injected:
        return _Decision(Role.SIDECAR, "generic", "not in the owner's pod template (added by a webhook)")
    return None


def _listed_by_injectors(annotations: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Container name -> (kind, annotation key) for containers an injector's annotation marks as its own."""
    out: dict[str, tuple[str, str]] = {}
    for a in signals.INJECTOR_ANNOTATIONS:
        value = annotations.get(a.key)
        if value is None or value.lower() in ("false", "disabled"):
            continue
        names: list[str] = list(a.containers)
        if a.key == "sidecar.istio.io/status":
            try:  # the injector's own JSON; a malformed one falls back to the injector's usual names
                status = json.loads(value)
                listed = [*(status.get("containers") or []), *(status.get("initContainers") or [])]
                names = [n for n in listed if isinstance(n, str)]
            except (ValueError, AttributeError, TypeError, RecursionError):
                pass
        for n in names:
            out.setdefault(n, (a.kind, a.key))
    return out


def _templates(snapshot: Snapshot) -> dict[tuple[str, str, str], frozenset[str]]:
    """Container names (regular and init) of each pod owner's template, keyed by (namespace, kind, name)."""
    out = {}
    for w in snapshot.workloads("ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"):
        names = [c.name for c in w.template.all_containers] if w.template is not None else []
        if names:
            out[w.key] = frozenset(names)
    return out
