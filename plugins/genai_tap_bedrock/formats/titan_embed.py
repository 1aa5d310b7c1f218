"""Amazon Titan Embeddings (Text v1, Text v2, Multimodal): ``inputText`` / ``inputImage``.

Request: ``{"inputText", "inputImage": base64, "dimensions", "normalize", "embeddingTypes",
"embeddingConfig": {"outputEmbeddingLength"}}``. The response (``{"embedding": [...],
"inputTextTokenCount"}``) is never read: the vector stays the app's, and the token
count comes from the ``x-amzn-bedrock-input-token-count`` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord, media_part, message, text_part
from genai_tap.semconv import OP_EMBEDDINGS

from . import BodyFormat, copy_params


class TitanEmbed(BodyFormat):
    name = "titan_embed"
    operation = OP_EMBEDDINGS
    model_prefixes = ("amazon.titan-embed",)
    reads_response = False

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "inputText" in body or "inputImage" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return self.accepts(body) and "textGenerationConfig" not in body

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, {"encoding_formats": "embeddingTypes", "normalize": "normalize"})
        dims = body.get("dimensions") or (body.get("embeddingConfig") or {}).get("outputEmbeddingLength")
        if isinstance(dims, int):
            rec.embedding_dimensions = dims
        if rec.capture_content:
            parts = [text_part(str(body["inputText"]))] if body.get("inputText") is not None else []
            if body.get("inputImage"):
                parts.append(media_part("image"))
            rec.input_messages = [message("user", parts)]
