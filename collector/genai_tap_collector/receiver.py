"""The OTLP/HTTP endpoint: ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs``.

Answers, as the OTLP/HTTP specification asks:

- 200 with an export response once the request's spans are **committed** (see
  :mod:`ingest`); spans rejected on their own (invalid IDs) are counted in its
  ``partial_success`` (``rejected_spans`` and a message), the rest are stored;
- 400 for a body that does not decode, a bad ``Content-Length`` or chunked
  encoding; 411 without either; 413 past ``Limits.max_request_bytes`` (as sent
  or decompressed); 415 for any content type but ``application/x-protobuf`` and
  ``application/json`` (a body without one included: a web page could post it)
  and for an encoding other than gzip, deflate or none; 404, 405;
- 503 with ``Retry-After`` when the in-flight byte budget is full or the
  database cannot keep up, which OpenTelemetry exporters retry;
- errors carry a ``google.rpc.Status`` in the request's encoding.

Bodies come with ``Content-Length`` or ``Transfer-Encoding: chunked``. The
server serves at most ``Limits.max_connections`` connections at once (more are
answered 503 and closed), closes a connection idle for ``idle_timeout_s``, and
cuts any request not fully received ``request_timeout_s`` after its first byte,
so slow or stalled clients cannot hold threads.

``admit(headers)`` is called first for every request: None admits it, or
(status, message) refuses it (the collector wires the token and ``Host`` checks
of :mod:`exposure` there).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Optional, Tuple

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from .ingest import Busy, Ingest, Result
from .limits import Limits
from .logs import log
from .otlp import JSON, PROTOBUF, SIGNALS, TRACES, METRICS, BadPayload, check_content_type, check_encoding, media_type

#: ``admit(headers)`` -> None to admit, or (HTTP status, message) to refuse.
Admit = Callable[[Any], Optional[Tuple[int, str]]]

#: HTTP status -> google.rpc.Code of the error body.
RPC_CODES = {400: 3, 411: 3, 413: 8, 415: 3, 401: 16, 403: 7, 404: 5, 405: 12, 421: 7, 429: 8, 503: 14, 500: 13}
MAX_CHUNK_LINE = 1024


class _Closed(Exception):
    """The client went away (or was cut off) mid-request."""


class OtlpServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with a connection cap and a watchdog that cuts requests
    that take longer than ``request_timeout_s``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], handler: type, limits: Limits) -> None:
        self.limits = limits
        self._active = 0
        self._lock = threading.Lock()
        self._deadlines: Dict[socket.socket, float] = {}
        self._closing = threading.Event()
        self.refused_connections = 0
        self.timed_out = 0
        super().__init__(address, handler)
        self._watchdog = threading.Thread(target=self._watch, name="genai-tap-collector-otlp-watchdog", daemon=True)
        self._watchdog.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            full = self._active >= self.limits.max_connections
            if not full:
                self._active += 1
        if full:
            self.refused_connections += 1
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n" % self.limits.retry_after_s)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            with self._lock:
                self._active -= 1
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._active -= 1
                self._deadlines.pop(request, None)

    def arm(self, sock: socket.socket) -> None:
        with self._lock:
            self._deadlines[sock] = time.monotonic() + self.limits.request_timeout_s

    def disarm(self, sock: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(sock, None)

    def _watch(self) -> None:
        while not self._closing.wait(0.5):
            now = time.monotonic()
            with self._lock:
                late = [s for s, d in self._deadlines.items() if d < now]
                for s in late:
                    del self._deadlines[s]
            for s in late:
                self.timed_out += 1
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()


class OtlpHandler(BaseHTTPRequestHandler):
    ingest: Ingest
    admit: Optional[Admit] = None
    server: OtlpServer
    protocol_version = "HTTP/1.1"
    server_version = "genai-tap-collector"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("otlp: " + format, *args)

    def handle_one_request(self) -> None:
        """Wait (idle timeout) for a request's first byte, then give the whole request
        ``request_timeout_s``."""
        try:
            first = self.rfile.peek(1)  # type: ignore[attr-defined]  # a BufferedReader (rbufsize -1)
        except (OSError, ValueError):
            self.close_connection = True
            return
        if not first:
            self.close_connection = True
            return
        self.server.arm(self.connection)
        try:
            super().handle_one_request()
        finally:
            self.server.disarm(self.connection)

    # ------------------------------------------------------------------ POST
    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        reply = JSON if media_type(self.headers.get("Content-Type")) == JSON else PROTOBUF
        refusal = self.admit(self.headers) if self.admit is not None else None
        if refusal is not None:
            return self._refuse(refusal[0], refusal[1], reply)
        if path not in SIGNALS:
            return self._refuse(404, f"no OTLP endpoint at {path}; use /v1/traces, /v1/metrics or /v1/logs", reply)
        content_type = self.headers.get("Content-Type")
        try:
            check_content_type(content_type)
            encoding = check_encoding(self.headers.get("Content-Encoding"))
            chunked, length = self._framing()
        except BadPayload as exc:
            return self._refuse(exc.status, str(exc), reply)
        limit = self.ingest.limits.max_request_bytes
        if length is not None and length > limit:
            return self._refuse(413, f"body of {length} bytes is over the {limit}-byte limit", reply)
        reserved = length if length is not None else 0
        try:
            if reserved:
                self.ingest.reserve(reserved)
        except Busy as exc:
            return self._refuse(503, str(exc), reply, retry_after=exc.retry_after_s)
        try:
            try:
                if chunked:
                    raw, reserved = self._read_chunked(limit, reserved)
                else:
                    raw = self._read_exactly(length or 0)
            except BadPayload as exc:
                return self._refuse(exc.status, str(exc), reply)
            except Busy as exc:
                return self._refuse(503, str(exc), reply, retry_after=exc.retry_after_s)
            except _Closed:
                self.close_connection = True
                return
            try:
                result = self.ingest.export(path, content_type or "", encoding, raw)
            except BadPayload as exc:
                log.info("rejected %s: %s", path, exc)
                return self._answer(exc.status, str(exc), reply)
            except Busy as exc:
                return self._answer(503, str(exc), reply, retry_after=exc.retry_after_s)
            except Exception as exc:  # noqa: BLE001 - one bad request must not stop the collector
                log.exception("storing %s failed", path)
                return self._answer(500, f"storing failed: {exc}", reply)
        finally:
            if reserved:
                self.ingest.budget.release(reserved)
        self._success(result, reply)

    def _framing(self) -> Tuple[bool, Optional[int]]:
        """(chunked, Content-Length); BadPayload for what cannot be framed safely."""
        encodings = [v.strip().lower() for h in self.headers.get_all("Transfer-Encoding") or [] for v in h.split(",") if v.strip()]
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if encodings != ["chunked"]:
                raise BadPayload(f"Transfer-Encoding {', '.join(encodings)!r} is not supported; use chunked or "
                                 "Content-Length", 400)
            if lengths:
                raise BadPayload("a request may not have both Content-Length and Transfer-Encoding", 400)
            return True, None
        if not lengths:
            raise BadPayload("a body needs Content-Length (or Transfer-Encoding: chunked)", 411)
        values = {v.strip() for h in lengths for v in h.split(",")}
        if len(values) != 1:
            raise BadPayload(f"conflicting Content-Length values {sorted(values)}", 400)
        value = values.pop()
        if not value.isdigit() or not value.isascii() or len(value) > 18:
            raise BadPayload(f"Content-Length {value!r} is not a number of bytes", 400)
        return False, int(value)

    def _read_exactly(self, n: int) -> bytes:
        if n == 0:
            return b""
        try:
            data = self.rfile.read(n)
        except (OSError, ValueError):
            raise _Closed() from None
        if len(data) != n:
            raise _Closed()
        return data

    def _read_chunked(self, limit: int, reserved: int) -> Tuple[bytes, int]:
        """A chunked body, bounded by ``limit``; its bytes are reserved as they arrive.
        Returns (body, bytes reserved so far)."""
        parts = []
        size = 0
        try:
            while True:
                line = self.rfile.readline(MAX_CHUNK_LINE + 1)
                if not line:
                    raise _Closed()
                if len(line) > MAX_CHUNK_LINE or not line.endswith(b"\n"):
                    raise BadPayload("chunk size line too long", 400)
                text = line.split(b";", 1)[0].strip()
                try:
                    n = int(text, 16)
                except ValueError:
                    raise BadPayload(f"bad chunk size {text[:20]!r}", 400) from None
                if n < 0 or not text or text.startswith((b"-", b"+", b"0x", b"0X")):
                    raise BadPayload(f"bad chunk size {text[:20]!r}", 400)
                if n == 0:
                    break
                if size + n > limit:
                    raise BadPayload(f"chunked body is over the {limit}-byte limit", 413)
                self.ingest.reserve(n)
                reserved += n
                parts.append(self._read_exactly(n))
                size += n
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise BadPayload("chunk not followed by CRLF", 400)
            for _ in range(100):  # trailer fields, then the empty line
                line = self.rfile.readline(MAX_CHUNK_LINE + 1)
                if not line:
                    raise _Closed()
                if line in (b"\r\n", b"\n"):
                    break
                if len(line) > MAX_CHUNK_LINE:
                    raise BadPayload("trailer line too long", 400)
            else:
                raise BadPayload("too many trailer fields", 400)
        except Exception:
            # hand back what was reserved: the caller only knows about the first reservation
            if reserved:
                self.ingest.budget.release(reserved)
            raise
        return b"".join(parts), reserved

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") in ("", "/health"):
            return self._send(200, b'{"ok":true}', JSON)
        self._answer(405, "OTLP/HTTP takes POST requests at /v1/traces, /v1/metrics and /v1/logs", JSON)

    # ------------------------------------------------------------------ answers
    def _refuse(self, status: int, message: str, reply: str, retry_after: Optional[int] = None) -> None:
        """Answer before (or instead of) reading the body: the connection cannot be reused."""
        self.close_connection = True
        self._answer(status, message, reply, retry_after=retry_after, close=True)

    def _answer(self, status: int, message: str, content_type: str, retry_after: Optional[int] = None,
                close: bool = False) -> None:
        rpc = status_pb2.Status(code=RPC_CODES.get(status, 13), message=message)
        if content_type == JSON:
            body, ctype = json_format.MessageToJson(rpc, indent=None).encode(), JSON
        else:
            body, ctype = rpc.SerializeToString(), PROTOBUF
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if close:
            headers["Connection"] = "close"
        self._send(status, body, ctype, headers)

    def _success(self, result: Result, reply: str) -> None:
        response: Any
        if result.signal == TRACES:
            response = ExportTraceServiceResponse()
            if result.rejected:
                response.partial_success.rejected_spans = result.rejected
                response.partial_success.error_message = result.message
        elif result.signal == METRICS:
            response = ExportMetricsServiceResponse()
        else:
            response = ExportLogsServiceResponse()
        if reply == JSON:
            self._send(200, json_format.MessageToJson(response, indent=None).encode(), JSON)
        else:
            self._send(200, response.SerializeToString(), PROTOBUF)

    def _send(self, status: int, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True


def make_handler(ingest: Ingest, admit: Optional[Admit] = None) -> type:
    return type("Handler", (OtlpHandler,), {"ingest": ingest, "admit": staticmethod(admit) if admit else None,
                                            "timeout": ingest.limits.idle_timeout_s})
