"""A local Amazon Bedrock (Runtime, Agents Runtime, Guardrails) for demos and tests.

Real botocore talks to it through ``endpoint_url`` or ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
and ``AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME`` (both services on the one port: requests
are routed by method and path, as the service models declare them). It answers
InvokeModel (and its stream), Converse (and its stream), the async-invoke operations
and ApplyGuardrail for every family in :mod:`.catalog`; InvokeAgent, InvokeInlineAgent,
Retrieve, RetrieveAndGenerate and RetrieveAndGenerateStream (:mod:`.agents`,
:mod:`.knowledge_bases`), with Bedrock's headers (``x-amzn-RequestId``, the
``X-Amzn-Bedrock-*`` token-count and latency headers, the agent session headers) and
Bedrock's error shapes (status code, ``x-amzn-ErrorType`` header, ``{"message": ...}``
body).

Faults are scheduled through the control API (``POST /_emulator/faults``) or the
``error_rate`` option, so an unmodified app can be made to see throttling,
access denied, validation errors or a dropped connection. Every request is kept
(``GET /_emulator/requests``, credentials masked, bodies otherwise byte for byte).
The control API answers loopback ``Host`` names only, and its POSTs only with
``Content-Type: application/json``.
"""

from __future__ import annotations

import base64
import collections
import itertools
import json
import random
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Pattern, Tuple, Union
from urllib.parse import unquote

from . import catalog, masking, replies, streaming, timeline

ACCOUNT = "123456789012"
REGION = "us-east-1"

#: Bedrock Runtime's error codes and their HTTP statuses (from the service model).
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
#: Agents for Amazon Bedrock Runtime's error codes and their HTTP statuses (from its service model).
AGENT_ERRORS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 400,
    "DependencyFailedException": 424,
    "ModelNotReadyException": 424,
    "BadGatewayException": 502,
    "InternalServerException": 500,
}
MESSAGES = {
    "ValidationException": "The provided model identifier is invalid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "InternalServerException": "The server encountered an internal error while processing the request.",
    "DependencyFailedException": "Received failed response from API execution. Retry the request later.",
    "BadGatewayException": "Bad gateway: a dependency returned an invalid response.",
    "ConflictException": "There is a conflicting operation in progress for this session.",
}
DROP = "drop"  # a fault that closes the connection without answering
#: faults that answer 200 with a broken body, for InvokeModel (what a misbehaving model or proxy might send)
BODY_FAULTS = {
    "malformed": b'{"output": {"message": {"role": "assistant", "content": [{"text": "cut',
    "nonjson": b"<html>Service temporarily unavailable</html>",
    "empty": b"",
    "huge": None,  # built on demand: a valid answer padded past GENAI_TAP_MAX_BODY_BYTES
}
#: request bodies above this many bytes are refused without being read
MAX_REQUEST_BYTES = 64 * 1024 * 1024


class Fault:
    """One scheduled failure: ``count`` requests matching ``model``/``operation`` fail with ``error``.

    ``operation`` is the operation's API name (``InvokeModel``, ``InvokeAgent`` ...) or, for
    the Bedrock Runtime model operations, the last segment of its path (``invoke``,
    ``converse``, ``converse-stream``, ``invoke-with-response-stream``, ``async-invoke``).
    ``model`` is a substring of the operation's target (see docs/emulator.md: the model ID,
    the agent ID, the knowledge base ID, the guardrail ID ...).
    """

    def __init__(self, error: str, count: int = 1, model: Optional[str] = None, operation: Optional[str] = None,
                 message: Optional[str] = None, after: Optional[int] = None) -> None:
        if after is None and error != DROP and error not in ERRORS and error not in AGENT_ERRORS and error not in BODY_FAULTS:
            known = sorted(set(ERRORS) | set(AGENT_ERRORS))
            raise ValueError(f"unknown error {error!r}; accepted: {', '.join(known)}, {DROP}, {', '.join(BODY_FAULTS)}")
        if after is not None and error != DROP:
            allowed = streaming.STREAM_EXCEPTIONS.get(operation or "") if operation else None
            names = allowed if allowed is not None else streaming.STREAM_ERRORS
            if error not in names:
                raise ValueError(f"unknown stream error {error!r}; accepted: {', '.join(sorted(names))}, {DROP}")
        self.error = error
        self.count = int(count)
        self.model = model
        self.operation = operation
        self.message = message
        #: for streams: fail after this many events were sent (None: fail before answering)
        self.after = None if after is None else int(after)

    def matches(self, operations: Tuple[str, ...], target: str) -> bool:
        return (self.operation is None or self.operation in operations) and (self.model is None or self.model in target)


Handler = Callable[["_Handler", Dict[str, str], bytes], None]


class Route:
    """One operation: its method and path template, names (for faults), service, and handler."""

    def __init__(self, method: str, template: str, operation: str, fn: Handler, service: str = "runtime",
                 alias: Optional[str] = None, target: Optional[Callable[[Dict[str, str], bytes], str]] = None) -> None:
        self.method = method
        self.template = template
        self.operation = operation
        self.names: Tuple[str, ...] = (operation,) if alias is None else (operation, alias)
        self.fn = fn
        self.service = service
        self.target = target or (lambda params, raw: next(iter(params.values()), ""))
        pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template))
        self.regex: Pattern[str] = re.compile(f"^{pattern}$")

    def match(self, method: str, path: str) -> Optional[Dict[str, str]]:
        if method != self.method:
            return None
        found = self.regex.match(path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


def body_field(*path: str) -> Callable[[Dict[str, str], bytes], str]:
    """A fault target read from the JSON body (``""`` when absent or not JSON)."""

    def target(params: Dict[str, str], raw: bytes) -> str:
        try:
            value: Any = json.loads(raw or b"{}")
        except ValueError:
            return ""
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return str(value) if isinstance(value, (str, int)) else ""

    return target


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connect at once in load and thread tests

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that went away (a closed keep-alive connection): nothing to report
        super().handle_error(request, client_address)


class Emulator:
    """The emulator server; ``with Emulator() as emu: emu.url`` runs it on a free port.

    ``clock_skew_ms`` shifts every time the emulator reports inside an answer (agent trace
    ``eventTime``, ``startTime``/``endTime`` of trace metadata) by that many milliseconds
    from the local clock, into the future (positive) or the past (negative).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0,
                 error_rate: float = 0.0, error: str = "ThrottlingException", seed: Optional[int] = None,
                 keep_requests: int = 2000, deterministic: bool = False,
                 stream_chunks: Optional[int] = None, chunk_delay_ms: float = 0.0,
                 clock_skew_ms: float = 0.0) -> None:
        #: content chunks per streamed answer (None: one per word) and the pause between events
        self.stream_chunks = stream_chunks
        self.chunk_delay_ms = chunk_delay_ms
        #: ids (request ids, message ids) derived from the request, so that the same
        #: request always gets the same answer: for differential tests
        self.deterministic = deterministic
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.error = error
        self.clock_skew_ms = float(clock_skew_ms)
        self._random = random.Random(seed)
        self._faults: List[Fault] = []
        self._lock = threading.Lock()
        self.requests: Deque[Dict[str, Any]] = collections.deque(maxlen=keep_requests)
        self._jobs: Dict[str, Dict[str, Any]] = {}
        self.routes: List[Route] = []
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
        self.clock_skew_ms = 0.0

    def take_fault(self, operations: Union[str, Tuple[str, ...]], target: str) -> Optional[Fault]:
        names = (operations,) if isinstance(operations, str) else operations
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(names, target):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
            if self.error_rate and self._random.random() < self.error_rate:
                return Fault(self.error)
        return None

    def clock(self) -> timeline.Clock:
        """The clock answers report times with (the local clock shifted by ``clock_skew_ms``)."""
        return timeline.Clock(self.clock_skew_ms)

    # ---------------------------------------------------------------- routes
    def add_route(self, route: Route) -> None:
        self.routes.append(route)

    def route(self, method: str, suffix: str, fn: Callable[..., None]) -> None:
        """Register ``fn(handler, model_id, body)`` for ``/model/{modelId}/<suffix>``."""
        self.add_route(Route(method, "/model/{modelId}/" + suffix, suffix, lambda h, p, raw: fn(h, p["modelId"], raw)))

    def _add_routes(self) -> None:
        from . import agents, guardrails, knowledge_bases

        model = "/model/{modelId}/"
        self.add_route(Route("POST", model + "invoke", "InvokeModel", lambda h, p, r: _invoke(h, p["modelId"], r), alias="invoke"))
        self.add_route(Route("POST", model + "converse", "Converse", lambda h, p, r: _converse(h, p["modelId"], r), alias="converse"))
        self.add_route(Route("POST", model + "invoke-with-response-stream", "InvokeModelWithResponseStream",
                             lambda h, p, r: _invoke_stream(h, p["modelId"], r), alias="invoke-with-response-stream"))
        self.add_route(Route("POST", model + "converse-stream", "ConverseStream",
                             lambda h, p, r: _converse_stream(h, p["modelId"], r), alias="converse-stream"))
        for route in guardrails.routes() + agents.routes() + knowledge_bases.routes():
            self.add_route(route)


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK add about 40 ms to every answer.
    disable_nagle_algorithm = True
    server_version = "genai-tap-emulator"
    #: the answer's x-amzn-RequestId (drawn when the request arrives; agent trace ids derive from it)
    request_id = ""
    #: the service of the operation being answered ("runtime" or "agent"): which error table applies
    service = "runtime"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    # ------------------------------------------------------------ plumbing
    def _body(self) -> Optional[bytes]:
        """The request body, or None after refusing it (too large, or a length that is not a number)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True
            message = f"Request body too large or its length unreadable (at most {MAX_REQUEST_BYTES} bytes)"
            self.send_error_shape("ValidationException", message)
            return None
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", self.request_id or replies.new_uuid())
        self.send_header("Date", self.date_time_string())
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_error_shape(self, code: str, message: Optional[str] = None, **extra: Any) -> None:
        table = AGENT_ERRORS if self.service == "agent" else ERRORS
        status = table.get(code) or ERRORS.get(code) or AGENT_ERRORS.get(code) or 400
        namespace = "com.amazon.bedrock.agent.runtime" if self.service == "agent" else "com.amazon.bedrock"
        body = {"message": message or MESSAGES.get(code, code)}
        body.update({k: v for k, v in extra.items() if v is not None})
        self.send_json(status, body, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/{namespace}/"})

    def json_object(self, raw: bytes) -> Optional[Dict[str, Any]]:
        """The request body as a JSON object; anything else is answered with a ValidationException (None)."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.send_error_shape("ValidationException", "Malformed request body.")
            return None
        return body

    def drop(self) -> None:
        """Close the connection without a response (a reset, as botocore sees it)."""
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def fault(self, operations: Union[str, Tuple[str, ...]], target: str) -> bool:
        """Apply a scheduled fault; True if the request was answered by it.

        A fault with ``after`` set is kept for the stream itself (see ``send_stream``).
        """
        fault = self.emulator.take_fault(operations, target)
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
        self.send_header("x-amzn-RequestId", self.request_id or replies.new_uuid())
        self.end_headers()
        self.wfile.write(data)

    stream_fault: Optional[Fault] = None

    def send_stream(self, events: Iterable[Union[bytes, Callable[[], bytes]]], headers: Optional[Dict[str, str]] = None) -> None:
        """Send event-stream messages as HTTP chunks, pausing between them; apply a mid-stream fault.

        ``events`` may be lazy (a generator, or callables): each message is built when it is
        sent, so the times inside it are the times it leaves.
        """
        fault, self.stream_fault = self.stream_fault, None
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", self.request_id or replies.new_uuid())
        self.send_header("Date", self.date_time_string())
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        delay = self.emulator.chunk_delay_ms / 1000.0
        iterator = iter(events)
        try:
            for index in itertools.count():
                if delay and index:
                    time.sleep(delay)  # before the next event is built: its times are when it leaves
                item = next(iterator, None)
                if item is None:
                    break
                if fault is not None and index == fault.after:
                    if fault.error == DROP:
                        return self.drop()
                    data = streaming.exception(fault.error, fault.message)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    break
                data = item() if callable(item) else item
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the app stopped reading and closed the stream

    # ------------------------------------------------------------ dispatch
    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    #: whether this request's answer has started (its status line was sent)
    responded = False

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        self.responded = True
        super().send_response(code, message)

    def _dispatch(self, method: str) -> None:
        self.service = "runtime"
        self.responded = False
        raw = self._body() if method in ("POST", "PUT") else b""
        if raw is None:
            return
        path = self.path.split("?", 1)[0]
        replies.seed_ids(method.encode() + self.path.encode() + raw if self.emulator.deterministic else None)
        self.request_id = replies.new_uuid()
        self.emulator.requests.append(
            {"method": method, "path": path, "headers": masking.headers(self.headers.items()), "body": masking.body(raw, self.headers)}
        )
        if path.startswith("/_emulator/"):
            return self._control(method, path[len("/_emulator/"):], raw)
        if self.emulator.latency_ms:
            time.sleep(self.emulator.latency_ms / 1000.0)
        if path.startswith("/async-invoke"):
            return _async(self, method, unquote(path[len("/async-invoke"):].lstrip("/")), raw)
        for route in self.emulator.routes:
            params = route.match(method, path)
            if params is None:
                continue
            self.service = route.service
            if self.fault(route.names, route.target(params, raw)):
                return
            try:
                return route.fn(self, params, raw)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as exc:  # noqa: BLE001 - a request the handler could not read: a 400, never a traceback
                if self.responded:
                    self.close_connection = True  # the answer had started: all that can be done is to cut it
                    return
                message = f"The emulator could not read this request ({type(exc).__name__}: {exc})"
                return self.send_error_shape("ValidationException", message)
        self.send_error_shape("ResourceNotFoundException", f"No route for {method} {path}")

    # ------------------------------------------------------------ control API
    def _control_refusal(self, method: str) -> Optional[Tuple[int, str]]:
        """Why a control request is refused (status, message), or None.

        Only loopback Host names are served (a web page's DNS-rebound name is not), and a
        POST must say ``Content-Type: application/json`` (a cross-origin form or text/plain
        post from a web page cannot).
        """
        if not _loopback_host(self.headers.get("Host", "")):
            return 403, "the control API answers loopback Host names only (127.0.0.1, localhost, [::1])"
        if method == "POST":
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                return 415, "the control API accepts Content-Type: application/json only"
        return None

    def _control(self, method: str, what: str, raw: bytes) -> None:
        refused = self._control_refusal(method)
        if refused is not None:
            return self.send_json(refused[0], {"message": refused[1]})
        emu = self.emulator
        try:
            spec = json.loads(raw or b"{}") if method == "POST" else {}
            if not isinstance(spec, dict):
                raise ValueError("the control API takes a JSON object")
        except ValueError as exc:
            return self.send_json(400, {"message": str(exc)})
        if what == "faults" and method == "POST":
            try:
                emu.add_fault(**spec)
            except (ValueError, TypeError) as exc:
                return self.send_json(400, {"message": str(exc)})
            return self.send_json(200, {"ok": True})
        if what == "reset" and method == "POST":
            emu.reset()
            return self.send_json(200, {"ok": True})
        if what == "stream" and method == "POST":
            try:
                chunks = spec.get("chunks")
                emu.stream_chunks = None if chunks is None else int(chunks)
                emu.chunk_delay_ms = float(spec.get("delay_ms", 0.0))
            except (TypeError, ValueError) as exc:
                return self.send_json(400, {"message": str(exc)})
            return self.send_json(200, {"ok": True})
        if what == "clock" and method == "POST":
            try:
                emu.clock_skew_ms = float(spec.get("skew_ms", 0.0))
            except (TypeError, ValueError) as exc:
                return self.send_json(400, {"message": str(exc)})
            return self.send_json(200, {"ok": True, "skew_ms": emu.clock_skew_ms})
        if what == "requests" and method == "GET":
            items = [dict(r, body=base64.b64encode(r["body"]).decode()) for r in list(emu.requests)]
            return self.send_json(200, items)
        if what == "health":
            return self.send_json(200, {"ok": True})
        self.send_json(404, {"message": f"unknown control endpoint {what!r}"})


def _loopback_host(host: str) -> bool:
    """Whether a Host header names this machine's loopback interface (any port)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, sep, rest = host.partition("]")
        if not sep or (rest and not re.fullmatch(r":\d+", rest)):
            return False
        return name + "]" == "[::1]"
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return False
    return name in ("127.0.0.1", "localhost")


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
    if not isinstance(body, dict):
        handler.send_error_shape("ValidationException", "Malformed input request, please reformat your input and try again.")
        return None
    return base, family, body


def _invoke(handler: _Handler, model_id: str, raw: bytes) -> None:
    from . import guardrails

    parsed = parse_request(handler, model_id, raw)
    if parsed is None:
        return
    base, family, body = parsed
    try:
        guard = guardrails.from_invoke_headers(handler.headers)
        if guard is not None:
            answer, usage = guardrails.invoke_with_guardrail(guard, family, body, base)
        else:
            answer, usage = replies.BUILDERS[family](body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    except guardrails.GuardrailError as exc:
        return handler.send_error_shape(exc.code, str(exc))
    headers = {"X-Amzn-Bedrock-Invocation-Latency": "42"}
    if usage is not None:
        headers["X-Amzn-Bedrock-Input-Token-Count"] = str(usage.input)
        headers["X-Amzn-Bedrock-Output-Token-Count"] = str(usage.output)
    handler.send_json(200, answer, headers)


def _converse(handler: _Handler, model_id: str, raw: bytes) -> None:
    from . import guardrails

    parsed = parse_request(handler, model_id, raw, converse=True)
    if parsed is None:
        return
    base, _, body = parsed
    try:
        answer, _usage = guardrails.converse(body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    except guardrails.GuardrailError as exc:
        return handler.send_error_shape(exc.code, str(exc))
    handler.send_json(200, answer)


def _invoke_stream(handler: _Handler, model_id: str, raw: bytes) -> None:
    from . import guardrails

    parsed = parse_request(handler, model_id, raw)
    if parsed is None:
        return
    base, family, body = parsed
    if family not in streaming.FAMILIES:
        return handler.send_error_shape("ValidationException", "The model is unsupported for streaming.")
    replies.min_chars(handler.emulator.stream_chunks or 0)
    try:
        guard = guardrails.from_invoke_headers(handler.headers)
        if guard is not None:
            answer, usage = guardrails.invoke_with_guardrail(guard, family, body, base)
        else:
            answer, usage = replies.BUILDERS[family](body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    except guardrails.GuardrailError as exc:
        return handler.send_error_shape(exc.code, str(exc))
    finally:
        replies.min_chars(0)
    events = streaming.invoke_stream(family, answer, usage, handler.emulator.stream_chunks)
    handler.send_stream(events, {"X-Amzn-Bedrock-Content-Type": "application/json"})


def _converse_stream(handler: _Handler, model_id: str, raw: bytes) -> None:
    from . import guardrails

    parsed = parse_request(handler, model_id, raw, converse=True)
    if parsed is None:
        return
    base, family, body = parsed
    if family not in streaming.FAMILIES:
        return handler.send_error_shape("ValidationException", "The model is unsupported for streaming.")
    replies.min_chars(handler.emulator.stream_chunks or 0)
    try:
        answer, _usage = guardrails.converse(body, base)
    except replies.BadRequest as exc:
        return handler.send_error_shape("ValidationException", str(exc))
    except guardrails.GuardrailError as exc:
        return handler.send_error_shape(exc.code, str(exc))
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
        if not isinstance(body, dict):
            return handler.send_error_shape("ValidationException", "Malformed request")
        model_id = str(body.get("modelId", ""))
        if handler.fault(("StartAsyncInvoke", "async-invoke"), model_id):
            return
        resolved = catalog.resolve(model_id)
        if resolved is None:
            return handler.send_error_shape("ValidationException")
        try:
            replies.BUILDERS[resolved[1]](body.get("modelInput") or {}, resolved[0])
        except replies.BadRequest as exc:
            return handler.send_error_shape("ValidationException", str(exc))
        job = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:async-invoke/{replies.new_uuid()[:8]}"
        s3 = ((body.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri", "s3://bucket/out")
        emu._jobs[job] = {
            "invocationArn": job,
            "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{resolved[0]}",
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
