"""Finishing calls off the app's thread.

When a call (or its stream) ends, the app's thread only stamps the end time and
hands the call over. A daemon thread then does the rest: the plugin's deferred
parsing (the response body, the stream's events), redaction and size limits,
every sink's attributes, span end and metrics. The app pays microseconds; the
work runs while the app waits on its next request.

The queue is bounded: past ``LIMIT`` pending calls the app's thread finishes the
call itself (back-pressure rather than loss). After ``os.fork`` the child starts
its own thread on first use. :func:`drain` waits until everything handed over is
finished (tests, ``genai_tap.flush()``, exit).
"""

from __future__ import annotations

import os
import queue
import threading

from .guard import report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

LIMIT = 10_000


class Finisher:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: "queue.SimpleQueue[Callable[[], Any]]" = queue.SimpleQueue()
        self._pending = 0
        self._cond = threading.Condition(threading.Lock())
        self._thread: "threading.Thread | None" = None

    def submit(self, job: "Callable[[], Any]") -> None:
        if self._pid != os.getpid():  # a forked child: the parent's thread is not here
            self._reset()
        with self._cond:
            if self._pending >= LIMIT:
                busy = True
            else:
                busy = False
                self._pending += 1
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="genai-tap-finisher", daemon=True)
                    self._thread.start()
        if busy:
            _run(job)
        else:
            self._queue.put(job)

    def _run(self) -> None:
        get = self._queue.get
        while True:
            job = get()
            _run(job)
            with self._cond:
                self._pending -= 1
                if self._pending == 0:
                    self._cond.notify_all()

    def drain(self, timeout: "float | None" = None) -> bool:
        """Wait until every submitted call is finished; False if the timeout ran out."""
        if self._pid != os.getpid():
            return True
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)


def _run(job: "Callable[[], Any]") -> None:
    try:
        job()
    except Exception as exc:  # jobs guard themselves; this is the last line of defence
        report("finishing a call", exc)


finisher = Finisher()
