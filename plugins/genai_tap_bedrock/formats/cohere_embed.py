"""Cohere Embed (English, Multilingual, v4): ``texts`` / ``images``.

Request: ``{"texts": [...], "images": [data URIs], "input_type", "truncate",
"embedding_types", "output_dimension"}``. The response (the vectors) is never read;
the token count comes from the ``x-amzn-bedrock-input-token-count`` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord, media_part, message, text_part
from genai_tap.semconv import OP_EMBEDDINGS

from . import BodyFormat, copy_params


class CohereEmbed(BodyFormat):
    name = "cohere_embed"
    operation = OP_EMBEDDINGS
    model_prefixes = ("cohere.embed",)
    reads_response = False

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "texts" in body or "images" in body or "inputs" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "texts" in body and "input_type" in body

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, {"encoding_formats": "embedding_types", "input_type": "input_type", "truncate": "truncate"})
        if isinstance(body.get("output_dimension"), int):
            rec.embedding_dimensions = body["output_dimension"]
        if rec.capture_content:
            texts: list = body["texts"] if isinstance(body.get("texts"), list) else []
            images: list = body["images"] if isinstance(body.get("images"), list) else []
            parts = [text_part(str(t)) for t in texts] + [media_part("image") for _ in images]
            rec.input_messages = [message("user", parts)]
