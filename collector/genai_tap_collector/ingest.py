"""From a received body to committed rows: admission, decoding, and the writer process.

Both receivers (OTLP/HTTP in :mod:`receiver`, OTLP/gRPC in :mod:`grpc_receiver`)
hand bodies to :class:`Ingest`:

1. The body's bytes are reserved in the in-flight budget (:class:`limits.Budget`);
   when it is full the request is refused at once with :class:`Busy`, which the
   receivers answer with HTTP 503 + ``Retry-After`` or gRPC ``RESOURCE_EXHAUSTED``
   + ``RetryInfo``, so exporters retry later instead of the collector growing.
2. It is decompressed (capped), decoded and turned into rows, at most
   ``decode_concurrency`` bodies at a time.
3. The rows go to the writer process (:mod:`writer`, through
   :class:`WriterClient`), and the request waits until they are **committed**.
   Only then does the receiver answer success: an acknowledged span is in the
   database's write-ahead log. The database runs with ``synchronous=NORMAL``:
   that survives the collector (or its writer) being killed at any moment
   (``kill -9``), not a power cut or kernel crash, which can lose the last
   acknowledged transactions (the database stays consistent). With
   ``durable=True`` (``synchronous=FULL``) every commit is synced to disk
   before it is acknowledged.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import otlp
from .limits import Budget, Limits
from .logs import log
from .writer import read_frame, widen_pipe, write_frame


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


class _Pending:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: Optional[str] = None


class WriterClient:
    """Starts the writer process and hands it batches; ``submit`` returns once the batch
    is committed. If the process dies, waiting requests fail with :class:`Busy` and
    the next request starts a new one (which rolls up what the old one left)."""

    def __init__(self, options: Dict[str, Any], start_timeout_s: float = 120.0) -> None:
        self.options = options
        self.start_timeout_s = start_timeout_s
        self.stats: Dict[str, Any] = {}
        self.restarts = 0
        self._ids = itertools.count(1)
        self._pending: Dict[int, _Pending] = {}
        self._lock = threading.Lock()  # sending frames, starting the process
        self._proc: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._stopping = False

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> "WriterClient":
        with self._lock:
            self._spawn()
        return self

    def _spawn(self) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "genai_tap_collector.writer", json.dumps(self.options)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert proc.stdout is not None and proc.stdin is not None
        widen_pipe(proc.stdin.fileno())
        widen_pipe(proc.stdout.fileno())
        ready: List[Any] = []

        def handshake() -> None:
            ready.append(read_frame(proc.stdout))  # type: ignore[arg-type]

        t = threading.Thread(target=handshake, daemon=True)
        t.start()
        t.join(self.start_timeout_s)
        first = ready[0] if ready else None
        if not first or first[0] != "ready":
            proc.kill()
            proc.wait()
            why = first[1] if first and first[0] == "failed" else "it did not start"
            raise RuntimeError(f"the collector's writer process failed: {why}")
        self.stats = first[2]
        self._proc = proc
        self._reader = threading.Thread(target=self._read_acks, args=(proc,), name="genai-tap-collector-acks",
                                        daemon=True)
        self._reader.start()

    def submit(self, payload: Tuple[Any, ...], timeout_s: float = 300.0) -> None:
        """Send ``(calls, spans, resources, metrics)`` and wait until it is committed."""
        job_id = next(self._ids)
        pending = _Pending()
        with self._lock:
            if self._stopping:
                raise Busy("the collector is stopping")
            if self._proc is None or self._proc.poll() is not None:
                self._restart()
            self._pending[job_id] = pending
            try:
                write_frame(self._proc.stdin, ("batch", job_id, *payload))  # type: ignore[union-attr, arg-type]
            except (BrokenPipeError, OSError, ValueError):
                self._pending.pop(job_id, None)
                raise Busy("the writer process stopped; retry") from None
        if not pending.done.wait(timeout_s):
            raise Busy("the database is not keeping up; retry later")
        if pending.error is not None:
            raise Busy(f"storing failed ({pending.error}); retry later")

    def _restart(self) -> None:
        self.restarts += 1
        log.error("the collector's writer process stopped (exit %s); starting a new one",
                  self._proc.returncode if self._proc is not None else None)
        try:
            self._spawn()
        except Exception as exc:  # noqa: BLE001
            raise Busy(f"the writer process cannot start ({exc}); retry later") from None

    def _read_acks(self, proc: subprocess.Popen) -> None:
        stream = proc.stdout
        while True:
            try:
                frame = read_frame(stream)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - a broken stream is the process ending
                frame = None
            if frame is None:
                break
            if frame[0] == "ack":
                _, ids, error, stats = frame
                self.stats = stats
                for job_id in ids:
                    pending = self._pending.pop(job_id, None)
                    if pending is not None:
                        pending.error = error
                        pending.done.set()
        # the process ended: whatever waits for it fails (the senders retry)
        with self._lock:
            waiting = list(self._pending.items())
            self._pending.clear()
        for _, pending in waiting:
            pending.error = "the writer process stopped"
            pending.done.set()

    def stop(self, timeout_s: float = 60.0) -> None:
        with self._lock:
            self._stopping = True
            proc = self._proc
            if proc is None:
                return
            try:
                write_frame(proc.stdin, ("stop",))  # type: ignore[arg-type]
                proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError, ValueError):
                pass
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.error("the collector's writer process did not stop in %gs; killing it", timeout_s)
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()


class Ingest:
    """Decodes bodies and stores them; shared by the HTTP and gRPC receivers."""

    def __init__(self, limits: Limits, writer: WriterClient,
                 forward: Optional[Callable[[str, str, Optional[str], bytes], None]] = None) -> None:
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
                payload, result = self._prepare(path, message)
                del message
            if payload is not None:
                self.writer.submit(payload)
        finally:
            if extra:
                self.budget.release(extra)
        self._forward(path, content_type, encoding, raw)
        return result

    def export_message(self, path: str, message: Any, raw: bytes) -> Result:
        """Store an already decoded request (gRPC); ``raw`` is forwarded as protobuf."""
        with self._decoding:
            payload, result = self._prepare(path, message)
            del message
        if payload is not None:
            self.writer.submit(payload)
        self._forward(path, otlp.PROTOBUF, None, raw)
        return result

    def _forward(self, path: str, content_type: str, encoding: Optional[str], raw: bytes) -> None:
        if self.forward is not None:
            try:
                self.forward(path, content_type, encoding, raw)
            except Exception:  # noqa: BLE001 - forwarding never fails a request that was stored
                log.exception("forwarding %s failed", path)

    def _prepare(self, path: str, message: Any) -> Tuple[Optional[Tuple[Any, ...]], Result]:
        """Rows from a decoded message, for the writer (None: nothing to store)."""
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
            return (batch.calls, batch.spans, batch.resources, []), result
        if path == otlp.METRICS:
            points = otlp.metric_points(message, self.limits)
            self.count("metric_points", len(points))
            return (([], [], {}, otlp.metric_rows(points)) if points else None), Result(path)
        self.count("log_records", otlp.log_records(message))
        return None, Result(path)

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            received = dict(self.received)
        return {**received, "inflight_bytes": self.budget.used, "inflight_peak_bytes": self.budget.peak}
