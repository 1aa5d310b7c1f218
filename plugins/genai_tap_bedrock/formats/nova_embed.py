"""Amazon Nova Multimodal Embeddings: ``taskType`` + ``singleEmbeddingParams``.

Request: ``{"schemaVersion", "taskType": "SINGLE_EMBEDDING"|"SEGMENTED_EMBEDDING",
"singleEmbeddingParams": {"embeddingPurpose", "embeddingDimension", "text": {"value",
"truncationMode"} | "image" | "audio" | "video": {"format", "source": {"bytes" |
"s3Location"}}}}``. The response (the vectors) is never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord, media_part, message, text_part
from genai_tap.semconv import OP_EMBEDDINGS

from . import BodyFormat, copy_params, mime_type

MEDIA = ("image", "audio", "video", "document")


class NovaEmbed(BodyFormat):
    name = "nova_embed"
    operation = OP_EMBEDDINGS
    model_prefixes = ("amazon.nova-2-multimodal-embeddings", "amazon.nova-multimodal-embeddings")
    reads_response = False

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "taskType" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return str(body.get("taskType", "")).endswith("_EMBEDDING")

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        params = body.get("singleEmbeddingParams") or body.get("segmentedEmbeddingParams") or {}
        copy_params(rec, body, {"task_type": "taskType"})
        copy_params(rec, params, {"embedding_purpose": "embeddingPurpose"})
        if isinstance(params.get("embeddingDimension"), int):
            rec.embedding_dimensions = params["embeddingDimension"]
        if rec.capture_content:
            parts = []
            text = params.get("text")
            if isinstance(text, Mapping) and text.get("value") is not None:
                parts.append(text_part(str(text["value"])))
            for modality in MEDIA:
                media = params.get(modality)
                if isinstance(media, Mapping):
                    uri = ((media.get("source") or {}).get("s3Location") or {}).get("uri")
                    parts.append(media_part(modality, mime_type(modality, media.get("format")), uri))
            rec.input_messages = [message("user", parts)]
