"""The steps inside a call (``CallRecord.children``) as LLM Observability spans of their own kinds,
nested as in the record, with their own times and the content each kind shows."""

from __future__ import annotations

import json

import pytest

from ..support.apps import run_app
from .testagent import by_name, tags

#: An agent call as the Bedrock plugin records one, built by hand (the sink sees only records):
#: pre-processing around a model invocation, a knowledge-base lookup, a tool call, a guardrail
#: that intervened, a collaborator agent with its own model invocation, and a failed step.
AGENT_CALL = """
    import json, time
    import genai_tap
    from genai_tap.config import get_config
    from genai_tap.record import CallRecord, message, text_part, tool_call_part
    from genai_tap.tap import get_tap

    ms = 1_000_000
    t0 = time.time_ns()
    rec = CallRecord(api="InvokeAgent", operation="invoke_agent", request_model="travel-agent", start_ns=t0,
                     capture_content=get_config().capture_content)
    rec.span_target, rec.agent_id, rec.agent_name, rec.agent_alias_id = "travel-agent", "AGENT1", "travel-agent", "ALIAS1"
    rec.conversation_id = "session-42"
    rec.input_messages = [message("user", [text_part("Book me a trip to Paris")])]
    call = get_tap().begin(rec)
    call.release()

    pre = rec.child("pre_processing", start_ns=t0 + 1 * ms, request_model="anthropic.claude-3-haiku-20240307-v1:0")
    pre.end_ns = t0 + 5 * ms
    pre.input_messages = [message("user", [text_part("Is this a travel request?")])]
    pre.output_messages = [message("assistant", [text_part("yes")])]
    llm = pre.child("chat", start_ns=t0 + 2 * ms)
    llm.end_ns = t0 + 4 * ms
    llm.span_kind = "client"
    llm.input_messages = [message("user", [text_part("Is this a travel request?")])]
    llm.output_messages = [message("assistant", [text_part("yes")])]
    llm.set_usage(30, 2)

    kb = rec.child("retrieval", start_ns=t0 + 6 * ms, request_model="travel-agent")
    kb.end_ns = t0 + 8 * ms
    kb.span_target, kb.data_source_id = "KB1", "KB1"
    kb.retrieval_query = "hotels in Paris"
    kb.documents = [
        {"id": "doc-1", "score": 0.91, "uri": "s3://kb/paris-hotels.md", "content": "Hotel du Louvre, 4 stars"},
        {"id": "doc-2", "score": 0.42, "uri": "s3://kb/lyon.md", "content": "Lyon is 2 hours away"},
    ]

    tool = rec.child("execute_tool", start_ns=t0 + 9 * ms)
    tool.end_ns = t0 + 12 * ms
    tool.span_target, tool.tool_name, tool.tool_call_id, tool.tool_type = "book_hotel", "book_hotel", "call-7", "function"
    tool.tool_arguments = {"city": "Paris", "nights": 3}
    tool.tool_result = '{"booking": "BK-99"}'

    guard = rec.child("apply_guardrail", start_ns=t0 + 13 * ms)
    guard.end_ns = t0 + 14 * ms
    guard.guardrail_id, guard.guardrail_action, guard.guardrail_policies = "GR1", "INTERVENED", ["pii"]

    helper = rec.child("invoke_agent", start_ns=t0 + 15 * ms, request_model="weather-agent")
    helper.end_ns = t0 + 20 * ms
    helper.span_target, helper.agent_name = "weather-agent", "weather-agent"
    helper.input_messages = [message("user", [text_part("Weather in Paris?")])]
    helper.output_messages = [message("assistant", [text_part("Sunny")])]
    inner = helper.child("chat", start_ns=t0 + 16 * ms, request_model="amazon.nova-lite-v1:0")
    inner.end_ns = t0 + 19 * ms
    inner.output_messages = [message("assistant", [tool_call_part("tc-1", "get_weather", {"city": "Paris"})])]

    broken = rec.child("execute_tool", start_ns=t0 + 21 * ms)
    broken.end_ns = t0 + 22 * ms
    broken.span_target, broken.tool_name = "cancel_hotel", "cancel_hotel"
    broken.error_type, broken.error_message = "ToolTimeout", "the tool did not answer"

    rec.output_messages = [message("assistant", [text_part("Booked: BK-99")])]
    rec.set_usage(120, 40)
    call.end(t0 + 25 * ms)
    genai_tap.flush()
    print(t0)
"""


def steps(agent, count=9):
    spans = agent.llmobs_spans(count=count)
    assert len(spans) == count, [s["name"] for s in spans]
    return spans


def test_steps_become_spans_of_their_kinds(dd_env, agent, tmp_path):
    proc = run_app(AGENT_CALL, dd_env, tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    t0 = int(proc.stdout.strip())
    spans = steps(agent)
    by_id = {s["span_id"]: s for s in spans}
    kind = {s["name"]: s["meta"]["span"]["kind"] for s in spans}
    assert kind == {
        "aws.bedrock.invoke_agent": "agent",
        "pre_processing anthropic.claude-3-haiku-20240307-v1:0": "workflow",
        "chat anthropic.claude-3-haiku-20240307-v1:0": "llm",
        "retrieval KB1": "retrieval",
        "execute_tool book_hotel": "tool",
        "apply_guardrail travel-agent": "task",
        "invoke_agent weather-agent": "agent",
        "chat amazon.nova-lite-v1:0": "llm",
        "execute_tool cancel_hotel": "tool",
    }

    def parent(name):
        [span] = by_name(spans, name)
        return by_id[span["parent_id"]]["name"] if span["parent_id"] in by_id else span["parent_id"]

    [call] = by_name(spans, "aws.bedrock.invoke_agent")
    assert call["parent_id"] == "undefined"
    for name in ("pre_processing anthropic.claude-3-haiku-20240307-v1:0", "retrieval KB1", "execute_tool book_hotel",
                 "apply_guardrail travel-agent", "invoke_agent weather-agent", "execute_tool cancel_hotel"):
        assert parent(name) == "aws.bedrock.invoke_agent"
    assert parent("chat anthropic.claude-3-haiku-20240307-v1:0") == "pre_processing anthropic.claude-3-haiku-20240307-v1:0"
    assert parent("chat amazon.nova-lite-v1:0") == "invoke_agent weather-agent"
    assert len({s["trace_id"] for s in spans}) == 1

    # each step's own times, inside the call's
    ms = 1_000_000
    times = {s["name"]: (round((s["start_ns"] - t0) / ms), round(s["duration"] / ms)) for s in spans}
    assert times == {
        "aws.bedrock.invoke_agent": (0, 25),
        "pre_processing anthropic.claude-3-haiku-20240307-v1:0": (1, 4),
        "chat anthropic.claude-3-haiku-20240307-v1:0": (2, 2),
        "retrieval KB1": (6, 2),
        "execute_tool book_hotel": (9, 3),
        "apply_guardrail travel-agent": (13, 1),
        "invoke_agent weather-agent": (15, 5),
        "chat amazon.nova-lite-v1:0": (16, 3),
        "execute_tool cancel_hotel": (21, 1),
    }

    # content as each kind shows it
    meta = call["meta"]
    assert (meta["input"]["value"], meta["output"]["value"]) == ("Book me a trip to Paris", "Booked: BK-99")
    assert call["session_id"] == "session-42"
    assert (meta["metadata"]["agent_id"], meta["metadata"]["agent_alias_id"]) == ("AGENT1", "ALIAS1")
    assert (call["metrics"]["input_tokens"], call["metrics"]["output_tokens"]) == (120, 40)
    [llm] = by_name(spans, "chat anthropic.claude-3-haiku-20240307-v1:0")
    assert llm["meta"]["input"]["messages"] == [{"role": "user", "content": "Is this a travel request?"}]
    assert llm["meta"]["output"]["messages"] == [{"role": "assistant", "content": "yes"}]
    assert (llm["meta"]["model_name"], llm["meta"]["model_provider"]) == ("anthropic.claude-3-haiku-20240307-v1:0", "amazon_bedrock")
    assert llm["metrics"]["input_tokens"] == 30
    [kb] = by_name(spans, "retrieval KB1")
    assert kb["meta"]["input"]["value"] == "hotels in Paris"
    assert kb["meta"]["output"]["documents"] == [
        {"text": "Hotel du Louvre, 4 stars", "name": "s3://kb/paris-hotels.md", "id": "doc-1", "score": 0.91},
        {"text": "Lyon is 2 hours away", "name": "s3://kb/lyon.md", "id": "doc-2", "score": 0.42},
    ]
    assert kb["meta"]["metadata"]["data_source_id"] == "KB1"
    [tool] = by_name(spans, "execute_tool book_hotel")
    assert json.loads(tool["meta"]["input"]["value"]) == {"city": "Paris", "nights": 3}
    assert json.loads(tool["meta"]["output"]["value"]) == {"booking": "BK-99"}
    assert (tool["meta"]["metadata"]["tool_call_id"], tool["meta"]["metadata"]["tool_type"]) == ("call-7", "function")
    [guard] = by_name(spans, "apply_guardrail travel-agent")
    md = guard["meta"]["metadata"]
    assert (md["guardrail_id"], md["guardrail_action"], md["guardrail_policies"]) == ("GR1", "INTERVENED", ["pii"])
    [inner] = by_name(spans, "chat amazon.nova-lite-v1:0")
    [out] = inner["meta"]["output"]["messages"]
    assert out["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}, "tool_id": "tc-1", "type": "function"}]
    [broken] = by_name(spans, "execute_tool cancel_hotel")
    assert broken["status"] == "error"
    assert (broken["meta"]["error"]["type"], broken["meta"]["error"]["message"]) == ("ToolTimeout", "the tool did not answer")
    assert all(s["status"] == "ok" for s in spans if s is not broken)
    for span in spans:
        assert tags(span)["ml_app"] == "genai-tap-tests" and tags(span)["service"] == "checkout"


@pytest.mark.parametrize("setting", ["GENAI_TAP_CAPTURE_CONTENT=false", "GENAI_TAP_REDACT_PATTERNS"])
def test_content_policy_applies_to_every_step(setting, dd_env, agent, tmp_path):
    if setting.startswith("GENAI_TAP_CAPTURE_CONTENT"):
        dd_env["GENAI_TAP_CAPTURE_CONTENT"] = "false"
    else:
        dd_env["GENAI_TAP_REDACT_PATTERNS"] = "city=Paris"
    proc = run_app(AGENT_CALL, dd_env, tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    spans = steps(agent)
    raw = agent.raw_bytes()
    assert b"Paris" not in raw
    [kb] = by_name(spans, "retrieval KB1")
    if setting.startswith("GENAI_TAP_CAPTURE_CONTENT"):
        for text in (b"Book me a trip", b"Hotel du Louvre", b"BK-99", b"travel request", b"Sunny"):
            assert text not in raw
        assert all("input" not in s["meta"] and "output" not in s["meta"] for s in spans)
        assert kb["meta"]["metadata"]["data_source_id"] == "KB1"
    else:
        assert b"Hotel du Louvre" in raw
        assert "[REDACTED:" in kb["meta"]["input"]["value"]


BROKEN_STEP = """
    import genai_tap.sinks.llmobs_io as llmobs_io

    def broken(rec):
        raise ValueError("a step genai-tap cannot show")

    llmobs_io.retrieved = broken
"""


def test_a_step_that_cannot_be_shown_does_not_take_the_others(dd_env, agent, tmp_path):
    import textwrap

    proc = run_app(textwrap.dedent(BROKEN_STEP) + textwrap.dedent(AGENT_CALL), dd_env, tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if "genai-tap" in line]
    assert "datadog sink (a step inside a call) failed (ValueError: a step genai-tap cannot show)" in line
    spans = steps(agent)
    [kb] = by_name(spans, "retrieval KB1")
    assert "output" not in kb["meta"]  # that step's span is there, without what could not be shown
    [tool] = by_name(spans, "execute_tool book_hotel")  # the steps after it are complete
    assert json.loads(tool["meta"]["output"]["value"]) == {"booking": "BK-99"}
