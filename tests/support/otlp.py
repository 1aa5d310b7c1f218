"""A real OTLP/HTTP receiver on 127.0.0.1 for the tests.

It decodes what OpenTelemetry exporters send (protobuf, optionally gzip) with
``opentelemetry-proto`` and keeps it, so tests assert on what crossed the wire.
"""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List

from genai_tap_collector.otlp import any_value, attributes  # the collector's own decoding
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

KINDS = {"/v1/traces": ExportTraceServiceRequest, "/v1/metrics": ExportMetricsServiceRequest, "/v1/logs": ExportLogsServiceRequest}




class _Store:
    """Decoded export requests and views over them."""

    def __init__(self) -> None:
        self.raw: List[tuple] = []  # (path, headers, body bytes as received)
        self.messages: Dict[str, List[Any]] = {p: [] for p in KINDS}
        self._lock = threading.Lock()

    def _keep(self, path: str, msg: Any) -> None:
        with self._lock:
            self.messages[path].append(msg)

    def clear(self) -> None:
        with self._lock:
            self.raw.clear()
            for msgs in self.messages.values():
                msgs.clear()

    # ------------------------------------------------------------ decoded views
    def spans(self) -> List[Dict[str, Any]]:
        out = []
        with self._lock:
            msgs = list(self.messages["/v1/traces"])
        for msg in msgs:
            for rs in msg.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append({
                            "name": s.name,
                            "kind": s.kind,
                            "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(),
                            "attributes": attributes(s.attributes),
                            "status_code": s.status.code,
                            "status_message": s.status.message,
                            "events": [{"name": e.name, "attributes": attributes(e.attributes)} for e in s.events],
                            "start": s.start_time_unix_nano,
                            "end": s.end_time_unix_nano,
                            "resource": resource,
                            "scope": ss.scope.name,
                        })
        return out

    def metric_points(self) -> List[Dict[str, Any]]:
        """Every histogram data point: name, unit, attributes, count, sum, bounds."""
        out = []
        with self._lock:
            msgs = list(self.messages["/v1/metrics"])
        for msg in msgs:
            for rm in msg.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.WhichOneof("data") != "histogram":
                            continue
                        for p in m.histogram.data_points:
                            out.append({
                                "name": m.name,
                                "temporality": m.histogram.aggregation_temporality,
                                "unit": m.unit,
                                "attributes": attributes(p.attributes),
                                "count": p.count,
                                "sum": p.sum,
                                "bounds": list(p.explicit_bounds),
                            })
        return out

    def logs(self) -> List[Dict[str, Any]]:
        out = []
        with self._lock:
            msgs = list(self.messages["/v1/logs"])
        for msg in msgs:
            for rl in msg.resource_logs:
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        out.append({"event_name": r.event_name, "body": any_value(r.body), "attributes": attributes(r.attributes)})
        return out

    def wait_for(self, what: Callable[[], List[Any]], count: int = 1, timeout: float = 20.0) -> List[Any]:
        """Poll until ``what()`` returns at least ``count`` items (exporters are asynchronous)."""
        return wait_for(what, count, timeout)


def wait_for(what: Callable[[], List[Any]], count: int = 1, timeout: float = 20.0) -> List[Any]:
    """Poll until ``what()`` returns at least ``count`` items, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    items = what()
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        items = what()
    return items


class Receiver(_Store):
    """OTLP over HTTP (protobuf, gzip) at /v1/traces, /v1/metrics, /v1/logs."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self
        #: seconds to wait before answering a trace export (a slow backend); reset by clear()
        self.trace_delay = 0.0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.raw.append((self.path, dict(self.headers.items()), body))
                data = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                kind = KINDS.get(self.path)
                if kind is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                msg = kind()
                msg.ParseFromString(data)
                receiver._keep(self.path, msg)
                if self.path == "/v1/traces" and receiver.trace_delay:
                    time.sleep(receiver.trace_delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def clear(self) -> None:
        super().clear()
        self.trace_delay = 0.0

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class GrpcReceiver(_Store):
    """OTLP over gRPC, with the real grpcio server and the collector service definitions."""

    def __init__(self) -> None:
        super().__init__()
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        store = self

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802
                store._keep("/v1/traces", request)
                store.raw.append(("/v1/traces", dict(context.invocation_metadata()), b""))
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):  # noqa: N802
                store._keep("/v1/metrics", request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GrpcReceiver":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(0)
