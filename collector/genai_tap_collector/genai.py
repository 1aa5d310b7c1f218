"""What a GenAI span's content says, read through the GenAI semantic conventions: the
prompt preview, the conversation and the request parameters.

Every attribute name comes from :mod:`genai_tap.semconv`, the one table of names
genai-tap emits, so the collector reads exactly what the tracer writes (and what
other conforming instrumentations write too). The columns the views filter and
aggregate on are read at ingest, in :func:`otlp.traces`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from genai_tap import semconv as sc
from genai_tap.record import json_value

PREVIEW_CHARS = 120


def prompt_preview(attrs: Dict[str, Any]) -> Optional[str]:
    """The first words of the last user message."""
    messages = json_value(attrs.get(sc.INPUT_MESSAGES))
    if not isinstance(messages, list):
        return None
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") in ("user", None):
            text = " ".join(text_parts(msg.get("parts"))).strip()
            if text:
                text = " ".join(text.split())
                return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    return None


def text_parts(parts: Any) -> List[str]:
    if not isinstance(parts, list):
        return []
    return [str(p.get("content")) for p in parts if isinstance(p, dict) and p.get("type") == "text" and p.get("content")]


#: Content attributes are JSON strings; a value that is not JSON stays as it is
#: (genai_tap.record's rule, the one the Bedrock plugin applies to tool-call arguments).
__all__ = ["json_value", "prompt_preview", "conversation", "parameters", "text_parts"]


def conversation(attrs: Dict[str, Any]) -> Dict[str, Any]:
    """System instructions, input and output messages and tool definitions, parsed."""
    return {
        "system": json_value(attrs.get(sc.SYSTEM_INSTRUCTIONS)),
        "input": json_value(attrs.get(sc.INPUT_MESSAGES)),
        "output": json_value(attrs.get(sc.OUTPUT_MESSAGES)),
        "tools": json_value(attrs.get(sc.TOOL_DEFINITIONS)),
    }


#: Attributes shown as the call's parameters.
PARAMETER_PREFIXES = ("gen_ai.request.", "genai_tap.request.")
CONTENT_ATTRIBUTES = frozenset({sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.SYSTEM_INSTRUCTIONS, sc.TOOL_DEFINITIONS})


def parameters(attrs: Dict[str, Any]) -> Dict[str, Any]:
    return {
        k: v for k, v in sorted(attrs.items())
        if k.startswith(PARAMETER_PREFIXES) and k != sc.REQUEST_MODEL
    }
