#!/usr/bin/env python3
"""What each of genai-tap's OpenTelemetry shortcuts saves, per call: the figures in docs/design.md.

    .venv/bin/python scripts/bench_shortcuts.py [--calls N] [--rounds R]

* **finished spans**: genai-tap's own provider hands the batch processor a finished
  ``ReadableSpan`` (a placeholder is current during the call) instead of making an SDK span.
  Measured: the sink's ``start`` + ``release`` (the app's thread) and ``finish`` (the
  finisher's), for a Converse record of the usual size, both ways, CPU time of this thread.
* **own aggregation**: genai-tap aggregates its metrics itself instead of recording into SDK
  instruments. Measured: one call's ``record`` both ways (three to five measurements).
* **the finisher's look at the app's thread** (``sys._current_frames``, Python 3.12 and newer):
  the app's latency per Converse call against the emulator (in a process of its own), with the
  finisher looking and not, in alternating blocks; the median of the blocks' medians.

CPU figures are medians over rounds of ``--calls`` calls (``thread_time``). Run it on a quiet
machine for figures worth quoting; on a busy one it proves the script works.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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

    def provider(mp: Any) -> Any:  # genai-tap's own provider, exporting nowhere (the export is not measured)
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tp, _ = made(mp)
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


APP = r"""
import os, statistics, sys, time, boto3
from genai_tap import finisher
client = boto3.client("bedrock-runtime")
msgs = [{"role": "user", "content": [{"text": "Why is the sky blue?"}]}]
frames = finisher.current_frames
out = {"looking": [], "not looking": []}
for r in range(int(sys.argv[2])):
    for mode in ("looking", "not looking") if r % 2 == 0 else ("not looking", "looking"):  # the order alternates
        finisher.current_frames = frames if mode == "looking" else None
        times = []
        for _ in range(int(sys.argv[1])):
            t0 = time.perf_counter_ns()
            client.converse(modelId="amazon.nova-lite-v1:0", messages=msgs)
            times.append(time.perf_counter_ns() - t0)
        out[mode].append(statistics.median(times) / 1000)
for mode, meds in out.items():
    print(f"finisher {mode:12} median call {statistics.median(meds):7.1f} µs")
print(f"finisher gain: {statistics.median(out['not looking']) - statistics.median(out['looking']):.1f} µs a call")
"""


def finisher_look(calls: int, rounds: int) -> None:
    if sys.version_info < (3, 12):
        print(f"finisher: Python {sys.version_info[0]}.{sys.version_info[1]} does not look (3.12 and newer do); run this script "
              "with .venv-py3.12/bin/python or .venv-py3.13/bin/python for this figure")
        return
    from genai_tap.emulator import Emulator

    with Emulator(deterministic=True) as emu:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1",
                   AWS_ENDPOINT_URL_BEDROCK_RUNTIME=emu.url, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none")
        cmd = [sys.executable, "-m", "genai_tap.cli", "run", sys.executable, "-c", APP, str(calls), str(rounds)]
        print(subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600).stdout, end="")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=["spans", "metrics", "finisher"], nargs="*")
    args = parser.parse_args()
    only = args.only or ["spans", "metrics", "finisher"]
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds of {args.calls} calls")
    if "spans" in only:
        spans(args.calls, args.rounds)
    if "metrics" in only:
        metrics(args.calls, args.rounds)
    if "finisher" in only:
        finisher_look(max(50, args.calls // 20), args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
