"""Anthropic Claude 2 and Claude Instant on Bedrock: the Text Completions body.

Request: ``{"prompt": "\\n\\nHuman: ...\\n\\nAssistant:", "max_tokens_to_sample",
"temperature", "top_p", "top_k", "stop_sequences", "anthropic_version"}``.
Response: ``{"completion", "stop_reason": "stop_sequence"|"max_tokens", "stop", "type":
"completion", "id", "model"}`` (token counts in the response headers); a stream chunk is
``{"completion": delta, "stop_reason": null | reason, "stop"}``, the last one with
``amazon-bedrock-invocationMetrics``.

The same models (``anthropic.claude-v2``, ``claude-v2:1``, ``claude-instant-v1``) also take
the Messages body (:mod:`.anthropic`): the request body decides which (``prompt`` here,
``messages`` there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord
from genai_tap.semconv import OP_TEXT_COMPLETION

from . import BodyFormat, copy_params, prompt_input, set_choices

PARAMS = {
    "max_tokens": "max_tokens_to_sample",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "stop_sequences": "stop_sequences",
}


class AnthropicText(BodyFormat):
    name = "anthropic_text"
    operation = OP_TEXT_COMPLETION
    model_prefixes = ("anthropic.claude-v2", "anthropic.claude-instant")

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body and "messages" not in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body and "max_tokens_to_sample" in body

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        prompt_input(rec, body.get("prompt"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        _ids(body, rec)
        set_choices(rec, [(str(body.get("completion", "")), body.get("stop_reason"))])

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        _ids(chunk, rec)
        stream.text(0, chunk.get("completion"))
        stream.finish(chunk.get("stop_reason"))


def _ids(body: Mapping[str, Any], rec: CallRecord) -> None:
    if isinstance(body.get("id"), str):
        rec.response_id = body["id"]
    if isinstance(body.get("model"), str):
        rec.response_model = body["model"]
