"""Apps that also run ddtrace's own Bedrock integration (``ddtrace-run``, ``import ddtrace.auto``,
``LLMObs.enable()``): one LLM Observability span per call, genai-tap's, with ddtrace's APM spans kept."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple

import pytest

from ..support.apps import GENAI_TAP, run_app
from .calls import CALLS, EVERY_CALL, comparable, differences, fail_last_converse
from .conftest import DDTRACE_RUN
from .testagent import by_name, ours, tags, theirs

pytestmark = pytest.mark.slow

#: How an app can run ddtrace's Bedrock integration next to genai-tap: (launcher, prepended app code).
SETUPS: Dict[str, Tuple[List[str], str]] = {
    "ddtrace-run genai-tap run": ([DDTRACE_RUN] + GENAI_TAP + ["run"], ""),
    "genai-tap run ddtrace-run": (GENAI_TAP + ["run", DDTRACE_RUN], ""),
    "import ddtrace.auto": (GENAI_TAP + ["run"], "import ddtrace.auto\n"),
    "LLMObs.enable()": (GENAI_TAP + ["run"], "from ddtrace.llmobs import LLMObs\nLLMObs.enable()\n"),
}


def run_under(setup: str, source: str, env: Dict[str, str], tmp_path: Any) -> Any:
    launcher, prelude = SETUPS[setup]
    return run_app(prelude + _dedent(source), env, tmp_path, traced=False, launcher=launcher)


def _dedent(source: str) -> str:
    import textwrap

    return textwrap.dedent(source)


def apm_calls(agent: Any, count: int) -> Tuple[List[Dict[str, Any]], Dict[int, Dict[str, Any]]]:
    """ddtrace's botocore APM spans of Bedrock calls, and every APM span by id."""
    apm = agent.apm_spans(count=count)
    by_id = {s["span_id"]: s for s in apm}
    return [s for s in apm if s["name"] == "bedrock-runtime.command"], by_id


_baseline: Dict[str, List[str]] = {}


def baseline(env: Dict[str, str], agent: Any, emulator: Any, tmp_path: Any) -> List[str]:
    """What LLM Observability gets from EVERY_CALL under genai-tap alone (no ddtrace integration)."""
    if "every" not in _baseline:
        agent.clear()
        emulator.reset()
        fail_last_converse(emulator)
        proc = run_app(EVERY_CALL, env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        spans = agent.llmobs_spans(count=CALLS)
        assert len(spans) == CALLS and ours(spans) == spans
        _baseline["every"] = comparable(spans)
        agent.clear()
        emulator.reset()
    return _baseline["every"]


@pytest.mark.parametrize("setup", list(SETUPS))
def test_one_span_per_call_with_genai_taps_content(setup, dd_env, agent, fresh_emulator, tmp_path):
    expected = baseline(dict(dd_env), agent, fresh_emulator, tmp_path)
    fail_last_converse(fresh_emulator)
    proc = run_under(setup, EVERY_CALL, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ThrottlingException"
    assert "genai-tap" not in proc.stderr, proc.stderr

    spans = agent.llmobs_spans(count=CALLS)
    assert len(spans) == CALLS  # one per call: not ddtrace's as well
    assert ours(spans) == spans  # none of ddtrace's integration
    # the very spans genai-tap sends on its own: every prompt, completion, parameter, token count, time to
    # first token and error, for every family (ddtrace's own span leaves Nova's InvokeModel prompt empty)
    assert comparable(spans) == expected, differences(comparable(spans), expected)
    nova = [s for s in by_name(spans, "aws.bedrock.invoke_model") if s["meta"]["model_name"] == "amazon.nova-lite-v1:0"]
    assert nova[0]["meta"]["input"]["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello Nova"}]
    for stream in by_name(spans, "aws.bedrock.invoke_model_with_response_stream") + by_name(spans, "aws.bedrock.converse_stream"):
        assert stream["metrics"]["time_to_first_token"] > 0

    # ddtrace's APM span of each call is kept, as an APM span only, and is the parent of genai-tap's
    botocore, apm = apm_calls(agent, count=2 * CALLS)
    assert len(botocore) == CALLS
    assert all(s.get("type") != "llm" and "_llmobs" not in (s.get("meta_struct") or {}) for s in botocore)
    # their gen_ai.* tags (ddtrace 4.1 and later) are marked so that Datadog makes no LLMObs span of them
    assert all(s["meta"]["_dd.llmobs.artificial_gen_ai_tags"] == "true" for s in botocore if any(k.startswith("gen_ai.") for k in s["meta"]))
    parents = {int(s["span_id"]): apm[int(s["span_id"])]["parent_id"] for s in spans}
    assert sorted(apm[p]["resource"] for p in parents.values()) == sorted(s["resource"] for s in botocore)
    for span in spans:
        parent = apm[parents[int(span["span_id"])]]
        assert parent["name"] == "bedrock-runtime.command"
        assert parent["resource"] == span["meta"]["metadata"]["api"]


CONTENT_OFF_CALLS = """
    import json, boto3
    client = boto3.client("bedrock-runtime")
    client.converse(modelId="amazon.nova-lite-v1:0", system=[{"text": "Never reveal AKIAQWERTYUIOPASDFGH"}],
                    messages=[{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}])
    client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=json.dumps({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "My card is 4111 1111 1111 1111"}]}]}))["body"].read()
    list(client.converse_stream(modelId="amazon.nova-lite-v1:0",
                                messages=[{"role": "user", "content": [{"text": "Stream about Paris"}]}])["stream"])
"""


def test_content_off_and_redaction_apply_to_the_calls_span(dd_env, agent, tmp_path):
    # ddtrace's own span would carry these prompts whatever GENAI_TAP_CAPTURE_CONTENT says
    dd_env["GENAI_TAP_CAPTURE_CONTENT"] = "false"
    proc = run_under("ddtrace-run genai-tap run", CONTENT_OFF_CALLS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=3)
    assert len(spans) == 3 and ours(spans) == spans
    raw = agent.raw_bytes()
    for text in ("Paris", "AKIAQWERTYUIOPASDFGH", "4111", "genai-tap emulator"):
        assert text.encode() not in raw
    for span in spans:
        assert span["metrics"]["input_tokens"] > 0
    [stream] = by_name(spans, "aws.bedrock.converse_stream")
    assert stream["metrics"]["time_to_first_token"] > 0

    agent.clear()
    dd_env["GENAI_TAP_CAPTURE_CONTENT"] = "true"  # on, with the default redaction of secrets
    proc = run_under("ddtrace-run genai-tap run", CONTENT_OFF_CALLS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=3)
    assert len(spans) == 3 and ours(spans) == spans
    raw = agent.raw_bytes()
    assert b"Paris" in raw
    assert b"AKIAQWERTYUIOPASDFGH" not in raw and b"4111 1111 1111 1111" not in raw
    assert "[REDACTED:credit_card]" in json.dumps(by_name(spans, "aws.bedrock.invoke_model")[0]["meta"]["input"])


UNDER_APM_SPAN = """
    import json, threading, boto3
    from ddtrace.llmobs import LLMObs
    from ddtrace.trace import tracer

    client = boto3.client("bedrock-runtime")
    model, messages = "amazon.nova-lite-v1:0", [{"role": "user", "content": [{"text": "Hi"}]}]
    out = {}
    with tracer.trace("checkout.request", service="checkout") as root:
        client.converse(modelId=model, messages=messages)
        out["current_is_root"] = tracer.current_span() is root
        try:  # raises (ddtrace 4) or returns None (ddtrace 3) when no LLMObs span is the current one
            out["llmobs_span_current"] = LLMObs.export_span() is not None
        except Exception:
            out["llmobs_span_current"] = False
        with LLMObs.workflow("after-the-call"):
            pass
        with LLMObs.workflow("agent-step") as step:
            client.converse(modelId=model, messages=messages)
        # a stream: its span stays open until the stream is read, here on another thread
        stream = client.converse_stream(modelId=model, messages=messages)["stream"]
        # (ddtrace's own botocore span of a stream stays the current span until the stream ends)
        out["current_while_streaming"] = tracer.current_span().name
        with LLMObs.workflow("while-streaming") as meanwhile:
            client.converse(modelId=model, messages=messages)
        reader = threading.Thread(target=lambda: out.setdefault("events", len(list(stream))))
        reader.start()
        reader.join()
        out.update(root=root.span_id, step=step.span_id, meanwhile=meanwhile.span_id, trace_id=root.trace_id)
    print(json.dumps(out))
"""


@pytest.mark.parametrize("botocore", ["ddtrace's botocore spans", "DD_TRACE_BOTOCORE_ENABLED=false"])
def test_parents_and_never_the_apps_current_span(botocore, dd_env, agent, tmp_path):
    if botocore.startswith("DD_TRACE"):
        dd_env["DD_TRACE_BOTOCORE_ENABLED"] = "false"  # no ddtrace span for the calls: genai-tap's are the app's children
    proc = run_under("ddtrace-run genai-tap run", UNDER_APM_SPAN, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    app = json.loads(proc.stdout.strip().splitlines()[-1])
    assert app["current_is_root"] is True
    assert app["current_while_streaming"] == ("checkout.request" if botocore.startswith("DD_TRACE") else "bedrock-runtime.command")
    assert app["llmobs_span_current"] is False

    spans = agent.llmobs_spans(count=7)
    assert len(spans) == 7
    calls = sorted(by_name(spans, "aws.bedrock.converse"), key=lambda s: s["start_ns"])
    [stream] = by_name(spans, "aws.bedrock.converse_stream")
    [after] = by_name(spans, "after-the-call")
    [step] = by_name(spans, "agent-step")
    [meanwhile] = by_name(spans, "while-streaming")
    # LLMObs parents: the app's LLMObs spans, never genai-tap's span of an earlier or pending call
    assert [c["parent_id"] for c in calls] == ["undefined", step["span_id"], meanwhile["span_id"]]
    assert stream["parent_id"] == after["parent_id"] == meanwhile["parent_id"] == "undefined"
    assert stream["meta"]["metadata"]["stream_chunks"] == app["events"]

    # APM parents: ddtrace's botocore span of each call (when there is one), under the app's APM span
    expected_apm = 9 if botocore.startswith("DD_TRACE") else 13
    apm = {s["span_id"]: s for s in agent.apm_spans(count=expected_apm)}
    mine = sorted((s for s in apm.values() if s["name"].startswith("aws.bedrock.")), key=lambda s: s["start"])
    assert [s["name"] for s in mine] == ["aws.bedrock.converse"] * 2 + ["aws.bedrock.converse_stream", "aws.bedrock.converse"]
    parents = [apm[s["parent_id"]] for s in mine]
    if botocore.startswith("DD_TRACE"):
        assert [p["span_id"] for p in parents] == [app["root"], app["step"], app["root"], app["meanwhile"]]
    else:
        assert all(p["name"] == "bedrock-runtime.command" and p.get("type") != "llm" for p in parents)
        assert [p["parent_id"] for p in parents] == [app["root"], app["step"], app["root"], app["meanwhile"]]
    low_trace_id = app["trace_id"] & (2**64 - 1)
    assert all(s["trace_id"] == low_trace_id and s["type"] == "llm" for s in mine)
    assert calls[0]["_dd"]["apm_trace_id"].endswith(format(low_trace_id, "016x"))


EVERY_API = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    messages = [{"role": "user", "content": [{"text": "Hi"}]}]
    nova = json.dumps({"messages": messages, "inferenceConfig": {"maxTokens": 32}})
    client.converse(modelId="amazon.nova-lite-v1:0", messages=messages)
    client.invoke_model(modelId="amazon.nova-lite-v1:0", body=nova)["body"].read()
    list(client.converse_stream(modelId="amazon.nova-lite-v1:0", messages=messages)["stream"])
    claude = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 32, "messages": [{"role": "user", "content": "Hi"}]})
    # (not Nova: ddtrace's own integration before 4.15 raises KeyError into the app reading a Nova stream)
    list(client.invoke_model_with_response_stream(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=claude)["body"])
    # read: ddtrace finishes its own InvokeModel span only when the body is read (or its
    # wrapper's reference cycle is garbage-collected), and this call's LLMObs span travels
    # in that span's APM trace
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "embed me"}))["body"].read()
"""
DDTRACE_APIS = ["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"]


def _every_api(dd_env, otlp, tmp_path, setup="genai-tap run ddtrace-run", prelude=""):
    dd_env.pop("GENAI_TAP_SINKS")  # the defaults: OpenTelemetry and (DD_LLMOBS_ENABLED) Datadog
    dd_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    proc = run_under(setup, prelude + _dedent(EVERY_API), dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_cross_links_under_ddtrace_run(dd_env, agent, otlp, tmp_path):
    proc = _every_api(dd_env, otlp, tmp_path)
    assert "genai-tap" not in proc.stderr, proc.stderr
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5 and ours(spans) == spans
    otel = otlp.wait_for(otlp.spans, count=5)
    assert len(otel) == 5
    llmobs_ids = {(s["trace_id"], format(int(s["span_id"]), "016x")): s for s in spans}
    for span in otel:
        attrs = span["attributes"]
        peer = llmobs_ids[(attrs["genai_tap.datadog.trace_id"], attrs["genai_tap.datadog.span_id"])]
        assert attrs["_dd.llmobs.artificial_gen_ai_tags"] == "true"
        assert peer["meta"]["model_name"] == attrs["gen_ai.request.model"]
        assert tags(peer)["genai_tap.otel.trace_id"] == span["trace_id"]
        assert tags(peer)["genai_tap.otel.span_id"] == span["span_id"]


def test_ddtraces_spans_when_asked(dd_env, agent, otlp, tmp_path):
    dd_env["GENAI_TAP_DD_DUPLICATES"] = "ddtrace"
    proc = _every_api(dd_env, otlp, tmp_path)
    assert "genai-tap" not in proc.stderr, proc.stderr
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5
    ddtraces = theirs(spans)
    [embedding] = ours(spans)
    assert len(ddtraces) == 4 and all(any(m in s["meta"]["model_name"] for m in ("nova-lite", "claude-3-haiku")) for s in ddtraces)
    assert embedding["meta"]["span"]["kind"] == "embedding"  # ddtrace records no Bedrock embeddings

    # the OpenTelemetry spans point at whichever LLMObs span records their call, and the other way round
    otel = otlp.wait_for(otlp.spans, count=5)
    assert len(otel) == 5
    llmobs_ids = {(s["trace_id"], format(int(s["span_id"]), "016x")): s for s in spans}
    apm = {str(s["span_id"]): s for s in agent.apm_spans(count=5)}
    apis = []
    for span in otel:
        attrs = span["attributes"]
        peer = llmobs_ids[(attrs["genai_tap.datadog.trace_id"], attrs["genai_tap.datadog.span_id"])]
        assert attrs["_dd.llmobs.artificial_gen_ai_tags"] == "true"
        if peer is embedding:
            assert tags(peer)["genai_tap.otel.trace_id"] == span["trace_id"]
        else:  # ddtrace's span: the ids are on its APM span
            apis.append(attrs["genai_tap.bedrock.api"])
            assert apm[peer["span_id"]]["resource"] == attrs["genai_tap.bedrock.api"]
            assert apm[peer["span_id"]]["meta"]["genai_tap.otel.trace_id"] == span["trace_id"]
            assert apm[peer["span_id"]]["meta"]["genai_tap.otel.span_id"] == span["span_id"]
    assert sorted(apis) == DDTRACE_APIS


def test_both_spans_when_asked(dd_env, agent, otlp, tmp_path):
    dd_env["GENAI_TAP_DD_DUPLICATES"] = "both"
    _every_api(dd_env, otlp, tmp_path)
    spans = agent.llmobs_spans(count=9)
    assert len(spans) == 9
    ddtraces = {s["span_id"]: s for s in theirs(spans)}
    mine = ours(spans)
    assert len(ddtraces) == 4 and len(mine) == 5
    # ddtrace's hook runs around genai-tap's, so genai-tap's spans are children of ddtrace's
    assert sorted(s["meta"]["metadata"]["api"] for s in mine if s["parent_id"] in ddtraces) == DDTRACE_APIS


def test_genai_taps_spans_when_ddtraces_tracer_is_off(dd_env, agent, otlp, tmp_path):
    dd_env["DD_TRACE_ENABLED"] = "false"  # ddtrace's hook is there but makes no span: genai-tap's fill in
    dd_env["GENAI_TAP_DD_DUPLICATES"] = "ddtrace"
    _every_api(dd_env, otlp, tmp_path)
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5 and ours(spans) == spans
    assert sorted(s["meta"]["metadata"]["api"] for s in spans) == sorted(DDTRACE_APIS + ["InvokeModel"])


GENAI_TAP_ON_TOP = """
    import ddtrace.auto  # ddtrace-run's set-up in code: patches botocore, enables LLM Observability
    import boto3
    import genai_tap

    genai_tap.instrument()  # botocore is patched by ddtrace already: genai-tap's hook goes around it
"""


@pytest.mark.parametrize("policy", ["genai-tap", "ddtrace"])
def test_one_span_per_call_when_genai_taps_hook_is_outside(policy, dd_env, agent, tmp_path):
    dd_env["GENAI_TAP_DD_DUPLICATES"] = policy
    source = _dedent(GENAI_TAP_ON_TOP) + _dedent(EVERY_API).replace("import json, boto3", "import json")
    proc = run_app(source, dd_env, tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    assert "genai-tap" not in proc.stderr, proc.stderr
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5
    if policy == "genai-tap":
        assert ours(spans) == spans
        assert [m for s in spans for m in s["meta"]["input"].get("messages", [])] == [{"role": "user", "content": "Hi"}] * 4
        # ddtrace's APM spans are kept (APM only); genai-tap's span is never the app's current span,
        # so ddtrace's, made inside genai-tap's hook, is not its child
        apm = agent.apm_spans(count=10)
        botocore = [s for s in apm if s["name"] == "bedrock-runtime.command"]
        assert len(botocore) == 5 and all(s.get("type") != "llm" for s in botocore)
    else:
        [embedding] = ours(spans)
        assert embedding["meta"]["span"]["kind"] == "embedding"
        assert len(theirs(spans)) == 4


ASYNC_CALLS = """
    import asyncio, json
    import aiobotocore.session

    async def main():
        session = aiobotocore.session.get_session()
        async with session.create_client("bedrock-runtime") as client:
            await client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "Hi async"}]}])
            body = json.dumps({"messages": [{"role": "user", "content": [{"text": "Hi Nova async"}]}]})
            response = await client.invoke_model(modelId="amazon.nova-lite-v1:0", body=body)
            await response["body"].read()
            stream = await client.converse_stream(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "Stream async"}]}])
            async for _ in stream["stream"]:
                pass

    asyncio.run(main())
"""


@pytest.mark.parametrize("aiobotocore", ["off (ddtrace's default)", "on"])
def test_async_clients_under_ddtrace_run(aiobotocore, dd_env, agent, tmp_path):
    if aiobotocore == "on":
        dd_env["DD_TRACE_AIOBOTOCORE_ENABLED"] = "true"
    proc = run_under("ddtrace-run genai-tap run", ASYNC_CALLS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=3)
    assert len(spans) == 3 and ours(spans) == spans  # ddtrace traces aiobotocore in APM only, if at all
    prompts = sorted(m["content"] for s in spans for m in s["meta"]["input"]["messages"])
    assert prompts == ["Hi Nova async", "Hi async", "Stream async"]
    [stream] = by_name(spans, "aws.bedrock.converse_stream")
    assert stream["metrics"]["time_to_first_token"] > 0
    apm = agent.apm_spans(count=6)
    by_id = {s["span_id"]: s for s in apm}
    for span in spans:
        parent = by_id[int(span["span_id"])].get("parent_id")
        if aiobotocore == "on":  # ddtrace's aiobotocore APM span of the call is the parent
            assert by_id[parent]["name"] == "bedrock-runtime.command"
            assert by_id[parent]["resource"].startswith("bedrock-runtime.")
        else:
            assert not parent


UNRECOGNISED = """
    import ddtrace
    ddtrace.__version__ = "5.0.0"  # a ddtrace genai-tap does not know (before boto3 is imported)
"""
IGNORED = """
    import genai_tap.sinks.ddtrace_bedrock as takeover
    takeover._llmobs_off = lambda integration: integration  # as if this ddtrace no longer listened
"""


@pytest.mark.parametrize("why", ["unrecognised version", "ddtrace does not listen"])
def test_falls_back_to_ddtraces_spans_with_one_warning(why, dd_env, agent, tmp_path):
    prelude = UNRECOGNISED if why == "unrecognised version" else IGNORED
    proc = run_under("ddtrace-run genai-tap run", _dedent(prelude) + _dedent(EVERY_API), dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "genai-tap" in line]
    assert len(lines) == 1, proc.stderr
    if why == "unrecognised version":
        assert "ddtrace 5.0.0 is not a version genai-tap recognises" in lines[0]
    else:
        assert "made an LLM Observability span for a Bedrock" in lines[0]
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5  # never two for a call, never none
    [embedding] = ours(spans)
    assert embedding["meta"]["span"]["kind"] == "embedding"
    assert len(theirs(spans)) == 4
