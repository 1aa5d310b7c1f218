"""A local Amazon Bedrock Runtime for demos and tests.

Real botocore talks to it through ``endpoint_url`` or
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``; it answers InvokeModel, Converse and
StartAsyncInvoke / GetAsyncInvoke / ListAsyncInvokes for every family in
:mod:`.catalog`, with Bedrock's headers (``x-amzn-RequestId``, the
``X-Amzn-Bedrock-*`` token-count and latency headers) and Bedrock's error
shapes (status code, ``x-amzn-ErrorType`` header, ``{"message": ...}`` body).

Faults are scheduled through the control API (``POST /_emulator/faults``) or the
``error_rate`` option, so an unmodified app can be made to see throttling,
access denied, validation errors or a dropped connection. Every request is kept
(``GET /_emulator/requests``) for byte-for-byte comparisons.
"""

from __future__ import annotations

import base64
import collections
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple
from urllib.parse import unquote

from . import catalog, replies, streaming

ACCOUNT = "123456789012"

#: Bedrock's error codes and their HTTP statuses (from the service model).
ERRORS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ServiceQuotaExceededException": 400,
    "ModelErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
MESSAGES = {
    "ValidationException": "The provided model identifier is invalid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "InternalServerException": "The server encountered an internal error while processing the request.",
}
DROP = "drop"  # a fault that closes the connection without answering
#: faults that answer 200 with a broken body, for InvokeModel (what a misbehaving model or proxy might send)
BODY_FAULTS = {
    "malformed": b'{"output": {"message": {"role": "assistant", "content": [{"text": "cut',
    "nonjson": b"<html>Service temporarily unavailable</html>",
    "empty": b"",
    "huge": None,  # built on demand: a valid answer padded past GENAI_TAP_MAX_BODY_BYTES
}


class Fault:
    """One scheduled failure: ``count`` requests matching ``model``/``operation`` fail with ``error``."""

    def __init__(self, error: str, count: int = 1, model: Optional[str] = None, operation: Optional[str] = None,
                 message: Optional[str] = None, after: Optional[int] = None) -> None:
        from .streaming import STREAM_ERRORS

        if after is None and error != DROP and error not in ERRORS and error not in BODY_FAULTS:
            raise ValueError(
                f"unknown error {error!r}; accepted: {', '.join(sorted(ERRORS))}, {DROP}, {', '.join(BODY_FAULTS)}"
            )
        if after is not None and error != DROP and error not in STREAM_ERRORS:
            raise ValueError(f"unknown stream error {error!r}; accepted: {', '.join(sorted(STREAM_ERRORS))}, {DROP}")
        self.error = error
        self.count = int(count)
        self.model = model
        self.operation = operation
        self.message = message
        #: for streams: fail after this many events were sent (None: fail before answering)
        self.after = None if after is None else int(after)

    def matches(self, operation: str, model_id: str) -> bool:
        return (self.operation is None or self.operation == operation) and (
            self.model is None or self.model in model_id
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connect at once in load and thread tests

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that went away (a closed keep-alive connection): nothing to report
        super().handle_error(request, client_address)


class Emulator:
    """The emulator server; ``with Emulator() as emu: emu.url`` runs it on a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0,
                 error_rate: float = 0.0, error: str = "ThrottlingException", seed: Optional[int] = None,
                 keep_requests: int = 2000, deterministic: bool = False,
                 stream_chunks: Optional[int] = None, chunk_delay_ms: float = 0.0) -> None:
        #: content chunks per streamed answer (None: one per word) and the pause between events
        self.stream_chunks = stream_chunks
        self.chunk_delay_ms = chunk_delay_ms
        #: ids (request ids, message ids) derived from the request, so that the same
        #: request always gets the same answer: for differential tests
        self.deterministic = deterministic
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.error = error
        self._random = random.Random(seed)
        self._faults: List[Fault] = []
        self._lock = threading.Lock()
        self.requests: Deque[Dict[str, Any]] = collections.deque(maxlen=keep_requests)
        self._jobs: Dict[str, Dict[str, Any]] = {}
        self.routes: List[Tuple[str, str, Callable[..., None]]] = []
        self._add_routes()
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = _Server((host, port), handler)
        self._thread: Optional[threading.Thread] = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "Emulator":
        self._thread = threading.Thread(target=self._server.serve_forever, name="genai-tap-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---------------------------------------------------------------- control
    def add_fault(self, error: str, count: int = 1, **kw: Any) -> None:
        with self._lock:
            self._faults.append(Fault(error, count, **kw))

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
        self.stream_chunks = None
        self.chunk_delay_ms = 0.0

    def take_fault(self, operation: str, model_id: str) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(operation, model_id):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
            if self.error_rate and self._random.random() < self.error_rate:
                return Fault(self.error)
        return None

    # ---------------------------------------------------------------- routes
    def route(self, method: str, suffix: str, fn: Callable[..., None]) -> None:
        """Register ``fn(handler, model_id, body)`` for ``/model/{id}/<suffix>``."""
        self.routes.append((method, suffix, fn))

    def _add_routes(self) -> None:
        self.route("POST", "invoke", _invoke)
        self.route("POST", "converse", _converse)
        self.route("POST", "invoke-with-response-stream", _invoke_stream)
        self.route("POST", "converse-stream", _converse_stream)


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK add about 40 ms to every answer.
    disable_nagle_algorithm = True
    server_version = "genai-tap-emulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    # ------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", replies.new_uuid())
        self.send_header("Date", self.date_time_string())
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_error_shape(self, code: str, message: Optional[str] = None) -> None:
        self.send_json(
            ERRORS.get(code, 400),
            {"message": message or MESSAGES.get(code, code)},
            {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
        )

    def drop(self) -> None:
        """Close the connection without a response (a reset, as botocore sees it)."""
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def fault(self, operation: str, model_id: str) -> bool:
        """Apply a scheduled fault; True if the request was answered by it.

        A fault with ``after`` set is kept for the stream itself (see ``send_stream``).
        """
        fault = self.emulator.take_fault(operation, model_id)
        if fault is None:
            return False
        if fault.after is not None:
            self.stream_fault = fault
            return False
        if fault.error == DROP:
            self.drop()
        elif fault.error in BODY_FAULTS:
            body = BODY_FAULTS[fault.error]
            self.send_raw(_huge_body() if body is None else body)
        else:
            self.send_error_shape(fault.error, fault.message)
        return True

    def send_raw(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", replies.new_uuid())
        self.end_headers()
        self.wfile.write(data)

    stream_fault: Optional[Fault] = None

    def send_stream(self, events: List[bytes], headers: Optional[Dict[str, str]] = None) -> None:
        """Send event-stream messages as HTTP chunks, pausing between them; apply a mid-stream fault."""
        fault, self.stream_fault = self.stream_fault, None
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", replies.new_uuid())
        self.send_header("Date", self.date_time_string())
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        delay = self.emulator.chunk_delay_ms / 1000.0
        try:
            for index, data in enumerate(events):
                if fault is not None and index == fault.after:
                    if fault.error == DROP:
                        return self.drop()
                    data = streaming.exception(fault.error, fault.message)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    break
                if delay and index:
                    time.sleep(delay)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the app stopped reading and closed the stream

    # ------------------------------------------------------------ dispatch
    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        raw = self._body() if method == "POST" else b""
        path = self.path.split("?", 1)[0]
        replies.seed_ids(method.encode() + self.path.encode() + raw if self.emulator.deterministic else None)
        self.emulator.requests.append(
            {"method": method, "path": path, "headers": dict(self.headers.items()), "body": raw}
        )
        if path.startswith("/_emulator/"):
            return self._control(method, path[len("/_emulator/"):], raw)
        if self.emulator.latency_ms:
            time.sleep(self.emulator.latency_ms / 1000.0)
        if path.startswith("/async-invoke"):
            return _async(self, method, unquote(path[len("/async-invoke"):].lstrip("/")), raw)
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "model":
            model_id, suffix = unquote(parts[2]), parts[3]
            for route_method, route_suffix, fn in self.emulator.routes:
                if route_method == method and route_suffix == suffix:
                    if self.fault(suffix, model_id):
                        return
                    return fn(self, model_id, raw)
        self.send_error_shape("ResourceNotFoundException", f"No route for {method} {path}")

    def _control(self, method: str, what: str, raw: bytes) -> None:
        emu = self.emulator
        if what == "faults" and method == "POST":
            try:
                spec = json.loads(raw or b"{}")
                emu.add_fault(**spec)
            except (ValueError, TypeError) as exc:
                return self.send_json(400, {"message": str(exc)})
            return self.send_json(200, {"ok": True})
        if what == "reset" and method == "POST":
            emu.reset()
            return self.send_json(200, {"ok": True})
        if what == "stream" and method == "POST":
            spec = json.loads(raw or b"{}")
            emu.stream_chunks = spec.get("chunks")
            emu.chunk_delay_ms = float(spec.get("delay_ms", 0.0))
            return self.send_json(200, {"ok": True})
        if what == "requests" and method == "GET":
            items = [dict(r, body=base64.b64encode(r["body"]).decode()) for r in list(emu.requests)]
            return self.send_json(200, items)
        if what == "health":
            return self.send_json(200, {"ok": True})
        self.send_json(404, {"message": f"unknown control endpoint {what!r}"})


# ---------------------------------------------------------------------------- operations


def _huge_body(size: int = 5 * 1024 * 1024) -> bytes:
    text = "x" * size
    return json.dumps({"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn"}).encode()


def parse_request(handler: _Handler, model_id: str, raw: bytes, converse: bool = False):
    """(base model ID, family, JSON body) or None after answering with an error."""
    resolved = catalog.resolve(model_id)
    if resolved is None:
        handler.send_error_shape("ValidationException")
        return None
    base, family = resolved
    if converse and family not in catalog.CONVERSE_FAMILIES:
        handler.send_error_shape("ValidationException", "This model doesn't support the converse operation.")
        return None
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        handler.send_error_shape("ValidationException", "Malformed input request, please reformat your input and try again.")
        return None
    return base, family, body


def _invoke(handler: _Handler, model_id: str, raw: bytes) -> None:
    parsed = parse_request(handler, model_id, raw)
    if parsed is None:
        return
    base, family, body = parsed
    try:
        answer, usage = replies.BUILDERS[family](body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    headers = {"X-Amzn-Bedrock-Invocation-Latency": "42"}
    if usage is not None:
        headers["X-Amzn-Bedrock-Input-Token-Count"] = str(usage.input)
        headers["X-Amzn-Bedrock-Output-Token-Count"] = str(usage.output)
    handler.send_json(200, answer, headers)


def _converse(handler: _Handler, model_id: str, raw: bytes) -> None:
    parsed = parse_request(handler, model_id, raw, converse=True)
    if parsed is None:
        return
    base, _, body = parsed
    try:
        answer, _usage = replies.converse(body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    handler.send_json(200, answer)


def _invoke_stream(handler: _Handler, model_id: str, raw: bytes) -> None:
    parsed = parse_request(handler, model_id, raw)
    if parsed is None:
        return
    base, family, body = parsed
    if family not in streaming.FAMILIES:
        return handler.send_error_shape("ValidationException", "The model is unsupported for streaming.")
    replies.min_chars(handler.emulator.stream_chunks or 0)
    try:
        answer, usage = replies.BUILDERS[family](body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    finally:
        replies.min_chars(0)
    events = streaming.invoke_stream(family, answer, usage, handler.emulator.stream_chunks)
    handler.send_stream(events, {"X-Amzn-Bedrock-Content-Type": "application/json"})


def _converse_stream(handler: _Handler, model_id: str, raw: bytes) -> None:
    parsed = parse_request(handler, model_id, raw, converse=True)
    if parsed is None:
        return
    base, _, body = parsed
    replies.min_chars(handler.emulator.stream_chunks or 0)
    try:
        answer, _usage = replies.converse(body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    finally:
        replies.min_chars(0)
    handler.send_stream(streaming.converse_stream(answer, handler.emulator.stream_chunks))


def _async(handler: _Handler, method: str, arn: str, raw: bytes) -> None:
    emu = handler.emulator
    if method == "POST" and not arn:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return handler.send_error_shape("ValidationException", "Malformed request")
        model_id = str(body.get("modelId", ""))
        if handler.fault("async-invoke", model_id):
            return
        resolved = catalog.resolve(model_id)
        if resolved is None:
            return handler.send_error_shape("ValidationException")
        try:
            replies.BUILDERS[resolved[1]](body.get("modelInput") or {}, resolved[0])
        except replies.BadRequest as exc:
            return handler.send_error_shape("ValidationException", str(exc))
        job = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:async-invoke/{replies.new_uuid()[:8]}"
        s3 = ((body.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri", "s3://bucket/out")
        emu._jobs[job] = {
            "invocationArn": job,
            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{resolved[0]}",
            "status": "Completed",
            "submitTime": "2026-01-01T00:00:00Z",
            "endTime": "2026-01-01T00:01:00Z",
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": s3}},
        }
        return handler.send_json(200, {"invocationArn": job})
    if method == "GET" and arn:
        found = emu._jobs.get(arn)
        if found is None:
            return handler.send_error_shape("ResourceNotFoundException", "The specified invocation does not exist.")
        return handler.send_json(200, found)
    if method == "GET":
        return handler.send_json(200, {"asyncInvokeSummaries": list(emu._jobs.values())})
    handler.send_error_shape("ValidationException", "Unsupported async-invoke request")
