"""InvokeModel for every model family: real botocore, the emulator, the spans genai-tap makes.

Each case sends the family's native body and checks the span: name, operation,
parameters in the family's own spelling, tokens, finish reason, and the
prompt/completion in the conventions' JSON shape.
"""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

TOOLS_SCHEMA = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}

CASES: Dict[str, Dict[str, Any]] = {
    "nova": dict(
        model="amazon.nova-lite-v1:0",
        body={
            "schemaVersion": "messages-v1",
            "system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Name a French city"}]}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "topP": 0.9, "topK": 20, "stopSequences": ["END"]},
        },
        operation="chat",
        attrs={
            "gen_ai.request.max_tokens": 100,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.top_k": 20,
            "gen_ai.request.stop_sequences": ("END",),
            "gen_ai.response.finish_reasons": ("stop",),
            "genai_tap.model.family": "nova",
        },
        system="Be brief.",
        prompt="Name a French city",
    ),
    "nova-snake-case-params": dict(
        model="us.amazon.nova-pro-v1:0",
        body={
            "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
            "inferenceConfig": {"max_new_tokens": 64, "top_p": 0.8, "top_k": 5, "temperature": 0.1},
        },
        operation="chat",
        attrs={"gen_ai.request.max_tokens": 64, "gen_ai.request.top_p": 0.8, "gen_ai.request.top_k": 5},
        prompt="Hello",
    ),
    "nova-2-with-image-and-video": dict(
        model="global.amazon.nova-2-lite-v1:0",
        body={
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"}}},
                        {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://bucket/clip.mp4"}}}},
                        {"text": "Describe these"},
                    ],
                }
            ],
            "inferenceConfig": {"maxTokens": 50},
        },
        operation="chat",
        attrs={"genai_tap.model.base_id": "amazon.nova-2-lite-v1:0"},
        prompt="Describe these",
        input_parts=[
            {"type": "blob", "modality": "image", "mime_type": "image/png"},
            {"type": "uri", "modality": "video", "mime_type": "video/mp4", "uri": "s3://bucket/clip.mp4"},
            {"type": "text", "content": "Describe these"},
        ],
    ),
    "claude": dict(
        model="anthropic.claude-3-haiku-20240307-v1:0",
        body={
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "system": "You are terse.",
            "temperature": 0.2,
            "top_p": 0.95,
            "top_k": 40,
            "stop_sequences": ["\n\nHuman:"],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello in French"}]}],
        },
        operation="chat",
        attrs={
            "gen_ai.request.max_tokens": 200,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.top_k": 40,
            "gen_ai.response.model": "claude-3-haiku-20240307",
            "gen_ai.usage.cache_read.input_tokens": 0,
        },
        response_id_prefix="msg_bdrk_",
        system="You are terse.",
        prompt="Say hello in French",
    ),
    "titan-text": dict(
        model="amazon.titan-text-express-v1",
        body={"inputText": "Write one line about rain", "textGenerationConfig": {"maxTokenCount": 300, "temperature": 0.7, "topP": 0.9}},
        operation="text_completion",
        attrs={"gen_ai.request.max_tokens": 300, "gen_ai.request.top_p": 0.9, "gen_ai.response.finish_reasons": ("stop",)},
        prompt="Write one line about rain",
    ),
    "llama": dict(
        model="meta.llama3-1-70b-instruct-v1:0",
        body={"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\nHi<|eot_id|>", "max_gen_len": 128, "temperature": 0.5, "top_p": 0.9},
        operation="text_completion",
        attrs={"gen_ai.request.max_tokens": 128, "gen_ai.request.temperature": 0.5, "gen_ai.response.finish_reasons": ("stop",)},
    ),
    "mistral-text": dict(
        model="mistral.mistral-7b-instruct-v0:2",
        body={"prompt": "<s>[INST] Tell me a joke [/INST]", "max_tokens": 80, "temperature": 0.4, "top_p": 0.9, "top_k": 50, "stop": ["</s>"]},
        operation="text_completion",
        attrs={"gen_ai.request.max_tokens": 80, "gen_ai.request.top_k": 50, "gen_ai.request.stop_sequences": ("</s>",), "genai_tap.model.family": "mistral"},
        prompt="<s>[INST] Tell me a joke [/INST]",
    ),
    "mistral-chat": dict(
        model="mistral.mistral-large-2407-v1:0",
        body={"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi Mistral"}], "max_tokens": 90, "temperature": 0.3},
        operation="chat",
        attrs={"gen_ai.request.max_tokens": 90, "genai_tap.model.family": "openai_chat", "gen_ai.response.model": "mistral.mistral-large-2407-v1:0"},
        response_id_prefix="chatcmpl-",
        system="Be kind.",
        prompt="Hi Mistral",
    ),
    "cohere-command-r": dict(
        model="cohere.command-r-plus-v1:0",
        body={"message": "What is Bedrock?", "chat_history": [{"role": "USER", "message": "Hello"}, {"role": "CHATBOT", "message": "Hi!"}], "preamble": "Answer shortly.", "max_tokens": 120, "p": 0.7, "k": 30, "temperature": 0.3},
        operation="chat",
        attrs={"gen_ai.request.max_tokens": 120, "gen_ai.request.top_p": 0.7, "gen_ai.request.top_k": 30, "gen_ai.response.finish_reasons": ("stop",)},
        system="Answer shortly.",
        prompt="What is Bedrock?",
    ),
    "ai21-jamba": dict(
        model="ai21.jamba-1-5-mini-v1:0",
        body={"messages": [{"role": "user", "content": "Hello Jamba"}], "max_tokens": 70, "top_p": 0.9, "n": 1},
        operation="chat",
        attrs={"gen_ai.request.max_tokens": 70, "gen_ai.request.choice.count": 1},
        prompt="Hello Jamba",
    ),
    "deepseek-r1": dict(
        model="us.deepseek.r1-v1:0",
        body={"prompt": "Why is the sky blue?", "max_tokens": 256, "temperature": 0.6, "stop": ["<|end|>"]},
        operation="text_completion",
        attrs={"gen_ai.request.max_tokens": 256, "genai_tap.model.family": "deepseek"},
        prompt="Why is the sky blue?",
    ),
    "openai-gpt-oss": dict(
        model="openai.gpt-oss-20b-1:0",
        body={"messages": [{"role": "developer", "content": "Reply in English."}, {"role": "user", "content": [{"type": "text", "text": "Hello GPT"}]}], "max_completion_tokens": 150, "temperature": 1.0},
        operation="chat",
        attrs={"gen_ai.request.max_tokens": 150, "genai_tap.model.family": "openai_chat"},
        system="Reply in English.",
        prompt="Hello GPT",
    ),
}


def _call(client: Any, case: Dict[str, Any]) -> Dict[str, Any]:
    resp = client.invoke_model(modelId=case["model"], body=json.dumps(case["body"]))
    return json.loads(resp["body"].read())


@pytest.mark.parametrize("name", sorted(CASES))
def test_invoke_model_family(name: str, tap: Any, client: Any) -> None:
    case = CASES[name]
    _call(client, case)
    span = tap.span()
    a = span.attributes
    assert span.name == f"{case['operation']} {case['model']}"
    assert span.kind.name == "CLIENT"
    assert a["gen_ai.operation.name"] == case["operation"]
    assert a["gen_ai.provider.name"] == "aws.bedrock"
    assert a["gen_ai.request.model"] == case["model"]
    assert a["gen_ai.request.stream"] is False
    assert a["genai_tap.bedrock.api"] == "InvokeModel"
    assert a["server.address"] == "127.0.0.1" and isinstance(a["server.port"], int)
    assert a["aws.request_id"]
    # tokens come from the response headers or body, never estimated
    assert a["gen_ai.usage.input_tokens"] > 0
    assert a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"]
    for key, value in case["attrs"].items():
        assert a[key] == value, key
    if "response_id_prefix" in case:
        assert a["gen_ai.response.id"].startswith(case["response_id_prefix"])
    inputs = json.loads(a["gen_ai.input.messages"])
    outputs = json.loads(a["gen_ai.output.messages"])
    assert inputs[-1]["role"] == "user"
    if "prompt" in case:
        assert inputs[-1]["parts"][-1] == {"type": "text", "content": case["prompt"]} or case["prompt"] in json.dumps(inputs)
    if "input_parts" in case:
        assert inputs[-1]["parts"] == case["input_parts"]
    assert outputs[0]["role"] == "assistant"
    assert outputs[0]["parts"][0]["content"].startswith("Hello from the genai-tap emulator")
    assert outputs[0]["finish_reason"] == a["gen_ai.response.finish_reasons"][0]
    if "system" in case:
        assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": case["system"]}]
    else:
        assert "gen_ai.system_instructions" not in a
    assert span.status.status_code.name == "UNSET"


def test_usage_matches_what_the_model_reported(tap: Any, client: Any) -> None:
    out = _call(client, CASES["claude"])
    a = tap.span().attributes
    assert a["gen_ai.usage.input_tokens"] == out["usage"]["input_tokens"]
    assert a["gen_ai.usage.output_tokens"] == out["usage"]["output_tokens"]


def test_length_finish_reason_when_max_tokens_cuts_the_answer(tap: Any, client: Any) -> None:
    case = dict(CASES["titan-text"], body={"inputText": "Tell me a story", "textGenerationConfig": {"maxTokenCount": 3}})
    out = _call(client, case)
    assert out["results"][0]["completionReason"] == "LENGTH"
    assert tap.span().attributes["gen_ai.response.finish_reasons"] == ("length",)


def test_claude_tool_use_round_trip(tap: Any, client: Any) -> None:
    tools = [{"name": "get_weather", "description": "Weather for a city", "input_schema": TOOLS_SCHEMA}]
    first = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 300,
        "tools": tools,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    out = json.loads(client.invoke_model(modelId="anthropic.claude-3-5-sonnet-20240620-v1:0", body=json.dumps(first))["body"].read())
    use = next(b for b in out["content"] if b["type"] == "tool_use")
    second = dict(
        first,
        messages=first["messages"]
        + [
            {"role": "assistant", "content": out["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "rainy, 12C"}]},
        ],
    )
    client.invoke_model(modelId="anthropic.claude-3-5-sonnet-20240620-v1:0", body=json.dumps(second))
    s1, s2 = tap.spans()
    a1, a2 = s1.attributes, s2.attributes
    assert a1["gen_ai.response.finish_reasons"] == ("tool_call",)
    out_parts = json.loads(a1["gen_ai.output.messages"])[0]["parts"]
    assert {"type": "tool_call", "id": use["id"], "name": "get_weather", "arguments": {"location": "Paris"}} in out_parts
    assert json.loads(a1["gen_ai.tool.definitions"]) == [
        {"type": "function", "name": "get_weather", "description": "Weather for a city", "parameters": TOOLS_SCHEMA}
    ]
    inputs = json.loads(a2["gen_ai.input.messages"])
    assert inputs[-1]["parts"] == [{"type": "tool_call_response", "id": use["id"], "response": "rainy, 12C"}]
    assert a2["gen_ai.response.finish_reasons"] == ("stop",)


def test_openai_format_tool_calls_have_parsed_arguments(tap: Any, client: Any) -> None:
    body = {
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": TOOLS_SCHEMA}}],
    }
    client.invoke_model(modelId="mistral.mistral-large-2407-v1:0", body=json.dumps(body))
    a = tap.span().attributes
    parts = json.loads(a["gen_ai.output.messages"])[0]["parts"]
    call = next(p for p in parts if p["type"] == "tool_call")
    assert call["name"] == "get_weather" and call["arguments"] == {"location": "Paris"}
    assert a["gen_ai.response.finish_reasons"] == ("tool_call",)


def test_cohere_tool_calls(tap: Any, client: Any) -> None:
    body = {
        "message": "Weather in Paris?",
        "tools": [{"name": "get_weather", "description": "Weather", "parameter_definitions": {"location": {"type": "str", "required": True}}}],
    }
    client.invoke_model(modelId="cohere.command-r-v1:0", body=json.dumps(body))
    parts = json.loads(tap.span().attributes["gen_ai.output.messages"])[0]["parts"]
    assert any(p["type"] == "tool_call" and p["name"] == "get_weather" for p in parts)


def test_reasoning_is_a_reasoning_part(tap: Any, client: Any) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Think, then answer: 2+2?"}],
    }
    client.invoke_model(modelId="us.anthropic.claude-3-7-sonnet-20250219-v1:0", body=json.dumps(body))
    parts = json.loads(tap.span().attributes["gen_ai.output.messages"])[0]["parts"]
    assert parts[0]["type"] == "reasoning" and parts[0]["content"]
    assert parts[1]["type"] == "text"


def test_the_request_body_is_decoded_on_the_app_thread_only_when_its_keys_choose_the_format(
    tap: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nova has one body format: its request is decoded on the finisher thread. Mistral has
    two (text and chat), told apart by the body's keys: decoded on the app's thread, read
    on the finisher's. A bytearray the app refills right after the call is recorded as sent."""
    import threading

    from genai_tap_bedrock import operations

    client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    tap.spans()  # the finisher's thread is running (its very first job runs while Thread.start() waits)
    decoded_on = {}
    json_body = operations.json_body

    def decode(text: Any) -> Any:
        body = json_body(text)
        decoded_on[str(body)[:40]] = threading.get_ident()
        return body

    monkeypatch.setattr(operations, "json_body", decode)
    app = threading.get_ident()

    nova = bytearray(json.dumps(CASES["nova"]["body"]).encode())
    client.invoke_model(modelId=CASES["nova"]["model"], body=nova)
    nova[:] = json.dumps({"messages": [{"role": "user", "content": [{"text": "changed"}]}]}).encode()
    mistral = CASES["mistral-chat"]
    client.invoke_model(modelId=mistral["model"], body=json.dumps(mistral["body"]))
    nova_span, mistral_span = tap.spans()[-2:]

    on_app = {body: thread == app for body, thread in decoded_on.items()}
    assert on_app == {str(CASES["nova"]["body"])[:40]: False, str(mistral["body"])[:40]: True}
    assert json.loads(nova_span.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == "Name a French city"
    assert nova_span.attributes["gen_ai.request.max_tokens"] == 100
    assert mistral_span.attributes["genai_tap.model.family"] == "openai_chat"
    assert mistral_span.attributes["gen_ai.request.max_tokens"] == 90
