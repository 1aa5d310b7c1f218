"""From a received body to committed rows: admission, decoding, the writer thread,
rollups and retention.

Both receivers (OTLP/HTTP in :mod:`receiver`, OTLP/gRPC in :mod:`grpc_receiver`)
hand bodies to :class:`Ingest`:

1. The body's bytes are reserved in the in-flight budget (:class:`limits.Budget`);
   when it is full the request is refused at once with :class:`Busy`, which the
   receivers answer with HTTP 503 + ``Retry-After`` or gRPC ``RESOURCE_EXHAUSTED``
   + ``RetryInfo``, so exporters retry later instead of the collector growing.
2. It is decompressed (capped), decoded and turned into rows, at most
   ``decode_concurrency`` bodies at a time.
3. The rows go to the :class:`Writer` thread, and the request waits until they
   are **committed**. Only then does the receiver answer success: an
   acknowledged span is in the database's write-ahead log. The database runs
   with ``synchronous=NORMAL``: that survives the collector being killed
   (``kill -9``) at any moment, not a power cut or kernel crash, which can lose
   the last acknowledged transactions (the database stays consistent).
   ``durable=True`` (``synchronous=FULL``) syncs every commit to disk.

The writer commits whatever requests are waiting in one transaction (group
commit), adds the committed calls to the rollup :class:`rollups.Accumulator`,
writes the rollups every ``flush_s`` seconds, and, between transactions, runs
retention (by age and by size) and the orphan sweep in small chunks, so ingest
never pauses for long.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import otlp, rollups
from .limits import Budget, Limits
from .logs import log
from .store import ROLLUP_SELECT, Store

RETENTION_CHUNK = 2000  # calls deleted per transaction
MAX_TRANSACTION_CALLS = 20000


class Busy(Exception):
    """Refused for now: the sender should retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Result:
    """What the receiver answers for a request that decoded."""

    signal: str
    rejected: int = 0
    message: str = ""


@dataclass
class _Job:
    batch: Optional[otlp.TraceBatch] = None
    calls_json: str = "[]"
    spans_json: str = "[]"
    points: List[otlp.MetricPoint] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: Optional[BaseException] = None

    @property
    def size(self) -> int:
        return len(self.batch.calls) + len(self.batch.spans) if self.batch else len(self.points)


class Writer:
    """The one thread that writes to the database."""

    def __init__(self, store: Store, retention_s: float = 0.0, max_db_bytes: int = 0, flush_s: float = 2.0,
                 orphan_seconds: float = 300.0, orphan_limit: int = 100_000, retention_every_s: float = 60.0) -> None:
        self.store = store
        self.retention_s = retention_s
        self.max_db_bytes = max_db_bytes
        self.flush_s = flush_s
        self.orphan_seconds = orphan_seconds
        self.orphan_limit = orphan_limit
        self.retention_every_s = retention_every_s
        self.accumulator = rollups.Accumulator()
        self.committed_calls = 0
        self.deleted_calls = 0
        self.failures = 0
        self._jobs: Deque[_Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._max_id = 0
        self._orphans = True
        self._last_flush = time.monotonic()
        self._next_retention = 0.0  # monotonic time of the next retention pass
        self._retention_active = False
        self._next_orphans = 0.0
        self._next_size_check = 0.0
        with store.read() as conn:
            self._max_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Writer":
        self.recover()
        self._thread = threading.Thread(target=self._run, name="genai-tap-collector-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the tail is rolled up on the next start
            log.exception("writing the rollups at stop failed")

    def recover(self) -> None:
        """Roll up the calls committed after the last rollup write (a crash, or a stop
        that could not write them)."""
        with self.store.read() as conn:
            rolled = Store.rolled_to(conn)
            rows = conn.execute(f"SELECT {ROLLUP_SELECT} FROM calls WHERE id > ? ORDER BY id", (rolled,)).fetchall()
            self._max_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])
        self.accumulator = rollups.Accumulator()
        self.accumulator.add(rows)
        if rows:
            log.info("rolling up %d calls stored after the last rollup", len(rows))
        self.flush(force=True)

    # ------------------------------------------------------------------ submitting
    def submit(self, job: _Job, timeout_s: float = 120.0) -> None:
        """Queue ``job`` and wait until it is committed (raises what the commit raised)."""
        with self._cond:
            if self._stopping:
                raise Busy("the collector is stopping")
            self._jobs.append(job)
            self._cond.notify()
        if not job.done.wait(timeout_s):
            raise Busy("the database is not keeping up")
        if job.error is not None:
            raise job.error

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._jobs and not self._stopping:
                    self._cond.wait(self._idle_wait())
                jobs: List[_Job] = []
                size = 0
                while self._jobs and size < MAX_TRANSACTION_CALLS:
                    job = self._jobs.popleft()
                    jobs.append(job)
                    size += job.size
                stopping = self._stopping and not self._jobs
            if jobs:
                self._commit(jobs)
            try:
                self._housekeeping()
            except Exception:  # noqa: BLE001 - log, keep ingesting, try again later
                self.failures += 1
                log.exception("collector housekeeping failed")
            if stopping:
                return

    def _idle_wait(self) -> float:
        now = time.monotonic()
        waits = [max(self._last_flush + self.flush_s - now, 0.05) if self.accumulator else 1.0,
                 max(self._next_orphans - now, 0.05)]
        if self._retention_active:
            waits.append(0.0)
        return min(waits)

    def _commit(self, jobs: List[_Job]) -> None:
        now = time.time_ns()
        try:
            with self.store.transaction() as conn:
                lo = self._max_id
                expected = inserted = 0
                others = False
                for job in jobs:
                    if job.batch is not None:
                        inserted += self.store.insert(conn, job.batch, job.calls_json, job.spans_json, now)
                        expected += len(job.batch.calls)
                        others = others or bool(job.batch.spans)
                    if job.points:
                        self.store.add_metric_points(conn, job.points)
                if inserted:
                    self._max_id = int(conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'calls'").fetchone()[0])
                    if self._orphans:
                        conn.execute("UPDATE spans SET orphan = 0 WHERE orphan = 1 AND trace_id IN "
                                     "(SELECT trace_id FROM calls WHERE id > ?)", (lo,))
                if others:
                    self._orphans = True
                rows: Optional[List[Any]] = None
                if inserted != expected:  # some were already stored (a retried export): roll up what went in
                    rows = conn.execute(f"SELECT {ROLLUP_SELECT} FROM calls WHERE id > ?", (lo,)).fetchall()
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            self._max_id = self._read_max_id()
            self.failures += 1
            log.error("storing %d request(s) failed: %s", len(jobs), exc)
            for job in jobs:
                job.error = Busy(f"storing failed ({exc}); retry later")
                job.done.set()
            return
        self.committed_calls += inserted
        if rows is not None:
            self.accumulator.add(rows)
        else:
            for job in jobs:
                if job.batch is not None and job.batch.calls:
                    self.accumulator.add(job.batch.calls)
        for job in jobs:
            job.done.set()

    def _read_max_id(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])

    def flush(self, force: bool = False) -> None:
        """Write the accumulated rollups and advance ``rolled_to``."""
        if not self.accumulator and not force:
            return
        accumulator, self.accumulator = self.accumulator, rollups.Accumulator()
        try:
            with self.store.transaction() as conn:
                accumulator.write(conn)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'rolled_to'", (str(self._max_id),))
        except Exception:
            self.accumulator = rollups.Accumulator()
            self._reaccumulate()
            raise
        self._last_flush = time.monotonic()

    def _reaccumulate(self) -> None:
        with self.store.read() as conn:
            rolled = Store.rolled_to(conn)
            rows = conn.execute(f"SELECT {ROLLUP_SELECT} FROM calls WHERE id > ? ORDER BY id", (rolled,)).fetchall()
        self.accumulator.add(rows)

    # ------------------------------------------------------------------ housekeeping
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self.accumulator and (now - self._last_flush >= self.flush_s or self.accumulator.calls >= 200_000):
            self.flush()
        if now >= self._next_orphans:
            self._next_orphans = now + 1.0
            self._sweep_orphans()
        if self.retention_s > 0 and now >= self._next_retention:
            self._retention_active = True
        if self.max_db_bytes and now >= self._next_size_check:
            self._next_size_check = now + 5.0
            if self.store.size_bytes() > self.max_db_bytes:
                self._retention_active = True
        if self._retention_active:
            if not self._retention_chunk():
                self._retention_active = False
                self._next_retention = now + self.retention_every_s

    def _cutoff_ns(self) -> Optional[int]:
        return time.time_ns() - int(self.retention_s * 1e9) if self.retention_s > 0 else None

    def _retention_chunk(self) -> bool:
        """Delete one chunk of the oldest data past the age or size limit; False when done."""
        self.flush()  # every committed call is in the rollups, so deleting can subtract exactly
        cutoff = self._cutoff_ns()
        over_size = bool(self.max_db_bytes) and self.store.size_bytes() > self.max_db_bytes
        if cutoff is None and not over_size:
            return False
        with self.store.transaction() as conn:
            where, args = ("start_ns < ?", [cutoff]) if not over_size else ("1", [])
            rows = conn.execute(f"SELECT id, {ROLLUP_SELECT} FROM calls INDEXED BY calls_by_time WHERE {where} "
                                f"ORDER BY start_ns LIMIT {RETENTION_CHUNK}", args).fetchall()
            newest = cutoff or 0
            if rows:
                ids = [r[0] for r in rows]
                acc = rollups.Accumulator()
                acc.add([tuple(r)[1:] for r in rows], sign=-1)
                acc.write(conn, subtract=True)
                conn.execute("DELETE FROM calls WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))
                if over_size:
                    newest = max(newest, max(r[1 + otlp.C_START] for r in rows))
                self.deleted_calls += len(rows)
            span_limit = newest if over_size else cutoff
            spans = conn.execute("DELETE FROM spans WHERE id IN (SELECT id FROM spans INDEXED BY spans_by_time "
                                 f"WHERE start_ns < ? ORDER BY start_ns LIMIT {RETENTION_CHUNK})", (span_limit,)).rowcount
            if cutoff is not None:
                conn.execute(f"DELETE FROM metric_points WHERE id IN (SELECT id FROM metric_points WHERE time_ns < ? "
                             f"LIMIT {RETENTION_CHUNK})", (cutoff,))
                conn.execute("DELETE FROM alert_events WHERE time_ns < ?", (cutoff,))
                conn.execute("DELETE FROM resources WHERE last_used_ns < ?", (cutoff - 86_400 * 10**9,))
        if rows or spans:
            log.debug("retention: deleted %d calls and %d spans", len(rows), spans)
        return len(rows) == RETENTION_CHUNK or spans == RETENTION_CHUNK or (over_size and bool(rows or spans))

    def _sweep_orphans(self) -> None:
        if not self._orphans:
            return
        limit_ns = time.time_ns() - int(self.orphan_seconds * 1e9)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM spans WHERE id IN (SELECT id FROM spans INDEXED BY spans_orphaned "
                         "WHERE orphan = 1 AND received_ns < ? LIMIT 20000)", (limit_ns,))
            count = conn.execute("SELECT COUNT(*) FROM spans INDEXED BY spans_orphaned WHERE orphan = 1").fetchone()[0]
            if count > self.orphan_limit:
                conn.execute("DELETE FROM spans WHERE id IN (SELECT id FROM spans INDEXED BY spans_orphaned "
                             "WHERE orphan = 1 ORDER BY received_ns LIMIT ?)", (count - self.orphan_limit,))
        self._orphans = count > 0


class Ingest:
    """Decodes bodies and stores them; shared by the HTTP and gRPC receivers."""

    def __init__(self, store: Store, limits: Limits, writer: Writer,
                 forward: Optional[Callable[[str, str, Optional[str], bytes], None]] = None) -> None:
        self.store = store
        self.limits = limits
        self.writer = writer
        self.forward = forward
        self.budget = Budget(limits.max_inflight_bytes)
        self._decoding = threading.BoundedSemaphore(limits.decode_concurrency)
        self._lock = threading.Lock()
        self.received: Dict[str, int] = {"spans": 0, "metric_points": 0, "log_records": 0, "requests": 0,
                                         "rejected_spans": 0, "refused_busy": 0}

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.received[key] = self.received.get(key, 0) + n

    def reserve(self, n: int) -> None:
        """Reserve ``n`` bytes of the in-flight budget, or raise :class:`Busy`."""
        if not self.budget.acquire(n):
            self.count("refused_busy")
            raise Busy(f"the collector holds {self.budget.used} bytes of requests in flight "
                       f"(limit {self.budget.capacity}); retry later", self.limits.retry_after_s)

    def export(self, path: str, content_type: str, encoding: Optional[str], raw: bytes) -> Result:
        """Store one body whose ``len(raw)`` bytes the caller has reserved; the caller releases them."""
        body = otlp.decompress(raw, encoding, self.limits.max_request_bytes)
        extra = len(body) if body is not raw else 0
        if extra:
            self.reserve(extra)
        try:
            with self._decoding:
                message = otlp.parse(path, content_type, body)
                del body
                job, result = self._prepare(path, message)
                del message
            if job is not None:
                self.writer.submit(job)
        finally:
            if extra:
                self.budget.release(extra)
        self._forward(path, content_type, encoding, raw)
        return result

    def export_message(self, path: str, message: Any, raw: bytes) -> Result:
        """Store an already decoded request (gRPC); ``raw`` is forwarded as protobuf."""
        with self._decoding:
            job, result = self._prepare(path, message)
            del message
        if job is not None:
            self.writer.submit(job)
        self._forward(path, otlp.PROTOBUF, None, raw)
        return result

    def _forward(self, path: str, content_type: str, encoding: Optional[str], raw: bytes) -> None:
        if self.forward is not None:
            try:
                self.forward(path, content_type, encoding, raw)
            except Exception:  # noqa: BLE001 - forwarding never fails a request that was stored
                log.exception("forwarding %s failed", path)

    def _prepare(self, path: str, message: Any) -> Tuple[Optional[_Job], Result]:
        """Rows from a decoded message, as a job for the writer (None: nothing to store)."""
        self.count("requests")
        if path == otlp.TRACES:
            batch = otlp.traces(message, self.limits)
            self.count("spans", batch.received)
            if batch.rejected:
                self.count("rejected_spans", batch.rejected)
                log.info("rejected %d span(s): %s", batch.rejected, batch.message)
            result = Result(path, batch.rejected, batch.message)
            if not (batch.calls or batch.spans):
                return None, result
            return _Job(batch=batch, calls_json=json.dumps(batch.calls), spans_json=json.dumps(batch.spans)), result
        if path == otlp.METRICS:
            points = otlp.metric_points(message, self.limits)
            self.count("metric_points", len(points))
            return (_Job(points=points) if points else None), Result(path)
        self.count("log_records", otlp.log_records(message))
        return None, Result(path)

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            received = dict(self.received)
        return {**received, "inflight_bytes": self.budget.used, "inflight_peak_bytes": self.budget.peak}

