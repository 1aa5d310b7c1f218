"""The finisher thread: calls are finished off the app's thread, while the app's thread waits.

These drive a private :class:`~genai_tap.finisher.Finisher` with plain jobs; the
end-to-end paths (spans that arrive, ``flush()``, fork) are covered by the other
test modules, which all go through the process-wide one.
"""

from __future__ import annotations

import gc
import socket
import sys
import threading
import time
from typing import Any, Dict, List

import pytest

from genai_tap import finisher as finisher_module
from genai_tap.finisher import PATIENCE, Finisher


def _frames_without_collection() -> Dict[int, Any]:
    """``sys._current_frames()`` with the garbage collector off meanwhile: safe on any Python
    (a test can do this; genai-tap cannot touch the app's collector). See ``current_frames``."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return sys._current_frames()
    finally:
        if enabled:
            gc.enable()


@pytest.fixture(autouse=True)
def looking(monkeypatch: pytest.MonkeyPatch) -> None:
    """The finisher looks at the app's thread, as it does from Python 3.12, on this Python too."""
    monkeypatch.setattr(finisher_module, "current_frames", _frames_without_collection)


def test_the_finisher_looks_at_the_apps_thread_only_where_that_cannot_hang_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before Python 3.12, sys._current_frames() from a background thread can deadlock the
    process (CPython gh-106883): there the finisher never calls it, and does its jobs regardless."""
    safe = finisher_module._frames_if_safe()
    if sys.version_info >= (3, 12):
        assert safe is sys._current_frames
        return
    assert safe is None
    monkeypatch.setattr(finisher_module, "current_frames", safe)
    calls: List[int] = []
    real = sys._current_frames
    monkeypatch.setattr(sys, "_current_frames", lambda: (calls.append(1), real())[1])
    fin = _started()
    ran = threading.Event()
    fin.submit(ran.set)
    deadline = time.monotonic() + 5
    while not ran.is_set() and time.monotonic() < deadline:
        pass  # the app's thread keeps running Python; the job still runs
    assert ran.is_set() and not calls, f"job ran: {ran.is_set()}; the finisher called sys._current_frames {len(calls)} times"


def _spin(seconds: float) -> None:
    """Run Python on this thread (never blocked: a thread between two bits of I/O)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _started() -> Finisher:
    """A finisher whose thread is running. Its first job runs while ``Thread.start()``
    keeps the submitting thread waiting in threading.py, so it tells nothing about
    holding back: tests of that start from here."""
    fin = Finisher()
    fin.submit(lambda: None)
    assert fin.drain(10)
    return fin


def test_jobs_run_in_order_off_the_submitting_thread() -> None:
    fin = Finisher()
    ran: List[tuple] = []
    for i in range(5):
        fin.submit(lambda i=i: ran.append((i, threading.get_ident())))
    assert fin.drain(10)
    assert [i for i, _ in ran] == [0, 1, 2, 3, 4]
    assert {t for _, t in ran} == {fin._thread.ident} != {threading.get_ident()}


def test_work_waits_while_the_app_thread_runs_and_goes_on_when_it_waits() -> None:
    # The app's thread hands a call over and keeps running Python: the finisher gets the
    # GIL only at the interpreter's switch interval, finds the app busy and lets go again.
    # Once the app's thread blocks (here on a socket, as it does waiting for Bedrock),
    # the job runs at once.
    fin = _started()
    ran = threading.Event()
    reader, writer = socket.socketpair()
    try:
        fin.submit(ran.set)
        _spin(PATIENCE / 2)
        assert not ran.is_set(), "the finisher ran while the app's thread was busy"
        waiter = threading.Thread(target=lambda: (ran.wait(10), writer.send(b"x")))
        waiter.start()
        t0 = time.monotonic()
        # the app's thread blocks reading a socket, as http.client does: in socket.py
        reader.makefile("rb", buffering=0).read(1)
        waited = time.monotonic() - t0
        waiter.join()
        assert ran.is_set() and waited < 5, f"the job did not run while the app's thread waited ({waited:.2f} s)"
    finally:
        reader.close()
        writer.close()


def test_an_app_that_never_waits_still_gets_its_jobs_done() -> None:
    # Held back at most PATIENCE for the whole queue, not for each call: 200 calls handed
    # over by a thread that never waits are all finished well within 200 x PATIENCE.
    fin = _started()
    done: List[int] = []
    for i in range(200):
        fin.submit(lambda i=i: done.append(i))
    t0 = time.monotonic()
    while len(done) < 200 and time.monotonic() - t0 < 50 * PATIENCE:
        _spin(0.01)
    assert done == list(range(200)), f"{len(done)} of 200 calls finished while the app's thread kept running"


@pytest.mark.slow
def test_drain_does_not_hold_back_for_a_busy_app_thread(monkeypatch) -> None:
    # genai_tap.flush() from another thread while the app's thread keeps running Python:
    # whoever drains wants the telemetry now
    monkeypatch.setattr(finisher_module, "PATIENCE", 3600.0)
    fin = _started()
    ran = threading.Event()
    spinning = threading.Event()

    def app() -> None:
        fin.submit(ran.set)
        spinning.set()
        _spin(3)

    thread = threading.Thread(target=app)
    thread.start()
    spinning.wait(10)
    assert fin.drain(10) and ran.is_set()
    assert thread.is_alive(), "the app's thread stopped spinning before the drain was done"
    thread.join()


def test_a_job_handed_over_from_the_finisher_thread_is_not_held_back(monkeypatch) -> None:
    # A stream abandoned by the app is ended by a finalizer, which can run on any
    # thread, the finisher's included: it must not wait for itself to "wait".
    monkeypatch.setattr(finisher_module, "PATIENCE", 3600.0)
    fin = Finisher()
    ran = threading.Event()
    fin.submit(lambda: fin.submit(ran.set))
    assert ran.wait(10), "a job handed over by the finisher thread itself was held back"


def test_a_full_queue_makes_the_app_thread_finish_the_call_itself(monkeypatch) -> None:
    monkeypatch.setattr(finisher_module, "LIMIT", 2)
    fin = Finisher()
    blocker = threading.Event()
    where: List[int] = []
    fin.submit(lambda: blocker.wait(10))  # occupies the finisher
    fin.submit(lambda: where.append(threading.get_ident()))
    fin.submit(lambda: where.append(threading.get_ident()))
    fin.submit(lambda: where.append(threading.get_ident()))  # past the limit: run here
    assert threading.get_ident() in where
    blocker.set()
    assert fin.drain(10)
    assert len(where) == 3


def _refuse_threads(self: threading.Thread) -> None:
    raise RuntimeError("can't create new thread at interpreter shutdown")


def test_where_no_thread_may_start_the_submitting_thread_finishes_the_call(monkeypatch) -> None:
    """Python 3.12 refuses new threads in atexit callbacks: a call that ends there (the
    finisher's thread not yet started) is finished by the thread that ended it, not lost."""
    monkeypatch.setattr(threading.Thread, "start", _refuse_threads)
    fin = Finisher()
    where: List[int] = []
    fin.submit(lambda: where.append(threading.get_ident()))
    fin.submit(lambda: where.append(threading.get_ident()))
    assert where == [threading.get_ident()] * 2
    assert fin._thread is None and not fin._jobs
    assert fin.drain(1)
