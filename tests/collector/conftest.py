"""Shared parts of the collector tests: a real collector on free ports, and real
OpenTelemetry SDK spans sent to it by the real OTLP/HTTP exporter."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from genai_tap_collector.server import Collector
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from genai_tap import semconv as sc

MS = 1_000_000


@pytest.fixture
def collector(tmp_path) -> Iterator[Collector]:
    with Collector(tmp_path / "calls.db", otlp_port=0, ui_port=0) as c:
        yield c


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def post(url: str, body: bytes, content_type: str, encoding: Optional[str] = None) -> int:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """Poll until ``check()`` is truthy: waiting for background work, not timing it."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def messages(user: str, answer: str) -> Dict[str, str]:
    return {
        sc.SYSTEM_INSTRUCTIONS: json.dumps([{"type": "text", "content": "Be brief."}]),
        sc.INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": user}]}]),
        sc.OUTPUT_MESSAGES: json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}],
                                         "finish_reason": "stop"}]),
    }


class Sender:
    """Makes GenAI spans with the OpenTelemetry SDK; ``send()`` exports them over OTLP/HTTP
    (protobuf, gzip) with the real exporter, ``spans()`` hands them over for other encodings."""

    def __init__(self, endpoint: Optional[str], app: str) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": app}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        if endpoint:
            exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces", compression=Compression.Gzip)
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("tests")
        self.t0 = time.time_ns() - 60_000 * MS

    def call(self, model: str, latency_ms: float = 100.0, input_tokens: int = 100, output_tokens: int = 20,
             error: Optional[str] = None, at_ms: float = 0.0, prompt: str = "What is the capital of France?",
             cache_read: int = 0, cache_write: int = 0, parent: Any = None, child: bool = False,
             extra: Optional[Dict[str, Any]] = None, cache_write_name: str = sc.USAGE_CACHE_WRITE_INPUT_TOKENS) -> Any:
        start = self.t0 + int(at_ms * MS)
        attrs: Dict[str, Any] = {
            sc.OPERATION_NAME: sc.OP_CHAT, sc.PROVIDER_NAME: sc.PROVIDER_AWS_BEDROCK, sc.REQUEST_MODEL: model,
            sc.REQUEST_TEMPERATURE: 0.3, sc.REQUEST_MAX_TOKENS: 200,
            **messages(prompt, "Paris."),
        }
        if error is None:
            attrs.update({sc.USAGE_INPUT_TOKENS: input_tokens, sc.USAGE_OUTPUT_TOKENS: output_tokens,
                          sc.USAGE_CACHE_READ_INPUT_TOKENS: cache_read, cache_write_name: cache_write})
        else:
            attrs[sc.ERROR_TYPE] = error
        attrs.update(extra or {})
        ctx = None
        if parent is not None:
            from opentelemetry import trace

            ctx = trace.set_span_in_context(parent)
        span = self.tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attrs, start_time=start,
                                      context=ctx)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, f"{error}: too many requests"))
        if child:
            from opentelemetry import trace

            http = self.tracer.start_span("POST bedrock-runtime", context=trace.set_span_in_context(span),
                                          start_time=start + MS, attributes={"http.request.method": "POST"})
            http.end(end_time=start + int((latency_ms - 1) * MS))
        span.end(end_time=start + int(latency_ms * MS))
        return span

    def root(self, name: str = "handle request", at_ms: float = 0.0) -> Any:
        return self.tracer.start_span(name, start_time=self.t0 + int(at_ms * MS))

    def spans(self) -> List[Any]:
        return list(self.memory.get_finished_spans())

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def sender_for() -> Iterator[Callable[..., Sender]]:
    made: List[Sender] = []

    def make(collector: Optional[Collector], app: str = "checkout") -> Sender:
        s = Sender(collector.otlp_url if collector else None, app)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


# ---------------------------------------------------------------------------- OTLP bodies by hand


def kv(key: str, value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def span_pb(name: str = "chat amazon.nova-lite-v1:0", attrs: Optional[Dict[str, Any]] = None,
            start_ns: Optional[int] = None, duration_ms: float = 100.0, trace_id: Optional[bytes] = None,
            span_id: Optional[bytes] = None, parent_id: Optional[bytes] = None, error: Optional[str] = None,
            genai: bool = True) -> Any:
    """A protobuf span as an app's exporter sends it (a GenAI chat call unless ``genai=False``)."""
    import os

    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    s = Span(trace_id=trace_id or os.urandom(16), span_id=span_id or os.urandom(8), name=name, kind=3)
    if parent_id:
        s.parent_span_id = parent_id
    s.start_time_unix_nano = start_ns if start_ns is not None else time.time_ns() - 60 * 10**9
    s.end_time_unix_nano = s.start_time_unix_nano + int(duration_ms * MS)
    base: Dict[str, Any] = {}
    if genai:
        base = {sc.OPERATION_NAME: "chat", sc.PROVIDER_NAME: "aws.bedrock", sc.REQUEST_MODEL: "amazon.nova-lite-v1:0",
                sc.BEDROCK_API: "Converse", sc.USAGE_INPUT_TOKENS: 100, sc.USAGE_OUTPUT_TOKENS: 20}
    base.update(attrs or {})
    s.attributes.extend(kv(k, v) for k, v in base.items() if v is not None)
    if error:
        s.status.code = 2
        s.status.message = f"{error}: it failed"
        s.attributes.append(kv(sc.ERROR_TYPE, error))
    return s


def request_pb(spans: List[Any], app: str = "hand-made") -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", app))
    rs.scope_spans.add().spans.extend(spans)
    return req.SerializeToString()


def send(collector: Collector, spans: List[Any], app: str = "hand-made") -> Any:
    """POST spans as protobuf; returns the decoded ExportTraceServiceResponse (raises on non-200)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    req = urllib.request.Request(collector.otlp_url + "/v1/traces", data=request_pb(spans, app), method="POST",
                                 headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return ExportTraceServiceResponse.FromString(resp.read())


def raw_http(port: int, data: bytes, timeout: float = 10.0, read: bool = True) -> bytes:
    """Send raw bytes to 127.0.0.1:``port``; read until the server closes or ``timeout``."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if not read:
            return b""
        out = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def statuses(raw: bytes) -> List[int]:
    """The status codes of the HTTP responses in ``raw``, in order."""
    import re

    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


def rss_peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")
