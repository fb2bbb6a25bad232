"""The scenario catalogue: one workload each, named for what it shows (figures from published overhead measurements)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

MIB = 2**20


@dataclass(frozen=True)
class SidecarSpec:
    """A container beside the app: its resources and its true usage model,
    ``usage = base + slope × the primary app container's usage per pod``.

    CPU ``slope`` is cores per app core; memory ``mem_slope`` is bytes per app core.
    ``requests`` None means the injector sets none (Linkerd's default). ``app`` marks a second app
    container (declared in the template, serving the same load), not a sidecar.
    """

    name: str
    image: str
    kind: str
    requests: dict[str, str] | None
    limits: dict[str, str] | None
    cpu_base: float
    cpu_slope: float
    mem_base: float
    mem_slope: float
    native: bool = False
    injected: bool = True
    app: bool = False


@dataclass(frozen=True)
class Scenario:
    """A workload: its app, sidecars, traffic, HPA (None: fixed replicas) and VPA."""

    name: str
    namespace: str
    workload: str
    shows: str
    app_image: str
    app_requests: dict[str, str]
    app_limits: dict[str, str] | None
    cpu_per_rps: float
    app_mem_base: float
    app_mem_per_rps: float
    peak_rps: float
    sidecars: tuple[SidecarSpec, ...] = ()
    hpa: dict[str, Any] | None = None
    vpa: dict[str, Any] | None = None
    kind: str = "Deployment"
    replicas: int = 3
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    app_name: str | None = None
    expected_vpa_hazards: tuple[str, ...] = ()
    """The VPA hazards (analyzer.findings.vpa_hazards) this scenario is built to show."""

    @property
    def app_container(self) -> str:
        """The primary app container's name: ``app_name``, else the workload's name."""
        return self.app_name or self.workload

    @property
    def app_containers(self) -> tuple[str, ...]:
        """Every app container, the primary first."""
        return (self.app_container, *(c.name for c in self.sidecars if c.app))


def istio_proxy(requests: dict[str, str] | None = None, native: bool = False) -> SidecarSpec:
    """istio-proxy: 100m/128Mi requests by default, ~0.2 vCPU per 1000 rps, ~60 MB flat (Istio 1.24)."""
    return SidecarSpec(
        name="istio-proxy",
        image="docker.io/istio/proxyv2:1.24.2",
        kind="istio",
        requests=requests if requests is not None else {"cpu": "100m", "memory": "128Mi"},
        limits={"cpu": "2000m", "memory": "1024Mi"},
        cpu_base=0.008,
        cpu_slope=0.28,
        mem_base=62 * MIB,
        mem_slope=8 * MIB,
        native=native,
    )


def cpu_utilization(target: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
        }
    ]


def hpa(
    min_r: int, max_r: int, metrics: list[dict[str, Any]], behavior: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"minReplicas": min_r, "maxReplicas": max_r, "metrics": metrics}
    if behavior is not None:
        spec["behavior"] = behavior
    return spec


CATALOGUE: tuple[Scenario, ...] = (
    Scenario(
        name="istio-inflation",
        namespace="shop",
        workload="checkout",
        shows="istio-proxy's usage/request ratio exceeds the app's, inflating pod CPU utilization",
        app_image="registry.example.com/shop/checkout:2.4.1",
        app_requests={"cpu": "500m", "memory": "512Mi"},
        app_limits={"memory": "1Gi"},
        cpu_per_rps=0.0007,
        app_mem_base=300 * MIB,
        app_mem_per_rps=0.05 * MIB,
        peak_rps=2600,
        sidecars=(istio_proxy(),),
        hpa=hpa(2, 20, cpu_utilization(70)),
    ),
    Scenario(
        name="cloudsql-dilution",
        namespace="shop",
        workload="inventory",
        shows="cloud-sql-proxy requests 1 CPU / 2Gi and uses a few millicores, diluting pod CPU utilization",
        app_image="registry.example.com/shop/inventory:1.9.0",
        app_requests={"cpu": "500m", "memory": "384Mi"},
        app_limits=None,
        cpu_per_rps=0.0009,
        app_mem_base=250 * MIB,
        app_mem_per_rps=0.04 * MIB,
        peak_rps=1900,
        sidecars=(
            SidecarSpec(
                name="cloud-sql-proxy",
                image="gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.0",
                kind="cloud-sql-proxy",
                requests={"cpu": "1", "memory": "2Gi"},
                limits=None,
                cpu_base=0.003,
                cpu_slope=0.02,
                mem_base=16 * MIB,
                mem_slope=4 * MIB,
                injected=False,
            ),
        ),
        hpa=hpa(2, 20, cpu_utilization(70)),
    ),
    Scenario(
        name="linkerd-stalled",
        namespace="payments",
        workload="ledger",
        shows="linkerd-proxy has no CPU request, so the CPU HPA cannot compute a replica count (stalled)",
        app_image="registry.example.com/payments/ledger:5.0.2",
        app_requests={"cpu": "400m", "memory": "256Mi"},
        app_limits=None,
        cpu_per_rps=0.0008,
        app_mem_base=180 * MIB,
        app_mem_per_rps=0.03 * MIB,
        peak_rps=1500,
        sidecars=(
            SidecarSpec(
                name="linkerd-proxy",
                image="cr.l5d.io/linkerd/proxy:edge-24.11.8",
                kind="linkerd",
                requests=None,
                limits=None,
                cpu_base=0.002,
                cpu_slope=0.08,
                mem_base=18 * MIB,
                mem_slope=6 * MIB,
            ),
        ),
        hpa=hpa(2, 12, cpu_utilization(75)),
        replicas=4,
    ),
    Scenario(
        name="native-sidecar",
        namespace="payments",
        workload="fraud-scorer",
        shows="istio-proxy as a native sidecar (restartPolicy Always init container): HPA counts it, VPA cannot see it",
        app_image="registry.example.com/payments/fraud-scorer:0.8.3",
        app_requests={"cpu": "1", "memory": "1Gi"},
        app_limits={"memory": "2Gi"},
        cpu_per_rps=0.002,
        app_mem_base=700 * MIB,
        app_mem_per_rps=0.1 * MIB,
        peak_rps=1200,
        sidecars=(istio_proxy({"cpu": "250m", "memory": "256Mi"}, native=True),),
        hpa=hpa(2, 16, cpu_utilization(65)),
    ),
    Scenario(
        name="fluent-bit-memory",
        namespace="web",
        workload="frontend",
        shows="fluent-bit memory grows with log volume; the HPA scales on CPU and memory",
        app_image="registry.example.com/web/frontend:3.2.0",
        app_requests={"cpu": "300m", "memory": "256Mi"},
        app_limits={"memory": "512Mi"},
        cpu_per_rps=0.0004,
        app_mem_base=140 * MIB,
        app_mem_per_rps=0.03 * MIB,
        peak_rps=3200,
        sidecars=(
            SidecarSpec(
                name="fluent-bit",
                image="cr.fluentbit.io/fluent/fluent-bit:3.2.4",
                kind="log-shipper",
                requests={"cpu": "20m", "memory": "32Mi"},
                limits={"memory": "128Mi"},
                cpu_base=0.002,
                cpu_slope=0.05,
                mem_base=26 * MIB,
                mem_slope=60 * MIB,
                injected=False,
            ),
        ),
        hpa=hpa(
            2,
            20,
            [
                *cpu_utilization(70),
                {
                    "type": "Resource",
                    "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
                },
            ],
        ),
    ),
    Scenario(
        name="container-resource-control",
        namespace="shop",
        workload="catalog",
        shows="control: the HPA targets the app container alone (ContainerResource), so istio-proxy causes no skew",
        app_image="registry.example.com/shop/catalog:7.1.0",
        app_requests={"cpu": "500m", "memory": "512Mi"},
        app_limits=None,
        cpu_per_rps=0.0007,
        app_mem_base=320 * MIB,
        app_mem_per_rps=0.04 * MIB,
        peak_rps=2200,
        sidecars=(istio_proxy(),),
        hpa=hpa(
            2,
            20,
            [
                {
                    "type": "ContainerResource",
                    "containerResource": {
                        "name": "cpu",
                        "container": "catalog",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        ),
    ),
    Scenario(
        name="no-sidecar-control",
        namespace="batch",
        workload="report-builder",
        shows="control: no sidecars at all",
        app_image="registry.example.com/batch/report-builder:1.0.4",
        app_requests={"cpu": "500m", "memory": "512Mi"},
        app_limits=None,
        cpu_per_rps=0.0012,
        app_mem_base=260 * MIB,
        app_mem_per_rps=0.06 * MIB,
        peak_rps=900,
        hpa=hpa(1, 10, cpu_utilization(70)),
    ),
    Scenario(
        name="vpa-no-catch-all",
        namespace="web",
        workload="search",
        shows="a VPA whose containerPolicies name only the app: istio-proxy stays on Auto and halves the app's floor",
        app_image="registry.example.com/web/search:4.4.0",
        app_requests={"cpu": "250m", "memory": "512Mi"},
        app_limits={"cpu": "1", "memory": "1Gi"},
        cpu_per_rps=0.0006,
        app_mem_base=400 * MIB,
        app_mem_per_rps=0.02 * MIB,
        peak_rps=600,
        sidecars=(istio_proxy(),),
        vpa={
            "updatePolicy": {"updateMode": "Auto"},
            "resourcePolicy": {
                "containerPolicies": [{"containerName": "search", "minAllowed": {"cpu": "100m", "memory": "256Mi"}}]
            },
        },
        # The policy leaves istio-proxy on Auto: besides the floor split, its injected request is managed.
        expected_vpa_hazards=("no-catch-all", "eviction-loop"),
    ),
    Scenario(
        name="hpa-vpa-same-resource",
        namespace="web",
        workload="recommender",
        shows="an HPA and a VPA both act on CPU (feedback loop), with istio-proxy in the pod",
        app_image="registry.example.com/web/recommender:2.0.1",
        app_requests={"cpu": "600m", "memory": "768Mi"},
        app_limits=None,
        cpu_per_rps=0.001,
        app_mem_base=500 * MIB,
        app_mem_per_rps=0.05 * MIB,
        peak_rps=1400,
        sidecars=(istio_proxy(),),
        hpa=hpa(2, 15, cpu_utilization(60)),
        vpa={
            "updatePolicy": {"updateMode": "Auto"},
            "resourcePolicy": {"containerPolicies": [{"containerName": "*", "controlledResources": ["cpu", "memory"]}]},
        },
        expected_vpa_hazards=("hpa-vpa-same-resource", "sidecar-moves-hpa-denominator", "eviction-loop"),
    ),
    Scenario(
        name="statefulset",
        namespace="data",
        workload="session-cache",
        shows="a StatefulSet with istio-proxy, scaled by a CPU HPA with a behavior block",
        app_image="registry.example.com/data/session-cache:6.2.7",
        app_requests={"cpu": "400m", "memory": "1Gi"},
        app_limits={"memory": "2Gi"},
        cpu_per_rps=0.00035,
        app_mem_base=800 * MIB,
        app_mem_per_rps=0.02 * MIB,
        peak_rps=4000,
        sidecars=(istio_proxy(),),
        hpa=hpa(
            3,
            12,
            cpu_utilization(70),
            behavior={
                "scaleDown": {
                    "stabilizationWindowSeconds": 600,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                }
            },
        ),
        kind="StatefulSet",
    ),
    Scenario(
        name="vault-dilution",
        namespace="payments",
        workload="billing-api",
        shows="vault-agent's default 250m request with near-idle usage dilutes pod CPU utilization",
        app_image="registry.example.com/payments/billing-api:3.3.3",
        app_requests={"cpu": "300m", "memory": "384Mi"},
        app_limits=None,
        cpu_per_rps=0.0006,
        app_mem_base=220 * MIB,
        app_mem_per_rps=0.03 * MIB,
        peak_rps=1300,
        sidecars=(
            SidecarSpec(
                name="vault-agent",
                image="hashicorp/vault:1.18.3",
                kind="vault",
                requests={"cpu": "250m", "memory": "64Mi"},
                limits={"cpu": "500m", "memory": "128Mi"},
                cpu_base=0.002,
                cpu_slope=0.0,
                mem_base=22 * MIB,
                mem_slope=0.0,
            ),
        ),
        hpa=hpa(2, 20, cpu_utilization(70)),
    ),
    Scenario(
        name="istio-masked",
        namespace="shop",
        workload="pricing",
        shows="an idle, over-requested istio-proxy masks a busy app: pod utilization sits inside the tolerance band",
        app_image="registry.example.com/shop/pricing:1.1.0",
        app_requests={"cpu": "500m", "memory": "256Mi"},
        app_limits=None,
        cpu_per_rps=0.0009,
        app_mem_base=150 * MIB,
        app_mem_per_rps=0.02 * MIB,
        peak_rps=1100,
        sidecars=(
            SidecarSpec(
                name="istio-proxy",
                image="docker.io/istio/proxyv2:1.24.2",
                kind="istio",
                requests={"cpu": "150m", "memory": "128Mi"},
                limits={"cpu": "2000m", "memory": "1024Mi"},
                cpu_base=0.01,
                cpu_slope=0.02,
                mem_base=55 * MIB,
                mem_slope=2 * MIB,
            ),
        ),
        hpa=hpa(2, 16, cpu_utilization(70)),
        annotations={"sidecar.istio.io/proxyCPU": "150m"},
    ),
    Scenario(
        name="multi-app",
        namespace="edge",
        workload="edge-router",
        shows="two app containers (router and authz, no sidecar evidence for either) and an istio sidecar: "
        "app-only counts both apps, which no single ContainerResource metric can",
        app_image="registry.example.com/edge/router:1.3.0",
        app_requests={"cpu": "200m", "memory": "128Mi"},
        app_limits=None,
        cpu_per_rps=0.0003,
        app_mem_base=90 * MIB,
        app_mem_per_rps=0.01 * MIB,
        peak_rps=3000,
        sidecars=(
            SidecarSpec(
                name="authz",
                image="registry.example.com/edge/authz:0.9.1",
                kind="",
                requests={"cpu": "200m", "memory": "64Mi"},
                limits=None,
                cpu_base=0.004,
                cpu_slope=0.6,
                mem_base=30 * MIB,
                mem_slope=0.0,
                injected=False,
                app=True,
            ),
            istio_proxy({"cpu": "50m", "memory": "64Mi"}),
        ),
        hpa=hpa(2, 12, cpu_utilization(60)),
        replicas=2,
        app_name="router",
    ),
)


def pick(count: int) -> list[Scenario]:
    """``count`` scenarios: the catalogue in order, repeated with numbered copies beyond its size."""
    out: list[Scenario] = []
    for i in range(count):
        base = CATALOGUE[i % len(CATALOGUE)]
        round_ = i // len(CATALOGUE)
        if round_ == 0:
            out.append(base)
        else:
            out.append(
                replace(
                    base,
                    workload=f"{base.workload}-{round_ + 1}",
                    namespace=f"{base.namespace}-{round_ + 1}",
                    app_name=base.app_container,
                )
            )
    return out
