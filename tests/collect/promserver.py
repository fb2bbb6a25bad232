"""A real Prometheus for tests: backfilled with promtool from generated snapshots, on 127.0.0.1.

Also a reverse proxy that sits in front of it to count requests and inject faults (503s, delays,
4xx answers, stopping the server mid-collection).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from analyzer.snapshot.schema import Snapshot
from analyzer.synth.exposition import Exposition, write_openmetrics

CONFIG = "global:\n  scrape_interval: 60s\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise RuntimeError(f"{binary} is missing: the README's test command installs Debian's prometheus")
    return path


def backfill(snapshots: dict[str, Snapshot], directory: Path) -> Path:
    """OpenMetrics text of each snapshot (labelled ``cluster=<key>``) turned into TSDB blocks by promtool."""
    directory.mkdir(parents=True, exist_ok=True)
    text = directory / "data.om"
    with text.open("w") as out:
        for cluster, snapshot in snapshots.items():
            write_openmetrics(snapshot, out, Exposition(extra_labels=(("cluster", cluster),)), eof=False)
        out.write("# EOF\n")
    tsdb = directory / "tsdb"
    subprocess.run(
        [require("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(text), str(tsdb)],
        check=True,
        capture_output=True,
    )
    text.unlink()
    return tsdb


class PrometheusServer:
    """``prometheus`` serving a TSDB directory on a free port of 127.0.0.1."""

    def __init__(self, tsdb: Path, workdir: Path, *flags: str) -> None:
        """``flags``: more of ``prometheus``'s command-line flags."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(CONFIG)
        self.log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                require("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=36500d",
                # Scraped series end with staleness markers, which a backfill cannot carry; a lookback
                # just under the 60 s scrape interval ends them the same way after their last sample.
                "--query.lookback-delta=59s",
                *flags,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError(f"prometheus not ready after {timeout_s} s")

    def stop(self) -> None:
        """A graceful stop: Prometheus may still answer a query in flight (with a 422 from a closing head)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.log.close()

    def kill(self) -> None:
        """A crash (SIGKILL, as the OOM killer does): a query in flight loses its connection, the next is refused."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        self.log.close()


class FaultProxy:
    """A reverse proxy in front of ``upstream`` that counts requests and can misbehave.

    ``fail_first``: answer that many requests with ``fail_status``; ``delay_s``: sleep before
    forwarding; ``on_request(n)``: called with the request number before forwarding.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[str] = []
        self.fail_first = 0
        self.fail_status = 503
        self.fail_body = b'{"status":"error","errorType":"unavailable","error":"overloaded"}'
        self.delay_s = 0.0
        self.on_request: Callable[[int], None] | None = None
        self.headers_seen: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests.append(self.path)
                proxy.headers_seen.append(dict(self.headers))
                number = len(proxy.requests)
                if proxy.on_request is not None:
                    proxy.on_request(number)
                if number <= proxy.fail_first:
                    self._answer(proxy.fail_status, proxy.fail_body)
                    return
                if proxy.delay_s:
                    time.sleep(proxy.delay_s)
                try:
                    with urllib.request.urlopen(proxy.upstream + self.path, timeout=30) as answer:
                        self._answer(answer.status, answer.read())
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, exc.read())
                except (urllib.error.URLError, ConnectionError):
                    self._answer(502, b"upstream unreachable")

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
