#!/usr/bin/env python3
"""Instructions per call, counted by valgrind: a noise-free companion to ``make bench``.

``scripts/bench.py`` times calls; on a small shared machine its figures move by
10-15 % between identical processes, which is more than genai-tap adds. This
script counts instead: each configuration's app runs under ``valgrind
--tool=callgrind --separate-threads=yes``, makes warm-up calls, then ``CALLS``
measured calls between two dumps (and once more with three times as many calls,
for the other threads), against the project's emulator (its own
process, not under valgrind). Instructions executed are the same from run to
run, so the comparison with the peers is exact for what it measures: the work
each adds per call on the app's thread, and on its other threads (genai-tap's
finisher, exporters) while the calls run. Not time: a cache miss or a wait for
the GIL costs no instruction.

    make bench-instructions     # or: .venv/bin/python scripts/bench_instructions.py [--calls N] [--ops ...]

Needs ``valgrind`` (Debian: ``apt-get install valgrind``) and the peers'
virtualenvs that ``make bench`` creates under ``.venv-bench/``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin" / "python"
BENCH_VENVS = ROOT / ".venv-bench"

#: name -> (label, python, environment, role)
CONFIGS: Dict[str, Tuple[str, Path, Dict[str, str], str]] = {
    "bare": ("bare boto3", VENV, {}, "bare"),
    "tap-otel": ("genai-tap OTel sink", VENV, {"GENAI_TAP_SINKS": "otel"}, "tap"),
    "tap-both": ("genai-tap both sinks", VENV, {"GENAI_TAP_SINKS": "otel,datadog"}, "tap"),
    "openllmetry": ("OpenLLMetry (no content)", BENCH_VENVS / "openllmetry" / "bin" / "python",
                    {"TRACELOOP_TRACE_CONTENT": "false"}, "peer"),
    "otel-genai-bedrock": ("otel-instr.-genai-bedrock", BENCH_VENVS / "otel-genai-bedrock" / "bin" / "python", {},
                           "peer"),
    "ddtrace": ("ddtrace Bedrock + LLMObs", BENCH_VENVS / "ddtrace" / "bin" / "python", {}, "ddtrace"),
}
OPS = ["invoke", "converse", "embed", "stream"]
LABELS = {"invoke": "InvokeModel", "converse": "Converse", "embed": "Embed 1024", "stream": "ConverseStream"}

# The app each configuration runs: set-up as in scripts/bench.py, warm-up calls, then the
# measured calls between two os.sched_yield() calls, where callgrind dumps its counters.
APP = r'''
import json, os, sys
kind, op, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind in ("tap-otel", "tap-both"):
    import genai_tap.auto  # noqa: F401
elif kind in ("openllmetry", "otel-genai-bedrock"):
    from opentelemetry import metrics, trace
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    mp = MeterProvider(metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(mp)
    if kind == "openllmetry":
        from opentelemetry.instrumentation.bedrock import BedrockInstrumentor
        BedrockInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
    else:
        from opentelemetry.instrumentation.genai.bedrock import BedrockInstrumentor
        BedrockInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
elif kind == "ddtrace":
    from ddtrace import patch
    from ddtrace.llmobs import LLMObs
    LLMObs.enable(agentless_enabled=False, integrations_enabled=False)
    patch(botocore=True)
import boto3
client = boto3.client("bedrock-runtime", endpoint_url=os.environ["EMULATOR"], region_name="us-east-1")
messages = [{"role": "user", "content": [{"text": "In two sentences, explain why the sky is blue."}]}]
inference = {"maxTokens": 256, "temperature": 0.5, "topP": 0.9}
body = json.dumps({"schemaVersion": "messages-v1", "messages": messages, "inferenceConfig": inference}).encode()
def invoke():
    client.invoke_model(modelId="amazon.nova-lite-v1:0", body=body, contentType="application/json",
                        accept="application/json")["body"].read()
def converse():
    client.converse(modelId="amazon.nova-lite-v1:0", messages=messages, inferenceConfig=inference)
embed_body = json.dumps({"inputText": "In two sentences, explain why the sky is blue.", "dimensions": 1024,
                         "normalize": True}).encode()
def embed():
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=embed_body, contentType="application/json",
                        accept="application/json")["body"].read()
def stream():
    for _ in client.converse_stream(modelId="amazon.nova-lite-v1:0", messages=messages, inferenceConfig=inference)["stream"]:
        pass
fn = {"invoke": invoke, "converse": converse, "embed": embed, "stream": stream}[op]
for _ in range(20):
    fn()
def settle():
    if kind.startswith("tap-"):
        from genai_tap.finisher import finisher
        finisher.drain(120)  # every call finished (nothing exported here)
settle()
os.sched_yield()  # callgrind dumps here: the measured part starts
for _ in range(calls):
    fn()
settle()
os.sched_yield()  # and here: it ends
os._exit(0)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sink_server(port: int) -> subprocess.Popen:
    """Accepts OTLP/HTTP and Datadog agent requests and discards them."""
    code = f"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def _ok(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{{}}")
    do_POST = do_PUT = _ok
    def do_GET(self):
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{{}}")
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", {port}), H).serve_forever()
"""
    return subprocess.Popen([str(VENV), "-c", code])


def _run(name: str, op: str, calls: int, emulator: str, sink: int, workdir: Path) -> Tuple[int, int]:
    """(instructions of the app's thread in the measured part, of every other thread in the whole run)."""
    _label, python, extra, _role = CONFIGS[name]
    app = workdir / "app.py"
    out = workdir / f"{name}-{op}-{calls}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_TAP_", "DD_", "TRACELOOP_"))}
    env.update(EMULATOR=emulator, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", PYTHONHASHSEED="0",
               GENAI_TAP_CAPTURE_CONTENT="false", OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink}",
               OTEL_METRIC_EXPORT_INTERVAL="3600000", OTEL_BSP_SCHEDULE_DELAY="3600000",
               DD_TRACE_AGENT_URL=f"http://127.0.0.1:{sink}", DD_LLMOBS_ML_APP="bench", DD_LLMOBS_ENABLED="1",
               DD_LLMOBS_AGENTLESS_ENABLED="0", DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
               DD_REMOTE_CONFIGURATION_ENABLED="false", DD_TRACE_STARTUP_LOGS="false", **extra)
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--dump-before=sched_yield",
           f"--callgrind-out-file={out}.%p", str(python), str(app), name, op, str(calls)]
    proc = subprocess.run(cmd, env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=1800)
    main_part, others = None, 0
    for path in glob.glob(f"{out}.*"):
        summary = re.search(r"^summary: (\d+)", Path(path).read_text(), re.M)
        if not summary:
            continue
        # <out>.<pid>.<part>-01: the app's thread up to each sched_yield (part 2: the measured calls);
        # <out>.<pid>-<thread>: each thread's count at exit (for the other threads: the whole run)
        m = re.search(r"\.\d+\.(\d+)-01$", path)
        if m:
            if m.group(1) == "2":
                main_part = int(summary.group(1))
        elif not path.endswith("-01"):
            others += int(summary.group(1))
    if main_part is None:
        raise RuntimeError(f"{name} {op}: no measured part (exit {proc.returncode}): {proc.stderr[-800:]}")
    return main_part, others


def measure(name: str, op: str, calls: int, emulator: str, sink: int, workdir: Path) -> Tuple[float, float]:
    """Per call: (instructions on the app's thread, on the other threads). Two runs, of ``calls``
    and 3 x ``calls`` measured calls: the other threads' counts differ by 2 x ``calls`` calls."""
    short = _run(name, op, calls, emulator, sink, workdir)
    long = _run(name, op, 3 * calls, emulator, sink, workdir)
    return long[0] / (3 * calls), max(0, long[1] - short[1]) / (2 * calls)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=60, help="measured calls per configuration (default 60)")
    parser.add_argument("--ops", nargs="*", default=OPS, choices=OPS)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once (default 2)")
    parser.add_argument("--json", help="also write the counts to this file")
    args = parser.parse_args(argv)
    if not shutil.which("valgrind"):
        print("bench-instructions: valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    configs = [c for c in args.configs if c == "bare" or CONFIGS[c][1].exists()]
    for c in set(args.configs) - set(configs):
        print(f"bench-instructions: {c}: {CONFIGS[c][1]} missing (run `make bench` once to create it); skipped",
              file=sys.stderr)
    if "bare" not in configs:
        configs.insert(0, "bare")
    emu_port, sink_port = _free_port(), _free_port()
    emulator = subprocess.Popen([str(VENV), "-m", "genai_tap.cli", "emulator", "--port", str(emu_port)],
                                env=dict(os.environ, GENAI_TAP_ENABLED="false"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sink = _sink_server(sink_port)
    counts: Dict[str, Dict[str, Tuple[float, float]]] = {}
    started = time.time()
    try:
        time.sleep(2.0)
        with tempfile.TemporaryDirectory(prefix="genai-tap-instr-") as tmp:
            workdir = Path(tmp)
            (workdir / "app.py").write_text(APP)
            runs = [(c, op) for op in args.ops for c in configs]
            print(f"bench-instructions: {len(runs)} runs under callgrind, {args.jobs} at a time ...", file=sys.stderr)
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                futures = {run: pool.submit(measure, run[0], run[1], args.calls, f"http://127.0.0.1:{emu_port}",
                                            sink_port, workdir) for run in runs}
                for (c, op), fut in futures.items():
                    try:
                        counts.setdefault(c, {})[op] = fut.result()
                    except Exception as exc:  # noqa: BLE001 - reported, the rest still runs
                        print(f"bench-instructions: {c} {op}: {exc}", file=sys.stderr)
    finally:
        emulator.kill()
        sink.kill()
    print(report(counts, configs, args.ops, args.calls))
    print(f"bench-instructions: {time.time() - started:.0f} s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(counts, indent=1))
    return 0


def report(counts: Dict[str, Dict[str, Tuple[float, float]]], configs: List[str], ops: List[str], calls: int) -> str:
    out: List[str] = []
    w = out.append
    width = 28
    w(f"Instructions added per call over bare boto3 (callgrind, {calls} measured calls; thousands; "
      "ratio to the best OpenTelemetry peer on the app's thread)")
    w(f"{'':{width}}" + "".join(f"{LABELS[op] + ' app':>22}{'other threads':>15}" for op in ops))

    def per_call(c: str, op: str) -> Optional[Tuple[float, float]]:
        return counts.get(c, {}).get(op)

    bare = {op: per_call("bare", op) for op in ops}
    w(f"{'bare boto3, absolute':{width}}" + "".join(
        f"{(f'{bare[op][0] / 1000:.0f}' if bare[op] else '-'):>22}{'':>15}" for op in ops))
    added: Dict[str, Dict[str, Tuple[float, float]]] = {}
    for c in configs:
        if c == "bare":
            continue
        for op in ops:
            got = per_call(c, op)
            if got and bare[op]:
                added.setdefault(c, {})[op] = (got[0] - bare[op][0], got[1])
    best: Dict[str, Optional[float]] = {}
    for op in ops:
        peers = [added[c][op][0] for c in added if CONFIGS[c][3] == "peer" and op in added[c]]
        best[op] = min(peers) if peers else None
    for c in configs:
        if c == "bare":
            continue
        line = f"{CONFIGS[c][0]:{width}}"
        for op in ops:
            v = added.get(c, {}).get(op)
            if v is None:
                line += f"{'FAILED':>22}{'':>15}"
                continue
            ratio = f" ({v[0] / best[op]:.2f}x)" if best[op] else ""
            line += f"{f'{v[0] / 1000:.0f}{ratio}':>22}{v[1] / 1000:>15.0f}"
        w(line)
    w("  app = the calling thread; other threads = everything else in the process while the calls ran")
    w("  (genai-tap's finisher, the peers' span processors; span export is left out: the exporters' timers are set")
    w("  to an hour and nothing is flushed, so the spans' encoding and sending, the same SDK code for all, is not counted)")
    tap, dd = added.get("tap-both"), added.get("ddtrace")
    if tap and dd:
        w("  genai-tap both sinks vs ddtrace's own integration, app thread: " + ", ".join(
            f"{LABELS[op]} {tap[op][0] / dd[op][0]:.2f}x" for op in ops if op in tap and op in dd))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
