"""How much the collector accepts, and the byte budget shared by requests in flight.

Every limit bounds memory or time for any input, whatever its sender does:

- ``max_request_bytes``: an OTLP body as received *and* after decompression
  (gzip and deflate are decompressed as a stream and stopped at the limit);
  HTTP answers 413, gRPC ``RESOURCE_EXHAUSTED``. Sixteen MiB holds a batch of
  512 GenAI spans with 30 KB of content each.
- ``max_inflight_bytes``: bodies held at once by all requests between receipt
  and commit (wire bytes plus decompressed bytes). A request that would go
  over waits for no one: it is answered at once with HTTP 503 and
  ``Retry-After``, or gRPC ``RESOURCE_EXHAUSTED`` with ``RetryInfo``, which
  OpenTelemetry exporters retry.
- ``max_attributes``, ``max_events``, ``max_links`` per span: the excess is
  dropped and counted in the span's own ``dropped_*_count`` fields.
- ``max_value_bytes``: a longer string attribute value is cut to that many bytes
  (at a character boundary); the span is marked.
- ``future_skew_s``: a span that starts later than this after it was received is
  moved to its receipt time (keeping its duration, at most a day) and marked.
- ``request_timeout_s``: a whole HTTP request (headers and body) must arrive
  within this; ``idle_timeout_s`` closes a keep-alive connection that sends
  nothing; ``max_connections`` bounds the HTTP connections served at once.
- ``decode_concurrency``: how many bodies are decoded at once (decoding holds
  Python's GIL, so more would not be faster, only larger).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 16 * MiB
    max_inflight_bytes: int = 96 * MiB
    max_attributes: int = 512
    max_events: int = 256
    max_links: int = 128
    max_value_bytes: int = 1 * MiB
    future_skew_s: float = 300.0
    request_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    max_connections: int = 128
    decode_concurrency: int = 2
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        if self.max_inflight_bytes < 2 * self.max_request_bytes:
            raise ValueError("max_inflight_bytes must hold at least one request (twice max_request_bytes)")


class Budget:
    """Bytes reserved by requests in flight; ``acquire`` never waits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.peak = 0
        self.refused = 0
        self._lock = threading.Lock()

    def acquire(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.capacity:
                self.refused += 1
                return False
            self.used += n
            self.peak = max(self.peak, self.used)
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self.used -= n


_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
               "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": MiB, "gib": 1024**3, "tib": 1024**4}


def parse_size(value: "str | int | float | None", name: str) -> int:
    """``"2GB"``, ``"500MiB"``, ``"0"`` (no limit) or a number of bytes -> bytes."""
    import re

    from .configfile import ConfigError

    if value is None:
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"{name}={value!r} is not a size; use e.g. 2GB, 500MB or 0 for no limit")
        return int(value)
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$", str(value))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _SIZE_UNITS:
        raise ConfigError(f"{name}={value!r} is not a size; use e.g. 2GB, 500MB, 1.5GiB or 0 for no limit")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])
