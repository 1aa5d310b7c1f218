"""Redaction on real spans: real botocore against the emulator, genai-tap in-process.

Secrets go into every place content comes from (system prompts, user text, tool
calls in the history, tool results, the model's answer, which the emulator echoes,
and request parameters), for Converse and for InvokeModel bodies of several
families; the span's attributes must hold markers where they were.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator

import pytest

from genai_tap import semconv as sc

from ..conftest import Telemetry, _tap
from .samples import ACCESS_KEY, API_KEY, CARD, JWT, PASSWORD, PEM, SECRET_KEY, SESSION_TOKEN, leaks

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL_CONFIG = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": SCHEMA}}}]}
CONTENT = (sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.SYSTEM_INSTRUCTIONS, sc.TOOL_DEFINITIONS)


def exported(span: Any) -> str:
    """Every attribute and event of the span, as one text."""
    events = [{"name": e.name, **dict(e.attributes)} for e in span.events]
    return json.dumps({"attributes": dict(span.attributes), "events": events, "status": span.status.description}, default=str)


def content(span: Any) -> Dict[str, Any]:
    return {name: json.loads(span.attributes[name]) for name in CONTENT if name in span.attributes}


def test_converse_secrets_everywhere(tap: Telemetry, client: Any) -> None:
    messages = [
        {"role": "user", "content": [{"text": f"My key is {ACCESS_KEY} and my card {CARD}. Weather in Paris?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris", "auth": f"Bearer {JWT}"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [
            {"json": {"forecast": "rain", "debug": {"aws_secret_access_key": SECRET_KEY}}},
            {"text": f"password: {PASSWORD}"},
        ]}}]},
    ]
    history = json.dumps(messages)
    client.converse(
        modelId="amazon.nova-pro-v1:0",
        system=[{"text": f"Use the API key {API_KEY} when calling tools."}],
        messages=messages,
        toolConfig=TOOL_CONFIG,
    )
    assert json.dumps(messages) == history  # what the app holds is untouched
    span = tap.span()
    assert leaks(exported(span)) == []
    c = content(span)
    assert c[sc.SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "Use the API key [REDACTED:api_key] when calling tools."}]
    user, assistant, tool = c[sc.INPUT_MESSAGES]
    assert user["parts"][0]["content"] == "My key is [REDACTED:aws_access_key] and my card [REDACTED:credit_card]. Weather in Paris?"
    assert assistant["parts"][0]["arguments"] == {"city": "Paris", "auth": "Bearer [REDACTED:bearer_token]"}
    assert tool["parts"][0]["response"] == [
        {"forecast": "rain", "debug": {"aws_secret_access_key": "[REDACTED:aws_secret_key]"}},
        "password: [REDACTED:password]",
    ]
    # the emulator's answer echoes the last user message: the completion is redacted too
    answer = c[sc.OUTPUT_MESSAGES][0]["parts"][0]["content"]
    assert "[REDACTED:" in answer or "Thanks, the tool answered" in answer
    assert span.attributes[sc.CONTENT_REDACTIONS] >= 6


def test_converse_completion_is_redacted(tap: Telemetry, client: Any) -> None:
    resp = client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": f"Repeat {API_KEY} please"}]}])
    assert API_KEY in resp["output"]["message"]["content"][0]["text"]  # the app gets the real answer
    out = content(tap.span())[sc.OUTPUT_MESSAGES]
    assert out[0]["parts"][0]["content"].endswith("You said: Repeat [REDACTED:api_key] please")


CASES = {
    "claude": (
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "system": f"Deploy key:\n{PEM}",
            "tools": [{"name": "get_weather", "description": f"token={SESSION_TOKEN}", "input_schema": SCHEMA}],
            "messages": [
                {"role": "user", "content": f"Weather? my session token is {SESSION_TOKEN}"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "tu1", "name": "get_weather", "input": {"city": "Paris", "key": API_KEY}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": f"rainy; card {CARD}"}]},
            ],
        },
    ),
    "nova": (
        "us.amazon.nova-lite-v1:0",
        {
            "system": [{"text": f"aws_secret_access_key={SECRET_KEY}"}],
            "messages": [{"role": "user", "content": [{"text": f"Here is my key {ACCESS_KEY}"}]}],
            "inferenceConfig": {"maxTokens": 100},
        },
    ),
    "titan-text": ("amazon.titan-text-express-v1", {"inputText": f"Summarise: Authorization: Bearer {JWT}"}),
    "openai-chat": (
        "openai.gpt-oss-20b-1:0",
        {"messages": [{"role": "system", "content": f"password={PASSWORD}"}, {"role": "user", "content": f"key {API_KEY}"}], "max_tokens": 50},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invoke_model_bodies(case: str, tap: Telemetry, client: Any) -> None:
    model, body = CASES[case]
    resp = client.invoke_model(modelId=model, body=json.dumps(body))
    resp["body"].read()
    span = tap.span()
    assert leaks(exported(span)) == []
    assert span.attributes[sc.CONTENT_REDACTIONS] >= 1
    assert "[REDACTED:" in span.attributes[sc.INPUT_MESSAGES] + span.attributes.get(sc.SYSTEM_INSTRUCTIONS, "")


def test_negative_prompt_parameter_is_redacted(tap: Telemetry, client: Any) -> None:
    body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse", "negativeText": f"no {ACCESS_KEY}"}}
    client.invoke_model(modelId="amazon.nova-canvas-v1:0", body=json.dumps(body))["body"].read()
    assert tap.span().attributes["genai_tap.request.negative_prompt"] == "no [REDACTED:aws_access_key]"


def test_error_message_and_stack_trace_are_scrubbed(tap: Telemetry, client: Any, fresh_emulator: Any) -> None:
    message = f"The Canonical String for this request should have been 'x-amz-security-token:{SESSION_TOKEN}'"
    fresh_emulator.add_fault("AccessDeniedException", message=message)
    with pytest.raises(client.exceptions.AccessDeniedException) as caught:
        client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert SESSION_TOKEN in str(caught.value)  # the app's exception is untouched
    span = tap.span()
    assert leaks(exported(span)) == []
    event = span.events[0]
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "botocore.errorfactory.AccessDeniedException"
    assert "x-amz-security-token:[REDACTED:aws_session_token]" in event.attributes["exception.message"]
    assert "x-amz-security-token:[REDACTED:aws_session_token]" in event.attributes["exception.stacktrace"]
    assert "[REDACTED:aws_session_token]" in span.status.description


@pytest.fixture
def tap_limited(monkeypatch: pytest.MonkeyPatch, aws: str) -> Iterator[Telemetry]:
    monkeypatch.setenv("GENAI_TAP_MAX_CONTENT_CHARS", "300")
    yield from _tap(monkeypatch)


def test_long_content_is_cut_on_the_span(tap_limited: Telemetry, client: Any) -> None:
    long_text = "All work and no play makes Jack a dull boy. " * 40
    client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": long_text}]}])
    span = tap_limited.span()
    assert span.attributes[sc.CONTENT_TRUNCATED] is True
    text = json.loads(span.attributes[sc.INPUT_MESSAGES])[0]["parts"][0]["content"]
    assert text == long_text[:300] + f"[TRUNCATED:{len(long_text) - 300} chars]"


@pytest.fixture
def tap_with_credentials(monkeypatch: pytest.MonkeyPatch, aws: str) -> Iterator[Telemetry]:
    """The process's own credentials in its environment, as on a real host."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "plainlowercasesecretwithnostructure1234")
    yield from _tap(monkeypatch)


def test_the_processs_own_secret_key_is_redacted_even_without_context(tap_with_credentials: Telemetry, client: Any) -> None:
    text = "debug dump: plainlowercasesecretwithnostructure1234"
    client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": text}]}])
    span = tap_with_credentials.span()
    assert "plainlowercasesecret" not in exported(span)
    assert "debug dump: [REDACTED:aws_secret_key]" in span.attributes[sc.INPUT_MESSAGES]
