"""genai-tap's OpenTelemetry shortcuts, their public fallbacks, and what the SDK says on the app's stderr.

With its own providers, genai-tap hands the batch processor finished ``ReadableSpan`` objects and
aggregates its metrics itself (docs/design.md has the figures). Neither is an API the SDK promises, so
each is checked once (``own_spans_fit``, ``own_points_fit``) and replaced by the SDK's public path where
the check fails. Here each fallback is forced, the same calls are made, and what reaches a real OTLP
receiver, decoded from the wire, must be the same. The metrics comparison is also the proof that
genai-tap's own aggregation is the SDK's default view of these instruments, point for point.
"""

from __future__ import annotations

import importlib
import logging
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from genai_tap import finisher as finisher_module
from genai_tap import semconv as sc
from genai_tap.sinks import otel, otel_logging, otel_metrics

from .support.apps import aws_env, run_app
from .support.otlp import Receiver

NOVA = "amazon.nova-lite-v1:0"
EMBED = "amazon.titan-embed-text-v2:0"
MESSAGES = [{"role": "user", "content": [{"text": "Why is the sky blue?"}]}]
#: differ from one call to the next whatever the path
VOLATILE = {sc.AWS_REQUEST_ID, sc.RESPONSE_TIME_TO_FIRST_CHUNK, sc.RESPONSE_ID, "genai_tap.bedrock.latency_ms"}


@pytest.fixture
def det_client(aws: str, deterministic_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client of the deterministic emulator (the same answers to the same calls)."""
    import boto3
    from botocore.config import Config

    deterministic_emulator.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", deterministic_emulator.url)
    return boto3.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


@contextmanager
def own_pipeline(monkeypatch: pytest.MonkeyPatch, receiver: Receiver, **env: str) -> Iterator[Any]:
    """genai-tap on, with its own providers exporting to ``receiver`` (as under ``genai-tap run``)."""
    import genai_tap
    from genai_tap import bootstrap
    from genai_tap.config import Config, reset_config
    from genai_tap.tap import Tap, set_tap

    otel_logging.reset()  # an earlier test's failed export would stop these exporters at shutdown
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "paths")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = Config.from_env()
    reset_config(config)
    sink = otel.OtelSink(config)
    set_tap(Tap(config, sinks=[sink]))
    assert bootstrap.start(config)
    try:
        yield sink
    finally:
        genai_tap.uninstrument()
        set_tap(None)
        reset_config(None)


def _calls(client: Any, emulator: Any) -> int:
    """A converse, a stream, an InvokeModel, embeddings and a failed call; the number of spans."""
    import json

    from botocore.exceptions import ClientError

    client.converse(modelId=NOVA, messages=MESSAGES, inferenceConfig={"maxTokens": 64, "temperature": 0.2})
    for _ in client.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"]:
        pass
    client.invoke_model(modelId=NOVA, body=json.dumps({"messages": MESSAGES}))["body"].read()
    client.invoke_model(modelId=EMBED, body=json.dumps({"inputText": "hello"}))["body"].read()
    emulator.add_fault("ThrottlingException")
    with pytest.raises(ClientError):
        client.converse(modelId=NOVA, messages=MESSAGES)
    return 5


def _export(monkeypatch: pytest.MonkeyPatch, otlp: Receiver, client: Any, emulator: Any, **env: str) -> Tuple[List[Any], List[Any]]:
    otlp.clear()
    with monkeypatch.context() as m, own_pipeline(m, otlp, **env) as sink:
        count = _calls(client, emulator)
        assert finisher_module.finisher.drain(30)
        sink.flush(10)
        sink.shutdown(10)
    spans = otlp.wait_for(otlp.spans, count)
    assert len(spans) == count
    return _stable_spans(spans), _stable_points(otlp)


def _stable_spans(spans: List[Dict[str, Any]]) -> List[Any]:
    names = {s["span_id"]: s["name"] for s in spans}
    out = []
    for s in spans:
        attrs = {k: v for k, v in s["attributes"].items() if k not in VOLATILE}
        out.append((s["name"], s["kind"], names.get(s["parent_span_id"]), s["status_code"], s["status_message"],
                    sorted((e["name"], sorted(e["attributes"].items())) for e in s["events"]),
                    sorted(attrs.items(), key=lambda kv: kv[0]), sorted(s["resource"].items()), s["scope"], s["end"] > s["start"]))
    return sorted(out, key=repr)


def _stable_points(otlp: Receiver) -> List[Any]:
    """Each GenAI series as exported: everything but times (and the exact durations). A
    cumulative series is its last point; a delta series, the sum of its points (which calls
    fall in which export depends on when they were finished)."""
    from genai_tap_collector.otlp import attributes

    series: Dict[Any, Any] = {}
    for msg in list(otlp.messages["/v1/metrics"]):
        for rm in msg.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if not m.name.startswith("gen_ai."):
                        continue
                    kind = m.WhichOneof("data")
                    data = getattr(m, kind)
                    delta = data.aggregation_temporality == 1
                    for p in data.data_points:
                        key = (m.name, m.unit, m.description, sm.scope.name, kind, data.aggregation_temporality,
                               tuple(sorted(attributes(p.attributes).items())))
                        if kind == "histogram":
                            value: Any = [p.count, tuple(p.explicit_bounds), p.HasField("min"), p.sum, list(p.bucket_counts), p.min, p.max]
                        else:
                            value = [p.as_int, m.sum.is_monotonic]
                        old = series.get(key)
                        if old is not None and delta:  # add this export's share
                            value[0] += old[0]
                            if kind == "histogram":
                                value[3] += old[3]
                                value[4] = [a + b for a, b in zip(old[4], value[4])]
                                value[5], value[6] = min(old[5], value[5]), max(old[6], value[6])
                        series[key] = value
    assert series, "no GenAI metrics arrived"
    out = []
    for key, value in series.items():
        if key[1] == "s":  # durations differ from one run to the next: their count and bounds only
            value = value[:3]
        out.append((key, tuple(tuple(v) if isinstance(v, list) else v for v in value)))
    return sorted(out, key=repr)


def test_the_shortcuts_fit_this_sdk() -> None:
    """On every OpenTelemetry release the matrix runs, the fast paths are the ones taken."""
    assert otel.own_spans_fit() and otel_metrics.own_points_fit()


@pytest.mark.slow
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
@pytest.mark.parametrize("fallback", ["sdk spans", "sdk instruments", "all"])
def test_each_fallback_exports_what_the_shortcut_does(
    fallback: str, temporality: str, monkeypatch: pytest.MonkeyPatch, otlp: Receiver, det_client: Any, deterministic_emulator: Any
) -> None:
    client = det_client
    env = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality}
    fast = _export(monkeypatch, otlp, client, deterministic_emulator, **env)
    if fallback in ("sdk spans", "all"):
        monkeypatch.setattr(otel, "own_spans_fit", lambda: False)
    if fallback in ("sdk instruments", "all"):
        monkeypatch.setattr(otel, "own_points_fit", lambda: False)
    slow = _export(monkeypatch, otlp, client, deterministic_emulator, **env)
    assert slow[0] == fast[0]
    assert slow[1] == fast[1]


@pytest.mark.slow
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_own_counters_are_the_sdks_with_the_latest_conventions(
    temporality: str, monkeypatch: pytest.MonkeyPatch, otlp: Receiver, det_client: Any, deterministic_emulator: Any
) -> None:
    """With OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental genai-tap also aggregates counters."""
    env = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality, "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}
    fast = _export(monkeypatch, otlp, det_client, deterministic_emulator, **env)
    assert any(key[0] == sc.METRIC_USAGE_INPUT_TOKENS and key[4] == "sum" for key, _ in fast[1])
    monkeypatch.setattr(otel, "own_points_fit", lambda: False)
    slow = _export(monkeypatch, otlp, det_client, deterministic_emulator, **env)
    assert slow[0] == fast[0]
    assert set(slow[1]) - set(fast[1]) == set(fast[1]) - set(slow[1]) == set()


def test_span_limits_are_the_sdks(monkeypatch: pytest.MonkeyPatch, otlp: Receiver, client: Any) -> None:
    """With a span limit configured, genai-tap's own provider makes SDK spans, so the SDK applies it."""
    otlp.clear()
    with own_pipeline(monkeypatch, otlp, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="12") as sink:
        assert sink._processor is None
        client.converse(modelId=NOVA, messages=MESSAGES)
        assert finisher_module.finisher.drain(30)
        sink.shutdown(10)
    span = otlp.wait_for(otlp.spans)[0]
    assert span["attributes"][sc.INPUT_MESSAGES] == '[{"role":"us'
    assert span["attributes"][sc.OPERATION_NAME] == "chat"


def test_the_botocore_instrumentations_registry_or_one_warning(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The Bedrock extension is taken out of opentelemetry-instrumentation-botocore's registry where it is
    the registry genai-tap knows; where it is not found, nothing is touched and one warning says what to do."""
    from genai_tap_bedrock import others

    module = importlib.import_module(others.OTEL_BOTOCORE_EXTENSIONS)
    registry = others._registry(module)
    assert registry is not None and callable(registry.get("bedrock-runtime")), "this instrumentation's registry is not recognised"
    monkeypatch.setattr(others, "REGISTRY_NAMES", ("_no_such_registry",))
    monkeypatch.setattr(others, "taken_over", False)
    monkeypatch.setattr(others, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="genai_tap"):
        assert others.take_over() is False
        assert others.take_over() is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "genai_tap"]
    assert len(warnings) == 1 and "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=botocore" in warnings[0]
    assert callable(registry.get("bedrock-runtime"))  # left as it was


# ------------------------------------------------------------------------------ settings and stderr

NOVA_APP = """
import json, boto3
client = boto3.client("bedrock-runtime")
body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
print(json.loads(client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps(body))["body"].read())["output"]["message"]["content"][0]["text"])
"""


@pytest.mark.slow
def test_each_bad_setting_is_one_warning_and_the_app_runs(emulator: Any, otlp: Receiver, tmp_path: Any) -> None:
    """Every OpenTelemetry setting genai-tap reads and cannot use: one line naming the variable, the
    value, the accepted values and what is done instead; the telemetry still arrives."""
    host_port = otlp.url.removeprefix("http://")
    env = aws_env(emulator.url)
    env.update(
        OTEL_SERVICE_NAME="bad-settings",
        OTEL_EXPORTER_OTLP_ENDPOINT=host_port,  # no scheme
        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        OTEL_TRACES_EXPORTER="zipkin",
        OTEL_METRIC_EXPORT_INTERVAL="soon",
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="sometimes",
        GENAI_TAP_CAPTURE_CONTENT="EVENT_ONLY",  # the logs exporter reads the endpoint and protocol too
    )
    proc = run_app(NOVA_APP, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    expected = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": (f"OTEL_EXPORTER_OTLP_ENDPOINT={host_port!r} is not supported; accepted values: an http:// "
                                        f"or https:// URL such as http://localhost:4318. Using http://{host_port}."),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported; accepted values: http/protobuf, grpc. Using http/protobuf.",
        "OTEL_TRACES_EXPORTER": "OTEL_TRACES_EXPORTER='zipkin' is not supported; accepted values: otlp, console, none. Using otlp.",
        "OTEL_METRIC_EXPORT_INTERVAL": "OTEL_METRIC_EXPORT_INTERVAL='soon' is not supported; accepted values: a positive number of milliseconds. Using 60000.",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE='sometimes' is not supported; "
                                                              "accepted values: cumulative, delta, lowmemory. Using cumulative."),
    }
    for variable, text in expected.items():
        assert [line for line in lines if variable in line] == [f"genai-tap: {text}"], proc.stderr
    assert len(lines) == len(expected), proc.stderr
    spans = [s for s in otlp.wait_for(otlp.spans) if s["resource"].get("service.name") == "bad-settings"]
    assert len(spans) == 1
    assert [e for e in otlp.wait_for(otlp.logs) if e["event_name"] == sc.EVENT_INFERENCE_DETAILS]


def test_export_trouble_is_one_line_through_genai_tap(caplog: pytest.LogCaptureFixture) -> None:
    """What the SDK's exporters and processors log goes through the genai_tap logger: the first
    problem once, at WARNING, the rest at DEBUG; nothing reaches the SDK's own loggers' handlers."""
    otel_logging.reset()
    otel_logging.quiet_exporter_logs()
    sdk = logging.getLogger("opentelemetry.sdk._shared_internal")
    exporter = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    seen: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    sdk.addHandler(keep)
    try:
        with caplog.at_level(logging.DEBUG, logger="genai_tap"):
            for _ in range(3):
                exporter.warning("Transient error %s encountered while exporting span batch, retrying in %.2fs.", "refused", 1.0)
                try:
                    raise ConnectionError("refused")
                except ConnectionError:
                    sdk.exception("Exception while exporting Span.")
    finally:
        sdk.removeHandler(keep)
        otel_logging.reset()
    assert not seen
    ours = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "genai_tap"]
    warnings = [m for level, m in ours if level >= logging.WARNING]
    assert warnings == ["genai-tap: exporting telemetry failed: Transient error refused encountered while exporting span batch, "
                        "retrying in 1.00s. Further export problems are logged at DEBUG (GENAI_TAP_LOG_LEVEL=DEBUG)."]
    assert len(ours) > len(warnings)  # the rest at DEBUG (the SDK may drop repeats of its own first)
