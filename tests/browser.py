"""Headless Chromium driven over the DevTools protocol on a pipe: no driver, no port, no download.

With `--remote-debugging-pipe` Chromium reads protocol messages from fd 3 and writes its answers to
fd 4, each one JSON text ended by a NUL byte. That is all the report tests need (load a page, run a
script in it, click at a point, take a screenshot), with the standard library only: no websocket
package, no chromedriver, and no debugging port that another process could reach.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

REQUIRE_ENV = "CONFORMANCE_REQUIRE_BROWSER"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """Chromium did not answer, answered with an error, or a page script threw."""


def find_chromium() -> str | None:
    return os.environ.get("CONFORMANCE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


# A fresh interpreter moves the pipe ends onto fds 3 and 4, then becomes Chromium. Doing it in a
# preexec_fn instead is unsafe in a threaded process (a pytest-xdist worker) and can clobber the
# error pipe subprocess keeps on a low fd; a shell cannot do it either, as dash refuses fds above 9.
LAUNCHER = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])"
)


class Browser:
    """One headless Chromium with one page, for use as a context manager."""

    def __init__(self, executable: str, profile: Path, width: int = 1400, height: int = 900, timeout_s: float = 20.0):
        self.executable, self.profile, self.timeout_s = executable, profile, timeout_s
        self.width, self.height = width, height
        self._ids = 0
        self._buffer = bytearray()
        self._events: list[dict[str, Any]] = []
        self._session = ""

    def __enter__(self) -> Self:
        self.profile.mkdir(parents=True, exist_ok=True)
        chromium_reads, we_write = os.pipe()
        we_read, chromium_writes = os.pipe()
        log = (self.profile / "chromium.log").open("wb")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                LAUNCHER,
                str(chromium_reads),
                str(chromium_writes),
                self.executable,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            pass_fds=(chromium_reads, chromium_writes),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        os.close(chromium_reads)
        os.close(chromium_writes)
        self._out, self._in = we_write, we_read
        try:
            self._attach()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.call("Browser.close", session=False, timeout_s=5)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._out)
        os.close(self._in)

    def _attach(self) -> None:
        page = next(t for t in self.call("Target.getTargets", session=False)["targetInfos"] if t["type"] == "page")
        attached = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False)
        self._session = attached["sessionId"]
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: bool = True, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send one command and wait for its answer; events arriving meanwhile are kept for `wait_for`."""
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            answer = self._next(deadline, method)
            if answer.get("id") == self._ids:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            if "method" in answer:
                self._events.append(answer)

    def wait_for(self, event: str, timeout_s: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            for i, seen in enumerate(self._events):
                if seen["method"] == event:
                    return dict(self._events.pop(i).get("params", {}))
            message = self._next(deadline, event)
            if "method" in message:
                self._events.append(message)

    def _next(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError(f"no answer to {waiting_for} from Chromium ({self._log_tail()})")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the pipe during {waiting_for} ({self._log_tail()})")
            self._buffer.extend(chunk)
        end = self._buffer.index(b"\0")
        message = json.loads(self._buffer[:end])
        del self._buffer[: end + 1]
        return dict(message)

    def _log_tail(self) -> str:
        log = self.profile / "chromium.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return text[-1000:].strip() or "no log"

    def open(self, url: str) -> None:
        """Load a page afresh and wait for its load event (scripts run, layout done).

        Going through about:blank first makes every open a new document: a URL differing from the
        current one only by its fragment would otherwise just scroll, and load nothing.
        """
        for step in ("about:blank", url):
            self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
            navigated = self.call("Page.navigate", {"url": step})
            if navigated.get("errorText"):
                raise BrowserError(f"cannot open {step}: {navigated['errorText']}")
            self.wait_for("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        """The value of a page expression, as JSON; a thrown exception is a BrowserError."""
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise BrowserError(f"{expression[:80]!r} threw: {details.get('exception', {}).get('description', details)}")
        return answer["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre, so whatever covers it would get the click instead."""
        where = self.eval(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)}); if (!el) return null;"
            " el.scrollIntoView({block: 'center', inline: 'center'}); const r = el.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        if where is None:
            raise BrowserError(f"nothing matches {selector!r}")
        x, y = where
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def screenshot(self, path: Path, height: int | None = None) -> Path:
        """The viewport as PNG, or only its top `height` pixels."""
        params: dict[str, Any] = {"format": "png"}
        if height is not None:
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}
        shot = self.call("Page.captureScreenshot", params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
