"""OTLP/HTTP request bodies -> plain Python objects.

Accepts what the OTLP/HTTP specification allows: binary protobuf
(``application/x-protobuf``) or JSON (``application/json``), optionally gzip
compressed. Decoding uses ``opentelemetry-proto`` and ``google.protobuf.json_format``.
OTLP/JSON writes trace and span IDs as hex, which is not protobuf's own JSON
mapping (base64); both spellings are accepted, told apart by length.

Anything that does not decode, or decodes to spans without valid IDs, raises
:class:`BadPayload` so the receiver answers 400 and stores nothing.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

#: URL path -> request message class.
SIGNALS: "dict[str, Any]" = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}

SERVICE_NAME = "service.name"  # resource attribute (OpenTelemetry resource conventions)
ML_APP = "ml_app"  # Datadog LLM Observability's application name, when present
UNKNOWN_SERVICE = "unknown_service"
STATUS_ERROR = 2  # Status.StatusCode.STATUS_CODE_ERROR

_ID_KEYS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8}


class BadPayload(ValueError):
    """The body cannot be an OTLP export request; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decompress(body: bytes, encoding: Optional[str]) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadPayload(f"body is not valid {encoding}: {exc}") from None
    if encoding != "identity":
        raise BadPayload(f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none", 415)
    return body


def parse(path: str, content_type: Optional[str], body: bytes) -> Message:
    """Decode one export request for ``path`` (``/v1/traces`` ...)."""
    cls = SIGNALS[path]
    kind = (content_type or PROTOBUF).split(";", 1)[0].strip().lower()
    message = cls()
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError) as exc:
            raise BadPayload(f"body is not a protobuf {cls.__name__}: {exc}") from None
    elif kind == JSON:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadPayload(f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadPayload(f"JSON body must be an object ({cls.__name__})")
        try:
            json_format.ParseDict(_ids_to_base64(data), message, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise BadPayload(f"JSON body is not an OTLP {cls.__name__}: {exc}") from None
    else:
        raise BadPayload(f"Content-Type {content_type!r} is not supported; use {PROTOBUF} or {JSON}", 415)
    if isinstance(message, ExportTraceServiceRequest):
        _check_ids(message)
    return message


def _ids_to_base64(node: Any) -> Any:
    """OTLP/JSON hex IDs -> the base64 that protobuf's JSON parser expects."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            size = _ID_KEYS.get(key)
            if size and isinstance(value, str) and len(value) == 2 * size:
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    pass  # not hex: leave it for the parser to judge
            out[key] = _ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_ids_to_base64(item) for item in node]
    return node


def _check_ids(request: ExportTraceServiceRequest) -> None:
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if len(span.trace_id) != 16 or not any(span.trace_id):
                    raise BadPayload(f"span {span.name!r} has an invalid trace_id (16 non-zero bytes expected)")
                if len(span.span_id) != 8 or not any(span.span_id):
                    raise BadPayload(f"span {span.name!r} has an invalid span_id (8 non-zero bytes expected)")
                if span.parent_span_id and len(span.parent_span_id) != 8:
                    raise BadPayload(f"span {span.name!r} has an invalid parent_span_id")


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


@dataclass(slots=True)
class Span:
    """One received span, with its resource flattened in."""

    trace_id: str
    span_id: str
    parent_id: Optional[str]
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status: int
    status_message: str
    app: str
    scope: str
    attributes: Dict[str, Any]
    resource: Dict[str, Any]
    events: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6


def app_name(resource: Dict[str, Any], span_attributes: Dict[str, Any]) -> str:
    """The application: ``service.name``, or Datadog's ``ml_app`` when the service is unnamed."""
    service = str(resource.get(SERVICE_NAME) or UNKNOWN_SERVICE)
    if service.startswith(UNKNOWN_SERVICE):
        ml_app = span_attributes.get(ML_APP) or resource.get(ML_APP)
        if ml_app:
            return str(ml_app)
    return service


def spans(request: ExportTraceServiceRequest) -> List[Span]:
    out: List[Span] = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for s in ss.spans:
                attrs = attributes(s.attributes)
                out.append(Span(
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_id=s.parent_span_id.hex() or None,
                    name=s.name,
                    kind=int(s.kind),
                    start_ns=int(s.start_time_unix_nano),
                    end_ns=int(s.end_time_unix_nano),
                    status=int(s.status.code),
                    status_message=s.status.message,
                    app=app_name(resource, attrs),
                    scope=scope,
                    attributes=attrs,
                    resource=resource,
                    events=[
                        {"name": e.name, "time_ns": int(e.time_unix_nano), "attributes": attributes(e.attributes)}
                        for e in s.events
                    ],
                ))
    return out


@dataclass(slots=True)
class MetricPoint:
    """One data point of a GenAI metric, reduced to what the collector keeps."""

    name: str
    app: str
    time_ns: int
    attributes: Dict[str, Any]
    count: Optional[int]  # histograms: number of measurements
    value: float  # histograms: sum; sums and gauges: the value


def metric_points(request: ExportMetricsServiceRequest, prefix: str = "gen_ai.") -> List[MetricPoint]:
    """Data points of metrics whose name starts with ``prefix``."""
    out: List[MetricPoint] = []
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name.startswith(prefix):
                    continue
                kind = metric.WhichOneof("data")
                if kind not in ("histogram", "sum", "gauge"):
                    continue
                for dp in getattr(metric, kind).data_points:
                    attrs = attributes(dp.attributes)
                    if kind == "histogram":
                        count, value = int(dp.count), float(dp.sum)
                    else:
                        count = None
                        value = float(dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int)
                    out.append(MetricPoint(metric.name, app_name(resource, attrs), int(dp.time_unix_nano), attrs, count, value))
    return out
