"""Anthropic Claude on Bedrock: the Messages API body.

Request: ``{"anthropic_version": "bedrock-2023-05-31", "max_tokens", "system": str | [blocks],
"messages": [{"role", "content": str | [{"type": "text"|"image"|"document"|"tool_use"|
"tool_result"|"thinking", ...}]}], "temperature", "top_p", "top_k", "stop_sequences",
"tools": [{"name", "description", "input_schema"}], "thinking": {...}}``.
Response: ``{"id", "model", "role", "content": [blocks], "stop_reason", "usage":
{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}}``.
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

from . import BodyFormat, copy_params, set_choices, tool_definitions

PARAMS = {
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "stop_sequences": "stop_sequences",
}


class Anthropic(BodyFormat):
    name = "anthropic"
    model_prefixes = ("anthropic.claude",)

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "messages" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "anthropic_version" in body and "messages" in body

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        if not rec.capture_content:
            return
        rec.input_messages = [
            message(str(m.get("role", "user")), parts(m.get("content")))
            for m in body.get("messages") or ()
            if isinstance(m, Mapping)
        ]
        system = body.get("system")
        rec.system = parts(system) or None
        rec.tools = _tools(body.get("tools"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        rec.response_id = body.get("id")
        rec.response_model = body.get("model")
        set_choices(rec, [(parts(body.get("content")), body.get("stop_reason"))], str(body.get("role", "assistant")))
        usage = body.get("usage")
        if isinstance(usage, Mapping):
            rec.set_usage(
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                usage.get("cache_read_input_tokens"),
                usage.get("cache_creation_input_tokens"),
            )

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        kind = chunk.get("type")
        index = chunk.get("index", 0)
        if kind == "content_block_delta":
            delta = chunk.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                stream.text(index, delta.get("text"))
            elif dtype == "input_json_delta":
                stream.tool_call(index, arguments=delta.get("partial_json", ""))
            elif dtype == "thinking_delta":
                stream.reasoning(index, delta.get("thinking"))
        elif kind == "content_block_start":
            block = chunk.get("content_block") or {}
            if block.get("type") == "tool_use":
                stream.tool_call(index, block.get("id"), block.get("name"))
        elif kind == "message_start":
            message_ = chunk.get("message") or {}
            rec.response_id = message_.get("id")
            rec.response_model = message_.get("model")
            usage = message_.get("usage") or {}
            rec.set_usage(usage.get("input_tokens"), None, usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens"))
        elif kind == "message_delta":
            stream.finish((chunk.get("delta") or {}).get("stop_reason"))
            rec.set_usage(None, (chunk.get("usage") or {}).get("output_tokens"))


def parts(content: Any) -> List[Part]:
    """Anthropic content (a string or a list of typed blocks) as parts."""
    if isinstance(content, str):
        return [text_part(content)]
    out: List[Part] = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, Mapping):
            part = _part(block)
            if part is not None:
                out.append(part)
    return out


def _part(block: Mapping[str, Any]) -> Optional[Part]:
    kind = block.get("type")
    if kind == "text":
        return text_part(str(block.get("text", "")))
    if kind == "tool_use":
        return tool_call_part(block.get("id"), str(block.get("name", "")), block.get("input"))
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            texts = [b.get("text") for b in content if isinstance(b, Mapping) and b.get("type") == "text"]
            content = texts[0] if len(texts) == 1 else texts
        return tool_response_part(block.get("tool_use_id"), content)
    if kind == "thinking":
        return reasoning_part(str(block.get("thinking", "")))
    if kind == "redacted_thinking":
        return reasoning_part("[redacted]")
    if kind in ("image", "document"):
        source = block.get("source") or {}
        return media_part(kind, source.get("media_type"), source.get("url"))
    return None


def _tools(tools: Any) -> Optional[List[Dict[str, Any]]]:
    return tool_definitions(tools, lambda t: (t.get("name"), t.get("description"), t.get("input_schema")))
