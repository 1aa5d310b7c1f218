"""The finisher thread: calls are finished off the app's thread.

These drive a private :class:`~genai_tap.finisher.Finisher` with plain jobs; the
end-to-end paths (spans that arrive, ``flush()``, fork) are covered by the other
test modules, which all go through the process-wide one.
"""

from __future__ import annotations

import threading
from typing import List

from genai_tap import finisher as finisher_module
from genai_tap.finisher import Finisher


def test_jobs_run_in_order_off_the_submitting_thread() -> None:
    fin = Finisher()
    ran: List[tuple] = []
    for i in range(5):
        fin.submit(lambda i=i: ran.append((i, threading.get_ident())))
    assert fin.drain(10)
    assert [i for i, _ in ran] == [0, 1, 2, 3, 4]
    assert {t for _, t in ran} == {fin._thread.ident} != {threading.get_ident()}


def test_a_job_handed_over_from_the_finisher_thread_runs() -> None:
    # A stream abandoned by the app is ended by a finalizer, which can run on any
    # thread, the finisher's included: the job it hands over must still run.
    fin = Finisher()
    ran = threading.Event()
    fin.submit(lambda: fin.submit(ran.set))
    assert ran.wait(10), "a job handed over by the finisher thread itself did not run"


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
