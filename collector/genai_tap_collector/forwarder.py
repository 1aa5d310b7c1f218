"""A copy of everything received, sent on to an upstream OTLP/HTTP endpoint.

Bodies are forwarded as received (same path, content type and encoding), so
the upstream sees exactly what the app sent, plus the headers given with
``--forward-header name=value`` or ``$GENAI_TAP_FORWARD_HEADERS`` (the
``OTEL_EXPORTER_OTLP_HEADERS`` format: ``name=value,name2=value2``, values
percent-decoded), e.g. an ``authorization`` header for the upstream.

The queue is bounded in bodies and in bytes and ``submit`` never waits: when the
upstream is slow or down, what is queued stays and new bodies are dropped and
counted, and local ingest goes on. Each send has a deadline over connecting,
sending and reading the answer. Redirects are not followed (a 3xx answer counts
as a failure and is logged with its Location): the bodies hold prompts, and an
upstream that answers with a redirect is misconfigured or not the one meant.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from typing import Deque, Dict, Iterable, Optional, Tuple
from urllib.parse import unquote, urlsplit

from . import outbound
from .configfile import ConfigError
from .logs import log

HEADERS_ENV = "GENAI_TAP_FORWARD_HEADERS"
DEFAULT_MAX_BODIES = 1000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 10.0
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Headers the forwarder sets itself from the body it forwards.
_RESERVED = {"content-type", "content-encoding", "content-length", "host", "transfer-encoding", "connection"}

_Item = Tuple[str, str, Optional[str], bytes]


def parse_headers(pairs: Iterable[str], where: str) -> Dict[str, str]:
    """``["name=value", ...]`` -> headers; ConfigError for a pair that is not a safe header."""
    headers: Dict[str, str] = {}
    for pair in pairs:
        pair = pair.strip()
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        name, value = name.strip(), unquote(value.strip())
        if not sep or not _HEADER_NAME.match(name):
            raise ConfigError(f"{where}: {pair!r} is not name=value with a header name (letters, digits, -)")
        if _CONTROL.search(value):
            raise ConfigError(f"{where}: the value of {name!r} holds control characters")
        if name.lower() in _RESERVED:
            raise ConfigError(f"{where}: {name!r} is set from each forwarded body and cannot be given")
        headers[name] = value
    return headers


def env_headers(environ: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Headers from ``$GENAI_TAP_FORWARD_HEADERS`` (``name=value,name2=value2``)."""
    raw = (environ if environ is not None else os.environ).get(HEADERS_ENV, "")
    return parse_headers(raw.split(","), f"${HEADERS_ENV}")


class Forwarder:
    def __init__(self, url: str, headers: Optional[Dict[str, str]] = None, max_bodies: int = DEFAULT_MAX_BODIES,
                 max_bytes: int = DEFAULT_MAX_BYTES, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        parts = urlsplit(url) if isinstance(url, str) else None
        try:
            bad = parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0
        except ValueError:
            bad = True
        if bad or _CONTROL.search(url) or " " in url:
            raise ConfigError(f"--forward={url!r} must be an http:// or https:// OTLP/HTTP base URL, e.g. http://otel:4318")
        self.base = url.rstrip("/")
        for suffix in ("/v1/traces", "/v1/metrics", "/v1/logs"):
            if self.base.endswith(suffix):  # accept a signal URL and forward every signal beside it
                self.base = self.base[: -len(suffix)]
        self.headers = dict(headers or {})
        self.max_bodies, self.max_bytes, self.timeout_s = max_bodies, max_bytes, timeout_s
        self._queue: Deque[_Item] = deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._deadline: Optional[outbound.Deadline] = None
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: Optional[str] = None
        self._thread = threading.Thread(target=self._run, name="genai-tap-forwarder", daemon=True)

    @property
    def queued(self) -> Tuple[int, int]:
        """(bodies, bytes) waiting to be sent."""
        with self._cond:
            return len(self._queue), self._queued_bytes

    def start(self) -> "Forwarder":
        self._thread.start()
        return self

    def submit(self, path: str, content_type: str, encoding: Optional[str], body: bytes) -> None:
        with self._cond:
            if self._stopping or len(self._queue) >= self.max_bodies or self._queued_bytes + len(body) > self.max_bytes:
                self.dropped += 1
                dropped = self.dropped
            else:
                self._queue.append((path, content_type, encoding, body))
                self._queued_bytes += len(body)
                self._cond.notify()
                return
        if dropped == 1 or dropped % 1000 == 0:
            log.warning("forwarding to %s is behind (queue full: %d bodies or %d bytes); %d bodies dropped so far",
                        self.base, self.max_bodies, self.max_bytes, dropped)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued within ``timeout_s``, then end the send in progress and stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._cond:
            deadline = self._deadline
            left = len(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
        if deadline is not None:
            deadline.expire()
            self._thread.join(1.0)
        if left:
            log.warning("forwarding to %s: %d bodies not sent (the collector stopped)", self.base, left)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                item = self._queue.popleft()
                self._queued_bytes -= len(item[3])
                deadline = self._deadline = outbound.Deadline(self.timeout_s)
            self._send(item, deadline)
            with self._cond:
                self._deadline = None

    def _send(self, item: _Item, deadline: outbound.Deadline) -> bool:
        path, content_type, encoding, body = item
        headers = {**self.headers, "Content-Type": content_type}
        if encoding:
            headers["Content-Encoding"] = encoding
        try:
            with deadline:
                reply = outbound.post(self.base + path, body, headers, self.timeout_s, deadline)
        except OSError as exc:
            return self._failed(path, str(exc))
        if not reply.ok:
            return self._failed(path, reply.describe())
        self.sent += 1
        return True

    def _failed(self, path: str, why: str) -> bool:
        self.failed += 1
        self.last_error = why
        log.warning("forwarding %s to %s failed: %s", path, self.base, why)
        return False
