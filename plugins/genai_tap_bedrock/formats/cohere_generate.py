"""Cohere Command (``command-text-v14``, ``command-light-text-v14``): the generate body.

Request: ``{"prompt", "temperature", "p", "k", "max_tokens", "stop_sequences",
"return_likelihoods", "stream", "num_generations", "logit_bias", "truncate"}``.
Response: ``{"id", "prompt", "generations": [{"id", "index", "text", "finish_reason":
"COMPLETE"|"MAX_TOKENS"|"ERROR"|"ERROR_TOXIC"}]}`` (token counts in the response
headers). Streamed (``InvokeModelWithResponseStream``), a chunk is ``{"text", "index",
"is_finished": false}`` and the last one ``{"is_finished": true, "finish_reason",
"amazon-bedrock-invocationMetrics"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord
from genai_tap.semconv import OP_TEXT_COMPLETION

from . import BodyFormat, copy_params, prompt_input, set_choices

PARAMS = {
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "p",
    "top_k": "k",
    "stop_sequences": "stop_sequences",
    "choice_count": "num_generations",
    "return_likelihoods": "return_likelihoods",
    "truncate": "truncate",
}


class CohereGenerate(BodyFormat):
    name = "cohere_generate"
    operation = OP_TEXT_COMPLETION
    model_prefixes = ("cohere.command-text", "cohere.command-light-text")

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body and ("num_generations" in body or "return_likelihoods" in body or "truncate" in body)

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        prompt_input(rec, body.get("prompt"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        if isinstance(body.get("id"), str):
            rec.response_id = body["id"]
        generations = [g for g in body.get("generations") or () if isinstance(g, Mapping)]
        generations.sort(key=lambda g: g.get("index", 0) if isinstance(g.get("index", 0), int) else 0)
        set_choices(rec, [(str(g.get("text", "")), g.get("finish_reason")) for g in generations])

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        index = chunk.get("index", 0)
        if not chunk.get("is_finished"):
            stream.text(index if isinstance(index, int) else 0, chunk.get("text"))
        stream.finish(chunk.get("finish_reason"))
        for generation in chunk.get("generations") or ():  # a whole response in one chunk
            if isinstance(generation, Mapping):
                stream.text(generation.get("index", 0), generation.get("text"))
                stream.finish(generation.get("finish_reason"))
