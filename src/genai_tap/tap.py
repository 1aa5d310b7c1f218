"""The runtime between plugins and sinks.

A plugin builds a :class:`~genai_tap.record.CallRecord` and calls
:meth:`Tap.begin`; the returned :class:`Call` is told when the provider call
returned (:meth:`Call.release`) and when everything is over (:meth:`Call.end`),
which may be later, on another thread, or from a finalizer for streams. Every
sink call is guarded: a sink that fails is reported once and skipped, the app and
the other sinks go on.

Content is redacted and size-limited here, once, in :meth:`Call.end`, before the
first sink reads the finished record (:mod:`genai_tap.privacy`): every sink gets
the same safe record, and a sink cannot forget to do it.

Sinks are created on the first call, not at start-up, so an app that never calls
a model pays nothing for OpenTelemetry or ddtrace.
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from .config import Config, get_config
from .finisher import finisher, start_daemon
from .guard import logger, report

if TYPE_CHECKING:  # pragma: no cover
    from .privacy.policy import ContentPolicy
    from .record import CallRecord
    from .sinks import Sink


class Call:
    """One call in flight: its record and each sink's handle."""

    __slots__ = ("record", "plugin_state", "prepare", "_handles", "_policy", "_released", "_ended", "_lock")

    def __init__(
        self, record: "CallRecord", handles: "List[Tuple[Sink, Any]]", policy: "Optional[ContentPolicy]" = None
    ) -> None:
        self.record = record
        self.plugin_state: Any = None  # whatever the plugin needs to finish the call (e.g. its parser)
        #: work the plugin left for later (parsing the request body, the response, the
        #: stream's events), in order: it runs on the finisher thread, before redaction
        #: and the sinks (see :meth:`defer`)
        self.prepare: "List[Callable[[], None]]" = []
        self._handles = handles  # (sink, handle) for each sink that started
        self._policy = policy
        self._released = False
        self._ended = False
        self._lock = threading.Lock()

    @property
    def ended(self) -> bool:
        return self._ended

    def defer(self, step: "Callable[[], None]") -> None:
        """Complete the record later, off the app's thread (steps run in order)."""
        self.prepare.append(step)

    def release(self) -> None:
        """The provider call returned: no sink span stays current in the app's context."""
        if self._released:
            return
        self._released = True
        for sink, handle in self._handles:
            try:
                sink.release(handle)
            except Exception as exc:
                report(f"{sink.name} sink (release)", exc)

    def end(self, end_ns: Optional[int] = None) -> bool:
        """The call is over: stamp the time and hand it to the finisher, once.

        Returns False if it was already ended. The rest (:meth:`finish`) runs on
        genai-tap's finisher thread, not the app's.
        """
        with self._lock:
            if self._ended:
                return False
            self._ended = True
        record = self.record
        if record.end_ns is None:
            record.end_ns = end_ns or time.time_ns()
        if self._handles:
            finisher.submit(self.finish)
        return True

    def finish(self) -> None:
        """Complete the record, redact it, and close every sink's span.

        The content policy runs before any sink reads the record, so sinks only ever
        see redacted content.
        """
        record = self.record
        for step in self.prepare:
            try:
                step()
            except Exception as exc:
                report(f"{record.api}: completing the record", exc)
        if self._policy is not None:
            self._policy.apply(record)
        else:  # no policy could be built: nothing leaves unredacted
            from .privacy.policy import DROPPED_REDACTION_UNAVAILABLE, drop_content

            for each in record.walk():
                drop_content(each, DROPPED_REDACTION_UNAVAILABLE)
                each.error_message = each.error_stack = each.error_type
        for sink, handle in self._handles:
            link = getattr(sink, "link", None)  # optional: a sink need not subclass Sink
            if link is not None:
                try:
                    link(record, handle)
                except Exception as exc:
                    report(f"{sink.name} sink (link)", exc)
        for sink, handle in self._handles:
            try:
                sink.finish(record, handle)
            except Exception as exc:
                report(f"{sink.name} sink (finish)", exc)


class Tap:
    """Holds the configuration and the sinks of this process."""

    def __init__(self, config: Optional[Config] = None, sinks: Optional[List["Sink"]] = None) -> None:
        self.config = config or get_config()
        self._sinks: Optional[List["Sink"]] = sinks
        self._policy: "Optional[ContentPolicy]" = None
        self._policy_failed = False
        self._lock = threading.Lock()
        self._exit_registered = False

    @property
    def sinks(self) -> List["Sink"]:
        sinks = self._sinks
        if sinks is None:
            sinks = self._create_sinks()
        return sinks

    def _create_sinks(self) -> List["Sink"]:
        with self._lock:
            if self._sinks is not None:
                return self._sinks
            from . import sinks as registry

            created, problems = registry.create(self.config)
            for problem in problems:
                logger().warning("genai-tap: %s", problem)
            self._sinks = created
            if created and not self._exit_registered:
                atexit.register(self.shutdown)
                self._exit_registered = True
            return created

    @property
    def ready(self) -> bool:
        """Whether the sinks and the content policy exist (a call needs no more set-up)."""
        return self._sinks is not None and (self._policy is not None or self._policy_failed or not self._sinks)

    def prepare(self) -> None:
        """Create the sinks and the content policy now (imports, exporters, ddtrace)."""
        if self.sinks:
            self.policy  # noqa: B018 - built on first access

    @property
    def policy(self) -> "Optional[ContentPolicy]":
        """The content policy, built on the first call (None if it could not be built)."""
        policy = self._policy
        if policy is None and not self._policy_failed:
            policy = self._create_policy()
        return policy

    def _create_policy(self) -> "Optional[ContentPolicy]":
        with self._lock:
            if self._policy is None and not self._policy_failed:
                try:
                    from .privacy.policy import ContentPolicy

                    self._policy = ContentPolicy.from_config(self.config)
                except Exception as exc:
                    self._policy_failed = True
                    report("privacy: building the content policy (content will not be exported)", exc)
            return self._policy

    def begin(self, record: "CallRecord") -> Call:
        handles = []
        for sink in self.sinks:
            try:
                handles.append((sink, sink.start(record)))
            except Exception as exc:
                report(f"{sink.name} sink (start)", exc)
        return Call(record, handles, self.policy if handles else None)

    def drain(self, timeout_s: Optional[float] = None) -> bool:
        """Wait until every ended call has been finished by the sinks."""
        return finisher.drain(timeout_s)

    def flush(self, timeout_s: Optional[float] = None) -> bool:
        """Finish the ended calls and export what the sinks hold, within the timeout."""
        timeout = self.config.flush_timeout if timeout_s is None else timeout_s
        return _within(timeout, "flush", [(sink, lambda s=sink: s.flush(timeout)) for sink in self._sinks or ()])

    def shutdown(self) -> bool:
        """Flush and stop the sinks at exit, within ``GENAI_TAP_FLUSH_TIMEOUT``.

        Exporters can block (an endpoint that accepts connections but never
        answers); the work runs on a daemon thread so that the app's exit is never
        held up longer than the timeout.
        """
        sinks, self._sinks = self._sinks or [], []
        timeout = self.config.flush_timeout
        return _within(timeout, "shutdown", [(sink, lambda s=sink: s.shutdown(timeout)) for sink in sinks])


def _within(timeout: float, what: str, jobs: "List[Tuple[Sink, Any]]") -> bool:
    """Finish the ended calls, then run the sink jobs, on a daemon thread, within ``timeout``.

    Where no new thread may start (an atexit callback on Python 3.12), the jobs are
    handed to the finisher's thread instead, after the calls it holds, and waited for
    just as long.
    """
    if not jobs:
        return finisher.drain(timeout)

    def run_jobs() -> None:
        for sink, job in jobs:
            try:
                job()
            except Exception as exc:
                report(f"{sink.name} sink ({what})", exc)

    def run() -> None:
        finisher.drain(timeout)
        run_jobs()

    worker = start_daemon(run, f"genai-tap-{what}")
    if worker is not None:
        worker.join(timeout)
        done = not worker.is_alive()
    else:
        finisher.submit(run_jobs)
        done = finisher.drain(timeout)
    if not done:
        logger().warning(
            "genai-tap: %s did not finish within %.1f s (GENAI_TAP_FLUSH_TIMEOUT); telemetry still buffered may be lost.",
            what,
            timeout,
        )
        return False
    return True


_tap: Optional[Tap] = None
_tap_lock = threading.Lock()


def get_tap() -> Tap:
    global _tap
    if _tap is None:
        with _tap_lock:
            if _tap is None:
                _tap = Tap()
    return _tap


def set_tap(tap: Optional[Tap]) -> None:
    """Install a tap (tests, ``instrument(sinks=...)``) or forget the current one."""
    global _tap
    _tap = tap
