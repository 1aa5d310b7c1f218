"""What the OpenTelemetry SDK says about genai-tap's exports, said once, through genai-tap.

When genai-tap runs its own OpenTelemetry providers, a collector that is down, hangs or
fails makes the SDK's exporters and processors log on every attempt ("Transient error …
retrying", "Failed to export …", tracebacks from older SDKs), on the app's stderr. The app
did not ask for any of it. So the records of the SDK's exporter and processor loggers are
taken off those loggers and given to the ``genai_tap`` logger instead: the first problem
as one WARNING line, everything after it at DEBUG (``GENAI_TAP_LOG_LEVEL=DEBUG`` shows
each one). The same gate holds genai-tap's own line about an exit flush that ran out of
time, so an app whose collector is unreachable gets one line in all.

Each OpenTelemetry setting genai-tap reads itself and cannot use gets one warning
(:func:`warn_setting`), however many exporters read it, and the SDK's own complaint about
the same variable is then only logged at DEBUG.

The SDK rate-limits some of its loggers with a filter of its own, in a private module
(``opentelemetry.sdk._shared_internal``); genai-tap does not use it.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, List, Set, Tuple

from ..guard import logger

#: the loggers of the OTLP exporters (every module below this) and of the SDK's batch
#: processors, metric readers and environment parsing (OpenTelemetry 1.36 to 1.45); they are
#: made before genai-tap's providers, so that what the SDK logs while they are made is caught
EXPORTERS = "opentelemetry.exporter"
SDK_LOGGERS = (
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk._logs._internal.export",
    "opentelemetry.sdk.environment_variables._internal",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.common.http",
)

_lock = threading.Lock()
_said_trouble = False
_warned: Set[Tuple[str, str]] = set()
_variables: Set[str] = set()


_at_trouble: List[Callable[[], None]] = []
_failed = False
#: what the SDK's exporters say when an export failed (1.37 to 1.45, HTTP and gRPC), as opposed
#: to other trouble (a full span queue: the collector is slow, not gone)
_FAILED_EXPORT = re.compile(r"export", re.I)
_FAILURE = re.compile(r"fail|error|retry|retrying|exception|timed? ?out|unavailable", re.I)


def export_trouble(message: str, *args: object, failed: bool = True) -> None:
    """Log a problem exporting genai-tap's telemetry: WARNING the first time in this
    process, DEBUG after that. When an export ``failed``, also run what :func:`on_trouble`
    asked for."""
    global _said_trouble, _failed
    with _lock:
        first, _said_trouble = not _said_trouble, True
        _failed = _failed or failed
        callbacks = list(_at_trouble) if failed else []
    if first:
        logger().warning(message + " Further export problems are logged at DEBUG (GENAI_TAP_LOG_LEVEL=DEBUG).", *args)
    else:
        logger().debug(message, *args)
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - stopping exporters, whatever they say
            pass


@contextmanager
def on_trouble(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` at each export problem while in this block (the exit flush stops its
    exporters at the first failed export, on the very thread that is exporting, before the
    exporter waits to retry: at exit on Python 3.12 there is no other thread to do it)."""
    with _lock:
        _at_trouble.append(callback)
    try:
        yield
    finally:
        with _lock:
            _at_trouble.remove(callback)


def exports_failed() -> bool:
    """Whether an export of genai-tap's telemetry has failed in this process."""
    return _failed


def warn_setting(variable: str, value: str, accepted: str, instead: str) -> None:
    """One warning per variable and value: what was read, what is accepted, what genai-tap does."""
    with _lock:
        if (variable, value) in _warned:
            return
        _warned.add((variable, value))
        _variables.add(variable)
    logger().warning("genai-tap: %s=%r is not supported; accepted values: %s. %s", variable, value, accepted, instead)


_setting_up = 0
_said: Set[str] = set()


@contextmanager
def setting_up() -> Iterator[None]:
    """While genai-tap makes its providers, what the SDK logs is about settings, not exports:
    said once each through genai-tap (or only at DEBUG when genai-tap already warned about that
    variable or value)."""
    global _setting_up
    _setting_up += 1
    try:
        yield
    finally:
        _setting_up -= 1


class _Reroute(logging.Filter):
    """Takes a record off an SDK logger and logs it through genai-tap instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted: drop it quietly
            return False
        first_line = text.strip().splitlines()[0][:500] if text.strip() else record.name
        lowered = text.lower()
        known = any(v.lower() in lowered for v in _variables) or any(len(v) > 2 and v.lower() in lowered for _, v in _warned)
        if record.levelno < logging.WARNING or known:
            logger().debug("genai-tap: %s: %s", record.name, first_line, exc_info=record.exc_info)
        elif _setting_up:
            with _lock:
                new = first_line not in _said
                _said.add(first_line)
            logger().log(logging.WARNING if new else logging.DEBUG, "genai-tap: OpenTelemetry SDK: %s", first_line)
        else:
            failed = bool(_FAILED_EXPORT.search(text) and _FAILURE.search(text))
            export_trouble("genai-tap: exporting telemetry failed: %s.", first_line.rstrip("."), failed=failed)
            if record.exc_info:
                logger().debug("genai-tap: %s: %s", record.name, first_line, exc_info=record.exc_info)
        return False


_FILTER = _Reroute()


def quiet_exporter_logs(names: Iterable[str] = SDK_LOGGERS) -> None:
    """Reroute the records of the exporter and processor loggers: ``names``, and every
    exporter logger that exists now."""
    found = [n for n in list(logging.Logger.manager.loggerDict) if n.startswith(EXPORTERS)]
    for name in [*names, *found]:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)


def reset() -> None:
    """Forget what was said (tests)."""
    global _said_trouble, _failed
    with _lock:
        _said_trouble = _failed = False
        _warned.clear()
        _variables.clear()
        _said.clear()
