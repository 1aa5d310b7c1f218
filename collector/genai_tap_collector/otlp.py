"""OTLP request bodies -> rows for the store, spans read back for the views.

Accepts what the OTLP specification allows: binary protobuf
(``application/x-protobuf``) or JSON (``application/json``), optionally gzip or
deflate compressed; any other content type is refused (415), so a web page
cannot post spans as a "simple" request. Decoding uses ``opentelemetry-proto``
(upb) and ``google.protobuf.json_format``. OTLP/JSON writes trace and span IDs
as hex, which is not protobuf's own JSON mapping (base64); both spellings are
accepted, told apart by length.

A body that does not decode raises :class:`BadPayload` (400, nothing stored).
Inside a body that decodes, each span is judged on its own: one with an invalid
trace or span ID is *rejected* (counted in the OTLP partial-success answer, the
rest of the batch is stored); anything else out of range is *clamped* and the
span marked (``notes``): timestamps beyond ``2**63`` or further in the future
than ``Limits.future_skew_s``, an end before the start, negative or enormous
token counts, too many attributes, events or links, oversized values.

Spans are kept as received (their protobuf encoding, after clamping) plus the
columns the views filter and aggregate on, extracted here: reading a handful of
attributes by name is far cheaper than turning every attribute into Python
objects and back into JSON, and the trace view decodes the few spans it shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Optional, Tuple

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from genai_tap import semconv as sc
from genai_tap_bedrock.model_ids import resolve

from .limits import Limits
from .rows import (AGGREGATE_OPERATIONS, MAX_NS, NOTE_ATTRIBUTES, NOTE_NAMES, NOTE_TIME, NOTE_TOKENS, NOTE_VALUES,
                   bucket_value, duration_bucket, trace_key)

__all__ = ["AGGREGATE_OPERATIONS", "MAX_NS", "NOTE_NAMES", "bucket_value", "duration_bucket"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

TRACES, METRICS, LOGS = "/v1/traces", "/v1/metrics", "/v1/logs"
#: URL path -> request message class.
SIGNALS: Dict[str, Any] = {
    TRACES: ExportTraceServiceRequest,
    METRICS: ExportMetricsServiceRequest,
    LOGS: ExportLogsServiceRequest,
}

SERVICE_NAME = "service.name"  # resource attribute (OpenTelemetry resource conventions)
ML_APP = "ml_app"  # Datadog LLM Observability's application name, when present
UNKNOWN_SERVICE = "unknown_service"
STATUS_ERROR = 2  # Status.StatusCode.STATUS_CODE_ERROR
EXCEPTION_EVENT = "exception"

MAX_DURATION_NS = 86_400 * 10**9  # kept when a future span is moved to its receipt time
MAX_TOKENS = 2**31 - 1  # per call: sums of billions of calls stay within 64 bits
MAX_NAME_CHARS = 512
MAX_MESSAGE_CHARS = 2000
MAX_SCOPE_CHARS = 256
MAX_LABEL_CHARS = 256  # app, model, API, operation, error type
MAX_JSON_BYTES = 8 * 1024 * 1024  # an OTLP/JSON body, decompressed


class BadPayload(ValueError):
    """The body cannot be an OTLP export request; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------- bodies


def media_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: Optional[str]) -> str:
    """``application/x-protobuf`` or ``application/json``; anything else (or none) -> 415."""
    kind = media_type(content_type)
    if kind not in (PROTOBUF, JSON):
        shown = f"Content-Type {content_type!r}" if content_type else "a body without Content-Type"
        raise BadPayload(f"{shown} is not accepted; use {PROTOBUF} or {JSON}", 415)
    return kind


def check_encoding(encoding: Optional[str]) -> str:
    enc = (encoding or "identity").strip().lower()
    if enc not in ("identity", "gzip", "deflate"):
        raise BadPayload(f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none", 415)
    return enc


def decompress(body: bytes, encoding: Optional[str], limit: int) -> bytes:
    """The body, decompressed as a stream and stopped past ``limit`` bytes (413)."""
    enc = check_encoding(encoding)
    if enc == "identity":
        if len(body) > limit:
            raise BadPayload(f"body of {len(body)} bytes is over the {limit}-byte limit", 413)
        return body
    # gzip: a gzip header; deflate: zlib-wrapped as HTTP means it, or raw as some senders do
    wbits = 31 if enc == "gzip" else (15 if body[:1] and (body[0] & 0x0F) == 8 and int.from_bytes(body[:2], "big") % 31 == 0
                                      else -15)
    d = zlib.decompressobj(wbits)
    out: List[bytes] = []
    size = 0
    data = body
    try:
        while True:
            chunk = d.decompress(data, limit + 1 - size)
            size += len(chunk)
            out.append(chunk)
            if size > limit:
                raise BadPayload(f"body decompresses to more than the {limit}-byte limit", 413)
            if d.eof:
                if d.unused_data and enc == "gzip":
                    data = d.unused_data  # concatenated gzip members
                    d = zlib.decompressobj(31)
                    continue
                break
            data = d.unconsumed_tail
            if not data:
                tail = d.flush(limit + 1 - size)
                size += len(tail)
                out.append(tail)
                if size > limit:
                    raise BadPayload(f"body decompresses to more than the {limit}-byte limit", 413)
                if not d.eof:
                    raise BadPayload(f"body is not valid {enc}: it ends early")
                break
    except zlib.error as exc:
        raise BadPayload(f"body is not valid {enc}: {exc}") from None
    return b"".join(out)


def parse(path: str, content_type: Optional[str], body: bytes) -> Message:
    """Decode one export request for ``path`` (``/v1/traces`` ...)."""
    cls = SIGNALS[path]
    kind = check_content_type(content_type)
    message = cls()
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError, RecursionError) as exc:
            raise BadPayload(f"body is not a protobuf {cls.__name__}: {exc}") from None
        return message
    if len(body) > MAX_JSON_BYTES:
        raise BadPayload(f"a JSON body of {len(body)} bytes is over the {MAX_JSON_BYTES}-byte limit for JSON "
                         f"(decoded JSON takes many times its size); send protobuf, or smaller batches", 413)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadPayload(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadPayload(f"JSON body must be an object ({cls.__name__})")
    try:
        json_format.ParseDict(_ids_to_base64(data), message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise BadPayload(f"JSON body is not an OTLP {cls.__name__}: {exc}") from None
    return message


_ID_KEYS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8}


def _ids_to_base64(node: Any) -> Any:
    """OTLP/JSON hex IDs -> the base64 that protobuf's JSON parser expects, in place (a
    copy would double the memory a large body takes). An ID that is neither becomes
    empty, so that its span alone is rejected, not the whole body."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                size = _ID_KEYS.get(key)
                if size and isinstance(value, str):
                    item[key] = _id_base64(value, size)
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return node


def _id_base64(value: str, size: int) -> str:
    if len(value) == 2 * size:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            return ""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return ""
    return value if len(raw) == size else ""


# ---------------------------------------------------------------------------- values


def any_value(value: Any) -> Any:
    """An OTLP AnyValue -> the Python value it holds."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def attributes(kvs: Iterable[Any]) -> Dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _scalar(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None or kind in ("array_value", "kvlist_value", "bytes_value"):
        return any_value(value) if kind else None
    return getattr(value, kind)


def _label(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_LABEL_CHARS]


def _tokens(value: Any) -> Tuple[Optional[int], bool]:
    """A token count, and whether it had to be ignored or capped."""
    if value is None:
        return None, False
    if isinstance(value, bool):
        return None, True
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, True
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None, True
    elif not isinstance(value, int):
        return None, True
    if value < 0:
        return None, True
    if value > MAX_TOKENS:
        return MAX_TOKENS, True
    return value, False


@lru_cache(maxsize=4096)
def base_model(base_id: Optional[str], model: Optional[str]) -> Optional[str]:
    """``genai_tap.model.base_id`` when the tracer set it; else the request model with
    its cross-region prefix or ARN stripped; else the request model as sent."""
    if base_id:
        return base_id
    if not model:
        return None
    try:
        return (resolve(model).base_id or model)[:MAX_LABEL_CHARS]
    except Exception:  # noqa: BLE001 - an identifier the resolver chokes on is kept as sent
        return model


# ---------------------------------------------------------------------------- traces

#: Attribute name -> slot in the list ``_extract`` fills.
_WANTED = {
    sc.OPERATION_NAME: 0, sc.REQUEST_MODEL: 1, sc.RESPONSE_MODEL: 2, sc.MODEL_BASE_ID: 3, sc.BEDROCK_API: 4,
    sc.USAGE_INPUT_TOKENS: 5, sc.USAGE_OUTPUT_TOKENS: 6, sc.USAGE_CACHE_READ_INPUT_TOKENS: 7,
    sc.USAGE_CACHE_WRITE_INPUT_TOKENS: 8, sc.USAGE_CACHE_WRITE_INPUT_TOKENS_LATEST: 8, sc.ERROR_TYPE: 9, ML_APP: 10,
}
_ZERO16, _ZERO8 = bytes(16), bytes(8)
_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})



@dataclass
class TraceBatch:
    """What one export request adds: rows for GenAI calls and for the other spans (tuples
    in the order of :data:`rows.CALL_COLUMNS` and :data:`rows.SPAN_COLUMNS`) and the
    resources they point to (digest -> encoded resource)."""

    calls: List[Tuple[Any, ...]] = field(default_factory=list)
    spans: List[Tuple[Any, ...]] = field(default_factory=list)
    resources: Dict[bytes, bytes] = field(default_factory=dict)
    received: int = 0
    rejected: int = 0
    reasons: List[str] = field(default_factory=list)
    received_ns: int = 0

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 3:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        if not self.rejected:
            return ""
        more = f" (and {self.rejected - len(self.reasons)} more)" if self.rejected > len(self.reasons) else ""
        return f"{self.rejected} span(s) rejected: " + "; ".join(self.reasons) + more


def _trim_attributes(kvs: Any, limits: Limits) -> int:
    """Cut oversized values; returns NOTE_VALUES if any was."""
    notes = 0
    for kv in kvs:
        if kv.ByteSize() <= limits.max_value_bytes:
            continue
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "string_value":
            v.string_value = v.string_value.encode()[: limits.max_value_bytes].decode("utf-8", "ignore")
        elif kind == "bytes_value":
            v.bytes_value = v.bytes_value[: limits.max_value_bytes]
        else:
            size = v.ByteSize()
            v.Clear()
            v.string_value = f"[{kind} of {size} bytes dropped by the collector]"
        notes = NOTE_VALUES
    return notes


def _limit_repeated(items: Any, limit: int) -> int:
    n = len(items)
    if n > limit:
        del items[limit:]
        return n - limit
    return 0


def _limit_span(s: Any, limits: Limits) -> int:
    """Drop attributes, events and links over the limits (counted in the span's dropped_* fields)."""
    notes = 0
    dropped = _limit_repeated(s.attributes, limits.max_attributes)
    if dropped:
        s.dropped_attributes_count += dropped
        notes |= NOTE_ATTRIBUTES
    dropped = _limit_repeated(s.events, limits.max_events)
    if dropped:
        s.dropped_events_count += dropped
        notes |= NOTE_ATTRIBUTES
    dropped = _limit_repeated(s.links, limits.max_links)
    if dropped:
        s.dropped_links_count += dropped
        notes |= NOTE_ATTRIBUTES
    return notes


def _trim_span(s: Any, limits: Limits) -> int:
    """Cut what is oversized in a span whose encoding is over ``max_value_bytes``."""
    notes = _trim_attributes(s.attributes, limits)
    for e in s.events:
        if _limit_repeated(e.attributes, limits.max_attributes):
            notes |= NOTE_ATTRIBUTES
        notes |= _trim_attributes(e.attributes, limits)
        if len(e.name) > MAX_NAME_CHARS:
            e.name = e.name[:MAX_NAME_CHARS]
    for link in s.links:
        if _limit_repeated(link.attributes, limits.max_attributes):
            notes |= NOTE_ATTRIBUTES
        notes |= _trim_attributes(link.attributes, limits)
        if len(link.trace_state) > MAX_MESSAGE_CHARS:
            link.trace_state = ""
    if len(s.name) > MAX_NAME_CHARS:
        s.name = s.name[:MAX_NAME_CHARS]
    if len(s.status.message) > MAX_MESSAGE_CHARS:
        s.status.message = s.status.message[:MAX_MESSAGE_CHARS]
    if len(s.trace_state) > MAX_MESSAGE_CHARS:
        s.trace_state = ""
    return notes


def _resource(rs: Any, limits: Limits) -> Tuple[bytes, str, Optional[str]]:
    """(serialized resource, service.name, ml_app) of one ResourceSpans."""
    res = rs.resource
    dropped = _limit_repeated(res.attributes, limits.max_attributes)
    if dropped:
        res.dropped_attributes_count += dropped
    if res.ByteSize() > limits.max_value_bytes:
        _trim_attributes(res.attributes, limits)
    service: Optional[str] = None
    ml_app: Optional[str] = None
    for kv in res.attributes:
        if kv.key == SERVICE_NAME:
            service = _label(_scalar(kv.value))
        elif kv.key == ML_APP:
            ml_app = _label(_scalar(kv.value))
    return res.SerializeToString(), service or UNKNOWN_SERVICE, ml_app


def traces(request: ExportTraceServiceRequest, limits: Limits, now_ns: Optional[int] = None) -> TraceBatch:
    """Rows for every span of ``request``; invalid spans rejected, the rest clamped."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    future = now_ns + int(limits.future_skew_s * 1e9)
    batch = TraceBatch(received_ns=now_ns)
    calls, others = batch.calls, batch.spans
    wanted = _WANTED
    max_value = limits.max_value_bytes
    for rs in request.resource_spans:
        resource, service, resource_ml_app = _resource(rs, limits)
        digest = hashlib.blake2b(resource, digest_size=16).digest()
        batch.resources[digest] = resource
        unnamed = service.startswith(UNKNOWN_SERVICE)
        for ss in rs.scope_spans:
            scope = ss.scope.name[:MAX_SCOPE_CHARS] or None
            for s in ss.spans:
                batch.received += 1
                trace_id, span_id, parent_id = s.trace_id, s.span_id, s.parent_span_id
                if len(trace_id) != 16 or trace_id == _ZERO16:
                    batch.reject(f"span {s.name[:80]!r} has an invalid trace_id (16 bytes, not all zero)")
                    continue
                if len(span_id) != 8 or span_id == _ZERO8:
                    batch.reject(f"span {s.name[:80]!r} has an invalid span_id (8 bytes, not all zero)")
                    continue
                if parent_id and len(parent_id) != 8:
                    batch.reject(f"span {s.name[:80]!r} has an invalid parent_span_id (8 bytes or none)")
                    continue
                notes = _limit_span(s, limits)
                start, end = s.start_time_unix_nano, s.end_time_unix_nano
                if start > future or start > MAX_NS or end > MAX_NS or end < start:
                    notes |= NOTE_TIME
                    duration = min(max(end - start, 0), MAX_DURATION_NS)
                    if start > future or start > MAX_NS:
                        start = now_ns
                    end = min(start + duration, MAX_NS)
                got: List[Any] = [None] * 11
                for kv in s.attributes:
                    slot = wanted.get(kv.key)
                    if slot is not None:
                        v = kv.value
                        kind = v.WhichOneof("value")
                        got[slot] = getattr(v, kind) if kind in _SCALARS else _scalar(v)
                body = s.SerializeToString()
                if len(body) > max_value:
                    notes |= _trim_span(s, limits)
                    body = s.SerializeToString()
                name = s.name
                if len(name) > MAX_NAME_CHARS:
                    name = name[:MAX_NAME_CHARS]
                app = service
                if unnamed:
                    ml_app = _label(got[10]) or resource_ml_app
                    if ml_app:
                        app = ml_app
                status = s.status.code
                operation = got[0]
                if type(operation) is not str or not 0 < len(operation) <= MAX_LABEL_CHARS:
                    operation = _label(operation)
                if operation is None:
                    others.append((trace_id, span_id, parent_id or None, trace_key(trace_id, start), digest, start, end,
                                   name, s.kind, status, app, scope, notes, body))
                    continue
                tokens = got[5:9]
                for i, value in enumerate(tokens):
                    if value is not None and (type(value) is not int or not 0 <= value <= MAX_TOKENS):
                        tokens[i], bad = _tokens(value)
                        if bad:
                            notes |= NOTE_TOKENS
                model = _label(got[1]) or _label(got[2])
                error_type = _label(got[9])
                error = status == STATUS_ERROR or error_type is not None
                error_message: Optional[str] = None
                if error:
                    error_message = s.status.message[:MAX_MESSAGE_CHARS] or None
                    if error_type is None or error_message is None:
                        etype, emessage = _exception(s)
                        error_type = error_type or etype
                        error_message = error_message or emessage
                calls.append((
                    trace_id, span_id, parent_id or None, trace_key(trace_id, start), digest, start, end,
                    duration_bucket((end - start) / 1e6),
                    name, s.kind, status, app, scope, operation, _label(got[4]), model,
                    base_model(_label(got[3]), model), tokens[0], tokens[1], tokens[2], tokens[3], int(error),
                    error_type, error_message, notes, body,
                ))
    return batch


def _exception(s: Any) -> Tuple[Optional[str], Optional[str]]:
    """(exception.type, exception.message) of the span's first exception event."""
    for e in s.events:
        if e.name == EXCEPTION_EVENT:
            got = {kv.key: _scalar(kv.value) for kv in e.attributes if kv.key in (sc.EXCEPTION_TYPE, sc.EXCEPTION_MESSAGE)}
            etype, message = got.get(sc.EXCEPTION_TYPE), got.get(sc.EXCEPTION_MESSAGE)
            return _label(etype), (str(message)[:MAX_MESSAGE_CHARS] if message not in (None, "") else None)
    return None, None


# ---------------------------------------------------------------------------- stored spans, read back


@dataclass
class StoredSpan:
    """A span as the trace view needs it, decoded from its stored body."""

    name: str
    kind: int
    status_message: str
    attributes: Dict[str, Any]
    events: List[Dict[str, Any]]
    links: List[Dict[str, Any]]
    dropped: Dict[str, int]


def read_span(body: bytes) -> StoredSpan:
    s = SpanProto.FromString(body)
    return StoredSpan(
        name=s.name, kind=int(s.kind), status_message=s.status.message,
        attributes=attributes(s.attributes),
        events=[{"name": e.name, "time_ns": int(e.time_unix_nano), "attributes": attributes(e.attributes)} for e in s.events],
        links=[{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(), "attributes": attributes(link.attributes)}
               for link in s.links],
        dropped={k: v for k, v in (("attributes", s.dropped_attributes_count), ("events", s.dropped_events_count),
                                   ("links", s.dropped_links_count)) if v},
    )


def read_attribute(body: bytes, key: str) -> Any:
    """One attribute of a stored span (for the list's prompt preview)."""
    for kv in SpanProto.FromString(body).attributes:
        if kv.key == key:
            return any_value(kv.value)
    return None


def read_resource(body: Optional[bytes]) -> Dict[str, Any]:
    return attributes(Resource.FromString(body).attributes) if body else {}


# ---------------------------------------------------------------------------- metrics and logs


@dataclass(slots=True)
class MetricPoint:
    """One data point of a GenAI metric, reduced to what the collector keeps."""

    name: str
    app: str
    time_ns: int
    attributes: Dict[str, Any]
    count: Optional[int]  # histograms: number of measurements
    value: float  # histograms: sum; sums and gauges: the value


def metric_points(request: ExportMetricsServiceRequest, limits: Limits, prefix: str = "gen_ai.",
                  now_ns: Optional[int] = None) -> List[MetricPoint]:
    """Data points of metrics whose name starts with ``prefix``, clamped like spans."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    future = now_ns + int(limits.future_skew_s * 1e9)
    out: List[MetricPoint] = []
    for rm in request.resource_metrics:
        res = rm.resource
        _limit_repeated(res.attributes, limits.max_attributes)
        resource = {kv.key: _scalar(kv.value) for kv in res.attributes if kv.key in (SERVICE_NAME, ML_APP)}
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name.startswith(prefix):
                    continue
                kind = metric.WhichOneof("data")
                if kind not in ("histogram", "sum", "gauge"):
                    continue
                for dp in getattr(metric, kind).data_points:
                    _limit_repeated(dp.attributes, limits.max_attributes)
                    _trim_attributes(dp.attributes, limits)
                    attrs = attributes(dp.attributes)
                    if kind == "histogram":
                        count: Optional[int] = min(int(dp.count), MAX_NS)
                        value = float(dp.sum)
                    else:
                        count = None
                        value = float(dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int)
                    if not math.isfinite(value):
                        value = 0.0
                    t = int(dp.time_unix_nano)
                    if t > future or t > MAX_NS:
                        t = now_ns
                    service = str(resource.get(SERVICE_NAME) or UNKNOWN_SERVICE)
                    app = service
                    if service.startswith(UNKNOWN_SERVICE):
                        app = str(attrs.get(ML_APP) or resource.get(ML_APP) or service)
                    out.append(MetricPoint(metric.name[:MAX_LABEL_CHARS], app[:MAX_LABEL_CHARS], t, attrs, count, value))
    return out


def metric_rows(points: List[MetricPoint]) -> List[Tuple[Any, ...]]:
    """Rows in the order of :data:`rows.METRIC_COLUMNS`."""
    return [(p.name, p.app, p.time_ns, _label(p.attributes.get(sc.REQUEST_MODEL)), p.count, p.value,
             json.dumps(p.attributes, ensure_ascii=False, separators=(",", ":"), default=str)) for p in points]


def log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
