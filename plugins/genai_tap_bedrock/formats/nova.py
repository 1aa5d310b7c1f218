"""Amazon Nova understanding models (Micro, Lite, Pro, Premier, Nova 2): the ``messages-v1`` body.

Request: ``{"schemaVersion": "messages-v1", "system": [{"text"}], "messages": [{"role",
"content": [{"text"}, {"image": {...}}, {"video": {...}}, {"toolUse"}, {"toolResult"}]}],
"inferenceConfig": {"maxTokens"|"max_new_tokens", "temperature", "topP"|"top_p",
"topK"|"top_k", "stopSequences"}, "toolConfig": {...}}``.
Response: ``{"output": {"message": {...}}, "stopReason", "usage": {"inputTokens",
"outputTokens", "cacheReadInputTokenCount", "cacheWriteInputTokenCount"}}``.
The shape mirrors Converse, so the blocks are parsed by :mod:`..blocks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord

from .. import blocks
from . import BodyFormat

USAGE = {
    "input": "inputTokens",
    "output": "outputTokens",
    "cache_read": "cacheReadInputTokenCount",
    "cache_write": "cacheWriteInputTokenCount",
}


class Nova(BodyFormat):
    name = "nova"
    model_prefixes = (
        "amazon.nova-micro",
        "amazon.nova-lite",
        "amazon.nova-pro",
        "amazon.nova-premier",
        "amazon.nova-2-",
    )

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "messages" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return body.get("schemaVersion") == "messages-v1" or (
            "messages" in body and "inferenceConfig" in body and "anthropic_version" not in body
        )

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        blocks.parse_request(body, rec, body.get("inferenceConfig"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        blocks.parse_output(body, rec, USAGE)

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        blocks.stream_event(rec, stream, chunk, USAGE)
