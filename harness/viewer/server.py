"""The local server: loopback only, the page, its data files, and files under DIR; nothing else.

It binds 127.0.0.1 on a free port, answers only requests addressed to that host (a web page
elsewhere cannot reach it through a rebound DNS name), serves ``/files/<path>`` only when
the resolved path lies inside DIR (``..``, encoded or not, and links out are refused with
403), and sends the page's Content-Security-Policy with every answer.
"""

from __future__ import annotations

import mimetypes
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from harness.viewer.site import Site, script

TEXT_SUFFIXES = (".jsonl", ".log", ".md", ".yaml", ".yml")
STATIC = ("index.html", "dom.js", "filter.js", "viewer.js", "viewer.css")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def static_file(name: str) -> bytes:
    return (resources.files("harness.viewer") / "static" / name).read_bytes()


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site, root: Path, port: int = 0):
        self.site = site
        self.root = root.resolve()
        self.lock = threading.Lock()  # sample indexes and caches are shared between request threads
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    server_version = "harness-view"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the terminal shows the URL only
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            return self._send(HTTPStatus.FORBIDDEN, b"refused: this server answers only http://127.0.0.1\n", "text/plain")
        path = unquote(urlsplit(self.path).path)
        if path in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, static_file("index.html"), "text/html; charset=utf-8")
        if path.lstrip("/") in STATIC:
            name = path.lstrip("/")
            return self._send(HTTPStatus.OK, static_file(name), mimetypes.guess_type(name)[0] or "text/plain")
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
        if path.startswith("/data/"):
            return self._data(path.lstrip("/"))
        if path.startswith("/files/"):
            return self._file(path[len("/files/"):])
        return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only\n", "text/plain")

    do_PUT = do_DELETE = do_POST  # noqa: N815

    def _data(self, name: str) -> None:
        try:
            with self.server.lock:
                value = self.server.site.payload(name)
        except KeyError:
            return self._send(HTTPStatus.NOT_FOUND, b"no such data file\n", "text/plain")
        self._send(HTTPStatus.OK, script(name, value), "text/javascript; charset=utf-8")

    def _file(self, rel: str) -> None:
        root = self.server.root
        target = (root / rel).resolve()
        if ".." in Path(rel).parts or not target.is_relative_to(root):
            return self._send(HTTPStatus.FORBIDDEN, b"refused: outside the folder being viewed\n", "text/plain")
        if not target.is_file():
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        kind = mimetypes.guess_type(target.name)[0] or ("text/plain" if target.suffix in TEXT_SUFFIXES else "application/octet-stream")
        if kind in ("text/html", "application/javascript", "text/javascript", "image/svg+xml"):
            kind = "text/plain"  # a file under DIR is shown, never run in the viewer's origin
        if kind.startswith("text/"):
            kind += "; charset=utf-8"
        self.send_response(HTTPStatus.OK)
        self._headers(kind, target.stat().st_size)
        self.send_header("Content-Security-Policy", "sandbox")
        self.end_headers()
        with target.open("rb") as fh:
            while chunk := fh.read(1 << 16):
                self.wfile.write(chunk)

    def _headers(self, kind: str, length: int) -> None:
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self._headers(kind, len(body))
        self.end_headers()
        self.wfile.write(body)
