"""A headless Chromium driven over the DevTools protocol on a pipe: open a page, run a script, take a picture.

``Browser()`` starts the system's Chromium (Debian: ``apt-get install chromium``) with
``--remote-debugging-pipe``: no port, no network, no Python package beyond the standard library.
Messages are JSON objects separated by a NUL byte on file descriptors 3 (to the browser) and 4 (from it).

    with Browser(width=1280) as b:
        b.open(page.as_uri())
        b.evaluate("document.title")
        b.screenshot(Path("page.png"))
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """The first Chromium on PATH, or None."""
    return next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)


class Browser:
    """One headless Chromium with one tab of ``width`` x ``height`` CSS px (device scale 1)."""

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 60.0, exe: str | None = None):
        self.exe = exe or find_chromium()
        if self.exe is None:
            raise BrowserError("no Chromium on PATH (Debian: apt-get install chromium)")
        self.width, self.height, self.timeout = width, height, timeout
        self._id, self._buffer, self._events = 0, b"", []
        to_r, self._to = os.pipe()
        self._from, from_w = os.pipe()

        def child_fds():                      # above 10 first, so neither end overwrites the other
            r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_r, from_w))
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [self.exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--disable-extensions", "--hide-scrollbars", "--mute-audio", f"--window-size={width},{height}",
                "about:blank"]
        self.proc = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=child_fds,   # kept after preexec_fn
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def send(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and return its result (events met on the way are kept for ``wait_event``)."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(self, method: str) -> dict:
        """The next event ``method`` of the tab (earlier ones of other kinds are dropped)."""
        while True:
            while self._events:
                event = self._events.pop(0)
                if event.get("method") == method:
                    return event.get("params", {})
            self._events.append(self._read())

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BrowserError(f"{self.exe}: no answer within {self.timeout:.0f} s")
            chunk = os.read(self._from, 1 << 16)
            if not chunk:
                raise BrowserError(f"{self.exe}: the browser closed its pipe")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(line)

    def open(self, url: str, settle: float = 0.3) -> None:
        """Load ``url`` and wait for its load event, its fonts and (when the page has it) MathJax."""
        self._events.clear()
        self.send("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")
        self.evaluate("(async () => { await document.fonts.ready;"
                      " if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
                      " await MathJax.startup.promise; return true; })()")
        time.sleep(settle)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited, JSON-able values)."""
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """A PNG of the page (its whole height when ``full_page``), ``width`` px wide."""
        height = self.evaluate("document.documentElement.scrollHeight") if full_page else self.height
        data = self.send("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=full_page,
                         clip={"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1})["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to, self._from):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
