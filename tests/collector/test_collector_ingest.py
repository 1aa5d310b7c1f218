"""OTLP/HTTP ingest: protobuf (real exporter, gzip), JSON (both ID spellings), metrics,
logs, malformed bodies, restart and forwarding."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from conftest import get, post, wait_for
from genai_tap_collector.server import Collector
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from genai_tap import semconv as sc


@pytest.mark.slow
def test_protobuf_gzip_from_the_real_exporter_keeps_genai_traces_only(collector, sender_for):
    s = sender_for(collector)
    root = s.root()
    s.call("us.amazon.nova-lite-v1:0", parent=root, child=True)
    root.end(end_time=s.t0 + 200 * 1_000_000)
    unrelated = s.root("GET /healthz")  # a trace without GenAI calls
    unrelated.end()

    calls = get(collector.ui_url + "/api/traces")["items"]
    assert len(calls) == 1
    call = calls[0]
    assert call["app"] == "checkout"
    assert call["model"] == "us.amazon.nova-lite-v1:0"
    assert call["base_model"] == "amazon.nova-lite-v1:0"
    assert call["prompt"] == "What is the capital of France?"
    trace = get(f"{collector.ui_url}/api/traces/{call['trace_id']}")
    names = [(sp["depth"], sp["name"]) for sp in trace["spans"]]
    # the child HTTP span was exported before its GenAI parent and waited for it
    assert names == [(0, "handle request"), (1, "chat us.amazon.nova-lite-v1:0"), (2, "POST bedrock-runtime")]
    health = get(collector.ui_url + "/api/health")
    assert health["received"]["spans"] == 4
    assert health["stored_spans"] == 3


def _request_json(sender, hex_ids: bool) -> bytes:
    text = json_format.MessageToJson(encode_spans(sender.spans()))
    if hex_ids:  # OTLP/JSON as the specification writes it: IDs in hex
        data = json.loads(text)
        for rs in data["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
        text = json.dumps(data)
    return text.encode()


@pytest.mark.slow
def test_cache_writes_under_either_name(collector, sender_for):
    """v1.41's ``cache_creation`` name and the name the latest conventions use (genai-tap's opt-in)."""
    s = sender_for(collector)
    s.call("anthropic.claude-3-5-haiku-20241022-v1:0", cache_read=40, cache_write=10)
    s.call("anthropic.claude-3-5-haiku-20241022-v1:0", cache_read=40, cache_write=20, at_ms=1000,
           cache_write_name=sc.USAGE_CACHE_WRITE_INPUT_TOKENS_LATEST)
    calls = get(collector.ui_url + "/api/traces")["items"]
    written = sorted(get(f"{collector.ui_url}/api/traces/{c['trace_id']}")["spans"][0]["cache_write_tokens"] for c in calls)
    assert written == [10, 20]
    assert get(collector.ui_url + "/api/stats")["total"]["cache_write_tokens"] == 30


@pytest.mark.slow
def test_json_bodies_with_base64_or_hex_ids_plain_or_gzip(collector, sender_for):
    for i, (hex_ids, gz) in enumerate([(False, False), (True, False), (True, True)]):
        s = sender_for(None, app=f"json-app-{i}")
        s.call("anthropic.claude-3-haiku-20240307-v1:0")
        body = _request_json(s, hex_ids)
        assert post(collector.otlp_url + "/v1/traces", gzip.compress(body) if gz else body, "application/json",
                    "gzip" if gz else None) == 200
    apps = {a["app"]: a for a in get(collector.ui_url + "/api/apps")["apps"]}
    assert sorted(apps) == ["json-app-0", "json-app-1", "json-app-2"]
    for app in apps.values():
        assert app["calls"] == 1 and app["input_tokens"] == 100


@pytest.mark.slow
def test_metrics_from_the_real_exporter_and_logs_are_accepted(collector):
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=collector.otlp_url + "/v1/metrics"),
                                           export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "metrics-app"}))
    meter = provider.get_meter("tests")
    meter.create_histogram(sc.METRIC_OPERATION_DURATION, unit="s").record(0.25, {sc.REQUEST_MODEL: "amazon.nova-lite-v1:0"})
    meter.create_counter("http.requests").add(1)  # not a GenAI metric: not kept
    provider.shutdown()  # exports once, on the way out
    assert post(collector.otlp_url + "/v1/logs", ExportLogsServiceRequest().SerializeToString(),
                "application/x-protobuf") == 200
    health = get(collector.ui_url + "/api/health")
    assert health["received"]["metric_points"] == 1
    rows = collector.store.metric_summary(0)
    assert [(r["name"], r["app"], r["model"], r["count"]) for r in rows] == [
        (sc.METRIC_OPERATION_DURATION, "metrics-app", "amazon.nova-lite-v1:0", 1)]


@pytest.mark.slow
def test_malformed_payloads_get_400_and_nothing_is_stored(collector, sender_for):
    s = sender_for(None)
    s.call("amazon.nova-lite-v1:0")
    good = encode_spans(s.spans()).SerializeToString()
    url = collector.otlp_url
    cases = [
        (url + "/v1/traces", good[: len(good) // 2], "application/x-protobuf", None, 400),  # truncated protobuf
        (url + "/v1/traces", b"\xff\xff\xff\xff", "application/x-protobuf", None, 400),
        (url + "/v1/traces", b"{not json", "application/json", None, 400),
        (url + "/v1/traces", b"[1, 2]", "application/json", None, 400),
        (url + "/v1/traces", b'{"resourceSpans": "nope"}', "application/json", None, 400),
        (url + "/v1/traces", good, "application/x-protobuf", "gzip", 400),  # says gzip, is not
        (url + "/v1/metrics", b"\x0a\x05junk", "application/x-protobuf", None, 400),
        (url + "/v1/traces", good, "text/plain", None, 415),
        (url + "/v1/nothing", good, "application/x-protobuf", None, 404),
    ]
    for target, body, ctype, encoding, status in cases:
        assert post(target, body, ctype, encoding) == status, (target, body[:20], ctype, encoding)
    assert get(collector.ui_url + "/api/health")["stored_spans"] == 0
    assert get(collector.ui_url + "/api/traces")["items"] == []
    assert post(url + "/v1/traces", good, "application/x-protobuf") == 200  # and the same body intact is fine
    assert get(collector.ui_url + "/api/health")["stored_spans"] == 1


@pytest.mark.slow
def test_restart_keeps_the_data(tmp_path, sender_for):
    db = tmp_path / "kept.db"
    with Collector(db, otlp_port=0, ui_port=0) as first:
        s = sender_for(first)
        s.call("amazon.nova-pro-v1:0", error="ThrottlingException")
        s.call("amazon.nova-pro-v1:0")
        before = get(first.ui_url + "/api/traces")
    with Collector(db, otlp_port=0, ui_port=0) as second:
        after = get(second.ui_url + "/api/traces")
        assert after == before and len(after["items"]) == 2
        assert get(second.ui_url + "/api/apps")["apps"][0]["errors"] == 1


@pytest.mark.slow
def test_forwarding_sends_everything_upstream_unchanged(tmp_path, sender_for):
    with Collector(tmp_path / "upstream.db", otlp_port=0, ui_port=0) as upstream, \
            Collector(tmp_path / "local.db", otlp_port=0, ui_port=0, forward=upstream.otlp_url) as local:
        s = sender_for(local)
        s.call("meta.llama3-1-8b-instruct-v1:0")
        assert post(local.otlp_url + "/v1/logs", ExportLogsServiceRequest().SerializeToString(),
                    "application/x-protobuf") == 200
        wait_for(lambda: get(upstream.ui_url + "/api/health")["received"]["requests"] == 2, "the forwarded bodies")
        assert get(upstream.ui_url + "/api/traces")["items"] == get(local.ui_url + "/api/traces")["items"]
        assert get(local.ui_url + "/api/health")["forward"].items() >= {
            "url": upstream.otlp_url, "sent": 2, "dropped": 0, "failed": 0}.items()
