"""DeepSeek-R1's text-completion body.

Request: ``{"prompt", "max_tokens", "temperature", "top_p", "stop"}``.
Response: ``{"choices": [{"text", "stop_reason"}]}`` (counts in the response headers).
DeepSeek's chat body (V3) is :mod:`.openai_chat`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord
from genai_tap.semconv import OP_TEXT_COMPLETION

from . import BodyFormat, copy_params, prompt_input, set_choices, stream_choices

PARAMS = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "stop_sequences": "stop"}


class DeepSeek(BodyFormat):
    name = "deepseek"
    operation = OP_TEXT_COMPLETION
    model_prefixes = ("deepseek.",)

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        prompt_input(rec, body.get("prompt"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        choices = [c for c in body.get("choices") or () if isinstance(c, Mapping)]
        set_choices(rec, [(str(c.get("text", "")), c.get("stop_reason")) for c in choices])

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        stream_choices(stream, chunk.get("choices"), "text", "stop_reason")
