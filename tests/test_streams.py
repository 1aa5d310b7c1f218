"""Streaming (InvokeModelWithResponseStream, ConverseStream): traced fully and invisibly.

For every way a stream can end (exhausted, break, close, error event, dropped
connection, abandoned), the app sees the same events and exceptions as without
genai-tap, and exactly one span ends, matching what happened.
"""

from __future__ import annotations

import gc
import json
import threading
from typing import Any, Dict, List, Tuple

import pytest
from botocore.eventstream import EventStream
from genai_tap_bedrock.streams import watched

from genai_tap import semconv as sc

NOVA_MSGS = [{"role": "user", "content": [{"text": "Stream me a story"}]}]

FAMILIES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "nova": ("amazon.nova-lite-v1:0", {"messages": NOVA_MSGS, "inferenceConfig": {"maxTokens": 300}}),
    "claude": ("anthropic.claude-3-haiku-20240307-v1:0", {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300, "messages": [{"role": "user", "content": "Stream me a story"}]}),
    "titan": ("amazon.titan-text-express-v1", {"inputText": "Stream me a story"}),
    "llama": ("meta.llama3-1-8b-instruct-v1:0", {"prompt": "Stream me a story", "max_gen_len": 300}),
    "mistral-text": ("mistral.mixtral-8x7b-instruct-v0:1", {"prompt": "<s>[INST] Stream me a story [/INST]"}),
    "mistral-chat": ("mistral.mistral-large-2407-v1:0", {"messages": [{"role": "user", "content": "Stream me a story"}]}),
    "cohere": ("cohere.command-r-plus-v1:0", {"message": "Stream me a story"}),
    "deepseek": ("deepseek.r1-v1:0", {"prompt": "Stream me a story"}),
    "gpt-oss": ("openai.gpt-oss-20b-1:0", {"messages": [{"role": "user", "content": "Stream me a story"}]}),
}
EXPECTED_TEXT = "Hello from the genai-tap emulator. You said: Stream me a story"


@pytest.fixture
def sclient(deterministic_emulator: Any, aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3
    from botocore.config import Config

    deterministic_emulator.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", deterministic_emulator.url)
    return boto3.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 1}))


def _invoke_stream(client: Any, family: str) -> Any:
    model, body = FAMILIES[family]
    return client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))["body"]


def _converse_stream(client: Any, **kw: Any) -> Any:
    kw.setdefault("modelId", "amazon.nova-lite-v1:0")
    kw.setdefault("messages", NOVA_MSGS)
    return client.converse_stream(**kw)["stream"]


def _consume(stream: Any) -> Tuple[List[Any], Any]:
    events: List[Any] = []
    try:
        for event in stream:
            events.append(event)
    except Exception as exc:  # noqa: BLE001
        return events, exc
    return events, None


def _bare_then_traced(request: pytest.FixtureRequest, make: Any, consume: Any = _consume) -> Tuple[Any, Any, Any]:
    """Run the same stream without and with genai-tap; returns (bare result, traced result, telemetry)."""
    bare = consume(make())
    tap = request.getfixturevalue("tap")
    traced = consume(make())
    return bare, traced, tap


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_invoke_stream_full_consumption(family: str, sclient: Any, request: pytest.FixtureRequest) -> None:
    (bare, _), (traced, err), tap = _bare_then_traced(request, lambda: _invoke_stream(sclient, family))
    assert err is None
    assert traced == bare  # same events, same order, same bytes
    span = tap.span()
    a = span.attributes
    model = FAMILIES[family][0]
    assert span.name.endswith(model)
    assert a[sc.REQUEST_STREAM] is True
    assert a[sc.BEDROCK_API] == "InvokeModelWithResponseStream"
    assert a[sc.STREAM_CHUNKS] == len(traced)
    assert sc.STREAM_STOPPED_EARLY not in a
    last = json.loads(traced[-1]["chunk"]["bytes"])
    metrics = last["amazon-bedrock-invocationMetrics"]
    assert a[sc.USAGE_INPUT_TOKENS] == metrics["inputTokenCount"]
    assert a[sc.USAGE_OUTPUT_TOKENS] == metrics["outputTokenCount"]
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    out = json.loads(a[sc.OUTPUT_MESSAGES])
    text = out[0]["parts"][-1]
    assert text["type"] == "text" and text["content"].startswith("Hello from the genai-tap emulator. You said: ")
    assert "Stream me a story" in text["content"]
    assert out[0]["finish_reason"] == "stop"
    ttfc = a[sc.RESPONSE_TIME_TO_FIRST_CHUNK]
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9
    assert span.status.status_code.name == "UNSET"


def test_running_totals_are_not_added_up(sclient: Any, deterministic_emulator: Any, tap: Any) -> None:
    """Titan and Llama send running totals per chunk; a peer sums them (36 instead of 9)."""
    deterministic_emulator.stream_chunks = 10
    events, _ = _consume(_invoke_stream(sclient, "titan"))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in events]
    assert len(chunks) == 10
    assert tap.span().attributes[sc.USAGE_OUTPUT_TOKENS] == chunks[-1]["totalOutputTextTokenCount"]


def test_converse_stream_full(sclient: Any, request: pytest.FixtureRequest) -> None:
    (bare, _), (traced, err), tap = _bare_then_traced(request, lambda: _converse_stream(sclient, system=[{"text": "be brief"}], inferenceConfig={"temperature": 0.2}))
    assert err is None and traced == bare
    a = tap.span().attributes
    usage = traced[-1]["metadata"]["usage"]
    assert tap.span().name == "chat amazon.nova-lite-v1:0"
    assert a[sc.BEDROCK_API] == "ConverseStream"
    assert a[sc.USAGE_INPUT_TOKENS] == usage["inputTokens"] and a[sc.USAGE_OUTPUT_TOKENS] == usage["outputTokens"]
    assert a[sc.REQUEST_TEMPERATURE] == 0.2
    assert json.loads(a[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]
    assert json.loads(a[sc.OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [{"type": "text", "content": EXPECTED_TEXT}], "finish_reason": "stop"}]


def test_converse_stream_tool_use_and_reasoning(sclient: Any, tap: Any) -> None:
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]}
    events, err = _consume(
        _converse_stream(
            sclient,
            modelId="us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            toolConfig=tools,
            additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
        )
    )
    assert err is None
    start = next(e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e)
    a = tap.span().attributes
    parts = json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"]
    assert [p["type"] for p in parts] == ["reasoning", "text", "tool_call"]
    assert parts[2] == {"type": "tool_call", "id": start["toolUseId"], "name": "get_weather", "arguments": {"city": "Paris"}}
    assert a[sc.RESPONSE_FINISH_REASONS] == ("tool_call",)


def test_claude_invoke_stream_tool_use(sclient: Any, tap: Any) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 300,
        "tools": [{"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
        "messages": [{"role": "user", "content": "look it up"}],
    }
    _consume(sclient.invoke_model_with_response_stream(modelId="anthropic.claude-3-5-haiku-20241022-v1:0", body=json.dumps(body))["body"])
    a = tap.span().attributes
    call = json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"][-1]
    assert call["type"] == "tool_call" and call["name"] == "lookup" and call["arguments"] == {"q": "example"}
    assert a[sc.RESPONSE_ID].startswith("msg_bdrk_") and a[sc.RESPONSE_MODEL] == "claude-3-5-haiku-20241022"


def test_openai_format_stream_tool_calls(sclient: Any, tap: Any) -> None:
    body = {"messages": [{"role": "user", "content": "weather?"}], "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}
    _consume(sclient.invoke_model_with_response_stream(modelId="ai21.jamba-1-5-large-v1:0", body=json.dumps(body))["body"])
    parts = json.loads(tap.span().attributes[sc.OUTPUT_MESSAGES])[0]["parts"]
    assert parts[-1]["type"] == "tool_call" and parts[-1]["arguments"] == {"city": "Paris"}


def test_early_break_after_one_chunk(sclient: Any, request: pytest.FixtureRequest) -> None:
    def first_only(stream: Any) -> List[Any]:
        got = []
        for event in stream:
            got.append(event)
            break
        return got

    bare, traced, tap = _bare_then_traced(request, lambda: _converse_stream(sclient), first_only)
    assert traced == bare and len(traced) == 1
    span = tap.span()  # ended at the break, before the function returned
    a = span.attributes
    assert a[sc.STREAM_STOPPED_EARLY] is True
    assert a[sc.STREAM_CHUNKS] == 1
    assert span.status.status_code.name == "UNSET"
    assert sc.ERROR_TYPE not in a


def test_partial_output_on_break_mid_text(sclient: Any, deterministic_emulator: Any, tap: Any) -> None:
    deterministic_emulator.stream_chunks = 6
    got = []
    for event in _converse_stream(sclient):
        got.append(event)
        if len(got) == 4:
            break
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in got if "contentBlockDelta" in e)
    a = tap.span().attributes
    assert json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": text}]
    assert sc.RESPONSE_FINISH_REASONS not in a


def test_close_before_the_first_chunk(sclient: Any, tap: Any) -> None:
    stream = _converse_stream(sclient)
    stream.close()
    span = tap.span()
    assert span.attributes[sc.STREAM_STOPPED_EARLY] is True
    assert span.attributes[sc.STREAM_CHUNKS] == 0
    assert span.status.status_code.name == "UNSET"
    stream.close()  # closing twice is harmless, as on botocore's stream
    assert len(tap.spans()) == 1


@pytest.mark.parametrize("error", ["modelStreamErrorException", "throttlingException", "validationException", "internalServerException", "serviceUnavailableException"])
def test_error_event_mid_stream(error: str, sclient: Any, deterministic_emulator: Any, request: pytest.FixtureRequest) -> None:
    def make() -> Any:
        deterministic_emulator.add_fault(error, after=3, operation="converse-stream")
        return _converse_stream(sclient)

    (bare, bare_exc), (traced, exc), tap = _bare_then_traced(request, make)
    assert traced == bare and len(traced) == 3
    assert type(exc) is type(bare_exc) and str(exc) == str(bare_exc)
    span = tap.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[sc.ERROR_TYPE] == error
    assert span.attributes[sc.STREAM_CHUNKS] == 3
    assert json.loads(span.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][0]["type"] == "text"  # partial output kept
    assert tap.metric_points()["gen_ai.client.operation.duration"][0].attributes[sc.ERROR_TYPE] == error


def test_error_event_in_invoke_stream(sclient: Any, deterministic_emulator: Any, tap: Any) -> None:
    deterministic_emulator.add_fault("modelStreamErrorException", after=2, operation="invoke-with-response-stream")
    events, exc = _consume(_invoke_stream(sclient, "claude"))
    assert exc is not None and len(events) == 2
    assert tap.span().attributes[sc.ERROR_TYPE] == "modelStreamErrorException"


def test_dropped_connection_mid_stream(sclient: Any, deterministic_emulator: Any, request: pytest.FixtureRequest) -> None:
    def make() -> Any:
        deterministic_emulator.add_fault("drop", after=4, operation="invoke-with-response-stream")
        return _invoke_stream(sclient, "nova")

    (bare, bare_exc), (traced, exc), tap = _bare_then_traced(request, make)
    assert traced == bare and len(traced) == 4
    assert type(exc) is type(bare_exc) and str(exc) == str(bare_exc)
    span = tap.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[sc.ERROR_TYPE] == f"{type(exc).__module__}.{type(exc).__qualname__}"


def test_abandoned_stream_is_ended_by_a_finalizer(sclient: Any, tap: Any) -> None:
    response = sclient.converse_stream(modelId="amazon.nova-lite-v1:0", messages=NOVA_MSGS)
    holder: List[Any] = [response]
    holder.append(holder)  # a reference cycle: only the garbage collector frees it
    assert tap.spans() == []  # still open: the app may come back to it
    del response, holder
    gc.collect()
    span = tap.span()
    assert span.attributes[sc.STREAM_STOPPED_EARLY] is True
    assert span.attributes[sc.STREAM_ABANDONED] is True
    assert span.attributes[sc.STREAM_CHUNKS] == 0
    assert span.status.status_code.name == "UNSET"


def test_iterator_dropped_mid_stream(sclient: Any, tap: Any) -> None:
    """The app stops reading part-way and keeps the stream a while: the call ends when it
    drops the stream (or closes it), as a stop by the app, not an abandoned stream."""
    stream = _converse_stream(sclient)
    next(iter(stream))  # the iterator is dropped at once: the app stopped reading
    assert tap.spans() == []
    del stream
    span = tap.span()
    assert span.attributes[sc.STREAM_STOPPED_EARLY] is True and span.attributes[sc.STREAM_CHUNKS] == 1
    assert sc.STREAM_ABANDONED not in span.attributes


def test_stream_is_transparent(sclient: Any, tap: Any, deterministic_emulator: Any) -> None:
    deterministic_emulator.stream_chunks = 5
    response = sclient.converse_stream(modelId="amazon.nova-lite-v1:0", messages=NOVA_MSGS)
    stream = response["stream"]
    assert isinstance(stream, EventStream)
    assert stream._operation_name == "ConverseStream"  # attribute access reaches the real stream
    it = iter(stream)
    next(it)
    next(it)
    assert len(watched(stream).seen) == 2  # nothing read ahead of the app
    rest = list(it)
    assert len(rest) == 7 and tap.span()  # messageStart, 5 deltas, blockStop, messageStop, metadata


def test_text_deltas_are_held_as_strings(sclient: Any, tap: Any, deterministic_emulator: Any) -> None:
    """Until the stream ends the proxy holds, per text delta, the text alone (a string the garbage
    collector never walks), not botocore's nested event dicts; the output is still complete."""
    deterministic_emulator.stream_chunks = 20
    stream = _converse_stream(sclient)
    events = list(stream)
    held = watched(stream).seen
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert len(deltas) == 20
    assert [h for h in held if type(h) is str] == deltas
    assert [h for h in held if type(h) is not str] == [e for e in events if "contentBlockDelta" not in e]
    out = json.loads(tap.span().attributes[sc.OUTPUT_MESSAGES])
    assert out[0]["parts"] == [{"type": "text", "content": "".join(deltas)}]


def test_without_content_capture_the_text_deltas_are_not_read(
    sclient: Any, tap_no_content: Any, deterministic_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content capture off: the finisher does not read the held text deltas (the reply is not
    recorded); only the first one's arrival counts, as the time to the first chunk."""
    from genai_tap_bedrock import operations

    reader = operations.converse_stream_reader
    read: List[Any] = []
    original = reader.read
    monkeypatch.setattr(reader, "read", lambda rec, state, kept: (read.append(kept), original(rec, state, kept)))
    deterministic_emulator.stream_chunks = 6
    stream = _converse_stream(sclient)
    events = list(stream)
    span = tap_no_content.span()
    a = span.attributes
    deltas = [i for i, e in enumerate(events) if "contentBlockDelta" in e]
    assert len(deltas) == 6
    assert read == [e for e in events if "contentBlockDelta" not in e]
    assert abs(a[sc.RESPONSE_TIME_TO_FIRST_CHUNK] - (watched(stream).times[deltas[0]] - span.start_time) / 1e9) < 1e-9
    assert a[sc.USAGE_OUTPUT_TOKENS] == events[-1]["metadata"]["usage"]["outputTokens"]
    assert a[sc.RESPONSE_FINISH_REASONS] and sc.OUTPUT_MESSAGES not in a


def test_invoke_stream_chunks_are_held_as_bytes(sclient: Any, tap: Any) -> None:
    stream = _invoke_stream(sclient, "claude")
    events = list(stream)
    assert watched(stream).seen == [e["chunk"]["bytes"] for e in events]
    assert json.loads(tap.span().attributes[sc.OUTPUT_MESSAGES])[0]["parts"][-1]["content"].startswith("Hello from")


def test_a_failing_keep_holds_the_event_itself(sclient: Any, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: the per-event step on the app's thread raises; the app's stream is unchanged
    and the call is still traced from the events held as they are."""
    from genai_tap_bedrock import operations

    bare, _ = _consume(_converse_stream(sclient))

    def broken(event: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(operations.converse_stream_reader, "keep", broken)
    tap = request.getfixturevalue("tap")
    traced, err = _consume(_converse_stream(sclient))
    assert err is None and traced == bare
    out = json.loads(tap.span().attributes[sc.OUTPUT_MESSAGES])
    assert out[0]["parts"][0]["content"] == EXPECTED_TEXT


def test_span_is_never_left_current(sclient: Any, tap: Any, client: Any) -> None:
    from opentelemetry import trace

    stream = _converse_stream(sclient)
    assert not trace.get_current_span().get_span_context().is_valid
    # an unrelated call while the stream is pending is not its child
    client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps({"messages": NOVA_MSGS}))
    _consume(stream)
    client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps({"messages": NOVA_MSGS}))
    first, stream_span, last = sorted(tap.spans(), key=lambda s: s.end_time)
    assert stream_span.attributes[sc.BEDROCK_API] == "ConverseStream"
    for span in (first, last):
        assert span.parent is None
        assert span.context.trace_id != stream_span.context.trace_id


def test_stream_span_has_the_callers_parent(sclient: Any, tap: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    app_tracer = TracerProvider().get_tracer("app")
    with app_tracer.start_as_current_span("handler") as parent:
        stream = _converse_stream(sclient)
    _consume(stream)
    span = tap.span()
    assert span.parent.span_id == parent.get_span_context().span_id


def test_stream_consumed_in_another_thread(sclient: Any, tap: Any) -> None:
    stream = _converse_stream(sclient)
    result: List[Any] = []
    worker = threading.Thread(target=lambda: result.append(_consume(stream)))
    worker.start()
    worker.join(30)
    events, err = result[0]
    assert err is None and events
    a = tap.span().attributes
    assert a[sc.STREAM_CHUNKS] == len(events) and sc.STREAM_STOPPED_EARLY not in a


def test_32_threads_streaming_at_once(deterministic_emulator: Any, sclient: Any, tap: Any) -> None:
    deterministic_emulator.chunk_delay_ms = 2
    barrier = threading.Barrier(32)
    results: Dict[int, Any] = {}

    def run(i: int) -> None:
        barrier.wait(30)
        stream = sclient.converse_stream(modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": f"thread {i}"}]}])["stream"]
        results[i] = _consume(stream)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 32 and all(err is None for _, err in results.values())
    spans = tap.spans()
    assert len(spans) == 32
    texts = sorted(json.loads(s.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"] for s in spans)
    assert texts == sorted(f"Hello from the genai-tap emulator. You said: thread {i}" for i in range(32))
    inputs = sorted(json.loads(s.attributes[sc.INPUT_MESSAGES])[0]["parts"][0]["content"] for s in spans)
    assert inputs == sorted(f"thread {i}" for i in range(32))


def test_stream_metrics(sclient: Any, deterministic_emulator: Any, tap: Any) -> None:
    deterministic_emulator.stream_chunks = 20
    deterministic_emulator.chunk_delay_ms = 5
    _consume(_converse_stream(sclient))
    points = tap.metric_points()
    ttfc = points[sc.METRIC_TIME_TO_FIRST_CHUNK][0]
    per_chunk = points[sc.METRIC_TIME_PER_OUTPUT_CHUNK][0]
    span = tap.span()
    assert ttfc.count == 1 and abs(ttfc.sum - span.attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK]) < 1e-9
    assert per_chunk.count == 1 and per_chunk.sum > 0
    assert points[sc.METRIC_OPERATION_DURATION][0].sum >= ttfc.sum
    assert span.attributes[sc.STREAM_CHUNKS] == 24  # messageStart + 20 deltas + stop events + metadata


def test_streaming_unsupported_model_error(sclient: Any, tap: Any) -> None:
    with pytest.raises(sclient.exceptions.ValidationException):
        sclient.invoke_model_with_response_stream(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "x"}))
    span = tap.span()
    assert span.attributes[sc.ERROR_TYPE] == "ValidationException" and span.attributes[sc.REQUEST_STREAM] is True


def test_no_content_streams(sclient: Any, tap_no_content: Any) -> None:
    _consume(_converse_stream(sclient))
    a = tap_no_content.span().attributes
    assert sc.OUTPUT_MESSAGES not in a and sc.INPUT_MESSAGES not in a
    assert a[sc.USAGE_OUTPUT_TOKENS] > 0 and a[sc.RESPONSE_FINISH_REASONS] == ("stop",)


LANGCHAIN_APP = """
from langchain_aws import ChatBedrockConverse
llm = ChatBedrockConverse(model="us.amazon.nova-lite-v1:0", region_name="us-east-1", temperature=0.1, max_tokens=200)
pieces = []
for chunk in llm.stream("Tell me about streams"):
    if isinstance(chunk.content, str):
        pieces.append(chunk.content)
    else:
        pieces.extend(p.get("text", "") for p in chunk.content if isinstance(p, dict))
print("".join(pieces))
"""


@pytest.mark.slow
def test_langchain_chat_bedrock_converse_streaming_under_genai_tap_run(deterministic_emulator: Any, otlp: Any, tmp_path: Any) -> None:
    """An unmodified LangChain app (langchain-aws), streaming, under ``genai-tap run``."""
    from .support.apps import aws_env, run_app

    env = aws_env(deterministic_emulator.url)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    bare = run_app(LANGCHAIN_APP, env, tmp_path, traced=False)
    traced = run_app(LANGCHAIN_APP, env, tmp_path, traced=True)
    assert bare.returncode == 0, bare.stderr
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == bare.stdout
    assert "Hello from the genai-tap emulator. You said: Tell me about streams" in traced.stdout
    spans = otlp.wait_for(otlp.spans)
    assert len(spans) == 1
    a = spans[0]["attributes"]
    assert a[sc.BEDROCK_API] == "ConverseStream" and a[sc.REQUEST_STREAM] is True
    assert a[sc.REQUEST_TEMPERATURE] == 0.1 and a[sc.REQUEST_MAX_TOKENS] == 200
    assert sc.STREAM_STOPPED_EARLY not in a
    assert "Tell me about streams" in json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"]
    assert a[sc.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_the_app_gets_botocores_own_stream_object(sclient: Any, tap: Any) -> None:
    """Watched in place: ``type()`` is botocore's, and the stream is freed (ending its span)
    as soon as the app drops it, not when the cyclic garbage collector comes by."""
    response = sclient.converse_stream(modelId="amazon.nova-lite-v1:0", messages=NOVA_MSGS)
    stream = response["stream"]
    assert type(stream) is EventStream
    gc.disable()
    try:
        del response, stream
        span = tap.span()
    finally:
        gc.enable()
    assert span.attributes[sc.STREAM_ABANDONED] is True


def test_a_stream_closed_in_the_expression_that_made_it(sclient: Any, tap: Any) -> None:
    sclient.converse_stream(modelId="amazon.nova-lite-v1:0", messages=NOVA_MSGS)["stream"].close()
    assert tap.span().attributes[sc.STREAM_STOPPED_EARLY] is True


def _stable(span: Any) -> Dict[str, Any]:
    volatile = {sc.AWS_REQUEST_ID, sc.RESPONSE_TIME_TO_FIRST_CHUNK}
    return {k: v for k, v in span.attributes.items() if k not in volatile}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["complete", "close", "error event", "invoke stream"])
def test_the_public_proxy_exports_what_the_in_place_watch_does(
    how: str, sclient: Any, deterministic_emulator: Any, tap: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream genai-tap does not know is watched through a proxy that uses only public
    methods; for the same calls it must export exactly the same spans and metrics."""
    from genai_tap_bedrock import streams

    def run() -> None:
        if how == "invoke stream":
            _consume(_invoke_stream(sclient, "claude"))
            return
        if how == "error event":
            deterministic_emulator.add_fault("modelStreamErrorException", after=3, operation="converse-stream")
        stream = _converse_stream(sclient)
        if how == "close":
            next(iter(stream))
            stream.close()
        else:
            _consume(stream)

    run()
    in_place = tap.spans()
    assert len(in_place) == 1
    tap._spans.clear()
    monkeypatch.setattr(streams, "_in_place", lambda stream: None)
    run()
    proxied = tap.spans()
    assert len(proxied) == 1
    assert _stable(proxied[0]) == _stable(in_place[0])
    assert (proxied[0].status.status_code, proxied[0].name) == (in_place[0].status.status_code, in_place[0].name)
    points = tap.metric_points()
    assert all(p.count == 2 for p in points[sc.METRIC_OPERATION_DURATION])  # both calls, one series
