"""Model-family body formats for InvokeModel (and StartAsyncInvoke's ``modelInput``).

Each module here parses one native body format, in both directions, and nothing
else. A format says which base model IDs it serves (``model_prefixes``) and
recognises its own request bodies (``accepts``); when a vendor has two formats
(Mistral's text and chat bodies, DeepSeek's prompt and messages bodies) the body
decides. When the model ID is opaque (a provisioned or imported model ARN) the
formats that can recognise a body on its own (``sniff``) are asked in turn.

Formats are found through the ``genai_tap.bedrock_formats`` entry-point group
(name -> ``module:FormatClass``), so another package can add a family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from genai_tap.record import CallRecord, ModelRef, Part, json_value, message, text_part
from genai_tap.semconv import OP_CHAT, finish_reason

ENTRY_POINT_GROUP = "genai_tap.bedrock_formats"


class BodyFormat:
    """One native request/response body format."""

    #: Short name, reported as ``genai_tap.model.family``.
    name: str = ""
    #: Semconv operation name of calls in this format.
    operation: str = OP_CHAT
    #: Base model ID prefixes this format serves ("amazon.nova-lite", ...).
    model_prefixes: Tuple[str, ...] = ()
    #: Whether the response body must be read to complete the record. Formats
    #: whose bodies are big and whose counts come in headers (embeddings, images)
    #: say False: the body then goes to the app untouched and unread.
    reads_response: bool = True
    #: ``gen_ai.output.type`` of the call, when the format implies one.
    output_type: Optional[str] = None

    def accepts(self, body: Mapping[str, Any]) -> bool:
        """Is ``body`` (a request for one of our models) in this format?"""
        return True

    def sniff(self, body: Mapping[str, Any]) -> bool:
        """Recognise a request body with no help from the model ID (opaque ARNs)."""
        return False

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        """Fill request parameters (always) and input content (if ``rec.capture_content``)."""

    def parse_response(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        """Fill output content, finish reasons, ids and usage found in the body."""

    def parse_chunk(self, chunk: Mapping[str, Any], rec: CallRecord, stream: Any) -> None:
        """Take one decoded chunk of InvokeModelWithResponseStream."""


# ---------------------------------------------------------------------------------
# registry

_formats: Optional[List[BodyFormat]] = None
_by_prefix: Dict[str, List[BodyFormat]] = {}


def all_formats() -> List[BodyFormat]:
    global _formats
    if _formats is None:
        _formats = _discover()
    return _formats


def register(fmt: BodyFormat) -> None:
    """Add a format at run time (entry points are the usual way)."""
    all_formats().append(fmt)
    _by_prefix.clear()


def _discover() -> List[BodyFormat]:
    from genai_tap import entrypoints
    from genai_tap.guard import report

    found = []
    for name, target in entrypoints.find(ENTRY_POINT_GROUP):
        try:
            found.append(entrypoints.load(target)())
        except Exception as exc:
            report(f"loading Bedrock body format {name!r} ({target})", exc)
    return found


def candidates(base_id: str) -> List[BodyFormat]:
    """Formats serving ``base_id``, longest matching prefix first."""
    hit = _by_prefix.get(base_id)
    if hit is None:
        scored = []
        for fmt in all_formats():
            best = max((len(p) for p in fmt.model_prefixes if base_id.startswith(p)), default=0)
            if best:
                scored.append((best, fmt))
        scored.sort(key=lambda item: -item[0])
        hit = [fmt for _, fmt in scored]
        if len(_by_prefix) < 4096:
            _by_prefix[base_id] = hit
    return hit


def body_decides(model: ModelRef) -> bool:
    """Whether :func:`select` must see the request body to choose ``model``'s format.

    It must for an opaque model ID (the body is sniffed) and for a vendor with more
    than one format (Mistral's text and chat bodies). A model served by a single
    format gets it without the body, as when the body is not JSON: its body can then
    be decoded later, off the app's thread, and is read only if the format accepts it.
    """
    return not model.base_id or len(candidates(model.base_id)) > 1


def select(model: ModelRef, body: Optional[Mapping[str, Any]]) -> Optional[BodyFormat]:
    """The format of a call to ``model`` with request ``body``; None if unknown."""
    if model.base_id:
        for fmt in candidates(model.base_id):
            if body is None or fmt.accepts(body):
                return fmt
        return None
    if body is None:
        return None
    for fmt in all_formats():
        if (model.vendor is None or model.vendor in (p.split(".", 1)[0] for p in fmt.model_prefixes)) and fmt.sniff(body):
            return fmt
    return None


# ---------------------------------------------------------------------------------
# helpers shared by the formats


def _floats(v: Any) -> float:
    return float(v)


def _ints(v: Any) -> int:
    return int(v)


def _strings(v: Any) -> List[str]:
    if isinstance(v, str):
        return [v]
    return [str(s) for s in v]


_PARAM_TYPES = {
    "temperature": _floats,
    "top_p": _floats,
    "top_k": _ints,
    "max_tokens": _ints,
    "seed": _ints,
    "frequency_penalty": _floats,
    "presence_penalty": _floats,
    "choice_count": _ints,
    "stop_sequences": _strings,
    "encoding_formats": _strings,
}


def copy_params(rec: CallRecord, source: Any, names: Mapping[str, str]) -> None:
    """Copy request parameters into ``rec.params``: ``{our_name: their_name}``.

    Our names are the conventions' short names (temperature, top_p, top_k,
    max_tokens, stop_sequences, seed, ...); anything else is kept under its own
    name and exported as ``genai_tap.request.<name>``. A value of the wrong type is
    skipped (Bedrock would reject the request anyway).
    """
    if not isinstance(source, Mapping):
        return
    params = rec.params
    for ours, theirs in names.items():
        value = source.get(theirs)
        if value is None or ours in params:
            continue
        convert = _PARAM_TYPES.get(ours)
        if convert is None:
            if isinstance(value, (str, bool, int, float)):
                params[ours] = value
            continue
        try:
            params[ours] = convert(value)
        except (TypeError, ValueError):
            continue


#: Tool-call arguments: a JSON string becomes an object; anything else stays.
parse_arguments = json_value


def mime_type(modality: str, fmt: Optional[str]) -> Optional[str]:
    if not fmt:
        return None
    fmt = str(fmt).lower()
    if "/" in fmt:
        return fmt
    special = _MIME.get((modality, fmt))
    return special or f"{'application' if modality == 'document' else modality}/{fmt}"


_MIME = {
    ("image", "jpg"): "image/jpeg",
    ("video", "mov"): "video/quicktime",
    ("video", "mkv"): "video/x-matroska",
    ("video", "flv"): "video/x-flv",
    ("video", "three_gp"): "video/3gpp",
    ("document", "txt"): "text/plain",
    ("document", "md"): "text/markdown",
    ("document", "html"): "text/html",
    ("document", "csv"): "text/csv",
    ("document", "doc"): "application/msword",
    ("document", "docx"): "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ("document", "xls"): "application/vnd.ms-excel",
    ("document", "xlsx"): "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def set_choices(rec: CallRecord, choices: Sequence[Tuple[Any, Any]], role: str = "assistant") -> None:
    """Record the generated choices: ``[(text or parts, provider stop reason), ...]``.

    Finish reasons are always recorded; the messages only with content capture on.
    """
    rec.set_finish([reason for _, reason in choices])
    if not rec.capture_content:
        return
    outputs = []
    for content, reason in choices:
        parts: List[Part] = [text_part(content)] if isinstance(content, str) else list(content or ())
        msg = message(role, parts)
        if reason is not None:
            msg["finish_reason"] = finish_reason(reason)
        outputs.append(msg)
    rec.output_messages = outputs


def tool_definitions(tools: Any, pick: Callable[[Mapping[str, Any]], Any]) -> Optional[List[Dict[str, Any]]]:
    """Tool definitions in the conventions' shape.

    ``pick(tool)`` returns ``(name, description, parameters_schema)`` for one of the
    provider's tool entries, or None to skip it.
    """
    out = []
    for tool in tools if isinstance(tools, list) else ():
        picked = pick(tool) if isinstance(tool, Mapping) else None
        if not picked or not picked[0]:
            continue
        name, description, parameters = picked
        definition: Dict[str, Any] = {"type": "function", "name": name}
        if description is not None:
            definition["description"] = description
        if parameters is not None:
            definition["parameters"] = parameters
        out.append(definition)
    return out or None


def stream_choices(stream: Any, choices: Any, text_key: str, reason_key: str) -> None:
    """Stream chunks that carry a list of choices, each with a text delta and a stop reason."""
    for index, choice in enumerate(choices or ()):
        if isinstance(choice, Mapping):
            stream.text(index, choice.get(text_key))
            stream.finish(choice.get(reason_key))


def prompt_input(rec: CallRecord, prompt: Any) -> None:
    """A single prompt string (text-completion bodies) as the user's message."""
    if rec.capture_content and prompt is not None:
        rec.input_messages = [message("user", [text_part(str(prompt))])]
