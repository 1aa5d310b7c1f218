"""Streaming calls (ConverseStream, InvokeModelWithResponseStream) in Datadog LLM Observability."""

from __future__ import annotations

import json

import pytest

from ..support.apps import run_app
from .testagent import tags

CONVERSE_STREAM_TOOLS = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]}
    response = client.converse_stream(
        modelId="us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        system=[{"text": "Think, then answer."}],
        messages=[{"role": "user", "content": [{"text": "Weather in Paris?"}]}],
        inferenceConfig={"maxTokens": 400, "temperature": 0.7},
        toolConfig=tools,
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    events = list(response["stream"])
    start = next(e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e)
    print(json.dumps({"events": len(events), "tool_id": start["toolUseId"]}))
"""


@pytest.mark.slow
def test_converse_stream_with_reasoning_and_a_tool_call(dd_env, agent, tmp_path):
    proc = run_app(CONVERSE_STREAM_TOOLS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    app = json.loads(proc.stdout)
    [span] = agent.llmobs_spans()
    meta = span["meta"]
    assert span["name"] == "aws.bedrock.converse_stream" and span["status"] == "ok"
    assert meta["span"]["kind"] == "llm"
    assert meta["model_name"] == "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert meta["model_provider"] == "amazon_bedrock"
    assert meta["input"]["messages"] == [
        {"role": "system", "content": "Think, then answer."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    reasoning, answer = meta["output"]["messages"]
    assert reasoning["role"] == "reasoning" and reasoning["content"]
    assert answer["role"] == "assistant" and answer["content"].startswith("Hello from the genai-tap emulator")
    assert answer["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "tool_id": app["tool_id"], "type": "function"}
    ]
    assert [t["name"] for t in meta["tool_definitions"]] == ["get_weather"]
    md = meta["metadata"]
    assert (md["stream"], md["stream_chunks"], md["finish_reasons"]) == (True, app["events"], ["tool_call"])
    assert (md["temperature"], md["max_tokens"]) == (0.7, 400)
    metrics = span["metrics"]
    assert metrics["input_tokens"] > 0 and metrics["output_tokens"] > 0
    assert metrics["total_tokens"] == metrics["input_tokens"] + metrics["output_tokens"]
    assert 0 < metrics["time_to_first_token"] <= span["duration"] / 1e9


INVOKE_STREAMS = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    bodies = {
        "amazon.nova-lite-v1:0": {"messages": [{"role": "user", "content": [{"text": "Stream to Nova"}]}]},
        "anthropic.claude-3-haiku-20240307-v1:0": {
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 300,
            "messages": [{"role": "user", "content": "Stream to Claude"}]},
        "amazon.titan-text-express-v1": {"inputText": "Stream to Titan"},
        "meta.llama3-1-8b-instruct-v1:0": {"prompt": "Stream to Llama", "max_gen_len": 300},
    }
    for model_id, body in bodies.items():
        stream = client.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(body))["body"]
        for event in stream:
            pass
"""


STREAM_PROMPTS = {
    "amazon.nova-lite-v1:0": "Stream to Nova",
    "anthropic.claude-3-haiku-20240307-v1:0": "Stream to Claude",
    "amazon.titan-text-express-v1": "Stream to Titan",
    "meta.llama3-1-8b-instruct-v1:0": "Stream to Llama",
}


@pytest.mark.slow
def test_invoke_model_with_response_stream_families(dd_env, agent, fresh_emulator, tmp_path):
    fresh_emulator.stream_chunks = 5
    proc = run_app(INVOKE_STREAMS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = agent.llmobs_spans(count=4)
    assert len(spans) == 4
    for span in spans:
        meta = span["meta"]
        model = meta["model_name"]
        assert span["name"] == "aws.bedrock.invoke_model_with_response_stream", model
        prompt = STREAM_PROMPTS[model]
        assert meta["input"]["messages"] == [{"role": "user", "content": prompt}], model
        [out] = meta["output"]["messages"]
        assert out["content"] == f"Hello from the genai-tap emulator. You said: {prompt}", model
        assert meta["metadata"]["stream_chunks"] >= 5, model
        assert span["metrics"]["output_tokens"] > 0 and span["metrics"]["time_to_first_token"] > 0, model


BROKEN_STREAMS = """
    import json, boto3

    client = boto3.client("bedrock-runtime")
    messages = [{"role": "user", "content": [{"text": "Tell me a long story"}]}]
    for event in client.converse_stream(modelId="amazon.nova-lite-v1:0", messages=messages)["stream"]:
        break  # the app stops reading after the first event
    stream = client.invoke_model_with_response_stream(
        modelId="amazon.nova-lite-v1:0", body=json.dumps({"messages": messages}))["body"]
    seen = 0
    try:
        for event in stream:
            seen += 1
    except Exception as exc:
        print(type(exc).__name__, seen)
"""


@pytest.mark.slow
def test_stream_stopped_early_and_stream_failing_mid_way(dd_env, agent, fresh_emulator, tmp_path):
    fresh_emulator.stream_chunks = 6
    fresh_emulator.add_fault("modelStreamErrorException", after=3, operation="invoke-with-response-stream")
    proc = run_app(BROKEN_STREAMS, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["EventStreamError", "3"]
    spans = {s["name"]: s for s in agent.llmobs_spans(count=2)}
    assert len(spans) == 2

    stopped = spans["aws.bedrock.converse_stream"]
    assert stopped["status"] == "ok"  # stopping early is the app's choice, not an error
    assert stopped["meta"]["metadata"]["stream_stopped_early"] is True
    assert stopped["meta"]["metadata"]["stream_chunks"] == 1

    failed = spans["aws.bedrock.invoke_model_with_response_stream"]
    assert failed["status"] == "error"
    assert failed["meta"]["error"]["type"] == "botocore.exceptions.EventStreamError"
    assert "modelStreamErrorException" in failed["meta"]["error"]["message"]
    assert tags(failed)["error"] == "1"
    assert failed["meta"]["metadata"]["stream_chunks"] == 3
    [partial] = failed["meta"]["output"]["messages"]  # what the app received before the error
    full = "Hello from the genai-tap emulator. You said: Tell me a long story"
    assert partial["content"] and full.startswith(partial["content"]) and partial["content"] != full
