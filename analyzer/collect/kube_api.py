"""Objects from the Kubernetes API through the kubernetes client, written into snapshots unchanged.

Lists are paginated (``limit``/``continue``) and restarted from the beginning on 410 Gone (an expired
continue token). A 403 or 404 on one kind is recorded once as a note and the other kinds are still
listed: a missing VPA CRD, or no permission to read VPAs, leaves the VPA analysis saying why it is
empty. Env var values are redacted: they can hold credentials and the analysis never reads them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from analyzer.collect.net import failure_reason
from analyzer.errors import SidecarImpactError, SourceError
from analyzer.snapshot.schema import OBJECT_API_VERSIONS

log = logging.getLogger(__name__)

REDACTED = "<redacted by sidecar-impact>"
GONE_RESTARTS = 3


@dataclass(frozen=True)
class KubeOptions:
    """Where the API server is and what to list. ``namespaces`` empty: all namespaces."""

    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    namespaces: tuple[str, ...] = ()
    selector: str | None = None
    page_size: int = 500
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Resource:
    """A listable kind: its API group/version and plural."""

    kind: str
    group: str
    version: str
    plural: str
    optional: bool = False
    quiet_if_absent: bool = False
    """A 404 (the CRD is not installed) is no news: most clusters run no KEDA."""

    @property
    def path(self) -> str:
        return f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"


RESOURCES = (
    Resource("Pod", "", "v1", "pods"),
    Resource("ReplicaSet", "apps", "v1", "replicasets"),
    Resource("Deployment", "apps", "v1", "deployments"),
    Resource("StatefulSet", "apps", "v1", "statefulsets"),
    Resource("DaemonSet", "apps", "v1", "daemonsets"),
    Resource("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
    Resource("VerticalPodAutoscaler", "autoscaling.k8s.io", "v1", "verticalpodautoscalers", optional=True),
    Resource("ScaledObject", "keda.sh", "v1alpha1", "scaledobjects", optional=True, quiet_if_absent=True),
    Resource("Job", "batch", "v1", "jobs"),
    Resource("CronJob", "batch", "v1", "cronjobs"),
)
POD_METRICS = Resource("PodMetrics", "metrics.k8s.io", "v1beta1", "pods")


class ObjectSink(Protocol):
    """Where listed objects go, a page at a time (:class:`Listed` in memory, or a snapshot's files); a list
    read again from its start takes back what it gave since a :meth:`mark`. ``add(kind, [])`` says that
    ``kind`` was listed (it may have no items)."""

    def add(self, kind: str, items: list[dict[str, Any]]) -> None: ...

    def mark(self, kind: str) -> Any: ...

    def rewind(self, kind: str, mark: Any) -> None: ...


@dataclass
class Listed:
    """Objects per kind (the kinds listed, even without items), and one note per kind that could not be listed."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, items: list[dict[str, Any]]) -> None:
        self.objects.setdefault(kind, []).extend(items)

    def mark(self, kind: str) -> int:
        return len(self.objects.get(kind, ()))

    def rewind(self, kind: str, mark: int) -> None:
        if mark == 0:
            self.objects.pop(kind, None)  # not listed after all
        elif kind in self.objects:
            del self.objects[kind][mark:]


def release(version: Any) -> str | None:
    """``1.<minor>`` of a ``/version`` document (``{"major": "1", "minor": "31+"}``), or None for anything else."""
    if not isinstance(version, dict) or version.get("major") != "1" or not isinstance(version.get("minor"), str):
        return None
    minor = re.match(r"\d{1,3}(?!\d)", version["minor"])
    return f"1.{int(minor.group())}" if minor else None


def api_client(options: KubeOptions) -> client.ApiClient:
    """An ApiClient from the kubeconfig (``--context``) or the pod's service account."""
    try:
        if options.in_cluster:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        path = str(options.kubeconfig) if options.kubeconfig else None
        return config.new_client_from_config(config_file=path, context=options.context, persist_config=False)
    except (ConfigException, OSError) as exc:
        where = "in-cluster config" if options.in_cluster else f"kubeconfig {options.kubeconfig or '~/.kube/config'}"
        raise SidecarImpactError(f"{where}: {exc}") from None


class KubeLister:
    """Paginated, read-only lists through the CustomObjectsApi-style generic path of the client."""

    def __init__(self, options: KubeOptions, api: client.ApiClient | None = None) -> None:
        self.options = options
        self.api = api or api_client(options)
        self.requests = 0
        self.server = self.api.configuration.host

    def close(self) -> None:
        self.api.close()

    def list_all(self, progress: Callable[[int, int], None] | None = None, sink: ObjectSink | None = None) -> Listed:
        """Every kind of :data:`RESOURCES` in the chosen namespaces, into ``sink`` a page at a time (by default
        the returned :class:`Listed`, which holds the notes either way); ``progress(done, total)`` per kind."""
        listed = Listed()
        into = listed if sink is None else sink
        for done, resource in enumerate(RESOURCES, 1):
            start = into.mark(resource.kind)
            try:
                self.list_into(resource, into)
            except ListSkipped as skipped:
                into.rewind(resource.kind, start)
                if skipped.absent and resource.quiet_if_absent:
                    into.add(resource.kind, [])
                else:
                    listed.notes.append(skipped.note)
                    log.warning("%s", skipped.note)
            if progress is not None:
                progress(done, len(RESOURCES))
        return listed

    def server_version(self) -> str | None:
        """The API server's ``1.<minor>`` (``GET /version``; EKS and GKE write the minor as ``31+``), or None
        when it cannot be read (not allowed, not answered): the analysis then assumes its default."""
        self.requests += 1
        try:
            response = self.api.call_api(*self._request("/version", []), _request_timeout=self.options.timeout_s)
            response.read()
            if not 200 <= response.status < 300:
                return None
            document = json.loads(response.data)
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError, RecursionError):
            return None
        return release(document)

    def list(self, resource: Resource) -> list[dict[str, Any]]:
        """All items of ``resource`` (every namespace asked for), with ``kind`` and ``apiVersion`` set."""
        listed = Listed()
        self.list_into(resource, listed)
        return listed.objects[resource.kind]

    def list_into(self, resource: Resource, sink: ObjectSink) -> None:
        """:meth:`list` a page at a time into ``sink``, ending with ``sink.add(kind, [])``."""
        for namespace in self.options.namespaces or (None,):
            self._paginate(resource, namespace, sink)
        sink.add(resource.kind, [])

    def _paginate(self, resource: Resource, namespace: str | None, sink: ObjectSink) -> None:
        api_version = OBJECT_API_VERSIONS.get(resource.kind, f"{resource.group}/{resource.version}")
        for _ in range(GONE_RESTARTS + 1):
            start = sink.mark(resource.kind)
            token: str | None = None
            try:
                while True:
                    page = self._get(resource, namespace, token)
                    items = page.get("items") or []
                    for item in items:
                        item.setdefault("kind", resource.kind)
                        item.setdefault("apiVersion", api_version)
                        _scrub(item)
                    if items:  # none would say the kind was listed, and a later page may still be refused
                        sink.add(resource.kind, items)
                    token = (page.get("metadata") or {}).get("continue") or None
                    if not token:
                        return
            except _Gone:
                sink.rewind(resource.kind, start)
                log.warning("%s: list expired mid-way (410 Gone); listing again from the start", resource.plural)
        raise SourceError(
            f"Kubernetes API at {self.server}: listing {resource.plural} expired (410 Gone) {GONE_RESTARTS + 1} times; "
            "try a larger --page-size"
        )

    def _get(self, resource: Resource, namespace: str | None, token: str | None) -> dict[str, Any]:
        path = resource.path + (f"/namespaces/{namespace}" if namespace else "") + f"/{resource.plural}"
        query: list[tuple[str, Any]] = [("limit", self.options.page_size)]
        if token:
            query.append(("continue", token))
        if self.options.selector and resource.kind == "Pod":
            query.append(("labelSelector", self.options.selector))
        self.requests += 1
        try:
            response = self.api.call_api(*self._request(path, query), _request_timeout=self.options.timeout_s)
            response.read()
        except ApiException as exc:  # the client's wrapper of TLS failures
            raise SourceError(f"Kubernetes API at {self.server}: {failure_reason(exc)} (TLS)") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise SourceError(
                f"Kubernetes API at {self.server}: cannot list {resource.plural} ({failure_reason(exc)})"
            ) from None
        if not 200 <= response.status < 300:
            raise self._api_error(response.status, resource, namespace)
        try:
            return json.loads(response.data)
        except ValueError:
            raise SourceError(f"Kubernetes API at {self.server}: {path} did not answer with JSON") from None

    def _request(self, path: str, query: list[tuple[str, Any]]) -> tuple[str, str, dict[str, str], None]:
        method, url, headers, body, _ = self.api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        return method, url, headers, body

    def _api_error(self, status: int, resource: Resource, namespace: str | None) -> Exception:
        scope = f" in namespace {namespace}" if namespace else ""
        if status == 410:
            return _Gone()
        if status == 403:
            return ListSkipped(
                f"no permission to list {resource.plural}{scope} (403 Forbidden); {resource.kind} analysis is "
                "missing: grant list on it (deploy/rbac.yaml)"
            )
        if status == 404 and resource.optional:
            return ListSkipped(
                f"{resource.group}/{resource.version} {resource.plural} is not served (404): the "
                f"{resource.kind} CRD is not installed, so there is no {resource.kind} analysis",
                absent=True,
            )
        if status == 404:
            return ListSkipped(f"{resource.path}/{resource.plural} is not served by this cluster (404)")
        if status == 401:
            return SourceError(
                f"Kubernetes API at {self.server}: 401 Unauthorized (check the kubeconfig's credentials)"
            )
        return SourceError(
            f"Kubernetes API at {self.server}: listing {resource.plural}{scope} failed with HTTP {status}"
        )


class _Gone(Exception):
    pass


class ListSkipped(Exception):
    """A kind that cannot be listed (403, or 404 for a kind the cluster does not serve); ``note`` says why."""

    def __init__(self, note: str, absent: bool = False) -> None:
        super().__init__(note)
        self.note = note
        self.absent = absent


def _scrub(item: dict[str, Any]) -> None:
    """Drop managedFields and redact env values, in pods and in pod templates."""
    (item.get("metadata") or {}).pop("managedFields", None)
    spec = item.get("spec") or {}
    template = ((spec.get("template") or {}).get("spec")) or {}
    for pod_spec in (spec, template):
        for field_name in ("containers", "initContainers", "ephemeralContainers"):
            for container in pod_spec.get(field_name) or []:
                for env in container.get("env") or []:
                    if "value" in env:
                        env["value"] = REDACTED
