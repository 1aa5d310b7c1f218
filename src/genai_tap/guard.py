"""The one boundary where genai-tap's own failures stop.

Everything genai-tap does inside the app (parsing, sinks, stream bookkeeping) runs
behind :func:`report`: the failure is logged once per distinct kind, at WARNING, in
one line (never a traceback on the app's stderr), and never raised into the app; its
traceback, and every later repeat, are logged at DEBUG (``GENAI_TAP_LOG_LEVEL=DEBUG``).

Tests turn on :data:`STRICT` so that a swallowed error fails the test instead of
hiding a bug (as sentry-python's test-suite does).
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Tuple

# Set by tests: swallowed failures are also kept here and re-raised at teardown.
STRICT = False
swallowed: "list[BaseException]" = []

_lock = threading.Lock()
_seen: "Dict[Tuple[str, str], int]" = {}


def logger():
    import logging

    return logging.getLogger("genai_tap")


def report(where: str, exc: BaseException) -> None:
    """Record a failure inside genai-tap; log it the first time it is seen."""
    try:
        key = (where, type(exc).__qualname__)
        with _lock:
            count = _seen.get(key, 0) + 1
            _seen[key] = count
        if STRICT:
            swallowed.append(exc)
        log = logger()
        if count == 1:
            log.warning(
                "genai-tap: %s failed (%s: %s); the app is not affected, this call's telemetry may be incomplete."
                " Details and repeats at GENAI_TAP_LOG_LEVEL=DEBUG.",
                where,
                type(exc).__name__,
                one_line(exc),
            )
            log.debug("genai-tap: %s failed", where, exc_info=exc)
        else:
            log.debug("genai-tap: %s failed again (%d times): %r", where, count, exc)
    except Exception:  # pragma: no cover - logging itself failed; nothing more we can do
        pass


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``str(exc)`` on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_counts() -> "Dict[Tuple[str, str], int]":
    """How often each kind of failure happened (for tests and diagnostics)."""
    with _lock:
        return dict(_seen)


def reset() -> None:
    with _lock:
        _seen.clear()
    swallowed.clear()
