"""Bedrock Agents (``bedrock-agent-runtime``): InvokeAgent and InvokeInlineAgent.

One ``invoke_agent`` CLIENT span per call: the agent (``gen_ai.agent.id``, the alias as
``aws.bedrock.agent.alias_id``, ``gen_ai.agent.version`` from the trace; an inline
agent's ``agentName`` as ``gen_ai.agent.name`` and its ``foundationModel`` as
``gen_ai.request.model``), the session as ``gen_ai.conversation.id``, the input text (or
the results of actions the app ran, sent back in ``returnControlInvocationResults``) as
input and the answer as output when content is captured. The answer is the ``chunk``
events' text; a ``returnControl`` event ends the call with the actions the agent hands
to the app (finish reason ``tool_call``; see :func:`agent_trace.return_control`).

The answer is an event stream (``completion``), watched like ConverseStream's
(:func:`streams.watch`): the app gets botocore's own stream and the very same events,
nothing is read ahead of it, and the span ends when the app finishes, stops or drops
the stream. The app's thread only holds each event with its arrival time; the events
are read on genai-tap's finisher thread, where the trace events (``enableTrace``)
become the steps under the span (:mod:`.agent_trace`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

from genai_tap.config import Config
from genai_tap.guard import report
from genai_tap.record import CallRecord, Part, media_part, message, text_part, tool_response_part
from genai_tap.semconv import OP_INVOKE_AGENT
from genai_tap.tap import Call

from . import agent_trace, guardrails, model_ids, streams
from .aws import as_text, response_metadata
from .base import Made, Operation
from .formats import tool_definitions
from .streams import Reader, StreamState


class InvokeAgent(Operation):
    api = "InvokeAgent"
    streams = True
    #: where the session state is in the request
    state_key = "sessionState"

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        rec = CallRecord(
            api=self.api,
            operation=OP_INVOKE_AGENT,
            request_model="",
            capture_content=config.capture_content,
            stream=True,
            span_target="",
        )
        rec.conversation_id = as_text(params.get("sessionId"))
        self.describe(rec, params)
        steps: List[Callable[[], None]] = []
        if rec.capture_content:
            state = params.get(self.state_key)
            results = state.get("returnControlInvocationResults") if isinstance(state, Mapping) else None
            invocation = state.get("invocationId") if isinstance(state, Mapping) else None
            # read on the finisher thread; the list is the app's: copied now
            steps.append(partial(_input, params.get("inputText"), list(results) if isinstance(results, list) else [], invocation, rec))
        return rec, None, steps

    def describe(self, rec: CallRecord, params: Mapping[str, Any]) -> None:
        rec.agent_id = as_text(params.get("agentId"))
        rec.agent_alias_id = as_text(params.get("agentAliasId"))

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        response_metadata(rec, result)
        rec.conversation_id = as_text(result.get("sessionId")) or rec.conversation_id
        stream = result.get("completion")
        if not (hasattr(type(stream), "__aiter__") or hasattr(stream, "__iter__")):
            return result, False
        result["completion"] = streams.watch(stream, call, AgentStream(rec).reader())
        return result, True


class InvokeInlineAgent(InvokeAgent):
    """An agent defined in the request: its name, model, instruction and tools are known."""

    api = "InvokeInlineAgent"
    state_key = "inlineSessionState"

    def describe(self, rec: CallRecord, params: Mapping[str, Any]) -> None:
        model = as_text(params.get("foundationModel"))
        if model:
            rec.request_model, rec.model = model, model_ids.resolve(model)
        rec.agent_name = as_text(params.get("agentName"))
        rec.span_target = rec.agent_name or ""
        guardrail = params.get("guardrailConfiguration")
        if isinstance(guardrail, Mapping):
            rec.guardrail_id = as_text(guardrail.get("guardrailIdentifier"))
            rec.guardrail_version = as_text(guardrail.get("guardrailVersion"))
        instruction = params.get("instruction")
        if rec.capture_content and isinstance(instruction, str) and instruction:
            rec.system = [text_part(instruction)]

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        made = super().record(params, config)
        groups = params.get("actionGroups")
        if made is not None and made[0].capture_content and isinstance(groups, list):
            made[2].append(partial(_tools, list(groups), made[0]))  # read later, from a copy of the app's list
        return made


def _tools(groups: List[Any], rec: CallRecord) -> None:
    rec.tools = action_group_tools(groups)


def _input(text: Any, results: List[Any], invocation: Any, rec: CallRecord) -> None:
    """The agent's input: the user's text, and the results of actions the app ran."""
    messages = []
    parts: List[Part] = []
    for item in results:
        member = item.get("functionResult") or item.get("apiResult") if isinstance(item, Mapping) else None
        if not isinstance(member, Mapping):
            continue
        bodies = [c.get("body") for c in (member.get("responseBody") or {}).values() if isinstance(c, Mapping)]
        response: Any = bodies[0] if len(bodies) == 1 else bodies
        if member.get("confirmationState"):
            response = {"confirmationState": member["confirmationState"], "body": response}
        parts.append(tool_response_part(as_text(invocation), response))
    if parts:
        messages.append(message("tool", parts))
    if isinstance(text, str) and text:
        messages.append(message("user", [text_part(text)]))
    rec.input_messages = messages or None


def action_group_tools(groups: List[Any]) -> Optional[List[Dict[str, Any]]]:
    """An inline agent's action groups' functions, as tool definitions."""
    functions = []
    for group in groups:
        if not isinstance(group, Mapping):
            continue
        for fn in (group.get("functionSchema") or {}).get("functions") or ():
            if isinstance(fn, Mapping):
                functions.append(fn)

    def pick(fn: Mapping[str, Any]) -> Any:
        params = fn.get("parameters")
        schema = None
        if isinstance(params, Mapping):
            schema = {
                "type": "object",
                "properties": {
                    name: {k: v for k, v in p.items() if k in ("type", "description")}
                    for name, p in params.items()
                    if isinstance(p, Mapping)
                },
                "required": [name for name, p in params.items() if isinstance(p, Mapping) and p.get("required")],
            }
        return fn.get("name"), fn.get("description"), schema

    return tool_definitions(functions, pick)


class AgentStream:
    """One agent call's stream: what is held per event, and how it is read."""

    def __init__(self, rec: CallRecord) -> None:
        self.trace = agent_trace.AgentTrace(rec)
        self.returned: Optional[Tuple[int, Mapping[str, Any]]] = None
        self.files: List[Part] = []
        self.answered = False

    def reader(self) -> Reader:
        return Reader(self.read, _keep, self.done)

    def read(self, rec: CallRecord, state: StreamState, kept: Any) -> None:
        arrival, event = kept if type(kept) is tuple else (None, kept)
        if not isinstance(event, Mapping):
            return
        arrival = arrival if arrival is not None else rec.end_ns or rec.start_ns
        if "trace" in event:
            part = event["trace"]
            if isinstance(part, Mapping):
                try:
                    self.trace.add(arrival, part)
                except Exception as exc:  # one event Bedrock sent in a shape we did not foresee: the others still count
                    report("bedrock agents: reading a trace event", exc)
        elif "chunk" in event:
            data = (event["chunk"] or {}).get("bytes")
            if isinstance(data, (bytes, bytearray)) and data:
                self.answered = True
                if rec.first_chunk_ns is None:
                    rec.first_chunk_ns = arrival
                if rec.capture_content:
                    state.text(0, bytes(data).decode("utf-8", "replace"))
                else:
                    state.content_seen = True
        elif "returnControl" in event:
            if isinstance(event["returnControl"], Mapping):
                self.returned = (arrival, event["returnControl"])
        elif "files" in event:
            for item in (event["files"] or {}).get("files") or ():
                if isinstance(item, Mapping):
                    part = media_part("document", as_text(item.get("type")))
                    if as_text(item.get("name")):
                        part["name"] = item["name"]
                    self.files.append(part)

    def done(self, rec: CallRecord, state: StreamState) -> None:
        trace = self.trace
        calls: List[Part] = []
        if self.returned is not None:
            calls = agent_trace.return_control(trace, self.returned[1], self.returned[0])
        trace.finish()
        reason = None
        if self.returned is not None:
            reason = "tool_call"
        elif self.answered and rec.error_type is None and not rec.stopped_early:
            reason = "stop"
        if reason is not None:
            rec.finish_reasons = [reason]
        if rec.capture_content and (calls or self.files):
            out = rec.output_messages[0] if rec.output_messages else message("assistant", [])
            out["parts"].extend(calls + self.files)
            rec.output_messages = [out]
        if rec.output_messages and rec.finish_reasons:
            rec.output_messages[0]["finish_reason"] = rec.finish_reasons[0]
        guardrails.apply_intervention(rec)


def _keep(event: Any) -> Any:
    """Each event with the time it reached the app (the trace's times are checked against it)."""
    return (time.time_ns(), event)


OPERATIONS: Dict[str, Operation] = {
    "InvokeAgent": InvokeAgent(),
    "InvokeInlineAgent": InvokeInlineAgent(),
}
