"""What botocore's Bedrock Runtime responses and errors look like, read once here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from genai_tap.record import CallRecord

INPUT_TOKENS_HEADER = "x-amzn-bedrock-input-token-count"
OUTPUT_TOKENS_HEADER = "x-amzn-bedrock-output-token-count"
LATENCY_HEADER = "x-amzn-bedrock-invocation-latency"
LATENCY_ATTRIBUTE = "genai_tap.bedrock.latency_ms"


def response_metadata(rec: CallRecord, result: Mapping[str, Any]) -> Mapping[str, str]:
    """Request id from the response metadata; returns the (lower-cased) HTTP headers."""
    meta = result.get("ResponseMetadata") or {}
    rec.request_id = meta.get("RequestId")
    return meta.get("HTTPHeaders") or {}


def header_usage(rec: CallRecord, headers: Mapping[str, str]) -> None:
    """Token counts and latency from InvokeModel's response headers, when sent."""
    inp = headers.get(INPUT_TOKENS_HEADER)
    out = headers.get(OUTPUT_TOKENS_HEADER)
    if inp is not None or out is not None:
        rec.set_usage(as_int(inp), as_int(out), input_includes_cache=True)
    latency = as_int(headers.get(LATENCY_HEADER))
    if latency is not None:
        rec.attributes[LATENCY_ATTRIBUTE] = latency


def as_int(value: Any) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> Optional[str]:
    """``value`` if it is a non-empty string, else None (what Bedrock leaves out or sends empty)."""
    return value if isinstance(value, str) and value else None


def error_code(exc: BaseException) -> Optional[str]:
    """The AWS error code (``ThrottlingException``) of a ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
    return None
