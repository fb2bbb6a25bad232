"""``sidecar-impact serve``: the reports folder over HTTP, read-only, with the standard library's server.

GET and HEAD only. Files are streamed from disk (``sendfile``), with ``Range`` and ``If-Modified-Since``
honoured, and at most :data:`MAX_CONNECTIONS` connections are served at once: a 64 MB ``report.json``
downloaded by many clients costs the server no more memory than one. A request path is resolved
(symlinks included) and must stay inside the folder: ``..``, absolute paths, encoded separators and
links pointing elsewhere get 404. Directories show their ``index.html`` when they have one (a cluster's
run list), else a generated listing. Nothing is ever written, so the server can run on a read-only
mount of the runs' volume.
"""

from __future__ import annotations

import mimetypes
import os
import re
import threading
from email.utils import formatdate, parsedate_to_datetime
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

from analyzer.errors import SidecarImpactError

MAX_PATH = 1024
MAX_CONNECTIONS = 16
"""Connections served at once; more wait in the listen backlog (each streams from disk, a few KiB apiece)."""
IDLE_TIMEOUT_S = 60.0
"""A connection that neither sends nor reads for this long is closed."""


def resolve(root: Path, request_path: str) -> Path | None:
    """The file or directory a URL path names under ``root`` (already resolved), or None when it leaves it."""
    raw = urlsplit(request_path).path
    if len(raw) > MAX_PATH:
        return None
    parts = unquote(raw).split("/")
    if any(p in ("..", ".") or "\x00" in p or "/" in p or "\\" in p for p in parts):
        return None
    candidate = root.joinpath(*[p for p in parts if p])
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return real if real == root or real.is_relative_to(root) else None


def listing(root: Path, directory: Path, url_path: str) -> str:
    """A plain listing of ``directory`` (hidden entries left out), links relative to ``url_path``."""
    base = url_path if url_path.endswith("/") else url_path + "/"
    entries = sorted(e for e in os.listdir(directory) if not e.startswith("."))
    items = "".join(
        f'<li><a href="{escape(base + quote(e))}{"/" if (directory / e).is_dir() else ""}">{escape(e)}</a></li>'
        for e in entries
    )
    title = escape("/" + str(directory.relative_to(root)).strip("."))
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>sidecar-impact {title}</title></head>"
        f"<body><h1>sidecar-impact reports {title}</h1><ul>{items or '<li>nothing yet</li>'}</ul></body></html>\n"
    )


class BoundedThreadingServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once: further connections wait in the
    listen backlog until one ends, so memory and threads stay bounded however many clients come."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The one range ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` of a ``Range`` header as ``(first, last)``
    inclusive; None when there is no usable header (none, several ranges, another unit: the whole file is
    sent, as RFC 9110 allows); False when the range cannot be satisfied (416)."""
    match = _RANGE.fullmatch(header.strip().replace(" ", "")) if header else None
    if match is None or not any(match.groups()):
        return None
    first_text, last_text = match.groups()
    if not first_text:  # the last n bytes
        n = int(last_text)
        return (max(size - n, 0), size - 1) if n and size else False
    first = int(first_text)
    if first >= size:
        return False
    last = min(int(last_text), size - 1) if last_text else size - 1
    return (first, last) if first <= last else None


def make_server(
    reports: Path, host: str = "127.0.0.1", port: int = 8080, max_connections: int = MAX_CONNECTIONS
) -> ThreadingHTTPServer:
    """A server for ``reports`` (not started: call ``serve_forever``); refuses a folder that is not there."""
    if not reports.is_dir():
        raise SidecarImpactError(f"--reports {reports}: not a directory")
    root = reports.resolve()

    class Handler(BaseHTTPRequestHandler):
        server_version = "sidecar-impact"
        sys_version = ""
        timeout = IDLE_TIMEOUT_S  # a client that stops reading or sending frees its slot

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            target = resolve(root, self.path)
            if target is None:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", body)
                return
            if target.is_dir():
                if not urlsplit(self.path).path.endswith("/"):
                    self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                    self.send_header("Location", urlsplit(self.path).path + "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                index = target / "index.html"
                if index.is_file() and (index.resolve() == root or index.resolve().is_relative_to(root)):
                    target = index.resolve()
                else:
                    page = listing(root, target, urlsplit(self.path).path).encode()
                    self._send(HTTPStatus.OK, page, "text/html; charset=utf-8", body)
                    return
            try:
                file = target.open("rb")
            except OSError:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", body)
                return
            with file:
                self._send_file(file, target.name, body)

        def _send_file(self, file: BinaryIO, name: str, body: bool) -> None:
            """The file streamed from disk (``sendfile``): memory stays flat whatever its size and the clients."""
            stat = os.fstat(file.fileno())
            size, modified = stat.st_size, int(stat.st_mtime)
            if _not_modified(self.headers.get("If-Modified-Since"), modified):
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self.send_header("Last-Modified", formatdate(modified, usegmt=True))
                self.end_headers()
                return
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind == "application/json":
                kind += "; charset=utf-8"
            wanted = byte_range(self.headers.get("Range"), size)
            if wanted is False:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = wanted if wanted else (0, size - 1)
            self.send_response(HTTPStatus.PARTIAL_CONTENT if wanted else HTTPStatus.OK)
            self._headers(kind, last - first + 1)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Last-Modified", formatdate(modified, usegmt=True))
            if wanted:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            if body and last >= first:
                self.wfile.flush()
                try:
                    self.connection.sendfile(file, offset=first, count=last - first + 1)
                except OSError:  # the client went away or stopped reading: nothing more to do
                    self.close_connection = True

        def _headers(self, kind: str, length: int) -> None:
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(length))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'self' data: 'unsafe-inline'")

        def _send(self, status: HTTPStatus, data: bytes, kind: str, body: bool) -> None:
            self.send_response(status)
            self._headers(kind, len(data))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_POST(self) -> None:
            self.send_error(HTTPStatus.METHOD_NOT_ALLOWED)

        do_PUT = do_DELETE = do_PATCH = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    return BoundedThreadingServer((host, port), Handler, max_connections)


def _not_modified(header: str | None, modified: int) -> bool:
    """Whether ``If-Modified-Since`` names a time at or after the file's (whole seconds, as HTTP dates are)."""
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return modified <= since.timestamp()
