"""A copy of everything received, sent on to an upstream OTLP/HTTP endpoint.

Bodies are forwarded as received (same path, content type and encoding), so
the upstream sees exactly what the app sent. The queue is bounded and
``submit`` never waits: when the upstream is slow or down, the oldest work is
kept and new bodies are dropped and counted, and local ingest goes on.
"""

from __future__ import annotations

import queue
import threading
import urllib.error
import urllib.request
from typing import Dict, Optional, Tuple

from .logs import log
from .configfile import ConfigError

_STOP = object()


class Forwarder:
    def __init__(self, url: str, max_queue: int = 1000, timeout_s: float = 10.0,
                 headers: Optional[Dict[str, str]] = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--forward={url!r} must be an http:// or https:// OTLP/HTTP base URL, e.g. http://otel:4318")
        self.base = url.rstrip("/")
        for suffix in ("/v1/traces", "/v1/metrics", "/v1/logs"):
            if self.base.endswith(suffix):  # accept a signal URL and forward every signal beside it
                self.base = self.base[: -len(suffix)]
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self._queue: "queue.Queue[object]" = queue.Queue(maxsize=max_queue)
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="genai-tap-forwarder", daemon=True)

    def start(self) -> "Forwarder":
        self._thread.start()
        return self

    def submit(self, path: str, content_type: str, encoding: Optional[str], body: bytes) -> None:
        try:
            self._queue.put_nowait((path, content_type, encoding, body))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("forwarding to %s is behind; %d bodies dropped so far", self.base, self.dropped)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (within ``timeout_s``), then stop."""
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            self._send(*item)  # type: ignore[misc]

    def _send(self, path: str, content_type: str, encoding: Optional[str], body: bytes) -> Tuple[bool, str]:
        headers = {"Content-Type": content_type, **self.headers}
        if encoding:
            headers["Content-Encoding"] = encoding
        request = urllib.request.Request(self.base + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
            self.sent += 1
            return True, ""
        except (urllib.error.URLError, OSError) as exc:
            self.failed += 1
            log.warning("forwarding %s to %s failed: %s", path, self.base, exc)
            return False, str(exc)
