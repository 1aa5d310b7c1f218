"""Agents, knowledge bases and guardrails with zero code change, end to end.

An unmodified boto3 app (agents with traces, an inline agent, Retrieve, RetrieveAndGenerate
and its stream, ApplyGuardrail, a Claude 2 text completion) runs in a fresh process under
``genai-tap run`` against the emulator and exports to a real OTLP receiver. The same app
without genai-tap prints exactly the same and sends Bedrock exactly the same requests; with
content capture off, none of its text is in any byte exported.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Dict, List

import pytest

from genai_tap import semconv as sc

from .support.apps import aws_env, run_app, run_both

#: the apps print responses with times and durations masked (they differ between runs)
CLEAN = """
import datetime

def clean(value):
    if isinstance(value, datetime.datetime):
        return "<time>"
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    if isinstance(value, dict):
        return {k: "<ms>" if k.endswith("TimeMs") else clean(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
"""

APP = CLEAN + """
import json, sys
import boto3

agents = boto3.client("bedrock-agent-runtime")
runtime = boto3.client("bedrock-runtime")

def show(label, value):
    print(label, json.dumps(clean(value), sort_keys=True, default=str))

def stream(label, response, key):
    show(label, {k: v for k, v in response.items() if k != key})
    for event in response[key]:
        show(label + " event", event)

stream("agent", agents.invoke_agent(agentId="AGENT12345", agentAliasId="ALIAS12345", sessionId="session-e2e",
       inputText="Ask the team about the weather in Lyon", enableTrace=True), "completion")
stream("inline", agents.invoke_inline_agent(sessionId="inline-e2e", inputText="Search the handbook for vacation days", enableTrace=True,
       foundationModel="anthropic.claude-3-haiku-20240307-v1:0", instruction="You answer questions about the staff handbook.",
       agentName="handbook-bot", knowledgeBases=[{"knowledgeBaseId": "KBHANDBOOK", "description": "The staff handbook"}]), "completion")
show("retrieve", agents.retrieve(knowledgeBaseId="KBHANDBOOK", retrievalQuery={"text": "remote work rules"}))
config = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "KBHANDBOOK",
          "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"}}
show("rag", agents.retrieve_and_generate(input={"text": "How are travel expenses reimbursed?"}, retrieveAndGenerateConfiguration=config))
stream("rag stream", agents.retrieve_and_generate_stream(input={"text": "How are travel expenses reimbursed?"},
       retrieveAndGenerateConfiguration=config), "stream")
show("guardrail", runtime.apply_guardrail(guardrailIdentifier="gr-e2e", guardrailVersion="1", source="INPUT",
     content=[{"text": {"text": "Which stocks should I buy, asks jane.doe@example.com"}}]))
show("claude 2", json.loads(runtime.invoke_model(modelId="anthropic.claude-v2:1",
     body=json.dumps({"prompt": "\\n\\nHuman: Name a river in Lyon\\n\\nAssistant:", "max_tokens_to_sample": 40}))["body"].read()))
"""

#: text of the app's prompts, answers, documents and tool calls: never exported with content off
CONTENT = ["Lyon", "vacation", "staff handbook", "remote work", "travel expenses", "jane.doe", "Which stocks", "Name a river",
           "Hello from the genai-tap emulator", "Sunny", "Employees get", "According to"]


def env_for(emulator: Any, otlp: Any, **extra: str) -> Dict[str, str]:
    env = aws_env(emulator.url)
    env.update(AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME=emulator.url, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
               OTEL_SERVICE_NAME="agents-e2e", OTEL_METRIC_EXPORT_INTERVAL="600000")
    env.update(extra)
    return env


def children_of(spans: List[Dict[str, Any]], parent: Dict[str, Any]) -> List[Dict[str, Any]]:
    return sorted((s for s in spans if s["parent_span_id"] == parent["span_id"]), key=lambda s: s["start"])


def shape(spans: List[Dict[str, Any]], span: Dict[str, Any]) -> Any:
    kids = children_of(spans, span)
    return (span["name"], [shape(spans, k) for k in kids]) if kids else span["name"]


@pytest.mark.slow
def test_every_api_under_genai_tap_run(deterministic_emulator: Any, otlp: Any, tmp_path: Path) -> None:
    runs = run_both(APP, deterministic_emulator, env_for(deterministic_emulator, otlp), tmp_path)
    runs.assert_same()  # every response field and event the app saw, every byte Bedrock received
    assert runs.traced.returncode == 0 and runs.traced.stderr == "", runs.traced.stderr

    spans = otlp.wait_for(otlp.spans, 30)
    top = [s for s in spans if not s["parent_span_id"]]
    roots = {s["name"]: s for s in top}
    assert all(s["kind"] == 3 for s in top) and all(s["kind"] == 1 for s in spans if s["parent_span_id"])
    assert sorted(r["attributes"][sc.BEDROCK_API] for r in top) == sorted({
        "InvokeAgent", "InvokeInlineAgent", "Retrieve", "RetrieveAndGenerate", "RetrieveAndGenerateStream", "ApplyGuardrail", "InvokeModel",
    })
    claude = "chat anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert shape(spans, roots["invoke_agent"]) == (
        "invoke_agent", [claude, ("invoke_agent WeatherSpecialist", [claude, "execute_tool get_weather", claude]), claude]
    )
    haiku = "chat anthropic.claude-3-haiku-20240307-v1:0"
    assert shape(spans, roots["invoke_agent handbook-bot"]) == ("invoke_agent handbook-bot", [haiku, "retrieval KBHANDBOOK", haiku])
    assert roots["retrieval KBHANDBOOK"]["attributes"][sc.RETRIEVAL_DOCUMENT_COUNT] > 0
    rag = [s for s in spans if s["name"].startswith("chat arn:") and not s["parent_span_id"]]
    assert len(rag) == 2 and all(shape(spans, s)[1] == ["retrieval KBHANDBOOK"] for s in rag)
    guard = roots["apply_guardrail Amazon Bedrock Guardrails"]["attributes"]
    assert guard[sc.GUARDRAIL_RESULT_VALUE] == "GUARDRAIL_INTERVENED" and guard[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ["topic", "sensitive_information"]
    assert roots["text_completion anthropic.claude-v2:1"]["attributes"][sc.RESPONSE_FINISH_REASONS] == ["stop"]
    # what the collector needs: the model and tokens on each model call, the API on each call
    for span in spans:
        if span["name"].startswith("chat anthropic"):
            a = span["attributes"]
            assert a[sc.MODEL_BASE_ID] and a[sc.USAGE_INPUT_TOKENS] > 0 and a[sc.USAGE_OUTPUT_TOKENS] > 0

    points = otlp.wait_for(otlp.metric_points, 3)
    durations = {p["attributes"][sc.OPERATION_NAME] for p in points if p["name"] == sc.METRIC_OPERATION_DURATION}
    assert durations == {"invoke_agent", "retrieval", "chat", "apply_guardrail", "text_completion"}
    tokens = {p["attributes"][sc.REQUEST_MODEL] for p in points if p["name"] == sc.METRIC_TOKEN_USAGE}
    assert tokens == {"anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-v2:1"}


@pytest.mark.slow
def test_content_off_no_text_in_any_exported_byte(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    proc = run_app(APP, env_for(emulator, otlp, GENAI_TAP_CAPTURE_CONTENT="false"), tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert all(text in proc.stdout for text in ("Lyon", "Employees get"))  # the app got them
    spans = otlp.wait_for(otlp.spans, 30)
    otlp.wait_for(otlp.metric_points, 3)
    assert len(spans) > 15, [s["name"] for s in spans]
    exported = b"".join(gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body for _, headers, body in otlp.raw)
    for text in CONTENT:
        assert text.encode() not in exported, text
    counts = [s["attributes"][sc.RETRIEVAL_DOCUMENT_COUNT] for s in spans if s["name"].startswith("retrieval")]
    assert len(counts) == 4 and all(n > 0 for n in counts)
    assert all(s["attributes"][sc.USAGE_INPUT_TOKENS] > 0 for s in spans if s["name"].startswith("chat anthropic"))


ASYNC_APP = CLEAN + """
import asyncio, json
from aiobotocore.session import get_session

async def main():
    session = get_session()
    async with session.create_client("bedrock-agent-runtime") as agents, session.create_client("bedrock-runtime") as runtime:
        response = await agents.invoke_agent(agentId="AGENT12345", agentAliasId="ALIAS12345", sessionId="async-e2e",
                                             inputText="Route this weather question for Lyon", enableTrace=True)
        async for event in response["completion"]:
            print("agent", json.dumps(clean(event), sort_keys=True))
        print("retrieve", json.dumps(clean(await agents.retrieve(knowledgeBaseId="KBASYNC001", retrievalQuery={"text": "remote work"})), sort_keys=True))
        config = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "KBASYNC001",
                  "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"}}
        response = await agents.retrieve_and_generate_stream(input={"text": "Travel expenses?"}, retrieveAndGenerateConfiguration=config)
        async for event in response["stream"]:
            print("rag", json.dumps(clean(event), sort_keys=True))
        found = await runtime.apply_guardrail(guardrailIdentifier="gr-async", guardrailVersion="1", source="OUTPUT",
                                              content=[{"text": {"text": "Call 555-123-4567"}}])
        print("guardrail", json.dumps(clean(found), sort_keys=True))

asyncio.run(main())
"""


@pytest.mark.slow
def test_an_async_app_under_genai_tap_run(deterministic_emulator: Any, otlp: Any, tmp_path: Path) -> None:
    runs = run_both(ASYNC_APP, deterministic_emulator, env_for(deterministic_emulator, otlp), tmp_path)
    runs.assert_same()
    assert runs.traced.returncode == 0 and runs.traced.stderr == "", runs.traced.stderr

    spans = otlp.wait_for(otlp.spans, 14)
    top = {s["attributes"][sc.BEDROCK_API]: s for s in spans if not s["parent_span_id"]}
    assert sorted(top) == ["ApplyGuardrail", "InvokeAgent", "Retrieve", "RetrieveAndGenerateStream"]
    claude = "chat anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert shape(spans, top["InvokeAgent"]) == (
        "invoke_agent",
        [("aws.bedrock.agent.routing_classifier", [claude, ("invoke_agent WeatherSpecialist", [claude, "execute_tool get_weather", claude])])],
    )
    assert shape(spans, top["RetrieveAndGenerateStream"])[1] == ["retrieval KBASYNC001"]
    assert top["ApplyGuardrail"]["attributes"][sc.AWS_BEDROCK_GUARDRAIL_POLICIES] == ["sensitive_information"]
