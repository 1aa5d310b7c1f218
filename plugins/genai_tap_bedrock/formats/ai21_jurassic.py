"""AI21 Labs Jurassic-2 (``ai21.j2-mid-v1``, ``ai21.j2-ultra-v1``): the complete body.

Request: ``{"prompt", "maxTokens", "temperature", "topP", "stopSequences", "numResults",
"countPenalty": {"scale"}, "presencePenalty": {"scale"}, "frequencyPenalty": {"scale"}}``.
Response: ``{"id", "prompt": {"text", "tokens": [...]}, "completions": [{"data": {"text",
"tokens": [...]}, "finishReason": {"reason": "endoftext"|"length"|"stop", ...}}]}``; the
token counts are the lengths of the token lists (and Bedrock's response headers).
Bedrock does not stream Jurassic-2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from genai_tap.record import CallRecord
from genai_tap.semconv import OP_TEXT_COMPLETION

from . import BodyFormat, copy_params, prompt_input, set_choices

PARAMS = {
    "max_tokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "stop_sequences": "stopSequences",
    "choice_count": "numResults",
}
PENALTIES = {"frequency_penalty": "frequencyPenalty", "presence_penalty": "presencePenalty", "count_penalty": "countPenalty"}


class AI21Jurassic(BodyFormat):
    name = "ai21_jurassic"
    operation = OP_TEXT_COMPLETION
    model_prefixes = ("ai21.j2",)

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body and ("maxTokens" in body or "numResults" in body or "countPenalty" in body)

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        for ours, theirs in PENALTIES.items():
            penalty = body.get(theirs)
            if isinstance(penalty, Mapping):
                copy_params(rec, penalty, {ours: "scale"})
        prompt_input(rec, body.get("prompt"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        if body.get("id") is not None:
            rec.response_id = str(body["id"])
        completions = [c for c in body.get("completions") or () if isinstance(c, Mapping)]
        set_choices(rec, [(str(_data(c).get("text", "")), _reason(c)) for c in completions])
        prompt = body.get("prompt")
        prompt_tokens = _count(prompt.get("tokens")) if isinstance(prompt, Mapping) else None
        counts = [_count(_data(c).get("tokens")) for c in completions]
        output = sum(n for n in counts if n is not None) if any(n is not None for n in counts) else None
        if rec.input_tokens is None and rec.output_tokens is None:  # the headers' counts win when sent
            rec.set_usage(prompt_tokens, output)


def _data(completion: Mapping[str, Any]) -> Mapping[str, Any]:
    data = completion.get("data")
    return data if isinstance(data, Mapping) else {}


def _reason(completion: Mapping[str, Any]) -> Optional[str]:
    reason = completion.get("finishReason")
    if isinstance(reason, Mapping):
        reason = reason.get("reason")
    return reason if isinstance(reason, str) else None


def _count(tokens: Any) -> Optional[int]:
    return len(tokens) if isinstance(tokens, list) else None
