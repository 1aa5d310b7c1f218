"""Amazon Bedrock Guardrails: ApplyGuardrail, and guardrails stopping or masking model calls.

The emulator's guardrail answers every identifier and triggers on fixed words (a denied
topic "stock tips", the content filter "violence", PII such as a phone number, masked
on output); each API says so in its own shape, and every family of InvokeModel body
carries it its own way (``amazon-bedrock-guardrailAction`` beside the family's keys).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Tuple

import pytest
from botocore.exceptions import ClientError

from genai_tap import semconv as sc

BLOCKED = "Sorry, the model cannot answer this question."
GUARD = {"guardrailIdentifier": "gr-demo", "guardrailVersion": "3"}


# --------------------------------------------------------------------------- ApplyGuardrail


def test_apply_guardrail_that_intervenes(tap: Any, client: Any) -> None:
    content = [{"text": {"text": "Give me stock tips, and mail them to jane@example.com"}}]
    response = client.apply_guardrail(source="INPUT", content=content, **GUARD)
    span = tap.span()
    a = span.attributes
    assert span.name == "apply_guardrail Amazon Bedrock Guardrails" and span.kind.name == "CLIENT"
    assert span.status.status_code.name == "UNSET"  # the guardrail's verdict, not a failure of the call
    assert a[sc.OPERATION_NAME] == "apply_guardrail" and a[sc.PROVIDER_NAME] == "aws.bedrock" and a[sc.BEDROCK_API] == "ApplyGuardrail"
    assert a[sc.GUARDRAIL_COMPONENT_NAME] == "Amazon Bedrock Guardrails"
    assert (a[sc.GUARDRAIL_POLICY_ID], a[sc.GUARDRAIL_POLICY_VERSION], a[sc.GUARDRAIL_SOURCE]) == ("gr-demo", "3", "INPUT")
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ID] == "gr-demo"
    assert a[sc.GUARDRAIL_RESULT_TYPE] == "action" and a[sc.GUARDRAIL_RESULT_VALUE] == response["action"] == "GUARDRAIL_INTERVENED"
    assert a[sc.GUARDRAIL_RESULT_REASON] == response["actionReason"]
    assert a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ("topic", "sensitive_information")
    assert sc.REQUEST_MODEL not in a and sc.RESPONSE_FINISH_REASONS not in a
    assert a["genai_tap.bedrock.latency_ms"] == sum(x["invocationMetrics"]["guardrailProcessingLatency"] for x in response["assessments"])
    assert json.loads(a[sc.INPUT_MESSAGES]) == [{"role": "user", "parts": [{"type": "text", "content": content[0]["text"]["text"]}]}]
    assert json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": o["text"]} for o in response["outputs"]]


def test_apply_guardrail_that_lets_content_through_and_output_source(tap: Any, client: Any) -> None:
    response = client.apply_guardrail(source="OUTPUT", content=[{"text": {"text": "The capital of France is Paris."}}], **GUARD)
    a = tap.span().attributes
    assert response["action"] == "NONE" and a[sc.GUARDRAIL_RESULT_VALUE] == "NONE"
    assert a[sc.GUARDRAIL_SOURCE] == "OUTPUT" and sc.AWS_BEDROCK_GUARDRAIL_POLICIES not in a
    assert json.loads(a[sc.INPUT_MESSAGES])[0]["role"] == "assistant"  # the content assessed is a model's answer


def test_apply_guardrail_masking(tap: Any, client: Any) -> None:
    response = client.apply_guardrail(source="OUTPUT", content=[{"text": {"text": "Call me at 555-123-4567."}}], **GUARD)
    a = tap.span().attributes
    assert a[sc.GUARDRAIL_RESULT_VALUE] == response["action"] == "GUARDRAIL_INTERVENED"
    assert a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ("sensitive_information",)
    assert "{PHONE}" in a[sc.OUTPUT_MESSAGES] and "555-123-4567" in a[sc.INPUT_MESSAGES]


def test_apply_guardrail_without_content(tap_no_content: Any, client: Any) -> None:
    client.apply_guardrail(source="INPUT", content=[{"text": {"text": "Give me stock tips please"}}], **GUARD)
    a = tap_no_content.span().attributes
    assert sc.INPUT_MESSAGES not in a and sc.OUTPUT_MESSAGES not in a and "stock" not in json.dumps(dict(a))
    assert a[sc.GUARDRAIL_RESULT_VALUE] == "GUARDRAIL_INTERVENED" and a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ("topic",)


def test_apply_guardrail_refused(tap: Any, client: Any) -> None:
    with pytest.raises(ClientError):
        client.apply_guardrail(guardrailIdentifier="notfound-guard", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "x"}}])
    span = tap.span()
    assert span.attributes[sc.ERROR_TYPE] == "ResourceNotFoundException" and span.status.status_code.name == "ERROR"


def test_apply_guardrail_through_aiobotocore(tap: Any, emulator: Any) -> None:
    from aiobotocore.session import get_session

    async def main() -> Any:
        async with get_session().create_client("bedrock-runtime") as c:
            return await c.apply_guardrail(source="INPUT", content=[{"text": {"text": "Tell me about violence"}}], **GUARD)

    response = asyncio.run(main())
    a = tap.span().attributes
    assert a[sc.GUARDRAIL_RESULT_VALUE] == response["action"] and a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ("content",)


def test_apply_guardrail_metrics(tap: Any, client: Any) -> None:
    client.apply_guardrail(source="INPUT", content=[{"text": {"text": "hello"}}], **GUARD)
    (point,) = tap.metric_points()[sc.METRIC_OPERATION_DURATION]
    assert dict(point.attributes)[sc.OPERATION_NAME] == "apply_guardrail"
    assert sc.METRIC_TOKEN_USAGE not in tap.metric_points()


# --------------------------------------------------------------------------- Converse


def converse_guard(trace: str = "enabled") -> Dict[str, Any]:
    return dict(GUARD, trace=trace)


@pytest.mark.parametrize("stream", [False, True])
def test_converse_blocked_by_a_guardrail(stream: bool, tap: Any, client: Any) -> None:
    messages = [{"role": "user", "content": [{"text": "Tell me about violence"}]}]
    call = client.converse_stream if stream else client.converse
    response = call(modelId="amazon.nova-lite-v1:0", messages=messages, guardrailConfig=converse_guard())
    if stream:
        events = list(response["stream"])
        assert any(e.get("messageStop", {}).get("stopReason") == "guardrail_intervened" for e in events)
    else:
        assert response["stopReason"] == "guardrail_intervened"
    a = tap.span().attributes
    assert a[sc.RESPONSE_FINISH_REASONS] == ("content_filter",)
    assert json.loads(a[sc.OUTPUT_MESSAGES])[0]["finish_reason"] == "content_filter"
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "INTERVENED" and a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ("content",)
    assert (a[sc.AWS_BEDROCK_GUARDRAIL_ID], a[sc.AWS_BEDROCK_GUARDRAIL_VERSION]) == ("gr-demo", "3")


@pytest.mark.parametrize("stream", [False, True])
def test_converse_masked_by_a_guardrail(stream: bool, tap: Any, client: Any) -> None:
    messages = [{"role": "user", "content": [{"text": "Please repeat my phone number 555-123-4567"}]}]
    call = client.converse_stream if stream else client.converse
    response = call(modelId="amazon.nova-lite-v1:0", messages=messages, guardrailConfig=converse_guard())
    if stream:
        list(response["stream"])
    a = tap.span().attributes
    assert a[sc.RESPONSE_FINISH_REASONS] == ("content_filter",) and a[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "INTERVENED"
    assert a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ("sensitive_information",)
    assert "{PHONE}" in a[sc.OUTPUT_MESSAGES]


def test_converse_the_guardrail_did_nothing(tap: Any, client: Any) -> None:
    messages = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
    client.converse(modelId="amazon.nova-lite-v1:0", messages=messages, guardrailConfig=converse_guard())
    a = tap.span().attributes
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",) and a[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "NONE"
    assert sc.AWS_BEDROCK_GUARDRAIL_POLICIES not in a


def test_converse_without_the_guardrails_trace(tap: Any, client: Any) -> None:
    messages = [{"role": "user", "content": [{"text": "Tell me about violence"}]}]
    client.converse(modelId="amazon.nova-lite-v1:0", messages=messages, guardrailConfig=converse_guard("disabled"))
    a = tap.span().attributes
    assert a[sc.RESPONSE_FINISH_REASONS] == ("content_filter",) and a[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "INTERVENED"
    assert sc.AWS_BEDROCK_GUARDRAIL_POLICIES not in a  # Bedrock did not say which


# --------------------------------------------------------------------------- InvokeModel, every family

PROMPT = "Tell me about violence"
FAMILIES: List[Tuple[str, Dict[str, Any], bool]] = [  # model, body, streamable
    ("us.amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]}, True),
    ("anthropic.claude-3-haiku-20240307-v1:0", {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": PROMPT}]}, True),
    ("anthropic.claude-v2:1", {"prompt": f"\n\nHuman: {PROMPT}\n\nAssistant:", "max_tokens_to_sample": 50}, True),
    ("amazon.titan-text-express-v1", {"inputText": PROMPT}, True),
    ("meta.llama3-8b-instruct-v1:0", {"prompt": PROMPT, "max_gen_len": 40}, True),
    ("mistral.mistral-7b-instruct-v0:2", {"prompt": f"<s>[INST] {PROMPT} [/INST]"}, True),
    ("mistral.mistral-large-2407-v1:0", {"messages": [{"role": "user", "content": PROMPT}]}, True),
    ("cohere.command-r-v1:0", {"message": PROMPT}, True),
    ("cohere.command-text-v14", {"prompt": PROMPT, "max_tokens": 40}, True),
    ("ai21.j2-mid-v1", {"prompt": PROMPT, "maxTokens": 40}, False),
    ("deepseek.r1-v1:0", {"prompt": PROMPT}, True),
    ("openai.gpt-oss-120b-1:0", {"messages": [{"role": "user", "content": PROMPT}]}, True),
]


@pytest.mark.parametrize("model,body,streamable", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_invoke_model_stopped_by_a_guardrail_in_every_family(model: str, body: Dict[str, Any], streamable: bool, tap: Any, client: Any) -> None:
    response = client.invoke_model(modelId=model, body=json.dumps(body), trace="ENABLED", **GUARD)
    answer = json.loads(response["body"].read())
    assert answer["amazon-bedrock-guardrailAction"] == "INTERVENED"
    spans = [tap.span()]
    if streamable:
        tap._spans.clear()
        events = list(client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body), trace="ENABLED", **GUARD)["body"])
        assert events
        spans.append(tap.span())
    for span in spans:
        a = span.attributes
        assert set(a[sc.RESPONSE_FINISH_REASONS]) == {"content_filter"}, span.name
        assert a[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "INTERVENED" and a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ("content",)
        assert (a[sc.AWS_BEDROCK_GUARDRAIL_ID], a[sc.AWS_BEDROCK_GUARDRAIL_VERSION]) == ("gr-demo", "3")
        out = json.loads(a[sc.OUTPUT_MESSAGES])
        assert all(m["finish_reason"] == "content_filter" for m in out)
        assert BLOCKED in json.dumps(out)


@pytest.mark.parametrize("stream", [False, True])
def test_invoke_model_masked_and_untouched(stream: bool, tap: Any, client: Any) -> None:
    def call(text: str) -> None:
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": text}]})
        if stream:
            list(client.invoke_model_with_response_stream(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=body, **GUARD)["body"])
        else:
            client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=body, **GUARD)["body"].read()

    call("Repeat 555-123-4567 please")
    call("What is the capital of France?")
    masked, untouched = sorted(tap.spans(), key=lambda s: s.start_time)
    assert masked.attributes[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "INTERVENED"
    assert masked.attributes[sc.RESPONSE_FINISH_REASONS] == ("content_filter",)
    assert "{PHONE}" in masked.attributes[sc.OUTPUT_MESSAGES]
    assert untouched.attributes[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "NONE"
    assert untouched.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
