"""The times the emulator reports inside answers (agent trace ``eventTime``, metadata times).

Bedrock stamps these with its own clock, which is never exactly the caller's. The
emulator reads the local clock when each event leaves and shifts it by ``skew_ms``
(``Emulator(clock_skew_ms=...)``, ``POST /_emulator/clock``, ``--clock-skew-ms``), so a
tracer can check that the steps it builds from these times still nest inside the
call that carried them, whichever way the two clocks disagree.
"""

from __future__ import annotations

import time
from typing import Dict, Optional


def stamp(ns: int) -> str:
    """RFC 3339 with nanoseconds, as Bedrock Agents write it: ``2025-05-21T09:23:23.566864339Z``."""
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


class Clock:
    """The local clock shifted by ``skew_ms``; named marks remember when a step started."""

    def __init__(self, skew_ms: float = 0.0) -> None:
        self.skew_ns = int(skew_ms * 1_000_000)
        self._marks: Dict[str, int] = {}

    def now_ns(self) -> int:
        return time.time_ns() + self.skew_ns

    def now(self) -> str:
        return stamp(self.now_ns())

    def mark(self, name: str) -> int:
        self._marks[name] = self.now_ns()
        return self._marks[name]

    def since(self, name: str, default: Optional[int] = None) -> int:
        """When the mark was set (now, if it never was)."""
        found = self._marks.get(name, default)
        return self.now_ns() if found is None else found

    def span(self, name: str) -> Dict[str, object]:
        """``startTime``/``endTime``/``totalTimeMs`` from the mark ``name`` until now."""
        start = self.since(name)
        end = max(self.now_ns(), start)
        return {"startTime": stamp(start), "endTime": stamp(end), "totalTimeMs": (end - start) // 1_000_000}
