"""Bedrock Runtime operations: how each one's request and response become a record.

One :class:`Operation` per traced API. ``record`` reads the request parameters
(before the call), ``succeeded`` reads the response (after it) and says whether
the call is over or continues in a stream. Body formats are chosen here and do
the family-specific parsing.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from botocore.response import StreamingBody

from genai_tap.config import Config, get_config
from genai_tap.guard import report
from genai_tap.record import CallRecord, ModelRef
from genai_tap.semconv import OP_CHAT, OP_EMBEDDINGS
from genai_tap.tap import Call

from . import blocks, bodies, formats, model_ids
from .aws import LATENCY_ATTRIBUTE, as_int, as_text, header_usage, response_metadata
from .formats import BodyFormat, copy_params
from . import guardrails, streams
from .base import Made, Operation
from .streams import Reader, StreamState

CONVERSE_USAGE = {
    "input": "inputTokens",
    "output": "outputTokens",
    "cache_read": "cacheReadInputTokens",
    "cache_write": "cacheWriteInputTokens",
}


def _format_record(
    api: str, model_id: Any, config: Config, body: Optional[Mapping[str, Any]] = None, raw: Any = None
) -> Optional[Made]:
    """The record of a call whose body is in a model family's native format, that format,
    and the steps left for the finisher thread.

    ``body`` is a structure the app owns and may change once the call returns, so it
    is read now. ``raw`` is InvokeModel's body, bytes or text that cannot change: it is
    decoded and read on the finisher thread, unless the format can only be told from
    the body's keys (:func:`formats.body_decides`); then it is decoded here, and still
    read there.
    """
    if not isinstance(model_id, str):
        return None
    ref = model_ids.resolve(model_id)
    text = _immutable_text(raw)
    if text is not None and formats.body_decides(ref):
        body, text = json_body(text), None
    fmt = formats.select(ref, body)
    rec = CallRecord(
        api=api,
        operation=fmt.operation if fmt else _fallback_operation(ref),
        request_model=model_id,
        model=ref,
        family=fmt.name if fmt else None,
        capture_content=config.capture_content,
    )
    steps: List[Callable[[], None]] = []
    if fmt is not None:
        rec.output_type = fmt.output_type
        what = f"bedrock {fmt.name} format: reading the request"
        if text is not None:
            steps.append(partial(_parse, what, _parse_text_request, fmt, text, rec))
        elif body is not None and raw is not None:  # decoded here from the app's bytes: ours alone
            steps.append(partial(_parse, what, fmt.parse_request, body, rec))
        elif body is not None:
            _parse(what, fmt.parse_request, body, rec)
    return rec, fmt, steps


def _parse_text_request(fmt: BodyFormat, text: Union[bytes, str], rec: CallRecord) -> None:
    body = json_body(text)
    if body is not None and fmt.accepts(body):
        fmt.parse_request(body, rec)


def _fallback_operation(ref: ModelRef) -> str:
    return OP_EMBEDDINGS if ref.base_id and "embed" in ref.base_id else OP_CHAT


def _parse(what: str, fn, *args) -> None:
    """Run one parser; a failure costs the record some detail, never the span."""
    try:
        fn(*args)
    except Exception as exc:
        report(what, exc)


def _immutable_text(raw: Any) -> Optional[Union[bytes, str]]:
    """InvokeModel's body as bytes or text nobody can change; None for anything else.

    A file-like body is left alone: reading it would change what botocore sends.
    """
    if isinstance(raw, (bytes, str)):
        return raw
    if isinstance(raw, bytearray):
        return bytes(raw)
    return None


def json_body(text: Union[bytes, str]) -> Optional[Mapping[str, Any]]:
    """``text`` decoded, if it holds a JSON object."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, Mapping) else None


class InvokeModel(Operation):
    api = "InvokeModel"

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        made = _format_record(self.api, params.get("modelId"), config, raw=params.get("body"))
        if made is not None:
            made[0].stream = self.streams
            made[0].guardrail_id = as_text(params.get("guardrailIdentifier"))
            made[0].guardrail_version = as_text(params.get("guardrailVersion"))
        return made

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        headers = response_metadata(rec, result)
        header_usage(rec, headers)
        fmt = call.plugin_state
        if fmt is None or not fmt.reads_response or "json" not in str(result.get("contentType", "")):
            return result, False
        limit = get_config().max_body_bytes
        if type(result.get("body")) is StreamingBody:
            data = take_body(result, limit)
            if data is not None:  # parsed on the finisher thread, not the app's
                _read_body(fmt, call, data)
            return result, False
        # an async client's body: kept as the app reads it; the call ends when it has
        rec.end_ns = time.time_ns()  # if it is never read to its end
        if bodies.watch(call, result.get("body"), limit, partial(_async_body_read, fmt)):
            return result, True
        rec.end_ns = None
        return result, False


def _read_body(fmt: BodyFormat, call: Call, data: bytes) -> None:
    what = f"bedrock {fmt.name} format: reading the response"
    call.defer(partial(_parse, what, _parse_json, fmt, data, call.record))


def _async_body_read(fmt: BodyFormat, call: Call, data: Optional[bytes]) -> None:
    """An async client's body was read to its end (``data``), or dropped (None)."""
    if data is not None:
        call.record.end_ns = time.time_ns()
        _read_body(fmt, call, data)
    call.end()


def _parse_json(fmt: BodyFormat, data: bytes, rec: CallRecord) -> None:
    body = json.loads(data)
    if isinstance(body, Mapping):
        fmt.parse_response(body, rec)
        guardrails.read_invoke_body(rec, body)
        guardrails.apply_intervention(rec)


def take_body(result: Dict[str, Any], limit: Optional[int] = None) -> Optional[bytes]:
    """Read InvokeModel's response body and give the app an identical one.

    The app gets a fresh ``StreamingBody`` over the same bytes, so ``read()``,
    ``read(n)``, ``iter_chunks()``, ``iter_lines()`` and ``close()`` behave as
    they would have. If reading fails, the app's first read raises that same
    exception, as it would have without genai-tap. A body longer than ``limit``
    is not read at all.
    """
    body: Any = result.get("body")
    if type(body) is not StreamingBody:
        return None
    length = as_int(getattr(body, "_content_length", None))
    if limit is not None and length is not None and length > limit:
        return None
    try:
        data = body.read()
    except Exception as exc:
        result["body"] = StreamingBody(_FailedRaw(exc), length)
        return None
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    return data


class _FailedRaw(io.RawIOBase):
    """A raw stream whose reads raise the error the original body raised."""

    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        raise self._exc

    def readinto(self, b) -> int:  # type: ignore[override]
        raise self._exc


class Converse(Operation):
    api = "Converse"

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        model_id = params.get("modelId")
        if not isinstance(model_id, str):
            return None
        ref = model_ids.resolve(model_id)
        rec = CallRecord(
            api=self.api,
            operation=OP_CHAT,
            request_model=model_id,
            model=ref,
            family="converse",
            capture_content=config.capture_content,
            stream=self.streams,
        )
        guardrail = params.get("guardrailConfig")
        if isinstance(guardrail, Mapping):
            rec.guardrail_id = as_text(guardrail.get("guardrailIdentifier"))
            rec.guardrail_version = as_text(guardrail.get("guardrailVersion"))
        # read on the finisher thread, from a copy of the containers the app may change
        # once the call returns (apps append to the history they pass)
        return rec, None, [partial(_parse, "bedrock Converse: reading the request", _converse_request, _snapshot(params), rec)]

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        response_metadata(rec, result)
        # read on the finisher thread too, from a copy of what the app may change
        snapshot = _response_snapshot(result, rec.capture_content)
        call.defer(partial(_parse, "bedrock Converse: reading the response", _converse_response, snapshot, rec))
        return result, False


def _snapshot(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The Converse request, with every list and dict down to the content blocks copied.

    Enough for what apps do between calls (append to ``messages``, reuse lists); the
    blocks themselves are shared: an app that edits a block in place right after the
    call could change what is recorded, never what was sent.
    """
    out = dict(params)
    messages = params.get("messages")
    if isinstance(messages, list):
        out["messages"] = [_shallow(m, "content") for m in messages]
    if isinstance(params.get("system"), list):
        out["system"] = list(params["system"])
    for key in ("inferenceConfig", "additionalModelRequestFields"):
        if isinstance(params.get(key), dict):
            out[key] = dict(params[key])
    if isinstance(params.get("toolConfig"), dict):
        out["toolConfig"] = _shallow(params["toolConfig"], "tools")
    return out


def _response_snapshot(result: Mapping[str, Any], content: bool) -> Dict[str, Any]:
    """What is read from a Converse response, copied down to the content blocks (as
    :func:`_snapshot`); the message only when content is captured."""
    out = {"stopReason": result.get("stopReason")}
    for key in ("usage", "metrics", "trace"):
        value = result.get(key)
        out[key] = dict(value) if isinstance(value, dict) else value
    output = result.get("output")
    if content and isinstance(output, dict):
        out["output"] = {"message": _shallow(output.get("message"), "content")}
    return out


def _converse_response(result: Mapping[str, Any], rec: CallRecord) -> None:
    blocks.parse_output(result, rec, CONVERSE_USAGE)
    guardrails.read_converse(rec, result.get("stopReason"), result.get("trace"))
    guardrails.apply_intervention(rec)
    latency = (result.get("metrics") or {}).get("latencyMs")
    if isinstance(latency, int):
        rec.attributes[LATENCY_ATTRIBUTE] = latency


def _shallow(item: Any, list_key: str) -> Any:
    if not isinstance(item, dict):
        return item
    copy = dict(item)
    if isinstance(copy.get(list_key), list):
        copy[list_key] = list(copy[list_key])
    return copy


def _converse_request(params: Mapping[str, Any], rec: CallRecord) -> None:
    blocks.parse_request(params, rec, params.get("inferenceConfig"))
    extra = params.get("additionalModelRequestFields")
    if isinstance(extra, Mapping):
        # top_k travels here, spelled as the model family spells it
        copy_params(rec, extra, {"top_k": "top_k"})
        copy_params(rec, extra.get("inferenceConfig"), {"top_k": "topK"})
        copy_params(rec, extra, {"top_k": "k"})


class StartAsyncInvoke(Operation):
    """Asynchronous jobs (Nova Reel video): a span for the submission, with its prompt."""

    api = "StartAsyncInvoke"

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        body = params.get("modelInput")
        return _format_record(self.api, params.get("modelId"), config, body=body if isinstance(body, Mapping) else None)

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        response_metadata(rec, result)
        rec.response_id = result.get("invocationArn")
        return result, False


class InvokeModelWithResponseStream(InvokeModel):
    """InvokeModel streamed: the family's native chunks, read as the app reads them."""

    api = "InvokeModelWithResponseStream"
    streams = True

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        response_metadata(call.record, result)
        return _watch(call, result, "body", invoke_stream_reader(call.plugin_state))


class ConverseStream(Converse):
    api = "ConverseStream"
    streams = True

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        response_metadata(call.record, result)
        return _watch(call, result, "stream", converse_stream_reader)


def _watch(call: Call, result: Dict[str, Any], key: str, reader: Any) -> Tuple[Any, bool]:
    stream = result.get(key)
    if not (hasattr(type(stream), "__aiter__") or hasattr(stream, "__iter__")):
        return result, False
    result[key] = streams.watch(stream, call, reader)
    return result, True


def _keep_converse_event(event: Mapping[str, Any]) -> Any:
    """A text delta of the first content block is held as its text; other events as they are."""
    body = event.get("contentBlockDelta")
    if body is not None and body.get("contentBlockIndex", 0) == 0:
        text = (body.get("delta") or {}).get("text")
        if type(text) is str:
            return text
    return event


def _read_converse_event(rec: CallRecord, state: StreamState, kept: Any) -> None:
    if type(kept) is str:
        state.text(0, kept)
    else:
        blocks.stream_event(rec, state, kept, CONVERSE_USAGE)


def _stream_done(rec: CallRecord, state: StreamState) -> None:
    guardrails.apply_intervention(rec)


converse_stream_reader = Reader(_read_converse_event, _keep_converse_event, _stream_done)


def _keep_chunk_bytes(event: Mapping[str, Any]) -> Any:
    """A ``{"chunk": {"bytes": ...}}`` event is held as its bytes; other events as they are."""
    chunk = event.get("chunk")
    data = chunk.get("bytes") if chunk is not None else None
    return data if type(data) is bytes else event


def invoke_stream_reader(fmt: Optional[BodyFormat]) -> Reader:
    """Reads ``{"chunk": {"bytes": ...}}`` events: the family's own chunk, then Bedrock's metrics."""

    def read(rec: CallRecord, state: StreamState, kept: Any) -> None:
        data = kept if type(kept) is bytes else (kept.get("chunk") or {}).get("bytes")
        if not data:
            return
        chunk = json.loads(data)
        if not isinstance(chunk, Mapping):
            return
        if fmt is not None:
            fmt.parse_chunk(chunk, rec, state)
        # Bedrock's own count for the whole call, in the family's last chunk
        blocks.set_usage(rec, chunk.get(INVOCATION_METRICS), INVOCATION_USAGE)
        if guardrails.INVOKE_ACTION in chunk or guardrails.INVOKE_TRACE in chunk:
            guardrails.read_invoke_body(rec, chunk)

    return Reader(read, _keep_chunk_bytes, _stream_done)


INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"
INVOCATION_USAGE = {
    "input": "inputTokenCount",
    "output": "outputTokenCount",
    "cache_read": "cacheReadInputTokenCount",
    "cache_write": "cacheWriteInputTokenCount",
}

def prepare() -> None:
    """Find the body formats now (entry points are read from disk)."""
    formats.all_formats()


OPERATIONS: Dict[str, Operation] = {
    "InvokeModel": InvokeModel(),
    "InvokeModelWithResponseStream": InvokeModelWithResponseStream(),
    "Converse": Converse(),
    "ConverseStream": ConverseStream(),
    "StartAsyncInvoke": StartAsyncInvoke(),
    "ApplyGuardrail": guardrails.ApplyGuardrail(),
}
