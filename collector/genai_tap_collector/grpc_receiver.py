"""The OTLP/gRPC endpoint (port 4317 by default): the trace, metrics and logs services
of ``opentelemetry-proto``, served by grpcio.

Many OpenTelemetry SDKs export over gRPC by default; without this they would see
UNAVAILABLE and nothing would land. Requests may be gzip compressed (grpcio
decompresses them, refusing past ``Limits.max_request_bytes`` with
RESOURCE_EXHAUSTED). Answers:

- OK with an export response once the spans are committed; spans rejected on
  their own are counted in its ``partial_success``;
- INVALID_ARGUMENT for a message that does not decode;
- RESOURCE_EXHAUSTED with a ``google.rpc.RetryInfo`` (in ``grpc-status-details-bin``
  and in the ``google.rpc.retryinfo-bin`` trailer the Python SDK reads) when the
  in-flight budget is full or the database cannot keep up: exporters retry;
- UNAUTHENTICATED / PERMISSION_DENIED when ``admit`` refuses the request.

Methods are registered by the services' full names from the generated
descriptors, with raw bytes in and out, so the body's size is known (and
reserved) before it is decoded.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any, Callable, Dict, Optional, Tuple

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from .ingest import Busy, Ingest, Result
from .limits import Limits
from .logs import log
from .otlp import LOGS, METRICS, SIGNALS, TRACES, BadPayload

Admit = Callable[[Any], Optional[Tuple[int, str]]]

#: service descriptor, OTLP path, response class
SERVICES = (
    (trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"], TRACES, trace_service_pb2.ExportTraceServiceResponse),
    (metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"], METRICS,
     metrics_service_pb2.ExportMetricsServiceResponse),
    (logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"], LOGS, logs_service_pb2.ExportLogsServiceResponse),
)
_REFUSALS = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
             421: grpc.StatusCode.PERMISSION_DENIED}


def retry_trailers(code: grpc.StatusCode, message: str, seconds: int) -> Tuple[Tuple[str, bytes], ...]:
    """Trailing metadata that tells a client when to retry: a google.rpc.Status with a
    RetryInfo detail, and the RetryInfo alone under the key the Python SDK reads."""
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),
            ("google.rpc.retryinfo-bin", info.SerializeToString()))


class GrpcReceiver:
    def __init__(self, ingest: Ingest, host: str, port: int, limits: Limits, admit: Optional[Admit] = None,
                 workers: int = 8) -> None:
        self.ingest = ingest
        self.limits = limits
        self.admit = admit
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genai-tap-collector-grpc"),
            maximum_concurrent_rpcs=limits.max_connections,
            options=[
                ("grpc.max_receive_message_length", limits.max_request_bytes),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
        )
        handlers = []
        for service, path, response in SERVICES:
            method = service.methods[0].name  # Export
            handlers.append(grpc.method_handlers_generic_handler(service.full_name, {
                method: grpc.unary_unary_rpc_method_handler(self._handler(path, response)),
            }))
        self.server.add_generic_rpc_handlers(tuple(handlers))
        target = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
        try:
            self.port = self.server.add_insecure_port(target)
        except RuntimeError as exc:  # grpcio raises this when the port is taken
            self.port = 0
            why = str(exc).split(";", 1)[0]
        else:
            why = "no address bound"
        if not self.port:
            self.server.stop(None)
            raise OSError(f"cannot listen for OTLP/gRPC on {target} ({why})")

    def start(self) -> "GrpcReceiver":
        self.server.start()
        return self

    def stop(self, grace_s: float = 2.0) -> None:
        self.server.stop(grace_s).wait(grace_s + 5)

    def _handler(self, path: str, response_cls: Any) -> Callable[[bytes, Any], bytes]:
        def export(raw: bytes, context: Any) -> bytes:
            if self.admit is not None:
                metadata: Dict[str, Any] = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
                refusal = self.admit(metadata)
                if refusal is not None:
                    context.abort(_REFUSALS.get(refusal[0], grpc.StatusCode.PERMISSION_DENIED), refusal[1])
            try:
                self.ingest.reserve(len(raw))
            except Busy as exc:
                self._busy(context, exc)
            try:
                try:
                    message = SIGNALS[path].FromString(raw)
                except (DecodeError, ValueError, RecursionError) as exc:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a {SIGNALS[path].__name__}: {exc}")
                result = self.ingest.export_message(path, message, raw)
            except Busy as exc:
                self._busy(context, exc)
            except BadPayload as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            finally:
                self.ingest.budget.release(len(raw))
            return _response(response_cls, result).SerializeToString()

        return export

    def _busy(self, context: Any, exc: Busy) -> None:
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
        context.set_trailing_metadata(retry_trailers(code, str(exc), exc.retry_after_s))
        log.debug("otlp/grpc: busy: %s", exc)
        context.abort(code, str(exc))


def _response(cls: Any, result: Result) -> Any:
    response = cls()
    if result.signal == TRACES and result.rejected:
        response.partial_success.rejected_spans = result.rejected
        response.partial_success.error_message = result.message
    return response
