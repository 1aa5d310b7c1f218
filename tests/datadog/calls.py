"""Apps that make every kind of Bedrock call, and what LLM Observability got from them, comparable across set-ups."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List

from .testagent import tags

#: One call of each API and body family: Converse with tools and a tool result, InvokeModel
#: for each chat and text family (ddtrace's own integration leaves Nova, Mistral, Cohere and
#: gpt-oss prompts empty), both streams, embeddings, and an error.
EVERY_CALL = """
    import json, boto3
    from botocore.exceptions import ClientError

    client = boto3.client("bedrock-runtime")
    tools = {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "Current weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    }}]}
    question = {"role": "user", "content": [{"text": "What is the weather in Paris?"}]}
    first = client.converse(
        modelId="us.amazon.nova-lite-v1:0", system=[{"text": "You answer in one sentence."}], messages=[question],
        inferenceConfig={"temperature": 0.2, "maxTokens": 256, "topP": 0.9, "stopSequences": ["END"]}, toolConfig=tools,
    )
    call = next(b["toolUse"] for b in first["output"]["message"]["content"] if "toolUse" in b)
    client.converse(
        modelId="us.amazon.nova-lite-v1:0", toolConfig=tools,
        messages=[question, first["output"]["message"], {"role": "user", "content": [{"toolResult": {
            "toolUseId": call["toolUseId"], "content": [{"json": {"forecast": "rainy", "celsius": 14}}]}}]}],
    )
    bodies = {
        "amazon.nova-lite-v1:0": {"system": [{"text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"text": "Hello Nova"}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topK": 20}},
        "anthropic.claude-3-haiku-20240307-v1:0": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
            "system": "Be brief.", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello Claude"}]}]},
        "amazon.titan-text-express-v1": {"inputText": "Hello Titan", "textGenerationConfig": {"maxTokenCount": 64}},
        "meta.llama3-8b-instruct-v1:0": {"prompt": "Hello Llama", "max_gen_len": 64, "temperature": 0.4},
        "mistral.mistral-7b-instruct-v0:2": {"prompt": "<s>[INST] Hello Mistral [/INST]", "max_tokens": 64},
        "cohere.command-r-v1:0": {"message": "Hello Cohere", "max_tokens": 64},
        "openai.gpt-oss-20b-1:0": {"messages": [{"role": "user", "content": "Hello GPT"}], "max_tokens": 64},
    }
    for model_id, body in bodies.items():
        client.invoke_model(modelId=model_id, body=json.dumps(body))["body"].read()
    list(client.converse_stream(modelId="us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        messages=[{"role": "user", "content": [{"text": "Stream to me"}]}], toolConfig=tools)["stream"])
    # (not Nova: ddtrace's own integration before 4.15 raises KeyError into the app reading a Nova stream)
    for model_id in ("anthropic.claude-3-haiku-20240307-v1:0", "meta.llama3-8b-instruct-v1:0"):
        list(client.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(bodies[model_id]))["body"])
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "embed me", "dimensions": 256}))["body"].read()
    client.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["one", "two"], "input_type": "search_document"}))["body"].read()
    try:
        client.converse(modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "Will this fail?"}]}])
    except ClientError as exc:
        print(exc.response["Error"]["Code"])
"""
#: the calls EVERY_CALL makes (the emulator fails the last one: see fail_last_converse)
CALLS = 2 + 7 + 1 + 2 + 2 + 1
PROMPTS = ("What is the weather in Paris?", "Hello Nova", "Hello Claude", "Hello Titan", "Hello Llama",
           "Hello Mistral", "Hello Cohere", "Hello GPT", "Stream to me", "Will this fail?")


def fail_last_converse(emulator: Any) -> None:
    """Make EVERY_CALL's last call (the only one to Nova Micro) fail."""
    emulator.add_fault("ThrottlingException", operation="converse", model="nova-micro")


#: what differs between two runs of the same app: ids, times, versions, the process
VOLATILE_METADATA = {"request_id", "response_id"}
VOLATILE_TAGS = {"genai_tap.otel.trace_id", "genai_tap.otel.span_id", "ddtrace.version", "source", "language"}


def normalised(span: Dict[str, Any]) -> Dict[str, Any]:
    """An LLM Observability span event with what differs between runs taken out (ids, the
    emulator's random tool-call ids), and the time to first token reduced to whether it is there."""
    meta = json.loads(re.sub(r"tooluse_[0-9a-f]+", "tooluse_ID", json.dumps(span["meta"])))
    if isinstance(meta.get("agent_attribution"), dict):  # the enclosing agent's span id
        meta["agent_attribution"]["pagent_span_id"] = bool(meta["agent_attribution"].get("pagent_span_id"))
    metadata = {k: v for k, v in (meta.pop("metadata", None) or {}).items() if k not in VOLATILE_METADATA}
    error = meta.pop("error", None)
    if error:
        meta["error"] = {"type": error.get("type"), "message": error.get("message"), "stack": bool(error.get("stack"))}
    metrics = dict(span.get("metrics") or {})
    if "time_to_first_token" in metrics:
        metrics["time_to_first_token"] = metrics["time_to_first_token"] > 0
    return {
        "name": span["name"],
        "status": span["status"],
        "meta": dict(meta, metadata=metadata),
        "metrics": metrics,
        "tags": {k: v for k, v in tags(span).items() if k not in VOLATILE_TAGS},
        "root": span["parent_id"] == "undefined",
    }


def comparable(spans: List[Dict[str, Any]]) -> List[str]:
    """The normalised spans, as JSON lines in a fixed order."""
    return sorted(json.dumps(normalised(s), sort_keys=True) for s in spans)


def differences(got: List[str], expected: List[str]) -> str:
    """What differs between two ``comparable`` lists, key by key (for assertion messages)."""
    lines = []
    for a, b in zip(got, expected):
        if a != b:
            x, y = json.loads(a), json.loads(b)
            for key in sorted(set(_flat(x)) | set(_flat(y))):
                if _flat(x).get(key) != _flat(y).get(key):
                    lines.append(f"{x['name']} {key}: {_flat(x).get(key)!r} != {_flat(y).get(key)!r}")
    if len(got) != len(expected):
        lines.append(f"{len(got)} spans != {len(expected)}")
    return "\n".join(lines[:40])


def _flat(value: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}
