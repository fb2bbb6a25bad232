"""The Kubernetes objects the analysis reads, typed: parsed once from the validated API objects.

Everything below the snapshot reads these, never the raw dicts (writers and patch builders aside, which
keep the raw template they patch). Each rule lives here once: which reference owns an object
(:func:`controller_of`), a pod's containers in order (:attr:`PodSpec.all_containers`), what a native
sidecar is (:attr:`Container.native_sidecar`), which pod of a workload is the newest
(:func:`newest_first_key`). Quantities are exact (``Decimal`` base units, as ``resource.Quantity``);
times stay the API's RFC 3339 text, parsed where they are compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from analyzer.units import milli_of, parse_quantity

SOURCE_ANNOTATION = "sidecar-impact.io/source"
"""Set on objects the collector rebuilt (value :data:`KSM_SOURCE`) rather than read from the API."""
KSM_SOURCE = "kube-state-metrics"

DELETED_AT_ANNOTATION = "sidecar-impact.io/deleted-at"
"""Set on pods that existed during the snapshot's window but were gone before its end."""

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
"""The kinds whose pod templates the analysis reads."""
TEMPLATE_AT: dict[str, tuple[str, ...]] = {"CronJob": ("spec", "jobTemplate", "spec", "template")}
"""Where a kind keeps its pod template, when not at ``spec.template`` (JSON Patch paths are built from it)."""
DEFAULT_TEMPLATE_AT = ("spec", "template")


def template_at(kind: str) -> tuple[str, ...]:
    """The path of ``kind``'s pod template in its object: ``spec.template`` but for a CronJob's."""
    return TEMPLATE_AT.get(kind, DEFAULT_TEMPLATE_AT)


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """One ``metadata.ownerReferences`` entry."""

    kind: str
    name: str
    controller: bool = False


def controller_of(refs: Sequence[OwnerRef]) -> OwnerRef | None:
    """The reference that owns an object: the one with ``controller: true`` (``metav1.GetControllerOf``);
    where none is marked (objects written by hand or by older tools), the first."""
    return next((r for r in refs if r.controller), refs[0] if refs else None)


@dataclass(frozen=True, slots=True)
class Container:
    """A container of a pod or a template; ``init``: an ``initContainers`` entry."""

    name: str
    image: str = ""
    init: bool = False
    restart_policy: str | None = None
    requests: Mapping[str, Decimal] = field(default_factory=dict)
    limits: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def native_sidecar(self) -> bool:
        """A native sidecar: an init container with ``restartPolicy: Always`` (it runs beside the app)."""
        return self.init and self.restart_policy == "Always"

    @property
    def runs_once(self) -> bool:
        """An init container that runs to completion before the app starts."""
        return self.init and not self.native_sidecar

    def request(self, resource: str) -> float:
        """The request in cores or bytes; NaN: none."""
        value = self.requests.get(resource)
        return float("nan") if value is None else float(value)

    def limit(self, resource: str) -> float:
        value = self.limits.get(resource)
        return float("nan") if value is None else float(value)

    def request_milli(self, resource: str) -> int | None:
        """``Quantity.MilliValue()`` of the request (rounded up); None: none."""
        value = self.requests.get(resource)
        return None if value is None else milli_of(value)


@dataclass(frozen=True, slots=True)
class PodSpec:
    """What a pod (or a template) runs and requests: its containers in ``spec`` order, pod-level requests
    (``spec.resources.requests``), ``spec.overhead`` and ``spec.terminationGracePeriodSeconds`` (None: unset, the
    API's default 30 s)."""

    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    pod_requests: Mapping[str, Decimal] = field(default_factory=dict)
    overhead: Mapping[str, Decimal] = field(default_factory=dict)
    termination_grace_s: int | None = None

    @property
    def all_containers(self) -> tuple[Container, ...]:
        """Init containers first, then ``spec.containers``: the order the kubelet starts them."""
        return (*self.init_containers, *self.containers)

    def container(self, name: str) -> Container | None:
        return next((c for c in self.all_containers if c.name == name), None)

    def with_requests(self, changes: Mapping[str, Mapping[str, str]]) -> PodSpec:
        """The spec with the named containers' requests changed (quantities as written, ``"50m"``)."""

        def changed(c: Container) -> Container:
            new = changes.get(c.name)
            if new is None:
                return c
            return replace(c, requests={**c.requests, **{r: parse_quantity(q) for r, q in new.items()}})

        return replace(
            self,
            containers=tuple(changed(c) for c in self.containers),
            init_containers=tuple(changed(c) for c in self.init_containers),
        )


@dataclass(frozen=True, slots=True)
class ReadyCondition:
    """The pod's ``Ready`` condition: its status and when it last changed (RFC 3339)."""

    status: str
    last_transition: str | None


@dataclass(frozen=True, slots=True)
class Pod:
    """A pod: who owns it, what it runs, and the state the HPA's pod grouping reads."""

    namespace: str
    name: str
    spec: PodSpec
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owners: tuple[OwnerRef, ...] = ()
    created: str = ""
    """``metadata.creationTimestamp`` ("" when absent)."""
    deletion: str | None = None
    """``metadata.deletionTimestamp``."""
    has_status: bool = False
    phase: str | None = None
    start_time: str | None = None
    ready: ReadyCondition | None = None

    @property
    def controller(self) -> OwnerRef | None:
        return controller_of(self.owners)

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    @property
    def started(self) -> str:
        """When the pod started (``status.startTime``, else its creation; "" when neither is known)."""
        return self.start_time or self.created

    @property
    def gone(self) -> str | None:
        """When the pod went: the collector's deleted-at annotation, else ``deletionTimestamp`` (None: live)."""
        return self.annotations.get(DELETED_AT_ANNOTATION) or self.deletion


def newest_first_key(pod: Pod) -> tuple[str, str]:
    """Orders pods by creation time, ties by name: the largest is "the newest pod" everywhere."""
    return pod.created, pod.name


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob: its owner and its pod template.

    ``template_raw`` is ``spec.template`` as collected, for the patch builders alone."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    owners: tuple[OwnerRef, ...] = ()
    template: PodSpec | None = None
    template_annotations: Mapping[str, str] = field(default_factory=dict)
    template_raw: Mapping[str, Any] | None = None

    @property
    def controller(self) -> OwnerRef | None:
        return controller_of(self.owners)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.namespace, self.kind, self.name


def parse_pod(obj: Mapping[str, Any]) -> Pod:
    """A validated Pod object, typed."""
    meta, status = obj["metadata"], obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return Pod(
        namespace=meta["namespace"],
        name=meta["name"],
        spec=parse_pod_spec(obj.get("spec") or {}),
        labels=meta.get("labels") or {},
        annotations=meta.get("annotations") or {},
        owners=_owners(meta),
        created=meta.get("creationTimestamp") or "",
        deletion=meta.get("deletionTimestamp"),
        has_status=bool(status),
        phase=status.get("phase"),
        start_time=status.get("startTime"),
        ready=None if ready is None else ReadyCondition(str(ready.get("status")), ready.get("lastTransitionTime")),
    )


def parse_pod_spec(spec: Mapping[str, Any]) -> PodSpec:
    """A pod's (or a template's) ``spec``, typed."""
    return PodSpec(
        containers=tuple(_container(c, False) for c in spec.get("containers") or []),
        init_containers=tuple(_container(c, True) for c in spec.get("initContainers") or []),
        pod_requests=_quantities((spec.get("resources") or {}).get("requests")),
        overhead=_quantities(spec.get("overhead")),
        termination_grace_s=spec.get("terminationGracePeriodSeconds"),
    )


def parse_workload(kind: str, obj: Mapping[str, Any]) -> Workload:
    """A validated workload object, typed; its template kept raw too, for the patch builders."""
    meta = obj["metadata"]
    template: Any = obj
    for part in template_at(kind):
        template = template.get(part) if isinstance(template, Mapping) else None
    has = isinstance(template, Mapping)
    return Workload(
        kind=kind,
        namespace=meta["namespace"],
        name=meta["name"],
        labels=meta.get("labels") or {},
        owners=_owners(meta),
        template=parse_pod_spec(template.get("spec") or {}) if has and template.get("spec") else None,
        template_annotations=((template.get("metadata") or {}).get("annotations") or {}) if has else {},
        template_raw=template if has else None,
    )


def parse_owners(refs: Iterable[Mapping[str, Any]] | None) -> tuple[OwnerRef, ...]:
    """``metadata.ownerReferences``, typed (entries without a kind or name left out)."""
    return tuple(
        OwnerRef(str(r["kind"]), str(r["name"]), bool(r.get("controller")))
        for r in refs or ()
        if r.get("kind") and r.get("name")
    )


def _owners(meta: Mapping[str, Any]) -> tuple[OwnerRef, ...]:
    return parse_owners(meta.get("ownerReferences"))


def _container(c: Mapping[str, Any], init: bool) -> Container:
    resources = c.get("resources") or {}
    return Container(
        name=c["name"],
        image=c.get("image") or "",
        init=init,
        restart_policy=c.get("restartPolicy"),
        requests=_quantities(resources.get("requests")),
        limits=_quantities(resources.get("limits")),
    )


def _quantities(raw: Mapping[str, Any] | None) -> dict[str, Decimal]:
    return {str(k): parse_quantity(v) for k, v in (raw or {}).items()}


def object_ref(item: dict[str, Any]) -> str:
    """``Kind namespace/name`` for messages (each part cut short: a hostile name can be megabytes)."""
    meta = item.get("metadata") or {}

    def short(value: object) -> str:
        text = str(value)
        return text if len(text) <= 80 else f"{text[:80]}…"

    return f"{short(item.get('kind'))} {short(meta.get('namespace', ''))}/{short(meta.get('name', '?'))}"
