"""A Bedrock agent's trace events, turned into the steps (child records) of its call.

With ``enableTrace=True``, InvokeAgent and InvokeInlineAgent send ``trace`` events beside
the answer: each a ``TracePart`` (``eventTime``, ``callerChain``, ``collaboratorName``,
``agentId``, ``sessionId`` ...) around one of ``orchestrationTrace``,
``preProcessingTrace``, ``postProcessingTrace``, ``routingClassifierTrace``,
``guardrailTrace``, ``failureTrace``, ``customOrchestrationTrace``. The orchestration,
processing and routing kinds carry one item each: ``modelInvocationInput`` and then
``modelInvocationOutput`` (a model call, paired by ``traceId``), ``rationale``,
``invocationInput`` and then ``observation`` (an action group, the code interpreter, a
knowledge base, a collaborator agent; or the final answer).

:class:`AgentTrace` takes the events in order (on genai-tap's finisher thread, when the
stream is over) and builds, under the call's record:

- ``chat {model}`` per model invocation: prompt, completion, inference parameters,
  finish reason, the token usage Bedrock reports;
- ``execute_tool {tool}`` per action group function or API operation, and per code
  interpreter run: arguments and result;
- ``retrieval {knowledge base}`` per knowledge base lookup: query and references;
- ``invoke_agent {collaborator}`` per call to a collaborator agent (multi-agent
  collaboration), with the collaborator's own steps under it (events whose
  ``callerChain`` ends with the collaborator);
- ``apply_guardrail Amazon Bedrock Guardrails`` per guardrail trace;
- ``aws.bedrock.agent.pre_processing``, ``aws.bedrock.agent.post_processing``,
  ``aws.bedrock.agent.routing_classifier`` steps around their model call (and, for
  routing, the collaborator it chose);
- a failure trace marks the step it belongs to (the action whose ``traceId`` it has)
  ERROR with its reason, or becomes an ``aws.bedrock.agent.failure`` step of its own.

Times: Bedrock stamps each event (``eventTime``) and each finished step
(``metadata.startTime``/``endTime``/``totalTimeMs``) with its own clock, which may be
skewed against this host's. Bedrock's times are used as they are when they fit the
local clock: no step starts before the call did, and no event was sent after it
arrived here. When they do not fit, all of the call's Bedrock times are moved by one
shift, the smallest that makes them fit (so their order and durations are kept), and
what still falls outside its parent (its call, agent or step) is clamped into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from genai_tap.record import CallRecord, Message, Part, message, reasoning_part, text_part, tool_call_part
from genai_tap.semconv import (
    AGENT_CLOCK_SHIFT_MS,
    AGENT_STEPS_DROPPED,
    AGENT_USAGE_INPUT_TOKENS,
    AGENT_USAGE_OUTPUT_TOKENS,
    AWS_BEDROCK_AGENT_ACTION_GROUP,
    AWS_BEDROCK_AGENT_INPUT_VALID,
    AWS_BEDROCK_AGENT_PROMPT_TYPE,
    AWS_BEDROCK_AGENT_RETURN_CONTROL,
    AWS_BEDROCK_AGENT_TRACE_ID,
    AWS_BEDROCK_KNOWLEDGE_BASE_ID,
    GUARDRAIL_COMPONENT_BEDROCK,
    GUARDRAIL_COMPONENT_NAME,
    OP_AGENT_FAILURE,
    OP_AGENT_POST_PROCESSING,
    OP_AGENT_PRE_PROCESSING,
    OP_AGENT_ROUTING,
    OP_APPLY_GUARDRAIL,
    OP_CHAT,
    OP_EXECUTE_TOOL,
    OP_INVOKE_AGENT,
    OP_RETRIEVAL,
    TOOL_TYPE_EXTENSION,
    TOOL_TYPE_FUNCTION,
)

from . import blocks, guardrails, model_ids
from .aws import as_text
from .formats import anthropic, copy_params, parse_arguments
from .retrieval import set_documents

#: Steps recorded per call, at most (a runaway agent's trace stays bounded)
MAX_STEPS = 1000
#: The kinds of trace whose items are grouped in a step of their own
WRAPPED = {
    "preProcessingTrace": OP_AGENT_PRE_PROCESSING,
    "postProcessingTrace": OP_AGENT_POST_PROCESSING,
    "routingClassifierTrace": OP_AGENT_ROUTING,
}
INFERENCE = {
    "max_tokens": "maximumLength",
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "stop_sequences": "stopSequences",
}
CODE_INTERPRETER = "AMAZON.CodeInterpreter"
RETURN_CONTROL = "RETURN_CONTROL"

Time = Tuple[int, bool]  # (nanoseconds, whether on Bedrock's clock)


def to_ns(value: Any) -> Optional[int]:
    """A botocore timestamp (a datetime; naive ones are UTC) in nanoseconds."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        return int(value.timestamp() * 1_000_000) * 1000
    except (OverflowError, ValueError, OSError):
        return None


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _put(rec: CallRecord, name: str, value: Any) -> None:
    """An attribute of ``rec``, unless there is no value."""
    if value is not None:
        rec.attributes[name] = value


def alias_ids(arn: Any) -> Tuple[Optional[str], Optional[str]]:
    """(agent id, alias id) of ``arn:aws:bedrock:<region>:<account>:agent-alias/<agent>/<alias>``."""
    if not isinstance(arn, str) or ":agent-alias/" not in arn:
        return None, None
    parts = arn.rsplit(":agent-alias/", 1)[1].split("/")
    return (parts[0] or None, parts[1] or None) if len(parts) == 2 else (None, None)


class Span:
    """A step's times while it is built: Bedrock's or the local clock's."""

    __slots__ = ("start", "end")

    def __init__(self, start: Optional[Time], end: Optional[Time] = None) -> None:
        self.start = start
        self.end = end


class Agent:
    """One agent of the call (the one called, or a collaborator) and its open steps."""

    __slots__ = ("rec", "chain", "open", "wrapper", "models", "last_input")

    def __init__(self, rec: CallRecord, chain: Tuple[str, ...]) -> None:
        self.rec = rec
        self.chain = chain
        self.open: Dict[Tuple[Optional[str], str], CallRecord] = {}  # (traceId, "model"|"action") -> step
        self.wrapper: Optional[Tuple[str, CallRecord]] = None  # the pre/post-processing or routing step in progress
        self.models: Dict[Optional[str], CallRecord] = {}  # traceId -> the last model call
        self.last_input: Optional[CallRecord] = None


class AgentTrace:
    """Builds the steps of one agent call from its trace events."""

    def __init__(self, root: CallRecord) -> None:
        self.root = root
        self.capture = root.capture_content
        self.agents: Dict[Tuple[str, ...], Agent] = {}
        self.top = Agent(root, ())
        self.top_chain: Optional[Tuple[str, ...]] = None
        self.spans: Dict[int, Span] = {}  # id(step) -> its times
        self.offsets: List[int] = []  # arrival - eventTime, per event
        self.earliest: Optional[int] = None  # the earliest Bedrock time seen
        self.steps = 0
        self.dropped = 0
        self.failures: List[CallRecord] = []
        self.guarded: List[CallRecord] = []
        self.pending: List[CallRecord] = []  # actions handed back to the app (RETURN_CONTROL)

    # ------------------------------------------------------------------ events

    def add(self, arrival: int, part: Mapping[str, Any]) -> None:
        """One ``trace`` event, received here at ``arrival`` (ns)."""
        trace = part.get("trace")
        if not isinstance(trace, Mapping):
            return
        kind, body = next(((k, v) for k, v in trace.items() if isinstance(v, Mapping)), (None, None))
        if kind is None or body is None:
            return
        sent = to_ns(part.get("eventTime"))
        if sent is not None:
            self.offsets.append(arrival - sent)
        at: Time = (sent, True) if sent is not None else (arrival, False)
        agent = self._agent(part)
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(self, agent, kind, body, at)

    def _agent(self, part: Mapping[str, Any]) -> Agent:
        chain = tuple(
            str(c.get("agentAliasArn")) for c in part.get("callerChain") or () if isinstance(c, Mapping) and c.get("agentAliasArn")
        )
        if self.top_chain is None and len(chain) == 1:
            self.top_chain = chain  # the agent called: the first caller chain of one agent
        top = self.top_chain
        if len(chain) <= (len(top) if top is not None else 1):  # no chain, or the called agent's
            agent = self.top
        else:
            agent = self.agents.get(chain) or self._collaborator(chain, part)
        self._identify(agent, part)
        return agent

    def _collaborator(self, chain: Tuple[str, ...], part: Mapping[str, Any]) -> Agent:
        """The collaborator of events whose caller chain was not seen invoked: invoked
        under another spelling of its ARN (found by name), or not seen invoked at all."""
        parent = self.agents.get(chain[:-1], self.top)
        name = as_text(part.get("collaboratorName"))
        for known in list(self.agents.values()):
            if known.chain[:-1] == chain[:-1] and known.rec.agent_name == name and name is not None:
                self.agents[chain] = known
                return known
        rec = self._step(parent.rec, OP_INVOKE_AGENT, None, span_target=name or "")
        rec.agent_name = name
        rec.agent_id, rec.agent_alias_id = alias_ids(chain[-1])
        agent = self.agents[chain] = Agent(rec, chain)
        return agent

    def _identify(self, agent: Agent, part: Mapping[str, Any]) -> None:
        rec = agent.rec
        if rec.agent_id is None:
            rec.agent_id = as_text(part.get("agentId"))
        if rec.agent_alias_id is None:
            rec.agent_alias_id = as_text(part.get("agentAliasId"))
        if rec.agent_version is None:
            rec.agent_version = as_text(part.get("agentVersion"))
        if rec is not self.root and rec.conversation_id is None:
            rec.conversation_id = as_text(part.get("sessionId"))

    # ------------------------------------------------------------------ steps

    def _step(self, parent: CallRecord, operation: str, at: Optional[Time], **fields: Any) -> CallRecord:
        fields.setdefault("request_model", "")
        fields.setdefault("model", None)
        rec = CallRecord(
            api=self.root.api,
            operation=operation,
            request_model=fields.pop("request_model"),
            provider=self.root.provider,
            model=fields.pop("model"),
            capture_content=self.capture,
            server_address=self.root.server_address,
            server_port=self.root.server_port,
            start_ns=self.root.start_ns,
            span_kind="internal",
        )
        for name, value in fields.items():
            setattr(rec, name, value)
        self.spans[id(rec)] = Span(at)
        self._seen(at)
        if self.steps >= MAX_STEPS:
            self.dropped += 1
            return rec  # built, never attached
        self.steps += 1
        parent.children.append(rec)
        return rec

    def _seen(self, at: Optional[Time]) -> None:
        if at is not None and at[1] and (self.earliest is None or at[0] < self.earliest):
            self.earliest = at[0]

    def _end(self, rec: CallRecord, at: Optional[Time], metadata: Any = None) -> None:
        """``rec`` ended at ``at``, or as its ``metadata`` (startTime, endTime, totalTimeMs) says."""
        span = self.spans.get(id(rec))
        if span is None:
            return
        meta = _map(metadata)
        start, end = to_ns(meta.get("startTime")), to_ns(meta.get("endTime"))
        total = _int(meta.get("totalTimeMs"))
        if start is not None:
            span.start = (start, True)
            self._seen(span.start)
        if end is None and total is not None and span.start is not None and span.start[1]:
            end = span.start[0] + total * 1_000_000
        span.end = (end, True) if end is not None else at

    def _container(self, agent: Agent, kind: str, at: Time) -> CallRecord:
        """Where an item of ``kind`` goes: the agent, or its pre/post-processing or routing step."""
        operation = WRAPPED.get(kind)
        if operation is None:
            if kind == "orchestrationTrace":
                agent.wrapper = None
            return agent.rec
        if agent.wrapper is None or agent.wrapper[0] != kind:
            step = self._step(agent.rec, operation, at, span_target=agent.rec.agent_name or "")
            agent.wrapper = (kind, step)
        return agent.wrapper[1]

    # ------------------------------------------------------------------ items

    def step_items(self, agent: Agent, kind: str, body: Mapping[str, Any], at: Time) -> None:
        container = self._container(agent, kind, at)
        if container is not agent.rec and body:
            trace_id = next((as_text(_map(v).get("traceId")) for v in body.values() if isinstance(v, Mapping)), None)
            if AWS_BEDROCK_AGENT_TRACE_ID not in container.attributes:
                _put(container, AWS_BEDROCK_AGENT_TRACE_ID, trace_id)
        for key, item in body.items():
            if isinstance(item, Mapping):
                handler = ITEMS.get(key)
                if handler is not None:
                    handler(self, agent, container, kind, item, at)

    def model_input(self, agent: Agent, container: CallRecord, kind: str, item: Mapping[str, Any], at: Time) -> None:
        model = as_text(item.get("foundationModel")) or ""
        trace_id = as_text(item.get("traceId"))
        step = self._step(container, OP_CHAT, at, request_model=model, model=model_ids.resolve(model) if model else None)
        _put(step, AWS_BEDROCK_AGENT_TRACE_ID, trace_id)
        _put(step, AWS_BEDROCK_AGENT_PROMPT_TYPE, as_text(item.get("type")))
        copy_params(step, item.get("inferenceConfiguration"), INFERENCE)
        if self.capture:
            step.system, step.input_messages = prompt(item.get("text"))
        agent.open[(trace_id, "model")] = step
        agent.models[trace_id] = step

    def model_output(self, agent: Agent, container: CallRecord, kind: str, item: Mapping[str, Any], at: Time) -> None:
        trace_id = as_text(item.get("traceId"))
        step = agent.open.pop((trace_id, "model"), None)
        if step is None:  # an output without its input: a step of its own
            step = self._step(container, OP_CHAT, at)
            _put(step, AWS_BEDROCK_AGENT_TRACE_ID, trace_id)
            agent.models[trace_id] = step
        meta = _map(item.get("metadata"))
        usage = _map(meta.get("usage"))
        step.set_usage(_int(usage.get("inputTokens")), _int(usage.get("outputTokens")), input_includes_cache=True)
        raw = _map(item.get("rawResponse")).get("content")
        parts, reason = completion(step, raw)
        reasoning = _map(_map(item.get("reasoningContent")).get("reasoningText")).get("text")
        if isinstance(reasoning, str) and reasoning:
            parts.insert(0, reasoning_part(reasoning))
        parsed = item.get("parsedResponse")
        if isinstance(parsed, Mapping) and isinstance(parsed.get("isValid"), bool):
            container.attributes[AWS_BEDROCK_AGENT_INPUT_VALID] = parsed["isValid"]
        if reason is not None:
            step.set_finish([reason])
        if self.capture:
            if not parts and isinstance(parsed, Mapping) and isinstance(parsed.get("text"), str):
                parts = [text_part(parsed["text"])]
            if parts:
                out = message("assistant", parts)
                if step.finish_reasons:
                    out["finish_reason"] = step.finish_reasons[0]
                step.output_messages = [out]
        self._end(step, at, meta)

    def rationale(self, agent: Agent, container: CallRecord, kind: str, item: Mapping[str, Any], at: Time) -> None:
        """The model's stated reasoning: a reasoning part of that model call's output."""
        step = agent.models.get(as_text(item.get("traceId")))
        text = item.get("text")
        if step is None or not self.capture or not isinstance(text, str) or not text:
            return
        out = step.output_messages[0] if step.output_messages else None
        if out is None:
            step.output_messages = [message("assistant", [reasoning_part(text)])]
        elif not any(text in str(p.get("content", "")) for p in out["parts"] if isinstance(p, Mapping)):
            out["parts"].insert(0, reasoning_part(text))

    def invocation_input(self, agent: Agent, container: CallRecord, kind: str, item: Mapping[str, Any], at: Time) -> None:
        trace_id = as_text(item.get("traceId"))
        step: Optional[CallRecord] = None
        action = _map(item.get("actionGroupInvocationInput"))
        code = item.get("codeInterpreterInvocationInput")
        lookup = item.get("knowledgeBaseLookupInput")
        collaborator = item.get("agentCollaboratorInvocationInput")
        if isinstance(collaborator, Mapping):
            step = self._invoke_collaborator(agent, container, collaborator, at)
        elif isinstance(lookup, Mapping):
            kb = as_text(lookup.get("knowledgeBaseId"))
            step = self._step(container, OP_RETRIEVAL, at, span_target=kb or "", data_source_id=kb)
            if kb:
                step.attributes[AWS_BEDROCK_KNOWLEDGE_BASE_ID] = kb
            if self.capture and isinstance(lookup.get("text"), str):
                step.retrieval_query = lookup["text"]
        elif isinstance(code, Mapping):
            step = self._step(container, OP_EXECUTE_TOOL, at, span_target=CODE_INTERPRETER, tool_name=CODE_INTERPRETER)
            step.tool_type = TOOL_TYPE_EXTENSION
            if self.capture:
                step.tool_arguments = {"code": code.get("code"), "files": code.get("files") or []}
        elif action:
            name = tool_name(action)
            step = self._step(container, OP_EXECUTE_TOOL, at, span_target=name, tool_name=name)
            handed_back = action.get("executionType") == RETURN_CONTROL
            step.tool_type = TOOL_TYPE_FUNCTION if handed_back else TOOL_TYPE_EXTENSION
            step.tool_call_id = as_text(action.get("invocationId"))
            _put(step, AWS_BEDROCK_AGENT_ACTION_GROUP, as_text(action.get("actionGroupName")))
            if handed_back:
                step.attributes[AWS_BEDROCK_AGENT_RETURN_CONTROL] = True
                self.pending.append(step)
            if self.capture:
                step.tool_arguments = arguments(action)
        if step is not None:
            _put(step, AWS_BEDROCK_AGENT_TRACE_ID, trace_id)
            agent.open[(trace_id, "action")] = step
            agent.last_input = step

    def _invoke_collaborator(self, agent: Agent, container: CallRecord, item: Mapping[str, Any], at: Time) -> CallRecord:
        name = as_text(item.get("agentCollaboratorName"))
        arn = as_text(item.get("agentCollaboratorAliasArn"))
        chain = (self.top_chain if agent is self.top else agent.chain) or ()
        chain = chain + (arn or f"collaborator:{name}",)
        known = self.agents.get(chain)
        if known is not None and known.rec in container.children:
            return known.rec
        rec = self._step(container, OP_INVOKE_AGENT, at, span_target=name or "")
        rec.agent_name = name
        rec.agent_id, rec.agent_alias_id = alias_ids(arn)
        if self.capture:
            text = _map(item.get("input")).get("text")
            if isinstance(text, str):
                rec.input_messages = [message("user", [text_part(text)])]
        self.agents[chain] = Agent(rec, chain)
        return rec

    def observation(self, agent: Agent, container: CallRecord, kind: str, item: Mapping[str, Any], at: Time) -> None:
        trace_id = as_text(item.get("traceId"))
        final = item.get("finalResponse")
        if isinstance(final, Mapping):  # the agent's answer
            if agent is not self.top and self.capture and isinstance(final.get("text"), str):
                agent.rec.output_messages = [message("assistant", [text_part(final["text"])])]
            return
        step = agent.open.pop((trace_id, "action"), None)
        if step is None and agent.last_input is not None and agent.last_input in agent.open.values():
            step = agent.last_input  # an observation with another traceId than its input's
            agent.open = {k: v for k, v in agent.open.items() if v is not step}
        if step is None:
            return
        agent.last_input = None
        for key, read in OBSERVATIONS.items():
            output = item.get(key)
            if isinstance(output, Mapping):
                read(self, step, output)
                self._end(step, at, output.get("metadata"))
                return
        self._end(step, at)

    def _action_output(self, step: CallRecord, output: Mapping[str, Any]) -> None:
        if self.capture and "text" in output:
            step.tool_result = output.get("text")

    def _code_output(self, step: CallRecord, output: Mapping[str, Any]) -> None:
        if output.get("executionTimeout") is True:
            step.error_type = "timeout"
        elif output.get("executionError"):
            step.error_type = "execution_error"
        if self.capture:
            result = {k: output[k] for k in ("executionOutput", "executionError", "files") if output.get(k)}
            step.tool_result = result or None

    def _lookup_output(self, step: CallRecord, output: Mapping[str, Any]) -> None:
        refs = output.get("retrievedReferences")
        set_documents(step, list(refs) if isinstance(refs, list) else [])

    def _collaborator_output(self, step: CallRecord, output: Mapping[str, Any]) -> None:
        text = _map(output.get("output")).get("text")
        if self.capture and isinstance(text, str):
            step.output_messages = [message("assistant", [text_part(text)])]

    def guardrail(self, agent: Agent, kind: str, body: Mapping[str, Any], at: Time) -> None:
        trace_id = as_text(body.get("traceId")) or ""
        step = self._step(agent.rec, OP_APPLY_GUARDRAIL, at, span_target=GUARDRAIL_COMPONENT_BEDROCK)
        step.attributes[GUARDRAIL_COMPONENT_NAME] = GUARDRAIL_COMPONENT_BEDROCK
        _put(step, AWS_BEDROCK_AGENT_TRACE_ID, trace_id or None)
        step.guardrail_id, step.guardrail_version = self.root.guardrail_id, self.root.guardrail_version
        step.guardrail_action = as_text(body.get("action"))
        inputs, outputs = body.get("inputAssessments"), body.get("outputAssessments")
        step.guardrail_source = "INPUT" if inputs or "-pre" in trace_id else "OUTPUT" if outputs or "-post" in trace_id else None
        step.guardrail_policies = guardrails.policies(inputs, outputs) or None
        self._end(step, at, body.get("metadata"))
        if guardrails.intervened(step.guardrail_action):
            self.guarded.append(step)

    def failure(self, agent: Agent, kind: str, body: Mapping[str, Any], at: Time) -> None:
        trace_id = as_text(body.get("traceId"))
        step = agent.open.pop((trace_id, "action"), None) or agent.open.pop((trace_id, "model"), None)
        if step is None:
            step = self._step(agent.rec, OP_AGENT_FAILURE, at, span_target=agent.rec.agent_name or "")
            _put(step, AWS_BEDROCK_AGENT_TRACE_ID, trace_id)
        code = _int(body.get("failureCode"))
        step.error_type = str(code) if code is not None else as_text(body.get("failureType")) or "failure"
        reason = body.get("failureReason")
        step.error_message = reason if isinstance(reason, str) and reason else step.error_type
        self._end(step, at, body.get("metadata"))
        self.failures.append(step)

    # ------------------------------------------------------------------ the end

    def finish(self) -> None:
        """Place every step on the local clock inside its parent; sum the tokens; carry
        failures and guardrail interventions up to the agents that contain them."""
        root = self.root
        end = root.end_ns or root.start_ns
        shift = self._shift(root.start_ns)
        if shift:
            root.attributes[AGENT_CLOCK_SHIFT_MS] = round(shift / 1e6, 3)
        if self.dropped:
            root.attributes[AGENT_STEPS_DROPPED] = self.dropped
        for child in root.children:
            self._place(child, root.start_ns, end, shift)
        self._sum(root)
        for step in self.failures:
            for agent in self._agents_above(step):
                if agent.error_type is None and (agent is not root or not root.stopped_early):
                    agent.error_type, agent.error_message = step.error_type, step.error_message
        for step in self.guarded:
            for agent in self._agents_above(step):
                agent.guardrail_action = guardrails.INTERVENED
                guardrails.merge_policies(agent, step.guardrail_policies or [])

    def _shift(self, start: int) -> int:
        """How far to move Bedrock's times: 0 if they fit the local clock, else the
        smallest shift that makes them fit (see the module's docstring)."""
        latest = min(self.offsets) if self.offsets else None  # no event sent after it arrived
        earliest = start - self.earliest if self.earliest is not None else None  # no step before the call
        shift = 0
        if latest is not None and shift > latest:
            shift = latest
        if earliest is not None and shift < earliest and (latest is None or earliest <= latest):
            shift = earliest
        return shift

    def _local(self, at: Optional[Time], shift: int) -> Optional[int]:
        if at is None:
            return None
        return at[0] + shift if at[1] else at[0]

    def _place(self, rec: CallRecord, lo: int, hi: int, shift: int) -> None:
        span = self.spans.get(id(rec))
        start = self._local(span.start, shift) if span else None
        end = self._local(span.end, shift) if span else None
        if rec.children:  # a step containing others covers them
            first, last = self._extent(rec.children, shift)
            start = first if start is None or (first is not None and first < start) else start
            end = last if end is None or (last is not None and last > end) else end
        start = lo if start is None else min(max(start, lo), hi)
        end = hi if end is None else min(max(end, start), hi)
        rec.start_ns, rec.end_ns = start, end
        for child in rec.children:
            self._place(child, start, end, shift)

    def _extent(self, steps: List[CallRecord], shift: int) -> Tuple[Optional[int], Optional[int]]:
        first: Optional[int] = None
        last: Optional[int] = None
        for step in steps:
            span = self.spans.get(id(step))
            times = [self._local(span.start, shift), self._local(span.end, shift)] if span else []
            inner = self._extent(step.children, shift) if step.children else (None, None)
            for t in (*times, *inner):
                if t is not None:
                    first = t if first is None or t < first else first
                    last = t if last is None or t > last else last
        return first, last

    def _sum(self, rec: CallRecord) -> Tuple[int, int, bool]:
        """Tokens of the model calls under ``rec``; each agent carries its own sums."""
        total_in = total_out = 0
        found = False
        for child in rec.children:
            if child.operation == OP_CHAT and (child.input_tokens is not None or child.output_tokens is not None):
                total_in += child.input_tokens or 0
                total_out += child.output_tokens or 0
                found = True
            sub_in, sub_out, sub_found = self._sum(child)
            total_in, total_out, found = total_in + sub_in, total_out + sub_out, found or sub_found
        if found and rec.operation == OP_INVOKE_AGENT:
            rec.attributes[AGENT_USAGE_INPUT_TOKENS] = total_in
            rec.attributes[AGENT_USAGE_OUTPUT_TOKENS] = total_out
        return total_in, total_out, found

    def _agents_above(self, step: CallRecord) -> List[CallRecord]:
        """The invoke_agent records that contain ``step``, innermost first."""
        path: List[CallRecord] = []

        def find(rec: CallRecord) -> bool:
            for child in rec.children:
                if child is step or find(child):
                    if rec.operation == OP_INVOKE_AGENT:
                        path.append(rec)
                    return True
            return False

        find(self.root)
        return path


HANDLERS = {
    "orchestrationTrace": AgentTrace.step_items,
    "preProcessingTrace": AgentTrace.step_items,
    "postProcessingTrace": AgentTrace.step_items,
    "routingClassifierTrace": AgentTrace.step_items,
    "guardrailTrace": AgentTrace.guardrail,
    "failureTrace": AgentTrace.failure,
}
ITEMS = {
    "modelInvocationInput": AgentTrace.model_input,
    "modelInvocationOutput": AgentTrace.model_output,
    "rationale": AgentTrace.rationale,
    "invocationInput": AgentTrace.invocation_input,
    "observation": AgentTrace.observation,
}
OBSERVATIONS = {
    "actionGroupInvocationOutput": AgentTrace._action_output,
    "codeInterpreterInvocationOutput": AgentTrace._code_output,
    "knowledgeBaseLookupOutput": AgentTrace._lookup_output,
    "agentCollaboratorInvocationOutput": AgentTrace._collaborator_output,
}


# ---------------------------------------------------------------------- shapes


def tool_name(action: Mapping[str, Any]) -> str:
    """An action group's function, or its API operation as ``VERB /path``."""
    function = as_text(action.get("function"))
    if function:
        return function
    path = as_text(action.get("apiPath"))
    if path:
        verb = as_text(action.get("verb"))
        return f"{verb.upper()} {path}" if verb else path
    return as_text(action.get("actionGroupName")) or "action"


def arguments(action: Mapping[str, Any]) -> Dict[str, Any]:
    """An action's parameters and request body properties, by name."""
    out: Dict[str, Any] = {}
    for param in action.get("parameters") or ():
        if isinstance(param, Mapping) and param.get("name") is not None:
            out[str(param["name"])] = param.get("value")
    body = _map(action.get("requestBody"))
    for props in _map(body.get("content")).values():
        if isinstance(props, Mapping):
            props = props.get("properties")
        for param in props if isinstance(props, list) else ():
            if isinstance(param, Mapping) and param.get("name") is not None:
                out[str(param["name"])] = param.get("value")
    return out


def prompt(text: Any) -> Tuple[Optional[List[Part]], Optional[List[Message]]]:
    """A model invocation's prompt: Bedrock sends ``{"system", "messages"}`` as JSON text
    for messages models, and the prompt itself for text models."""
    if not isinstance(text, str) or not text:
        return None, None
    data = parse_arguments(text) if text.lstrip().startswith("{") else None
    if isinstance(data, Mapping) and isinstance(data.get("messages"), list):
        system = data.get("system")
        messages = []
        for item in data["messages"]:
            if not isinstance(item, Mapping):
                continue
            content = item.get("content")
            parts = anthropic.parts(content) if isinstance(content, list) else [text_part(str(content or ""))]
            messages.append(message(str(item.get("role") or "user"), parts))
        instructions = [text_part(system)] if isinstance(system, str) and system.strip() else None
        return instructions, messages
    return None, [message("user", [text_part(text)])]


def completion(step: CallRecord, raw: Any) -> Tuple[List[Part], Optional[str]]:
    """A model invocation's raw response: the model's own body (Messages, Converse) or text.
    Returns its parts (when content is captured) and its stop reason; sets its id and model."""
    if not isinstance(raw, str) or not raw:
        return [], None
    data = parse_arguments(raw) if raw.lstrip().startswith("{") else None
    if isinstance(data, Mapping) and isinstance(data.get("content"), list):  # Anthropic Messages
        if isinstance(data.get("id"), str):
            step.response_id = data["id"]
        if isinstance(data.get("model"), str):
            step.response_model = data["model"]
        return (anthropic.parts(data["content"]) if step.capture_content else []), as_text(data.get("stop_reason"))
    if isinstance(data, Mapping) and isinstance(data.get("output"), Mapping):  # Converse
        msg = _map(data["output"].get("message"))
        return (blocks.parts(msg.get("content")) if step.capture_content else []), as_text(data.get("stopReason"))
    return ([text_part(raw)] if step.capture_content else []), None


def tool_calls(payload: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any], Optional[str], Mapping[str, Any]]]:
    """A ``returnControl`` payload's invocations: (tool name, arguments, action group, input)."""
    out = []
    for item in payload.get("invocationInputs") or ():
        if not isinstance(item, Mapping):
            continue
        action = _map(item.get("functionInvocationInput")) or _map(item.get("apiInvocationInput"))
        if not action:
            continue
        shaped = dict(action)
        shaped.setdefault("verb", action.get("httpMethod"))
        body = _map(action.get("requestBody"))
        if body:
            shaped["requestBody"] = body
        out.append((tool_name(shaped), arguments(shaped), as_text(action.get("actionGroup")), action))
    return out


def return_control(trace: AgentTrace, payload: Mapping[str, Any], arrival: int) -> List[Part]:
    """The agent handed actions back to the app: each pending invocation is an
    ``execute_tool`` step (the trace's own when the trace named it), with the invocation
    id and arguments and no result; returns the ``tool_call`` parts of the answer."""
    invocation = as_text(payload.get("invocationId"))
    parts: List[Part] = []
    seen = list(trace.pending)
    for name, args, group, _ in tool_calls(payload):
        step = next((s for s in seen if s.tool_name == name), None)
        if step is not None:
            seen.remove(step)
        else:
            step = trace._step(trace.root, OP_EXECUTE_TOOL, (arrival, False), span_target=name, tool_name=name)
            trace.spans[id(step)].end = (arrival, False)
            step.tool_type = TOOL_TYPE_FUNCTION
            _put(step, AWS_BEDROCK_AGENT_ACTION_GROUP, group)
            step.attributes[AWS_BEDROCK_AGENT_RETURN_CONTROL] = True
            if trace.capture:
                step.tool_arguments = args
        step.tool_call_id = invocation or step.tool_call_id
        if trace.capture:
            parts.append(tool_call_part(invocation, name, args))
    return parts
