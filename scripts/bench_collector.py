#!/usr/bin/env python3
"""Benchmark of the local collector: ingest throughput and the query time of each view.

    python scripts/bench_collector.py                 # 1,000,000 stored spans
    python scripts/bench_collector.py --spans 200000  # quicker

The first --http-spans spans go through the OTLP/HTTP endpoint (protobuf, 1,000
spans a request, as the SDK's batch processor sends them): that is the ingest
throughput. The rest are decoded and stored in-process (the same code minus
HTTP) to reach the target size quickly; that rate is printed too. Then each
view's JSON endpoint is timed over HTTP (median of 3). Not part of the test
suite: speed is measured here, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from genai_tap import semconv as sc
from genai_tap_collector import otlp
from genai_tap_collector.server import Collector

APPS = ["checkout", "search", "support-bot", "recommender", "batch-summaries"]
MODELS = ["us.amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1:0",
          "anthropic.claude-sonnet-4-20250514-v1:0", "meta.llama3-1-8b-instruct-v1:0", "mistral.mistral-large-2407-v1:0"]
BATCH = 1000
DAYS = 6


def kv(key, value):
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def batches(total: int, rng: random.Random, now_ns: int):
    """ExportTraceServiceRequests of BATCH GenAI spans each, spread over the last DAYS days."""
    made = 0
    while made < total:
        req = ExportTraceServiceRequest()
        app = APPS[(made // BATCH) % len(APPS)]
        rs = req.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", app))
        ss = rs.scope_spans.add()
        ss.scope.name = "genai_tap"
        for _ in range(min(BATCH, total - made)):
            made += 1
            model = rng.choice(MODELS)
            start = now_ns - rng.randint(0, DAYS * 86400) * 10**9 - rng.randint(0, 10**9)
            latency = int(rng.lognormvariate(6.0, 0.6) * 1e6)
            error = rng.random() < 0.03
            span = ss.spans.add()
            span.trace_id = rng.getrandbits(128).to_bytes(16, "big")
            span.span_id = rng.getrandbits(64).to_bytes(8, "big")
            span.name = f"chat {model}"
            span.kind = 3
            span.start_time_unix_nano = start
            span.end_time_unix_nano = start + latency
            question = f"Summarise ticket #{made} about a delayed order and suggest a polite answer"
            attrs = [kv(sc.OPERATION_NAME, "chat"), kv(sc.PROVIDER_NAME, "aws.bedrock"), kv(sc.REQUEST_MODEL, model),
                     kv(sc.REQUEST_MAX_TOKENS, 512), kv(sc.REQUEST_TEMPERATURE, 0.3),
                     kv(sc.INPUT_MESSAGES, json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]))]
            if error:
                attrs.append(kv(sc.ERROR_TYPE, "ThrottlingException"))
                span.status.code = 2
                span.status.message = "Too many requests"
            else:
                attrs += [kv(sc.USAGE_INPUT_TOKENS, rng.randint(50, 3000)), kv(sc.USAGE_OUTPUT_TOKENS, rng.randint(10, 800)),
                          kv(sc.OUTPUT_MESSAGES, json.dumps([{"role": "assistant", "parts": [
                              {"type": "text", "content": "We are sorry for the delay; your order ships today."}],
                              "finish_reason": "stop"}]))]
            span.attributes.extend(attrs)
        yield req


def post(url: str, body: bytes) -> None:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-protobuf"}, method="POST")
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()


def timed(url: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=600) as resp:
            resp.read()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to store (default: 1,000,000)")
    parser.add_argument("--http-spans", type=int, default=100_000, help="of which sent over OTLP/HTTP (default: 100,000)")
    parser.add_argument("--db", help="database file (default: a temporary one, removed at the end)")
    args = parser.parse_args()
    tmp = None if args.db else tempfile.TemporaryDirectory()
    db = args.db or os.path.join(tmp.name, "bench.db")
    rng = random.Random(42)
    now = time.time_ns()
    with Collector(db, otlp_port=0, ui_port=0) as c:
        http_n = min(args.http_spans, args.spans)
        gen = batches(args.spans, rng, now)
        bodies = [next(gen).SerializeToString() for _ in range((http_n + BATCH - 1) // BATCH)]
        t = time.perf_counter()
        for body in bodies:
            post(c.otlp_url + "/v1/traces", body)
        http_s = time.perf_counter() - t
        print(f"ingest over OTLP/HTTP (protobuf, {BATCH} spans/request): {http_n:,} spans in {http_s:.1f}s "
              f"= {http_n / http_s:,.0f} spans/s", flush=True)
        t, n = time.perf_counter(), 0
        for req in gen:
            spans = otlp.spans(req)
            c.store.add_spans(spans)
            n += len(spans)
        if n:
            fill_s = time.perf_counter() - t
            print(f"bulk fill in-process (decode + store, no HTTP): {n:,} spans in {fill_s:.1f}s = {n / fill_s:,.0f} spans/s "
                  "(includes building the requests)", flush=True)
        stored = c.store.span_count()
        size = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))
        print(f"stored: {stored:,} spans, database {size / 1e6:,.0f} MB", flush=True)
        ui = c.ui_url
        trace_id = json.loads(urllib.request.urlopen(ui + "/api/traces?per_page=1").read())["items"][0]["trace_id"]
        views = [
            ("Applications, all time", "/api/apps"),
            ("Applications, last 24h", "/api/apps?since=24h"),
            ("Application summary, all time", "/api/apps/checkout"),
            ("Application summary, last 1h", "/api/apps/checkout?since=1h"),
            ("Traces list, page 1", "/api/traces"),
            ("Traces list, page 100", "/api/traces?page=100"),
            ("Traces list, app+model+errors", "/api/traces?app=search&model=amazon.nova-micro-v1:0&status=error"),
            ("Trace detail", f"/api/traces/{trace_id}"),
            ("Errors, all time", "/api/errors"),
            ("Stats (per app and model), all time", "/api/stats"),
            ("Applications page (HTML)", "/"),
            ("Summary page (HTML)", "/apps/checkout"),
        ]
        print(f"query time at {stored:,} spans (median of 3, over HTTP):")
        for name, path in views:
            print(f"  {name:<40} {timed(ui + path):8.1f} ms", flush=True)
        t = time.perf_counter()
        c.alerts.evaluate()
        print(f"  {'(alert evaluation, no rules)':<40} {(time.perf_counter() - t) * 1000:8.1f} ms")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
