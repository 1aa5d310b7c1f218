"""Apps that also run under ddtrace (``ddtrace-run``): APM parent links, and one span per call."""

from __future__ import annotations

import json

from ..support.apps import run_app
from .conftest import DDTRACE_RUN
from .testagent import by_name, ours, tags

UNDER_APM_SPAN = """
    import json, boto3
    from ddtrace.llmobs import LLMObs
    from ddtrace.trace import tracer

    client = boto3.client("bedrock-runtime")
    messages = [{"role": "user", "content": [{"text": "Hi"}]}]
    out = {}
    with tracer.trace("checkout.request", service="checkout") as root:
        client.converse(modelId="amazon.nova-lite-v1:0", messages=messages)
        out["current_is_root"] = tracer.current_span() is root
        try:
            LLMObs.export_span()  # raises when no LLMObs span is the current one
            out["llmobs_span_current"] = True
        except Exception:
            out["llmobs_span_current"] = False
        with LLMObs.workflow("after-the-call"):
            pass
        with LLMObs.workflow("agent-step") as step:
            client.converse(modelId="amazon.nova-lite-v1:0", messages=messages)
            out["step_span_id"] = step.span_id
        # a call whose span outlives its return, as a stream's does, finished on another thread
        import threading, time
        from genai_tap.record import CallRecord
        from genai_tap.tap import get_tap

        [sink] = [s for s in get_tap().sinks if s.name == "datadog"]
        rec = CallRecord(api="ConverseStream", operation="chat", request_model="amazon.nova-lite-v1:0", stream=True)
        handle = sink.start(rec)
        out["open_span_current"] = tracer.current_span() is not root
        with LLMObs.workflow("while-open"):
            pass
        rec.end_ns = time.time_ns()
        finisher = threading.Thread(target=sink.finish, args=(rec, handle))
        finisher.start()
        finisher.join()
        out["root_span_id"] = root.span_id
        out["trace_id"] = root.trace_id
    print(json.dumps(out))
"""


def test_child_of_the_apps_apm_span_and_never_its_current_span(dd_env, agent, tmp_path):
    dd_env["DD_TRACE_BOTOCORE_ENABLED"] = "false"  # ddtrace's own Bedrock spans off: genai-tap's are the ones
    proc = run_app(UNDER_APM_SPAN, dd_env, tmp_path, launcher=[DDTRACE_RUN])
    assert proc.returncode == 0, proc.stderr
    app = json.loads(proc.stdout)
    assert app["current_is_root"] is True
    assert app["llmobs_span_current"] is False
    assert app["open_span_current"] is False

    spans = agent.llmobs_spans(count=6)
    first, second = sorted(by_name(spans, "aws.bedrock.converse"), key=lambda s: s["start_ns"])
    [after] = by_name(spans, "after-the-call")
    [step] = by_name(spans, "agent-step")
    [open_call] = by_name(spans, "aws.bedrock.converse_stream")
    [while_open] = by_name(spans, "while-open")
    assert len(spans) == 6
    assert first["parent_id"] == "undefined"  # its parent is an APM span, not an LLMObs one
    assert after["parent_id"] == "undefined"  # the call's span did not leak into the app's context
    assert while_open["parent_id"] == "undefined"  # nor while the call was still open
    assert open_call["parent_id"] == "undefined"
    assert second["parent_id"] == str(app["step_span_id"]) == step["span_id"]
    assert second["trace_id"] == step["trace_id"]

    apm = {s["span_id"]: s for s in agent.apm_spans(count=8)}
    low_trace_id = app["trace_id"] & (2**64 - 1)
    calls = sorted((s for s in apm.values() if s["name"].startswith("aws.bedrock.")), key=lambda s: s["start"])
    assert [c["parent_id"] for c in calls] == [app["root_span_id"], app["step_span_id"], app["root_span_id"]]
    assert all(c["trace_id"] == low_trace_id and c["type"] == "llm" for c in calls)
    assert first["_dd"]["apm_trace_id"].endswith(format(low_trace_id, "016x"))


THREE_CALLS = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    resp = client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps(
        {"messages": [{"role": "user", "content": [{"text": "Hello"}]}], "inferenceConfig": {"maxTokens": 32}}))
    resp["body"].read()
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "embed me"}))
"""


def _under_ddtrace_run(dd_env, otlp, tmp_path):
    dd_env.pop("GENAI_TAP_SINKS")  # the defaults: OpenTelemetry and (DD_LLMOBS_ENABLED) Datadog
    dd_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    proc = run_app(THREE_CALLS, dd_env, tmp_path, launcher=[DDTRACE_RUN])
    assert proc.returncode == 0, proc.stderr
    assert "genai-tap" not in proc.stderr, proc.stderr


def test_one_llmobs_span_per_call_under_ddtrace_run(dd_env, agent, otlp, tmp_path):
    _under_ddtrace_run(dd_env, otlp, tmp_path)
    spans = agent.llmobs_spans(count=3)
    assert len(spans) == 3
    theirs = [s for s in spans if tags(s).get("integration") == "bedrock"]
    [embedding] = ours(spans)
    assert sorted(s["meta"]["model_name"] for s in theirs) == ["amazon.nova-lite-v1:0"] * 2
    assert embedding["meta"]["span"]["kind"] == "embedding"  # ddtrace records no Bedrock embeddings

    # the OpenTelemetry spans point at whichever LLMObs span records their call, and the other way round
    otel = otlp.wait_for(otlp.spans, count=3)
    assert len(otel) == 3
    llmobs_ids = {(s["trace_id"], format(int(s["span_id"]), "016x")): s for s in spans}
    for span in otel:
        attrs = span["attributes"]
        peer = llmobs_ids[(attrs["genai_tap.datadog.trace_id"], attrs["genai_tap.datadog.span_id"])]
        assert attrs["_dd.llmobs.artificial_gen_ai_tags"] == "true"
        assert peer["meta"]["model_name"] == attrs["gen_ai.request.model"]
        if peer is embedding:
            assert tags(peer)["genai_tap.otel.trace_id"] == span["trace_id"]
            assert tags(peer)["genai_tap.otel.span_id"] == span["span_id"]
        else:  # ddtrace's span: the ids are on its APM span
            [apm] = [s for s in agent.apm_spans(count=3) if str(s["span_id"]) == peer["span_id"]]
            assert apm["meta"]["genai_tap.otel.trace_id"] == span["trace_id"]
            assert apm["meta"]["genai_tap.otel.span_id"] == span["span_id"]


def test_both_spans_when_asked(dd_env, agent, otlp, tmp_path):
    dd_env["GENAI_TAP_DD_DUPLICATES"] = "both"
    _under_ddtrace_run(dd_env, otlp, tmp_path)
    spans = agent.llmobs_spans(count=5)
    assert len(spans) == 5
    theirs = {s["span_id"]: s for s in spans if tags(s).get("integration") == "bedrock"}
    mine = ours(spans)
    assert sorted(s["name"] for s in mine) == ["aws.bedrock.converse", "aws.bedrock.invoke_model"] * 1 + [
        "aws.bedrock.invoke_model"
    ]
    # ddtrace's hook runs around genai-tap's, so genai-tap's spans are children of ddtrace's
    assert sum(s["parent_id"] in theirs for s in mine) == 2
