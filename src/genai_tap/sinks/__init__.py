"""Sinks: where a :class:`~genai_tap.record.CallRecord` goes.

A sink opens its span when the call starts (:meth:`Sink.start`, on the app's
thread, with the caller's context current), lets go of the app's context when the
call returns (:meth:`Sink.release`; a stream may still be open), and closes the
span when the call or stream ends (:meth:`Sink.finish`, on genai-tap's finisher
thread; each sink's :meth:`Sink.link` runs just before, so every sink can point at
the others' spans). Sinks see only the record, never the provider's request or response.

Content (messages, system prompt, tools, content parameters) is redacted and
size-limited in the record just before :meth:`Sink.finish` (see
:mod:`genai_tap.privacy`): a sink reads content in ``finish`` only, never in
``start``, and exports an error as ``record.error_message`` / ``record.error_stack``
(scrubbed of credentials), never as ``str(record.error)`` or its traceback.

Built-in sinks are ``otel`` and ``datadog``; others are found through the
``genai_tap.sinks`` entry-point group (name -> ``module:SinkClass``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..record import CallRecord

BUILTIN = {
    "otel": "genai_tap.sinks.otel:OtelSink",
    "datadog": "genai_tap.sinks.datadog:DatadogSink",
}
ENTRY_POINT_GROUP = "genai_tap.sinks"


class SinkUnavailable(Exception):
    """Raised by a sink's constructor when it cannot run here (reported once, clearly)."""


class Sink:
    """Base class of sinks. Subclasses override what they need."""

    name: str = ""

    def __init__(self, config: "Config") -> None:
        self.config = config

    def start(self, record: "CallRecord") -> Any:
        """The call is starting; return a handle for this call (or None)."""
        return None

    def release(self, handle: Any) -> None:
        """The provider call returned to the app; stop being the current span."""

    def link(self, record: "CallRecord", handle: Any) -> None:
        """Put this call's ids in ``record.links`` for the other sinks, if not done in
        :meth:`start`: called for every sink before any sink's :meth:`finish`, off the
        app's thread."""

    def finish(self, record: "CallRecord", handle: Any) -> None:
        """The call (or its stream) is over and ``record`` is complete."""

    def flush(self, timeout_s: float) -> None:
        """Push out what is buffered, waiting at most ``timeout_s``."""

    def shutdown(self, timeout_s: float) -> None:
        """Flush and stop; called once at exit."""
        self.flush(timeout_s)


def available() -> Dict[str, str]:
    """Every sink name genai-tap can load, built-in and from entry points."""
    from .. import entrypoints

    names = dict(BUILTIN)
    for name, value in entrypoints.find(ENTRY_POINT_GROUP):
        names.setdefault(name, value)
    return names


def create(config: "Config") -> Tuple[List[Sink], List[str]]:
    """Instantiate the configured sinks; returns (sinks, problems to report)."""
    from .. import entrypoints

    problems: List[str] = []
    sinks: List[Sink] = []
    names = available() if any(n not in BUILTIN for n in config.sinks) else BUILTIN
    chosen = [name for name in config.sinks if name in names]
    unknown = [name for name in config.sinks if name not in names]
    if unknown:
        if not chosen:
            chosen = list(config.default_sinks)
        instead = ", ".join(chosen) or "none"
        problems.append(
            f"GENAI_TAP_SINKS={','.join(config.sinks)!r} names no sink called {', '.join(map(repr, unknown))}; accepted"
            f" values: {', '.join(sorted(names))}, none. Using {instead}."
        )
    for name in chosen:
        target = names[name]
        try:
            cls = entrypoints.load(target)
            sinks.append(cls(config))
        except SinkUnavailable as exc:
            problems.append(f"the {name} sink is off: {exc}")
        except Exception as exc:  # a broken sink must not take the others down
            problems.append(f"the {name} sink could not start: {type(exc).__name__}: {exc}")
    return sinks, problems


def find(sinks: List[Sink], name: str) -> Optional[Sink]:
    for sink in sinks:
        if sink.name == name:
            return sink
    return None
