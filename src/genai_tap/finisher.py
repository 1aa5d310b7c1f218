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

Off the app's thread is not yet out of its way: the finisher needs the GIL, and
whenever the app's thread lets go of it for a moment (sending a request, taking a
lock) the finisher would take it and the app would wait out a whole job. So the
finisher works while the app's thread *waits*: before each job it looks at the
innermost Python frame of the thread that handed over the last call, and goes on
only if that thread is blocked in the socket, ssl, selectors, threading or queue
modules (waiting for Bedrock's answer, for work, for a lock); otherwise it sleeps
``PAUSE`` seconds and looks again. Pending calls never wait more than ``PATIENCE``
seconds for that (then all of them are finished at once): an app that never waits
still gets its telemetry, at the rate it makes calls.

Looking needs ``sys._current_frames()``, which is only safe to call from a background
thread on Python 3.12 and newer (see :data:`current_frames`); on 3.10 and 3.11 the
finisher does not look, and runs each job as soon as it has the GIL.

The queue is bounded: past ``LIMIT`` pending calls the app's thread finishes the
call itself (back-pressure rather than loss). Before ``os.fork`` the finisher
finishes what it holds (a thread caught mid-job would leave its locks locked in
the child); the child starts its own thread on first use. :meth:`Finisher.drain` waits until everything handed
over is finished (tests, ``genai_tap.flush()``, exit).
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time

from .guard import report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Deque, Dict

LIMIT = 10_000
BATCH_DELAY = 0.02
IDLE = 0.5
FORK_WAIT = 1.0
PAUSE = 0.0001
PATIENCE = 0.05
#: modules whose frames mean "this thread is waiting", not "busy between two bits of I/O"
WAITING_MODULES = ("socket", "ssl", "selectors", "threading", "queue")


def _frames_if_safe() -> "Callable[[], Dict[int, Any]] | None":
    """``sys._current_frames``, where a background thread can call it without risk.

    Before Python 3.12 it holds the interpreter's lock on its list of threads while
    it allocates frame objects; an allocation can start a garbage collection there,
    whose callbacks can let another thread run, and a thread that starts or ends
    then waits for that lock while holding the GIL: the whole process hangs
    (CPython gh-106883; seen here in the test suite, 16 threads starting while the
    finisher looked). From 3.12 the collector runs only between bytecodes.
    """
    if sys.version_info >= (3, 12):
        return getattr(sys, "_current_frames", None)
    return None


#: how the finisher sees where the app's thread is; None: it does not look (see above)
current_frames = _frames_if_safe()


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
        self._draining = 0
        self._app_thread = 0  # the thread that handed over the last call
        self._thread: "threading.Thread | None" = None
        self._lock = threading.Lock()

    def submit(self, job: "Callable[[], Any]") -> None:
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        if len(self._jobs) >= LIMIT:
            _run(job)  # the finisher cannot keep up: the app's thread does this one itself
            return
        self._jobs.append(job)
        self._app_thread = threading.get_ident()
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
            waiting_in = _waiting_files()
            held_since = None
            while jobs:
                if not self._draining and self._app_is_busy(waiting_in):
                    now = time.monotonic()
                    held_since = held_since or now
                    if now - held_since < PATIENCE:
                        time.sleep(PAUSE)  # let go of the GIL until the app's thread waits
                        continue
                    for _ in range(len(jobs)):  # out of patience: what is pending goes now
                        _run(jobs.popleft())
                else:
                    _run(jobs.popleft())
                held_since = None
            with self._idle:
                self._busy = False
                self._idle.notify_all()

    def _app_is_busy(self, waiting_in: "frozenset[str]") -> bool:
        """True if the app's thread is between two bits of I/O rather than waiting.

        This thread holds the GIL here, so the app's thread is not running Python: it
        is either blocked (a socket read, a lock, a queue) or about to come back from a
        short call that let go of the GIL, and would then wait for us.
        """
        frames = current_frames
        if frames is None:  # cannot look safely (before Python 3.12): never hold work back
            return False
        app = self._app_thread
        if app == threading.get_ident():  # handed over from this very thread (a finalizer run here)
            return False
        try:
            frame = frames().get(app)
        except Exception:  # noqa: BLE001 - an interpreter without it: never hold the work back
            return False
        return frame is not None and frame.f_code.co_filename not in waiting_in

    def drain(self, timeout: "float | None" = None) -> bool:
        """Wait until every submitted call is finished; False if the timeout ran out."""
        if self._pid != os.getpid() or self._thread is None:
            return True
        with self._lock:
            self._draining += 1
        try:
            if self._jobs and self._sleeping:
                self._wakeup()
            with self._idle:
                return self._idle.wait_for(lambda: not self._jobs and not self._busy, timeout)
        finally:
            with self._lock:
                self._draining -= 1


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


def _waiting_files() -> "frozenset[str]":
    files = (getattr(sys.modules.get(name), "__file__", None) for name in WAITING_MODULES)
    return frozenset(f for f in files if f)


def _run(job: "Callable[[], Any]") -> None:
    try:
        job()
    except Exception as exc:  # jobs guard themselves; this is the last line of defence
        report("finishing a call", exc)


finisher = Finisher()
