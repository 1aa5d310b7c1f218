"""Converse: messages, system, tools, tool results, reasoning, guardrails, parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL_CONFIG = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Current weather", "inputSchema": {"json": SCHEMA}}}]}


@pytest.mark.parametrize(
    "model",
    [
        "amazon.nova-lite-v1:0",
        "us.amazon.nova-premier-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "meta.llama3-1-8b-instruct-v1:0",
        "mistral.mistral-large-2407-v1:0",
        "cohere.command-r-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
    ],
)
def test_converse_span(model: str, tap: Any, client: Any) -> None:
    resp = client.converse(
        modelId=model,
        system=[{"text": "Answer in one sentence."}],
        messages=[{"role": "user", "content": [{"text": "What is a span?"}]}],
        inferenceConfig={"maxTokens": 120, "temperature": 0.4, "topP": 0.8, "stopSequences": ["STOP"]},
    )
    span = tap.span()
    a = span.attributes
    assert span.name == f"chat {model}"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["genai_tap.bedrock.api"] == "Converse"
    assert a["gen_ai.request.max_tokens"] == 120
    assert a["gen_ai.request.temperature"] == 0.4
    assert a["gen_ai.request.top_p"] == 0.8
    assert a["gen_ai.request.stop_sequences"] == ("STOP",)
    assert a["gen_ai.usage.input_tokens"] == resp["usage"]["inputTokens"]
    assert a["gen_ai.usage.output_tokens"] == resp["usage"]["outputTokens"]
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["aws.request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert a["genai_tap.bedrock.latency_ms"] == resp["metrics"]["latencyMs"]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Answer in one sentence."}]
    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "What is a span?"}]}]
    out = json.loads(a["gen_ai.output.messages"])
    assert out == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": resp["output"]["message"]["content"][0]["text"]}],
            "finish_reason": "stop",
        }
    ]


def test_what_the_app_changes_after_the_call_is_not_recorded(tap: Any, client: Any) -> None:
    """Request and response are read on genai-tap's finisher thread, later: from copies of
    the containers the app owns, so what the app does with them right after the call
    (append to its history, empty or edit the answer) does not change the span."""
    client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    tap.spans()  # the finisher's thread is running (its very first job runs while Thread.start() waits)
    messages = [{"role": "user", "content": [{"text": "What is a span?"}]}]
    config = {"maxTokens": 120}
    resp = client.converse(modelId="amazon.nova-lite-v1:0", messages=messages, inferenceConfig=config)
    answer = resp["output"]["message"]["content"][0]["text"]
    usage, latency = dict(resp["usage"]), resp["metrics"]["latencyMs"]
    # at once, on the app's thread (the finisher works while this thread waits, not before)
    messages.append(resp["output"]["message"])
    messages[0]["content"].append({"text": "and a trace?"})
    config["maxTokens"] = 1
    resp["output"]["message"]["content"].clear()
    resp["output"]["message"]["role"] = "user"
    resp["usage"]["inputTokens"] = resp["usage"]["outputTokens"] = 0
    resp["metrics"]["latencyMs"] = -1
    resp["stopReason"] = "max_tokens"
    a = tap.spans()[-1].attributes
    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "What is a span?"}]}]
    assert a["gen_ai.request.max_tokens"] == 120
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}
    ]
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (usage["inputTokens"], usage["outputTokens"])
    assert a["genai_tap.bedrock.latency_ms"] == latency


def test_converse_tools_round_trip(tap: Any, client: Any) -> None:
    messages = [{"role": "user", "content": [{"text": "Weather in Paris?"}]}]
    first = client.converse(modelId="amazon.nova-pro-v1:0", messages=messages, toolConfig=TOOL_CONFIG)
    assert first["stopReason"] == "tool_use"
    use = next(b["toolUse"] for b in first["output"]["message"]["content"] if "toolUse" in b)
    messages += [
        first["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": {"sky": "rain", "c": 12}}]}}]},
    ]
    client.converse(modelId="amazon.nova-pro-v1:0", messages=messages, toolConfig=TOOL_CONFIG)
    s1, s2 = tap.spans()
    a1, a2 = s1.attributes, s2.attributes
    assert a1["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert json.loads(a1["gen_ai.tool.definitions"]) == [
        {"type": "function", "name": "get_weather", "description": "Current weather", "parameters": SCHEMA}
    ]
    calls = [p for p in json.loads(a1["gen_ai.output.messages"])[0]["parts"] if p["type"] == "tool_call"]
    assert calls == [{"type": "tool_call", "id": use["toolUseId"], "name": "get_weather", "arguments": {"city": "Paris"}}]
    history = json.loads(a2["gen_ai.input.messages"])
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[1]["parts"][-1]["type"] == "tool_call"
    assert history[2]["parts"] == [{"type": "tool_call_response", "id": use["toolUseId"], "response": {"sky": "rain", "c": 12}}]


def test_converse_reasoning_and_top_k(tap: Any, client: Any) -> None:
    client.converse(
        modelId="us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        messages=[{"role": "user", "content": [{"text": "Think first"}]}],
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 30},
    )
    a = tap.span().attributes
    assert a["gen_ai.request.top_k"] == 30
    parts = json.loads(a["gen_ai.output.messages"])[0]["parts"]
    assert parts[0]["type"] == "reasoning" and parts[0]["content"]


def test_converse_nova_top_k_in_additional_fields(tap: Any, client: Any) -> None:
    client.converse(
        modelId="amazon.nova-lite-v1:0",
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
        additionalModelRequestFields={"inferenceConfig": {"topK": 12}},
    )
    assert tap.span().attributes["gen_ai.request.top_k"] == 12


def test_converse_media_parts_never_carry_bytes(tap: Any, client: Any) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"secret-image-bytes" * 10
    client.converse(
        modelId="amazon.nova-lite-v1:0",
        messages=[
            {
                "role": "user",
                "content": [
                    {"image": {"format": "png", "source": {"bytes": png}}},
                    {"document": {"format": "pdf", "name": "report", "source": {"bytes": b"%PDF-1.4 secret-doc"}}},
                    {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/v.mp4"}}}},
                    {"text": "Summarise"},
                ],
            }
        ],
    )
    a = tap.span().attributes
    parts = json.loads(a["gen_ai.input.messages"])[0]["parts"]
    assert parts == [
        {"type": "blob", "modality": "image", "mime_type": "image/png"},
        {"type": "blob", "modality": "document", "mime_type": "application/pdf"},
        {"type": "uri", "modality": "video", "mime_type": "video/mp4", "uri": "s3://b/v.mp4"},
        {"type": "text", "content": "Summarise"},
    ]
    dumped = json.dumps(dict(a))
    assert "secret" not in dumped


def test_guardrail_id_is_recorded(tap: Any, client: Any) -> None:
    client.converse(
        modelId="amazon.nova-lite-v1:0",
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
        guardrailConfig={"guardrailIdentifier": "gr-abc123", "guardrailVersion": "1"},
    )
    client.invoke_model(
        modelId="amazon.nova-lite-v1:0",
        body=json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        guardrailIdentifier="gr-xyz789",
        guardrailVersion="DRAFT",
    )
    s1, s2 = tap.spans()
    assert s1.attributes["aws.bedrock.guardrail.id"] == "gr-abc123"
    assert s2.attributes["aws.bedrock.guardrail.id"] == "gr-xyz789"


def test_no_content_when_capture_is_off(tap_no_content: Any, client: Any) -> None:
    client.converse(
        modelId="amazon.nova-lite-v1:0",
        system=[{"text": "SYSTEM-SECRET"}],
        messages=[{"role": "user", "content": [{"text": "USER-SECRET"}]}],
        toolConfig=TOOL_CONFIG,
        inferenceConfig={"maxTokens": 50},
    )
    a = tap_no_content.span().attributes
    dumped = json.dumps(dict(a))
    for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions"):
        assert key not in a
    assert "SECRET" not in dumped and "Paris" not in dumped
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ("tool_call",)
