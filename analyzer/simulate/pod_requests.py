"""What the HPA puts in the utilization denominator for one pod (``calculateRequests``).

Pure functions over typed pod specs (:class:`~analyzer.snapshot.kube.PodSpec`). Values are integer
milli-units, like the controller's ``MilliValue()`` (millicores for CPU, milli-bytes for memory).
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.simulate.kube_version import KubeVersion
from analyzer.snapshot.kube import Container, PodSpec
from analyzer.units import milli_of


@dataclass(frozen=True)
class PodRequest:
    """The per-pod request the HPA divides by, or the error that fails the metric."""

    milli: int
    error: str | None = None


def counted_containers(pod_spec: PodSpec, version: KubeVersion) -> list[Container]:
    """``spec.containers`` plus, since 1.29, init containers with ``restartPolicy: Always`` (native sidecars)."""
    containers = list(pod_spec.containers)
    if version.counts_native_sidecar_requests:
        containers += [c for c in pod_spec.init_containers if c.native_sidecar]
    return containers


def pod_request(
    pod_spec: PodSpec, pod_name: str, resource: str, version: KubeVersion, container: str | None = None
) -> PodRequest:
    """The pod's request for ``resource`` as the HPA computes it, for a Resource or ContainerResource metric.

    With ``container`` set (ContainerResource) only that container counts; otherwise pod-level requests
    win when the ``PodLevelResources`` gate is on and the pod sets any, else the counted containers' sum.
    """
    pod_level = pod_spec.pod_requests
    if container is None and version.enabled("PodLevelResources") and any(r in pod_level for r in ("cpu", "memory")):
        aggregate = aggregate_container_requests(pod_spec)
        aggregate.update({r: milli_of(q) for r, q in pod_level.items() if r in ("cpu", "memory")})
        for res, q in pod_spec.overhead.items():
            aggregate[res] = aggregate.get(res, 0) + milli_of(q)
        if resource not in aggregate:
            return PodRequest(0, f"missing pod-level request for {resource} in Pod {pod_name}")
        return PodRequest(aggregate[resource])
    total = 0
    for c in counted_containers(pod_spec, version):
        if container is not None and c.name != container:
            continue
        quantity = c.request_milli(resource)
        if quantity is None:
            return PodRequest(0, f"missing request for {resource} in container {c.name} of Pod {pod_name}")
        total += quantity
        if container is not None:
            return PodRequest(total)
    if container is not None:
        return PodRequest(0, f"container {container} not found in Pod {pod_name}")
    return PodRequest(total)


def containers_request(
    pod_spec: PodSpec, pod_name: str, resource: str, version: KubeVersion, containers: tuple[str, ...]
) -> PodRequest:
    """The summed requests of ``containers``: a ContainerResource denominator for one container, and for
    several (a pod with more than one app container) what an app-only metric would divide by, which no
    single HPA metric expresses. The first missing request is the error, as ``pod_request`` reports it."""
    total = 0
    for name in containers:
        one = pod_request(pod_spec, pod_name, resource, version, name)
        if one.error is not None:
            return one
        total += one.milli
    return PodRequest(total)


def aggregate_container_requests(pod_spec: PodSpec) -> dict[str, int]:
    """Effective container requests per resource (KEP-753 formula), as ``resourcehelper`` sums them.

    Regular and restartable init containers add up; a regular init container needs its own request
    plus the sidecars started before it, and the pod needs the larger of the two.
    """
    totals: dict[str, int] = {}
    for c in pod_spec.containers:
        for res, q in c.requests.items():
            totals[res] = totals.get(res, 0) + milli_of(q)
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for c in pod_spec.init_containers:
        requests = {r: milli_of(q) for r, q in c.requests.items()}
        if c.native_sidecar:
            for res, v in requests.items():
                sidecars[res] = sidecars.get(res, 0) + v
        else:
            for res, v in requests.items():
                init_peak[res] = max(init_peak.get(res, 0), v + sidecars.get(res, 0))
    for res, v in sidecars.items():
        totals[res] = totals.get(res, 0) + v
    for res, v in init_peak.items():
        totals[res] = max(totals.get(res, 0), v)
    return totals
