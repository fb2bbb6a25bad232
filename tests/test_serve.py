"""``serve``: the runs folder over HTTP, read-only, never outside it."""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from analyzer.api import Analysis, render_run
from analyzer.serve import make_server


@pytest.fixture(scope="module")
def served(small_analysis: Analysis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    """Two runs of the small analysis and a link that points outside, served once for the module."""
    tmp_path = tmp_path_factory.mktemp("serve")
    reports = tmp_path / "reports"
    render_run(small_analysis, reports, ["html", "json"], now=pd.Timestamp("2026-11-29T03:17:00Z"))
    render_run(small_analysis, reports, ["html", "json"], now=pd.Timestamp("2026-11-30T03:17:00Z"))
    (tmp_path / "secret.txt").write_text("outside")
    (reports / "escape").symlink_to(tmp_path / "secret.txt")
    server = make_server(reports, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1], reports
    server.shutdown()
    server.server_close()


def get(host: str, port: int, path: str, method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)  # the path exactly as given: no client cleanup
    connection.endheaders()
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    return answer.status, body, dict(answer.getheaders())


def snapshot_of(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime) for p in folder.rglob("*")}


def test_serves_the_index_the_latest_report_and_each_run(served: tuple[str, int, Path]) -> None:
    host, port, reports = served
    before = snapshot_of(reports)
    status, body, _ = get(host, port, "/")
    assert status == 200 and b'href="/synthetic-11/"' in body
    status, body, _ = get(host, port, "/synthetic-11/")
    assert status == 200 and b"sidecar-impact runs: synthetic-11" in body
    assert body.index(b"2026-11-30T03:17:00Z") < body.index(b"2026-11-29T03:17:00Z")  # newest first
    assert b"waste $/month" in body and b'href="20261129T031700Z/report.html"' in body
    status, body, headers = get(host, port, "/synthetic-11/latest/report.html")
    latest = (reports / "synthetic-11" / "20261130T031700Z" / "report.html").read_bytes()
    assert status == 200 and body == latest and headers["Content-Type"].startswith("text/html")
    status, body, headers = get(host, port, "/synthetic-11/20261129T031700Z/report.json", "HEAD")
    assert status == 200 and body == b"" and headers["Content-Type"].startswith("application/json")
    status, _, headers = get(host, port, "/synthetic-11")
    assert status == 301 and headers["Location"] == "/synthetic-11/"
    assert snapshot_of(reports) == before  # the server never writes


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/synthetic-11/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/synthetic-11%2f..%2f..%2fsecret.txt",
        "//etc/passwd",
        "/etc/passwd",
        os.path.abspath("/etc/passwd"),
        "/escape",  # a symlink inside pointing outside
        "/nothing-here",
        "/" + "a" * 5000,
    ],
)
def test_nothing_outside_the_folder_is_served(served: tuple[str, int, Path], path: str) -> None:
    host, port, _ = served
    status, body, _ = get(host, port, path)
    assert status == 404 and b"outside" not in body and b"root:" not in body


def test_only_reading_is_allowed(served: tuple[str, int, Path]) -> None:
    host, port, _ = served
    for method in ("POST", "PUT", "DELETE"):
        assert get(host, port, "/synthetic-11/", method)[0] == 405


def request(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    return answer.status, body, dict(answer.getheaders())


def test_ranges_and_conditional_requests(served: tuple[str, int, Path]) -> None:
    host, port, reports = served
    path = "/synthetic-11/20261129T031700Z/report.json"
    whole = (reports / "synthetic-11" / "20261129T031700Z" / "report.json").read_bytes()
    status, body, headers = request(host, port, path, {"Range": "bytes=10-19"})
    assert status == 206 and body == whole[10:20] and headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    status, body, headers = request(host, port, path, {"Range": "bytes=-5"})
    assert status == 206 and body == whole[-5:]
    status, body, _ = request(host, port, path, {"Range": f"bytes={len(whole) - 3}-"})
    assert status == 206 and body == whole[-3:]
    status, _, headers = request(host, port, path, {"Range": f"bytes={len(whole)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"
    for ignored in ("bytes=0-1,5-6", "lines=1-2", "bytes=x-y", "bytes=9-3"):  # the whole file, as RFC 9110 allows
        status, body, _ = request(host, port, path, {"Range": ignored})
        assert status == 200 and body == whole, ignored
    status, body, headers = request(host, port, path, {})
    assert status == 200 and headers["Accept-Ranges"] == "bytes" and "Last-Modified" in headers
    status, body, _ = request(host, port, path, {"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304 and body == b""
    for stale in ("Mon, 01 Jan 2001 00:00:00 GMT", "not a date", "Mon, 01 Jan 2001 00:00:00"):
        assert request(host, port, path, {"If-Modified-Since": stale})[0] == 200, stale


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_fifty_concurrent_downloads_of_a_large_report_stay_under_the_deployments_limit(tmp_path: Path) -> None:
    """``sidecar-impact serve`` as deployed (deploy/serve.yaml limits it to 256Mi): 50 clients download a
    64 MB report.json at once; every copy arrives intact and the server's peak RSS stays under the limit."""
    limit = 256 << 20
    assert "memory: 256Mi" in (Path(__file__).resolve().parents[1] / "deploy" / "serve.yaml").read_text()
    run = tmp_path / "reports" / "c" / "20261201T000000Z"
    run.mkdir(parents=True)
    data = random.Random(7).randbytes(64 << 20)
    (run / "report.json").write_bytes(data)
    expected = zlib.crc32(data)
    del data
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "serve", "--reports", str(tmp_path / "reports"), "--port", str(port)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stderr is not None and "serving" in server.stderr.readline()

        def download(_: int) -> tuple[int, int, int]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            connection.request("GET", "/c/20261201T000000Z/report.json")
            answer = connection.getresponse()
            crc, size, buffer = 0, 0, bytearray(1 << 20)
            while n := answer.readinto(buffer):
                crc, size = zlib.crc32(memoryview(buffer)[:n], crc), size + n
            connection.close()
            return answer.status, size, crc

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(download, range(50)))
        peak = peak_rss_bytes(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert results == [(200, 64 << 20, expected)] * 50
    assert peak < limit, f"peak RSS {peak / 2**20:.0f} MiB"
