"""The GenAI conventions as published (v1.41, the default) and as they are now (the opt-in).

``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (a comma-separated list, as the
OpenTelemetry instrumentations read it) switches the names that changed since v1.41: the
cache-write token attribute, and the metrics (``gen_ai.client.inference.*`` durations,
usage counters with ``gen_ai.token.modality``, per-operation token histograms, embeddings'
own metrics). Without it nothing changes. docs/semconv.md has the table.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List

import pytest
from botocore.exceptions import ClientError

from genai_tap import semconv as sc

from .conftest import Telemetry, _tap

NOVA = "amazon.nova-lite-v1:0"
EMBED = "amazon.titan-embed-text-v2:0"
MESSAGES = [{"role": "user", "content": [{"text": "Why is the sky blue?"}]}]
V141 = {sc.METRIC_OPERATION_DURATION, sc.METRIC_TOKEN_USAGE, sc.METRIC_TIME_TO_FIRST_CHUNK, sc.METRIC_TIME_PER_OUTPUT_CHUNK}


@pytest.fixture(params=["gen_ai_latest_experimental", "http,gen_ai_latest_experimental", " GEN_AI_LATEST_EXPERIMENTAL "])
def latest(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, aws: str) -> Iterator[Telemetry]:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", request.param)
    yield from _tap(monkeypatch)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch, aws: str) -> Iterator[Telemetry]:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")  # another opt-in: not ours
    yield from _tap(monkeypatch)


def _calls(client: Any, emulator: Any) -> None:
    client.converse(modelId=NOVA, messages=MESSAGES)
    for _ in client.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"]:
        pass
    client.invoke_model(modelId=NOVA, body=json.dumps({"messages": MESSAGES}))["body"].read()
    client.invoke_model(modelId=EMBED, body=json.dumps({"inputText": "hello"}))["body"].read()
    emulator.add_fault("ThrottlingException")
    with pytest.raises(ClientError):
        client.converse(modelId=NOVA, messages=MESSAGES)


def _points(tel: Telemetry) -> Dict[str, List[Any]]:
    return tel.metric_points()


def _attrs(point: Any) -> Dict[str, Any]:
    return dict(point.attributes)


def test_the_published_conventions_by_default(published: Telemetry, client: Any, fresh_emulator: Any) -> None:
    _calls(client, fresh_emulator)
    points = _points(published)
    assert set(points) == V141
    assert {_attrs(p)[sc.TOKEN_TYPE] for p in points[sc.METRIC_TOKEN_USAGE]} == {"input", "output"}
    assert any(_attrs(p).get(sc.ERROR_TYPE) == "ThrottlingException" for p in points[sc.METRIC_OPERATION_DURATION])
    invoke = next(s for s in published.spans() if s.attributes[sc.BEDROCK_API] == "InvokeModel" and s.attributes[sc.OPERATION_NAME] == "chat")
    assert invoke.attributes[sc.USAGE_CACHE_WRITE_INPUT_TOKENS] == 0  # Nova's body reports it
    assert sc.USAGE_CACHE_WRITE_INPUT_TOKENS_LATEST not in invoke.attributes


def test_the_latest_conventions_with_the_opt_in(latest: Telemetry, client: Any, fresh_emulator: Any) -> None:
    _calls(client, fresh_emulator)
    points = _points(latest)
    assert not set(points) & {sc.METRIC_OPERATION_DURATION, sc.METRIC_TOKEN_USAGE, sc.METRIC_TIME_TO_FIRST_CHUNK}
    assert set(points) == {
        sc.METRIC_INFERENCE_DURATION, sc.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, sc.METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK,
        sc.METRIC_USAGE_INPUT_TOKENS, sc.METRIC_USAGE_OUTPUT_TOKENS, sc.METRIC_USAGE_CACHE_READ_INPUT_TOKENS,
        sc.METRIC_USAGE_CACHE_WRITE_INPUT_TOKENS, sc.METRIC_USAGE_REASONING_OUTPUT_TOKENS,
        sc.METRIC_INFERENCE_INPUT_TOKENS, sc.METRIC_INFERENCE_OUTPUT_TOKENS,
        sc.METRIC_EMBEDDINGS_DURATION, sc.METRIC_EMBEDDINGS_INPUT_TOKENS,
    }
    spans = latest.spans()
    chat = [s for s in spans if s.attributes[sc.OPERATION_NAME] == "chat"]
    # durations: one per inference call, failed ones with error.type
    assert sum(p.count for p in points[sc.METRIC_INFERENCE_DURATION]) == len(chat) == 4
    assert any(_attrs(p).get(sc.ERROR_TYPE) == "ThrottlingException" for p in points[sc.METRIC_INFERENCE_DURATION])
    assert sum(p.count for p in points[sc.METRIC_EMBEDDINGS_DURATION]) == 1
    # usage counters: modality unknown (Bedrock does not break usage down), no error.type, the
    # spans' totals; the failed call counts 0
    for name in (sc.METRIC_USAGE_INPUT_TOKENS, sc.METRIC_USAGE_OUTPUT_TOKENS, sc.METRIC_USAGE_CACHE_READ_INPUT_TOKENS):
        for p in points[name]:
            assert _attrs(p)[sc.TOKEN_MODALITY] == "unknown" and sc.ERROR_TYPE not in _attrs(p) and sc.TOKEN_TYPE not in _attrs(p)
    assert sum(p.value for p in points[sc.METRIC_USAGE_INPUT_TOKENS]) == sum(s.attributes.get(sc.USAGE_INPUT_TOKENS, 0) for s in chat)
    assert sum(p.value for p in points[sc.METRIC_USAGE_OUTPUT_TOKENS]) == sum(s.attributes.get(sc.USAGE_OUTPUT_TOKENS, 0) for s in chat)
    # per-operation histograms: every inference call, the failed one as 0, with error.type
    assert sum(p.count for p in points[sc.METRIC_INFERENCE_INPUT_TOKENS]) == 4
    failed = [p for p in points[sc.METRIC_INFERENCE_INPUT_TOKENS] if _attrs(p).get(sc.ERROR_TYPE) == "ThrottlingException"]
    assert len(failed) == 1 and failed[0].sum == 0 and failed[0].count == 1
    embed = points[sc.METRIC_EMBEDDINGS_INPUT_TOKENS][0]
    assert embed.sum == next(s for s in spans if s.attributes[sc.OPERATION_NAME] == "embeddings").attributes[sc.USAGE_INPUT_TOKENS]
    assert list(embed.explicit_bounds) == list(sc.TOKEN_BUCKETS)
    # the span attribute's new name
    invoke = next(s for s in chat if s.attributes[sc.BEDROCK_API] == "InvokeModel")
    assert invoke.attributes[sc.USAGE_CACHE_WRITE_INPUT_TOKENS_LATEST] == 0
    assert sc.USAGE_CACHE_WRITE_INPUT_TOKENS not in invoke.attributes


def test_other_operations_keep_the_operation_duration() -> None:
    """Neither inference nor embeddings (an agent, a tool, a retrieval): gen_ai.client.operation.duration."""
    from genai_tap.record import CallRecord
    from genai_tap.sinks.otel_metrics import measurements

    rec = CallRecord(api="InvokeAgent", operation=sc.OP_INVOKE_AGENT, request_model="agent", start_ns=1, end_ns=2_000_000_001)
    rec.input_tokens = 5
    _, latest = measurements(rec, latest=True)
    assert latest == [("duration", 2.0, None)]
    _, published = measurements(rec, latest=False)
    assert ("duration", 2.0, None) in published and ("tokens", 5, (sc.TOKEN_TYPE, "input")) in published
