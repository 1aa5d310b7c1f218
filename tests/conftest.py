"""Shared fixtures: the Bedrock emulator, a real OTLP receiver, and genai-tap in-process.

Every test runs with genai-tap's guard in strict mode: an error genai-tap swallowed
(as it must in production) fails the test that caused it, unless the test says
it expects one (``expect_swallowed``).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List

import pytest

from genai_tap import guard

from .support.otlp import Receiver


@pytest.fixture(autouse=True)
def strict_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    guard.STRICT = True
    guard.reset()
    yield
    swallowed = list(guard.swallowed)
    guard.STRICT = False
    guard.reset()
    if swallowed and not request.node.get_closest_marker("expect_swallowed"):
        raise AssertionError(f"genai-tap swallowed errors during the test: {swallowed!r}") from swallowed[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "expect_swallowed: the test makes genai-tap swallow an error on purpose")
    config.addinivalue_line("markers", "slow: takes more than a couple of seconds (left out of `make test-fast`)")


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from genai_tap.emulator import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture
def fresh_emulator(emulator: Any) -> Any:
    emulator.reset()
    return emulator


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver().start()
    yield rec
    rec.stop()


@pytest.fixture
def otlp(receiver: Receiver) -> Receiver:
    receiver.clear()
    return receiver


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, emulator: Any) -> str:
    """Dummy credentials and the emulator as the Bedrock Runtime and Agent Runtime endpoint."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "GENAI_TAP_", "OTEL_INSTRUMENTATION_GENAI")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emulator.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", emulator.url)  # the emulator answers both
    return emulator.url


@pytest.fixture
def client(aws: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


class Telemetry:
    """genai-tap switched on in this process, exporting to in-memory readers."""

    def __init__(self, spans: Any, metrics: Any, sink: Any) -> None:
        self._spans = spans
        self._metrics = metrics
        self.sink = sink

    def spans(self) -> List[Any]:
        from genai_tap.finisher import finisher

        assert finisher.drain(30), "genai-tap's finisher did not finish the ended calls"
        return list(self._spans.get_finished_spans())

    def span(self) -> Any:
        spans = self.spans()
        assert len(spans) == 1, f"expected one span, got {[s.name for s in spans]}"
        return spans[0]

    def metric_points(self) -> Dict[str, List[Any]]:
        from genai_tap.finisher import finisher

        assert finisher.drain(30)
        data = self._metrics.get_metrics_data()
        out: Dict[str, List[Any]] = {}
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


@pytest.fixture
def tap(monkeypatch: pytest.MonkeyPatch, aws: str) -> Iterator[Telemetry]:
    """genai-tap on, with the OpenTelemetry sink writing to in-memory exporters."""
    yield from _tap(monkeypatch)


@pytest.fixture
def tap_no_content(monkeypatch: pytest.MonkeyPatch, aws: str) -> Iterator[Telemetry]:
    monkeypatch.setenv("GENAI_TAP_CAPTURE_CONTENT", "false")
    yield from _tap(monkeypatch)


def _tap(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    import botocore.client  # noqa: F401  (installed at once: botocore is already imported)
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import genai_tap
    from genai_tap import bootstrap
    from genai_tap.config import Config, reset_config
    from genai_tap.sinks.otel import OtelSink
    from genai_tap.tap import Tap, set_tap

    config = Config.from_env()
    reset_config(config)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    sink = OtelSink(config, tracer_provider=tracer_provider, meter_provider=meter_provider)
    set_tap(Tap(config, sinks=[sink]))
    assert bootstrap.start(config)
    try:
        yield Telemetry(spans, reader, sink)
    finally:
        genai_tap.uninstrument()
        set_tap(None)
        reset_config(None)


@pytest.fixture(scope="session")
def deterministic_emulator() -> Iterator[Any]:
    """An emulator whose ids are derived from the request: the same call gets the same answer
    (for comparing runs with and without genai-tap). Tests reset what they change."""
    from genai_tap.emulator import Emulator

    with Emulator(deterministic=True) as emu:
        yield emu
