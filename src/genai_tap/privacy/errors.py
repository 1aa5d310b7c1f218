"""Error messages and stack traces: what of them may leave.

An exception's message can quote the request. botocore's parameter validation
prints the offending value (``Invalid type for parameter
messages[0].content[0].text, value: <the prompt>, type: <class 'dict'> ...``);
Bedrock's schema validation quotes strings that fail a pattern or an enum
(``Malformed input request: #/textGenerationConfig/stopSequences/0: string [...]
does not match pattern ...``); SigV4 errors quote the signed request with its
security token. So every error message and stack trace is scrubbed before it is
exported:

- always: credentials and whatever the enabled detectors and custom patterns find,
  as in content (:class:`~genai_tap.privacy.rules.Redactor`);
- with content capture off, also every piece of content: every occurrence of the
  call's content strings (8 characters or more; and any piece of 15 characters or
  more of them, JSON- or ``repr``-escaped too), the values botocore's validation
  report prints, the values Bedrock's schema messages quote, and whatever stands
  between quotes (``'...'``, ``"..."``; quoted URLs and ``<class '...'>`` stay).
  Each becomes :data:`WITHHELD`; the error's type and the rest of its message stay
  (``Invalid type for parameter messages[0].content[0].text, value: [content
  withheld], type: <class 'int'>, valid types: <class 'str'>``).

Stack traces are formatted here, not with :func:`traceback.format_exception`:
frames (file, line, and source line: code) are kept as they are, and the message
of each exception in the chain (``__cause__``, ``__context__``) goes through the
same scrubbing as the error message.
"""

from __future__ import annotations

import json
import re
import traceback
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .limits import WITHHELD  # what replaces content found in an error message

__all__ = ["WITHHELD", "ContentIndex", "content_strings", "format_stack", "withhold"]

#: Content strings shorter than this are not looked for in error text ("user", "text").
MIN_CONTENT = 8
#: Pieces of content are found by windows of this many characters taken every
#: WINDOW characters: any piece of 2 * WINDOW - 1 characters or more holds one.
WINDOW = 8
#: At most this many characters of content strings are indexed for one error.
INDEX_CHARS = 1 << 20
#: Error messages and stack traces are cut at this many characters (before scrubbing).
ERROR_CHARS = 32768

Spans = List[Tuple[int, int]]


# ---------------------------------------------------------------------- content strings
#: Keys whose values say what something is, not what it says ("role": "assistant",
#: "type": "tool_call_response", a model ID): not looked for in error text.
STRUCTURAL = frozenset(
    {
        "role", "type", "id", "name", "mime_type", "mimeType", "modality", "format", "modelId", "toolUseId",
        "anthropic_version", "contentType", "accept", "trace", "status", "uri", "guardrailIdentifier",
        "guardrailVersion", "latency", "performanceConfigLatency", "agentId", "agentAliasId", "sessionId",
        "knowledgeBaseId", "modelArn", "clientRequestToken", "foundationModel",
    }
)


def content_strings(values: Iterable[Any], limit: int = INDEX_CHARS) -> List[str]:
    """The string values inside ``values`` (JSON-like: dicts, lists, strings, bytes; a
    string or bytes holding a JSON object or array is decoded and walked too; keys and
    the values of :data:`STRUCTURAL` keys left out; a JSON text counts as its strings),
    longest first, up to ``limit`` characters in all."""
    found: Dict[str, None] = {}
    budget = [limit]

    def add(text: str) -> None:
        if len(text) >= MIN_CONTENT and text not in found and budget[0] > 0:
            found[text] = None
            budget[0] -= len(text)

    def walk(value: Any, depth: int) -> None:
        if budget[0] <= 0 or depth > 64:
            return
        if isinstance(value, (bytes, bytearray, memoryview)):
            if len(value) > limit:
                return  # media bytes, not text anyone quotes
            value = bytes(value).decode("utf-8", "replace")
        if isinstance(value, str):
            if value.lstrip()[:1] in ("{", "[") and len(value) <= budget[0]:
                try:
                    decoded = json.loads(value)  # a JSON body: its strings, not its keys
                except ValueError:
                    pass
                else:
                    return walk(decoded, depth + 1)
            add(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if key not in STRUCTURAL:
                    walk(item, depth + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, depth + 1)

    for value in values:
        walk(value, 0)
    return sorted(found, key=len, reverse=True)


class ContentIndex:
    """A call's content strings, to find them, or any long enough piece of them, in
    error text (a quoted prompt cut short, or escaped as JSON or ``repr``)."""

    __slots__ = ("strings", "_windows")

    def __init__(self, strings: Iterable[str]) -> None:
        variants: Dict[str, None] = {}
        for text in strings:
            variants[text] = None
            for escaped in (json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], repr(text)[1:-1]):
                if escaped != text:
                    variants[escaped] = None
        self.strings = list(variants)
        windows: Dict[str, Tuple[int, int]] = {}
        for i, text in enumerate(self.strings):
            for at in range(0, len(text) - WINDOW + 1, WINDOW):
                windows.setdefault(text[at : at + WINDOW], (i, at))
        self._windows = windows

    def __bool__(self) -> bool:
        return bool(self.strings)

    def spans(self, text: str) -> Spans:
        """Where content stands in ``text``: whole strings, and pieces found by window."""
        found: Spans = []
        for content in self.strings:
            at = text.find(content)
            while at != -1:
                found.append((at, at + len(content)))
                at = text.find(content, at + len(content))
        windows = self._windows
        if not windows:
            return found
        i, stop = 0, len(text) - WINDOW + 1
        while i < stop:
            hit = windows.get(text[i : i + WINDOW])
            if hit is None:
                i += 1
                continue
            content = self.strings[hit[0]]
            start, end = _extend(text, i, content, hit[1])
            found.append((start, end))
            i = max(end, i + 1)
        return found


def _extend(text: str, at: int, content: str, offset: int) -> Tuple[int, int]:
    """The longest stretch around ``text[at:at+WINDOW] == content[offset:...]`` that is
    the same in both."""
    left = 0
    while left < at and left < offset and text[at - left - 1] == content[offset - left - 1]:
        left += 1
    right = WINDOW
    step = 64
    while step:
        if text[at + right : at + right + step] == content[offset + right : offset + right + step] and (
            at + right + step <= len(text) and offset + right + step <= len(content)
        ):
            right += step
        else:
            step //= 2
    return at - left, at + right


# ---------------------------------------------------------------------- known formats
# botocore.validate: one line per problem, after "Parameter validation failed:"
_REPORT = "Parameter validation failed:\n"
_CLASS = r"<class '[\w.]+'>"
_VALUE_LINE = re.compile(
    r"Invalid (?:type|value|length) for parameter [^,\n]*, value: (?P<value>.*)"
    rf"(?:, type: {_CLASS}, valid types: {_CLASS}(?:, {_CLASS})*|, valid min (?:value|length): -?[0-9.]+)"
)
# a document's key (a tool input's key) is the app's data too: withheld with the value
_DOCUMENT_LINE = re.compile(
    rf"Invalid type for document parameter (?P<value>.*), type: {_CLASS}, valid types: {_CLASS}(?:, {_CLASS})*"
)
_TAIL = rf"(?:, type: {_CLASS}, valid types: {_CLASS}(?:, {_CLASS})*|, valid min (?:value|length): -?[0-9.]+)"
_VALUE_HEAD = re.compile(r"Invalid (?:type|value|length) for parameter [^,\n]*, value: (?P<value>.*)")
_VALUE_TAIL = re.compile(rf"(?P<value>.*){_TAIL}")
_SAFE_LINES = re.compile(
    r'Missing required parameter in [\w.\[\]]*: "\w*"'
    r'|Unknown parameter in [\w.\[\]]*: "\w*", must be one of: [\w, ]*'
    r"|Invalid parameter [\w.\[\]]* must be json serializable: Object of type \w+ is not JSON serializable"
    r"|Invalid number of parameters set for tagged union structure [\w.\[\]]*\. Can only set one of the following keys: [\w, ]*\."
    r"|Must set one of the following keys for tagged union ?structure [\w.\[\]]*: [\w, ]*\."
)


def _validation_report(text: str, found: Spans) -> int:
    """Spans of botocore's validation report (values, and lines it cannot tell apart
    from values); returns where the report starts (len(text) if there is none)."""
    start = text.find(_REPORT)
    if start == -1:
        return len(text)
    at = start + len(_REPORT)
    for line in text[at:].split("\n"):
        end = at + len(line)
        m = (
            _VALUE_LINE.fullmatch(line)
            or _DOCUMENT_LINE.fullmatch(line)
            or _VALUE_HEAD.match(line)  # a value that goes on over the next lines
            or _VALUE_TAIL.fullmatch(line)  # where such a value ends
        )
        if m is not None:
            if m.end("value") > m.start("value"):
                found.append((at + m.start("value"), at + m.end("value")))
        elif line and _SAFE_LINES.fullmatch(line) is None:
            found.append((at, end))  # inside a value that spans lines: all of it
        at = end + 1
    return start


# Bedrock's schema validation ("Malformed input request: #/path: ..."): strings that
# fail a pattern or a format, and values that are not in an enum, quoted as they were
_SCHEMA_OPEN = "string ["
_SCHEMA_CLOSES = ("] does not match pattern", "] is not a valid ")
_ENUM = " is not a valid enum value"


def _schema_messages(text: str, found: Spans) -> None:
    closes = sorted(at for close in _SCHEMA_CLOSES for at in _all(text, close))
    if closes:
        for at in _all(text, _SCHEMA_OPEN):
            value = at + len(_SCHEMA_OPEN)
            i = bisect_right(closes, value - 1)
            found.append((value, closes[i] if i < len(closes) else len(text)))
    if _ENUM in text:
        for end in _all(text, _ENUM):
            value = text.rfind(": ", 0, end)
            found.append((value + 2 if value != -1 else 0, end))


def _all(text: str, literal: str) -> List[int]:
    out = []
    at = text.find(literal)
    while at != -1:
        out.append(at)
        at = text.find(literal, at + len(literal))
    return out


# text between quotes: an opening quote does not follow a letter or digit (it's,
# don't), escaped quotes do not close it, and one that is never closed runs to the end
_QUOTED = re.compile(
    r"""(?<![\w\\])(?:"(?P<d>(?:[^"\\]|\\.)*)(?:"|\Z)|'(?P<s>(?:[^'\\]|\\.)*)(?:'|\Z)|`(?P<b>[^`]*)(?:`|\Z))""",
    re.DOTALL,
)
_URL = re.compile(r"(?:https?|s3)://[^\s'\"`]+")  # an endpoint, a bucket: kept when quoted alone
_CLASS_NAME = re.compile(r"[\w.]+")  # <class 'int'>


def _quoted(text: str, end: int, found: Spans) -> None:
    for m in _QUOTED.finditer(text, 0, end):
        group = "d" if m.start("d") != -1 else "s" if m.start("s") != -1 else "b"
        start, stop = m.span(group)
        if stop == start:
            continue
        if _URL.fullmatch(text, start, stop) or (
            _CLASS_NAME.fullmatch(text, start, stop) and text.endswith("<class ", 0, start - 1)
        ):
            continue
        found.append((start, stop))


def withhold(text: str, index: Optional[ContentIndex], formats: bool = True) -> str:
    """``text`` with every piece of content replaced by :data:`WITHHELD`: the content
    strings of ``index`` and, unless ``formats`` is False, what the known message
    formats quote and whatever stands between quotes."""
    found: Spans = index.spans(text) if index else []
    if formats:
        report = _validation_report(text, found)
        _schema_messages(text, found)
        _quoted(text, report, found)
    if not found:
        return text
    found.sort()
    pieces: List[str] = []
    last = 0
    start, end = found[0]
    for s, e in found[1:]:
        if s <= end:
            end = max(end, e)
            continue
        pieces += (text[last:start], WITHHELD)
        last, start, end = end, s, e
    pieces += (text[last:start], WITHHELD, text[end:])
    return "".join(pieces)


# ---------------------------------------------------------------------- stack traces
def format_stack(exc: BaseException, message: Callable[[str], str]) -> str:
    """The traceback of ``exc`` and its chain, as Python prints it, with the message
    lines of every exception in it passed through ``message``."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    if getattr(te, "exceptions", None):  # an exception group: all of it counts as message
        return message("".join(te.format()))
    chain: List[Tuple[Any, Optional[str]]] = []
    seen = set()
    current: Any = te
    link: Optional[str] = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    out: List[str] = []
    for each, link in reversed(chain):
        if getattr(each, "exceptions", None):
            out.append(message("".join(each.format(chain=False))))
        else:
            if each.stack:
                out.append("Traceback (most recent call last):\n")
                out.extend(each.stack.format())
            out.append(message("".join(each.format_exception_only())))
        if link is not None:
            out.append(link)
    return "".join(out)


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
