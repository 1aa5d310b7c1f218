"""Steps inside a call (an agent's model invocations, tool calls, lookups) become child spans.

A record's ``children`` are exported as spans under the call's span, nested as they
are nested in the record, INTERNAL unless a step says otherwise, with their own
times, attributes, content (redacted and limited by the same policy) and errors: both
through the app's SDK TracerProvider and through genai-tap's own provider (the
finished spans it hands the batch processor), which must agree.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from genai_tap import semconv as sc
from genai_tap.record import CallRecord, message, text_part

T0 = 1_700_000_000_000_000_000


def _agent_call() -> CallRecord:
    rec = CallRecord(api="InvokeAgent", operation=sc.OP_INVOKE_AGENT, request_model="", start_ns=T0, span_target="travel")
    rec.agent_id, rec.agent_name, rec.conversation_id = "AGENT1", "travel", "session-1"
    rec.input_messages = [message("user", [text_part("Book me a flight; my key is AKIAIOSFODNN7EXAMPLE")])]
    rec.output_messages = [message("assistant", [text_part("Booked.")])]
    chat = rec.child(sc.OP_CHAT, request_model="anthropic.claude-3-haiku", start_ns=T0 + 1_000_000, end_ns=T0 + 5_000_000)
    chat.set_usage(120, 30)
    tool = rec.child(sc.OP_EXECUTE_TOOL, span_target="book_flight", start_ns=T0 + 6_000_000, end_ns=T0 + 9_000_000)
    tool.tool_name, tool.tool_call_id, tool.tool_type = "book_flight", "call-1", "function"
    tool.tool_arguments, tool.tool_result = {"to": "Paris", "card": "4242424242424242"}, "confirmed"
    lookup = tool.child(sc.OP_RETRIEVAL, span_target="KB1", start_ns=T0 + 7_000_000, end_ns=T0 + 8_000_000)
    lookup.data_source_id, lookup.retrieval_query = "KB1", "fares to Paris"
    lookup.documents = [{"id": "s3://kb/fares.txt", "score": 0.9, "content": "Paris: 120 EUR"}]
    failed = rec.child(sc.OP_EXECUTE_TOOL, span_target="pay", start_ns=T0 + 9_500_000, end_ns=T0 + 9_800_000)
    failed.error_type, failed.error_message = "ToolFailure", "the payment service is down"
    return rec


def _run(rec: CallRecord) -> None:
    from genai_tap.tap import get_tap

    call = get_tap().begin(rec)
    call.release()
    call.end(T0 + 10_000_000)


def _by_name(spans: List[Any]) -> Dict[str, Any]:
    return {s.name: s for s in spans}


def test_children_become_nested_spans(tap: Any) -> None:
    _run(_agent_call())
    spans = _by_name(tap.spans())
    assert sorted(spans) == ["chat anthropic.claude-3-haiku", "execute_tool book_flight", "execute_tool pay", "invoke_agent travel", "retrieval KB1"]
    root = spans["invoke_agent travel"]
    chat, tool, lookup, failed = (spans[n] for n in ("chat anthropic.claude-3-haiku", "execute_tool book_flight", "retrieval KB1", "execute_tool pay"))
    assert root.parent is None and root.kind.name == "CLIENT"
    assert chat.parent.span_id == root.context.span_id and chat.kind.name == "INTERNAL"
    assert tool.parent.span_id == root.context.span_id
    assert lookup.parent.span_id == tool.context.span_id  # nested as in the record
    assert {s.context.trace_id for s in spans.values()} == {root.context.trace_id}
    assert (chat.start_time, chat.end_time) == (T0 + 1_000_000, T0 + 5_000_000)
    assert root.attributes[sc.AGENT_ID] == "AGENT1" and root.attributes[sc.CONVERSATION_ID] == "session-1"
    assert chat.attributes[sc.USAGE_INPUT_TOKENS] == 120
    assert tool.attributes[sc.TOOL_NAME] == "book_flight" and tool.attributes[sc.TOOL_TYPE] == "function"
    assert json.loads(tool.attributes[sc.TOOL_CALL_ARGUMENTS])["to"] == "Paris"
    assert tool.attributes[sc.TOOL_CALL_RESULT] == "confirmed"
    assert lookup.attributes[sc.DATA_SOURCE_ID] == "KB1" and lookup.attributes[sc.RETRIEVAL_QUERY_TEXT] == "fares to Paris"
    assert json.loads(lookup.attributes[sc.RETRIEVAL_DOCUMENTS])[0]["score"] == 0.9
    assert failed.status.status_code.name == "ERROR" and failed.attributes[sc.ERROR_TYPE] == "ToolFailure"
    assert root.status.status_code.name == "UNSET"


def test_content_in_children_is_redacted_and_dropped_like_prompts(tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(_agent_call())
    spans = _by_name(tap.spans())
    root, tool = spans["invoke_agent travel"], spans["execute_tool book_flight"]
    assert "AKIAIOSFODNN7EXAMPLE" not in root.attributes[sc.INPUT_MESSAGES]
    assert "4242424242424242" not in tool.attributes[sc.TOOL_CALL_ARGUMENTS]
    assert "[REDACTED:credit_card]" in tool.attributes[sc.TOOL_CALL_ARGUMENTS]


def test_children_without_content_capture(tap_no_content: Any) -> None:
    rec = _agent_call()
    for each in rec.walk():
        each.capture_content = False
    _run(rec)
    for span in tap_no_content.spans():
        for name in (sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.TOOL_CALL_ARGUMENTS, sc.TOOL_CALL_RESULT, sc.RETRIEVAL_QUERY_TEXT, sc.RETRIEVAL_DOCUMENTS):
            assert name not in span.attributes
    assert "Paris" not in json.dumps([dict(s.attributes) for s in tap_no_content.spans()])


@pytest.mark.slow
def test_genai_taps_own_provider_exports_the_same_tree(otlp: Any, aws: str, monkeypatch: pytest.MonkeyPatch, tap: Any) -> None:
    """The batch path (finished spans built by genai-tap) and the SDK path agree."""
    from genai_tap.config import Config
    from genai_tap.sinks.otel import OtelSink
    from genai_tap.tap import Tap, set_tap

    _run(_agent_call())
    sdk = {s.name: s for s in tap.spans()}

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    config = Config.from_env()
    sink = OtelSink(config)
    assert sink._processor is not None  # genai-tap's own provider: spans built as ReadableSpans
    set_tap(Tap(config, sinks=[sink]))
    _run(_agent_call())
    sink.flush(5)
    own = {s["name"]: s for s in otlp.wait_for(otlp.spans, 5)}
    assert sorted(own) == sorted(sdk)
    ids = {s["span_id"]: name for name, s in own.items()}
    for name, span in own.items():
        expected_parent = sdk[name].parent
        parent_name = ids.get(span["parent_span_id"])
        if expected_parent is None:
            assert parent_name is None
        else:
            assert parent_name == next(n for n, s in sdk.items() if s.context.span_id == expected_parent.span_id)
        assert span["kind"] == (3 if sdk[name].kind.name == "CLIENT" else 1)
        assert (span["start"], span["end"]) == (sdk[name].start_time, sdk[name].end_time)
        assert span["attributes"] == dict(sdk[name].attributes)
    sink.shutdown(5)
