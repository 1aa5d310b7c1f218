"""What a span says about a GenAI call, read through the GenAI semantic conventions.

Every attribute name comes from :mod:`genai_tap.semconv`, the one table of names
genai-tap emits, so the collector reads exactly what the tracer writes (and what
other conforming instrumentations write too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from genai_tap import semconv as sc
from genai_tap_bedrock.formats import parse_arguments
from genai_tap_bedrock.model_ids import resolve

from .otlp import STATUS_ERROR, Span

PREVIEW_CHARS = 120
EXCEPTION_EVENT = "exception"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_TYPE = "exception.type"


def is_genai(span: Span) -> bool:
    return sc.OPERATION_NAME in span.attributes


@dataclass(slots=True)
class Call:
    """The columns the views need from a GenAI span."""

    operation: Optional[str]
    provider: Optional[str]
    model: Optional[str]  # as the app sent it (cross-region profile, ARN, ...)
    base_model: Optional[str]  # the model it resolves to; the key of breakdowns and prices
    input_tokens: Optional[int]
    output_tokens: Optional[int]
    cache_read: Optional[int]
    cache_write: Optional[int]
    error: bool
    error_type: Optional[str]
    error_message: Optional[str]
    preview: Optional[str]


def call(span: Span) -> Call:
    a = span.attributes
    model = _str(a.get(sc.REQUEST_MODEL)) or _str(a.get(sc.RESPONSE_MODEL))
    error_type = _str(a.get(sc.ERROR_TYPE))
    error = span.status == STATUS_ERROR or error_type is not None
    return Call(
        operation=_str(a.get(sc.OPERATION_NAME)),
        provider=_str(a.get(sc.PROVIDER_NAME)),
        model=model,
        base_model=base_model(a.get(sc.MODEL_BASE_ID), model),
        input_tokens=_int(a.get(sc.USAGE_INPUT_TOKENS)),
        output_tokens=_int(a.get(sc.USAGE_OUTPUT_TOKENS)),
        cache_read=_int(a.get(sc.USAGE_CACHE_READ_INPUT_TOKENS)),
        cache_write=_int(a.get(sc.USAGE_CACHE_WRITE_INPUT_TOKENS)),
        error=error,
        error_type=error_type or (_exception(span, EXCEPTION_TYPE) if error else None),
        error_message=(span.status_message or _exception(span, EXCEPTION_MESSAGE)) if error else None,
        preview=prompt_preview(a),
    )


def base_model(base_id: Any, model: Optional[str]) -> Optional[str]:
    """``genai_tap.model.base_id`` when the tracer set it; else the request model with
    its cross-region prefix or ARN stripped; else the request model as sent."""
    if base_id:
        return str(base_id)
    if not model:
        return None
    return resolve(model).base_id or model


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
#: (the same rule the Bedrock plugin applies to tool-call arguments).
json_value = parse_arguments


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


def _exception(span: Span, key: str) -> Optional[str]:
    for event in span.events:
        if event.get("name") == EXCEPTION_EVENT and event["attributes"].get(key):
            return str(event["attributes"][key])
    return None


def _str(value: Any) -> Optional[str]:
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> Optional[int]:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
