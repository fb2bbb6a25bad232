"""How to reach a Prometheus-compatible API, and requests to it with timeouts and retries.

Every request goes through prometheus-api-client's connection (its session, headers and auth); the
usage answers, hundreds of megabytes of points, are decoded into arrays by :mod:`prom_answers` instead of
its ``response.json()``. 5xx and 429 answers, timeouts and refused connections
are retried with exponential backoff; another 4xx is not retried: a rejected query is a bug in this tool
(401/403 are the user's credentials) and the error says which.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from analyzer.collect.net import failure_reason
from analyzer.collect.prom_answers import Matrix, NotAMatrix, decode_matrix
from analyzer.errors import SidecarImpactError, SourceError, clip

log = logging.getLogger(__name__)

TOKEN_ENV = "PROMETHEUS_TOKEN"
TOO_MANY_REQUESTS = 429
"""A query frontend's rate limit (Mimir, Thanos): retried with backoff like a 5xx."""
_STATUS = re.compile(r"HTTP Status Code (\d{3})")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PromOptions:
    """Connection settings. ``url`` may carry a path prefix (Thanos, Mimir ``/prometheus``, VictoriaMetrics)."""

    url: str
    token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    ca_file: Path | None = None
    insecure_skip_tls_verify: bool = False
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    concurrency: int = 4
    cluster_label: str | None = None
    cluster: str | None = None
    gzip: bool = False
    """Ask for gzip-compressed answers: a quarter of the bytes, but compressing them is most of what a
    collection costs the server's CPU (docs/collect.md, "Query plan"); off unless bandwidth is dearer."""

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^/]+", self.url):
            raise SidecarImpactError(f"--prometheus-url: {clip(self.url)} is not an http(s) URL")
        if (self.cluster_label is None) != (self.cluster is None):
            raise SidecarImpactError("--cluster-label and --cluster-value go together: give both or neither")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise SidecarImpactError(f"--ca-file: {self.ca_file} is not a file")


def read_secret(path: Path, flag: str) -> str:
    """A token or password from a file (stripped); the error names the flag, never the content."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SidecarImpactError(f"{flag}: cannot read {path}: {exc.strerror}") from exc


def resolve_token(token_file: Path | None, from_env: bool) -> str | None:
    """The bearer token from ``--token-file``, else ``$PROMETHEUS_TOKEN`` when ``from_env``."""
    if token_file is not None:
        return read_secret(token_file, "--token-file")
    return (os.environ.get(TOKEN_ENV) or None) if from_env else None


def parse_headers(values: Iterable[str]) -> dict[str, str]:
    """``--header 'X-Scope-OrgID: tenant'`` values into a dict."""
    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise SidecarImpactError(f"--header: {clip(value)} is not 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers


class PromClient:
    """Range and instant queries with bounded concurrency; counts the HTTP requests it sends."""

    def __init__(self, options: PromOptions) -> None:
        self.options = options
        session = requests.Session()
        session.verify = (
            False if options.insecure_skip_tls_verify else (str(options.ca_file) if options.ca_file else True)
        )
        headers = {"Accept-Encoding": "gzip" if options.gzip else "identity"}
        headers.update(options.headers)
        if options.token:
            headers["Authorization"] = f"Bearer {options.token}"
        self._session, self._headers = session, headers
        self._prom = PrometheusConnect(
            url=options.url.rstrip("/"),
            headers=headers,
            auth=options.basic_auth,
            session=session,
            retry=Retry(total=0, raise_on_status=False),
            timeout=options.timeout_s,
        )
        self._lock = threading.Lock()
        self.requests = 0

    def close(self) -> None:
        self._prom.close()

    def query(self, promql: str, at: pd.Timestamp) -> list[dict[str, Any]]:
        """An instant query evaluated at ``at``."""
        return self._call(promql, lambda: self._prom.custom_query(promql, params={"time": at.timestamp()}))

    def matrix(self, promql: str, at: pd.Timestamp) -> Matrix:
        """An instant query of a range selector (raw samples), decoded into arrays."""
        return self._call(promql, lambda: self._matrix("query", {"query": promql, "time": at.timestamp()}))

    def matrix_range(self, promql: str, start: pd.Timestamp, end: pd.Timestamp, step_s: float) -> Matrix:
        """A range query decoded into arrays; the caller keeps (end - start) / step under 11,000 points."""
        params = {"query": promql, "start": start.timestamp(), "end": end.timestamp(), "step": f"{step_s:g}"}
        return self._call(promql, lambda: self._matrix("query_range", params))

    def _matrix(self, endpoint: str, params: dict[str, Any]) -> Matrix:
        """What ``PrometheusConnect.custom_query`` sends, with the body decoded by :func:`decode_matrix`."""
        response = self._session.request(
            method="GET",
            url=f"{self._prom.url}/api/v1/{endpoint}",
            params=params,
            headers=self._headers,
            auth=self.options.basic_auth,
            timeout=self.options.timeout_s,
        )
        if response.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {response.status_code} ({response.content!r})")
        try:
            return decode_matrix(response.content)
        except NotAMatrix:
            raise _NotSeries from None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``items`` on at most ``concurrency`` threads, results in order; at most
        ``concurrency`` results are ever waiting for the caller, however slowly it takes them."""
        ahead = self.options.concurrency
        with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="prom") as pool:
            pending: deque[Future[R]] = deque()
            for item in items:
                if len(pending) == ahead:
                    yield pending.popleft().result()
                pending.append(pool.submit(fn, item))
            while pending:
                yield pending.popleft().result()

    def _call(self, promql: str, send: Callable[[], R]) -> R:
        where = self.options.url
        attempts = self.options.retries + 1
        for attempt in range(1, attempts + 1):
            with self._lock:
                self.requests += 1
            try:
                return send()
            except PrometheusApiClientException as exc:
                status = _status_of(exc)
                if status is not None and status < 500 and status != TOO_MANY_REQUESTS:
                    raise _client_error(where, status, promql, str(exc)) from None
                problem = f"HTTP {status}" if status else "an unreadable answer"
            except requests.Timeout:
                problem = f"no answer within {self.options.timeout_s:g} s"
            except requests.exceptions.SSLError as exc:
                raise SourceError(f"Prometheus at {where}: TLS verification failed ({failure_reason(exc)})") from None
            except requests.ConnectionError as exc:  # urllib3 with retries off wraps read timeouts here
                timed_out = "timed out" in str(exc)
                problem = (
                    f"no answer within {self.options.timeout_s:g} s"
                    if timed_out
                    else f"connection failed ({failure_reason(exc)})"
                )
            except _NotSeries:
                raise SourceError(f"Prometheus at {where}: an answer to a range selector is not series of "
                                  "[time, value]") from None  # fmt: skip
            except ValueError:
                problem = "an answer that is not Prometheus JSON"
            if attempt == attempts:
                raise SourceError(f"Prometheus at {where}: {problem}, {attempts} attempts") from None
            delay = self.options.backoff_s * 2 ** (attempt - 1)
            log.warning(
                "Prometheus at %s: %s; retrying in %.1f s (attempt %d of %d)",
                where,
                problem,
                delay,
                attempt + 1,
                attempts,
            )
            time.sleep(delay)
        raise AssertionError("unreachable")


class _NotSeries(Exception):
    """A matrix answer that is well-formed JSON but not series of [time, value] (not retried)."""


def _status_of(exc: PrometheusApiClientException) -> int | None:
    match = _STATUS.search(str(exc))
    return int(match.group(1)) if match else None


def _client_error(where: str, status: int, promql: str, detail: str) -> SourceError:
    if status in (401, 403):
        return SourceError(f"Prometheus at {where}: HTTP {status}, check the token, basic auth or headers")
    if status == 404:
        return SourceError(f"Prometheus at {where}: HTTP 404, is the URL's path prefix right (e.g. /prometheus)?")
    message = re.search(r'"error":"((?:[^"\\]|\\.)*)"', detail)
    reason = message.group(1) if message else detail[:200]
    return SourceError(
        f"Prometheus at {where} rejected a query with HTTP {status} ({reason}); this is a bug in "
        f"sidecar-impact, please report it with the query: {promql[:300]}"
    )
