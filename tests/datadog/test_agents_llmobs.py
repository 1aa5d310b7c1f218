"""Bedrock Agents, Knowledge Bases and Guardrails in Datadog LLM Observability, end to end: the
agent's steps as nested spans of their kinds, under ``genai-tap run`` and under ``ddtrace-run``
(whose own integration makes LLM Observability spans of ``InvokeAgent`` calls)."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest

from ..support.apps import GENAI_TAP, run_app
from ..test_agents_end_to_end import APP, CONTENT
from .calls import comparable, differences
from .conftest import DDTRACE_RUN
from .testagent import by_name, ours, tags, theirs

pytestmark = pytest.mark.slow

#: the app's calls: two agents (one with a collaborator), Retrieve, RetrieveAndGenerate and its
#: stream, ApplyGuardrail and a Claude 2 text completion, and their steps
CALLS = 7
SPANS = 20


@pytest.fixture(scope="module")
def same_answers() -> Iterator[Any]:
    from genai_tap.emulator import Emulator

    with Emulator(deterministic=True) as emu:
        yield emu


@pytest.fixture
def agents_env(dd_env: Dict[str, str], same_answers: Any) -> Dict[str, str]:
    env = dict(dd_env, AWS_ENDPOINT_URL_BEDROCK_RUNTIME=same_answers.url)
    env["AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"] = same_answers.url
    return env


def run(env: Dict[str, str], tmp_path: Any, under_ddtrace: bool) -> None:
    if under_ddtrace:
        proc = run_app(APP, env, tmp_path, traced=False, launcher=[DDTRACE_RUN] + GENAI_TAP + ["run"])
    else:
        proc = run_app(APP, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "genai-tap" not in proc.stderr, proc.stderr


def tree(spans: List[Dict[str, Any]]) -> List[str]:
    """Each span as ``kind name`` indented under its parent, in start order."""
    by_id = {s["span_id"]: s for s in spans}

    def depth(span: Dict[str, Any]) -> int:
        d = 0
        while span["parent_id"] in by_id:
            span, d = by_id[span["parent_id"]], d + 1
        return d

    def root(span: Dict[str, Any]) -> Dict[str, Any]:
        while span["parent_id"] in by_id:
            span = by_id[span["parent_id"]]
        return span

    order = sorted(spans, key=lambda s: (root(s)["name"], root(s)["start_ns"], s["start_ns"], depth(s)))
    return ["  " * depth(s) + f"{s['meta']['span']['kind']} {s['name']}" for s in order]


EXPECTED_TREE = [
    "task aws.bedrock.apply_guardrail",
    "agent aws.bedrock.invoke_agent",
    "  llm chat anthropic.claude-3-5-sonnet-20240620-v1:0",
    "  agent invoke_agent WeatherSpecialist",
    "    llm chat anthropic.claude-3-5-sonnet-20240620-v1:0",
    "    tool execute_tool get_weather",
    "    llm chat anthropic.claude-3-5-sonnet-20240620-v1:0",
    "  llm chat anthropic.claude-3-5-sonnet-20240620-v1:0",
    "agent aws.bedrock.invoke_inline_agent",
    "  llm chat anthropic.claude-3-haiku-20240307-v1:0",
    "  retrieval retrieval KBHANDBOOK",
    "  llm chat anthropic.claude-3-haiku-20240307-v1:0",
    "llm aws.bedrock.invoke_model",
    "retrieval aws.bedrock.retrieve",
    "llm aws.bedrock.retrieve_and_generate",
    "  retrieval retrieval KBHANDBOOK",
    "llm aws.bedrock.retrieve_and_generate_stream",
    "  retrieval retrieval KBHANDBOOK",
]


def test_agents_steps_as_nested_spans_and_the_same_under_ddtrace_run(agents_env, agent, tmp_path):
    run(agents_env, tmp_path, under_ddtrace=False)
    alone = agent.llmobs_spans(count=len(EXPECTED_TREE))
    assert tree(alone) == EXPECTED_TREE
    assert ours(alone) == alone

    [supervisor] = by_name(alone, "aws.bedrock.invoke_agent")
    assert supervisor["session_id"] == "session-e2e"
    assert supervisor["meta"]["input"]["value"] == "Ask the team about the weather in Lyon"
    assert "Sunny" in supervisor["meta"]["output"]["value"]
    assert supervisor["meta"]["metadata"]["agent_id"] == "AGENT12345"
    [tool] = by_name(alone, "execute_tool get_weather")
    assert "Lyon" in tool["meta"]["input"]["value"] and "Sunny" in tool["meta"]["output"]["value"]
    [retrieve] = by_name(alone, "aws.bedrock.retrieve")
    docs = retrieve["meta"]["output"]["documents"]
    assert docs and all(d["text"] and d["id"] and isinstance(d["score"], float) for d in docs)
    assert retrieve["meta"]["input"]["value"] == "remote work rules"
    [guard] = by_name(alone, "aws.bedrock.apply_guardrail")
    assert guard["meta"]["metadata"]["guardrail_id"] == "gr-e2e"
    by_id = {s["span_id"]: s for s in alone}
    for span in alone:  # each step inside its parent's time
        parent = by_id.get(span["parent_id"])
        if parent is not None:
            assert parent["start_ns"] <= span["start_ns"]
            assert span["start_ns"] + span["duration"] <= parent["start_ns"] + parent["duration"]

    # under ddtrace-run: the same spans, and none of ddtrace's (its own InvokeAgent span and
    # the steps it reads from the agent's trace are not made)
    agent.clear()
    run(agents_env, tmp_path, under_ddtrace=True)
    spans = agent.llmobs_spans(count=len(EXPECTED_TREE))
    assert tree(spans) == EXPECTED_TREE
    assert not theirs(spans) and not [s for s in spans if "integration" in tags(s)]
    assert comparable(spans) == comparable(alone), differences(comparable(spans), comparable(alone))
    apm = agent.apm_spans(count=2 * CALLS)
    ddtrace_agent = [s for s in apm if s["name"].startswith("Bedrock Agent ")]
    assert len(ddtrace_agent) == 1 and ddtrace_agent[0].get("type") != "llm"  # ddtrace's agent span, APM only
    by_apm_id = {s["span_id"]: s for s in apm}
    [mine] = [s for s in apm if s["name"] == "aws.bedrock.invoke_agent"]
    assert by_apm_id[mine["parent_id"]] is ddtrace_agent[0]


def test_content_off_under_ddtrace_run(agents_env, agent, tmp_path):
    # ddtrace's own agent span would carry the agent's input and output whatever genai-tap's setting
    agents_env["GENAI_TAP_CAPTURE_CONTENT"] = "false"
    run(agents_env, tmp_path, under_ddtrace=True)
    spans = agent.llmobs_spans(count=len(EXPECTED_TREE))
    assert tree(spans) == EXPECTED_TREE
    raw = agent.raw_bytes()
    for text in CONTENT:
        assert text.encode() not in raw, text


def test_ddtraces_agent_span_when_asked(agents_env, agent, tmp_path):
    agents_env["GENAI_TAP_DD_DUPLICATES"] = "ddtrace"
    run(agents_env, tmp_path, under_ddtrace=True)
    spans = agent.llmobs_spans(count=len(EXPECTED_TREE))
    kinds = [line for line in tree(ours(spans)) if not line.startswith(" ")]
    # the supervisor agent is ddtrace's (with the steps ddtrace reads); the Claude 2 call too
    assert "agent aws.bedrock.invoke_agent" not in kinds and "llm aws.bedrock.invoke_model" not in kinds
    assert "agent aws.bedrock.invoke_inline_agent" in kinds  # ddtrace does not record inline agents
    [theirs_agent] = [s for s in theirs(spans) if s["meta"]["span"]["kind"] == "agent"]
    assert theirs_agent["meta"]["input"]["value"] == "Ask the team about the weather in Lyon"
