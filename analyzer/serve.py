"""``sidecar-impact serve``: the reports folder over HTTP, read-only, with the standard library's server.

GET and HEAD only. A request path is resolved (symlinks included) and must stay inside the folder:
``..``, absolute paths, encoded separators and links pointing elsewhere get 404. Directories show
their ``index.html`` when they have one (a cluster's run list), else a generated listing. Nothing is
ever written, so the server can run on a read-only mount of the runs' volume.
"""

from __future__ import annotations

import mimetypes
import os
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from analyzer.errors import SidecarImpactError

MAX_PATH = 1024


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


def make_server(reports: Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A server for ``reports`` (not started: call ``serve_forever``); refuses a folder that is not there."""
    if not reports.is_dir():
        raise SidecarImpactError(f"--reports {reports}: not a directory")
    root = reports.resolve()

    class Handler(BaseHTTPRequestHandler):
        server_version = "sidecar-impact"
        sys_version = ""

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
                data = target.read_bytes()
            except OSError:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", body)
                return
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind == "application/json":
                kind += "; charset=utf-8"
            self._send(HTTPStatus.OK, data, kind, body)

        def _send(self, status: HTTPStatus, data: bytes, kind: str, body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'self' data: 'unsafe-inline'")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_POST(self) -> None:
            self.send_error(HTTPStatus.METHOD_NOT_ALLOWED)

        do_PUT = do_DELETE = do_PATCH = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)
