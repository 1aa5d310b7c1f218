"""The OpenAI Chat Completions body, as Bedrock serves it for several vendors.

Used by Mistral's chat models (Mistral Large 2407, Pixtral), AI21 Jamba, OpenAI
gpt-oss, DeepSeek V3 and Qwen. Request: ``{"messages": [{"role", "content": str |
[{"type": "text"|"image_url", ...}], "tool_calls", "tool_call_id"}], "max_tokens" |
"max_completion_tokens", "temperature", "top_p", "stop", "n", "seed", "tools"}``.
Response: ``{"id", "model", "choices": [{"message": {"role", "content", "tool_calls",
"reasoning_content"}, "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Optional

from genai_tap.record import (
    CallRecord,
    Part,
    media_part,
    message,
    reasoning_part,
    text_part,
    tool_call_part,
    tool_response_part,
)

from . import BodyFormat, copy_params, parse_arguments, set_choices, tool_definitions

PARAMS = {
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "stop_sequences": "stop",
    "choice_count": "n",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
PARAMS_NEW = {"max_tokens": "max_completion_tokens"}


class OpenAIChat(BodyFormat):
    name = "openai_chat"
    model_prefixes = ("mistral.", "ai21.jamba", "openai.", "deepseek.", "qwen.")

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "messages" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        if "messages" not in body or "inferenceConfig" in body or "anthropic_version" in body:
            return False
        msgs = body.get("messages")
        return isinstance(msgs, list) and all(isinstance(m, Mapping) and "role" in m for m in msgs)

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        copy_params(rec, body, PARAMS_NEW)
        if not rec.capture_content:
            return
        system: List[Part] = []
        inputs = []
        for m in body.get("messages") or ():
            if not isinstance(m, Mapping):
                continue
            role = str(m.get("role", "user"))
            if role in ("system", "developer"):
                system.extend(_content(m.get("content")))
            else:
                inputs.append(message(role, _message_parts(m)))
        rec.system = system or None
        rec.input_messages = inputs
        rec.tools = _tools(body.get("tools"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        rec.response_id = body.get("id")
        rec.response_model = body.get("model")
        choices = [c for c in body.get("choices") or () if isinstance(c, Mapping)]
        set_choices(rec, [(_message_parts(c.get("message") or {}), c.get("finish_reason")) for c in choices])
        usage = body.get("usage")
        if isinstance(usage, Mapping):
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
            rec.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), cached, input_includes_cache=True)

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        rec.response_id = chunk.get("id") or rec.response_id
        rec.response_model = chunk.get("model") or rec.response_model
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping):
                continue
            index = choice.get("index", 0)
            # OpenAI-style chunks carry a "delta"; Mistral's carry a "message" and "stop_reason"
            delta = choice.get("delta") or choice.get("message") or {}
            stream.reasoning(("reasoning", index), delta.get("reasoning_content") or delta.get("reasoning"))
            stream.text(index, delta.get("content"))
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                stream.tool_call(call.get("index", 0), call.get("id"), fn.get("name"), fn.get("arguments"))
            stream.finish(choice.get("finish_reason") or choice.get("stop_reason"))
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            rec.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), input_includes_cache=True)


def _content(content: Any) -> List[Part]:
    if isinstance(content, str):
        return [text_part(content)]
    out: List[Part] = []
    for item in content if isinstance(content, list) else ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "text":
            out.append(text_part(str(item.get("text", ""))))
        elif kind == "image_url":
            url = (item.get("image_url") or {}).get("url", "")
            out.append(media_part("image", None, None if str(url).startswith("data:") else url))
    return out


def _message_parts(m: Mapping[str, Any]) -> List[Part]:
    parts: List[Part] = []
    reasoning = m.get("reasoning_content") or m.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(reasoning_part(reasoning))
    if m.get("role") == "tool":
        result = m.get("content")
        if isinstance(result, list):
            result = " ".join(p.get("content", "") for p in _content(result))
        return [tool_response_part(m.get("tool_call_id"), result)]
    parts.extend(_content(m.get("content")))
    for call in m.get("tool_calls") or ():
        if isinstance(call, Mapping):
            fn = call.get("function") or {}
            parts.append(tool_call_part(call.get("id"), str(fn.get("name", "")), parse_arguments(fn.get("arguments"))))
    return parts


def _tools(tools: Any) -> Optional[List[Dict[str, Any]]]:
    def pick(tool: Mapping[str, Any]):
        fn = tool.get("function")
        return (fn.get("name"), fn.get("description"), fn.get("parameters")) if isinstance(fn, Mapping) else None

    return tool_definitions(tools, pick)
