"""Cohere Command R and R+: the Cohere chat body.

Request: ``{"message", "chat_history": [{"role": "USER"|"CHATBOT"|"SYSTEM"|"TOOL",
"message", "tool_calls", "tool_results"}], "preamble", "documents", "tools":
[{"name", "description", "parameter_definitions"}], "tool_results", "max_tokens",
"temperature", "p", "k", "stop_sequences", "seed", "frequency_penalty",
"presence_penalty"}``. Response: ``{"response_id", "generation_id", "text",
"finish_reason", "tool_calls": [{"name", "parameters"}]}`` (token counts come in the
response headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Optional

from genai_tap.record import CallRecord, Message, Part, message, text_part, tool_call_part, tool_response_part

from . import BodyFormat, copy_params, set_choices, tool_definitions

PARAMS = {
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "p",
    "top_k": "k",
    "stop_sequences": "stop_sequences",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
ROLES = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system", "TOOL": "tool"}


class CohereChat(BodyFormat):
    name = "cohere_chat"
    model_prefixes = ("cohere.command-r", "cohere.command-a")

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "message" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return isinstance(body.get("message"), str) and ("chat_history" in body or "preamble" in body or len(body) <= 8)

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        if not rec.capture_content:
            return
        history: List[Message] = []
        for turn in body.get("chat_history") or ():
            if isinstance(turn, Mapping):
                history.append(message(ROLES.get(str(turn.get("role", "")).upper(), "user"), _turn_parts(turn)))
        if body.get("tool_results"):
            history.append(message("tool", _results(body.get("tool_results"))))
        if body.get("message"):
            history.append(message("user", [text_part(str(body["message"]))]))
        rec.input_messages = history
        rec.system = [text_part(str(body["preamble"]))] if body.get("preamble") else None
        rec.tools = _tools(body.get("tools"))

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        rec.response_id = body.get("response_id") or body.get("generation_id")
        parts: List[Part] = [text_part(str(body["text"]))] if body.get("text") else []
        parts += _calls(body.get("tool_calls"))
        set_choices(rec, [(parts, body.get("finish_reason"))])

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        kind = chunk.get("event_type")
        if kind == "text-generation":
            stream.text(0, chunk.get("text"))
        elif kind == "tool-calls-generation":
            for i, call in enumerate(chunk.get("tool_calls") or ()):
                if isinstance(call, Mapping):
                    stream.tool_call(i, None, call.get("name"), call.get("parameters"))
        elif kind == "stream-end":
            stream.finish(chunk.get("finish_reason"))
            response = chunk.get("response") or {}
            rec.response_id = response.get("response_id") or response.get("generation_id")


def _turn_parts(turn: Mapping[str, Any]) -> List[Part]:
    parts: List[Part] = [text_part(str(turn["message"]))] if turn.get("message") else []
    return parts + _calls(turn.get("tool_calls")) + _results(turn.get("tool_results"))


def _calls(calls: Any) -> List[Part]:
    return [
        tool_call_part(None, str(c.get("name", "")), c.get("parameters"))
        for c in calls if isinstance(c, Mapping)
    ] if isinstance(calls, list) else []


def _results(results: Any) -> List[Part]:
    return [
        tool_response_part(None, r.get("outputs"))
        for r in results if isinstance(r, Mapping)
    ] if isinstance(results, list) else []


def _tools(tools: Any) -> Optional[List[Dict[str, Any]]]:
    return tool_definitions(tools, lambda t: (t.get("name"), t.get("description"), t.get("parameter_definitions")))
