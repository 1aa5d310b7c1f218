#!/usr/bin/env python3
"""What each of genai-tap's OpenTelemetry shortcuts saves, per call: the figures in docs/design.md.

    .venv/bin/python scripts/bench_shortcuts.py [--calls N] [--rounds R]

* **finished spans**: genai-tap's own provider hands the batch processor a finished
  ``ReadableSpan`` (a placeholder is current during the call) instead of making an SDK span.
  Measured: the sink's ``start`` + ``release`` (the app's thread) and ``finish`` (the
  finisher's), for a Converse record of the usual size, both ways, CPU time of this thread.
* **own aggregation**: genai-tap aggregates its metrics itself instead of recording into SDK
  instruments. Measured: one call's ``record`` both ways (three to five measurements).

CPU figures are medians over rounds of ``--calls`` calls (``thread_time``). Run it on a quiet
machine for figures worth quoting; on a busy one it proves the script works.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable

NOVA = "amazon.nova-lite-v1:0"


def record() -> Any:
    from genai_tap.record import CallRecord

    rec = CallRecord(api="Converse", operation="chat", request_model=NOVA, server_address="bedrock-runtime.us-east-1.amazonaws.com",
                     server_port=443, family="converse")
    rec.params = {"max_tokens": 256, "temperature": 0.3}
    rec.input_messages = [{"role": "user", "parts": [{"type": "text", "content": "Why is the sky blue? " * 4}]}]
    rec.output_messages = [{"role": "assistant", "parts": [{"type": "text", "content": "Rayleigh scattering. " * 10}],
                            "finish_reason": "stop"}]
    rec.finish_reasons = ["stop"]
    rec.input_tokens, rec.output_tokens = 12, 40
    rec.request_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    rec.end_ns = rec.start_ns + 300_000_000
    return rec


def per_call(fn: Callable[[], None], calls: int, rounds: int) -> float:
    fn()
    out = []
    for _ in range(rounds):
        t0 = time.thread_time_ns()
        for _ in range(calls):
            fn()
        out.append((time.thread_time_ns() - t0) / calls / 1000)
    return statistics.median(out)


def spans(calls: int, rounds: int) -> None:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from genai_tap.config import Config
    from genai_tap.sinks import otel

    class Drop(SpanExporter):
        def export(self, spans: Any) -> Any:
            return SpanExportResult.SUCCESS

    made = otel._own_tracer_provider

    def provider(mp: Any, exporters: Any = None) -> Any:  # genai-tap's own provider, exporting nowhere (the export is not measured)
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tp, _ = made(mp, exporters)
        processor = BatchSpanProcessor(Drop(), max_queue_size=1_000_000, schedule_delay_millis=50)
        tp.add_span_processor(processor)
        return tp, processor

    os.environ.update(OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none")
    otel._own_tracer_provider = provider
    config = Config.from_env()
    results = {}
    for name, fits in (("finished spans", True), ("SDK spans", False)):
        otel.own_spans_fit = lambda fits=fits: fits  # type: ignore[assignment]
        sink = otel.OtelSink(config)
        assert (sink._processor is not None) is fits

        def call(sink: Any = sink) -> None:
            rec = record()
            handle = sink.start(rec)
            sink.release(handle)
            sink.finish(rec, handle)

        def app_side(sink: Any = sink) -> None:
            rec = record()
            sink.release(sink.start(rec))

        results[name] = (per_call(app_side, calls, rounds), per_call(call, calls, rounds))
        sink.shutdown(5)
    for name, (app, total) in results.items():
        print(f"spans  {name:16} app's thread {app:6.1f} µs   start+release+finish {total:6.1f} µs")
    gain = results["SDK spans"][1] - results["finished spans"][1]
    app_gain = results["SDK spans"][0] - results["finished spans"][0]
    print(f"spans  gain: {gain:.1f} µs a call in all, {app_gain:.1f} µs of it on the app's thread")


def metrics(calls: int, rounds: int) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from genai_tap.sinks.otel_metrics import OwnHistograms, SdkInstruments

    for latest in (False, True):
        own = OwnHistograms(None, None, latest)
        own._thread = object()  # type: ignore[assignment]  # no export thread: the recording alone is measured
        sdk = SdkInstruments(MeterProvider(metric_readers=[InMemoryMetricReader()]), latest)
        rec = record()
        a, b = per_call(lambda: own.record(rec), calls, rounds), per_call(lambda: sdk.record(rec), calls, rounds)
        label = "latest conventions" if latest else "v1.41 conventions"
        print(f"metrics {label:18} own {a:5.1f} µs   SDK instruments {b:5.1f} µs   gain {b - a:5.1f} µs a call")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=["spans", "metrics"], nargs="*")
    args = parser.parse_args()
    only = args.only or ["spans", "metrics"]
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds of {args.calls} calls")
    if "spans" in only:
        spans(args.calls, args.rounds)
    if "metrics" in only:
        metrics(args.calls, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
