"""Agents: InvokeAgent and InvokeInlineAgent, with Bedrock Agents' trace events.

The answer is an event stream (the ``completion`` member): ``trace`` events when the
request sets ``enableTrace``, then ``chunk`` (the answer's bytes, with citations when a
knowledge base was used), or ``returnControl``, ``files``, or an exception event. Each
trace event is a ``TracePart`` (``agentId``, ``agentAliasId``, ``agentVersion``,
``sessionId``, ``eventTime``, ``callerChain``, ``collaboratorName``; an inline agent's
parts carry no agent ID, alias or version) around exactly one of
``preProcessingTrace``, ``orchestrationTrace``, ``postProcessingTrace``,
``routingClassifierTrace``, ``guardrailTrace``, ``failureTrace``, each holding exactly
one step (``modelInvocationInput``, ``modelInvocationOutput``, ``rationale``,
``invocationInput``, ``observation``), as Bedrock sends them.

What the agent does is chosen by the request, deterministically; the rules (in the
order they are tried) are in :func:`choose` and docs/emulator.md. Times inside events
are read from the local clock when each event leaves, shifted by the emulator's
``clock_skew_ms``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import catalog, guardrails, knowledge_bases, replies, streaming
from .timeline import Clock

Body = Dict[str, Any]
ACCOUNT = "123456789012"
REGION = "us-east-1"
DEFAULT_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
DEFAULT_KB = "EMULATORKB"
INLINE_ALIAS_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:agent-alias/INLINE_AGENT/TSTALIASID"
COLLABORATOR = ("WeatherSpecialist", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:agent-alias/WTHRAGENT1/WTHRALIAS1")
INFERENCE_TYPE = "com.amazon.bedrock.agent.common.types#InferenceConfiguration"
REASONING_TYPE = "com.amazon.bedrock#ReasoningContentBlock"
_AGENT_ID = re.compile(r"^[0-9a-zA-Z]{10}$")
_SESSION_ID = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")

#: scenario names (values of the ``emulator-scenario`` session attribute)
SCENARIOS = ("answer", "guardrail", "failure", "collaboration", "routing", "api", "function", "code", "knowledge_base")
#: (scenario, words that choose it in the input text)
KEYWORDS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("failure", ("fail",)),
    ("collaboration", ("team", "collaborat")),
    ("routing", ("route",)),
    ("api", ("book",)),
    ("function", ("weather",)),
    ("code", ("python", "code")),
    ("knowledge_base", ("search", "knowledge")),
)


class AgentError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _words(text: str, n: int = 12) -> str:
    return " ".join(text.split()[:n])


def _true(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


class Tool:
    """The action the agent calls: an action group function, or an API operation."""

    def __init__(
        self,
        group: str,
        kind: str,
        name: str,
        params: List[Body],
        body: Optional[Body] = None,
        verb: str = "post",
        executor: str = "LAMBDA",
        result: str = "",
    ) -> None:
        self.group = group
        self.kind = kind  # "function" or "api"
        self.name = name  # function name or apiPath
        self.params = params
        self.body = body
        self.verb = verb
        self.executor = executor
        self.result = result

    @property
    def tool_name(self) -> str:
        return f"{self.group}__{self.name.strip('/').replace('/', '_')}"

    def arguments(self) -> Body:
        args: Body = {p["name"]: p["value"] for p in self.params}
        for props in (self.body or {}).get("content", {}).values():
            args.update({p["name"]: p["value"] for p in props})
        return args

    def invocation_input(self, invocation_id: Optional[str]) -> Body:
        out: Body = {"actionGroupName": self.group, "executionType": self.executor}
        if self.kind == "function":
            out["function"] = self.name
        else:
            out["apiPath"] = self.name
            out["verb"] = self.verb
            if self.body:
                out["requestBody"] = self.body
        out["parameters"] = self.params
        if invocation_id is not None:
            out["invocationId"] = invocation_id
        return out

    def return_control_input(self, agent_id: str) -> Body:
        if self.kind == "function":
            return {
                "functionInvocationInput": {
                    "actionGroup": self.group,
                    "function": self.name,
                    "parameters": self.params,
                    "actionInvocationType": "RESULT",
                    "agentId": agent_id,
                }
            }
        out: Body = {
            "actionGroup": self.group,
            "apiPath": self.name,
            "httpMethod": self.verb.upper(),
            "parameters": self.params,
            "actionInvocationType": "RESULT",
            "agentId": agent_id,
        }
        if self.body:
            out["requestBody"] = {"content": {ct: {"properties": props} for ct, props in self.body["content"].items()}}
        return {"apiInvocationInput": out}


def _city(text: str) -> str:
    found = re.search(r"\b(?:in|to|for|at) ([A-Z][a-zA-Z]+)", text)
    return found.group(1) if found else "Paris"


def weather_tool(text: str, group: str = "WeatherActions", function: str = "get_weather", param: str = "city") -> Tool:
    city = _city(text)
    return Tool(group, "function", function, [{"name": param, "type": "string", "value": city}], result=f"Sunny, 21 degrees C in {city}")


def booking_tool(group: str = "BookingAPI", path: str = "/bookings", verb: str = "post") -> Tool:
    return Tool(
        group,
        "api",
        path,
        [{"name": "date", "type": "string", "value": "2026-01-15"}],
        {"content": {"application/json": [{"name": "guests", "type": "integer", "value": "2"}]}},
        verb,
        result='{"bookingId": "BK-1001", "status": "CONFIRMED"}',
    )


def _inline_tool(group: Body, text: str) -> Optional[Tool]:
    """The tool an inline action group offers (its first function or API operation)."""
    name = str(group.get("actionGroupName", "ActionGroup"))
    executor = "RETURN_CONTROL" if (group.get("actionGroupExecutor") or {}).get("customControl") == "RETURN_CONTROL" else "LAMBDA"
    functions = ((group.get("functionSchema") or {}).get("functions")) or []
    if functions and isinstance(functions[0], dict):
        fn = functions[0]
        params = fn.get("parameters") or {}
        param = next(iter(params), "input") if isinstance(params, dict) else "input"
        tool = weather_tool(text, name, str(fn.get("name", "run")), str(param))
        tool.executor = executor
        return tool
    payload = (group.get("apiSchema") or {}).get("payload")
    if payload is not None or (group.get("apiSchema") or {}).get("s3"):
        path, verb = "/bookings", "post"
        try:
            spec = json.loads(payload or "{}")
            path = next(iter(spec.get("paths") or {}), path)
            verb = next(iter((spec.get("paths") or {}).get(path) or {}), verb)
        except (ValueError, AttributeError):
            pass
        tool = booking_tool(name, path, verb)
        tool.executor = executor
        return tool
    return None


class Ask:
    """What an InvokeAgent / InvokeInlineAgent request asks for."""

    def __init__(self, inline: bool, params: Dict[str, str], body: Body) -> None:
        self.inline = inline
        self.session_id = params.get("sessionId", "")
        if not _SESSION_ID.match(self.session_id):
            raise AgentError("ValidationException", f"The session ID {self.session_id!r} is not valid.")
        state = body.get("inlineSessionState" if inline else "sessionState") or {}
        if not isinstance(state, dict):
            raise AgentError("ValidationException", "The session state must be an object.")
        self.attributes: Dict[str, str] = {str(k): str(v) for k, v in (state.get("sessionAttributes") or {}).items()}
        self.results: List[Body] = list(state.get("returnControlInvocationResults") or [])
        self.invocation_id = state.get("invocationId")
        text = body.get("inputText")
        if not self.results and (not isinstance(text, str) or not text.strip()):
            raise AgentError("ValidationException", "inputText is required unless returnControlInvocationResults are given.")
        self.text = str(text or "")
        self.trace = bool(body.get("enableTrace"))
        self.memory_id = body.get("memoryId") if not inline else None
        stream_cfg = body.get("streamingConfigurations") or {}
        self.stream_final = bool(stream_cfg.get("streamFinalResponse"))
        if inline:
            self.agent_id, self.alias_id, self.version = "INLINE_AGENT", "TSTALIASID", "DRAFT"
            self.alias_arn = INLINE_ALIAS_ARN
            model = body.get("foundationModel")
            if not isinstance(model, str) or not body.get("instruction"):
                raise AgentError("ValidationException", "foundationModel and instruction are required.")
            self.model = model
            self.instruction = str(body["instruction"])
        else:
            self.agent_id, self.alias_id = params.get("agentId", ""), params.get("agentAliasId", "")
            for label, value in (("agent ID", self.agent_id), ("agent alias ID", self.alias_id)):
                if not _AGENT_ID.match(value):
                    raise AgentError("ValidationException", f"The {label} {value!r} is not valid.")
            if self.agent_id.upper().startswith("NOTFOUND"):
                raise AgentError("ResourceNotFoundException", f"Agent {self.agent_id} does not exist.")
            self.version = "DRAFT" if self.alias_id == "TSTALIASID" else "1"
            self.alias_arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:agent-alias/{self.agent_id}/{self.alias_id}"
            self.model = self.attributes.get("emulator-model", DEFAULT_MODEL)
            self.instruction = "You are a helpful assistant. Answer the user's questions, using your tools when they help."
        resolved = catalog.resolve(self.model)
        if resolved is None:
            raise AgentError("ValidationException", "The provided model identifier is invalid.")
        self.family = resolved[1]
        # what the agent is configured with
        prompts = {}
        for cfg in ((body.get("promptOverrideConfiguration") or {}).get("promptConfigurations") or []) if inline else []:
            if isinstance(cfg, dict):
                prompts[cfg.get("promptType")] = cfg
        processing = self.attributes.get("emulator-processing", "").lower()
        self.pre = "pre" in processing or (prompts.get("PRE_PROCESSING") or {}).get("promptState") == "ENABLED"
        self.post = "post" in processing or (prompts.get("POST_PROCESSING") or {}).get("promptState") == "ENABLED"
        orchestration = prompts.get("ORCHESTRATION") or {}
        self.inference = (
            orchestration.get("inferenceConfiguration")
            if inline
            else {
                "maximumLength": 2048,
                "stopSequences": ["</invoke>", "</answer>", "</error>"],
                "temperature": 0.0,
                "topK": 250,
                "topP": 1.0,
            }
        )
        extra = orchestration.get("additionalModelRequestFields") or {}
        self.reasoning = _true(self.attributes.get("emulator-reasoning", "")) or bool(
            isinstance(extra, dict) and (extra.get("reasoning_config") or extra.get("thinking"))
        )
        guard_cfg = body.get("guardrailConfiguration") if inline else None
        if guard_cfg is not None and not isinstance(guard_cfg, dict):
            raise AgentError("ValidationException", "guardrailConfiguration must be an object.")
        try:
            if guard_cfg:
                self.guard: Optional[guardrails.Guard] = guardrails.Guard(
                    guard_cfg.get("guardrailIdentifier", ""), guard_cfg.get("guardrailVersion", "")
                )
            elif _true(self.attributes.get("emulator-guardrail", "")):
                self.guard = guardrails.Guard("emulatorguardrail", "DRAFT")
            else:
                self.guard = None
        except guardrails.GuardrailError as exc:
            raise AgentError(exc.code, str(exc)) from None
        self.action_groups = [g for g in (body.get("actionGroups") or []) if isinstance(g, dict)] if inline else []
        self.knowledge_bases = [k for k in (body.get("knowledgeBases") or []) if isinstance(k, dict)] if inline else []
        kb_state = [k for k in (state.get("knowledgeBaseConfigurations") or []) if isinstance(k, dict)]
        self.kb_id = str((self.knowledge_bases or kb_state or [{}])[0].get("knowledgeBaseId") or DEFAULT_KB)
        self.collaborators = [c for c in (body.get("collaborators") or []) if isinstance(c, dict)] if inline else []
        self.collaboration = (
            str(body.get("agentCollaboration") or ("SUPERVISOR" if self.collaborators else "DISABLED")) if inline else "SUPERVISOR"
        )
        configs = [c for c in (body.get("collaboratorConfigurations") or []) if isinstance(c, dict)] if inline else []
        if configs:
            self.collaborator = (
                str(configs[0].get("collaboratorName", COLLABORATOR[0])),
                str(
                    configs[0].get("agentAliasArn")
                    or f"arn:aws:bedrock:{REGION}:{ACCOUNT}:agent-alias/INLINE_AGENT/{configs[0].get('collaboratorName', 'collaborator')}"
                ),
            )
        elif self.collaborators:
            name = str(self.collaborators[0].get("agentName") or COLLABORATOR[0])
            self.collaborator = (name, f"arn:aws:bedrock:{REGION}:{ACCOUNT}:agent-alias/INLINE_AGENT/{name}")
        else:
            self.collaborator = COLLABORATOR
        self.return_control = _true(self.attributes.get("emulator-return-control", "")) or "return control" in self.text.lower()


def choose(ask: Ask) -> str:
    """The scenario for a request. Tried in order:

    1. ``returnControlInvocationResults`` in the session state: ``return_control_result``.
    2. The ``emulator-scenario`` session attribute, if it names a scenario.
    3. An input the emulated guardrail blocks (:mod:`.guardrails`): ``guardrail``.
    4. Words in the input text (case-insensitive, at the start of a word: "book" is found in
       "booking", not in "handbook"): "fail" ``failure``; "team", "collaborat"
       ``collaboration``; "route" ``routing``; "book" ``api``; "weather" ``function``;
       "python", "code" ``code``; "search", "knowledge" ``knowledge_base``.
    5. Inline agents, from their configuration: collaborators ``collaboration`` (``routing``
       under SUPERVISOR_ROUTER); an action group with a function or API schema ``function``
       or ``api``; a knowledge base ``knowledge_base``.
    6. ``answer``.
    """
    if ask.results:
        return "return_control_result"
    named = ask.attributes.get("emulator-scenario", "")
    if named in SCENARIOS:
        return named
    if guardrails.check(ask.guard or _IMPLICIT_GUARD, ask.text, "INPUT").blocked:
        return "guardrail"
    for scenario, words in KEYWORDS:
        if any(re.search(r"\b" + w, ask.text, re.IGNORECASE) for w in words):
            return scenario
    if ask.collaborators:
        return "routing" if ask.collaboration == "SUPERVISOR_ROUTER" else "collaboration"
    for group in ask.action_groups:
        tool = _inline_tool(group, ask.text)
        if tool is not None:
            return tool.kind
    if ask.knowledge_bases:
        return "knowledge_base"
    return "answer"


_IMPLICIT_GUARD = guardrails.Guard("emulatorguardrail", "DRAFT")


class Who:
    """The agent an event speaks for: the one called, or a collaborator it called."""

    def __init__(
        self,
        ask: Ask,
        request_id: str,
        chain: List[str],
        name: Optional[str] = None,
        agent_id: Optional[str] = None,
        alias_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> None:
        self.ask = ask
        self.rid = request_id
        self.chain = chain
        self.name = name
        self.agent_id = agent_id or ask.agent_id
        self.alias_id = alias_id or ask.alias_id
        self.version = "1" if agent_id else ask.version
        self.session_id = session_id or ask.session_id
        self.step = 0

    def trace_id(self) -> str:
        return f"{self.rid}-{self.step}"


class Run:
    """One agent answer, built event by event as the stream is sent."""

    def __init__(self, ask: Ask, request_id: str, clock: Clock, chunks: Optional[int], scenario: str) -> None:
        self.ask = ask
        self.scenario = scenario
        self.clock = clock
        self.chunks = chunks
        self.root = Who(ask, request_id, [ask.alias_arn])

    # ------------------------------------------------------------ event framing
    def tool_observation(self, who: Who, result: str, clock_label: str) -> Optional[bytes]:
        """The orchestration trace of an action group's answer (its observation)."""
        meta = dict({"clientRequestId": replies.new_uuid()}, **self.clock.span(clock_label))
        return self.trace(
            who,
            "orchestrationTrace",
            {
                "observation": {
                    "actionGroupInvocationOutput": {"metadata": meta, "text": result},
                    "traceId": who.trace_id(),
                    "type": "ACTION_GROUP",
                }
            },
        )

    def trace(self, who: Who, kind: str, step: Body) -> Optional[bytes]:
        if not self.ask.trace:
            return None
        part: Body = {}
        if not self.ask.inline:  # an inline agent's trace parts (InlineAgentTracePart) name no agent
            part.update({"agentAliasId": who.alias_id, "agentId": who.agent_id, "agentVersion": who.version})
        part["callerChain"] = [{"agentAliasArn": arn} for arn in who.chain]
        if who.name:
            part["collaboratorName"] = who.name
        part["eventTime"] = self.clock.now()
        part["sessionId"] = who.session_id
        part["trace"] = {kind: step}
        return streaming.event("trace", part)

    def chunk(self, text: str, citations: Optional[List[Body]] = None) -> bytes:
        body: Body = {"bytes": base64.b64encode(text.encode()).decode()}
        if citations:
            body["attribution"] = {"citations": citations}
        return streaming.event("chunk", body)

    # ------------------------------------------------------------ model calls
    def prompt(self, who: Who, history: List[Tuple[str, str]]) -> str:
        messages = [{"content": f"[{{text={text}, type=text}}]", "role": role} for role, text in history]
        system = f" {self.ask.instruction} You have been provided with a set of functions to answer the user's question."
        return json.dumps({"system": system, "messages": messages})

    def raw_response(self, who: Who, thought: str, answer: Optional[str], tool: Optional[Tuple[str, Body]], usage: Tuple[int, int]) -> str:
        family = self.ask.family if who is self.root else "anthropic"
        text = f"<thinking>{thought}</thinking>" + (f"\n\n<answer>{answer}" if answer else "")
        if family == "anthropic":
            content: List[Body] = [{"type": "text", "text": text}]
            if tool is not None:
                content.append(
                    {"type": "tool_use", "id": "toolu_bdrk_" + replies.new_uuid().replace("-", "")[:24], "name": tool[0], "input": tool[1]}
                )
            return json.dumps(
                {
                    "stop_sequence": "</answer>" if answer else None,
                    "model": self.ask.model.split(".", 1)[-1].rsplit("-v", 1)[0],
                    "usage": {
                        "input_tokens": usage[0],
                        "output_tokens": usage[1],
                        "cache_read_input_tokens": None,
                        "cache_creation_input_tokens": None,
                    },
                    "type": "message",
                    "id": "msg_bdrk_" + replies.new_uuid().replace("-", "")[:24],
                    "content": content,
                    "role": "assistant",
                    "stop_reason": "tool_use" if tool is not None else ("stop_sequence" if answer else "end_turn"),
                }
            )
        blocks: List[Body] = [{"text": text}]
        if tool is not None:
            blocks.append(
                {"toolUse": {"toolUseId": "tooluse_" + replies.new_uuid().replace("-", "")[:22], "name": tool[0], "input": tool[1]}}
            )
        return json.dumps(
            {
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": "tool_use" if tool is not None else "end_turn",
                "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": usage[0] + usage[1]},
            }
        )

    def model_input(self, who: Who, kind: str, prompt_type: str, text: str, trace_id: str, inference: Optional[Body]) -> Optional[bytes]:
        self.clock.mark(trace_id)
        step: Body = {"foundationModel": self.ask.model if who is self.root else DEFAULT_MODEL}
        if inference:
            step["inferenceConfiguration"] = dict({"__type": INFERENCE_TYPE}, **inference)
        step.update({"text": text, "traceId": trace_id, "type": prompt_type})
        return self.trace(who, kind, {"modelInvocationInput": step})

    def model_output(
        self, who: Who, kind: str, trace_id: str, raw: str, usage: Tuple[int, int], parsed: Optional[Body] = None
    ) -> Optional[bytes]:
        meta: Body = {"clientRequestId": replies.new_uuid()}
        meta.update(self.clock.span(trace_id))
        meta["usage"] = {"inputTokens": usage[0], "outputTokens": usage[1]}
        step: Body = {"metadata": meta}
        if parsed is not None:
            step["parsedResponse"] = parsed
        step["rawResponse"] = {"content": raw}
        if kind in ("preProcessingTrace", "postProcessingTrace"):
            # Bedrock sends an empty reasoning block here whether or not the model reasoned
            step["reasoningContent"] = {"__type": REASONING_TYPE, "reasoningText": {}}
        elif self.ask.reasoning and kind == "orchestrationTrace":
            step["reasoningContent"] = {
                "reasoningText": {"text": "The user asked a question; I will plan the steps.", "signature": "emulator"}
            }
        step["traceId"] = trace_id
        return self.trace(who, kind, {"modelInvocationOutput": step})

    def think(
        self,
        who: Who,
        history: List[Tuple[str, str]],
        thought: str,
        answer: Optional[str] = None,
        tool: Optional[Tuple[str, Body]] = None,
        kind: str = "orchestrationTrace",
        prompt_type: str = "ORCHESTRATION",
    ) -> Iterator[Optional[bytes]]:
        """One orchestration step: the model call (input, output) and its rationale."""
        trace_id = who.trace_id()
        prompt = self.prompt(who, history)
        usage = (max(1, replies.count(prompt)), replies.count(thought) + replies.count(answer or "") + (5 if tool else 0))
        yield self.model_input(who, kind, prompt_type, prompt, trace_id, self.ask.inference if who is self.root else None)
        yield self.model_output(who, kind, trace_id, self.raw_response(who, thought, answer, tool, usage), usage)
        yield self.trace(who, kind, {"rationale": {"text": thought, "traceId": trace_id}})

    def finish(self, who: Who, text: str, kind: str = "orchestrationTrace") -> Iterator[Optional[bytes]]:
        span = self.clock.span("run")
        meta = {"endTime": span["endTime"], "operationTotalTimeMs": span["totalTimeMs"], "startTime": span["startTime"]}
        yield self.trace(
            who, kind, {"observation": {"finalResponse": {"metadata": meta, "text": text}, "traceId": who.trace_id(), "type": "FINISH"}}
        )

    # ------------------------------------------------------------ guardrails
    def guardrail(self, who: Who, found: guardrails.Assessment, direction: str) -> Iterator[Optional[bytes]]:
        """A guardrailTrace: ``pre`` checks the input (INTERVENED when it blocks), ``post`` the answer
        (INTERVENED when it blocks or masks). Nothing found: an empty assessment, as Bedrock sends it."""
        trace_id = f"{who.rid}-guardrail-{direction}-0"
        self.clock.mark(trace_id)
        acted = found.blocked if direction == "pre" else found.intervened
        step: Body = {"action": "INTERVENED" if acted else "NONE"}
        step["inputAssessments" if direction == "pre" else "outputAssessments"] = [found.agent()]
        step["metadata"] = dict({"clientRequestId": replies.new_uuid()}, **self.clock.span(trace_id))
        step["traceId"] = trace_id
        yield self.trace(who, "guardrailTrace", step)

    # ------------------------------------------------------------ the run
    def events(self) -> Iterator[bytes]:
        self.clock.mark("run")
        for item in self._events():
            if item is not None:
                yield item

    def _events(self) -> Iterator[Optional[bytes]]:
        ask, root = self.ask, self.root
        scenario = self.scenario
        if scenario == "guardrail":
            found = guardrails.check(ask.guard or _IMPLICIT_GUARD, ask.text, "INPUT")
            yield from self.guardrail(root, found, "pre")
            yield self.chunk(guardrails.BLOCKED_MESSAGE)
            return
        if ask.guard is not None and not ask.results:
            yield from self.guardrail(root, guardrails.check(ask.guard, ask.text, "INPUT"), "pre")
        if ask.pre and not ask.results:
            valid = "jailbreak" not in ask.text.lower()
            yield from self.preprocess(valid)
            if not valid:
                yield self.chunk("Sorry, I cannot answer this question.")
                return
        steps = {
            "answer": self.answer,
            "function": self.action,
            "api": self.action,
            "knowledge_base": self.knowledge_base,
            "code": self.code,
            "failure": self.failure,
            "collaboration": self.collaboration,
            "routing": self.routing,
            "return_control_result": self.return_control_result,
        }
        result: List[Any] = []
        yield from steps[scenario](scenario, result)
        if not result:
            return  # the scenario ended the stream itself (failure, returned control)
        text, citations = result[0]
        extra: List[bytes] = result[1] if len(result) > 1 else []
        if self.streamed:
            yield from extra
            return
        if ask.post:
            yield from self.postprocess(text)
            text = text + " Is there anything else I can help you with?"
        if ask.guard is not None:
            found = guardrails.check(ask.guard, text, "OUTPUT")
            yield from self.guardrail(root, found, "post")
            if found.blocked:
                text, citations = guardrails.BLOCKED_MESSAGE, None
            elif found.anonymized:
                text = found.masked
        yield self.chunk(text, citations)
        yield from extra

    #: whether the answer already left as chunks (``streamFinalResponse``)
    streamed = False

    # ------------------------------------------------------------ scenarios
    def _reply(self, who: Who, history: List[Tuple[str, str]], answer: str, thought: str) -> Iterator[Optional[bytes]]:
        """The last orchestration step: the model answers, then FINISH.

        With ``streamFinalResponse`` (and no post-processing) the answer leaves as chunks while
        the model is still answering, before its modelInvocationOutput, each chunk after a
        ``guardrail-post`` trace when a guardrail is configured (an answer the guardrail would
        change is not streamed).
        """
        guard = self.ask.guard
        stream = self.ask.stream_final and who is self.root and not self.ask.post
        if stream and guard is not None and guardrails.check(guard, answer, "OUTPUT").intervened:
            stream = False
        if stream:
            trace_id = who.trace_id()
            prompt = self.prompt(who, history)
            usage = (max(1, replies.count(prompt)), replies.count(thought) + replies.count(answer))
            yield self.model_input(who, "orchestrationTrace", "ORCHESTRATION", prompt, trace_id, self.ask.inference)
            for piece in streaming.pieces(answer, self.chunks or 3):
                if guard is not None:
                    yield from self.guardrail(who, guardrails.check(guard, piece, "OUTPUT"), "post")
                yield self.chunk(piece)
            self.streamed = True
            yield self.model_output(who, "orchestrationTrace", trace_id, self.raw_response(who, thought, answer, None, usage), usage)
            yield self.trace(who, "orchestrationTrace", {"rationale": {"text": thought, "traceId": trace_id}})
        else:
            yield from self.think(who, history, thought, answer)
        yield from self.finish(who, answer)

    def answer(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        text = f"Hello from the genai-tap emulator agent. You said: {_words(self.ask.text)}"
        yield from self._reply(self.root, [("user", self.ask.text)], text, "The user asked a question I can answer directly.")
        result.append((text, None))

    def tool_for(self, scenario: str) -> Tool:
        ask = self.ask
        for group in ask.action_groups:
            tool = _inline_tool(group, ask.text)
            if tool is not None and tool.kind == scenario:
                return tool
        tool = booking_tool() if scenario == "api" else weather_tool(ask.text)
        if ask.return_control:
            tool.executor = "RETURN_CONTROL"
        return tool

    def action(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        ask, root = self.ask, self.root
        tool = self.tool_for(scenario)
        history = [("user", ask.text)]
        yield from self.think(root, history, f"I will call {tool.tool_name} to answer.", tool=(tool.tool_name, tool.arguments()))
        invocation_id = replies.new_uuid() if tool.executor == "RETURN_CONTROL" else None
        self.clock.mark("action")  # the step starts when its invocationInput leaves
        yield self.trace(
            root,
            "orchestrationTrace",
            {
                "invocationInput": {
                    "actionGroupInvocationInput": tool.invocation_input(invocation_id),
                    "invocationType": "ACTION_GROUP",
                    "traceId": root.trace_id(),
                }
            },
        )
        if invocation_id is not None:
            yield streaming.event(
                "returnControl", {"invocationId": invocation_id, "invocationInputs": [tool.return_control_input(ask.agent_id)]}
            )
            return
        yield self.tool_observation(root, tool.result, "action")
        root.step += 1
        if tool.kind == "function":
            answer = f"The weather: {tool.result}."
        else:
            answer = "Your booking BK-1001 is confirmed for 2 guests on 2026-01-15."
        history += [("assistant", f"{tool.tool_name}({json.dumps(tool.arguments())})"), ("user", tool.result)]
        yield from self._reply(root, history, answer, "The action answered; I can reply now.")
        result.append((answer, None))

    def return_control_result(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        bodies, denied, states = [], False, set()
        for item in self.ask.results:
            member = (item.get("functionResult") or item.get("apiResult") or {}) if isinstance(item, dict) else {}
            if member.get("confirmationState") == "DENY":
                denied = True
            states.add(member.get("responseState"))
            for content in (member.get("responseBody") or {}).values():
                if isinstance(content, dict) and content.get("body"):
                    bodies.append(str(content["body"]))
        got = "; ".join(bodies) or "(no result)"
        root = self.root
        if "REPROMPT" in states:  # the application asks the agent to try again
            yield self.trace(
                root,
                "orchestrationTrace",
                {
                    "observation": {
                        "repromptResponse": {"source": "ACTION_GROUP", "text": f"The action asked for a new attempt: {got}"},
                        "traceId": root.trace_id(),
                        "type": "REPROMPT",
                    }
                },
            )
            root.step += 1
            answer = "The action could not be completed; please rephrase your request."
        elif "FAILURE" in states:
            answer = f"The action failed: {got}"
        elif denied:
            answer = "Understood, I did not run the action."
        else:
            answer = f"Thanks, the action returned: {got}"
        history = [("user", self.ask.text or "(return control results)"), ("user", got)]
        yield from self._reply(root, history, answer, "The application ran the action and sent its result.")
        result.append((answer, None))

    def knowledge_base(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        ask, root = self.ask, self.root
        tool_name = f"GET__x_amz_knowledgebase_{ask.kb_id}__Search"
        history = [("user", ask.text)]
        yield from self.think(root, history, "I will search the knowledge base.", tool=(tool_name, {"searchQuery": ask.text}))
        self.clock.mark("kb")  # the step starts when its invocationInput leaves
        yield self.trace(
            root,
            "orchestrationTrace",
            {
                "invocationInput": {
                    "invocationType": "KNOWLEDGE_BASE",
                    "knowledgeBaseLookupInput": {"knowledgeBaseId": ask.kb_id, "text": ask.text},
                    "traceId": root.trace_id(),
                }
            },
        )
        refs = [ref for _, ref in knowledge_bases.search(ask.text, ask.kb_id)[:3]]
        meta = dict({"clientRequestId": root.rid}, **self.clock.span("kb"))
        yield self.trace(
            root,
            "orchestrationTrace",
            {
                "observation": {
                    "knowledgeBaseLookupOutput": {"metadata": meta, "retrievedReferences": refs},
                    "traceId": root.trace_id(),
                    "type": "KNOWLEDGE_BASE",
                }
            },
        )
        root.step += 1
        answer = "According to the knowledge base: " + refs[0]["content"]["text"].split(". ")[0].rstrip(".") + "."
        history.append(("user", " ".join(r["content"]["text"] for r in refs)))
        yield from self._reply(root, history, answer, "The search results answer the question.")
        citations = [
            {
                "generatedResponsePart": {"textResponsePart": {"span": {"end": len(answer) - 1, "start": 0}, "text": answer}},
                "retrievedReferences": refs[:1],
            }
        ]
        result.append((answer, citations))

    def code(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        root = self.root
        code = "total = sum(range(1, 11))\nprint(total)\nopen('result.csv', 'w').write('n,total\\n10,55\\n')"
        yield from self.think(
            root,
            [("user", self.ask.text)],
            "I will run Python code to compute this.",
            tool=("codeinterpreteraction__execute", {"code": code}),
        )
        self.clock.mark("code")  # the step starts when its invocationInput leaves
        yield self.trace(
            root,
            "orchestrationTrace",
            {
                "invocationInput": {
                    "codeInterpreterInvocationInput": {"code": code, "files": []},
                    "invocationType": "ACTION_GROUP_CODE_INTERPRETER",
                    "traceId": root.trace_id(),
                }
            },
        )
        meta = dict({"clientRequestId": replies.new_uuid()}, **self.clock.span("code"))
        yield self.trace(
            root,
            "orchestrationTrace",
            {
                "observation": {
                    "codeInterpreterInvocationOutput": {
                        "executionOutput": "55\n",
                        "executionTimeout": False,
                        "files": ["result.csv"],
                        "metadata": meta,
                    },
                    "traceId": root.trace_id(),
                    "type": "ACTION_GROUP",
                }
            },
        )
        root.step += 1
        answer = "The sum of the numbers from 1 to 10 is 55; the table is in result.csv."
        yield from self._reply(root, [("user", self.ask.text), ("user", "55")], answer, "The code ran; I can answer.")
        files = streaming.event(
            "files", {"files": [{"bytes": base64.b64encode(b"n,total\n10,55\n").decode(), "name": "result.csv", "type": "text/csv"}]}
        )
        result.extend([(answer, None), [files]])

    def failure(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        ask, root = self.ask, self.root
        tool = weather_tool(ask.text)
        yield from self.think(root, [("user", ask.text)], f"I will call {tool.tool_name}.", tool=(tool.tool_name, tool.arguments()))
        self.clock.mark("failure")  # the step starts when its invocationInput leaves
        yield self.trace(
            root,
            "orchestrationTrace",
            {
                "invocationInput": {
                    "actionGroupInvocationInput": tool.invocation_input(None),
                    "invocationType": "ACTION_GROUP",
                    "traceId": root.trace_id(),
                }
            },
        )
        lambda_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{tool.group}"
        reason = f"The Lambda function {lambda_arn} failed: the function returned an error (Unhandled)."
        yield self.trace(
            root,
            "failureTrace",
            {
                "failureCode": 424,
                "failureReason": reason,
                "metadata": dict({"clientRequestId": replies.new_uuid()}, **self.clock.span("failure")),
                "traceId": root.trace_id(),
            },
        )
        yield streaming.exception(
            "dependencyFailedException", streaming.STREAM_ERRORS["dependencyFailedException"], resourceName=lambda_arn
        )

    def collaborator_run(self, parent: Who, text: str, kind: str) -> Iterator[Any]:
        """The collaborator's own trace (callerChain of both agents), then its answer as the last item."""
        name, arn = self.ask.collaborator
        parts = arn.rsplit("/", 2)
        agent_id = parts[1] if len(parts) == 3 and _AGENT_ID.match(parts[1]) else "COLLABAGNT"
        alias_id = parts[2] if len(parts) == 3 and _AGENT_ID.match(parts[2]) else "COLLABALIA"
        child = Who(
            self.ask,
            replies.new_uuid(),
            parent.chain + [arn],
            name=name,
            agent_id=agent_id,
            alias_id=alias_id,
            session_id=replies.new_uuid(),
        )
        tool = weather_tool(text)
        history = [("user", text)]
        yield from self.think(child, history, f"I will call {tool.tool_name}.", tool=(tool.tool_name, tool.arguments()))
        self.clock.mark("collab-action")  # the step starts when its invocationInput leaves
        yield self.trace(
            child,
            "orchestrationTrace",
            {
                "invocationInput": {
                    "actionGroupInvocationInput": tool.invocation_input(None),
                    "invocationType": "ACTION_GROUP",
                    "traceId": child.trace_id(),
                }
            },
        )
        yield self.tool_observation(child, tool.result, "collab-action")
        child.step += 1
        answer = f"{name} reports: {tool.result}."
        history.append(("user", tool.result))
        yield from self.think(child, history, "I have what the supervisor asked for.", answer)
        yield from self.finish(child, answer)
        yield ("answer", answer)

    def _delegate(self, kind: str, text: str) -> Iterator[Any]:
        root = self.root
        name, arn = self.ask.collaborator
        self.clock.mark("delegate")  # the step starts when its invocationInput leaves
        yield self.trace(
            root,
            kind,
            {
                "invocationInput": {
                    "agentCollaboratorInvocationInput": {
                        "agentCollaboratorAliasArn": arn,
                        "agentCollaboratorName": name,
                        "input": {"text": text, "type": "TEXT"},
                    },
                    "invocationType": "AGENT_COLLABORATOR",
                    "traceId": root.trace_id(),
                }
            },
        )
        answer = ""
        for item in self.collaborator_run(root, text, kind):
            if isinstance(item, tuple):
                answer = item[1]
            else:
                yield item
        meta = dict({"clientRequestId": root.rid}, **self.clock.span("delegate"))
        yield self.trace(
            root,
            kind,
            {
                "observation": {
                    "agentCollaboratorInvocationOutput": {
                        "agentCollaboratorAliasArn": arn,
                        "agentCollaboratorName": name,
                        "metadata": meta,
                        "output": {"text": answer, "type": "TEXT"},
                    },
                    "traceId": root.trace_id(),
                    "type": "AGENT_COLLABORATOR",
                }
            },
        )
        yield ("answer", answer)

    def collaboration(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        ask, root = self.ask, self.root
        name = ask.collaborator[0]
        task = f"Please handle this request: {ask.text}"
        yield from self.think(
            root,
            [("user", ask.text)],
            f"I will ask {name} to help.",
            tool=("AgentCommunication__sendMessage", {"recipient": name, "content": task}),
        )
        answer = ""
        for item in self._delegate("orchestrationTrace", task):
            if isinstance(item, tuple):
                answer = item[1]
            else:
                yield item
        root.step += 1
        final = f"Here is what my team found: {answer}"
        yield from self._reply(root, [("user", ask.text), ("user", answer)], final, f"{name} answered; I can reply.")
        result.append((final, None))

    def routing(self, scenario: str, result: List[Any]) -> Iterator[Optional[bytes]]:
        ask, root = self.ask, self.root
        name = ask.collaborator[0]
        trace_id = f"{root.rid}-routing-0"
        prompt = json.dumps(
            {
                "system": "",
                "messages": [{"content": f"[{{text=Here is a list of agents: {name}. Request: {ask.text}, type=text}}]", "role": "user"}],
            }
        )
        usage = (replies.count(prompt), 3)
        yield self.model_input(root, "routingClassifierTrace", "ROUTING_CLASSIFIER", prompt, trace_id, {})
        raw = json.dumps(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": f"<a>{name}</a>"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
            }
        )
        yield self.model_output(root, "routingClassifierTrace", trace_id, raw, usage)
        answer = ""
        for item in self._delegate("routingClassifierTrace", ask.text):
            if isinstance(item, tuple):
                answer = item[1]
            else:
                yield item
        result.append((answer, None))

    # ------------------------------------------------------------ pre/post-processing
    def preprocess(self, valid: bool) -> Iterator[Optional[bytes]]:
        root = self.root
        trace_id = f"{root.rid}-pre-0"
        prompt = json.dumps(
            {
                "system": "You are a classifying agent that filters user inputs into categories.",
                "messages": [{"content": f"[{{text=<input>{self.ask.text}</input>, type=text}}]", "role": "user"}],
            }
        )
        category = "D" if valid else "B"
        rationale = (
            "The input is a question the agent can answer with its functions."
            if valid
            else "The input tries to make the agent act against its instructions."
        )
        raw_text = f"<thinking>{rationale}</thinking>\n<category>{category}</category>"
        usage = (replies.count(prompt), replies.count(raw_text))
        inference = {"maximumLength": 2048, "stopSequences": ["\n\nHuman:"], "temperature": 0.0, "topK": 250, "topP": 1.0}
        yield self.model_input(root, "preProcessingTrace", "PRE_PROCESSING", prompt, trace_id, inference)
        raw = self._simple_raw(raw_text, usage)
        yield self.model_output(root, "preProcessingTrace", trace_id, raw, usage, {"isValid": valid, "rationale": rationale})

    def postprocess(self, text: str) -> Iterator[Optional[bytes]]:
        root = self.root
        trace_id = f"{root.rid}-post-0"
        rewritten = text + " Is there anything else I can help you with?"
        usage = (replies.count(text) + 20, replies.count(rewritten))
        inference = {"maximumLength": 2048, "stopSequences": ["\n\nHuman:"], "temperature": 0.0, "topK": 250, "topP": 1.0}
        yield self.model_input(root, "postProcessingTrace", "POST_PROCESSING", "", trace_id, inference)
        yield self.model_output(
            root,
            "postProcessingTrace",
            trace_id,
            self._simple_raw(f"<final_response>{rewritten}</final_response>", usage),
            usage,
            {"text": rewritten},
        )

    def _simple_raw(self, text: str, usage: Tuple[int, int]) -> str:
        return json.dumps(
            {
                "stop_sequence": None,
                "model": "claude",
                "type": "message",
                "role": "assistant",
                "id": "msg_bdrk_" + replies.new_uuid().replace("-", "")[:24],
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
            }
        )


# --------------------------------------------------------------------------- routes


def _invoke(inline: bool) -> Callable[[Any, Dict[str, str], bytes], None]:
    def handle(handler: Any, params: Dict[str, str], raw: bytes) -> None:
        body = handler.json_object(raw)
        if body is None:
            return None
        try:
            ask = Ask(inline, params, body)
            scenario = choose(ask)  # before the answer starts: a request it cannot read gets a 400, not a broken stream
        except AgentError as exc:
            return handler.send_error_shape(exc.code, str(exc))
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            return handler.send_error_shape("ValidationException", f"Malformed request: {exc}")
        run = Run(ask, handler.request_id, handler.emulator.clock(), handler.emulator.stream_chunks, scenario)
        headers = {"x-amzn-bedrock-agent-content-type": "application/json", "x-amz-bedrock-agent-session-id": ask.session_id}
        if ask.memory_id:
            headers["x-amz-bedrock-agent-memory-id"] = str(ask.memory_id)
        handler.send_stream(run.events(), headers)

    return handle


def routes() -> List[Any]:
    from .server import Route, body_field

    return [
        Route(
            "POST",
            "/agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text",
            "InvokeAgent",
            _invoke(False),
            service="agent",
            target=lambda params, raw: params.get("agentId", ""),
        ),
        Route("POST", "/agents/{sessionId}", "InvokeInlineAgent", _invoke(True), service="agent", target=body_field("foundationModel")),
    ]
