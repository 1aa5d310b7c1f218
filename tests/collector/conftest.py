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
             extra: Optional[Dict[str, Any]] = None) -> Any:
        start = self.t0 + int(at_ms * MS)
        attrs: Dict[str, Any] = {
            sc.OPERATION_NAME: sc.OP_CHAT, sc.PROVIDER_NAME: sc.PROVIDER_AWS_BEDROCK, sc.REQUEST_MODEL: model,
            sc.REQUEST_TEMPERATURE: 0.3, sc.REQUEST_MAX_TOKENS: 200,
            **messages(prompt, "Paris."),
        }
        if error is None:
            attrs.update({sc.USAGE_INPUT_TOKENS: input_tokens, sc.USAGE_OUTPUT_TOKENS: output_tokens,
                          sc.USAGE_CACHE_READ_INPUT_TOKENS: cache_read, sc.USAGE_CACHE_WRITE_INPUT_TOKENS: cache_write})
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
