"""OTLP/gRPC intake: the OpenTelemetry SDK's own gRPC exporters (traces and metrics, gzip),
a plain gRPC client for what the SDK never sends, and back-pressure with RetryInfo."""

from __future__ import annotations

import gzip
import threading
import time

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from genai_tap import semconv as sc
from genai_tap_collector.limits import MiB, Limits
from genai_tap_collector.server import Collector

from conftest import Sender, get, request_pb, span_pb, wait_for

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def grpc_sender(c: Collector, app: str, compression: Compression = Compression.Gzip) -> Sender:
    s = Sender(None, app)
    s.provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=c.grpc_url, insecure=True, compression=compression)))
    return s


def test_the_sdk_grpc_exporters_land_spans_and_metrics_gzip_or_not(collector):
    assert collector.grpc_address and collector.grpc_port != 4317  # a free port, as otlp_port=0 asked
    for app, compression in (("grpc-gzip", Compression.Gzip), ("grpc-plain", Compression.NoCompression)):
        s = grpc_sender(collector, app, compression)
        root = s.root()
        s.call("us.amazon.nova-lite-v1:0", parent=root, child=True, extra={sc.BEDROCK_API: "ConverseStream"})
        root.end()
        s.close()
    calls = {c["app"]: c for c in get(collector.ui_url + "/api/traces")["items"]}
    assert set(calls) == {"grpc-gzip", "grpc-plain"}
    assert calls["grpc-gzip"]["api"] == "ConverseStream" and calls["grpc-gzip"]["base_model"] == "amazon.nova-lite-v1:0"
    tree = get(f"{collector.ui_url}/api/traces/{calls['grpc-gzip']['trace_id']}")["spans"]
    assert [(s["depth"], s["name"]) for s in tree] == [
        (0, "handle request"), (1, "chat us.amazon.nova-lite-v1:0"), (2, "POST bedrock-runtime")]

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=collector.grpc_url, insecure=True,
                                                              compression=Compression.Gzip),
                                           export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "grpc-metrics"}))
    provider.get_meter("tests").create_histogram(sc.METRIC_OPERATION_DURATION, unit="s").record(
        0.5, {sc.REQUEST_MODEL: "amazon.nova-lite-v1:0"})
    provider.shutdown()
    rows = collector.store.metric_summary(0)
    assert [(r["name"], r["app"], r["count"]) for r in rows] == [(sc.METRIC_OPERATION_DURATION, "grpc-metrics", 1)]


def test_a_plain_grpc_client_gets_partial_success_and_invalid_argument(collector):
    with grpc.insecure_channel(collector.grpc_address) as channel:
        export = channel.unary_unary(TRACE_EXPORT)
        body = request_pb([span_pb(), span_pb(span_id=bytes(8)), span_pb()], "raw-grpc")
        answer = ExportTraceServiceResponse.FromString(export(body, timeout=30))
        assert answer.partial_success.rejected_spans == 1
        assert "invalid span_id" in answer.partial_success.error_message
        with pytest.raises(grpc.RpcError) as err:
            export(b"\xff\xff\xff\xff", timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        compressed = channel.unary_unary(TRACE_EXPORT)
        assert compressed(request_pb([span_pb()], "raw-grpc"), timeout=30, compression=grpc.Compression.Gzip) == b""
    assert get(collector.ui_url + "/api/apps")["apps"][0]["calls"] == 3


def test_a_message_over_the_size_limit_is_refused_even_compressed(tmp_path):
    limits = Limits(max_request_bytes=1 * MiB, max_inflight_bytes=4 * MiB)
    with Collector(tmp_path / "g.db", otlp_port=0, ui_port=0, limits=limits) as c:
        body = request_pb([span_pb(attrs={"padding": "z" * (3 * MiB)})], "too-big")
        assert len(gzip.compress(body)) < 100_000  # small on the wire, 3 MiB decompressed
        with grpc.insecure_channel(c.grpc_address) as channel:
            with pytest.raises(grpc.RpcError) as err:
                channel.unary_unary(TRACE_EXPORT)(body, timeout=30, compression=grpc.Compression.Gzip)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert get(c.ui_url + "/api/health")["stored_spans"] == 0


def test_a_full_budget_answers_resource_exhausted_with_retry_info_and_the_sdk_retries(tmp_path):
    limits = Limits(max_request_bytes=128 * 1024, max_inflight_bytes=256 * 1024)
    with Collector(tmp_path / "b.db", otlp_port=0, ui_port=0, limits=limits) as c:
        c.ingest.reserve(256 * 1024 - 100)  # as if requests held all of it
        with grpc.insecure_channel(c.grpc_address) as channel:
            with pytest.raises(grpc.RpcError) as err:
                channel.unary_unary(TRACE_EXPORT)(request_pb([span_pb()]), timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(err.value.trailing_metadata())
        info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert info.retry_delay.seconds == 1
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] and status.details[0].Is(info.DESCRIPTOR)

        s = grpc_sender(c, "patient-grpc")
        done = threading.Event()
        t = threading.Thread(target=lambda: (s.call("amazon.nova-lite-v1:0"), done.set()), daemon=True)
        t.start()
        wait_for(lambda: c.received["refused_busy"] >= 2, "the collector refusing the SDK's export")
        time.sleep(0.2)
        assert not done.is_set()
        c.ingest.budget.release(256 * 1024 - 100)
        assert done.wait(20)  # the exporter waited as RetryInfo said, and its retry got in
        s.close()
        assert [a["app"] for a in get(c.ui_url + "/api/apps")["apps"]] == ["patient-grpc"]


def test_grpc_off_and_a_busy_port_says_so(tmp_path):
    with Collector(tmp_path / "off.db", otlp_port=0, ui_port=0, grpc_port=None) as c:
        assert c.grpc_address is None and c.grpc_url is None
        with Collector(tmp_path / "other.db", otlp_port=0, ui_port=0, grpc_port=0) as first:
            with pytest.raises(OSError, match="OTLP/gRPC"):
                Collector(tmp_path / "clash.db", otlp_port=0, ui_port=0, grpc_port=first.grpc_port).start()


def test_grpc_requests_need_the_token_when_one_is_set(tmp_path):
    token = "grpc-token-0123456789abcdef"
    with Collector(tmp_path / "t.db", otlp_port=0, ui_port=0, auth_token=token) as c:
        with grpc.insecure_channel(c.grpc_address) as channel:
            export = channel.unary_unary(TRACE_EXPORT)
            with pytest.raises(grpc.RpcError) as err:
                export(request_pb([span_pb()]), timeout=30)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as err:
                export(request_pb([span_pb()]), timeout=30, metadata=[("authorization", "Bearer wrong-token-0123456789")])
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        s = Sender(None, "with-token")
        s.provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
            endpoint=c.grpc_url, insecure=True, headers=(("authorization", f"Bearer {token}"),))))
        s.call("amazon.nova-lite-v1:0")
        s.close()
        assert c.store.span_count() == 1
