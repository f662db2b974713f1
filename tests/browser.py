"""Headless Chromium driven over its DevTools pipe, for the docs site's layout
checks: open a page at a window size, wait for its scripts, evaluate an
expression. No browser-automation package: the DevTools protocol over
`--remote-debugging-pipe` is JSON messages ending in a NUL byte on two file
descriptors (the browser reads fd 3 and writes fd 4)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find() -> str | None:
    """The path of a Chromium on PATH, or None."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless browser process; `evaluate(url, expression)` per page."""

    def __init__(self, executable: str, width: int, height: int) -> None:
        self.width, self.height = width, height
        to_browser, self._writer = os.pipe()
        self._reader, from_browser = os.pipe()
        self._process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--remote-debugging-pipe",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=lambda: _place(to_browser, from_browser),
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._events: list[str] = []
        self._next = 0
        target = self._call("Target.createTarget", {"url": "about:blank"})
        attached = self._call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        self._session = attached["sessionId"]
        self._call("Page.enable", session=True)
        self._call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def evaluate(self, url: str, expression: str) -> Any:
        """Opens `url`, waits for its load event and two frames, and returns
        the value of `expression` (awaited when it is a promise)."""
        self._events.clear()
        self._call("Page.navigate", {"url": url}, session=True)
        self._wait("Page.loadEventFired")
        settle = (
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        self._call(
            "Runtime.evaluate", {"expression": settle, "awaitPromise": True}, True
        )
        found = self._call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=True,
        )
        if "exceptionDetails" in found:
            raise RuntimeError(f"{url}: {found['exceptionDetails']}")
        return found["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send({"id": self._take(), "method": "Browser.close"})
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._writer)
        os.close(self._reader)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _take(self) -> int:
        self._next += 1
        return self._next

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._writer, json.dumps(message).encode() + b"\0")

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._reader, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: bool = False
    ) -> dict[str, Any]:
        ident = self._take()
        message: dict[str, Any] = {
            "id": ident,
            "method": method,
            "params": params or {},
        }
        if session:
            message["sessionId"] = self._session
        self._send(message)
        while True:
            found = self._receive()
            if "method" in found:
                self._events.append(found["method"])
            elif found.get("id") == ident:
                if "error" in found:
                    raise RuntimeError(f"{method}: {found['error']}")
                return found.get("result", {})

    def _wait(self, event: str) -> None:
        while event not in self._events:
            self._events.append(self._receive().get("method", ""))


def _place(reading: int, writing: int) -> None:
    """In the browser's process: its end of each pipe at fd 3 and fd 4.

    NOTE: copies first, so that a pipe end already at 3 or 4 is not
    overwritten before it is placed (os.dup takes the lowest free fd, so the
    first copy is below the second).
    """
    first, second = os.dup(reading), os.dup(writing)
    os.dup2(first, 3)
    os.dup2(second, 4)
