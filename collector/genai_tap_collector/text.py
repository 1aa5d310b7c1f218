"""Text that came from the outside world, made safe to print, log or put in a mail header.

Service names, model IDs, prompts and error messages are whatever an app sent.
Printed raw, an ESC byte drives the terminal; a CR or LF in a mail subject or a
log line starts a header or line of its own. :func:`printable` replaces every
control character (C0, DEL, C1), the Unicode line and paragraph separators and
the bidirectional overrides with a visible escape (``\\x1b``, ``\\n``,
``\\u202e``), and keeps all other text, accents, CJK and emoji included.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: What json.dumps(ensure_ascii=False) leaves raw but a terminal may act on.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: "re.Match[str]") -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """``value`` as one line of text with control characters shown as escapes."""
    text = "" if value is None else str(value)
    return _UNSAFE.sub(_escape, text)


def json_text(data: Any, indent: int | None = 2) -> str:
    """JSON for a terminal: non-ASCII text kept, C1 controls and bidi overrides as ``\\uXXXX``.

    (``json.dumps`` already escapes C0 controls; the rest would reach the terminal raw.)
    """
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
