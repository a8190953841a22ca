"""A headless Chromium, driven through chromedriver's W3C WebDriver HTTP API (stdlib only).

Used to screenshot a generated leaderboard (``harness leaderboard ... --screenshot``) and by
the tests to check the page really works in a browser. Needs Debian's ``chromium`` and
``chromium-driver`` packages (``apt-get install chromium chromium-driver``); nothing is
downloaded and the browser is started with networking features off.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


class BrowserError(RuntimeError):
    """The browser could not be started or a WebDriver command failed."""


def find_browser() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` paths, or ``None`` when either is not installed."""
    chrome = os.environ.get("HARNESS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("HARNESS_CHROMEDRIVER") or shutil.which("chromedriver")
    if chrome and driver:
        return chrome, driver
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One chromedriver process and one headless Chromium session; use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 30.0):
        found = find_browser()
        if found is None:
            raise BrowserError("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
        self.chrome, self.driver_path = found
        self.size = (width, height)
        self.timeout = timeout
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.profile = tempfile.mkdtemp(prefix="harness-chromium-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.session: str | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Browser:
        self.proc = subprocess.Popen(
            [self.driver_path, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if self._call("GET", "/status").get("ready"):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise BrowserError(f"chromedriver ({self.driver_path}) did not start")
            time.sleep(0.05)
        args = [*CHROME_FLAGS, f"--user-data-dir={self.profile}", f"--window-size={self.size[0]},{self.size[1]}"]
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chrome, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        try:
            self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        except BrowserError:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.session is not None:
            try:
                self._call("DELETE", f"/session/{self.session}")
            except (BrowserError, OSError):
                pass
            self.session = None
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- WebDriver commands ---------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout + 30) as resp:
                payload = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                value = json.loads(err.read()).get("value", {})
                message = f"{value.get('error')}: {value.get('message', '').splitlines()[0]}"
            except (ValueError, AttributeError, IndexError):
                message = str(err)
            raise BrowserError(f"WebDriver {method} {path} failed: {message}") from None
        return payload.get("value", payload)

    def _session_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session_call("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body; ``arguments`` holds ``args``) and return its value."""
        return self._session_call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def click(self, css: str) -> None:
        element = self._session_call("POST", "/element", {"using": "css selector", "value": css})
        element_id = next(iter(element.values()))
        self._session_call("POST", f"/element/{element_id}/click", {})

    def console(self) -> list[dict[str, Any]]:
        """Browser console entries since the last call (``level``, ``message``)."""
        return self._session_call("POST", "/se/log", {"type": "browser"})

    def alert_text(self) -> str | None:
        """The text of an open ``alert()`` dialog, or ``None`` when there is none."""
        try:
            return self._session_call("GET", "/alert/text")
        except BrowserError:
            return None

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """Save a PNG of the page (its whole height when ``full_page``)."""
        if full_page:
            height = int(self.run("return Math.ceil(document.documentElement.scrollHeight);"))
            self._session_call("POST", "/window/rect", {"width": self.size[0], "height": min(max(height, 200), 16000)})
        png = base64.b64decode(self._session_call("GET", "/screenshot"))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path


def screenshot_page(html_path: Path, png_path: Path, width: int = 1280) -> Path:
    """Open ``html_path`` from ``file://`` in headless Chromium and save a full-page PNG."""
    with Browser(width=width) as browser:
        browser.open(Path(html_path).resolve().as_uri())
        browser.run("return document.readyState;")
        return browser.screenshot(png_path)
