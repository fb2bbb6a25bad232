"""``serve``: the runs folder over HTTP, read-only, never outside it."""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
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
