#!/usr/bin/env python3
"""genai-tap overhead benchmark (issue 7, "Overhead, measured"): ``make bench``.

Measures, in one run against the local Bedrock emulator, the latency genai-tap
adds to a boto3 call over bare boto3, next to the peers a user would pick
instead, plus peak memory and start-up cost, and prints PASS/FAIL per target.

How it measures
---------------
* Processes. The emulator runs in a process of its own (so it never competes for
  the GIL with a measured process), and so does a "sinks" process holding one
  local OTLP/HTTP receiver and one dummy Datadog agent per configuration. Every
  configuration runs in a worker process of its own; all workers are started
  together, then take turns: the coordinator tells one worker to run a block of N
  calls while every other worker waits on its pipe, then the next. Each block
  times every call (``perf_counter_ns`` around the call, including reading the
  whole body / consuming the whole stream, as an app would) and the worker then
  flushes its exporters, outside the timed part, before handing over.
* Rounds. The order of configurations is rotated each round; bare boto3 runs
  twice per round (``bare-a`` and ``bare-b``). Per round, a configuration's added
  latency is its per-call median minus the mean of the two bare medians; the
  table shows the median of that over the rounds. The difference between the
  two bare configurations is printed as the noise figure.
* Fairness. Every OpenTelemetry configuration (genai-tap's OTel sink and the OTel
  peers) uses the same SDK pipeline: a ``BatchSpanProcessor`` with the OTLP/HTTP
  protobuf exporter, a ``PeriodicExportingMetricReader`` with the OTLP/HTTP metric
  exporter, and (for the peers, as ``opentelemetry-instrument`` sets up) an OTLP
  ``LoggerProvider`` for their events, all sending to that configuration's local
  receiver. genai-tap builds this pipeline itself from ``OTEL_*`` variables; for
  the peers the worker builds the same one and installs it globally. Datadog
  configurations (genai-tap's Datadog sink, ddtrace's own Bedrock integration)
  send to a local dummy agent, with the same ddtrace settings. Content capture
  is off everywhere in the like-for-like rows (the peers' defaults, and
  ``TRACELOOP_TRACE_CONTENT=false`` for OpenLLMetry); ddtrace's LLMObs always
  captures content, so genai-tap "both sinks" is also run with content on, and
  that row is the one compared with ddtrace.
* Proof. After every block the coordinator reads how many spans that block's
  flush delivered to the configuration's own receiver / agent: GenAI spans
  (spans with a ``gen_ai.*`` attribute) over OTLP, APM traces and LLM
  Observability spans at the agent. A configuration (or operation) that delivered
  fewer spans than calls is reported FAILED, never as fast.
* Peers are installed each into its own virtualenv under ``.venv-bench/<name>``
  (created on first use, then reused), with boto3/botocore/urllib3 and the
  OpenTelemetry SDK pinned to the versions of the project's ``.venv``. On another
  Python: ``GENAI_TAP_BENCH_VENV=.venv-py3.12 .venv-py3.12/bin/python scripts/bench.py``
  (the peers then go under ``.venv-bench-py3.12/``).
* Async (``--async``, ``make bench-async``). The same, for calls through
  aiobotocore: async InvokeModel (body read with ``await body.read()``), Converse,
  a 20-chunk ConverseStream consumed with ``async for``, and 8 Converse calls awaited
  together, beside the sync operations they are compared with, in the same rounds.
  Each worker has one event loop; a block is one task awaiting its calls one after
  another. The peers run from venvs of their own (``.venv-bench/<name>-aio``, with
  aiobotocore and its HTTP stack pinned to the project's: aiobotocore accepts only a
  narrow range of botocore). A configuration that delivers no span for its async
  warm-up calls is reported as not tracing async and not timed on them; ddtrace's
  aiobotocore integration makes APM spans only, so there it is a reference row.

Everything here imports only the standard library at module level: the same
file is the worker in every virtualenv.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
#: genai-tap's virtualenv (``GENAI_TAP_BENCH_VENV`` for another, e.g. ``.venv-py3.12``
#: that ``make test`` makes: the peers then get virtualenvs of that Python, apart)
VENV = ROOT / os.environ.get("GENAI_TAP_BENCH_VENV", ".venv")
BENCH_VENVS = ROOT / (".venv-bench" if VENV.name == ".venv" else f".venv-bench-{VENV.name.removeprefix('.venv-')}")
LOGS = ROOT / ".tmp" / "bench"
SCRIPT = Path(__file__).resolve()

NOVA_LITE = "amazon.nova-lite-v1:0"
TITAN_EMBED_V2 = "amazon.titan-embed-text-v2:0"
PROMPT = "In two sentences, explain why the sky is blue."

#: The measured operations, in table order. A key missing from the emulator (or
#: failing its probe) is reported as unavailable and skipped.
OPERATIONS: List[Tuple[str, str]] = [
    ("invoke", "InvokeModel"),
    ("converse", "Converse"),
    ("embed", "Embed 1024"),
    ("stream", "ConverseStream"),
]
STREAM_CHUNKS = 20  # content chunks the stream operation asks for and is checked to get

#: The async operations (``--async``), through aiobotocore on one event loop per worker, each
#: call awaited before the next (the latency of one call), and the sync operation each
#: corresponds to. ``aconverse8``: 8 Converse calls awaited together (``asyncio.gather``) on the
#: loop, timed per batch.
ASYNC_OPERATIONS: List[Tuple[str, str]] = [
    ("ainvoke", "async InvokeModel"),
    ("aconverse", "async Converse"),
    ("astream", "async ConverseStream"),
    ("aconverse8", "async Converse x8"),
]
SYNC_OF = {"ainvoke": "invoke", "aconverse": "converse", "astream": "stream", "aconverse8": "converse"}
CONCURRENT = 8  # calls per batch of ``aconverse8``
CALLS_PER_OP = {"aconverse8": CONCURRENT}  # Bedrock calls (so spans) per timed unit; 1 if absent
#: What ``--async`` runs when no ``--ops`` are given: the async operations and, in the same run,
#: the sync ones they are compared with.
ASYNC_RUN_OPS = ["invoke", "converse", "stream", "ainvoke", "aconverse", "astream", "aconverse8"]
ALL_OPERATIONS = OPERATIONS + ASYNC_OPERATIONS


def is_async(op: str) -> bool:
    return op in SYNC_OF

# ----------------------------------------------------------------------------- configurations

#: Versions of the peers (bump deliberately; the table prints what ran).
PEER_PACKAGES = {
    "otel-botocore": ["opentelemetry-instrumentation-botocore==0.66b2", "opentelemetry-distro==0.66b2"],
    "otel-genai-bedrock": ["opentelemetry-instrumentation-genai-bedrock==1.3b0"],
    "openllmetry": ["opentelemetry-instrumentation-bedrock==0.62.4"],
    "ddtrace": [],  # ddtrace pinned to the project's own version below
    "openinference": ["openinference-instrumentation-bedrock==0.1.61"],
}
#: Packages pinned to the project venv's versions in every peer venv.
PINNED_FROM_PROJECT = ["boto3", "botocore", "urllib3", "s3transfer", "jmespath"]
#: ... and, in the venvs of a run with async operations (``<peer>-aio``), aiobotocore and its
#: HTTP stack. aiobotocore pins botocore to a narrow range (3.10.0: botocore 1.43.117 exactly),
#: so the project's botocore must be one it accepts: both come from the project's .venv.
ASYNC_FROM_PROJECT = ["aiobotocore", "aiohttp", "aioitertools", "aiohappyeyeballs", "aiosignal", "frozenlist",
                      "multidict", "propcache", "yarl"]
OTEL_FROM_PROJECT = ["opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"]


class Config:
    def __init__(self, name: str, label: str, kind: str, venv: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, channels: Tuple[str, ...] = (), role: str = "tap",
                 runs: Tuple[str, ...] = ("sync", "async"), async_role: Optional[str] = None,
                 async_label: Optional[str] = None) -> None:
        self.name = name
        self.label = label
        self.kind = kind  # bare | tap | otel-botocore | otel-genai-bedrock | openllmetry | openinference | ddtrace
        self.venv = venv  # None: the project's .venv
        self.env = env or {}
        self.channels = channels  # where its spans must arrive: "otlp", "dd"
        self.role = role  # bare | tap | peer | info
        self.runs = runs  # the runs it is part of without --configs: "sync" (make bench), "async" (--async)
        self.async_role = async_role  # its role for the async operations, if not ``role``
        self.async_label = async_label  # its label in a run with async operations, if not ``label``
        self.failed: Optional[str] = None
        self.op_failed: Dict[str, str] = {}  # async operation -> why it is not measured (the rest still is)
        self.worker: Optional["WorkerHandle"] = None
        self.setup: Dict[str, Any] = {}


def configurations() -> List[Config]:
    tap = lambda sinks, content: {  # noqa: E731
        "GENAI_TAP_SINKS": sinks,
        "GENAI_TAP_CAPTURE_CONTENT": "true" if content else "false",
    }
    return [
        Config("bare-a", "bare boto3 (a)", "bare", role="bare"),
        Config("bare-b", "bare boto3 (b)", "bare", role="bare"),
        Config("tap-otel", "genai-tap OTel sink", "tap", env=tap("otel", False), channels=("otlp",)),
        Config("tap-dd", "genai-tap Datadog sink", "tap", env=tap("datadog", False), channels=("dd",)),
        Config("tap-both", "genai-tap both sinks", "tap", env=tap("otel,datadog", False), channels=("otlp", "dd")),
        Config("tap-otel-content", "genai-tap OTel, content on", "tap", env=tap("otel", True),
               channels=("otlp",), role="info"),
        Config("tap-both-content", "genai-tap both, content on", "tap", env=tap("otel,datadog", True),
               channels=("otlp", "dd")),
        Config("otel-botocore", "otel-instr.-botocore", "otel-botocore", venv="otel-botocore",
               channels=("otlp",), role="peer"),
        Config("otel-genai-bedrock", "otel-instr.-genai-bedrock", "otel-genai-bedrock", venv="otel-genai-bedrock",
               channels=("otlp",), role="peer"),
        Config("openllmetry", "OpenLLMetry (no content)", "openllmetry", venv="openllmetry",
               env={"TRACELOOP_TRACE_CONTENT": "false"}, channels=("otlp",), role="peer"),
        Config("ddtrace", "ddtrace Bedrock + LLMObs", "ddtrace", venv="ddtrace", channels=("dd",), role="peer",
               async_role="info", async_label="ddtrace (async: APM only)"),
        # traces aiobotocore (OpenInference's own conventions, not gen_ai.*); part of the async run
        Config("openinference", "OpenInference (no content)", "openinference", venv="openinference",
               env={"OPENINFERENCE_HIDE_INPUTS": "true", "OPENINFERENCE_HIDE_OUTPUTS": "true"}, channels=("otlp",),
               role="peer", runs=("async",)),
    ]


#: Kinds whose uninstrument() un-instruments the clients already made (the worker makes a new
#: client each time it switches the instrumentation back on).
FRESH_CLIENTS_AFTER_SWITCH = ("openinference",)


def role_for(cfg: Config, op: str) -> str:
    """``cfg``'s role for operation ``op``: ddtrace's aiobotocore integration makes APM spans only,
    so for the async operations it is a reference row, not a peer."""
    return cfg.async_role if is_async(op) and cfg.async_role else cfg.role


# ============================================================================= worker side
# Runs in each configuration's own process and virtualenv.


class Worker:
    def __init__(self, spec: Dict[str, Any]) -> None:
        self.spec = spec
        self.kind = spec["kind"]
        self.aio = bool(spec.get("async"))  # also the async operations, on this worker's one event loop
        self.loop: Any = None
        self.exits: Dict[bool, Any] = {}  # per state, the exit stack of the async client made in it
        self.untimed = 0  # traced calls made outside the timed part since the last block (a new client's warm-up)
        self.providers: List[Any] = []
        self.ops: Dict[str, Callable[[], Any]] = {}
        self.client = None
        self.on = True  # instrumentation switched on (for bare boto3: nothing to switch)
        self.op_sets: Dict[bool, Dict[str, Callable[[], int]]] = {}  # per state, calls through a client made in it
        self.switch_on: Callable[[], Any] = lambda: None
        self.switch_off: Callable[[], Any] = lambda: None

    # ---------------------------------------------------------------- set-up
    def setup(self) -> Dict[str, Any]:
        t0 = time.perf_counter()
        kind = self.kind
        if kind == "tap":
            import genai_tap
            import genai_tap.auto  # noqa: F401  - the one-line opt-in, same as `genai-tap run`

            self.switch_on, self.switch_off = genai_tap.instrument, genai_tap.uninstrument
        elif kind in ("otel-botocore", "otel-genai-bedrock", "openllmetry", "openinference"):
            tp, mp, lp = self._otel_pipeline()
            providers = {"tracer_provider": tp, "meter_provider": mp, "logger_provider": lp}
            if kind == "otel-botocore":
                from opentelemetry.instrumentation.botocore import BotocoreInstrumentor as Instrumentor
            elif kind == "otel-genai-bedrock":
                from opentelemetry.instrumentation.genai.bedrock import BedrockInstrumentor as Instrumentor
            elif kind == "openinference":
                from openinference.instrumentation.bedrock import BedrockInstrumentor as Instrumentor

                providers = {"tracer_provider": tp}  # traces only
            else:
                from opentelemetry.instrumentation.bedrock import BedrockInstrumentor as Instrumentor

                del providers["logger_provider"]
            instrumentor = Instrumentor()
            self.switch_on = lambda: instrumentor.instrument(**providers)
            self.switch_off = instrumentor.uninstrument
            self.switch_on()
        elif kind == "ddtrace":
            from ddtrace import patch
            from ddtrace.contrib.internal.botocore import patch as botocore_patch
            from ddtrace.llmobs import LLMObs

            LLMObs.enable(agentless_enabled=False, integrations_enabled=False)
            if self.aio:  # its aiobotocore integration (APM spans; no LLM Observability)
                from ddtrace.contrib.internal.aiobotocore import patch as aio_patch

                patch(botocore=True, aiobotocore=True)
                self.switch_on = lambda: (botocore_patch.patch(), aio_patch.patch())
                self.switch_off = lambda: (botocore_patch.unpatch(), aio_patch.unpatch())
            else:
                patch(botocore=True)
                self.switch_on, self.switch_off = botocore_patch.patch, botocore_patch.unpatch
        self.ops = self.op_sets[True] = self._operations(True)
        probes = {}
        for key, fn in self.ops.items():
            try:
                probes[key] = {"ok": True, "chunks": self.call(key, fn)}
            except Exception as exc:  # noqa: BLE001 - reported as "unavailable"
                probes[key] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        self.flush()
        return {
            "probes": probes,
            "setup_s": time.perf_counter() - t0,
            "versions": _versions(),
            "python": sys.version.split()[0],
            "rss_kb": _rss_kb(),
        }

    def _operations(self, state: bool) -> Dict[str, Callable[[], Any]]:
        """The calls, through a client made now (OpenLLMetry and OpenInference instrument clients as
        they are made); with async operations, also through an aiobotocore client made now."""
        import boto3

        self.client = boto3.client("bedrock-runtime", endpoint_url=self.spec["emulator"], region_name="us-east-1")
        ops: Dict[str, Callable[[], Any]] = dict(build_operations(self.client))
        if self.aio:
            ops.update(build_async_operations(self.event_loop().run_until_complete(self._async_client(state))))
        return ops

    def event_loop(self) -> Any:
        """This worker's one event loop: every async client is made, used and closed on it."""
        if self.loop is None:
            import asyncio

            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        return self.loop

    async def _async_client(self, state: bool) -> Any:
        from contextlib import AsyncExitStack

        from aiobotocore.session import get_session

        stack = AsyncExitStack()
        client = await stack.enter_async_context(get_session().create_client(
            "bedrock-runtime", endpoint_url=self.spec["emulator"], region_name="us-east-1"))
        self.exits[state] = stack
        return client

    def call(self, op: str, fn: Callable[[], Any]) -> int:
        """One untimed call (one batch for ``aconverse8``), sync or awaited on the loop."""
        return self.event_loop().run_until_complete(fn()) if is_async(op) else fn()

    def close(self) -> None:
        if self.loop is not None:
            for stack in self.exits.values():
                try:
                    self.loop.run_until_complete(stack.aclose())
                except Exception:  # noqa: BLE001 - exiting anyway
                    pass
            self.loop.close()

    def switch(self, on: bool) -> None:
        """Switch the instrumentation on or off in this very process (the paired measurement's baseline)."""
        if on != self.on:
            (self.switch_on if on else self.switch_off)()
            self.on = on
            if on and self.kind in FRESH_CLIENTS_AFTER_SWITCH and on in self.op_sets:
                # OpenInference's uninstrument() also strips the clients it instrumented, and
                # instrument() does not take them back: the "on" blocks need a client made now.
                del self.op_sets[on]
                stack = self.exits.pop(on, None)
                if stack is not None:
                    self.event_loop().run_until_complete(stack.aclose())
        if on not in self.op_sets:
            self.op_sets[on] = self._operations(on)
            for key, fn in self.op_sets[on].items():  # warm the new client's connection and caches
                self.call(key, fn)
                if on:  # traced: their spans arrive with the block's (the proof counts them as calls)
                    self.untimed += CALLS_PER_OP.get(key, 1)
        self.ops = self.op_sets[on]

    def _otel_pipeline(self):
        """What `opentelemetry-instrument` sets up by default: OTLP traces, metrics and logs."""
        from opentelemetry import _logs, metrics, trace
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create()
        tp = TracerProvider(resource=resource)
        tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        mp = MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())], resource=resource)
        lp = LoggerProvider(resource=resource)
        lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        trace.set_tracer_provider(tp)
        metrics.set_meter_provider(mp)
        _logs.set_logger_provider(lp)
        self.providers = [tp, mp, lp]
        return tp, mp, lp

    # ---------------------------------------------------------------- per block
    def flush(self) -> None:
        if self.kind == "tap":
            from genai_tap.tap import get_tap

            get_tap().flush(10.0)
        elif self.kind == "ddtrace":
            from ddtrace.llmobs import LLMObs
            from ddtrace.trace import tracer

            tracer.flush()
            LLMObs.flush()
        for provider in self.providers:
            provider.force_flush(10_000)

    def run(self, op: str, n: int, on: bool = True) -> Dict[str, Any]:
        self.switch(on)
        fn = self.ops[op]
        cpu = time.process_time_ns  # every thread of the process: the app's, finishers, exporters
        gc.collect()
        cpu0 = cpu()
        if is_async(op):  # the whole block is one task on the loop: each call awaited before the next
            out = self.event_loop().run_until_complete(self._timed_async(fn, n))
        else:
            out = self._timed(fn, n)
        cpu1 = cpu()
        t0 = time.perf_counter_ns()
        self.flush()
        cpu2 = cpu()
        out.update(flush_us=(time.perf_counter_ns() - t0) / 1000, cpu_calls_us=(cpu1 - cpu0) / 1000,
                   cpu_flush_us=(cpu2 - cpu1) / 1000, untimed_calls=self.untimed)
        self.untimed = 0
        return out

    @staticmethod
    def _timed(fn: Callable[[], int], n: int) -> Dict[str, Any]:
        clock = time.perf_counter_ns
        tcpu = time.thread_time_ns  # the app's thread only
        times: List[int] = []
        thread_times: List[int] = []
        errors = 0
        first_error = None
        chunks = 0
        for _ in range(n):
            c0 = tcpu()
            t0 = clock()
            try:
                chunks = fn()
            except Exception as exc:  # noqa: BLE001 - counted; a config with errors is reported
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
            times.append(clock() - t0)
            thread_times.append(tcpu() - c0)
        return {"times": times, "thread_times": thread_times, "errors": errors, "error": first_error, "chunks": chunks}

    @staticmethod
    async def _timed_async(fn: Callable[[], Any], n: int) -> Dict[str, Any]:
        """:meth:`_timed` for a coroutine function: the same clocks around each ``await``."""
        clock = time.perf_counter_ns
        tcpu = time.thread_time_ns  # the loop's thread: the app's
        times: List[int] = []
        thread_times: List[int] = []
        errors = 0
        first_error = None
        chunks = 0
        for _ in range(n):
            c0 = tcpu()
            t0 = clock()
            try:
                chunks = await fn()
            except Exception as exc:  # noqa: BLE001 - counted; reported
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
            times.append(clock() - t0)
            thread_times.append(tcpu() - c0)
        return {"times": times, "thread_times": thread_times, "errors": errors, "error": first_error, "chunks": chunks}

    # ---------------------------------------------------------------- checks
    def appthread(self, n: int, ops: List[str]) -> Dict[str, Any]:
        """Count the Python calls made on the app's thread, for export/serialisation work.

        ``sys.setprofile`` sees this thread only, on every Python. (Not cProfile: from
        Python 3.12 it is built on ``sys.monitoring``, which sees every thread, so the
        exporters' own threads would be counted as the app's.)
        """
        self.switch(True)
        from collections import Counter

        out: Dict[str, Any] = {}
        for op in ops:
            fn = self.ops[op]
            calls: Counter = Counter()

            def count(frame: Any, event: str, _arg: Any) -> None:
                if event == "call":
                    calls[(frame.f_code.co_filename, frame.f_code.co_name)] += 1

            sys.setprofile(count)
            try:
                for _ in range(n):
                    self.call(op, fn)
            finally:
                sys.setprofile(None)
            self.flush()
            found: Dict[str, Dict[str, float]] = {}
            for (filename, func), ncalls in calls.items():
                for label, pattern in APP_THREAD_PATTERNS:
                    if pattern(filename, func):
                        entry = found.setdefault(label, {"calls": 0, "functions": 0, "examples": []})
                        entry["calls"] += ncalls / n
                        entry["functions"] += 1
                        if len(entry["examples"]) < 3:
                            entry["examples"].append(f"{_short(filename)}:{func}")
            out[op] = found
        return out

    def direct(self, n: int, reps: int) -> Dict[str, Any]:
        """genai-tap's own work on the app's thread, without the network.

        botocore's HTTP round trip (the part a stand-in can replace without changing what
        genai-tap sees) is swapped for canned responses of the real shapes, and genai-tap's
        hook is called around it exactly as botocore calls it: CPU of this thread per call
        (``thread_time``, garbage collection included), hooked minus the stand-in alone.
        The noise of a network call (±100 µs here) is gone, so this is the figure that
        resolves a few µs, and the per-chunk cost (streams of 20 vs 200 chunks).
        """
        import io
        from botocore.response import StreamingBody
        from genai_tap_bedrock.interceptor import traced_make_api_call
        from genai_tap.tap import get_tap

        self.switch(True)
        text = "The sky is blue because air scatters short wavelengths more. "
        usage = {"inputTokens": 12, "outputTokens": 40, "totalTokens": 52}
        meta = {"RequestId": "r", "HTTPStatusCode": 200, "RetryAttempts": 0, "HTTPHeaders": {
            "x-amzn-requestid": "r", "content-type": "application/json", "x-amzn-bedrock-invocation-latency": "300",
            "x-amzn-bedrock-input-token-count": "12", "x-amzn-bedrock-output-token-count": "40"}}
        out = json.dumps({"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                          "stopReason": "end_turn", "usage": usage}).encode()
        messages, nova_body = MESSAGES, NOVA_BODY

        class Events:
            """What botocore's EventStream yields for a ConverseStream of ``chunks`` text deltas."""

            def __init__(self, chunks: int) -> None:
                self.chunks = chunks

            def __iter__(self):
                yield {"messageStart": {"role": "assistant"}}
                for i in range(self.chunks):
                    yield {"contentBlockDelta": {"delta": {"text": f" word{i}"}, "contentBlockIndex": 0}}
                yield {"contentBlockStop": {"contentBlockIndex": 0}}
                yield {"messageStop": {"stopReason": "end_turn"}}
                yield {"metadata": {"usage": dict(usage), "metrics": {"latencyMs": 300}}}

            def close(self) -> None:
                pass

        def consume_stream(r: Any) -> None:
            for _ in r["stream"]:
                pass

        cases = {
            "invoke": (("InvokeModel", {"modelId": NOVA_LITE, "body": nova_body, "contentType": "application/json",
                                        "accept": "application/json"}),
                       lambda: {"ResponseMetadata": meta, "contentType": "application/json",
                                "body": StreamingBody(io.BytesIO(out), len(out))},
                       lambda r: r["body"].read()),
            "converse": (("Converse", {"modelId": NOVA_LITE, "messages": messages, "inferenceConfig": {"maxTokens": 256}}),
                         lambda: {"ResponseMetadata": meta, "stopReason": "end_turn", "usage": dict(usage),
                                  "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                                  "metrics": {"latencyMs": 300}},
                         lambda r: None),
            "stream20": (("ConverseStream", {"modelId": NOVA_LITE, "messages": messages}),
                         lambda: {"ResponseMetadata": meta, "stream": Events(20)}, consume_stream),
            "stream200": (("ConverseStream", {"modelId": NOVA_LITE, "messages": messages}),
                          lambda: {"ResponseMetadata": meta, "stream": Events(200)}, consume_stream),
        }

        def per_call(args: Any, make: Any, consume: Any, hooked: bool) -> float:
            results = [make() for _ in range(n)]
            it = iter(results)

            def wrapped(*_a: Any, **_k: Any) -> Any:  # botocore's own _make_api_call, minus the network
                return next(it)

            get_tap().flush(10.0)
            t0 = time.thread_time_ns()
            if hooked:
                for _ in range(n):
                    consume(traced_make_api_call(wrapped, self.client, args, {}))
            else:
                for _ in range(n):
                    consume(wrapped(*args))
            return (time.thread_time_ns() - t0) / n / 1000

        found: Dict[str, Any] = {}
        for name, (args, make, consume) in cases.items():
            per_call(args, make, consume, True)  # warm
            bare, hooked = [], []
            for _ in range(reps):
                bare.append(per_call(args, make, consume, False))
                hooked.append(per_call(args, make, consume, True))
            found[name] = {"bare_us": statistics.median(bare), "hooked_us": statistics.median(hooked),
                           "added_us": statistics.median([h - b for h, b in zip(hooked, bare)])}
        get_tap().flush(10.0)
        return found

    def embedcheck(self) -> Dict[str, Any]:
        """Is the embeddings response body handed to the app unread and uncopied?"""
        self.switch(True)
        r = self.client.invoke_model(modelId=TITAN_EMBED_V2, body=EMBED_BODY, contentType="application/json",
                                     accept="application/json")
        sb = r["body"]
        raw = getattr(sb, "_raw_stream", None)
        result = {
            "body_type": type(sb).__name__,
            "raw_stream_type": f"{type(raw).__module__}.{type(raw).__name__}",
            "amount_read_before_app": getattr(sb, "_amount_read", None),
        }
        data = sb.read()
        vec = json.loads(data)["embedding"]
        result["dims"] = len(vec)
        return result

    def stats(self) -> Dict[str, Any]:
        import resource

        return {"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rss_kb": _rss_kb()}


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/plugins/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _is_json_encode(filename: str, func: str) -> bool:
    return filename.endswith("json/encoder.py") and func in ("encode", "iterencode")


#: What must not run on the app's thread (label, predicate on (filename, function)).
APP_THREAD_PATTERNS: List[Tuple[str, Callable[[str, str], bool]]] = [
    ("otlp exporter", lambda f, fn: "opentelemetry/exporter/" in f),
    ("protobuf", lambda f, fn: "google/protobuf" in f or "opentelemetry/proto/" in f),
    ("requests (HTTP export)", lambda f, fn: "/requests/" in f),
    ("ddtrace writer/encoder", lambda f, fn: "ddtrace/internal/writer" in f or "_encoding" in f),
    ("json encode", _is_json_encode),
    ("span processor", lambda f, fn: "opentelemetry/sdk/trace/export/" in f or "opentelemetry/sdk/_shared_internal" in f),
]


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return 0


def _versions() -> Dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("botocore", "opentelemetry-sdk", "opentelemetry-instrumentation-botocore",
                 "opentelemetry-instrumentation-genai-bedrock", "opentelemetry-util-genai",
                 "opentelemetry-instrumentation-bedrock", "openinference-instrumentation-bedrock", "ddtrace",
                 "genai-tap", "wrapt", "aiobotocore", "aiohttp"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


MESSAGES = [{"role": "user", "content": [{"text": PROMPT}]}]
INFERENCE = {"maxTokens": 256, "temperature": 0.5, "topP": 0.9}
NOVA_BODY = json.dumps({"schemaVersion": "messages-v1", "messages": MESSAGES, "inferenceConfig": INFERENCE}).encode()
EMBED_BODY = json.dumps({"inputText": PROMPT, "dimensions": 1024, "normalize": True}).encode()


def build_operations(client: Any) -> Dict[str, Callable[[], int]]:
    """The measured calls; each returns the number of stream chunks it consumed (0 if none)."""
    messages, inference = MESSAGES, INFERENCE

    def invoking(model_id: str, body: bytes) -> Callable[[], int]:
        def invoke() -> int:
            client.invoke_model(modelId=model_id, body=body, contentType="application/json",
                                accept="application/json")["body"].read()
            return 0

        return invoke

    def converse() -> int:
        client.converse(modelId=NOVA_LITE, messages=messages, inferenceConfig=inference)
        return 0

    def stream() -> int:
        r = client.converse_stream(modelId=NOVA_LITE, messages=messages, inferenceConfig=inference)
        chunks = 0
        for event in r["stream"]:
            if "contentBlockDelta" in event:
                chunks += 1
        return chunks

    return {"invoke": invoking(NOVA_LITE, NOVA_BODY), "converse": converse,
            "embed": invoking(TITAN_EMBED_V2, EMBED_BODY), "stream": stream}


def build_async_operations(client: Any) -> Dict[str, Callable[[], Any]]:
    """The async calls through an aiobotocore client: coroutine functions returning the number of
    stream chunks consumed (0 if none), as an async app makes them."""
    import asyncio

    messages, inference = MESSAGES, INFERENCE

    async def ainvoke() -> int:
        r = await client.invoke_model(modelId=NOVA_LITE, body=NOVA_BODY, contentType="application/json",
                                      accept="application/json")
        await r["body"].read()
        return 0

    async def aconverse() -> int:
        await client.converse(modelId=NOVA_LITE, messages=messages, inferenceConfig=inference)
        return 0

    async def astream() -> int:
        r = await client.converse_stream(modelId=NOVA_LITE, messages=messages, inferenceConfig=inference)
        chunks = 0
        async for event in r["stream"]:
            if "contentBlockDelta" in event:
                chunks += 1
        return chunks

    async def aconverse8() -> int:
        await asyncio.gather(*(aconverse() for _ in range(CONCURRENT)))
        return 0

    return {"ainvoke": ainvoke, "aconverse": aconverse, "astream": astream, "aconverse8": aconverse8}


def worker_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    # Our protocol keeps the real stdout; anything else printed goes to stderr (the log).
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker(spec)
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.get("cmd")
        try:
            if cmd == "setup":
                reply = worker.setup()
            elif cmd == "run":
                reply = worker.run(msg["op"], msg["n"], msg.get("on", True))
            elif cmd == "appthread":
                reply = worker.appthread(msg["n"], msg["ops"])
            elif cmd == "embedcheck":
                reply = worker.embedcheck()
            elif cmd == "direct":
                reply = worker.direct(msg["n"], msg["reps"])
            elif cmd == "stats":
                reply = worker.stats()
            elif cmd == "exit":
                reply = {"bye": True}
            else:
                reply = {"error": f"unknown command {cmd!r}"}
        except BaseException as exc:  # noqa: BLE001 - the coordinator reports it
            reply = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        proto.write(json.dumps(reply) + "\n")
        if cmd == "exit":
            break
    try:
        worker.flush()
        worker.close()
    except Exception:  # noqa: BLE001
        pass
    return 0


# ============================================================================= sinks process


def msgpack_decode(data: bytes) -> Any:
    """Just enough MessagePack to read ddtrace's /v0.4/traces payloads (no third-party package)."""
    import struct

    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    def uint(n: int) -> int:
        return int.from_bytes(take(n), "big")

    def obj() -> Any:
        b = take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return mapping(b & 0x0F)
        if 0x90 <= b <= 0x9F:
            return [obj() for _ in range(b & 0x0F)]
        if 0xA0 <= b <= 0xBF:
            return take(b & 0x1F).decode("utf-8", "replace")
        if b == 0xC0:
            return None
        if b in (0xC2, 0xC3):
            return b == 0xC3
        if b in (0xC4, 0xC5, 0xC6):
            return take(uint(1 << (b - 0xC4)))
        if b in (0xC7, 0xC8, 0xC9):
            n = uint(1 << (b - 0xC7))
            take(1)
            return take(n)
        if b == 0xCA:
            return struct.unpack(">f", take(4))[0]
        if b == 0xCB:
            return struct.unpack(">d", take(8))[0]
        if 0xCC <= b <= 0xCF:
            return uint(1 << (b - 0xCC))
        if 0xD0 <= b <= 0xD3:
            n = 1 << (b - 0xD0)
            return int.from_bytes(take(n), "big", signed=True)
        if 0xD4 <= b <= 0xD8:
            take(1)
            return take(1 << (b - 0xD4))
        if 0xD9 <= b <= 0xDB:
            return take(uint(1 << (b - 0xD9))).decode("utf-8", "replace")
        if b in (0xDC, 0xDD):
            return [obj() for _ in range(uint(2 if b == 0xDC else 4))]
        if b in (0xDE, 0xDF):
            return mapping(uint(2 if b == 0xDE else 4))
        raise ValueError(f"msgpack: unknown type byte {b:#x} at {pos - 1}")

    def mapping(n: int) -> Dict[Any, Any]:
        out = {}
        for _ in range(n):
            key = obj()
            out[key] = obj()
        return out

    return obj()


# One OTLP/HTTP receiver and one dummy Datadog agent per configuration; counts what arrives.

#: A span with one of these read the response: output tokens (GenAI conventions, OpenInference).
USAGE_KEYS = frozenset({"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"})


def sinks_main(names_csv: str) -> int:
    import gzip
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    lock = threading.Lock()
    counts: Dict[str, Dict[str, int]] = {}

    def bump(name: str, key: str, n: int) -> None:
        with lock:
            counts[name][key] = counts[name].get(key, 0) + n

    class Base(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
        cfg = ""

        def log_message(self, *args: Any) -> None:
            pass

        def body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                data = gzip.decompress(data)
            return data

        def reply(self, status: int, data: bytes, ctype: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the sender exited mid-request: counted already
                pass

    class Otlp(Base):
        def do_POST(self) -> None:  # noqa: N802
            data = self.body()
            path = self.path.split("?")[0]
            try:
                if path == "/v1/traces":
                    req = ExportTraceServiceRequest.FromString(data)
                    spans = genai = usage = 0
                    for rs in req.resource_spans:
                        for ss in rs.scope_spans:
                            for s in ss.spans:
                                spans += 1
                                keys = {kv.key for kv in s.attributes}
                                # gen_ai.*: the GenAI conventions; llm.*: OpenInference's own
                                if any(k.startswith(("gen_ai.", "llm.")) for k in keys):
                                    genai += 1
                                if keys & USAGE_KEYS:
                                    usage += 1
                    bump(self.cfg, "otlp_spans", spans)
                    bump(self.cfg, "otlp_genai_spans", genai)
                    bump(self.cfg, "otlp_usage_spans", usage)
                elif path == "/v1/metrics":
                    req = ExportMetricsServiceRequest.FromString(data)
                    points = sum(
                        len(getattr(m, m.WhichOneof("data")).data_points)
                        for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                        if m.WhichOneof("data")
                    )
                    bump(self.cfg, "otlp_metric_points", points)
                elif path == "/v1/logs":
                    req = ExportLogsServiceRequest.FromString(data)
                    n = sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
                    bump(self.cfg, "otlp_log_records", n)
            except Exception as exc:  # noqa: BLE001
                bump(self.cfg, "otlp_decode_errors", 1)
                sys.stderr.write(f"sinks: {self.cfg} {path}: {exc!r}\n")
            self.reply(200, b"", "application/x-protobuf")

    class Agent(Base):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/info"):
                info = {"version": "bench", "endpoints": ["/v0.4/traces", "/v0.5/traces", "/evp_proxy/v2/",
                                                          "/evp_proxy/v2/api/v2/llmobs"]}
                return self.reply(200, json.dumps(info).encode(), "application/json")
            self.reply(200, b"{}", "application/json")

        def do_PUT(self) -> None:  # noqa: N802
            self.do_POST()

        def do_POST(self) -> None:  # noqa: N802
            data = self.body()
            path = self.path.split("?")[0]
            if path.endswith("/traces"):
                bump(self.cfg, "dd_apm_traces", int(self.headers.get("X-Datadog-Trace-Count") or 0))
                if path.endswith("/v0.4/traces"):
                    # LLMObs spans ride inside the APM trace as meta_struct["_llmobs"] (ddtrace's APM_AGENT mode)
                    try:
                        spans = [s for t in msgpack_decode(data) for s in t]
                        bump(self.cfg, "dd_apm_spans", len(spans))
                        bump(self.cfg, "dd_llmobs_spans",
                             sum(1 for s in spans if "_llmobs" in (s.get("meta_struct") or {})))
                    except Exception as exc:  # noqa: BLE001
                        bump(self.cfg, "dd_decode_errors", 1)
                        sys.stderr.write(f"sinks: {self.cfg} {path}: {exc!r}\n")
                return self.reply(200, b'{"rate_by_service":{}}', "application/json")
            if path.endswith("/api/v2/llmobs"):
                try:
                    payload = json.loads(data)
                    items = payload if isinstance(payload, list) else [payload]
                    n = sum(len(item.get("spans") or []) for item in items if isinstance(item, dict))
                    bump(self.cfg, "dd_llmobs_spans", n)
                except ValueError:
                    bump(self.cfg, "dd_decode_errors", 1)
            else:
                bump(self.cfg, "dd_other_posts", 1)
            self.reply(200, b"{}", "application/json")

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                return  # a worker that exited with its keep-alive connection open: nothing to report
            super().handle_error(request, client_address)

    ports: Dict[str, Dict[str, int]] = {}
    for name in [n for n in names_csv.split(",") if n]:
        counts[name] = {}
        ports[name] = {}
        for key, cls in (("otlp", Otlp), ("agent", Agent)):
            handler = type(f"{cls.__name__}_{name}", (cls,), {"cfg": name})
            server = Server(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            ports[name][key] = server.server_address[1]
    sys.stdout.write(json.dumps(ports) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() == "counts":
            with lock:
                snapshot = json.dumps(counts)
            sys.stdout.write(snapshot + "\n")
            sys.stdout.flush()
    return 0


def emulator_main() -> int:
    from genai_tap.emulator import Emulator, server

    # The emulator writes headers and body separately; with Nagle's algorithm on, each
    # response then waits ~40 ms for the client's delayed ACK. Not what Bedrock does.
    server._Handler.disable_nagle_algorithm = True
    try:
        emu = Emulator(keep_requests=1, stream_chunks=STREAM_CHUNKS).start()
    except TypeError:  # an emulator without streaming
        emu = Emulator(keep_requests=1).start()
    sys.stdout.write(emu.url + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # until the coordinator closes our stdin
    emu.stop()
    return 0


# ============================================================================= coordinator


class WorkerHandle:
    """A child process speaking one JSON line per request and per reply."""

    def __init__(self, name: str, cmd: List[str], env: Dict[str, str], cpu: Optional[int]) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     env=env, text=True, bufsize=1, cwd=str(ROOT))
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(self.proc.pid, {cpu})
            except OSError:
                pass

    def send(self, msg: Dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> Dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"{self.name}: no answer in {timeout:.0f} s (see {self.log_path})")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: worker exited with {self.proc.wait()} (see {self.log_path})")
        return json.loads(line)

    def request(self, msg: Dict[str, Any], timeout: float = 300) -> Dict[str, Any]:
        self.send(msg)
        return self.receive(timeout)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.request({"cmd": "exit"}, timeout=30)
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def say(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def project_version(name: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def ensure_venv(name: str, aio: bool = False) -> Path:
    """Create (or reuse) ``.venv-bench/<name>`` with that peer and the project's pinned versions.

    With ``aio``, ``.venv-bench/<name>-aio``, which also has aiobotocore (a venv of its own, so
    that the sync-only run measures the peers exactly as before: some import aiobotocore
    when they instrument, if it is installed).
    """
    path = BENCH_VENVS / (f"{name}-aio" if aio else name)
    reqs = list(PEER_PACKAGES[name])
    pins = PINNED_FROM_PROJECT + ([] if name == "ddtrace" else OTEL_FROM_PROJECT) + (ASYNC_FROM_PROJECT if aio else [])
    if name == "ddtrace":
        pins = pins + ["ddtrace"]
    for pkg in pins:
        version = project_version(pkg)
        reqs.append(f"{pkg}=={version}" if version else pkg)
    if name == "ddtrace" and not project_version("ddtrace"):
        reqs.append("ddtrace")
    marker = path / ".bench-requirements"
    wanted = "\n".join(sorted(reqs))
    python = path / "bin" / "python"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    say(f"bench: creating {path.relative_to(ROOT)} ({', '.join(reqs)}) ...")
    BENCH_VENVS.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    log = BENCH_VENVS / f"{path.name}.pip.log"
    with open(log, "w") as fh:
        rc = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", *reqs],
                            stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise RuntimeError(f"pip install into {path} failed (see {log})")
    marker.write_text(wanted)
    return python


def base_env() -> Dict[str, str]:
    """The environment without any tracing settings of the caller's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "GENAI_TAP_", "DD_", "AWS_", "TRACELOOP_")) and k != "PYTHONPATH"}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def config_env(cfg: Config, ports: Dict[str, int]) -> Dict[str, str]:
    env = base_env()
    if cfg.kind != "bare":
        env.update(
            OTEL_SERVICE_NAME=f"bench-{cfg.name}",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{ports['otlp']}",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_METRIC_EXPORT_INTERVAL="3600000",  # exported by the flush after each block
            DD_TRACE_AGENT_URL=f"http://127.0.0.1:{ports['agent']}",
            DD_SERVICE=f"bench-{cfg.name}",
            DD_ENV="bench",
            DD_LLMOBS_ENABLED="1",
            DD_LLMOBS_AGENTLESS_ENABLED="0",
            DD_LLMOBS_ML_APP="genai-tap-bench",
            DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
            DD_REMOTE_CONFIGURATION_ENABLED="false",
            DD_TRACE_STARTUP_LOGS="false",
        )
    env.update(cfg.env)
    return env


def start_services(names: List[str]) -> Tuple[subprocess.Popen, str, subprocess.Popen, Dict[str, Dict[str, int]]]:
    """The emulator and the receivers/agents of configurations ``names``, each in a process of its own:
    (emulator process, its URL, sinks process, {name: {"otlp": port, "agent": port}}). Both stop
    when their stdin is closed."""
    py = str(VENV / "bin" / "python")
    env = base_env()
    env["GENAI_TAP_ENABLED"] = "false"
    emulator = subprocess.Popen([py, str(SCRIPT), "--emulator"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, text=True, cwd=str(ROOT))
    assert emulator.stdout is not None
    url = emulator.stdout.readline().strip()
    sinks = subprocess.Popen([py, str(SCRIPT), "--sinks", ",".join(names)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env, text=True, cwd=str(ROOT))
    assert sinks.stdout is not None
    return emulator, url, sinks, json.loads(sinks.stdout.readline())


def stop_services(*procs: Optional[subprocess.Popen]) -> None:
    """Stop what :func:`start_services` started: close their stdin, kill what does not exit."""
    for proc in procs:
        if proc is None:
            continue
        try:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            proc.kill()


def median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quantiles(values: List[float]) -> Tuple[float, float]:
    if len(values) < 4:
        return (min(values), max(values)) if values else (float("nan"), float("nan"))
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def ratio_interval(ours: List[float], theirs: List[float], level: float = 0.90, resamples: int = 2000,
                   seed: int = 7) -> Optional[Tuple[float, float]]:
    """An interval for median(ours) / median(theirs) over rounds (percentile bootstrap).

    Round ``i`` of every process ran at the same time (blocks interleaved), so rounds are
    resampled in pairs: a slow moment of the machine stays on both sides of the ratio.
    None when there are too few rounds or the peer's median is not above zero.
    """
    n = min(len(ours), len(theirs))
    if n < 8:
        return None
    import random

    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        ref = statistics.median(theirs[i] for i in picks)
        if ref > 0:
            ratios.append(statistics.median(ours[i] for i in picks) / ref)
    if len(ratios) < resamples * 0.9:
        return None
    ratios.sort()
    cut = (1 - level) / 2
    return ratios[int(cut * len(ratios))], ratios[min(len(ratios) - 1, int((1 - cut) * len(ratios)))]


def _ratio_note(value: Optional[float], ref: Optional[float], interval: str) -> str:
    """``; ratio 0.52x, 90 % interval [0.30 .. 0.78]`` for a target line, when there is an interval."""
    return f"; ratio {value / ref:.2f}x, 90 % interval{interval}" if interval and value is not None and ref else ""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        wanted_ops = args.ops or (ASYNC_RUN_OPS if args.aio else [k for k, _ in OPERATIONS])
        self.ops = [(k, label) for k, label in ALL_OPERATIONS if k in wanted_ops]
        #: a run with async operations: the peers' venvs with aiobotocore, a loop in every worker
        self.aio = any(is_async(k) for k, _ in self.ops)
        run = "async" if self.aio else "sync"
        self.cfgs = [c for c in configurations()
                     if c.role == "bare" or (c.name in args.configs if args.configs else run in c.runs)]
        for cfg in self.cfgs:
            if self.aio and cfg.async_label:
                cfg.label = cfg.async_label
        self.ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.pin = args.pin and self.ncpu >= 2 and hasattr(os, "sched_setaffinity")
        cpus = sorted(os.sched_getaffinity(0)) if self.pin else []
        self.worker_cpu = cpus[0] if cpus else None
        self.service_cpu = cpus[-1] if cpus else None
        # results
        self.blocks: Dict[str, Dict[str, List[float]]] = {}  # cfg -> op -> per-round medians (µs)
        self.proof: Dict[str, Dict[str, Dict[str, int]]] = {}  # cfg -> op -> counters delivered
        self.calls: Dict[str, Dict[str, int]] = {}  # cfg -> op -> timed calls made
        self.flush_us: Dict[str, Dict[str, List[float]]] = {}
        self.cpu_us: Dict[str, Dict[str, List[float]]] = {}  # CPU of all threads per call, incl. flush
        self.thread_us: Dict[str, Dict[str, List[float]]] = {}  # per-round median CPU of the app's thread per call
        # the paired measurement: per round, median with the instrumentation on minus median with it
        # switched off, in the same process (for bare boto3: two identical blocks, i.e. the noise)
        self.paired: Dict[str, Dict[str, List[float]]] = {}
        self.paired_thread: Dict[str, Dict[str, List[float]]] = {}
        self.unavailable: Dict[str, str] = {}
        self.stream_chunks: Optional[int] = None
        self.memory: Dict[str, Dict[str, int]] = {}
        self.appthread: Dict[str, Any] = {}
        self.embedcheck: Dict[str, Any] = {}
        self.direct: Dict[str, Any] = {}  # cfg -> case -> genai-tap's own app-thread CPU per call, no network
        self.startup: List[Dict[str, Any]] = []
        self.started = time.time()

    # ---------------------------------------------------------------- services
    def start_services(self) -> None:
        self.emulator, self.emulator_url, self.sinks, self.ports = start_services(
            [c.name for c in self.cfgs if c.kind != "bare"])
        for proc in (self.emulator, self.sinks):
            if self.service_cpu is not None:
                try:
                    os.sched_setaffinity(proc.pid, {self.service_cpu})
                except OSError:
                    pass
        if self.service_cpu is not None:
            os.sched_setaffinity(0, {self.service_cpu})  # the coordinator itself stays off the workers' core
        say(f"bench: emulator {self.emulator_url}; receivers/agents for {len(self.ports)} configurations"
            + (f"; workers pinned to CPU {self.worker_cpu}, emulator and the rest to CPU {self.service_cpu}"
               if self.pin else ""))

    def counts(self) -> Dict[str, Dict[str, int]]:
        assert self.sinks.stdin is not None and self.sinks.stdout is not None
        self.sinks.stdin.write("counts\n")
        self.sinks.stdin.flush()
        return json.loads(self.sinks.stdout.readline())

    def stop_services(self) -> None:
        stop_services(getattr(self, "emulator", None), getattr(self, "sinks", None))

    # ---------------------------------------------------------------- workers
    def start_workers(self) -> None:
        for cfg in self.cfgs:
            try:
                python = str(VENV / "bin" / "python") if cfg.venv is None else str(ensure_venv(cfg.venv, self.aio))
            except Exception as exc:  # noqa: BLE001
                cfg.failed = f"could not install: {exc}"
                say(f"bench: {cfg.name}: {cfg.failed}")
                continue
            ports = self.ports.get(cfg.name, {"otlp": 9, "agent": 9})
            spec = {"name": cfg.name, "kind": cfg.kind, "emulator": self.emulator_url, "async": self.aio}
            cfg.worker = WorkerHandle(cfg.name, [python, str(SCRIPT), "--worker", json.dumps(spec)],
                                      config_env(cfg, ports), self.worker_cpu)
        # set up all at once; then wait for each
        live = [c for c in self.cfgs if c.worker is not None]
        for cfg in live:
            cfg.worker.send({"cmd": "setup"})
        for cfg in live:
            try:
                reply = cfg.worker.receive(timeout=300)
            except Exception as exc:  # noqa: BLE001
                cfg.failed = str(exc)
                continue
            if "error" in reply:
                cfg.failed = f"set-up failed: {reply['error']}"
                say(f"bench: {cfg.name}: {cfg.failed}\n{reply.get('traceback', '')}")
                continue
            cfg.setup = reply
        # operations the emulator (and bare boto3) supports
        bare = next(c for c in self.cfgs if c.name == "bare-a")
        if bare.failed:
            raise SystemExit(f"bench: bare boto3 failed: {bare.failed}")
        for key, _label in self.ops:
            probe = bare.setup["probes"][key]
            if not probe["ok"]:
                self.unavailable[key] = probe["error"]
            elif key == "stream":
                self.stream_chunks = probe["chunks"]
        for key, why in self.unavailable.items():
            say(f"bench: {key}: unavailable here ({why}); skipped")
        self.ops = [(k, label) for k, label in self.ops if k not in self.unavailable]
        for cfg in live:
            if cfg.failed or cfg.kind == "bare":
                continue
            bad = {k: p["error"] for k, p in cfg.setup["probes"].items() if not p["ok"] and k not in self.unavailable}
            for key in [k for k in bad if is_async(k)]:  # a peer that breaks async calls: the rest is measured
                cfg.op_failed[key] = f"its calls raise: {bad.pop(key)}"
                say(f"bench: {cfg.name}: {key}: {cfg.op_failed[key]}")
            if bad:
                cfg.failed = "; ".join(f"{k}: {v}" for k, v in bad.items())
                say(f"bench: {cfg.name}: calls fail under it: {cfg.failed}")

    def live(self) -> List[Config]:
        return [c for c in self.cfgs if c.worker is not None and not c.failed]

    def _run(self, cfg: Config, op: str, n: int, on: bool) -> Optional[Dict[str, Any]]:
        try:
            reply = cfg.worker.request({"cmd": "run", "op": op, "n": n, "on": on})
        except Exception as exc:  # noqa: BLE001
            cfg.failed = str(exc)
            say(f"bench: {cfg.name}: {exc}")
            return None
        if "error" in reply and "times" not in reply:
            cfg.failed = reply["error"]
            return None
        if reply["errors"]:
            why = f"{op}: {reply['errors']}/{n} calls raised: {reply['error']}"
            if is_async(op):
                cfg.op_failed[op] = why
            else:
                cfg.failed = why
            say(f"bench: {cfg.name}: {why}")
            return None
        return reply

    def block(self, cfg: Config, op: str, n: int, record: bool, off_first: bool = False) -> None:
        """One turn of ``cfg``: a block of calls with its instrumentation on and, when recorded,
        a block in the same process with it switched off (before or after, alternating)."""
        if op in cfg.op_failed:
            return
        before = self.counts().get(cfg.name, {})
        off = self._run(cfg, op, n, on=False) if record and off_first else None
        reply = self._run(cfg, op, n, on=True)
        if reply is None:
            return
        if record and not off_first:
            off = self._run(cfg, op, n, on=False)
        if not record or off is None:
            return
        self.paired.setdefault(cfg.name, {}).setdefault(op, []).append(
            (median(reply["times"]) - median(off["times"])) / 1000.0)
        self.paired_thread.setdefault(cfg.name, {}).setdefault(op, []).append(
            (median(reply["thread_times"]) - median(off["thread_times"])) / 1000.0)
        after = self.counts().get(cfg.name, {})
        delivered = self.proof.setdefault(cfg.name, {}).setdefault(op, {})
        for key, value in after.items():
            delivered[key] = delivered.get(key, 0) + value - before.get(key, 0)
        made = n * CALLS_PER_OP.get(op, 1) + reply.get("untimed_calls", 0) + off.get("untimed_calls", 0)
        self.calls.setdefault(cfg.name, {})[op] = self.calls.get(cfg.name, {}).get(op, 0) + made
        self.blocks.setdefault(cfg.name, {}).setdefault(op, []).append(median(reply["times"]) / 1000.0)
        self.flush_us.setdefault(cfg.name, {}).setdefault(op, []).append(reply["flush_us"] / n)
        self.thread_us.setdefault(cfg.name, {}).setdefault(op, []).append(median(reply["thread_times"]) / 1000.0)
        self.cpu_us.setdefault(cfg.name, {}).setdefault(op, []).append(
            (reply["cpu_calls_us"] + reply["cpu_flush_us"]) / n)

    def verify_async(self, cfg: Config, op: str, calls: int, before: Dict[str, int], after: Dict[str, int]) -> None:
        """Does ``cfg`` trace async calls at all? One that delivered no span for its warm-up calls is
        reported as not tracing async (never timed, so never shown as fast)."""
        got = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        found = (got.get("otlp_genai_spans", 0) if "otlp" in cfg.channels else 0) + (
            max(got.get("dd_apm_traces", 0), got.get("dd_llmobs_spans", 0)) if "dd" in cfg.channels else 0)
        if not found:
            cfg.op_failed[op] = f"not traced: no span delivered for {calls} async calls"
            say(f"bench: {cfg.name}: {op}: {cfg.op_failed[op]}")

    def run_rounds(self) -> None:
        args = self.args
        say(f"bench: warm-up, {args.warmup} calls per operation per configuration ...")
        for cfg in self.live():
            for op, _ in self.ops:
                before = self.counts().get(cfg.name, {})
                self.block(cfg, op, args.warmup, record=False)
                if is_async(op) and cfg.kind != "bare" and op not in cfg.op_failed and not cfg.failed:
                    self.verify_async(cfg, op, args.warmup * CALLS_PER_OP.get(op, 1), before,
                                      self.counts().get(cfg.name, {}))
        t_start = time.time()
        for r in range(args.rounds):
            live = self.live()
            k = r % len(live)
            order = live[k:] + live[:k]
            if r % 2:
                order.reverse()
            ops = self.ops[r % len(self.ops):] + self.ops[:r % len(self.ops)]
            for op, _ in ops:
                for cfg in order:
                    if not cfg.failed:
                        self.block(cfg, op, args.calls, record=True, off_first=bool(r % 2))
            elapsed = time.time() - t_start
            say(f"bench: round {r + 1}/{args.rounds} done ({elapsed:.0f} s)")

    def checks(self) -> None:
        for cfg in self.live():
            if cfg.name == "bare-b":
                continue
            reply = cfg.worker.request({"cmd": "appthread", "n": self.args.profile_calls,
                                        "ops": [op for op, _ in self.ops]})
            if "error" in reply:
                say(f"bench: {cfg.name}: app-thread profile failed: {reply['error']}")
            else:
                self.appthread[cfg.name] = reply
            if "embed" in dict(self.ops) and cfg.kind != "bare":
                reply = cfg.worker.request({"cmd": "embedcheck"})
                if "error" in reply:
                    say(f"bench: {cfg.name}: embeddings check failed: {reply['error']}")
                else:
                    self.embedcheck[cfg.name] = reply
        for cfg in self.cfgs:
            if cfg.worker is None:
                continue
            try:
                self.memory[cfg.name] = cfg.worker.request({"cmd": "stats"}, timeout=30)
            except Exception:  # noqa: BLE001
                pass
        # last: its thousands of calls in a burst would raise the peak memory measured above
        for cfg in self.live():
            if cfg.kind == "tap" and self.args.direct_calls:
                reply = cfg.worker.request({"cmd": "direct", "n": self.args.direct_calls, "reps": 7})
                if "error" in reply:
                    say(f"bench: {cfg.name}: direct measurement failed: {reply['error']}")
                else:
                    self.direct[cfg.name] = reply

    def stop_workers(self) -> None:
        for cfg in self.cfgs:
            if cfg.worker is not None:
                cfg.worker.close()

    # ---------------------------------------------------------------- start-up cost
    def measure_startup(self) -> None:
        runs = self.args.startup_runs
        env = base_env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with bytecode cached, as installed apps run
        env["GENAI_TAP_SINKS"] = "otel"
        otlp = f"http://127.0.0.1:{next(iter(self.ports.values()))['otlp']}" if self.ports else "http://127.0.0.1:9"
        agent = f"http://127.0.0.1:{next(iter(self.ports.values()))['agent']}" if self.ports else "http://127.0.0.1:9"
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
        py = str(VENV / "bin" / "python")
        site_dir = subprocess.run([str(VENV / "bin" / "genai-tap"), "sitecustomize"], capture_output=True,
                                  text=True, env=env).stdout.strip()
        with_site = dict(env, PYTHONPATH=site_dir)
        cmds: List[Dict[str, Any]] = [
            {"name": "python -c pass", "cmd": [py, "-c", "pass"], "env": env, "group": "project"},
            {"name": "genai-tap run python -c pass", "cmd": [str(VENV / "bin" / "genai-tap"), "run", py, "-c", "pass"],
             "env": env, "group": "project", "vs": "python -c pass"},
            {"name": "PYTHONPATH=$(genai-tap sitecustomize) python -c pass", "cmd": [py, "-c", "pass"],
             "env": with_site, "group": "project", "vs": "python -c pass", "bootstrap": True},
            {"name": "python -c 'import boto3'", "cmd": [py, "-c", "import boto3"], "env": env, "group": "project"},
            {"name": "PYTHONPATH=$(genai-tap sitecustomize) python -c 'import boto3'", "cmd": [py, "-c", "import boto3"],
             "env": with_site, "group": "project", "vs": "python -c 'import boto3'"},
        ]
        otel = BENCH_VENVS / "otel-botocore" / "bin"
        if (otel / "opentelemetry-instrument").exists():
            oenv = dict(env, OTEL_SERVICE_NAME="startup", OTEL_METRIC_EXPORT_INTERVAL="3600000")
            cmds += [
                {"name": "[otel venv] python -c pass", "cmd": [str(otel / "python"), "-c", "pass"], "env": oenv},
                {"name": "opentelemetry-instrument python -c pass",
                 "cmd": [str(otel / "opentelemetry-instrument"), str(otel / "python"), "-c", "pass"], "env": oenv,
                 "vs": "[otel venv] python -c pass"},
            ]
        dd = BENCH_VENVS / "ddtrace" / "bin"
        if (dd / "ddtrace-run").exists():
            denv = dict(env, DD_TRACE_AGENT_URL=agent, DD_LLMOBS_ENABLED="1", DD_LLMOBS_AGENTLESS_ENABLED="0",
                        DD_LLMOBS_ML_APP="startup", DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
                        DD_REMOTE_CONFIGURATION_ENABLED="false", DD_TRACE_STARTUP_LOGS="false")
            cmds += [
                {"name": "[ddtrace venv] python -c pass", "cmd": [str(dd / "python"), "-c", "pass"], "env": denv},
                {"name": "ddtrace-run python -c pass",
                 "cmd": [str(dd / "ddtrace-run"), str(dd / "python"), "-c", "pass"], "env": denv,
                 "vs": "[ddtrace venv] python -c pass"},
            ]
        say(f"bench: start-up, {len(cmds)} commands x {runs} interleaved runs (bytecode cached) ...")
        for c in cmds:
            c["times"] = []
            c["error"] = None
            for _ in range(3):  # warm the page cache and write bytecode
                p = subprocess.run(c["cmd"], env=c["env"], capture_output=True, text=True)
                if p.returncode != 0:
                    c["error"] = (p.stderr or "").strip()[-300:] or f"exit {p.returncode}"
        for i in range(runs):
            order = cmds[i % len(cmds):] + cmds[:i % len(cmds)]
            for c in order:
                if c["error"]:
                    continue
                t0 = time.perf_counter()
                subprocess.run(c["cmd"], env=c["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                c["times"].append((time.perf_counter() - t0) * 1000.0)
        by_name = {c["name"]: c for c in cmds}
        for c in cmds:
            c["median_ms"] = median(c["times"]) if c["times"] else float("nan")
        for c in cmds:
            base = by_name.get(c.get("vs", ""))
            c["added_ms"] = c["median_ms"] - base["median_ms"] if base else None
        self.startup = [{k: v for k, v in c.items() if k not in ("cmd", "env")} for c in cmds]

    # ---------------------------------------------------------------- results
    def added(self, name: str, op: str) -> Optional[List[float]]:
        """Per-round added µs of configuration ``name`` over the mean of the two bare runs."""
        rounds = self.blocks.get(name, {}).get(op)
        a = self.blocks.get("bare-a", {}).get(op)
        b = self.blocks.get("bare-b", {}).get(op)
        if not rounds or not a or not b:
            return None
        n = min(len(rounds), len(a), len(b))
        return [rounds[i] - (a[i] + b[i]) / 2 for i in range(n)]

    def proven(self, cfg: Config, op: str) -> Tuple[bool, str]:
        """Did every timed call of this configuration deliver its spans where they should go?"""
        calls = self.calls.get(cfg.name, {}).get(op, 0)
        got = self.proof.get(cfg.name, {}).get(op, {})
        if not calls:
            return False, "no calls"
        notes = []
        ok = True
        if "otlp" in cfg.channels:
            per = got.get("otlp_genai_spans", 0) / calls
            tokens = got.get("otlp_usage_spans", 0) / calls
            notes.append(f"otlp {per:.2f}" + (f" (tokens {tokens:.2f})" if self.aio else ""))
            ok = ok and per >= 1.0
        if "dd" in cfg.channels:
            apm = got.get("dd_apm_traces", 0) / calls
            llmobs = got.get("dd_llmobs_spans", 0) / calls
            notes.append(f"apm {apm:.2f} llmobs {llmobs:.2f}")
            ok = ok and max(apm, llmobs) >= 1.0
        return ok, ", ".join(notes)

    def result(self, cfg: Config, op: str, paired: bool = False) -> Optional[float]:
        if (cfg.failed and cfg.name not in self.blocks) or op in cfg.op_failed:
            return None
        per_round = self.paired.get(cfg.name, {}).get(op) if paired else self.added(cfg.name, op)
        if per_round is None:
            return None
        if cfg.kind != "bare" and not self.proven(cfg, op)[0]:
            return None
        return median(per_round)

    def report(self) -> str:
        out: List[str] = []
        w = out.append
        args = self.args
        bare = next(c for c in self.cfgs if c.name == "bare-a")
        versions = dict(bare.setup.get("versions", {}))
        for cfg in self.cfgs:
            for k, v in cfg.setup.get("versions", {}).items():
                versions.setdefault(k, v)
        w("genai-tap overhead benchmark (scripts/bench.py)")
        w(f"  machine: {self.ncpu} CPUs, Python {bare.setup.get('python')}, "
          + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
        w(f"  {args.rounds} rounds x {args.calls} calls per block, {args.warmup} warm-up calls; "
          f"configurations interleaved, order rotated each round"
          + ("; workers pinned to one CPU, emulator/receivers to the other" if self.pin else "; not pinned to CPUs"))
        w("  added = per-round (config median - mean of the two bare medians), median over rounds; "
          "ratio = added / best peer's added")
        if self.aio:
            w(f"  async operations: aiobotocore {versions.get('aiobotocore', '?')} clients on one event loop per worker, "
              f"each call awaited before the next; 'async Converse x{CONCURRENT}': {CONCURRENT} calls awaited together "
              "(asyncio.gather), µs per batch; peers' venvs .venv-bench/<peer>-aio")
        w("")
        ops = self.ops
        best = self.best_peers(paired=False)
        width = 30
        head = f"{'':{width}}" + "".join(f"{label:>22}" for _, label in ops)
        w("Median added latency per call over bare boto3, µs (ratio to the best peer)")
        w(head)
        base_line = f"{'bare boto3, absolute':{width}}"
        noise_line = f"{'noise |bare a - bare b|':{width}}"
        for op, _ in ops:
            a = self.blocks.get("bare-a", {}).get(op, [])
            b = self.blocks.get("bare-b", {}).get(op, [])
            n = min(len(a), len(b))
            base = median([(a[i] + b[i]) / 2 for i in range(n)]) if n else float("nan")
            noise = median([abs(a[i] - b[i]) for i in range(n)]) if n else float("nan")
            base_line += f"{base:>22.1f}"
            noise_line += f"{f'{noise:.1f} ({100 * noise / base:.1f}%)':>22}"
        w(base_line)
        w(noise_line)
        for cfg in self.cfgs:
            if cfg.kind == "bare":
                continue
            line = f"{cfg.label:{width}}"
            for op, _ in ops:
                value = self.result(cfg, op)
                if value is None:
                    cell = "FAILED" if (cfg.failed or self.calls.get(cfg.name, {}).get(op)) else "n/a"
                    if self.calls.get(cfg.name, {}).get(op) and not self.proven(cfg, op)[0]:
                        cell = "FAILED (no spans)"
                    if op in cfg.op_failed:
                        cell = "not traced" if cfg.op_failed[op].startswith("not traced") else "FAILED"
                else:
                    ref = best[op][0]
                    ratio = f" ({value / ref:.2f}x)" if ref and ref > 0 else ""
                    cell = f"{value:.1f}{ratio}"
                line += f"{cell:>22}"
            w(line)
        w(f"{'best peer':{width}}" + "".join(f"{best[op][1][:21]:>22}" for op, _ in ops))
        w("")
        best_paired = self.best_peers(paired=True)
        self.paired_table(w, head, width, best_paired)
        # spread
        w("Spread of the per-round added µs (25th-75th percentile)")
        for cfg in self.cfgs:
            if cfg.kind == "bare" or cfg.name not in self.blocks:
                continue
            line = f"{cfg.label:{width}}"
            for op, _ in ops:
                per = self.added(cfg.name, op)
                cell = f"{quantiles(per)[0]:.0f} .. {quantiles(per)[1]:.0f}" if per else "-"
                line += f"{cell:>22}"
            w(line)
        w("")
        # CPU: the app's thread, and all threads
        for title, table in (
            ("CPU time of the app's thread added per call (thread_time; immune to waiting for a CPU), µs", self.thread_us),
            ("CPU time added per call, all threads of the process (the app's, genai-tap's finisher, exporters; "
             "including each block's flush and export), µs", self.cpu_us),
        ):
            w(title)
            w(head)
            for cfg in self.cfgs:
                if cfg.name not in table or cfg.name == "bare-a":
                    continue
                line = f"{cfg.label:{width}}"
                for op, _ in ops:
                    mine = table.get(cfg.name, {}).get(op)
                    a = table.get("bare-a", {}).get(op)
                    b = table.get("bare-b", {}).get(op)
                    if cfg.name == "bare-b" and a and mine:
                        k = min(len(mine), len(a))
                        cell = f"{median([abs(mine[i] - a[i]) for i in range(k)]):.1f}"
                    elif mine and a and b and self.result(cfg, op) is not None:
                        k = min(len(mine), len(a), len(b))
                        cell = f"{median([mine[i] - (a[i] + b[i]) / 2 for i in range(k)]):.1f}"
                    else:
                        cell = "-"
                    line += f"{cell:>22}"
                w(line.replace(f"{cfg.label:{width}}", f"{'noise |bare a - bare b|':{width}}", 1)
                  if cfg.name == "bare-b" else line)
            w("")
        # proof
        w("Proof: spans delivered per timed call (GenAI spans at its OTLP receiver; APM traces / LLMObs spans "
          "at its agent)")
        for cfg in self.cfgs:
            if cfg.kind == "bare":
                continue
            if cfg.failed and cfg.name not in self.blocks:
                w(f"  {cfg.label:{width}} FAILED: {cfg.failed}")
                continue
            cells = []
            for op, _ in ops:
                if op in cfg.op_failed:
                    cells.append(f"{op} {cfg.op_failed[op]}")
                    continue
                ok, note = self.proven(cfg, op)
                cells.append(f"{op} {note}{'' if ok else ' FAILED'}")
            w(f"  {cfg.label:{width}} " + "; ".join(cells))
            if cfg.failed:
                w(f"  {'':{width}} (stopped: {cfg.failed})")
        w("")
        # stream per chunk
        if "stream" in dict(ops) or "astream" in dict(ops):
            chunks = self.stream_chunks or STREAM_CHUNKS
            for sop, cop in (("stream", "converse"), ("astream", "aconverse")):
                if sop not in dict(ops):
                    continue
                w(f"{dict(ops)[sop]}: {self.stream_chunks} content chunks per call; added µs per chunk = added / {chunks}")
                w(f"  (and, for comparison, the marginal cost: (stream added - Converse added) / {chunks})")
                for cfg in self.cfgs:
                    value = self.result(cfg, sop) if cfg.kind != "bare" else None
                    if value is not None:
                        conv = self.result(cfg, cop) if cop in dict(ops) else None
                        marginal = f"   marginal {(value - conv) / chunks:6.2f} µs/chunk" if conv is not None else ""
                        w(f"  {cfg.label:{width}} {value / chunks:8.2f} µs/chunk{marginal}")
                w("")
        else:
            w("ConverseStream: not measured (" + ("the emulator has no ConverseStream"
                                                  if "stream" in self.unavailable else "not in this run") + ")")
            w("")
        # genai-tap's own cost without the network
        if self.direct:
            w(f"genai-tap's own CPU on the app's thread per call, without the network (botocore's HTTP round trip "
              f"replaced by canned responses of the real shapes; median of 7 x {args.direct_calls} calls, garbage "
              "collection included), µs")
            w(f"{'':{width}}{'InvokeModel':>14}{'Converse':>14}{'Stream 20':>14}{'Stream 200':>14}{'per chunk':>14}")
            for cfg in self.cfgs:
                d = self.direct.get(cfg.name)
                if not d:
                    continue
                per_chunk = (d["stream200"]["added_us"] - d["stream20"]["added_us"]) / 180
                w(f"{cfg.label:{width}}" + "".join(f"{d[k]['added_us']:>14.1f}" for k in ("invoke", "converse", "stream20", "stream200"))
                  + f"{per_chunk:>14.2f}")
            w("  (per chunk = (Stream 200 - Stream 20) / 180: what each further chunk costs)")
            w("")
        # memory
        w("Peak memory (RSS) per worker process, MB (delta over bare boto3)")
        bare_rss = self.memory.get("bare-a", {}).get("maxrss_kb")
        for cfg in self.cfgs:
            mem = self.memory.get(cfg.name)
            if not mem:
                continue
            peak = mem["maxrss_kb"] / 1024
            delta = f" (+{(mem['maxrss_kb'] - bare_rss) / 1024:.1f})" if bare_rss and cfg.kind != "bare" else ""
            w(f"  {cfg.label:{width}} {peak:8.1f}{delta}")
        w("")
        # start-up
        if self.startup:
            w(f"Start-up, ms (median of {args.startup_runs} interleaved runs each, bytecode cached; "
              "added = over the same venv's plain python)")
            for c in self.startup:
                if c["error"]:
                    w(f"  {c['name']:62} FAILED: {c['error']}")
                    continue
                added = f"  (+{c['added_ms']:.1f})" if c.get("added_ms") is not None else ""
                w(f"  {c['name']:62} {c['median_ms']:8.1f}{added}")
            w("")
        # app thread
        if self.appthread:
            w(f"On the app's thread (its Python calls, counted with sys.setprofile, {args.profile_calls} calls per operation): "
              "calls per app call, beyond what bare boto3 makes itself")
            for cfg in self.cfgs:
                if cfg.kind == "bare" or cfg.name not in self.appthread:
                    continue
                parts = [f"{label}: " + ", ".join(f"{op} {n:g}" for op, n in per_op.items())
                         for label, per_op in self.appthread_extra(cfg.name).items()]
                w(f"  {cfg.label:{width}} " + ("; ".join(parts) if parts else "nothing"))
            w("  (looked for: " + ", ".join(label for label, _ in APP_THREAD_PATTERNS) + "; 'span processor' is "
              "the SDK's BatchSpanProcessor.on_start/on_end (a no-op / a queue append); 'ddtrace writer/encoder' is ddtrace encoding "
              "the finished trace)")
            w("")
        # targets
        if self.aio:
            self.async_vs_sync(w, width)
            w("Async targets, judged on the paired measurement (instrumentation on/off in the same process)")
            for line in self.async_targets(best_paired, paired=True):
                w("  " + line)
            w("")
            w("The same targets judged on the across-process measurement (over the two bare processes)")
            for line in self.async_targets(best, paired=False):
                w("  " + line)
            w("  (the sync targets, start-up and the measurement without the network: make bench)")
            return "\n".join(out)
        w("Targets (issue 7), judged on the paired measurement (instrumentation on/off in the same process)")
        for line in self.targets(best_paired, paired=True):
            w("  " + line)
        w("")
        w("The same targets judged on the across-process measurement (over the two bare processes)")
        for line in self.targets(best, paired=False):
            w("  " + line)
        return "\n".join(out)

    def async_pairs(self) -> List[Tuple[str, str, str]]:
        """(async op, its label, the sync op it is compared with) for the async operations in this run
        whose sync operation ran too (the concurrent batch is compared with nothing)."""
        ran = dict(self.ops)
        return [(op, label, SYNC_OF[op]) for op, label in self.ops
                if is_async(op) and op not in CALLS_PER_OP and SYNC_OF[op] in ran]

    def async_vs_sync(self, w: Callable[[str], None], width: int) -> None:
        """Each configuration's async added latency over its own sync added latency, same operation."""
        pairs = self.async_pairs()
        if not pairs:
            return
        w("Async over sync, paired: each configuration's added latency on the async operation / on the same sync "
          "operation (90 % interval), and the app thread's CPU added, async / sync, µs")
        w(f"{'':{width}}" + "".join(f"{label:>34}" for _, label, _ in pairs))
        for cfg in self.cfgs:
            if cfg.kind == "bare" or cfg.name not in self.paired:
                continue
            line = f"{cfg.label:{width}}"
            for op, _, sop in pairs:
                a, b = self.result(cfg, op, paired=True), self.result(cfg, sop, paired=True)
                ta = self.paired_thread.get(cfg.name, {}).get(op)
                tb = self.paired_thread.get(cfg.name, {}).get(sop)
                if a is None or b is None:
                    cell = "not traced" if op in cfg.op_failed else "-"
                else:
                    found = ratio_interval(self.paired[cfg.name][op], self.paired[cfg.name][sop])
                    span = f" [{found[0]:.2f}..{found[1]:.2f}]" if found else ""
                    ratio = f"{a / b:.2f}x{span}" if b > 0 else "-"
                    cpu = f"; {median(ta):.0f}/{median(tb):.0f}" if ta and tb else ""
                    cell = ratio + cpu
                line += f"{cell:>34}"
            w(line)
        w("")

    def async_targets(self, best: Dict[str, Tuple[Optional[float], str]], paired: bool) -> List[str]:
        lines = []
        cfg = {c.name: c for c in self.cfgs}

        def verdict(ok: Optional[bool]) -> str:
            return "PASS" if ok else ("FAIL" if ok is not None else "N/A ")

        # 1. OTel sink <= 1/2 of the best peer that traces async, on every async operation
        tap = cfg.get("tap-otel")
        for op, label in self.ops:
            if not is_async(op) or tap is None:
                continue
            v = self.result(tap, op, paired)
            ref = best[op][0]
            # a best peer adding nothing measurable (noise) leaves nothing to judge against
            ok = None if ref is None or ref <= 0 else (v is not None and v <= ref / 2)
            span = self.interval(tap, best[op][1], op) if paired else ""
            unit = f" per batch of {CALLS_PER_OP[op]}" if op in CALLS_PER_OP else ""
            lines.append(f"{verdict(ok)} OTel sink <= 1/2 best peer tracing async, {label}: {_fmt(v)} µs{unit} vs limit "
                         f"{_fmt(ref / 2 if ref else None)} µs ({best[op][1]} adds {_fmt(ref)}"
                         + (", not above the noise: not judged)" if ref is not None and ref <= 0 else ")")
                         + _ratio_note(v, ref, span))
        # 2. every genai-tap configuration: async adds no more than its own sync path, same operation
        for c in self.cfgs:
            if c.kind != "tap":
                continue
            for op, label, sop in self.async_pairs():
                v, ref = self.result(c, op, paired), self.result(c, sop, paired)
                ok = None if ref is None else (v is not None and v <= ref)
                span = ""
                if paired and v is not None and ref:
                    found = ratio_interval(self.paired[c.name][op], self.paired[c.name][sop])
                    span = f" [{found[0]:.2f} .. {found[1]:.2f}]" if found else ""
                cpu = ""
                ta, tb = self.paired_thread.get(c.name, {}).get(op), self.paired_thread.get(c.name, {}).get(sop)
                if paired and ta and tb:
                    cpu = f"; app thread's CPU {median(ta):.0f} vs {median(tb):.0f} µs"
                lines.append(f"{verdict(ok)} {c.label}: async <= its sync, {label}: {_fmt(v)} µs vs {_fmt(ref)} µs"
                             + _ratio_note(v, ref, span) + cpu)
        # who does not trace async at all
        for c in self.cfgs:
            missing = [op for op, _ in self.ops if c.op_failed.get(op, "").startswith("not traced")]
            if missing:
                lines.append(f"     {c.label}: does not trace async calls ({', '.join(missing)}: no span delivered)")
            broken = {op: why for op, why in c.op_failed.items() if not why.startswith("not traced")}
            for op, why in broken.items():
                lines.append(f"     {c.label}: {op} not measured: {why}")
            if any(is_async(op) for op, _ in self.ops) and c.async_role == "info" and c.kind != "bare":
                lines.append(f"     {c.label}: a reference row for the async operations (no GenAI span), "
                             "not a peer there")
        return lines

    def interval(self, cfg: Config, ref_label: str, op: str) -> str:
        """`` [a-b]``: the 90 % interval of ``cfg``'s paired ratio to the configuration labelled ``ref_label``."""
        ref = next((c for c in self.cfgs if c.label == ref_label), None)
        ours = self.paired.get(cfg.name, {}).get(op)
        theirs = self.paired.get(ref.name, {}).get(op) if ref else None
        found = ratio_interval(ours, theirs) if ours and theirs else None
        return f" [{found[0]:.2f} .. {found[1]:.2f}]" if found else ""

    def best_peers(self, paired: bool) -> Dict[str, Tuple[Optional[float], str]]:
        best: Dict[str, Tuple[Optional[float], str]] = {}
        for op, _ in self.ops:
            cands = [(self.result(c, op, paired), c.label) for c in self.cfgs if role_for(c, op) == "peer"]
            cands = [(v, n) for v, n in cands if v is not None]
            best[op] = min(cands) if cands else (None, "-")
        return best

    def paired_table(self, w: Callable[[str], None], head: str, width: int,
                     best: Dict[str, Tuple[Optional[float], str]]) -> None:
        """Added latency with each process as its own baseline: the process-to-process differences
        (memory layout, hash seeds) that make two identical bare processes differ cancel out."""
        w("Paired, within each process: median added latency per call, µs, = per round (median with the "
          "instrumentation on - median with it switched off in the same process, blocks alternating), "
          "median over rounds (ratio to the best peer, same method)")
        w(head)
        for name in ("bare-a", "bare-b"):
            per = self.paired.get(name, {})
            w(f"{f'noise: {name} on - off':{width}}" + "".join(
                f"{(f'{median(per[op]):.1f}' if per.get(op) else '-'):>22}" for op, _ in self.ops))
        for cfg in self.cfgs:
            if cfg.kind == "bare":
                continue
            line = f"{cfg.label:{width}}"
            for op, _ in self.ops:
                value = self.result(cfg, op, paired=True)
                ref = best[op][0]
                cell = "-" if value is None else f"{value:.1f}" + (f" ({value / ref:.2f}x)" if ref and ref > 0 else "")
                line += f"{cell:>22}"
            w(line)
        w(f"{'best peer':{width}}" + "".join(f"{best[op][1][:21]:>22}" for op, _ in self.ops))
        w("")
        w("Paired ratios with a 90 % interval (bootstrap over rounds, resampled in pairs: how far the ratio "
          "could move by chance in a run like this one)")
        ddtrace = next((c for c in self.cfgs if c.name == "ddtrace"), None)
        groups: List[Tuple[str, Callable[[str], str], List[Config]]] = [
            ("to the best peer", lambda op: best[op][1], [c for c in self.cfgs if c.role in ("tap", "info")])]
        if ddtrace is not None:  # not for the async operations: there ddtrace makes APM spans only
            groups.append(("to ddtrace's own integration", lambda op: "" if is_async(op) else ddtrace.label,
                           [c for c in self.cfgs if "datadog" in c.env.get("GENAI_TAP_SINKS", "")]))
        labelled = {c.label: c for c in self.cfgs}
        for title, ref_label, members in groups:
            w(f"  {title}")
            for cfg in members:
                line = f"{cfg.label:{width}}"
                for op, _ in self.ops:
                    value = self.result(cfg, op, paired=True)
                    ref_cfg = labelled.get(ref_label(op))
                    ref = self.result(ref_cfg, op, paired=True) if ref_cfg else None
                    cell = "-" if value is None or not ref or ref <= 0 else (
                        f"{value / ref:.2f}x" + self.interval(cfg, ref_label(op), op))
                    line += f"{cell:>22}"
                w(line)
        w("")
        w("Paired: spread of the per-round added µs (25th-75th percentile), and the app thread's CPU added (median)")
        for cfg in self.cfgs:
            if cfg.name not in self.paired:
                continue
            line = f"{cfg.label:{width}}"
            for op, _ in self.ops:
                per = self.paired[cfg.name].get(op)
                cpu = self.paired_thread.get(cfg.name, {}).get(op)
                cell = f"{quantiles(per)[0]:.0f} .. {quantiles(per)[1]:.0f}; cpu {median(cpu):.0f}" if per and cpu else "-"
                line += f"{cell:>22}"
            w(line)
        w("")

    def appthread_extra(self, name: str) -> Dict[str, Dict[str, float]]:
        """label -> op -> calls per app call on the app's thread, minus bare boto3's own."""
        found = self.appthread.get(name, {})
        bare = self.appthread.get("bare-a", {})
        out: Dict[str, Dict[str, float]] = {}
        for op, _ in self.ops:
            for label, _ in APP_THREAD_PATTERNS:
                n = found.get(op, {}).get(label, {}).get("calls", 0) - bare.get(op, {}).get(label, {}).get("calls", 0)
                if round(n, 1):
                    out.setdefault(label, {})[op] = round(n, 1)
        return out

    def targets(self, best: Dict[str, Tuple[Optional[float], str]], paired: bool) -> List[str]:
        lines = []
        result = lambda c, op: self.result(c, op, paired)  # noqa: E731
        cfg = {c.name: c for c in self.cfgs}

        def verdict(ok: Optional[bool]) -> str:
            return "PASS" if ok else ("FAIL" if ok is not None else "N/A ")

        sync_ops = [(op, label) for op, label in self.ops if not is_async(op)]
        # 1. OTel sink alone <= 1/4 of the best peer on every operation
        for op, label in sync_ops:
            v = result(cfg["tap-otel"], op) if "tap-otel" in cfg else None
            ref = best[op][0]
            ok = None if v is None or ref is None else v <= ref / 4
            if v is None and "tap-otel" in cfg:
                ok = False
            span = self.interval(cfg["tap-otel"], best[op][1], op) if paired and "tap-otel" in cfg else ""
            lines.append(f"{verdict(ok)} OTel sink <= 1/4 best peer, {label}: "
                         f"{_fmt(v)} µs vs limit {_fmt(ref / 4 if ref else None)} µs ({best[op][1]} adds {_fmt(ref)})"
                         + _ratio_note(v, ref, span))
        # 2. per stream chunk
        if "stream" in dict(self.ops):
            v = result(cfg["tap-otel"], "stream") if "tap-otel" in cfg else None
            chunks = self.stream_chunks or STREAM_CHUNKS
            per = v / chunks if v is not None else None
            lines.append(f"{verdict(None if per is None else per <= 2.5)} OTel sink <= 2.5 µs per stream chunk: "
                         f"{_fmt(per, 2)} µs/chunk ({chunks} chunks)")
            if self.stream_chunks != STREAM_CHUNKS:
                lines.append(f"     note: the stream had {self.stream_chunks} chunks, not {STREAM_CHUNKS}")
        d = self.direct.get("tap-otel")
        if d:
            per = (d["stream200"]["added_us"] - d["stream20"]["added_us"]) / 180
            lines.append(f"{verdict(per <= 2.5)} OTel sink <= 2.5 µs per further stream chunk, without the network: "
                         f"{per:.2f} µs/chunk (20 vs 200 chunks)")
        else:
            why = "the emulator has no ConverseStream" if "stream" in self.unavailable else "not in this run (--ops)"
            lines.append(f"N/A  OTel sink <= 2.5 µs per stream chunk: {why}")
        # 3. embeddings: no parse, no copy
        checks = {n: c for n, c in self.embedcheck.items() if n.startswith("tap-")}
        if checks:
            bad = [n for n, c in checks.items()
                   if c.get("amount_read_before_app") != 0 or not c.get("raw_stream_type", "").startswith("urllib3")]
            lines.append(f"{verdict(not bad)} embeddings body neither parsed nor copied: the app gets botocore's own "
                         f"StreamingBody over the {next(iter(checks.values()))['raw_stream_type']} response, "
                         f"0 bytes read before the app reads it ({', '.join(sorted(checks))})"
                         + (f"; FAILED for {', '.join(bad)}" if bad else ""))
        else:
            lines.append("N/A  embeddings body check: no genai-tap configuration ran")
        # 4. both sinks <= 1/4 of ddtrace
        for name in ("tap-both-content", "tap-both"):
            if name not in cfg:
                continue
            for op, label in sync_ops:
                v = result(cfg[name], op)
                ref = result(cfg["ddtrace"], op) if "ddtrace" in cfg else None
                ok = None if ref is None else (v is not None and v <= ref / 4)
                span = self.interval(cfg[name], cfg["ddtrace"].label, op) if paired and "ddtrace" in cfg else ""
                lines.append(f"{verdict(ok)} {cfg[name].label} <= 1/4 ddtrace, {label}: {_fmt(v)} µs vs limit "
                             f"{_fmt(ref / 4 if ref else None)} µs (ddtrace adds {_fmt(ref)})"
                             + _ratio_note(v, ref, span))
        # 5. bootstrap
        boot = next((c for c in self.startup if c.get("bootstrap")), None)
        if boot and not boot["error"]:
            run = next((c for c in self.startup if c["name"].startswith("genai-tap run")), None)
            lines.append(f"{verdict(boot['added_ms'] < 30)} bootstrap < 30 ms when the app never uses Bedrock: "
                         f"+{boot['added_ms']:.1f} ms (sitecustomize)"
                         + (f"; genai-tap run adds +{run['added_ms']:.1f} ms including the launcher's own "
                            "interpreter start" if run and run.get("added_ms") is not None else ""))
            imp = next((c for c in self.startup if c["name"].startswith("PYTHONPATH") and "boto3" in c["name"]), None)
            if imp and not imp["error"] and imp.get("added_ms") is not None:
                lines.append(f"     note: an app that imports boto3 but never calls Bedrock pays +{imp['added_ms']:.1f} ms "
                             "more at import (the plugin installs when botocore.client is imported)")
        else:
            lines.append("N/A  bootstrap: not measured")
        # 6. app thread
        if "tap-otel" in self.appthread:
            extra = self.appthread_extra("tap-otel")
            offenders = {k: v for k, v in extra.items() if k != "span processor"}
            lines.append(f"{verdict(not offenders)} no export or serialisation on the app's thread (OTel sink, content "
                         "off): " + ("only the span processor's on_start/on_end (a no-op / a queue append), per a profile of the "
                                     "calling thread"
                                     if not offenders else "; ".join(f"{k}: {v}" for k, v in offenders.items())))
            if "tap-otel-content" in self.appthread:
                extra = self.appthread_extra("tap-otel-content").get("json encode")
                if extra:
                    lines.append("     with content on, the OTel sink JSON-encodes the messages into span attributes "
                                 "on the app's thread (building the span): " +
                                 ", ".join(f"{op} {n:g}" for op, n in extra.items()) + " json encodes per call")
        return lines


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def coordinator(args: argparse.Namespace) -> int:
    if Path(sys.prefix).resolve() != VENV.resolve() and (VENV / "bin" / "python").exists() \
            and not os.environ.get("GENAI_TAP_BENCH_REEXEC"):
        os.environ["GENAI_TAP_BENCH_REEXEC"] = "1"
        os.execv(str(VENV / "bin" / "python"), [str(VENV / "bin" / "python"), str(SCRIPT)] + sys.argv[1:])
    bench = Bench(args)
    try:
        bench.start_services()
        bench.start_workers()
        bench.run_rounds()
        bench.checks()
    finally:
        bench.stop_workers()
    try:
        if not args.skip_startup:
            bench.measure_startup()
    finally:
        bench.stop_services()
    text = bench.report()
    print(text, flush=True)
    say(f"bench: {time.time() - bench.started:.0f} s in all; worker logs in {LOGS.relative_to(ROOT)}/")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "blocks_us": bench.blocks, "proof": bench.proof, "calls": bench.calls, "memory": bench.memory,
            "startup": bench.startup, "appthread": bench.appthread, "embedcheck": bench.embedcheck,
            "flush_us_per_call": bench.flush_us, "cpu_us_per_call": bench.cpu_us,
            "thread_cpu_us_per_call": bench.thread_us, "unavailable": bench.unavailable,
            "paired_added_us": bench.paired, "paired_thread_cpu_us": bench.paired_thread, "direct": bench.direct,
            "failed": {c.name: c.failed for c in bench.cfgs if c.failed},
            "async_not_measured": {c.name: c.op_failed for c in bench.cfgs if c.op_failed},
        }, indent=1))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="rounds of interleaved blocks (default 30)")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per block (default 50)")
    parser.add_argument("--warmup", type=int, default=40, help="untimed calls per operation first (default 40)")
    parser.add_argument("--startup-runs", type=int, default=30, help="runs of each start-up command (default 30)")
    parser.add_argument("--profile-calls", type=int, default=50, help="calls profiled for the app-thread check")
    parser.add_argument("--direct-calls", type=int, default=None,
                        help="calls per repetition of the no-network measurement of genai-tap's own cost "
                             "(0: skip; default 2000, 0 with --async)")
    parser.add_argument("--configs", nargs="*", help="only these configurations (bare ones always run)")
    parser.add_argument("--ops", nargs="*", help="only these operations: " + ", ".join(k for k, _ in ALL_OPERATIONS))
    parser.add_argument("--async", dest="aio", action="store_true",
                        help="the async operations through aiobotocore (" + ", ".join(k for k, _ in ASYNC_OPERATIONS)
                        + ") beside the sync ones they are compared with, against the peers that trace "
                        "aiobotocore (make bench-async); without --ops: " + " ".join(ASYNC_RUN_OPS))
    parser.add_argument("--skip-startup", action="store_true", help="do not measure start-up")
    parser.add_argument("--pin", action="store_true",
                        help="pin every worker to one CPU and the emulator/receivers to the other (a 1-vCPU app: "
                             "genai-tap's finisher thread then shares the app's CPU)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: 3 rounds x 30 calls")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sinks", help=argparse.SUPPRESS)
    parser.add_argument("--emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    if args.sinks is not None:
        return sinks_main(args.sinks)
    if args.emulator:
        return emulator_main()
    if args.aio or (args.ops and any(is_async(op) for op in args.ops)):
        args.aio = True
        args.skip_startup = True  # start-up is the same either way: make bench measures it
        if args.direct_calls is None:
            args.direct_calls = 0  # genai-tap's sync hook without the network: make bench
    if args.direct_calls is None:
        args.direct_calls = 2000
    if args.quick:
        args.rounds, args.calls, args.warmup, args.startup_runs, args.profile_calls = 3, 30, 10, 5, 10
        args.direct_calls = min(args.direct_calls, 300)
    return coordinator(args)


if __name__ == "__main__":
    sys.exit(main())
