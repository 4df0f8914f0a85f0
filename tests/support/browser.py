"""Drive Debian's headless Chromium from tests: a CLI screenshot, and a page over the DevTools protocol.

`open_page(url, workdir)` starts Chromium with --remote-debugging-port=0, finds the port in the
profile's DevToolsActivePort file, attaches to one tab over a websocket (websockets comes with
Prefect) and records console errors, uncaught exceptions, log errors (CSP violations, failed loads)
and every URL the page requests. A missing Chromium fails the test, pointing at the install script.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from tests.support.processes import stop

CHROMIUM = Path(os.environ.get("CODEMILL_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]
TIMEOUT = 60.0  # seconds; two shared cores make a cold Chromium start slow


def chromium() -> Path:
    """The Chromium binary, or a failed test that says how to install it."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run scripts/install-chromium.sh "
            "(apt-get install chromium) to run the browser tests",
            pytrace=False,
        )
    return CHROMIUM


def _start(args: list[str], profile: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [str(chromium()), *FLAGS, f"--user-data-dir={profile}", *args],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the browser we started and its helper processes (its own process group)."""
    if proc.poll() is None:
        stop(proc, timeout=10)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftover renderers of this browser only


def screenshot(url: str, png: Path, workdir: Path, size: tuple[int, int] = (1280, 2000)) -> Path:
    """Chromium's own --screenshot of a page at a window size; the PNG's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = _start(
        [f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", url],
        workdir / "shot-profile",
        workdir / "shot.log",
    )
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Chromium took over {TIMEOUT:.0f}s to screenshot {url}", pytrace=False)
    finally:
        _stop(proc)
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        log = (workdir / "shot.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"Chromium wrote no PNG for {url}; its log ends:\n{log}", pytrace=False)
    return png


@dataclass
class Page:
    """One tab attached over CDP, with what it reported since it opened."""

    ws: Connection
    session: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _next_id: int = 0

    def _record(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console_errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.console_errors.append(f"uncaught: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.console_errors.append(f"log ({entry['source']}): {entry['text']}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("Chromium did not answer in time")
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=remaining))
        self._record(message)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> Any:
        """Send one CDP command (to the tab, or to the browser) and return its result."""
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            request["sessionId"] = self.session
        self.ws.send(json.dumps(request))
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._receive(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})

    def wait_for(self, event: str) -> dict[str, Any]:
        """Read messages until the named event arrives; its params."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._receive(deadline)
            if message.get("method") == event:
                params: dict[str, Any] = message.get("params", {})
                return params

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JS expression (promises awaited); a page exception is an error."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def settle(self) -> None:
        """Wait for two animation frames, so event handlers and layout have run."""
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def click(self, selector: str) -> None:
        """A real mouse click (move, press, release) at the centre of the element."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        if box is None:
            raise AssertionError(f"no element matches {selector!r}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            event = {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1}
            self.call("Input.dispatchMouseEvent", event)
        self.settle()

    def screenshot(self, png: Path, full_page: bool = False) -> Path:
        """A PNG of the viewport (or the whole page) through Page.captureScreenshot."""
        result = self.call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page}
        )
        png.write_bytes(base64.b64decode(result["data"]))
        return png


def _devtools_url(profile: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"Chromium exited with {proc.returncode}; its log ends:\n{tail}")
        lines = port_file.read_text().split("\n") if port_file.is_file() else []
        if len(lines) >= 2 and lines[1]:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)
    pytest.fail(f"Chromium opened no DevTools port within {TIMEOUT:.0f}s", pytrace=False)


@contextmanager
def open_page(url: str, workdir: Path, size: tuple[int, int] = (1280, 2000)) -> Iterator[Page]:
    """Load url in a fresh headless Chromium tab and yield it once the load event fired."""
    workdir.mkdir(parents=True, exist_ok=True)
    profile, log = workdir / "cdp-profile", workdir / "cdp.log"
    (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a stale port from an earlier run
    proc = _start(
        ["--remote-debugging-port=0", f"--window-size={size[0]},{size[1]}", "about:blank"],
        profile,
        log,
    )
    try:
        with connect(_devtools_url(profile, proc, log), max_size=None, open_timeout=TIMEOUT) as ws:
            page = Page(ws, "")
            target = page.call("Target.createTarget", {"url": "about:blank"})
            attached = page.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            page.session = attached["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                page.call(f"{domain}.enable")
            page.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
            )
            page.call("Page.navigate", {"url": url})
            page.wait_for("Page.loadEventFired")
            page.settle()
            yield page
    finally:
        _stop(proc)
