"""A call record in the shapes Datadog LLM Observability accepts (``LLMObs.annotate``).

Pure functions, no ddtrace import: the record's OpenTelemetry-shaped messages
become LLMObs messages, documents, metadata and metrics. ``annotate()`` raises on
a wrong shape, so everything here is made to fit its rules:

- a message's ``content`` is one string: text parts are joined, media parts are
  described in brackets (their bytes are never kept), reasoning becomes a message
  of its own with role ``reasoning`` (as ddtrace's own integrations do);
- a tool call's ``arguments`` is a dict: a JSON string is parsed, anything else
  is wrapped as ``{"value": ...}``;
- a tool result's ``result`` is a string: anything else is written as JSON;
- metric values are numbers.

With content capture off nothing here carries prompt or completion text.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..record import CONTENT_PARAMS, json_value

if TYPE_CHECKING:  # pragma: no cover
    from ..record import CallRecord, Message, Part

KIND_LLM = "llm"
KIND_EMBEDDING = "embedding"
KIND_AGENT = "agent"
KIND_TOOL = "tool"
KIND_RETRIEVAL = "retrieval"
KIND_WORKFLOW = "workflow"
KIND_TASK = "task"
EMBEDDINGS = "embeddings"

#: The record's operation (the GenAI conventions' ``gen_ai.operation.name``) -> the LLM
#: Observability span kind. Any other step is a ``workflow`` if it has steps of its own
#: (an agent's pre- or post-processing, orchestration or routing around a model
#: invocation), else a ``task`` (a guardrail check, a code step).
KINDS = {
    "chat": KIND_LLM,
    "text_completion": KIND_LLM,
    "generate_content": KIND_LLM,
    EMBEDDINGS: KIND_EMBEDDING,
    "invoke_agent": KIND_AGENT,
    "create_agent": KIND_AGENT,
    "execute_tool": KIND_TOOL,
    "retrieval": KIND_RETRIEVAL,
    "invoke_workflow": KIND_WORKFLOW,
}

#: The record's ``provider`` -> LLM Observability's ``model_provider``, named as
#: Datadog's own integrations name them so the spans group with Datadog's model
#: and cost views.
MODEL_PROVIDERS = {"aws.bedrock": "amazon_bedrock"}


def span_kind(rec: "CallRecord") -> str:
    kind = KINDS.get(rec.operation)
    if kind is None:
        kind = KIND_WORKFLOW if rec.children else KIND_TASK
    return kind


def has_model(kind: str) -> bool:
    """Whether LLM Observability keeps a model name and provider on spans of this kind."""
    return kind in (KIND_LLM, KIND_EMBEDDING)


def model_provider(rec: "CallRecord") -> str:
    return MODEL_PROVIDERS.get(rec.provider, rec.provider)


def span_name(rec: "CallRecord") -> str:
    """``aws.bedrock.converse``: low-cardinality, as APM operation names must be."""
    return f"{rec.provider}.{_snake(rec.api)}"


def step_name(rec: "CallRecord") -> str:
    """A step inside a call, named as its OpenTelemetry span is: ``execute_tool get_weather``,
    ``invoke_agent travel-agent``, ``chat us.amazon.nova-pro-v1:0``."""
    target = rec.span_target if rec.span_target is not None else rec.request_model
    return f"{rec.operation} {target}" if target else rec.operation


@functools.lru_cache(maxsize=64)
def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


# ---------------------------------------------------------------------- messages


def input_messages(rec: "CallRecord") -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    if rec.system:
        out.append({"role": "system", "content": _text(rec.system)})
    for msg in rec.input_messages or ():
        out.extend(_messages(msg))
    return out


def output_messages(rec: "CallRecord") -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for msg in rec.output_messages or ():
        out.extend(_messages(msg))
    return out


def _messages(msg: "Message") -> List[Dict[str, Any]]:
    """One record message -> its reasoning (if any) and then the message itself."""
    role = str(msg.get("role") or "user")
    parts = [p for p in msg.get("parts") or () if isinstance(p, dict)]
    out: List[Dict[str, Any]] = []
    reasoning = [p for p in parts if p.get("type") == "reasoning"]
    if reasoning:
        out.append({"role": "reasoning", "content": _text(reasoning)})
    shown: Dict[str, Any] = {"role": role, "content": _text(p for p in parts if p.get("type") != "reasoning")}
    calls = [_tool_call(p) for p in parts if p.get("type") == "tool_call"]
    if calls:
        shown["tool_calls"] = calls
    results = [_tool_result(p) for p in parts if p.get("type") == "tool_call_response"]
    if results:
        shown["tool_results"] = results
    if shown["content"] or calls or results or not reasoning:
        out.append(shown)
    return out


def _text(parts: Any) -> str:
    """Text and media parts as one string; tool parts are carried separately."""
    pieces = []
    for part in parts:
        kind = part.get("type")
        if kind in ("text", "reasoning"):
            pieces.append(str(part.get("content") or ""))
        elif kind in ("blob", "uri"):
            pieces.append(_media(part))
    return "\n".join(p for p in pieces if p)


def _media(part: "Part") -> str:
    what = [str(part.get("modality") or "media")]
    for key in ("mime_type", "uri"):
        if part.get(key):
            what.append(str(part[key]))
    return "([" + " ".join(what) + "])"


def _tool_call(part: "Part") -> Dict[str, Any]:
    call: Dict[str, Any] = {
        "name": str(part.get("name") or "unknown"),
        "arguments": _arguments(part.get("arguments")),
        "type": "function",
    }
    if part.get("id"):
        call["tool_id"] = str(part["id"])
    return call


def _arguments(value: Any) -> Dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"value": value}
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _tool_result(part: "Part") -> Dict[str, Any]:
    result: Dict[str, Any] = {"result": _as_text(part.get("response")), "type": "tool_result"}
    if part.get("id"):
        result["tool_id"] = str(part["id"])
    return result


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------- embeddings


def documents(rec: "CallRecord") -> List[Dict[str, str]]:
    """The inputs of an embedding call, one document per text or media part."""
    docs = []
    for msg in rec.input_messages or ():
        for part in msg.get("parts") or ():
            text = _text([part])
            if text:
                docs.append({"text": text})
    return docs


def embedding_output(rec: "CallRecord", count: int) -> Optional[str]:
    """What came back, as ddtrace describes it; the vectors are never read."""
    size = f" with size {rec.embedding_dimensions}" if rec.embedding_dimensions else ""
    if count:
        return f"[{count} embedding(s) returned{size}]"
    return f"[embedding(s) returned{size}]" if size else None


# ---------------------------------------------------------------------- the rest


def metadata(rec: "CallRecord") -> Dict[str, Any]:
    """Request parameters, how the call ended, and which API and model family it used."""
    meta: Dict[str, Any] = {
        k: v for k, v in rec.params.items() if rec.capture_content or k not in CONTENT_PARAMS
    }
    optional = {
        "operation": rec.operation,
        "stop_reason": rec.stop_reason,
        "finish_reasons": rec.finish_reasons,
        "response_id": rec.response_id,
        "response_model": rec.response_model,
        "request_id": rec.request_id,
        "api": rec.api,
        "model_family": rec.family,
        "model_vendor": rec.model.vendor if rec.model else None,
        "base_model": rec.model.base_id if rec.model else None,
        "server_address": rec.server_address,
        "server_port": rec.server_port,
        "guardrail_id": rec.guardrail_id,
        "guardrail_version": rec.guardrail_version,
        "guardrail_action": rec.guardrail_action,
        "guardrail_source": rec.guardrail_source,
        "guardrail_policies": rec.guardrail_policies,
        "output_type": rec.output_type,
        "output_count": rec.output_count,
        "embedding_dimensions": rec.embedding_dimensions,
        "agent_id": rec.agent_id,
        "agent_name": rec.agent_name,
        "agent_alias_id": rec.agent_alias_id,
        "agent_version": rec.agent_version,
        "conversation_id": rec.conversation_id,
        "tool_name": rec.tool_name,
        "tool_call_id": rec.tool_call_id,
        "tool_type": rec.tool_type,
        "data_source_id": rec.data_source_id,
        "error_type": rec.error_type,
    }
    meta.update((k, v) for k, v in optional.items() if v is not None)
    if rec.stream:
        meta["stream"] = True
        meta["stream_chunks"] = rec.chunk_count
        if rec.stopped_early:
            meta["stream_stopped_early"] = True
    for key, value in rec.attributes.items():  # the plugin's and the content policy's (genai_tap.*)
        if value is not None:
            meta[key] = value
    return meta


def metrics(rec: "CallRecord") -> Dict[str, float]:
    values = {
        "input_tokens": rec.input_tokens,
        "output_tokens": rec.output_tokens,
        "total_tokens": rec.total_tokens,
        "cache_read_input_tokens": rec.cache_read_input_tokens,
        "cache_write_input_tokens": rec.cache_write_input_tokens,
        "reasoning_output_tokens": rec.reasoning_output_tokens,
        "time_to_first_token": rec.time_to_first_chunk_s if rec.stream else None,
    }
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def tool_definitions(rec: "CallRecord") -> List[Dict[str, Any]]:
    out = []
    for tool in rec.tools or ():
        if not tool.get("name"):
            continue
        definition: Dict[str, Any] = {"name": str(tool["name"])}
        if isinstance(tool.get("description"), str):
            definition["description"] = tool["description"]
        if isinstance(tool.get("parameters"), dict):
            definition["schema"] = tool["parameters"]
        out.append(definition)
    return out


# ---------------------------------------------------------------------- other kinds


def value_of(rec: "CallRecord", output: bool) -> Any:
    """The input or output of an agent, workflow or task span (LLM Observability shows it as is):
    the messages' text when they are only text, else the messages themselves."""
    if output:
        messages = output_messages(rec)
    else:
        messages = input_messages(rec)
    if not messages:
        return None
    if all(set(m) <= {"role", "content"} and m.get("role") != "reasoning" for m in messages):
        text = "\n".join(m["content"] for m in messages if m.get("content"))
        return text or None
    return messages


#: A tool's arguments or result as LLM Observability shows it: JSON text is shown as its value.
tool_io = json_value


def retrieved(rec: "CallRecord") -> List[Dict[str, Any]]:
    """The documents a retrieval returned, as LLM Observability documents (text, name, id, score)."""
    out = []
    for doc in rec.documents or ():
        if not isinstance(doc, dict):
            continue
        content = doc.get("content")
        item: Dict[str, Any] = {"text": content if isinstance(content, str) else (_as_text(content) if content is not None else "")}
        extra = doc.get("metadata")
        name = doc.get("uri") or (extra.get("title") if isinstance(extra, dict) else None)
        if name:
            item["name"] = str(name)
        if doc.get("id") is not None:
            item["id"] = str(doc["id"])
        score = doc.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            item["score"] = score
        out.append(item)
    return out
