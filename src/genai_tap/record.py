"""The neutral record of one model call.

A plugin fills a :class:`CallRecord` from a request and its response (or stream
events); sinks read it and know nothing of Bedrock or any other provider.

Messages and parts are plain dicts in the JSON shape of the OpenTelemetry GenAI
conventions (``gen_ai.input.messages``): ``{"role": ..., "parts": [...]}`` with
parts of type ``text``, ``tool_call``, ``tool_call_response``, ``reasoning``,
``blob`` and ``uri``. That shape is documented, provider-neutral and already what
the OpenTelemetry sink exports, so no sink has to translate twice. Media parts
never carry the media bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .semconv import finish_reason

Part = Dict[str, Any]
Message = Dict[str, Any]

#: Request parameters (in ``CallRecord.params``) that are prompt text, so content:
#: captured, redacted and limited like messages, and left out when capture is off.
CONTENT_PARAMS = frozenset({"negative_prompt"})


def text_part(content: str) -> Part:
    return {"type": "text", "content": content}


def reasoning_part(content: str) -> Part:
    return {"type": "reasoning", "content": content}


def tool_call_part(call_id: Optional[str], name: str, arguments: Any) -> Part:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def tool_response_part(call_id: Optional[str], response: Any) -> Part:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def media_part(modality: str, mime_type: Optional[str] = None, uri: Optional[str] = None) -> Part:
    """An image, video, audio clip or document, described but never carried.

    With a URI (``s3://...``) it is a ``uri`` part; inline bytes become a ``blob``
    part without ``content``: genai-tap never exports media bytes.
    """
    part: Part = {"type": "uri" if uri else "blob", "modality": modality}
    if mime_type:
        part["mime_type"] = mime_type
    if uri:
        part["uri"] = uri
    return part


def json_value(value: Any) -> Any:
    """A value that may be JSON text (tool arguments or results): decoded if it is, else as it is."""
    if isinstance(value, str):
        import json

        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def message(role: str, parts: List[Part]) -> Message:
    return {"role": role, "parts": parts}


@dataclass(slots=True, eq=False)
class ModelRef:
    """What a model ID points at, as far as the ID itself tells."""

    vendor: Optional[str]  # "amazon", "anthropic", ... or None when the ID does not say
    base_id: Optional[str]  # "amazon.nova-lite-v1:0" (no region prefix, no ARN)
    kind: str = "model"  # model | inference-profile | application-inference-profile | provisioned | imported | custom | prompt | ...
    region_prefix: Optional[str] = None  # "us", "eu", "apac", "global", ...


@dataclass(slots=True, eq=False)
class CallRecord:
    """One call to a generative model, filled in as the call progresses."""

    api: str  # the provider API: "InvokeModel", "Converse", ...
    operation: str  # semconv operation name: chat, text_completion, embeddings, generate_content
    request_model: str  # the model ID exactly as the app sent it
    provider: str = "aws.bedrock"
    model: Optional[ModelRef] = None
    family: Optional[str] = None  # name of the body format that parsed it ("nova", "anthropic", ...)
    capture_content: bool = True
    stream: bool = False
    server_address: Optional[str] = None
    server_port: Optional[int] = None
    start_ns: int = field(default_factory=time.time_ns)
    end_ns: Optional[int] = None

    # request
    params: Dict[str, Any] = field(default_factory=dict)  # temperature, top_p, top_k, max_tokens, stop_sequences, seed, ...
    system: Optional[List[Part]] = None
    input_messages: Optional[List[Message]] = None
    tools: Optional[List[Dict[str, Any]]] = None  # [{"type": "function", "name", "description", "parameters"}]
    guardrail_id: Optional[str] = None
    output_type: Optional[str] = None  # text | json | image | video
    output_count: Optional[int] = None  # images or videos requested
    embedding_dimensions: Optional[int] = None

    # response
    output_messages: Optional[List[Message]] = None
    finish_reasons: Optional[List[str]] = None  # normalised (stop, length, tool_call, ...)
    stop_reason: Optional[str] = None  # the provider's own first stop reason, as sent
    response_id: Optional[str] = None
    response_model: Optional[str] = None
    request_id: Optional[str] = None
    input_tokens: Optional[int] = None  # includes cache reads and writes (as the conventions ask)
    output_tokens: Optional[int] = None
    cache_read_input_tokens: Optional[int] = None
    cache_write_input_tokens: Optional[int] = None
    reasoning_output_tokens: Optional[int] = None

    # failure
    error: Optional[BaseException] = None
    error_type: Optional[str] = None
    # str(error) and its formatted traceback, scrubbed of credentials when the call
    # ends: sinks export these, never str(error) (AWS signature errors quote the
    # request's security token)
    error_message: Optional[str] = None
    error_stack: Optional[str] = None
    # the request as the app sent it (its parameters), kept by a plugin for a failed call
    # so that, with content capture off, the content an error message quotes can be
    # found and withheld; read by genai_tap.privacy only, never exported, dropped there
    error_request: Any = None

    # streaming
    first_chunk_ns: Optional[int] = None
    last_chunk_ns: Optional[int] = None
    chunk_count: int = 0
    stopped_early: bool = False

    # agents (invoke_agent), tools (execute_tool), retrieval and guardrails; the fields
    # marked "content" are prompt or completion text: redacted, limited and, with capture
    # off, removed like messages (genai_tap.privacy)
    agent_id: Optional[str] = None
    agent_name: Optional[str] = None
    agent_alias_id: Optional[str] = None
    agent_version: Optional[str] = None
    conversation_id: Optional[str] = None  # the agent's session id
    tool_name: Optional[str] = None
    tool_call_id: Optional[str] = None
    tool_type: Optional[str] = None  # function | extension | datastore
    tool_arguments: Any = None  # content
    tool_result: Any = None  # content
    data_source_id: Optional[str] = None  # the knowledge base
    retrieval_query: Optional[str] = None  # content
    documents: Optional[List[Dict[str, Any]]] = None  # [{"id", "score", "uri", "content" (content), "metadata"}]
    guardrail_version: Optional[str] = None
    guardrail_action: Optional[str] = None  # as Bedrock reports it: NONE, INTERVENED, GUARDRAIL_INTERVENED ...
    guardrail_source: Optional[str] = None  # INPUT | OUTPUT
    guardrail_policies: Optional[List[str]] = None  # the policies that intervened: content, topic, word, pii ...

    # the steps inside this call, each a record of its own (an agent's model invocations,
    # tool calls, knowledge-base lookups ...), with their own times inside this call's;
    # a child is an INTERNAL span unless span_kind says otherwise
    children: List["CallRecord"] = field(default_factory=list)
    span_kind: str = "client"  # client | internal
    #: what the span name says after the operation (``invoke_agent {agent name}``,
    #: ``execute_tool {tool name}``); None: the request model
    span_target: Optional[str] = None

    # plugin-specific span attributes (names from genai_tap.semconv)
    attributes: Dict[str, Any] = field(default_factory=dict)

    # this call's span in each sink, (trace id, span id) as hex strings, set by each sink
    # at start or, at the latest, before any sink finishes (Sink.link), so that each
    # sink can point at the others ("otel" -> ids, "datadog" -> ids)
    links: Dict[str, Any] = field(default_factory=dict)

    # ---- helpers used by plugins ---------------------------------------------------
    def set_usage(
        self,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
        cache_read: Optional[int] = None,
        cache_write: Optional[int] = None,
        *,
        input_includes_cache: bool = False,
    ) -> None:
        """Record token counts as the provider reported them; absent stays absent.

        Bedrock reports input tokens without the cached ones; the conventions want
        them included, so unless ``input_includes_cache`` they are added here.
        """
        if cache_read is not None:
            self.cache_read_input_tokens = int(cache_read)
        if cache_write is not None:
            self.cache_write_input_tokens = int(cache_write)
        if input_tokens is not None:
            total = int(input_tokens)
            if not input_includes_cache:
                total += int(cache_read or 0) + int(cache_write or 0)
            self.input_tokens = total
        if output_tokens is not None:
            self.output_tokens = int(output_tokens)

    def set_finish(self, raw_reasons: List[Any]) -> None:
        """Record the provider's stop reasons, normalised, keeping the first raw one."""
        reasons = [r for r in raw_reasons if r is not None]
        if not reasons:
            return
        self.stop_reason = str(reasons[0])
        self.finish_reasons = [finish_reason(r) for r in reasons]

    def child(self, operation: str, **fields: Any) -> "CallRecord":
        """A step inside this call (an INTERNAL span under it), appended to ``children``.

        It shares this call's provider, model, server, content capture and times
        until the caller sets its own.
        """
        rec = CallRecord(
            api=self.api,
            operation=operation,
            request_model=fields.pop("request_model", self.request_model),
            provider=self.provider,
            model=fields.pop("model", self.model),
            capture_content=self.capture_content,
            server_address=self.server_address,
            server_port=self.server_port,
            start_ns=fields.pop("start_ns", self.start_ns),
            span_kind="internal",
        )
        for name, value in fields.items():
            setattr(rec, name, value)
        self.children.append(rec)
        return rec

    def walk(self) -> "List[CallRecord]":
        """This record and every record under it, parents before children."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out

    def fail(self, exc: BaseException, error_type: Optional[str] = None, request: Any = None) -> None:
        """The call failed with ``exc``; ``request``: the parameters it was made with (see
        ``error_request``). Never raises: an exception whose ``str()`` fails gets its
        type's name as its message."""
        self.error = exc
        self.error_type = error_type or qualified_name(type(exc))
        try:
            self.error_message = str(exc)
        except Exception:
            self.error_message = type(exc).__name__
        if request is not None:
            self.error_request = request

    @property
    def duration_s(self) -> Optional[float]:
        if self.end_ns is None:
            return None
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def time_to_first_chunk_s(self) -> Optional[float]:
        if self.first_chunk_ns is None:
            return None
        return (self.first_chunk_ns - self.start_ns) / 1e9

    @property
    def total_tokens(self) -> Optional[int]:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


def qualified_name(cls: type) -> str:
    """``builtins.ValueError`` -> ``ValueError``; others keep their module."""
    module = getattr(cls, "__module__", None)
    if not module or module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
