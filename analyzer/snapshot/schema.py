"""Snapshot layout, columns, dtypes and units (documented for users in docs/snapshot.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from analyzer.snapshot.hpa import HPA, ScaledObject, parse_hpa, parse_scaled_object
from analyzer.snapshot.kube import DELETED_AT_ANNOTATION as DELETED_AT_ANNOTATION  # re-exported (docs/snapshot.md)
from analyzer.snapshot.kube import (
    KSM_SOURCE,
    SOURCE_ANNOTATION,
    WORKLOAD_KINDS,
    Pod,
    Workload,
    parse_pod,
    parse_workload,
)
from analyzer.snapshot.vpa import VPAObject, parse_vpa_object

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)

METADATA_FILE = "metadata.json"
USAGE_DIR = "usage"
USAGE_CSV = "usage.csv"
REPLICAS_FILE = "replicas.parquet"
REPLICAS_CSV = "replicas.csv"
POD_STATUS_FILE = "pod_status.parquet"
CONTAINER_STATUS_FILE = "container_status.parquet"
OBJECTS_DIR = "objects"
GROUND_TRUTH_DIR = "ground_truth"

USAGE_COLUMNS: dict[str, str] = {
    "timestamp": "sample time, UTC",
    "namespace": "pod namespace",
    "pod": "pod name",
    "container": "container name (app, injected or native sidecar)",
    "cpu_cores": "CPU usage in cores, averaged over the step (rate of container_cpu_usage_seconds_total)",
    "memory_bytes": "working-set memory in bytes (container_memory_working_set_bytes)",
}
USAGE_KEY = ("timestamp", "namespace", "pod", "container")

REPLICAS_COLUMNS: dict[str, str] = {
    "timestamp": "sample time, UTC",
    "namespace": "workload namespace",
    "kind": "workload kind (Deployment, StatefulSet, ...)",
    "name": "workload name",
    "replicas": "observed spec.replicas of the workload (integer)",
}

REPLICAS_KEY = ("namespace", "kind", "name", "timestamp")

POD_STATUS_COLUMNS: dict[str, str] = {
    "timestamp": "sample time, UTC",
    "namespace": "pod namespace",
    "pod": "pod name",
    "phase": "Pending, Running, Succeeded, Failed or Unknown (kube_pod_status_phase)",
    "ready": 'the Ready condition is True (kube_pod_status_ready{condition="true"})',
}
POD_STATUS_KEY = ("namespace", "pod", "timestamp")
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


def empty_pod_status() -> pd.DataFrame:
    """A ``pod_status`` table with no rows (snapshots without the pods' phase and readiness over time)."""
    return pd.DataFrame(
        {
            "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
            "namespace": pd.Series(dtype="category"),
            "pod": pd.Series(dtype="category"),
            "phase": pd.Series(pd.Categorical([], categories=list(POD_PHASES))),
            "ready": pd.Series(dtype=bool),
        }
    )


CONTAINER_STATUS_COLUMNS: dict[str, str] = {
    "timestamp": "the first sample time at which the row's values hold, UTC (they hold until the container's next row)",
    "namespace": "pod namespace",
    "pod": "pod name",
    "container": "container name (init containers and native sidecars included)",
    "ready": "the container is ready (kube_pod_container_status_ready, kube_pod_init_container_status_ready)",
    "restarts": "restarts so far (kube_pod_container_status_restarts_total, integer)",
    "state": "running, waiting or terminated (kube_pod_container_status_running/_waiting/_terminated); '' unknown",
    "last_reason": "why the container last terminated, e.g. OOMKilled, Error, Completed "
    "(kube_pod_container_status_last_terminated_reason); '' none",
    "last_exit_code": "its exit code (kube_pod_container_status_last_terminated_exitcode); -1 none",
    "terminated_reason": "on a terminated row, why it terminated: Completed, Error, OOMKilled ... "
    "(kube_pod_container_status_terminated_reason: the newest the window saw, Completed first; the API's "
    "state.terminated.reason); '' on other rows, or not recorded (older snapshots)",
}
CONTAINER_STATUS_KEY = ("namespace", "pod", "container", "timestamp")
CONTAINER_STATUS_LABELS = ("namespace", "pod", "container", "last_reason", "terminated_reason")
"""Its text columns but ``state``: names and reasons, held as categoricals of sorted names."""
CONTAINER_STATES = ("", "running", "waiting", "terminated")
COMPLETED = "Completed"
"""The termination reason of a container that exited 0 (``terminated_reason``, ``last_reason``)."""


def empty_container_status() -> pd.DataFrame:
    """A ``container_status`` table with no rows (snapshots without the containers' status over time)."""
    return pd.DataFrame(
        {
            "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
            "namespace": pd.Series(dtype="category"),
            "pod": pd.Series(dtype="category"),
            "container": pd.Series(dtype="category"),
            "ready": pd.Series(dtype=bool),
            "restarts": pd.Series(dtype="int64"),
            "state": pd.Series(pd.Categorical([], categories=list(CONTAINER_STATES))),
            "last_reason": pd.Series(dtype="category"),
            "last_exit_code": pd.Series(dtype="int64"),
            "terminated_reason": pd.Series(dtype="category"),
        }
    )


OBJECT_KINDS = (
    "Pod",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "HorizontalPodAutoscaler",
    "VerticalPodAutoscaler",
    "ScaledObject",
    "Job",
    "CronJob",
)
OBJECT_FILE_NAMES = {
    "Pod": "pods.json",
    "ReplicaSet": "replicasets.json",
    "Deployment": "deployments.json",
    "StatefulSet": "statefulsets.json",
    "DaemonSet": "daemonsets.json",
    "HorizontalPodAutoscaler": "hpas.json",
    "VerticalPodAutoscaler": "vpas.json",
    "ScaledObject": "scaledobjects.json",
    "Job": "jobs.json",
    "CronJob": "cronjobs.json",
}
OBJECT_API_VERSIONS = {
    "Pod": "v1",
    "ReplicaSet": "apps/v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "VerticalPodAutoscaler": "autoscaling.k8s.io/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}

KUBERNETES_VERSION_KEY = "kubernetes_version"
"""``metadata.extra`` key: the cluster's ``1.<minor>`` (the API server's ``/version``, or the generator's); the
analysis simulates that version's controllers unless told another."""

NOTES_KEY = "collection_notes"
"""``metadata.extra`` key: what the collector (or the loader) could not see or had to drop, one sentence each."""



# Unit sanity limits: beyond these a column is almost surely in the wrong unit.
MAX_PLAUSIBLE_CPU_CORES = 512.0
MIN_PLAUSIBLE_MAX_MEMORY_BYTES = 65536.0


@dataclass(frozen=True)
class Metadata:
    """What a snapshot is: where it came from and which time range and step it covers."""

    schema_version: int
    source: str
    cluster: str
    start: pd.Timestamp
    end: pd.Timestamp
    step_s: float
    tool_version: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def window_h(self) -> float:
        """Hours the samples cover: from the first sample to one step past the last."""
        return ((self.end - self.start).total_seconds() + self.step_s) / 3600

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "source": self.source,
            "cluster": self.cluster,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "step_s": self.step_s,
            "tool_version": self.tool_version,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True)
class Snapshot:
    """A loaded, validated snapshot.

    ``usage`` has :data:`USAGE_COLUMNS` (namespace, pod and container as categoricals with sorted
    categories, rows in :data:`USAGE_KEY` order); ``replicas`` has :data:`REPLICAS_COLUMNS` (may be empty; namespace,
    kind and name categoricals the same way, rows in :data:`REPLICAS_KEY` order);
    ``objects`` maps each kind in :data:`OBJECT_KINDS` to its items as the API returns them;
    ``pod_status`` has :data:`POD_STATUS_COLUMNS` (may be empty), rows in :data:`POD_STATUS_KEY` order;
    ``container_status`` has :data:`CONTAINER_STATUS_COLUMNS` (may be empty: the snapshot did not record it),
    a row where a container's status changed, in :data:`CONTAINER_STATUS_KEY` order.
    """

    metadata: Metadata
    usage: pd.DataFrame
    replicas: pd.DataFrame
    objects: dict[str, list[dict[str, Any]]]
    pod_status: pd.DataFrame = field(default_factory=empty_pod_status)
    container_status: pd.DataFrame = field(default_factory=empty_container_status)

    def items(self, kind: str) -> list[dict[str, Any]]:
        """The raw objects of ``kind``, as collected: for writers and patch builders (everything else reads
        :attr:`pods` and :meth:`workloads`)."""
        return self.objects.get(kind, [])

    @cached_property
    def pods(self) -> tuple[Pod, ...]:
        """Every Pod, typed (parsed once per snapshot)."""
        return tuple(parse_pod(p) for p in self.items("Pod"))

    @cached_property
    def _workloads(self) -> dict[str, tuple[Workload, ...]]:
        return {kind: tuple(parse_workload(kind, o) for o in self.items(kind)) for kind in WORKLOAD_KINDS}

    def workloads(self, *kinds: str) -> tuple[Workload, ...]:
        """The Deployments, StatefulSets, DaemonSets and ReplicaSets (or those of ``kinds``), typed."""
        return tuple(w for kind in kinds or WORKLOAD_KINDS for w in self._workloads.get(kind, ()))

    @cached_property
    def workload_map(self) -> dict[tuple[str, str, str], Workload]:
        """Every workload by (namespace, kind, name)."""
        return {w.key: w for w in self.workloads()}

    def rebuilt(self) -> tuple[tuple[str, int], ...]:
        """Per kind, how many objects the collector rebuilt from kube-state-metrics (its annotation says so)."""
        return tuple(
            (kind, sum((o["metadata"].get("annotations") or {}).get(SOURCE_ANNOTATION) == KSM_SOURCE for o in items))
            for kind, items in self.objects.items()
        )

    @cached_property
    def hpas(self) -> tuple[HPA, ...]:
        """Every HorizontalPodAutoscaler, typed (one that cannot be parsed says why), in :meth:`items` order."""
        return tuple(parse_hpa(o) for o in self.items("HorizontalPodAutoscaler"))

    @cached_property
    def vpas(self) -> tuple[VPAObject, ...]:
        """Every VerticalPodAutoscaler, typed (one that cannot be parsed says why), in :meth:`items` order."""
        return tuple(parse_vpa_object(o) for o in self.items("VerticalPodAutoscaler"))

    @cached_property
    def scaled_objects(self) -> dict[tuple[str, str], ScaledObject]:
        """Every KEDA ScaledObject, by (namespace, name)."""
        found = (parse_scaled_object(o) for o in self.items("ScaledObject"))
        return {(so.namespace, so.name): so for so in found}
