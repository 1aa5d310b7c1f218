"""Size limits on captured content.

A prompt can be megabytes (a pasted document, a long conversation). Exporting it
whole makes spans that collectors and backends reject or cut at an arbitrary byte,
which breaks the JSON of ``gen_ai.input.messages``. genai-tap cuts each string at
``GENAI_TAP_MAX_CONTENT_CHARS`` itself, where the structure stays valid, and ends
it with a marker that says how much was left out.
"""

from __future__ import annotations

from . import REDACTED_PREFIX, truncation_marker

#: What replaces content in error messages with content capture off (see .errors).
WITHHELD = "[content withheld]"

#: How far past the limit a long text is still redacted before it is cut: a secret
#: that starts before the cut and ends within this many characters after it is
#: found whole, so no part of it survives (PEM blocks without their end are found
#: anyway). Bounds the redaction cost of huge texts to about twice the limit.
REDACT_AHEAD = 8192


def precut(text: str, limit: int) -> str:
    """The part of ``text`` worth redacting when it will be cut at ``limit``."""
    if limit <= 0 or len(text) <= limit + REDACT_AHEAD:
        return text
    return text[: limit + REDACT_AHEAD]


def cut(text: str, limit: int, dropped_before: int = 0) -> "tuple[str, bool]":
    """``text`` cut to ``limit`` characters plus the truncation marker; (text, cut?).

    ``dropped_before`` counts characters already removed by :func:`precut`. The cut
    never splits a redaction marker: a marker that would straddle it goes whole.
    """
    if limit <= 0 or (len(text) <= limit and not dropped_before):
        return text, False
    end = min(limit, len(text))
    start = text.rfind(REDACTED_PREFIX, max(0, end - 64), end + len(REDACTED_PREFIX) - 1)
    if start != -1 and text.find("]", start) >= end:
        end = start
    start = text.find(WITHHELD, max(0, end - len(WITHHELD) + 1), end + len(WITHHELD) - 1)
    if start != -1 and start < end:
        end = start
    return text[:end] + truncation_marker(len(text) - end + dropped_before), True


def cut_front(text: str, limit: int) -> str:
    """``text`` without its start, so that its last ``limit`` characters are left (a
    stack trace: the exception is at its end), after the truncation marker."""
    if limit <= 0 or len(text) <= limit:
        return text
    start = len(text) - limit
    for found in (text.rfind(REDACTED_PREFIX, max(0, start - 64), start), text.rfind(WITHHELD, max(0, start - 64), start)):
        if found != -1 and text.find("]", found) >= start:
            start = text.find("]", found) + 1  # the marker it would split goes whole
    return truncation_marker(start) + text[start:]
