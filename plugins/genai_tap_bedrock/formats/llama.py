"""Meta Llama: a formatted ``prompt`` string.

Request: ``{"prompt", "max_gen_len", "temperature", "top_p", "images": [base64]}``.
Response: ``{"generation", "prompt_token_count", "generation_token_count", "stop_reason"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord, media_part, message, text_part
from genai_tap.semconv import OP_TEXT_COMPLETION

from . import BodyFormat, copy_params, set_choices

PARAMS = {"max_tokens": "max_gen_len", "temperature": "temperature", "top_p": "top_p"}


class Llama(BodyFormat):
    name = "llama"
    operation = OP_TEXT_COMPLETION
    model_prefixes = ("meta.llama",)

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body and ("max_gen_len" in body or "<|begin_of_text|>" in str(body.get("prompt", ""))[:32])

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        if rec.capture_content:
            images = body.get("images")
            parts = [text_part(str(body.get("prompt", "")))]
            parts += [media_part("image") for _ in images] if isinstance(images, list) else []
            rec.input_messages = [message("user", parts)]

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        set_choices(rec, [(str(body.get("generation", "")), body.get("stop_reason"))])
        rec.set_usage(body.get("prompt_token_count"), body.get("generation_token_count"))

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        stream.text(0, chunk.get("generation"))
        stream.finish(chunk.get("stop_reason"))
        # generation_token_count is a running total: the last one is the count
        rec.set_usage(chunk.get("prompt_token_count"), chunk.get("generation_token_count"))
