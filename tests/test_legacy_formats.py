"""InvokeModel body formats still found in real traffic: Claude 2 / Instant text
completions, Cohere Command ``generate``, AI21 Jurassic-2.

Each is a ``text_completion`` span with its request parameters, finish reasons,
response id and content, streamed where Bedrock streams the model; the emulator
answers in the shapes recorded from Bedrock.
"""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest
from botocore.exceptions import ClientError

from genai_tap import semconv as sc

CLAUDE_PROMPT = "\n\nHuman: Name three rivers.\n\nAssistant:"


def invoke(client: Any, model: str, body: Dict[str, Any]) -> Dict[str, Any]:
    return json.loads(client.invoke_model(modelId=model, body=json.dumps(body))["body"].read())


def stream(client: Any, model: str, body: Dict[str, Any]) -> list:
    events = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))["body"]
    return [json.loads(e["chunk"]["bytes"]) for e in events]


def inputs(span: Any) -> Any:
    return json.loads(span.attributes[sc.INPUT_MESSAGES])


def outputs(span: Any) -> Any:
    return json.loads(span.attributes[sc.OUTPUT_MESSAGES])


# --------------------------------------------------------------------------- Claude 2 text completions


@pytest.mark.parametrize("model", ["anthropic.claude-v2", "anthropic.claude-v2:1", "anthropic.claude-instant-v1", "us.anthropic.claude-v2:1"])
def test_claude_text_completion(model: str, tap: Any, client: Any) -> None:
    body = {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 60, "temperature": 0.4, "top_p": 0.8, "top_k": 20, "stop_sequences": ["\n\nHuman:"]}
    answer = invoke(client, model, body)
    span = tap.span()
    a = span.attributes
    assert span.name == f"text_completion {model}" and a[sc.OPERATION_NAME] == "text_completion" and a[sc.MODEL_FAMILY] == "anthropic_text"
    assert (a[sc.REQUEST_MAX_TOKENS], a[sc.REQUEST_TEMPERATURE], a[sc.REQUEST_TOP_P], a[sc.REQUEST_TOP_K]) == (60, 0.4, 0.8, 20)
    assert a[sc.REQUEST_STOP_SEQUENCES] == ("\n\nHuman:",)
    assert answer["stop_reason"] == "stop_sequence" and a[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert inputs(span) == [{"role": "user", "parts": [{"type": "text", "content": CLAUDE_PROMPT}]}]
    assert outputs(span) == [{"role": "assistant", "parts": [{"type": "text", "content": answer["completion"]}], "finish_reason": "stop"}]
    assert a[sc.USAGE_INPUT_TOKENS] > 0 and a[sc.USAGE_OUTPUT_TOKENS] > 0


def test_claude_text_completion_cut_at_max_tokens(tap: Any, client: Any) -> None:
    prompt = "\n\nHuman: " + "Tell me a very long story about rivers and mountains and seas. " * 3 + "\n\nAssistant:"
    answer = invoke(client, "anthropic.claude-v2", {"prompt": prompt, "max_tokens_to_sample": 2})
    assert answer["stop_reason"] == "max_tokens"
    assert tap.span().attributes[sc.RESPONSE_FINISH_REASONS] == ("length",)


def test_claude_text_completion_stream(tap: Any, client: Any) -> None:
    chunks = stream(client, "anthropic.claude-v2:1", {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 60})
    a = tap.span().attributes
    assert a[sc.REQUEST_STREAM] is True and a[sc.STREAM_CHUNKS] == len(chunks)
    text = "".join(c["completion"] for c in chunks)
    assert json.loads(a[sc.OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert (a[sc.USAGE_INPUT_TOKENS], a[sc.USAGE_OUTPUT_TOKENS]) == (metrics["inputTokenCount"], metrics["outputTokenCount"])
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",) and a[sc.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_claude_2_with_a_messages_body_is_chat(tap: Any, client: Any) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 40, "messages": [{"role": "user", "content": "Hi Claude 2"}]}
    invoke(client, "anthropic.claude-v2:1", body)
    span = tap.span()
    assert span.name == "chat anthropic.claude-v2:1" and span.attributes[sc.MODEL_FAMILY] == "anthropic"


def test_claude_3_text_completion_is_refused(tap: Any, client: Any) -> None:
    with pytest.raises(ClientError):
        invoke(client, "anthropic.claude-3-haiku-20240307-v1:0", {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 20})
    span = tap.span()
    assert span.attributes[sc.ERROR_TYPE] == "ValidationException"
    assert span.name == "chat anthropic.claude-3-haiku-20240307-v1:0"  # Claude 3 has no text format: nothing read as one


# --------------------------------------------------------------------------- Cohere Command generate


@pytest.mark.parametrize("model", ["cohere.command-text-v14", "cohere.command-light-text-v14"])
def test_cohere_generate(model: str, tap: Any, client: Any) -> None:
    body = {"prompt": "Write a haiku", "max_tokens": 80, "temperature": 0.6, "p": 0.75, "k": 10, "stop_sequences": ["END"],
            "num_generations": 2, "return_likelihoods": "GENERATION", "truncate": "END"}
    answer = invoke(client, model, body)
    span = tap.span()
    a = span.attributes
    assert span.name == f"text_completion {model}" and a[sc.MODEL_FAMILY] == "cohere_generate"
    assert (a[sc.REQUEST_MAX_TOKENS], a[sc.REQUEST_TEMPERATURE], a[sc.REQUEST_TOP_P], a[sc.REQUEST_TOP_K]) == (80, 0.6, 0.75, 10)
    assert a[sc.REQUEST_CHOICE_COUNT] == 2 and a[sc.REQUEST_STOP_SEQUENCES] == ("END",)
    assert a["genai_tap.request.return_likelihoods"] == "GENERATION" and a["genai_tap.request.truncate"] == "END"
    assert a[sc.RESPONSE_ID] == answer["id"]
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop", "stop")
    assert [m["parts"][0]["content"] for m in outputs(span)] == [g["text"] for g in answer["generations"]]
    assert inputs(span)[0]["parts"][0]["content"] == "Write a haiku"


def test_cohere_generate_cut_at_max_tokens(tap: Any, client: Any) -> None:
    answer = invoke(client, "cohere.command-text-v14", {"prompt": "Write a long essay about the sea and its many moods", "max_tokens": 2})
    assert answer["generations"][0]["finish_reason"] == "MAX_TOKENS"
    assert tap.span().attributes[sc.RESPONSE_FINISH_REASONS] == ("length",)


def test_cohere_generate_stream(tap: Any, client: Any) -> None:
    chunks = stream(client, "cohere.command-text-v14", {"prompt": "Write a haiku", "max_tokens": 80, "stream": True})
    a = tap.span().attributes
    text = "".join(c.get("text", "") for c in chunks if not c.get("is_finished"))
    assert json.loads(a[sc.OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}]
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",) and a[sc.USAGE_OUTPUT_TOKENS] == chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"]


# --------------------------------------------------------------------------- AI21 Jurassic-2


@pytest.mark.parametrize("model", ["ai21.j2-mid-v1", "ai21.j2-ultra-v1"])
def test_jurassic(model: str, tap: Any, client: Any) -> None:
    body = {"prompt": "Explain tides", "maxTokens": 60, "temperature": 0.3, "topP": 0.9, "stopSequences": ["##"], "numResults": 2,
            "presencePenalty": {"scale": 0.4}, "frequencyPenalty": {"scale": 0.2}, "countPenalty": {"scale": 0.1}}
    answer = invoke(client, model, body)
    span = tap.span()
    a = span.attributes
    assert span.name == f"text_completion {model}" and a[sc.MODEL_FAMILY] == "ai21_jurassic"
    assert (a[sc.REQUEST_MAX_TOKENS], a[sc.REQUEST_TEMPERATURE], a[sc.REQUEST_TOP_P], a[sc.REQUEST_CHOICE_COUNT]) == (60, 0.3, 0.9, 2)
    assert (a[sc.REQUEST_PRESENCE_PENALTY], a[sc.REQUEST_FREQUENCY_PENALTY], a["genai_tap.request.count_penalty"]) == (0.4, 0.2, 0.1)
    assert a[sc.RESPONSE_ID] == str(answer["id"])
    assert a[sc.RESPONSE_FINISH_REASONS] == tuple("stop" if c["finishReason"]["reason"] in ("endoftext", "stop") else "length" for c in answer["completions"])
    assert [m["parts"][0]["content"] for m in outputs(span)] == [c["data"]["text"] for c in answer["completions"]]
    assert a[sc.USAGE_INPUT_TOKENS] > 0 and a[sc.USAGE_OUTPUT_TOKENS] > 0


def test_jurassic_cut_at_max_tokens(tap: Any, client: Any) -> None:
    answer = invoke(client, "ai21.j2-ultra-v1", {"prompt": "Write a long essay about the sea and its many moods", "maxTokens": 2})
    assert answer["completions"][0]["finishReason"]["reason"] == "length"
    assert tap.span().attributes[sc.RESPONSE_FINISH_REASONS] == ("length",)


def test_jurassic_is_not_streamed(tap: Any, client: Any) -> None:
    with pytest.raises(ClientError):
        client.invoke_model_with_response_stream(modelId="ai21.j2-mid-v1", body=json.dumps({"prompt": "hi"}))
    span = tap.span()
    assert span.attributes[sc.ERROR_TYPE] == "ValidationException" and span.attributes[sc.MODEL_FAMILY] == "ai21_jurassic"


# --------------------------------------------------------------------------- opaque model ARNs and content off


@pytest.mark.parametrize(
    "body,family",
    [
        ({"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 30}, "anthropic_text"),
        ({"prompt": "hi", "num_generations": 1}, "cohere_generate"),
        ({"prompt": "hi", "maxTokens": 30}, "ai21_jurassic"),
    ],
)
def test_the_body_names_the_family_behind_an_opaque_arn(body: Dict[str, Any], family: str) -> None:
    from genai_tap_bedrock import formats, model_ids

    ref = model_ids.resolve("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123")
    fmt = formats.select(ref, body)
    assert fmt is not None and fmt.name == family


def test_legacy_formats_without_content(tap_no_content: Any, client: Any) -> None:
    invoke(client, "anthropic.claude-v2", {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 30})
    invoke(client, "cohere.command-text-v14", {"prompt": "Write a haiku about rivers"})
    invoke(client, "ai21.j2-mid-v1", {"prompt": "Explain rivers"})
    stream(client, "anthropic.claude-instant-v1", {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 30})
    spans = tap_no_content.spans()
    assert len(spans) == 4
    exported = json.dumps([dict(s.attributes) for s in spans])
    assert "rivers" not in exported and "emulator" not in exported
    assert all(s.attributes[sc.RESPONSE_FINISH_REASONS] for s in spans)
