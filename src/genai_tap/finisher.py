"""Finishing calls off the app's thread.

When a call (or its stream) ends, the app's thread only stamps the end time and
appends the call to a queue. A daemon thread does the rest: the plugin's
deferred parsing (the response body, the stream's events), redaction and size
limits, every sink's attributes, span end and metrics. The app pays a list append.

Waking a thread for every call costs more than the append (a context switch and
a GIL hand-off on the app's critical path), so the finisher works in batches: it
is woken only when it sleeps, and while calls keep coming it keeps working,
looking for new ones every ``BATCH_DELAY`` seconds; after ``IDLE`` seconds with
nothing to do it sleeps until the next call wakes it. Telemetry is late by a few
milliseconds; the app is not.

The queue is bounded: past ``LIMIT`` pending calls the app's thread finishes the
call itself (back-pressure rather than loss). Before ``os.fork`` the finisher
finishes what it holds (a thread caught mid-job would leave its locks locked in
the child); the child starts its own thread on first use. :meth:`Finisher.drain` waits until everything handed
over is finished (tests, ``genai_tap.flush()``, exit).
"""

from __future__ import annotations

import collections
import os
import threading
import time

from .guard import report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Deque

LIMIT = 10_000
BATCH_DELAY = 0.02
IDLE = 0.5
FORK_WAIT = 1.0


class Finisher:
    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            # A thread busy at the moment of fork leaves the locks it holds locked in
            # the child forever (the SDK's, ours): let it finish what it is doing first.
            os.register_at_fork(before=self._before_fork, after_in_child=self._reset)

    def _before_fork(self) -> None:
        try:
            self.drain(FORK_WAIT)
        except Exception:  # noqa: BLE001 - never stand in the way of a fork
            pass

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._jobs: "Deque[Callable[[], Any]]" = collections.deque()
        self._wake = threading.Event()
        self._idle = threading.Condition(threading.Lock())
        self._sleeping = True
        self._busy = False
        self._thread: "threading.Thread | None" = None
        self._lock = threading.Lock()

    def submit(self, job: "Callable[[], Any]") -> None:
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        if len(self._jobs) >= LIMIT:
            _run(job)  # the finisher cannot keep up: the app's thread does this one itself
            return
        self._jobs.append(job)
        if self._sleeping and not self._wakeup():
            while self._jobs:  # no thread to hand it to: this thread finishes what is pending
                _run(self._jobs.popleft())

    def _wakeup(self) -> bool:
        """Wake the finisher's thread, starting it if needed; False if it cannot be started."""
        with self._lock:
            if self._thread is None:
                self._thread = start_daemon(self._run, "genai-tap-finisher")
                if self._thread is None:
                    return False
            self._sleeping = False
            self._wake.set()
        return True

    def _run(self) -> None:
        jobs = self._jobs
        idle_since = None
        while True:
            if not jobs:
                now = time.monotonic()
                idle_since = idle_since or now
                if now - idle_since < IDLE:
                    time.sleep(BATCH_DELAY)  # more calls are likely on their way: pick them up in a batch
                    continue
                self._sleeping = True
                if jobs:  # a call arrived just before we said we sleep
                    self._sleeping = False
                    continue
                self._wake.wait()
                self._wake.clear()
                idle_since = None
                continue
            idle_since = None
            with self._idle:
                self._busy = True
            while jobs:
                _run(jobs.popleft())
            with self._idle:
                self._busy = False
                self._idle.notify_all()

    def drain(self, timeout: "float | None" = None) -> bool:
        """Wait until every submitted call is finished; False if the timeout ran out."""
        if self._pid != os.getpid() or self._thread is None:
            return True
        if self._jobs and self._sleeping:
            self._wakeup()
        with self._idle:
            return self._idle.wait_for(lambda: not self._jobs and not self._busy, timeout)


def start_daemon(target: "Callable[[], Any]", name: str) -> "threading.Thread | None":
    """A started daemon thread running ``target``; None where no new thread may start.

    Python 3.12 refuses to start a thread from an atexit callback (``RuntimeError``,
    as its ``atexit`` documentation says; 3.12.0-3.12.2 also once the main thread has
    ended); 3.10, 3.11 and 3.13 allow it.
    """
    thread = threading.Thread(target=target, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError:
        return None
    return thread


def _run(job: "Callable[[], Any]") -> None:
    try:
        job()
    except Exception as exc:  # jobs guard themselves; this is the last line of defence
        report("finishing a call", exc)


finisher = Finisher()
