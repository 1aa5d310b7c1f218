"""Async clients (aiobotocore, and so aioboto3): traced exactly like boto3's.

Each test drives the real aiobotocore client over real HTTP to the emulator. Where
it matters the same call is made through boto3 too, and the two spans must carry
the same attributes; the app must get the same bytes, events and exceptions with
and without genai-tap; every way a call or stream can end (including task
cancellation) ends its span once, and no span is ever left current.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

import pytest
from opentelemetry import trace

from genai_tap import semconv as sc

NOVA = "amazon.nova-lite-v1:0"
NOVA_MSGS = [{"role": "user", "content": [{"text": "Stream me a story"}]}]
NOVA_BODY = json.dumps({"messages": NOVA_MSGS, "inferenceConfig": {"maxTokens": 300, "temperature": 0.3}})
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
CLAUDE_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "A fairly long question so that the answer spans several small reads " * 3}],
    }
)
EXPECTED_TEXT = "Hello from the genai-tap emulator. You said: Stream me a story"
#: attributes that differ between two identical calls (ids the emulator makes, times)
VOLATILE = {sc.AWS_REQUEST_ID, sc.RESPONSE_TIME_TO_FIRST_CHUNK, sc.RESPONSE_ID, "genai_tap.bedrock.latency_ms"}


@pytest.fixture
def aio_env(deterministic_emulator: Any, aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    deterministic_emulator.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", deterministic_emulator.url)
    return deterministic_emulator


def aio_client() -> Any:
    """An aiobotocore Bedrock Runtime client (an async context manager); made through
    aioboto3's session instead when GENAI_TAP_TEST_ASYNC_CLIENTS=aioboto3 (the dependency
    matrix's aioboto3 set, scripts/test_matrix.py)."""
    from aiobotocore.config import AioConfig

    config = AioConfig(retries={"total_max_attempts": 1, "mode": "standard"})
    if os.environ.get("GENAI_TAP_TEST_ASYNC_CLIENTS") == "aioboto3":
        import aioboto3

        return aioboto3.Session().client("bedrock-runtime", config=config)
    from aiobotocore.session import get_session

    return get_session().create_client("bedrock-runtime", config=config)


def sync_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def run(fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """``fn(client)`` with a fresh async client, on a fresh event loop."""

    async def main() -> Any:
        async with aio_client() as client:
            return await fn(client)

    return asyncio.run(main())


def stable(span: Any) -> Dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if k not in VOLATILE}


async def consume(stream: Any) -> Tuple[List[Any], Optional[BaseException]]:
    events: List[Any] = []
    try:
        async for event in stream:
            events.append(event)
    except Exception as exc:  # noqa: BLE001
        return events, exc
    return events, None


# ---------------------------------------------------------------------------------------------
# every operation, the same span as through boto3


def test_converse_is_traced_like_boto3(aio_env: Any, tap: Any) -> None:
    kwargs = dict(modelId=NOVA, messages=NOVA_MSGS, system=[{"text": "be brief"}], inferenceConfig={"maxTokens": 50, "temperature": 0.2})
    sync_result = sync_client().converse(**kwargs)

    async def call(client: Any) -> Any:
        return await client.converse(**kwargs)

    async_result = run(call)
    assert async_result["output"] == sync_result["output"]
    first, second = sorted(tap.spans(), key=lambda s: s.start_time)
    assert first.name == second.name == f"chat {NOVA}"
    assert stable(second) == stable(first)
    assert second.attributes[sc.BEDROCK_API] == "Converse"
    assert json.loads(second.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"].startswith("Hello from")
    assert second.kind == trace.SpanKind.CLIENT


async def _read_all(body: Any) -> bytes:
    return await body.read()


async def _read_16(body: Any) -> bytes:
    out = b""
    while True:
        chunk = await body.read(16)
        if not chunk:
            return out
        out += chunk


async def _async_for(body: Any) -> bytes:
    return b"".join([chunk async for chunk in body])


async def _iter_chunks(body: Any) -> bytes:
    return b"".join([chunk async for chunk in body.iter_chunks(7)])


async def _iter_lines(body: Any) -> bytes:
    return b"\n".join([line async for line in body.iter_lines()])


async def _readinto(body: Any) -> bytes:
    out = b""
    while True:
        buf = bytearray(64)
        n = await body.readinto(buf)
        if not n:
            return out
        out += bytes(buf[:n])


async def _context_manager(body: Any) -> bytes:
    async with body as b:
        return await b.read()


READS: Dict[str, Callable[[Any], Awaitable[bytes]]] = {
    "read()": _read_all,
    "read(16) loop": _read_16,
    "async for": _async_for,
    "iter_chunks()": _iter_chunks,
    "iter_lines()": _iter_lines,
    "readinto()": _readinto,
    "async with": _context_manager,
}


@pytest.mark.slow
@pytest.mark.parametrize("how", sorted(READS))
def test_invoke_model_body_reads_the_same(how: str, aio_env: Any, request: pytest.FixtureRequest) -> None:
    read = READS[how]

    async def call(client: Any) -> Tuple[bytes, Any]:
        response = await client.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY)
        return await read(response["body"]), type(response["body"])

    bare, bare_type = run(call)  # without genai-tap
    tap = request.getfixturevalue("tap")
    traced, traced_type = run(call)
    assert traced == bare  # the same bytes (the emulator is deterministic)
    assert traced_type is bare_type  # the app's own body object, not a stand-in
    span = tap.span()
    a = span.attributes
    assert a[sc.BEDROCK_API] == "InvokeModel" and span.name == f"chat {CLAUDE}"
    assert a[sc.USAGE_INPUT_TOKENS] > 0 and a[sc.USAGE_OUTPUT_TOKENS] > 0
    out = json.loads(a[sc.OUTPUT_MESSAGES])
    assert out[0]["parts"][0]["content"].startswith("Hello from the genai-tap emulator")
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",)


def test_invoke_model_is_traced_like_boto3(aio_env: Any, tap: Any) -> None:
    sync_body = sync_client().invoke_model(modelId=NOVA, body=NOVA_BODY)["body"].read()

    async def call(client: Any) -> bytes:
        return await (await client.invoke_model(modelId=NOVA, body=NOVA_BODY))["body"].read()

    assert run(call) == sync_body
    first, second = sorted(tap.spans(), key=lambda s: s.start_time)
    assert stable(second) == stable(first)
    assert second.attributes[sc.REQUEST_TEMPERATURE] == 0.3


def test_nothing_is_read_ahead_of_the_app(aio_env: Any, tap: Any) -> None:
    """The call stays open while the app has not read the body, and ends once it has."""

    async def call(client: Any) -> None:
        response = await client.invoke_model(modelId=NOVA, body=NOVA_BODY)
        await asyncio.sleep(0.05)
        from genai_tap.finisher import finisher

        assert finisher.drain(5)
        assert tap._spans.get_finished_spans() == ()  # not ended: the body is unread
        first = await response["body"].read(10)
        assert len(first) == 10
        assert tap._spans.get_finished_spans() == ()
        await response["body"].read()

    run(call)
    assert json.loads(tap.span().attributes[sc.OUTPUT_MESSAGES])


@pytest.mark.slow
def test_an_unread_body_ends_its_call_when_dropped(aio_env: Any, tap: Any) -> None:
    async def call(client: Any) -> None:
        response = await client.invoke_model(modelId=NOVA, body=NOVA_BODY)
        response["body"].close()
        del response
        gc.collect()

    run(call)
    span = tap.span()
    assert sc.OUTPUT_MESSAGES not in span.attributes
    assert span.attributes[sc.USAGE_INPUT_TOKENS] > 0  # from the headers
    assert span.status.status_code.name == "UNSET"


def test_a_body_larger_than_the_limit_is_not_kept(aio_env: Any, tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tap.config import get_config

    monkeypatch.setattr(get_config(), "max_body_bytes", 50)

    async def call(client: Any) -> bytes:
        return await (await client.invoke_model(modelId=CLAUDE, body=CLAUDE_BODY))["body"].read()

    data = run(call)
    assert len(data) > 50 and json.loads(data)
    span = tap.span()
    assert sc.OUTPUT_MESSAGES not in span.attributes and span.attributes[sc.USAGE_OUTPUT_TOKENS] > 0


def test_converse_stream_full(aio_env: Any, request: pytest.FixtureRequest) -> None:
    async def call(client: Any) -> Any:
        response = await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS, system=[{"text": "be brief"}])
        return await consume(response["stream"])

    bare, err = run(call)
    tap = request.getfixturevalue("tap")
    traced, err = run(call)
    assert err is None and traced == bare
    span = tap.span()
    a = span.attributes
    assert a[sc.BEDROCK_API] == "ConverseStream" and a[sc.REQUEST_STREAM] is True
    assert a[sc.STREAM_CHUNKS] == len(traced)
    usage = traced[-1]["metadata"]["usage"]
    assert a[sc.USAGE_INPUT_TOKENS] == usage["inputTokens"] and a[sc.USAGE_OUTPUT_TOKENS] == usage["outputTokens"]
    assert json.loads(a[sc.OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [{"type": "text", "content": EXPECTED_TEXT}], "finish_reason": "stop"}]
    assert 0 < a[sc.RESPONSE_TIME_TO_FIRST_CHUNK] <= (span.end_time - span.start_time) / 1e9
    assert sc.STREAM_STOPPED_EARLY not in a


def test_converse_stream_is_traced_like_boto3(aio_env: Any, tap: Any) -> None:
    sync_events = list(sync_client().converse_stream(modelId=NOVA, messages=NOVA_MSGS)["stream"])

    async def call(client: Any) -> Any:
        return await consume((await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"])

    events, err = run(call)
    assert err is None and events == sync_events
    first, second = sorted(tap.spans(), key=lambda s: s.start_time)
    assert stable(second) == stable(first)


@pytest.mark.parametrize("model,body", [(NOVA, NOVA_BODY), (CLAUDE, CLAUDE_BODY)])
def test_invoke_model_with_response_stream(model: str, body: str, aio_env: Any, request: pytest.FixtureRequest) -> None:
    sync_events = list(sync_client().invoke_model_with_response_stream(modelId=model, body=body)["body"])
    tap = request.getfixturevalue("tap")
    unread = sync_client().invoke_model_with_response_stream(modelId=model, body=body)
    unread["body"].close()  # a stream closed unread: ends on its own

    async def call(client: Any) -> Any:
        return await consume((await client.invoke_model_with_response_stream(modelId=model, body=body))["body"])

    events, err = run(call)
    assert err is None and events == sync_events
    span = [s for s in tap.spans() if sc.STREAM_STOPPED_EARLY not in s.attributes][0]
    a = span.attributes
    assert a[sc.BEDROCK_API] == "InvokeModelWithResponseStream" and a[sc.STREAM_CHUNKS] == len(events)
    metrics = json.loads(events[-1]["chunk"]["bytes"])["amazon-bedrock-invocationMetrics"]
    assert a[sc.USAGE_OUTPUT_TOKENS] == metrics["outputTokenCount"]
    assert json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"][-1]["content"].startswith("Hello from the genai-tap emulator")


@pytest.mark.slow
def test_start_async_invoke(aio_env: Any, tap: Any) -> None:
    async def call(client: Any) -> Any:
        return await client.start_async_invoke(
            modelId="amazon.nova-reel-v1:0",
            modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat"}, "videoGenerationConfig": {"durationSeconds": 6}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
        )

    result = run(call)
    span = tap.span()
    assert span.name == "generate_content amazon.nova-reel-v1:0"
    assert span.attributes[sc.RESPONSE_ID] == result["invocationArn"]
    assert span.attributes[sc.BEDROCK_API] == "StartAsyncInvoke"


def test_an_error_reaches_the_app_unchanged(aio_env: Any, request: pytest.FixtureRequest) -> None:
    async def call(client: Any) -> BaseException:
        try:
            await client.converse(modelId="no.such-model-v1:0", messages=NOVA_MSGS)
        except Exception as exc:  # noqa: BLE001
            return exc
        raise AssertionError("no error")

    bare = run(call)
    tap = request.getfixturevalue("tap")
    traced = run(call)
    # each client makes its own exception classes: the same name, module and payload
    assert type(traced).__qualname__ == type(bare).__qualname__ and str(traced) == str(bare)
    assert traced.response["Error"] == bare.response["Error"]
    span = tap.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[sc.ERROR_TYPE] == "ValidationException"


# ---------------------------------------------------------------------------------------------
# how streams end


@pytest.mark.slow
def test_break_then_aclose(aio_env: Any, tap: Any) -> None:
    async def call(client: Any) -> None:
        stream = (await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"]
        events = stream.__aiter__()
        await events.__anext__()
        await events.aclose()

    run(call)
    span = tap.span()
    assert span.attributes[sc.STREAM_STOPPED_EARLY] is True and span.attributes[sc.STREAM_CHUNKS] == 1
    assert span.status.status_code.name == "UNSET"


@pytest.mark.slow
def test_break_and_drop(aio_env: Any, tap: Any) -> None:
    async def call(client: Any) -> None:
        stream = (await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"]
        async for _event in stream:
            break
        del stream
        gc.collect()
        await asyncio.sleep(0)  # the loop finalises the dropped iterator

    run(call)
    span = tap.span()
    assert span.attributes[sc.STREAM_STOPPED_EARLY] is True
    assert span.attributes[sc.STREAM_CHUNKS] == 1


def test_close_before_reading(aio_env: Any, tap: Any) -> None:
    async def call(client: Any) -> None:
        response = await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS)
        response["stream"].close()

    run(call)
    span = tap.span()
    assert span.attributes[sc.STREAM_STOPPED_EARLY] is True and span.attributes[sc.STREAM_CHUNKS] == 0


def test_abandoned_stream(aio_env: Any, tap: Any) -> None:
    async def call(client: Any) -> None:
        response = await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS)
        holder: List[Any] = [response]
        holder.append(holder)
        del response, holder
        gc.collect()

    run(call)
    span = tap.span()
    assert span.attributes[sc.STREAM_ABANDONED] is True and span.attributes[sc.STREAM_STOPPED_EARLY] is True


def test_error_event_mid_stream(aio_env: Any, request: pytest.FixtureRequest) -> None:
    async def call(client: Any) -> Any:
        aio_env.add_fault("modelStreamErrorException", after=3, operation="converse-stream")
        return await consume((await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"])

    bare_events, bare_err = run(call)
    tap = request.getfixturevalue("tap")
    events, err = run(call)
    assert events == bare_events and type(err) is type(bare_err) and str(err) == str(bare_err)
    span = tap.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[sc.ERROR_TYPE] == "modelStreamErrorException"
    assert span.attributes[sc.STREAM_CHUNKS] == 3


def test_task_cancelled_while_reading_a_stream(aio_env: Any, tap: Any) -> None:
    aio_env.chunk_delay_ms = 200

    async def call(client: Any) -> None:
        stream = (await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"]
        seen: List[Any] = []

        async def read() -> None:
            async for event in stream:
                seen.append(event)

        task = asyncio.ensure_future(read())
        while not seen:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(call)
    span = tap.span()
    a = span.attributes
    assert a[sc.STREAM_STOPPED_EARLY] is True and a[sc.STREAM_CANCELLED] is True
    assert span.status.status_code.name == "UNSET"


@pytest.mark.slow
def test_asyncio_timeout_while_reading_a_stream(aio_env: Any, tap: Any) -> None:
    aio_env.chunk_delay_ms = 300

    async def call(client: Any) -> None:
        stream = (await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(consume(stream), 0.1)

    run(call)
    assert tap.span().attributes[sc.STREAM_CANCELLED] is True


def test_task_cancelled_while_awaiting_the_call(aio_env: Any, tap: Any) -> None:
    aio_env.latency_ms = 500
    try:

        async def call(client: Any) -> None:
            task = asyncio.ensure_future(client.converse(modelId=NOVA, messages=NOVA_MSGS))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not trace.get_current_span().get_span_context().is_valid

        run(call)
    finally:
        aio_env.latency_ms = 0
    span = tap.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[sc.ERROR_TYPE] == "asyncio.exceptions.CancelledError"


def test_task_group_cancels_its_calls(aio_env: Any, tap: Any) -> None:
    """A TaskGroup whose task fails cancels the others: each of their spans ends."""
    aio_env.latency_ms = 300
    try:

        async def call(client: Any) -> None:
            async def fail() -> None:
                await asyncio.sleep(0.05)
                raise ValueError("one task failed")

            with pytest.raises(BaseException):  # noqa: B017 - ExceptionGroup from 3.11, ValueError on 3.10
                if hasattr(asyncio, "TaskGroup"):
                    async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
                        for i in range(3):
                            group.create_task(client.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": f"c{i}"}]}]))
                        group.create_task(fail())
                else:
                    tasks = [asyncio.ensure_future(client.converse(modelId=NOVA, messages=NOVA_MSGS)) for _ in range(3)]
                    try:
                        await asyncio.gather(*tasks, fail())
                    finally:
                        for t in tasks:
                            t.cancel()
                        await asyncio.gather(*tasks, return_exceptions=True)

        run(call)
    finally:
        aio_env.latency_ms = 0
    spans = tap.spans()
    assert len(spans) == 3
    assert {s.attributes[sc.ERROR_TYPE] for s in spans} == {"asyncio.exceptions.CancelledError"}


# ---------------------------------------------------------------------------------------------
# context: the awaiting task's span is the parent; genai-tap's span is never left current


@pytest.mark.slow
def test_parent_is_the_awaiting_tasks_span_for_hundreds_of_concurrent_calls(aio_env: Any, tap: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    aio_env.latency_ms = 20
    app_tracer = TracerProvider().get_tracer("app")
    parents: Dict[int, int] = {}
    try:

        async def one(client: Any, i: int) -> None:
            with app_tracer.start_as_current_span(f"request {i}") as span:
                parents[i] = span.get_span_context().span_id
                await client.converse(modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": f"request {i}"}]}])
                assert trace.get_current_span() is span  # genai-tap's span is not left current

        async def call(client: Any) -> None:
            await asyncio.gather(*(one(client, i) for i in range(200)))

        run(call)
    finally:
        aio_env.latency_ms = 0
    spans = tap.spans()
    assert len(spans) == 200
    for span in spans:
        prompt = json.loads(span.attributes[sc.INPUT_MESSAGES])[0]["parts"][0]["content"]
        i = int(prompt.split()[1])
        assert span.parent.span_id == parents[i]  # its own task's span, no cross-talk
        assert json.loads(span.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"].endswith(prompt)


def test_a_pending_stream_is_never_the_parent_of_other_work(aio_env: Any, tap: Any) -> None:
    async def call(client: Any) -> None:
        stream = (await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"]
        assert not trace.get_current_span().get_span_context().is_valid
        await client.converse(modelId=NOVA, messages=NOVA_MSGS)
        await consume(stream)

    run(call)
    stream_span, other = sorted(tap.spans(), key=lambda s: s.attributes[sc.BEDROCK_API], reverse=True)
    assert stream_span.attributes[sc.BEDROCK_API] == "ConverseStream"
    assert other.parent is None and other.context.trace_id != stream_span.context.trace_id


# ---------------------------------------------------------------------------------------------
# the event loop is never blocked by genai-tap's set-up


@pytest.mark.slow
def test_the_first_call_sets_up_off_the_event_loop(aio_env: Any, tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tap_bedrock import interceptor

    from genai_tap.tap import Tap

    threads: List[str] = []
    real_prepare = Tap.prepare

    def prepare(self: Any) -> None:
        threads.append(threading.current_thread().name)
        real_prepare(self)

    monkeypatch.setattr(Tap, "prepare", prepare)
    monkeypatch.setattr(interceptor, "_warm_done", False)
    monkeypatch.setattr(interceptor, "_operations", {})

    loop_thread: List[str] = []

    async def call(client: Any) -> None:
        loop_thread.append(threading.current_thread().name)
        await asyncio.gather(*(client.converse(modelId=NOVA, messages=NOVA_MSGS) for _ in range(5)))

    run(call)
    assert threads == ["genai-tap-warm-up"] and loop_thread != threads  # once, on its own thread
    assert len(tap.spans()) == 5


# ---------------------------------------------------------------------------------------------
# sinks and failures


def test_metrics_include_time_to_first_chunk(aio_env: Any, tap: Any) -> None:
    aio_env.stream_chunks = 10

    async def call(client: Any) -> None:
        await consume((await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"])
        await client.converse(modelId=NOVA, messages=NOVA_MSGS)

    run(call)
    points = tap.metric_points()
    assert len(points[sc.METRIC_OPERATION_DURATION]) == 1 and points[sc.METRIC_OPERATION_DURATION][0].count == 2
    assert points[sc.METRIC_TIME_TO_FIRST_CHUNK][0].count == 1
    assert points[sc.METRIC_TIME_PER_OUTPUT_CHUNK][0].count == 1
    assert sum(p.count for p in points[sc.METRIC_TOKEN_USAGE]) == 4


def test_content_off(aio_env: Any, tap_no_content: Any) -> None:
    async def call(client: Any) -> None:
        await consume((await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"])
        await (await client.invoke_model(modelId=NOVA, body=NOVA_BODY))["body"].read()

    run(call)
    for span in tap_no_content.spans():
        assert not any(k in span.attributes for k in (sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.SYSTEM_INSTRUCTIONS))
        assert "Stream me a story" not in json.dumps(dict(span.attributes))


@pytest.mark.slow
@pytest.mark.expect_swallowed
def test_a_parser_that_raises(aio_env: Any, tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tap_bedrock.formats.nova import Nova

    def boom(*_: Any) -> None:
        raise RuntimeError("broken parser")

    monkeypatch.setattr(Nova, "parse_response", boom)
    monkeypatch.setattr(Nova, "parse_chunk", boom)

    async def call(client: Any) -> Any:
        body = await (await client.invoke_model(modelId=NOVA, body=NOVA_BODY))["body"].read()
        events = await consume((await client.invoke_model_with_response_stream(modelId=NOVA, body=NOVA_BODY))["body"])
        return body, events

    body, (events, err) = run(call)
    assert json.loads(body)["output"]["message"]["content"][0]["text"].startswith("Hello")
    assert err is None and events
    assert len(tap.spans()) == 2


@pytest.mark.expect_swallowed
def test_a_sink_that_raises(aio_env: Any, tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("broken sink")

    monkeypatch.setattr(tap.sink, "start", boom)

    async def call(client: Any) -> Any:
        return await client.converse(modelId=NOVA, messages=NOVA_MSGS)

    assert run(call)["output"]["message"]["content"][0]["text"].startswith("Hello")
    assert tap.spans() == []


def test_dropped_connection_mid_stream(aio_env: Any, request: pytest.FixtureRequest) -> None:
    async def call(client: Any) -> Any:
        aio_env.add_fault("drop", after=2, operation="converse-stream")
        return await consume((await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"])

    bare_events, bare_err = run(call)
    tap = request.getfixturevalue("tap")
    events, err = run(call)
    assert events == bare_events and type(err) is type(bare_err)
    span = tap.span()
    assert span.status.status_code.name == "ERROR" and span.attributes[sc.STREAM_CHUNKS] == len(events)


async def _aiter(items: List[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


@pytest.mark.slow
def test_the_app_gets_aiobotocores_own_stream_object(aio_env: Any, tap: Any) -> None:
    from aiobotocore.eventstream import AioEventStream

    async def call(client: Any) -> None:
        response = await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS)
        assert type(response["stream"]) is AioEventStream
        await consume(response["stream"])

    run(call)
    assert tap.span().attributes[sc.BEDROCK_API] == "ConverseStream"


@pytest.mark.slow
def test_a_stream_iterated_without_a_name_and_one_dropped_unread(aio_env: Any, tap: Any) -> None:
    """Nothing but the running ``async for`` holds the first stream: it is read to its end. The
    second, dropped unread, is freed at once (no reference cycle), which ends its span."""

    async def call(client: Any) -> None:
        chunks = 0
        async for event in (await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS))["stream"]:
            chunks += "contentBlockDelta" in event
        assert chunks > 1
        gc.disable()
        try:
            await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS)
            assert len(tap.spans()) == 2  # the second ended with no garbage collection
        finally:
            gc.enable()

    run(call)
    read, dropped = tap.spans()
    assert sc.STREAM_STOPPED_EARLY not in read.attributes and read.attributes[sc.STREAM_CHUNKS] > 1
    assert dropped.attributes[sc.STREAM_ABANDONED] is True


def test_an_async_stream_class_whose_aiter_is_not_as_expected_is_proxied() -> None:
    """The in-place watch relies on ``AioEventStream.__aiter__`` returning ``self.__anext__()``
    (looked up on the instance); a class that iterates otherwise gets the public proxy."""
    from aiobotocore.eventstream import AioEventStream
    from genai_tap_bedrock import streams

    assert streams._hook_for(AioEventStream) is streams._hook_async

    async def own_anext(self: Any) -> Any:
        async for event in self._event_generator:
            yield await self._parse_event(event)

    def own_aiter(self: Any) -> Any:
        return own_anext(self)

    other = type("AioEventStream", (AioEventStream,), {"__module__": AioEventStream.__module__, "__aiter__": own_aiter})
    assert streams._hook_for(other) is None


@pytest.mark.slow
@pytest.mark.parametrize("how", ["complete", "close", "error event", "cancelled"])
def test_the_public_proxy_exports_what_the_in_place_watch_does(how: str, aio_env: Any, tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tap_bedrock import streams

    async def call(client: Any) -> None:
        if how == "error event":
            aio_env.add_fault("modelStreamErrorException", after=3, operation="converse-stream")
        aio_env.chunk_delay_ms = 100 if how == "cancelled" else 0
        response = await client.converse_stream(modelId=NOVA, messages=NOVA_MSGS)
        if how == "close":
            await response["stream"].__aiter__().__anext__()
            response["stream"].close()
        elif how == "cancelled":
            try:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(consume(response["stream"]), 0.25)
            finally:
                aio_env.chunk_delay_ms = 0
        else:
            await consume(response["stream"])

    run(call)
    in_place = tap.spans()
    tap._spans.clear()
    monkeypatch.setattr(streams, "_in_place", lambda stream: None)
    run(call)
    proxied = tap.spans()
    assert len(in_place) == len(proxied) == 1
    volatile = VOLATILE | {sc.STREAM_CHUNKS} if how == "cancelled" else VOLATILE  # how far it got is timing
    assert {k: v for k, v in proxied[0].attributes.items() if k not in volatile} == {
        k: v for k, v in in_place[0].attributes.items() if k not in volatile
    }
    assert proxied[0].status.status_code == in_place[0].status.status_code
