"""Apps that also run under ddtrace (``ddtrace-run``): APM parent links, and one span per call."""

from __future__ import annotations

import json

import pytest

from ..support.apps import run_app
from .conftest import DDTRACE_RUN
from .testagent import by_name, ours, tags

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
        try:
            LLMObs.export_span()  # raises when no LLMObs span is the current one
            out["llmobs_span_current"] = True
        except Exception:
            out["llmobs_span_current"] = False
        with LLMObs.workflow("after-the-call"):
            pass
        with LLMObs.workflow("agent-step") as step:
            client.converse(modelId=model, messages=messages)
        # a stream: its span stays open until the stream is read, here on another thread
        stream = client.converse_stream(modelId=model, messages=messages)["stream"]
        out["current_is_root_while_streaming"] = tracer.current_span() is root
        with LLMObs.workflow("while-streaming") as meanwhile:
            client.converse(modelId=model, messages=messages)
        reader = threading.Thread(target=lambda: out.setdefault("events", len(list(stream))))
        reader.start()
        reader.join()
        out.update(root=root.span_id, step=step.span_id, meanwhile=meanwhile.span_id, trace_id=root.trace_id)
    print(json.dumps(out))
"""


@pytest.mark.slow
def test_child_of_the_apps_apm_span_and_never_its_current_span(dd_env, agent, tmp_path):
    dd_env["DD_TRACE_BOTOCORE_ENABLED"] = "false"  # ddtrace's own Bedrock spans off: genai-tap's are the ones
    proc = run_app(UNDER_APM_SPAN, dd_env, tmp_path, launcher=[DDTRACE_RUN])
    assert proc.returncode == 0, proc.stderr
    app = json.loads(proc.stdout)
    assert app["current_is_root"] is app["current_is_root_while_streaming"] is True
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

    # APM parents: the app's APM span around each call
    apm = agent.apm_spans(count=9)
    ours = sorted((s for s in apm if s["name"].startswith("aws.bedrock.")), key=lambda s: s["start"])
    assert [s["name"] for s in ours] == ["aws.bedrock.converse"] * 2 + ["aws.bedrock.converse_stream", "aws.bedrock.converse"]
    assert [s["parent_id"] for s in ours] == [app["root"], app["step"], app["root"], app["meanwhile"]]
    low_trace_id = app["trace_id"] & (2**64 - 1)
    assert all(s["trace_id"] == low_trace_id and s["type"] == "llm" for s in ours)
    assert calls[0]["_dd"]["apm_trace_id"].endswith(format(low_trace_id, "016x"))


EVERY_API = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    messages = [{"role": "user", "content": [{"text": "Hi"}]}]
    nova = json.dumps({"messages": messages, "inferenceConfig": {"maxTokens": 32}})
    client.converse(modelId="amazon.nova-lite-v1:0", messages=messages)
    client.invoke_model(modelId="amazon.nova-lite-v1:0", body=nova)["body"].read()
    list(client.converse_stream(modelId="amazon.nova-lite-v1:0", messages=messages)["stream"])
    list(client.invoke_model_with_response_stream(modelId="amazon.nova-lite-v1:0", body=nova)["body"])
    # read: ddtrace finishes its own InvokeModel span only when the body is read (or its
    # wrapper's reference cycle is garbage-collected), and this call's LLMObs span travels
    # in that span's APM trace
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "embed me"}))["body"].read()
"""
DDTRACE_APIS = ["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"]


def _under_ddtrace_run(dd_env, otlp, tmp_path):
    dd_env.pop("GENAI_TAP_SINKS")  # the defaults: OpenTelemetry and (DD_LLMOBS_ENABLED) Datadog
    dd_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    proc = run_app(EVERY_API, dd_env, tmp_path, launcher=[DDTRACE_RUN])
    assert proc.returncode == 0, proc.stderr
    assert "genai-tap" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_one_llmobs_span_per_call_under_ddtrace_run(dd_env, agent, otlp, tmp_path):
    _under_ddtrace_run(dd_env, otlp, tmp_path)
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5
    theirs = [s for s in spans if tags(s).get("integration") == "bedrock"]
    [embedding] = ours(spans)
    assert len(theirs) == 4 and all(s["meta"]["model_name"] == "amazon.nova-lite-v1:0" for s in theirs)
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
        assert peer["meta"]["model_name"] == attrs["gen_ai.request.model"]
        if peer is embedding:
            assert tags(peer)["genai_tap.otel.trace_id"] == span["trace_id"]
            assert tags(peer)["genai_tap.otel.span_id"] == span["span_id"]
        else:  # ddtrace's span: the ids are on its APM span
            apis.append(attrs["genai_tap.bedrock.api"])
            assert apm[peer["span_id"]]["resource"] == attrs["genai_tap.bedrock.api"]
            assert apm[peer["span_id"]]["meta"]["genai_tap.otel.trace_id"] == span["trace_id"]
            assert apm[peer["span_id"]]["meta"]["genai_tap.otel.span_id"] == span["span_id"]
    assert sorted(apis) == DDTRACE_APIS


@pytest.mark.slow
def test_both_spans_when_asked(dd_env, agent, otlp, tmp_path):
    dd_env["GENAI_TAP_DD_DUPLICATES"] = "both"
    _under_ddtrace_run(dd_env, otlp, tmp_path)
    spans = agent.llmobs_spans(count=9)
    assert len(spans) == 9
    theirs = {s["span_id"]: s for s in spans if tags(s).get("integration") == "bedrock"}
    mine = ours(spans)
    assert len(theirs) == 4 and len(mine) == 5
    # ddtrace's hook runs around genai-tap's, so genai-tap's spans are children of ddtrace's
    assert sorted(s["meta"]["metadata"]["api"] for s in mine if s["parent_id"] in theirs) == DDTRACE_APIS


@pytest.mark.slow
def test_genai_taps_spans_when_ddtraces_tracer_is_off(dd_env, agent, otlp, tmp_path):
    dd_env["DD_TRACE_ENABLED"] = "false"  # ddtrace's hook is there but makes no span: genai-tap's fill in
    _under_ddtrace_run(dd_env, otlp, tmp_path)
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5 and ours(spans) == spans
    assert sorted(s["meta"]["metadata"]["api"] for s in spans) == sorted(DDTRACE_APIS + ["InvokeModel"])


GENAI_TAP_ON_TOP = """
    import ddtrace.auto  # ddtrace-run's set-up in code: patches botocore, enables LLM Observability
    import boto3
    import genai_tap

    genai_tap.instrument()  # botocore is patched by ddtrace already: genai-tap's hook goes around it
"""


@pytest.mark.slow
def test_one_llmobs_span_per_call_when_genai_taps_hook_is_outside(dd_env, agent, tmp_path):
    source = GENAI_TAP_ON_TOP + EVERY_API.replace("import json, boto3", "import json")
    proc = run_app(source, dd_env, tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5
    [embedding] = ours(spans)
    assert embedding["meta"]["span"]["kind"] == "embedding"
    assert sum(tags(s).get("integration") == "bedrock" for s in spans) == 4
