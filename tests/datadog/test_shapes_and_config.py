"""What the Datadog sink sends, shaped for ``LLMObs.annotate``; and its configuration variables."""

from __future__ import annotations

from genai_tap.config import Config
from genai_tap.record import (
    CallRecord,
    media_part,
    message,
    reasoning_part,
    text_part,
    tool_call_part,
    tool_response_part,
)
from genai_tap.sinks import llmobs_io


def _record(**kw):
    return CallRecord(api="Converse", operation="chat", request_model="amazon.nova-lite-v1:0", **kw)


def test_messages_fit_annotates_rules():
    rec = _record(
        system=[text_part("Be brief."), text_part("Use metric units.")],
        input_messages=[
            message("user", [text_part("What is in this picture?"), media_part("image", "image/png")]),
            message("assistant", [reasoning_part("Look first."), tool_call_part("t1", "look", '{"zoom": 2}')]),
            message("user", [tool_response_part("t1", {"objects": ["cat"]}), media_part("video", uri="s3://b/v.mp4")]),
        ],
        output_messages=[message("assistant", [tool_call_part(None, "count", "not json"), tool_call_part("t3", "x", 7)])],
    )
    assert llmobs_io.input_messages(rec) == [
        {"role": "system", "content": "Be brief.\nUse metric units."},
        {"role": "user", "content": "What is in this picture?\n([image image/png])"},
        {"role": "reasoning", "content": "Look first."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"name": "look", "arguments": {"zoom": 2}, "type": "function", "tool_id": "t1"}]},
        {"role": "user", "content": "([video s3://b/v.mp4])", "tool_results": [
            {"result": '{"objects": ["cat"]}', "type": "tool_result", "tool_id": "t1"}]},
    ]
    assert llmobs_io.output_messages(rec) == [{"role": "assistant", "content": "", "tool_calls": [
        {"name": "count", "arguments": {"value": "not json"}, "type": "function"},
        {"name": "x", "arguments": {"value": 7}, "type": "function", "tool_id": "t3"},
    ]}]


def test_metadata_metrics_and_names():
    rec = _record(params={"temperature": 0.5, "negative_prompt": "no dogs"}, stream=True, chunk_count=3)
    rec.set_usage(10, 5, cache_read=2)
    rec.first_chunk_ns = rec.start_ns + 250_000_000
    rec.set_finish(["end_turn"])
    assert llmobs_io.metrics(rec) == {
        "input_tokens": 12, "output_tokens": 5, "total_tokens": 17,
        "cache_read_input_tokens": 2, "time_to_first_token": 0.25,
    }
    meta = llmobs_io.metadata(rec)
    assert meta["negative_prompt"] == "no dogs" and meta["stop_reason"] == "end_turn" and meta["stream_chunks"] == 3
    rec.capture_content = False
    assert "negative_prompt" not in llmobs_io.metadata(rec)
    assert (llmobs_io.span_kind(rec), llmobs_io.model_provider(rec)) == ("llm", "amazon_bedrock")
    rec.api, rec.operation = "InvokeModelWithResponseStream", "embeddings"
    assert (llmobs_io.span_kind(rec), llmobs_io.span_name(rec)) == (
        "embedding", "aws.bedrock.invoke_model_with_response_stream")


def test_dd_duplicates_variable():
    assert Config.from_env({}).dd_duplicates == "genai-tap"
    assert Config.from_env({"GENAI_TAP_DD_DUPLICATES": "Both"}).dd_duplicates == "both"
    assert Config.from_env({"GENAI_TAP_DD_DUPLICATES": "ddtrace"}).dd_duplicates == "ddtrace"
    cfg = Config.from_env({"GENAI_TAP_DD_DUPLICATES": "datadog"})
    assert cfg.dd_duplicates == "genai-tap"
    assert cfg.warnings == [
        "GENAI_TAP_DD_DUPLICATES='datadog' is not valid; accepted values: genai-tap, ddtrace, both. Using the default, genai-tap."
    ]


def test_otlp_to_llm_observability_intake_is_not_doubled_by_default():
    env = {"DD_LLMOBS_ENABLED": "1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "dd-api-key=k,dd-otlp-source=llmobs"}
    cfg = Config.from_env(env)
    assert cfg.sinks == ("datadog",)
    [warning] = cfg.warnings
    assert "each call would appear twice" in warning and "GENAI_TAP_SINKS=otel,datadog" in warning
    assert Config.from_env({**env, "GENAI_TAP_SINKS": "otel,datadog"}).sinks == ("otel", "datadog")
    assert Config.from_env({**env, "DD_LLMOBS_ENABLED": "0"}).sinks == ("otel",)
    # the traces variable replaces the general one, as in the OpenTelemetry SDK
    other = {"DD_LLMOBS_ENABLED": "1", "OTEL_EXPORTER_OTLP_HEADERS": "dd-otlp-source=llmobs",
             "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=x"}
    assert Config.from_env(other).sinks == ("otel", "datadog")


def test_monitor_json_is_the_one_in_the_docs():
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monitor = json.loads((root / "datadog" / "monitor-llm-errors.json").read_text())
    assert monitor["type"] == "query alert"
    assert monitor["query"] == "sum(last_5m):sum:ml_obs.span.error{span_kind:llm} by {ml_app}.as_count() >= 5"
    assert monitor["options"]["thresholds"] == {"critical": 5}
    section = (root / "docs" / "datadog.md").read_text().split("## A monitor", 1)[1]
    shown = re.search(r"```json\n(.*?)\n```", section, re.S).group(1)
    assert json.loads(shown) == monitor
