"""Bedrock agents' traces that genai-tap did not foresee: the app never sees a difference.

A dedicated emulator answers InvokeAgent with crafted event streams (real event-stream
framing, parsed by real botocore): trace events of unknown kinds, items without their
pair, values of the wrong type, unparseable responses, callers never invoked, a flood of
steps. A parser that raises is simulated too. In every case the app gets the very events
it gets without genai-tap, and the call's span ends with whatever could be read.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Dict, Iterator, List

import boto3
import pytest
from botocore.config import Config

from genai_tap import semconv as sc

AGENT_PATH = "/agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ROOT_ARN = "arn:aws:bedrock:us-east-1:123456789012:agent-alias/FAULTAGENT/FAULTALIAS"
T0 = datetime.datetime.now(datetime.timezone.utc)


def at(ms: float) -> str:
    return (T0 + datetime.timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def part(kind: str, step: Dict[str, Any], ms: float = 0.0, chain: Any = (ROOT_ARN,), **extra: Any) -> Dict[str, Any]:
    out = {"agentId": "FAULTAGENT", "agentAliasId": "FAULTALIAS", "sessionId": "s-1", "eventTime": at(ms), "trace": {kind: step}}
    if chain is not None:
        out["callerChain"] = [{"agentAliasArn": arn} for arn in chain]
    out.update(extra)
    return out


def model_in(trace_id: str) -> Dict[str, Any]:
    return {"modelInvocationInput": {"foundationModel": MODEL, "text": "not a JSON prompt", "traceId": trace_id, "type": "ORCHESTRATION"}}


ODD_EVENTS: List[Any] = [
    ("trace", part("orchestrationTrace", model_in("t-0"), 1, chain=None)),  # no caller chain: the agent called
    # an output whose raw response is not JSON, whose usage is text, whose times are missing
    ("trace", part("orchestrationTrace", {"modelInvocationOutput": {"traceId": "t-0", "rawResponse": {"content": "{not json"},
                                                                     "metadata": {"usage": {"inputTokens": "12", "outputTokens": None}}}}, 2)),
    ("trace", part("orchestrationTrace", {"rationale": {"text": "a rationale for a model call never seen", "traceId": "t-9"}}, 3)),
    ("trace", part("orchestrationTrace", {"observation": {"type": "ACTION_GROUP", "traceId": "t-7",
                                                          "actionGroupInvocationOutput": {"text": "an answer to no question"}}}, 4)),
    ("trace", part("orchestrationTrace", {"invocationInput": {"invocationType": "ACTION_GROUP", "traceId": "t-1",
                                                              "actionGroupInvocationInput": {"parameters": [{"value": "no name"}, {}]}}}, 5)),
    ("trace", part("futureTrace", {"somethingNew": {"traceId": "t-2"}}, 6)),  # a kind Bedrock may add one day
    ("trace", part("customOrchestrationTrace", {"event": {"text": "a custom orchestration's own event"}, "traceId": "co-0"}, 6.5)),
    ("trace", {k: v for k, v in part("orchestrationTrace", model_in("t-4"), 7).items() if k != "eventTime"}),  # no time: its arrival
    ("trace", {"sessionId": "s-1"}),  # no trace at all, no time
    ("trace", part("failureTrace", {"failureReason": "something failed", "traceId": "t-5"}, 8)),  # fails no step we know
    ("trace", part("orchestrationTrace", model_in("c-0"), 9, chain=(ROOT_ARN, "arn:aws:bedrock:us-east-1:1:agent-alias/GHOST/GHOSTALIAS"),
                   collaboratorName="Ghost")),  # a collaborator never invoked
    ("trace", part("guardrailTrace", {"action": "SOMETHING_NEW", "traceId": "g-0", "inputAssessments": [{"wordPolicy": {"customWords": [{}]}}]}, 10)),
    ("trace", part("orchestrationTrace", model_in("t-3"), 11, chain=[])),
    ("chunk", {"bytes": "SGVsbG8="}),  # "Hello"
]


def crafted(events: List[Any]) -> Any:
    from genai_tap.emulator import streaming

    def handle(handler: Any, params: Dict[str, str], raw: bytes) -> None:
        handler.send_stream([streaming.event(name, body) for name, body in events], {"x-amz-bedrock-agent-session-id": "s-1"})

    return handle


@pytest.fixture(scope="module")
def odd_emulator() -> Iterator[Any]:
    from genai_tap.emulator import Emulator
    from genai_tap.emulator.server import Route

    with Emulator() as emu:
        emu.routes.insert(0, Route("POST", AGENT_PATH, "InvokeAgent", crafted(ODD_EVENTS), service="agent"))
        yield emu


def call(url: str, text: str = "hi") -> List[Any]:
    client = boto3.client("bedrock-agent-runtime", endpoint_url=url, config=Config(retries={"total_max_attempts": 1}))
    response = client.invoke_agent(agentId="FAULTAGENT", agentAliasId="FAULTALIAS", sessionId="s-1", inputText=text, enableTrace=True)
    return list(response["completion"])


def test_odd_trace_events_change_nothing_for_the_app(odd_emulator: Any, tap: Any) -> None:
    import genai_tap

    traced = call(odd_emulator.url)
    spans = tap.spans()
    genai_tap.uninstrument()
    bare = call(odd_emulator.url)
    assert traced == bare  # every event, as botocore parsed it
    root = next(s for s in spans if s.parent is None)
    assert root.attributes[sc.STREAM_CHUNKS] == len(bare)
    # a failure trace fails the call even when the stream itself ends well
    assert root.status.status_code.name == "ERROR" and root.status.description == "something failed"
    assert root.attributes[sc.ERROR_TYPE] == "failure"
    names = sorted(s.name for s in spans)
    assert names.count(f"chat {MODEL}") == 4  # the root agent's three, the unknown collaborator's one
    assert not any("custom" in name for name in names)
    assert "invoke_agent Ghost" in names and "execute_tool action" in names and "aws.bedrock.agent.failure" in names
    assert names.count("invoke_agent") == 1  # the events with and without a caller chain are the same agent's
    (first,) = [s for s in spans if s.attributes.get(sc.AWS_BEDROCK_AGENT_TRACE_ID) == "t-0"]
    assert sc.USAGE_INPUT_TOKENS not in first.attributes  # "12" is not a count
    assert json.loads(first.attributes[sc.OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": "{not json"}]
    for s in spans:  # every step inside the call
        assert root.start_time <= s.start_time <= s.end_time <= root.end_time


@pytest.mark.expect_swallowed
def test_a_parser_that_raises_costs_that_event_only(odd_emulator: Any, tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tap_bedrock import agent_trace

    def boom(*args: Any) -> None:
        raise RuntimeError("a bug in genai-tap's trace parser")

    monkeypatch.setattr(agent_trace.AgentTrace, "guardrail", boom)
    monkeypatch.setitem(agent_trace.HANDLERS, "guardrailTrace", boom)
    events = call(odd_emulator.url)
    assert len(events) == len(ODD_EVENTS)
    spans = tap.spans()
    assert not any(s.name.startswith("apply_guardrail") for s in spans)
    assert sum(s.name == f"chat {MODEL}" for s in spans) == 4  # the events after the failing one were read
    from genai_tap import guard

    assert any("a bug in genai-tap's trace parser" in str(e) for e in guard.swallowed)


@pytest.mark.slow
@pytest.mark.expect_swallowed
def test_a_done_step_that_raises_still_ends_the_span(odd_emulator: Any, tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tap_bedrock import agent_trace

    def boom(self: Any) -> None:
        raise RuntimeError("finishing the steps failed")

    monkeypatch.setattr(agent_trace.AgentTrace, "finish", boom)
    events = call(odd_emulator.url)
    spans = tap.spans()
    root = next(s for s in spans if s.parent is None)
    assert root.name == "invoke_agent" and root.attributes[sc.STREAM_CHUNKS] == len(events)
    assert root.end_time >= root.start_time


FLOOD = 1200


@pytest.fixture(scope="module")
def flood_emulator() -> Iterator[Any]:
    from genai_tap.emulator import Emulator
    from genai_tap.emulator.server import Route

    events = [("trace", part("orchestrationTrace", model_in(f"t-{i}"), i / 10)) for i in range(FLOOD)]
    events.append(("chunk", {"bytes": "SGVsbG8="}))
    with Emulator() as emu:
        emu.routes.insert(0, Route("POST", AGENT_PATH, "InvokeAgent", crafted(events), service="agent"))
        yield emu


@pytest.mark.slow
def test_a_flood_of_steps_is_bounded(flood_emulator: Any, tap: Any) -> None:
    from genai_tap_bedrock.agent_trace import MAX_STEPS

    events = call(flood_emulator.url)
    assert len(events) == FLOOD + 1
    spans = tap.spans()
    root = next(s for s in spans if s.parent is None)
    assert len(spans) == MAX_STEPS + 1
    assert root.attributes[sc.AGENT_STEPS_DROPPED] == FLOOD - MAX_STEPS
