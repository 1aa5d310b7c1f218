"""Mistral's text-completion body (Mistral 7B, Mixtral, Mistral Large 2402, Small).

Request: ``{"prompt": "<s>[INST] ... [/INST]", "max_tokens", "temperature", "top_p",
"top_k", "stop"}``. Response: ``{"outputs": [{"text", "stop_reason"}]}`` (token counts
come only in the response headers). Mistral's chat body is :mod:`.openai_chat`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord
from genai_tap.semconv import OP_TEXT_COMPLETION

from . import BodyFormat, copy_params, prompt_input, set_choices, stream_choices

PARAMS = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "stop_sequences": "stop"}


class Mistral(BodyFormat):
    name = "mistral"
    operation = OP_TEXT_COMPLETION
    model_prefixes = ("mistral.",)

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body and "[INST]" in str(body.get("prompt", ""))

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        prompt_input(rec, body.get("prompt"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        outputs = [o for o in body.get("outputs") or () if isinstance(o, Mapping)]
        set_choices(rec, [(str(o.get("text", "")), o.get("stop_reason")) for o in outputs])

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        stream_choices(stream, chunk.get("outputs"), "text", "stop_reason")
