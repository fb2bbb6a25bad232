"""The built-in knowledge of sidecars: names, image repositories and injector annotations (docs/model.md).

A registry, so adding a sidecar is one entry. Images match on the repository path (registry host,
tag and digest removed) by whole trailing path components, never on a substring of the reference:
``docker.io/istio/proxyv2:1.24`` is ``istio/proxyv2``; ``example.com/not-istio-proxyv2`` is not.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

SIDECAR_KINDS = (
    "istio",
    "linkerd",
    "vault",
    "cloud-sql-proxy",
    "dapr",
    "consul",
    "kuma",
    "envoy",
    "datadog",
    "otel",
    "log-shipper",
    "generic",
)


@dataclass(frozen=True)
class KnownSidecar:
    """One sidecar product: container names and image repositories (trailing path components) it uses."""

    kind: str
    names: tuple[str, ...]
    repositories: tuple[str, ...]


KNOWN_SIDECARS: tuple[KnownSidecar, ...] = (
    KnownSidecar("istio", ("istio-proxy",), ("istio/proxyv2", "istio-release/proxyv2", "proxyv2")),
    KnownSidecar("linkerd", ("linkerd-proxy",), ("linkerd/proxy", "linkerd-io/proxy")),
    KnownSidecar("vault", ("vault-agent",), ("hashicorp/vault", "hashicorp/vault-enterprise")),
    KnownSidecar(
        "cloud-sql-proxy",
        ("cloud-sql-proxy", "cloudsql-proxy", "gce-proxy"),
        ("cloud-sql-connectors/cloud-sql-proxy", "cloudsql-docker/gce-proxy", "cloud-sql-proxy"),
    ),
    KnownSidecar("dapr", ("daprd",), ("daprio/daprd", "dapr/daprd")),
    KnownSidecar("consul", ("consul-dataplane", "consul-connect-envoy-sidecar"), ("hashicorp/consul-dataplane",)),
    KnownSidecar("kuma", ("kuma-sidecar", "kuma-dp"), ("kumahq/kuma-dp", "kong/kuma-dp")),
    KnownSidecar("envoy", ("envoy",), ("envoyproxy/envoy", "aws-appmesh-envoy", "openservicemesh/envoy")),
    KnownSidecar(
        "datadog", ("datadog-agent", "datadog-agent-injected"), ("datadog/agent", "datadoghq/agent", "datadog-agent")
    ),
    KnownSidecar(
        "otel",
        ("otel-collector", "otc-container", "opentelemetry-collector"),
        ("otel/opentelemetry-collector", "otel/opentelemetry-collector-contrib", "opentelemetry-collector"),
    ),
    KnownSidecar(
        "log-shipper",
        ("fluent-bit", "fluentbit", "fluentd", "vector", "promtail", "filebeat"),
        ("fluent/fluent-bit", "fluent/fluentd", "timberio/vector", "grafana/promtail", "beats/filebeat"),
    ),
)

RUN_ONCE_INIT = {
    "istio-init": "istio",
    "istio-validation": "istio",
    "linkerd-init": "linkerd",
    "linkerd-network-validator": "linkerd",
    "vault-agent-init": "vault",
}
"""Init containers the injectors add that run once: their requests reserve nothing at steady state."""


@dataclass(frozen=True)
class InjectorAnnotation:
    """A pod annotation an injector leaves, and the containers it marks as that injector's sidecar."""

    key: str
    kind: str
    containers: tuple[str, ...]


INJECTOR_ANNOTATIONS: tuple[InjectorAnnotation, ...] = (
    # sidecar.istio.io/status lists its containers itself; the names here are the fallback.
    InjectorAnnotation("sidecar.istio.io/status", "istio", ("istio-proxy",)),
    InjectorAnnotation("linkerd.io/proxy-version", "linkerd", ("linkerd-proxy",)),
    InjectorAnnotation("vault.hashicorp.com/agent-inject-status", "vault", ("vault-agent",)),
    InjectorAnnotation("dapr.io/enabled", "dapr", ("daprd",)),
    InjectorAnnotation("consul.hashicorp.com/connect-inject-status", "consul", ("consul-dataplane",)),
    InjectorAnnotation("kuma.io/sidecar-injected", "kuma", ("kuma-sidecar",)),
    InjectorAnnotation("admission.datadoghq.com/enabled", "datadog", ("datadog-agent-injected",)),
)

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

REQUEST_ANNOTATIONS = {
    "istio": ("sidecar.istio.io/proxyCPU", "sidecar.istio.io/proxyMemory"),
    "linkerd": ("config.linkerd.io/proxy-cpu-request", "config.linkerd.io/proxy-memory-request"),
    "vault": ("vault.hashicorp.com/agent-requests-cpu", "vault.hashicorp.com/agent-requests-mem"),
    "dapr": ("dapr.io/sidecar-cpu-request", "dapr.io/sidecar-memory-request"),
}
"""The pod annotations (CPU, memory) through which each injector takes its sidecar's requests."""

LIMIT_ANNOTATIONS = {
    "istio": ("sidecar.istio.io/proxyCPULimit", "sidecar.istio.io/proxyMemoryLimit"),
    "linkerd": ("config.linkerd.io/proxy-cpu-limit", "config.linkerd.io/proxy-memory-limit"),
    "vault": ("vault.hashicorp.com/agent-limits-cpu", "vault.hashicorp.com/agent-limits-mem"),
    "dapr": ("dapr.io/sidecar-cpu-limit", "dapr.io/sidecar-memory-limit"),
}
"""The pod annotations (CPU, memory) through which each injector takes its sidecar's limits."""

NAMESPACE_READERS = frozenset({"linkerd"})
"""Injectors that also read those annotations from the pod's namespace: Linkerd's proxy injector copies each
config annotation its namespace has and the pod lacks onto the pod (``AppendNamespaceAnnotations``)."""


class RequestSource(StrEnum):
    """What set a sidecar's requests (the ``request_source`` column): the cause a fix has to reach."""

    TEMPLATE = "template"
    """The container is in the workload's pod template: its manifest sets them."""
    POD_ANNOTATION = "pod-annotation"
    """Injected; the workload's pod template carries the injector's request annotation (a per-workload
    override; without the template, the pod's annotation)."""
    NAMESPACE_ANNOTATION = "namespace-annotation"
    """Injected by an injector that reads its namespace's annotations; the pod carries the request annotation
    and its workload's template does not: the injector copied it from the namespace."""
    INJECTOR = "injector"
    """Injected with no such annotation on the pod: the injector's configuration (its default) decides them."""


def request_source(
    kind: str, injected: bool, annotations: Mapping[str, str], template: Mapping[str, str] | None = None
) -> RequestSource:
    """Where the requests of a sidecar of ``kind`` come from (see :class:`RequestSource`): ``annotations``
    are the pod's, ``template`` its workload's pod-template annotations (None when no template is known)."""
    if not injected:
        return RequestSource.TEMPLATE
    keys = [k for k in REQUEST_ANNOTATIONS.get(kind, ()) if k in annotations]
    if not keys:
        return RequestSource.INJECTOR
    if kind in NAMESPACE_READERS and template is not None and not any(k in template for k in keys):
        return RequestSource.NAMESPACE_ANNOTATION
    return RequestSource.POD_ANNOTATION


def image_repository(image: str) -> str:
    """The repository path of an image reference: no registry host, tag or digest.

    The first component is a registry host when it holds a ``.`` or ``:`` or is ``localhost``
    (the rule of the Docker reference grammar).
    """
    ref = image.split("@", 1)[0]
    last_slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > last_slash:
        ref = ref[:colon]
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts).lower()


def repository_matches(repository: str, known: str) -> bool:
    """``known`` equals the repository's trailing path components (``istio/proxyv2`` in ``x/istio/proxyv2``)."""
    have, want = repository.split("/"), known.split("/")
    return len(have) >= len(want) and have[-len(want) :] == want


@functools.lru_cache(maxsize=4096)
def known_by_image(image: str) -> KnownSidecar | None:
    """The known sidecar whose repository ``image`` is from (remembered: a cluster's pods repeat a few
    hundred images tens of thousands of times)."""
    repo = image_repository(image)
    return next((k for k in KNOWN_SIDECARS if any(repository_matches(repo, r) for r in k.repositories)), None)


def known_by_name(name: str) -> KnownSidecar | None:
    return next((k for k in KNOWN_SIDECARS if name in k.names), None)
