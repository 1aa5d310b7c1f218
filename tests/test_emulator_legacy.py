"""InvokeModel formats still in real traffic: Claude 2.x / Instant text completions,
Cohere Command ``generate``, AI21 Jurassic-2; through real boto3."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

EXPECTED = "Hello from the genai-tap emulator. You said:"


@pytest.fixture
def runtime(fresh_emulator: Any) -> Any:
    return boto3.client(
        "bedrock-runtime", endpoint_url=fresh_emulator.url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


def invoke(client: Any, model: str, body: Dict[str, Any]) -> Any:
    return client.invoke_model(modelId=model, body=json.dumps(body), accept="application/json", contentType="application/json")


def stream(client: Any, model: str, body: Dict[str, Any]) -> List[Dict[str, Any]]:
    response = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    assert response["contentType"] == "application/json"
    return [json.loads(e["chunk"]["bytes"]) for e in response["body"]]


def token_headers(response: Any) -> Dict[str, int]:
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return {k: int(headers[f"x-amzn-bedrock-{k}-token-count"]) for k in ("input", "output")}


# --------------------------------------------------------------------------- Claude text completions

CLAUDE_PROMPT = "\n\nHuman: What makes a good cup of tea?\n\nAssistant:"


@pytest.mark.parametrize("model", ["anthropic.claude-v2", "anthropic.claude-v2:1", "anthropic.claude-instant-v1"])
def test_claude_text_completion(runtime: Any, model: str) -> None:
    response = invoke(runtime, model, {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 300, "temperature": 0.5, "top_p": 1, "top_k": 250,
                                       "stop_sequences": ["\n\nHuman:"]})
    body = json.loads(response["body"].read())
    assert body == {"completion": f" {EXPECTED} What makes a good cup of tea?", "stop_reason": "stop_sequence", "stop": "\n\nHuman:"}
    assert token_headers(response) == {"input": 9, "output": 14}


def test_claude_text_completion_cut_by_max_tokens(runtime: Any) -> None:
    body = json.loads(invoke(runtime, "anthropic.claude-v2", {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 3})["body"].read())
    assert body == {"completion": " Hello from the", "stop_reason": "max_tokens", "stop": None}


def test_claude_text_completion_stream(runtime: Any) -> None:
    chunks = stream(runtime, "anthropic.claude-v2:1", {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 300})
    assert all(set(c) >= {"completion", "stop_reason", "stop"} for c in chunks)
    assert "".join(c["completion"] for c in chunks) == f" {EXPECTED} What makes a good cup of tea?"
    assert all(c["stop_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["completion"] == "" and chunks[-1]["stop_reason"] == "stop_sequence" and chunks[-1]["stop"] == "\n\nHuman:"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 14


@pytest.mark.parametrize(
    "model,body,message",
    [
        ("anthropic.claude-v2", {"prompt": "What is tea?", "max_tokens_to_sample": 10}, "Human:"),
        ("anthropic.claude-v2", {"prompt": CLAUDE_PROMPT}, "max_tokens_to_sample"),
        ("anthropic.claude-3-haiku-20240307-v1:0", {"prompt": CLAUDE_PROMPT, "max_tokens_to_sample": 10}, "Messages API"),
    ],
)
def test_claude_text_completion_errors(runtime: Any, model: str, body: Dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError) as caught:
        invoke(runtime, model, body)
    assert caught.value.response["Error"]["Code"] == "ValidationException" and message in caught.value.response["Error"]["Message"]


def test_claude_2_also_takes_messages(runtime: Any) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    assert json.loads(invoke(runtime, "anthropic.claude-v2:1", body)["body"].read())["type"] == "message"


# --------------------------------------------------------------------------- Cohere Command


@pytest.mark.parametrize("model", ["cohere.command-text-v14", "cohere.command-light-text-v14"])
def test_cohere_generate(runtime: Any, model: str) -> None:
    response = invoke(runtime, model, {"prompt": "Explain a LLM chain", "max_tokens": 100, "temperature": 0.9, "p": 1.0, "k": 0,
                                       "stop_sequences": [], "return_likelihoods": "NONE", "stream": False, "num_generations": 1})
    body = json.loads(response["body"].read())
    assert set(body) == {"generations", "id", "prompt"} and body["prompt"] == "Explain a LLM chain"
    (generation,) = body["generations"]
    assert set(generation) == {"finish_reason", "id", "text"}
    assert generation["text"] == f" {EXPECTED} Explain a LLM chain" and generation["finish_reason"] == "COMPLETE"
    assert token_headers(response) == {"input": 4, "output": 11}


@pytest.mark.slow
def test_cohere_generations_and_likelihoods(runtime: Any) -> None:
    response = invoke(runtime, "cohere.command-text-v14", {"prompt": "Explain a LLM chain", "num_generations": 2, "max_tokens": 5,
                                                           "return_likelihoods": "GENERATION"})
    body = json.loads(response["body"].read())
    assert [g["finish_reason"] for g in body["generations"]] == ["MAX_TOKENS", "MAX_TOKENS"]
    assert body["generations"][0]["text"] == " Hello from the genai-tap emulator." and body["generations"][1]["text"].startswith(" Also:")
    assert all(len(g["token_likelihoods"]) == 5 and g["likelihood"] < 0 for g in body["generations"])
    assert token_headers(response) == {"input": 8, "output": 10}  # the prompt counts once per generation


def test_cohere_stream_single(runtime: Any) -> None:
    chunks = stream(runtime, "cohere.command-text-v14", {"prompt": "Explain a LLM chain", "stream": True})
    assert all(c == {"is_finished": False, "text": c["text"]} for c in chunks[:-1])
    assert "".join(c["text"] for c in chunks[:-1]) == f" {EXPECTED} Explain a LLM chain"
    last = dict(chunks[-1])
    assert last.pop("amazon-bedrock-invocationMetrics")["inputTokenCount"] == 4
    assert last == {"finish_reason": "COMPLETE", "is_finished": True}


def test_cohere_stream_multiple(runtime: Any) -> None:
    chunks = stream(runtime, "cohere.command-text-v14", {"prompt": "Explain a LLM chain", "stream": True, "num_generations": 2})
    indexes = [c["index"] for c in chunks[:-1]]
    assert indexes == sorted(indexes) and set(indexes) == {0, 1}
    assert "index" not in chunks[-1] and chunks[-1]["is_finished"] is True
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 8


def test_cohere_bad_generations(runtime: Any) -> None:
    with pytest.raises(ClientError):
        invoke(runtime, "cohere.command-text-v14", {"prompt": "x", "num_generations": 9})


# --------------------------------------------------------------------------- AI21 Jurassic-2


@pytest.mark.parametrize("model", ["ai21.j2-mid-v1", "ai21.j2-ultra-v1"])
def test_jurassic_completion(runtime: Any, model: str) -> None:
    response = invoke(runtime, model, {"prompt": "Explain a neural network", "maxTokens": 200, "temperature": 0.7, "topP": 1,
                                       "stopSequences": [], "countPenalty": {"scale": 0}, "presencePenalty": {"scale": 0}})
    body = json.loads(response["body"].read())
    assert body["id"] == 1234 and body["prompt"]["text"] == "Explain a neural network"
    tokens = body["prompt"]["tokens"]
    assert [t["generatedToken"]["token"] for t in tokens] == ["\u2581Explain", "\u2581a", "\u2581neural", "\u2581network"]
    assert tokens[1]["textRange"] == {"start": 8, "end": 9} and tokens[0]["topTokens"] is None
    (completion,) = body["completions"]
    assert completion["data"]["text"] == f"{EXPECTED} Explain a neural network"
    assert completion["finishReason"] == {"reason": "endoftext"}
    text = completion["data"]["text"]
    assert all(text[t["textRange"]["start"]: t["textRange"]["end"]] == t["generatedToken"]["token"][1:] for t in completion["data"]["tokens"])
    assert token_headers(response) == {"input": 4, "output": 11}


def test_jurassic_length_and_results(runtime: Any) -> None:
    body = json.loads(invoke(runtime, "ai21.j2-mid-v1", {"prompt": "Explain", "maxTokens": 4, "numResults": 2})["body"].read())
    assert [c["finishReason"] for c in body["completions"]] == [{"reason": "length", "length": 4}] * 2
    assert body["completions"][0]["data"]["text"] == "Hello from the genai-tap"


def test_jurassic_cannot_stream(runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_model_with_response_stream(modelId="ai21.j2-ultra-v1", body=json.dumps({"prompt": "hi"}))
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException" and error["Message"] == "The model is unsupported for streaming."
    with pytest.raises(ClientError) as caught:
        runtime.converse_stream(modelId="ai21.j2-ultra-v1", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert caught.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize("model", ["anthropic.claude-v2:1", "cohere.command-text-v14", "ai21.j2-mid-v1"])
def test_converse_on_legacy_models(runtime: Any, model: str) -> None:
    response = runtime.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "Hi there"}]}])
    assert response["output"]["message"]["content"][0]["text"] == f"{EXPECTED} Hi there"
