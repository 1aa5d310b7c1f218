"""Unmodified apps under ``genai-tap run``: what reaches Datadog's test agent, span by span."""

from __future__ import annotations

import json

import pytest

from ..support.apps import run_app
from .conftest import ML_APP
from .testagent import by_name, tags

CONVERSE_WITH_TOOLS = """
    import boto3

    client = boto3.client("bedrock-runtime")
    tools = {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "Current weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    }}]}
    question = {"role": "user", "content": [{"text": "What is the weather in Paris?"}]}
    first = client.converse(
        modelId="us.amazon.nova-lite-v1:0",
        system=[{"text": "You answer in one sentence."}],
        messages=[question],
        inferenceConfig={"temperature": 0.2, "maxTokens": 256, "topP": 0.9, "stopSequences": ["END"]},
        toolConfig=tools,
    )
    call = next(b["toolUse"] for b in first["output"]["message"]["content"] if "toolUse" in b)
    second = client.converse(
        modelId="us.amazon.nova-lite-v1:0",
        messages=[
            question,
            first["output"]["message"],
            {"role": "user", "content": [{"toolResult": {
                "toolUseId": call["toolUseId"], "content": [{"json": {"forecast": "rainy", "celsius": 14}}],
            }}]},
        ],
        toolConfig=tools,
    )
    print(call["toolUseId"])
"""


@pytest.mark.slow
def test_converse_with_tools(dd_env, agent, tmp_path):
    proc = run_app(CONVERSE_WITH_TOOLS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    tool_use_id = proc.stdout.strip()
    spans = agent.llmobs_spans(count=2)
    assert len(spans) == 2
    first, second = sorted(spans, key=lambda s: s["start_ns"])

    for span in (first, second):
        assert span["name"] == "aws.bedrock.converse"
        assert span["status"] == "ok"
        assert span["parent_id"] == "undefined"  # no LLMObs or APM span around the call in this app
        meta = span["meta"]
        assert meta["span"]["kind"] == "llm"
        assert meta["model_name"] == "us.amazon.nova-lite-v1:0"
        assert meta["model_provider"] == "amazon_bedrock"
        t = tags(span)
        assert t["ml_app"] == ML_APP
        assert (t["service"], t["env"], t["version"]) == ("checkout", "test", "1.2.3")
        assert t["team"] == "ml"  # DD_TAGS
        assert t["tier"] == "gold"  # GENAI_TAP_DD_TAGS
        assert t["error"] == "0"

    meta = first["meta"]
    assert meta["input"]["messages"] == [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    [out] = meta["output"]["messages"]
    assert out["role"] == "assistant"
    assert out["content"].startswith("Hello from the genai-tap emulator")
    assert out["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "tool_id": tool_use_id, "type": "function"}
    ]
    assert meta["tool_definitions"] == [{
        "name": "get_weather",
        "description": "Current weather for a city",
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }]
    md = meta["metadata"]
    assert (md["temperature"], md["max_tokens"], md["top_p"], md["stop_sequences"]) == (0.2, 256, 0.9, ["END"])
    assert (md["stop_reason"], md["finish_reasons"], md["api"]) == ("tool_use", ["tool_call"], "Converse")
    metrics = first["metrics"]
    assert metrics["input_tokens"] > 0 and metrics["output_tokens"] > 0
    assert metrics["total_tokens"] == metrics["input_tokens"] + metrics["output_tokens"]

    # the second turn carries the tool call and its result in its input
    inputs = second["meta"]["input"]["messages"]
    assert inputs[1]["tool_calls"][0]["tool_id"] == tool_use_id
    assert inputs[2]["role"] == "user"
    assert inputs[2]["tool_results"] == [
        {"result": json.dumps({"forecast": "rainy", "celsius": 14}), "tool_id": tool_use_id, "type": "tool_result"}
    ]
    assert second["meta"]["metadata"]["stop_reason"] == "end_turn"


INVOKE_FAMILIES = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    bodies = {
        "amazon.nova-lite-v1:0": {
            "system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hello Nova"}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topK": 20},
        },
        "anthropic.claude-3-haiku-20240307-v1:0": {
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "top_p": 0.8, "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello Claude"}]}],
        },
        "amazon.titan-text-express-v1": {
            "inputText": "Hello Titan", "textGenerationConfig": {"maxTokenCount": 64, "temperature": 0.3},
        },
        "meta.llama3-8b-instruct-v1:0": {"prompt": "Hello Llama", "max_gen_len": 64, "temperature": 0.4},
        "openai.gpt-oss-20b-1:0": {"messages": [{"role": "user", "content": "Hello GPT"}], "max_tokens": 64},
    }
    for model_id, body in bodies.items():
        resp = client.invoke_model(modelId=model_id, body=json.dumps(body))
        json.loads(resp["body"].read())
"""

FAMILY_PROMPTS = {
    "amazon.nova-lite-v1:0": ("chat", "Hello Nova", {"max_tokens": 64, "temperature": 0.5, "top_k": 20}),
    "anthropic.claude-3-haiku-20240307-v1:0": ("chat", "Hello Claude", {"max_tokens": 64, "top_p": 0.8}),
    "amazon.titan-text-express-v1": ("text_completion", "Hello Titan", {"max_tokens": 64, "temperature": 0.3}),
    "meta.llama3-8b-instruct-v1:0": ("text_completion", "Hello Llama", {"max_tokens": 64, "temperature": 0.4}),
    "openai.gpt-oss-20b-1:0": ("chat", "Hello GPT", {"max_tokens": 64}),
}


@pytest.mark.slow
def test_invoke_model_families(dd_env, agent, tmp_path):
    proc = run_app(INVOKE_FAMILIES, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=len(FAMILY_PROMPTS))
    assert sorted(s["meta"]["model_name"] for s in spans) == sorted(FAMILY_PROMPTS)
    for span in spans:
        meta = span["meta"]
        _, prompt, params = FAMILY_PROMPTS[meta["model_name"]]
        assert span["name"] == "aws.bedrock.invoke_model"
        assert meta["span"]["kind"] == "llm"
        assert meta["model_provider"] == "amazon_bedrock"
        user = [m for m in meta["input"]["messages"] if m["role"] == "user"]
        assert user == [{"role": "user", "content": prompt}], meta["model_name"]
        [out] = meta["output"]["messages"]
        assert out["role"] == "assistant"
        assert out["content"].startswith("Hello from the genai-tap emulator"), meta["model_name"]
        assert params.items() <= meta["metadata"].items(), meta["model_name"]
        assert meta["metadata"]["api"] == "InvokeModel"
        assert span["metrics"]["input_tokens"] > 0 and span["metrics"]["output_tokens"] > 0, meta["model_name"]
    nova = [s for s in spans if s["meta"]["model_name"].startswith("amazon.nova")][0]
    assert nova["meta"]["input"]["messages"][0] == {"role": "system", "content": "Be brief."}


EMBEDDINGS = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                        body=json.dumps({"inputText": "A sentence to embed", "dimensions": 256}))
    client.invoke_model(modelId="cohere.embed-english-v3",
                        body=json.dumps({"texts": ["first text", "second text"], "input_type": "search_document"}))
"""


@pytest.mark.slow
def test_embeddings(dd_env, agent, tmp_path):
    proc = run_app(EMBEDDINGS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=2)
    assert len(spans) == 2
    titan, cohere = sorted(spans, key=lambda s: s["start_ns"])
    for span in spans:
        assert span["meta"]["span"]["kind"] == "embedding"
        assert span["meta"]["model_provider"] == "amazon_bedrock"
        assert span["metrics"]["input_tokens"] > 0
    assert titan["meta"]["model_name"] == "amazon.titan-embed-text-v2:0"
    assert titan["meta"]["input"]["documents"] == [{"text": "A sentence to embed"}]
    assert titan["meta"]["output"]["value"] == "[1 embedding(s) returned with size 256]"
    assert titan["meta"]["metadata"]["embedding_dimensions"] == 256
    assert cohere["meta"]["input"]["documents"] == [{"text": "first text"}, {"text": "second text"}]
    assert cohere["meta"]["output"]["value"] == "[2 embedding(s) returned]"


FAILING_CALL = """
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("bedrock-runtime")
    try:
        client.converse(modelId="amazon.nova-lite-v1:0",
                        messages=[{"role": "user", "content": [{"text": "Will this work?"}]}])
    except ClientError as exc:
        print(exc.response["Error"]["Code"])
"""


@pytest.mark.slow
def test_error(dd_env, agent, fresh_emulator, tmp_path):
    fresh_emulator.add_fault("ThrottlingException", operation="converse")
    proc = run_app(FAILING_CALL, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ThrottlingException"  # the app saw botocore's own error
    [span] = agent.llmobs_spans()
    assert span["status"] == "error"
    error = span["meta"]["error"]
    assert error["type"] == "botocore.errorfactory.ThrottlingException"
    assert "Too many requests" in error["message"]
    assert "Traceback" in error["stack"] and "ThrottlingException" in error["stack"]
    t = tags(span)
    assert t["error"] == "1"
    assert t["error_type"] == "botocore.errorfactory.ThrottlingException"
    assert span["meta"]["input"]["messages"] == [{"role": "user", "content": "Will this work?"}]
    assert "output" not in span["meta"] or not span["meta"]["output"].get("messages")


@pytest.mark.slow
def test_no_content_when_capture_is_off(dd_env, agent, tmp_path):
    dd_env["GENAI_TAP_CAPTURE_CONTENT"] = "false"
    proc = run_app(CONVERSE_WITH_TOOLS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=2)
    assert len(spans) == 2
    raw = agent.raw_bytes()  # what crossed the wire (msgpack and JSON bodies), not the decoded events
    assert raw
    for text in ("Paris", "one sentence", "rainy", "genai-tap emulator"):
        assert text not in json.dumps(spans) and text.encode() not in raw
    for span in spans:
        assert not span["meta"].get("input", {}).get("messages")
        assert not span["meta"].get("output", {}).get("messages")
        assert span["metrics"]["input_tokens"] > 0
        assert span["meta"]["metadata"]["stop_reason"] in ("tool_use", "end_turn")
    assert by_name(spans, "aws.bedrock.converse") == spans
