"""A local HTTP server that speaks the Kubernetes API's JSON, for testing the kubernetes client.

It serves lists with ``limit``/``continue`` pagination, ``labelSelector`` on pods, 401 without the
bearer token, 403 and 404 per resource, one 410 Gone mid-list per resource on request, and
``metrics.k8s.io/v1beta1`` PodMetrics from a callback.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

PLURALS = {
    "pods": "Pod",
    "replicasets": "ReplicaSet",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "verticalpodautoscalers": "VerticalPodAutoscaler",
    "scaledobjects": "ScaledObject",
    "jobs": "Job",
    "cronjobs": "CronJob",
}


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


class FakeApiServer:
    def __init__(self, objects: dict[str, list[dict[str, Any]]], token: str) -> None:
        self.objects = objects
        self.token = token
        self.forbidden: set[str] = set()
        self.forbidden_in: set[tuple[str, str]] = set()
        """(kind, namespace) pairs refused: a Role that grants one namespace and not another."""
        self.missing: set[str] = set()
        self.version: tuple[str, str] | None = ("1", "31+")
        self.gone_once: set[str] = set()
        self.pod_metrics: Callable[[int], list[dict[str, Any]]] | None = None
        self.requests: list[str] = []
        self.metrics_polls = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                code, body = server.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def kubeconfig(self, directory: Path, token: str | None = None) -> Path:
        path = directory / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "reader", "user": {"token": token or self.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "reader"}}],
        }))  # fmt: skip
        return path

    def answer(self, raw_path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        if authorization != f"Bearer {self.token}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.strip("/").split("/")
        plural = segments[-1]
        namespace = segments[segments.index("namespaces") + 1] if "namespaces" in segments else None
        if parts.path == "/version":  # what the API server of that version answers (minor as EKS/GKE write it)
            if self.version is None:
                return 403, status(403, "Forbidden", 'forbidden: User "reader" cannot get path "/version"')
            major, minor = self.version
            return 200, {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor.rstrip('+')}.3"}
        if parts.path.startswith("/apis/metrics.k8s.io/v1beta1/"):
            if "PodMetrics" in self.missing or self.pod_metrics is None:
                return 404, status(404, "NotFound", "the server could not find the requested resource")
            self.metrics_polls += 1
            items = [m for m in self.pod_metrics(self.metrics_polls) if namespace in (None, m["metadata"]["namespace"])]
            return 200, {
                "kind": "PodMetricsList",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {},
                "items": items,
            }
        kind = PLURALS.get(plural)
        if kind is None or kind in self.missing:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        if kind in self.forbidden or (kind, namespace) in self.forbidden_in:
            return 403, status(
                403, "Forbidden", f'{plural} is forbidden: User "reader" cannot list resource "{plural}"'
            )
        if "continue" in query and kind in self.gone_once:
            self.gone_once.discard(kind)
            return 410, status(410, "Expired", "The provided continue parameter is too old")
        items = [o for o in self.objects.get(kind, []) if namespace in (None, o["metadata"]["namespace"])]
        if "labelSelector" in query:
            key, _, value = query["labelSelector"].partition("=")
            items = [o for o in items if (o["metadata"].get("labels") or {}).get(key) == value]
        offset = int(base64.b64decode(query["continue"]).decode()) if "continue" in query else 0
        limit = int(query.get("limit", len(items) or 1))
        page = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items[offset : offset + limit]]
        meta: dict[str, Any] = {"resourceVersion": "1000"}
        if offset + limit < len(items):
            meta["continue"] = base64.b64encode(str(offset + limit).encode()).decode()
        return 200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": meta, "items": page}
