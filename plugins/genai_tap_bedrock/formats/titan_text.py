"""Amazon Titan Text (Lite, Express, Premier): ``inputText`` + ``textGenerationConfig``.

Request: ``{"inputText", "textGenerationConfig": {"maxTokenCount", "temperature", "topP",
"stopSequences"}}``. Response: ``{"inputTextTokenCount", "results": [{"tokenCount",
"outputText", "completionReason"}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord
from genai_tap.semconv import OP_TEXT_COMPLETION

from . import BodyFormat, copy_params, prompt_input, set_choices

PARAMS = {"max_tokens": "maxTokenCount", "temperature": "temperature", "top_p": "topP", "stop_sequences": "stopSequences"}


class TitanText(BodyFormat):
    name = "titan_text"
    operation = OP_TEXT_COMPLETION
    model_prefixes = ("amazon.titan-text", "amazon.titan-tg1")

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "inputText" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "inputText" in body and "textGenerationConfig" in body

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body.get("textGenerationConfig"), PARAMS)
        prompt_input(rec, body.get("inputText"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        results = [r for r in body.get("results") or () if isinstance(r, Mapping)]
        set_choices(rec, [(str(r.get("outputText", "")), r.get("completionReason")) for r in results])
        counts = [r["tokenCount"] for r in results if isinstance(r.get("tokenCount"), int)]
        rec.set_usage(body.get("inputTextTokenCount"), sum(counts) if counts else None)

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        stream.text(chunk.get("index", 0), chunk.get("outputText"))
        stream.finish(chunk.get("completionReason"))
        # totalOutputTextTokenCount is a running total: the last one is the count, never a sum
        rec.set_usage(chunk.get("inputTextTokenCount"), chunk.get("totalOutputTextTokenCount"))
