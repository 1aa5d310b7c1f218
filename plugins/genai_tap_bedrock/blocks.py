"""Converse content blocks -> message parts.

The Converse API and Amazon Nova's native ``messages-v1`` body share one shape
for messages, system prompts, tools and outputs (Nova's native format mirrors
Converse on purpose), so both parse through here. Media blocks are described
(modality, MIME type, S3 URI) but their bytes are never read or kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Optional

from genai_tap.record import (
    CallRecord,
    Message,
    Part,
    media_part,
    message,
    reasoning_part,
    text_part,
    tool_call_part,
    tool_response_part,
)

from . import formats, guardrails
from .formats import copy_params, mime_type

MEDIA = ("image", "video", "document", "audio")

#: Converse ``inferenceConfig`` names (Nova's native body also accepts its snake_case ones).
INFERENCE_CONFIG = {
    "max_tokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "stop_sequences": "stopSequences",
}
INFERENCE_CONFIG_SNAKE = {"max_tokens": "max_new_tokens", "top_p": "top_p", "top_k": "top_k"}


def parts(blocks: Any) -> List[Part]:
    out: List[Part] = []
    if not isinstance(blocks, list):
        return out
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        part = _part(block)
        if part is not None:
            out.append(part)
    return out


def _part(block: Mapping[str, Any]) -> Optional[Part]:
    if "text" in block:
        return text_part(str(block["text"]))
    if "toolUse" in block:
        use = block["toolUse"] or {}
        return tool_call_part(use.get("toolUseId"), str(use.get("name", "")), use.get("input"))
    if "toolResult" in block:
        result = block["toolResult"] or {}
        return tool_response_part(result.get("toolUseId"), _tool_result(result.get("content")))
    if "reasoningContent" in block:
        reasoning = block["reasoningContent"] or {}
        text = (reasoning.get("reasoningText") or {}).get("text")
        return reasoning_part(text if isinstance(text, str) else "[redacted]")
    if "guardContent" in block:
        guarded = block["guardContent"] or {}
        text = (guarded.get("text") or {}).get("text")
        return text_part(str(text)) if text is not None else None
    for modality in MEDIA:
        if modality in block:
            media = block[modality] or {}
            source = media.get("source") or {}
            uri = (source.get("s3Location") or {}).get("uri")
            return media_part(modality, mime_type(modality, media.get("format")), uri)
    return None  # cachePoint and blocks we do not know: nothing to show


def _tool_result(content: Any) -> Any:
    if not isinstance(content, list):
        return content
    values = []
    for item in content:
        if isinstance(item, Mapping) and "text" in item:
            values.append(item["text"])
        elif isinstance(item, Mapping) and "json" in item:
            values.append(item["json"])
        elif isinstance(item, Mapping):
            values.extend(p for p in parts([item]))
    if len(values) == 1:
        return values[0]
    return values


def messages(items: Any) -> List[Message]:
    if not isinstance(items, list):
        return []
    return [message(str(m.get("role", "user")), parts(m.get("content"))) for m in items if isinstance(m, Mapping)]


def system(items: Any) -> Optional[List[Part]]:
    if isinstance(items, str):
        return [text_part(items)]
    found = parts(items)
    return found or None


def tool_definitions(tool_config: Any) -> Optional[List[Dict[str, Any]]]:
    def pick(tool: Mapping[str, Any]):
        spec = tool.get("toolSpec")
        if not isinstance(spec, Mapping):
            return None
        return spec.get("name"), spec.get("description"), (spec.get("inputSchema") or {}).get("json")

    return formats.tool_definitions((tool_config or {}).get("tools") if isinstance(tool_config, Mapping) else None, pick)


def parse_request(body: Mapping[str, Any], rec: CallRecord, inference_config: Any) -> None:
    """Messages, system, tools and inference parameters of a Converse-shaped request."""
    copy_params(rec, inference_config, INFERENCE_CONFIG)
    copy_params(rec, inference_config, INFERENCE_CONFIG_SNAKE)
    if rec.capture_content:
        rec.input_messages = messages(body.get("messages"))
        rec.system = system(body.get("system"))
        rec.tools = tool_definitions(body.get("toolConfig"))


def set_usage(rec: CallRecord, usage: Any, keys: Mapping[str, str]) -> None:
    """A Converse-shaped ``usage`` block; ``keys`` names its input/output/cache fields."""
    if isinstance(usage, Mapping):
        rec.set_usage(usage.get(keys["input"]), usage.get(keys["output"]), usage.get(keys["cache_read"]), usage.get(keys["cache_write"]))


def parse_output(body: Mapping[str, Any], rec: CallRecord, usage_keys: Mapping[str, str]) -> None:
    """``output.message``, ``stopReason`` and ``usage`` of a Converse-shaped response."""
    rec.set_finish([body.get("stopReason")])
    set_usage(rec, body.get("usage"), usage_keys)
    if rec.capture_content:
        out = (body.get("output") or {}).get("message")
        if isinstance(out, Mapping):
            msg = message(str(out.get("role", "assistant")), parts(out.get("content")))
            if rec.finish_reasons:
                msg["finish_reason"] = rec.finish_reasons[0]
            rec.output_messages = [msg]


def stream_event(rec: CallRecord, state: Any, event: Mapping[str, Any], usage_keys: Mapping[str, str]) -> None:
    """One ConverseStream event (or Nova stream chunk, which has the same shape)."""
    if "contentBlockDelta" in event:
        body = event["contentBlockDelta"] or {}
        index = body.get("contentBlockIndex", 0)
        delta = body.get("delta") or {}
        if "text" in delta:
            state.text(index, delta["text"])
        elif "toolUse" in delta:
            state.tool_call(index, arguments=(delta["toolUse"] or {}).get("input", ""))
        elif "reasoningContent" in delta:
            state.reasoning(index, (delta["reasoningContent"] or {}).get("text"))
    elif "contentBlockStart" in event:
        body = event["contentBlockStart"] or {}
        tool = (body.get("start") or {}).get("toolUse")
        if isinstance(tool, Mapping):
            state.tool_call(body.get("contentBlockIndex", 0), tool.get("toolUseId"), tool.get("name"))
    elif "messageStart" in event:
        state.role = str((event["messageStart"] or {}).get("role", "assistant"))
    elif "messageStop" in event:
        reason = (event["messageStop"] or {}).get("stopReason")
        state.finish(reason)
        guardrails.read_converse(rec, reason, None)
    elif "metadata" in event:
        metadata = event["metadata"] or {}
        set_usage(rec, metadata.get("usage"), usage_keys)
        guardrails.read_trace(rec, metadata.get("trace"))
