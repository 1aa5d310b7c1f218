#!/usr/bin/env python3
"""Benchmark of the local collector: ingest throughput, memory, size, and the time of
every page and JSON endpoint and of ``genai-tap traces`` / ``stats``.

    python scripts/bench_collector.py              # 1,000,000 calls
    python scripts/bench_collector.py --calls 200000
    python scripts/bench_collector.py --quick      # a smoke run (20,000 calls, fewer timings)

The collector runs as ``genai-tap collector`` in its own process (its peak RSS is
read from /proc). Four senders (threads here, two over OTLP/HTTP with gzip
protobuf, two over OTLP/gRPC; ``--senders`` changes the mix) send batches of 512
GenAI spans like genai-tap's (about 500 characters of prompt, a system
instruction and an answer; 20 applications each calling two or three of ten
models through one or two Bedrock APIs; 3% failures; one trace in twenty is an
agent invocation with chat, tool and retrieval children). The calls are spread
over the last 7 days and sent in time order, like a replay. Payloads are built
from templates by patching IDs and times into pre-encoded bytes, and the HTTP
ones gzipped before the clock starts, so the senders cost little; a sender that
is told to retry (503 / RESOURCE_EXHAUSTED) waits as asked and sends again, and
the retries are counted. At the end every call must be stored (zero loss).

Then each endpoint is fetched ``--runs`` times over HTTP and its median and p95
printed; ``traces`` and ``stats`` are timed in this process (their work, without
Python's start-up, which is printed apart). Speed is measured here, not
asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import io
import json
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from genai_tap import semconv as sc

BATCH = 512
DAYS = 7
APPS = [f"{name}-{i}" for i, name in enumerate(
    ["checkout", "search", "support-bot", "recommender", "summaries", "triage", "assistant", "catalog", "reviews",
     "onboarding"] * 2)]
MODELS = ["us.amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "amazon.nova-pro-v1:0",
          "us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-haiku-20240307-v1:0",
          "us.anthropic.claude-sonnet-4-20250514-v1:0", "meta.llama3-1-8b-instruct-v1:0",
          "mistral.mistral-large-2407-v1:0", "cohere.command-r-plus-v1:0", "amazon.titan-text-express-v1"]
APIS = ["Converse", "ConverseStream", "InvokeModel"]
WORDS = ("the order was delayed and the customer asks for a refund while the warehouse reports that the parcel "
         "left yesterday please write a short polite answer that explains the delay and offers a discount code "
         "for the next purchase keep it under three sentences").split()
GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


# ---------------------------------------------------------------------------- payloads


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value])))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def text(rng: random.Random, n: int) -> str:
    out: List[str] = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rng.choice(WORDS))
    return " ".join(out)[:n]


class Template:
    """One encoded request of BATCH spans with the byte offsets of every ID and time,
    so a new request is a copy with new IDs and times patched in."""

    def __init__(self, rng: random.Random, app_index: int, content: bool = True) -> None:
        app = APPS[app_index]
        models = [MODELS[(app_index * 3 + k) % len(MODELS)] for k in range(2 + app_index % 2)]
        apis = APIS[: 1 + app_index % 2] if app_index % 3 else ["ConverseStream", "InvokeModel"]
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        for k, v in {"service.name": app, "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
                     "telemetry.sdk.version": "1.45.2", "host.name": f"host-{app_index}", "process.pid": 4000 + app_index,
                     "deployment.environment.name": "production"}.items():
            rs.resource.attributes.append(kv(k, v))
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = "genai_tap", "0.1.0"
        marks: List[Tuple[bytes, bytes, Optional[bytes], int, int]] = []  # (trace, span, parent, offset ms, duration ns)
        i = 0
        while i < BATCH:
            trace = rng.getrandbits(128).to_bytes(16, "big")
            agent = rng.random() < 0.05 and i + 5 <= BATCH
            at_ms = rng.randint(0, 299_000)
            parent: Optional[bytes] = None
            if agent:
                sid = rng.getrandbits(64).to_bytes(8, "big")
                dur = int(rng.lognormvariate(8.0, 0.4) * 1e6)
                self._span(ss, trace, sid, None, "invoke_agent travel-agent", {
                    sc.OPERATION_NAME: "invoke_agent", sc.PROVIDER_NAME: "aws.bedrock", sc.BEDROCK_API: "InvokeAgent",
                    "gen_ai.agent.name": "travel-agent", "gen_ai.agent.id": "AGENT123"}, error=False)
                marks.append((trace, sid, None, at_ms, dur))
                parent = sid
                i += 1
                for kind in ("chat", "execute_tool", "retrieval", "chat"):
                    cid = rng.getrandbits(64).to_bytes(8, "big")
                    attrs: Dict[str, Any] = {sc.OPERATION_NAME: kind, sc.PROVIDER_NAME: "aws.bedrock"}
                    if kind == "chat":
                        attrs.update(self._chat(rng, models[0], "InvokeAgent", content))
                    elif kind == "execute_tool":
                        attrs["gen_ai.tool.name"] = "get_weather"
                    self._span(ss, trace, cid, parent, f"{kind} step", attrs, error=False)
                    marks.append((trace, cid, parent, at_ms + 10, int(rng.lognormvariate(6.0, 0.5) * 1e6)))
                    i += 1
                continue
            sid = rng.getrandbits(64).to_bytes(8, "big")
            model = rng.choice(models)
            error = rng.random() < 0.03
            attrs = self._chat(rng, model, rng.choice(apis), content, error)
            self._span(ss, trace, sid, None, f"chat {model}", attrs, error=error)
            marks.append((trace, sid, None, at_ms, int(rng.lognormvariate(6.5, 0.6) * 1e6)))
            i += 1
        self.body = bytearray(req.SerializeToString())
        self.slots: List[Tuple[int, int, int, int, int, int, int]] = []
        index = {m[1]: n for n, m in enumerate(marks)}
        self.parent_slot = [index[m[2]] if m[2] else -1 for m in marks]
        for trace, sid, par, at_ms, dur in marks:
            span_at = self.body.index(b"\x12\x08" + sid)  # span_id: field 2, 8 bytes
            trace_at = self.body.rindex(b"\x0a\x10" + trace, 0, span_at)
            par_at = self.body.index(b"\x22\x08" + par, span_at) + 2 if par else -1
            start_at = self.body.index(b"\x39" + struct.pack("<Q", self._sentinel(sid, 1)), span_at) + 1
            end_at = self.body.index(b"\x41" + struct.pack("<Q", self._sentinel(sid, 2)), span_at) + 1
            self.slots.append((trace_at + 2, span_at + 2, par_at, start_at, end_at, at_ms, dur))
        self.count = len(marks)

    @staticmethod
    def _sentinel(sid: bytes, k: int) -> int:
        return int.from_bytes(sid, "big") ^ (k * 0x5A5A5A5A5A5A5A5A) & 0x7FFFFFFFFFFFFFFF

    def _chat(self, rng: random.Random, model: str, api: str, content: bool, error: bool = False) -> Dict[str, Any]:
        attrs: Dict[str, Any] = {
            sc.OPERATION_NAME: "chat", sc.PROVIDER_NAME: "aws.bedrock", sc.REQUEST_MODEL: model,
            sc.MODEL_BASE_ID: model.split(".", 1)[1] if model.startswith("us.") else model,
            sc.MODEL_VENDOR: model.replace("us.", "").split(".")[0], sc.BEDROCK_API: api,
            sc.SERVER_ADDRESS: "bedrock-runtime.us-east-1.amazonaws.com", sc.SERVER_PORT: 443,
            sc.REQUEST_MAX_TOKENS: 512, sc.REQUEST_TEMPERATURE: 0.3, sc.AWS_REQUEST_ID: "%032x" % rng.getrandbits(128),
        }
        if content:
            attrs[sc.SYSTEM_INSTRUCTIONS] = json.dumps([{"type": "text", "content": "You are a helpful support assistant."}])
            attrs[sc.INPUT_MESSAGES] = json.dumps([{"role": "user", "parts": [{"type": "text", "content": text(rng, 500)}]}])
        if error:
            attrs[sc.ERROR_TYPE] = "ThrottlingException"
        else:
            attrs.update({sc.RESPONSE_ID: "%032x" % rng.getrandbits(128), sc.RESPONSE_FINISH_REASONS: ["stop"],
                          sc.USAGE_INPUT_TOKENS: rng.randint(50, 3000), sc.USAGE_OUTPUT_TOKENS: rng.randint(10, 800)})
            if content:
                attrs[sc.OUTPUT_MESSAGES] = json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
                    {"type": "text", "content": text(rng, 250)}]}])
        return attrs

    def _span(self, ss: Any, trace: bytes, sid: bytes, parent: Optional[bytes], name: str, attrs: Dict[str, Any],
              error: bool) -> None:
        span = ss.spans.add()
        span.trace_id, span.span_id, span.name, span.kind = trace, sid, name, 3
        if parent:
            span.parent_span_id = parent
            span.kind = 1
        span.start_time_unix_nano = self._sentinel(sid, 1)
        span.end_time_unix_nano = self._sentinel(sid, 2)
        span.attributes.extend(kv(k, v) for k, v in attrs.items())
        if error:
            span.status.code = 2
            span.status.message = "ThrottlingException: Too many requests, please wait before trying again."

    def make(self, rng: random.Random, window_start_ns: int, scale: float = 1.0) -> bytes:
        body = bytearray(self.body)
        ids = rng.randbytes(24 * len(self.slots))
        new_trace: Dict[bytes, bytes] = {}
        for n, (trace_at, span_at, par_at, start_at, end_at, at_ms, dur) in enumerate(self.slots):
            old_trace = bytes(self.body[trace_at:trace_at + 16])
            trace = new_trace.get(old_trace)
            if trace is None:
                trace = new_trace[old_trace] = ids[24 * n:24 * n + 16]
            body[trace_at:trace_at + 16] = trace
            body[span_at:span_at + 8] = ids[24 * n + 16:24 * n + 24]
            if par_at >= 0:
                p = self.parent_slot[n]
                body[par_at:par_at + 8] = ids[24 * p + 16:24 * p + 24]
            start = window_start_ns + int(at_ms * 1_000_000 * scale)
            struct.pack_into("<Q", body, start_at, start)
            struct.pack_into("<Q", body, end_at, start + dur)
        return bytes(body)


# ---------------------------------------------------------------------------- the collector process


class CollectorProcess:
    def __init__(self, db: str, extra: List[str], wrap: str = "") -> None:
        self.proc = subprocess.Popen(
            [*wrap.split(), sys.executable, "-m", "genai_tap.cli", "collector", "--db", db, "--otlp-port", "0", "--ui-port", "0",
             "--grpc-port", "0", "--log-level", "WARNING", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        banner = ""
        while "web UI:" not in banner:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if not line:
                raise SystemExit(f"the collector did not start:\n{banner}")
            banner += line
        self.otlp = re.search(r"OTLP_ENDPOINT=(http://[0-9.:]+)", banner).group(1)  # type: ignore[union-attr]
        self.grpc = re.search(r"OTLP/gRPC on ([0-9.:]+)", banner).group(1)  # type: ignore[union-attr]
        self.ui = re.search(r"web UI:\s+(http://[0-9.:]+)", banner).group(1)  # type: ignore[union-attr]
        self.log: List[str] = []
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        for line in self.proc.stdout or []:
            self.log.append(line.rstrip())

    def pids(self) -> List[int]:
        """The collector and its writer process."""
        pids = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return pids

    def peak_rss_mb(self) -> Dict[int, float]:
        out = {}
        for pid in self.pids():
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        out[pid] = int(line.split()[1]) / 1024
        return out

    def rss_text(self) -> str:
        peaks = list(self.peak_rss_mb().values())
        return f"{sum(peaks):,.0f} MB (" + " + ".join(f"{p:,.0f}" for p in peaks) + " MB: collector + writer)"

    def cpu_s(self) -> List[float]:
        out = []
        for pid in self.pids():
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---------------------------------------------------------------------------- senders


class Feed:
    """Batches in time order, handed out to the senders."""

    def __init__(self, templates: List[Template], batches: int, start_ns: int, window_ns: int, seed: int,
                 scale: float = 1.0) -> None:
        self.templates, self.batches, self.start_ns, self.window_ns = templates, batches, start_ns, window_ns
        self.seed, self.scale = seed, scale
        self.next = 0
        self.lock = threading.Lock()

    def take(self) -> Optional[Tuple[int, Template]]:
        with self.lock:
            if self.next >= self.batches:
                return None
            n = self.next
            self.next += 1
        return n, self.templates[n % len(self.templates)]

    def body(self, n: int, template: Template) -> bytes:
        return template.make(random.Random(f"{self.seed}-{n}"), self.start_ns + n * self.window_ns, self.scale)


class Sender(threading.Thread):
    def __init__(self, kind: str, collector: CollectorProcess, feed: Feed, pregzipped: Dict[int, bytes]) -> None:
        super().__init__(daemon=True)
        self.kind, self.collector, self.feed, self.pregzipped = kind, collector, feed, pregzipped
        self.sent = self.spans = self.retries = 0
        self.error: Optional[str] = None

    def run(self) -> None:
        try:
            if self.kind.startswith("grpc"):
                self._grpc()
            else:
                self._http()
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            self.error = f"{type(exc).__name__}: {exc}"

    def _http(self) -> None:
        host, port = urllib.parse.urlsplit(self.collector.otlp).netloc.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while (item := self.feed.take()) is not None:
            n, template = item
            body = self.pregzipped.pop(n, None) or gzip.compress(self.feed.body(n, template), 6)
            while True:
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf",
                                                          "Content-Encoding": "gzip"})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    break
                if resp.status in (429, 503):
                    self.retries += 1
                    time.sleep(float(resp.getheader("Retry-After") or 1))
                    if resp.getheader("Connection") == "close":
                        conn.close()
                        conn = http.client.HTTPConnection(host, int(port), timeout=120)
                    continue
                raise RuntimeError(f"HTTP {resp.status}")
            self.sent += 1
            self.spans += template.count

    def _grpc(self) -> None:
        import grpc

        options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
        compression = grpc.Compression.Gzip if self.kind == "grpc-gzip" else grpc.Compression.NoCompression
        with grpc.insecure_channel(self.collector.grpc, options=options, compression=compression) as channel:
            export = channel.unary_unary(GRPC_METHOD)
            while (item := self.feed.take()) is not None:
                n, template = item
                body = self.feed.body(n, template)
                while True:
                    try:
                        export(body, timeout=120)
                        break
                    except grpc.RpcError as exc:
                        if exc.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                            self.retries += 1
                            time.sleep(1.0)
                            continue
                        raise
                self.sent += 1
                self.spans += template.count


# ---------------------------------------------------------------------------- timing the views


def fetch(url: str) -> Tuple[float, int, int]:
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=600) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return (time.perf_counter() - t) * 1000, status, len(body)


def summarize(times: List[float]) -> Tuple[float, float]:
    times = sorted(times)
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return statistics.median(times), p95


def time_cli(command: str, argv: List[str], runs: int) -> Tuple[float, float]:
    from genai_tap import cli

    parser = cli.build_parser() if hasattr(cli, "build_parser") else None
    module = __import__(f"genai_tap_collector.commands.{command}", fromlist=["main", "add_arguments"])
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    args = p.parse_args(argv)
    del parser
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = module.main(args)
        times.append((time.perf_counter() - t) * 1000)
        if code != 0:
            raise SystemExit(f"genai-tap {command} {' '.join(argv)} failed with {code}")
    return summarize(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="spans to send (default: 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 calls and 5 runs per view")
    parser.add_argument("--runs", type=int, default=21, help="fetches per view (default: 21)")
    parser.add_argument("--senders", default="http,http,grpc,grpc",
                        help="sender kinds: http (gzip protobuf), grpc, grpc-gzip (default: http,http,grpc,grpc)")
    parser.add_argument("--no-content", action="store_true", help="spans without prompts and completions")
    parser.add_argument("--db", help="database file (default: a temporary one, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument("--wrap", default="", help="run the collector under this command (e.g. 'py-spy record -o p.txt --')")
    parser.add_argument("--pause", type=float, default=0, help="seconds to wait before sending (to attach a profiler)")
    parser.add_argument("--ingest-only", action="store_true", help="stop after ingest (for profiling it)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.runs = min(args.calls, 20_000), min(args.runs, 5)
    tmp = None if args.db else tempfile.mkdtemp(prefix="genai-tap-bench-")
    db = args.db or os.path.join(tmp or ".", "bench.db")
    print(f"load average {os.getloadavg()[0]:.2f} (2-core machine: figures are only comparable at a load well under 1)",
          flush=True)

    rng = random.Random(42)
    templates = [Template(rng, i % len(APPS), content=not args.no_content) for i in range(40)]
    per_batch = templates[0].count
    kinds = args.senders.split(",")
    now = time.time_ns()
    # Two phases: "history", a replay of most calls spread over the last 7 days (in time order),
    # then "live", the rest dated within the last minutes, as an app sends them now.
    total = -(-args.calls // per_batch)
    live_batches = max(total // 5, 1)
    history_batches = total - live_batches
    span_ns = DAYS * 86_400 * 10**9
    phases = []
    if history_batches:
        phases.append(("history (spread over 7 days)",
                       Feed(templates, history_batches, now - span_ns, (span_ns - 3600 * 10**9) // history_batches, 1)))
    # live: each request's spans within 3 seconds, requests one after another over the last ~minutes
    phases.append(("live (dated now)", Feed(templates, live_batches, now - 300 * 10**9, 300 * 10**9 // live_batches, 2,
                                            scale=0.01)))
    http_slots = {i for i, k in enumerate(kinds) if k == "http"}
    t = time.perf_counter()
    pregzipped: List[Dict[int, bytes]] = [
        {n: gzip.compress(feed.body(n, templates[n % len(templates)]), 6) for n in range(feed.batches)
         if n % len(kinds) in http_slots} for _, feed in phases]
    print(f"built {total:,} requests of {per_batch} spans ({sum(len(p) for p in pregzipped):,} gzipped ahead) in "
          f"{time.perf_counter() - t:.1f}s; {len(templates[0].body) / per_batch:,.0f} bytes per span encoded", flush=True)

    collector = CollectorProcess(db, ["--retention", "8d"], args.wrap)
    print(f"collector: pid {collector.proc.pid}, OTLP/HTTP {collector.otlp}, OTLP/gRPC {collector.grpc}, UI {collector.ui}",
          flush=True)
    if args.pause:
        time.sleep(args.pause)
    try:
        sent = 0
        for (name, feed), gz in zip(phases, pregzipped):
            cpu0 = collector.cpu_s()
            own0 = time.process_time()
            w0 = json.loads(urllib.request.urlopen(collector.ui + "/api/health", timeout=600).read())["received"]["writer"]
            senders = [Sender(kind, collector, feed, gz) for kind in kinds]
            t = time.perf_counter()
            for s in senders:
                s.start()
            for s in senders:
                s.join()
            elapsed = time.perf_counter() - t
            errors = [s.error for s in senders if s.error]
            if errors:
                print("sender errors:", errors)
                return 1
            n = sum(s.spans for s in senders)
            sent += n
            cpu = [b - a for a, b in zip(cpu0, collector.cpu_s())]
            print(f"ingest, {name}: {n:,} spans in {elapsed:.1f}s = {n / elapsed:,.0f} spans/s "
                  f"({', '.join(f'{s.kind} {s.spans:,}' for s in senders)}; {sum(s.retries for s in senders)} retries "
                  f"asked by the collector)", flush=True)
            own = time.process_time() - own0
            print(f"  CPU: collector {cpu[0]:.1f}s ({cpu[0] / n * 1e6:.0f} us/span), writer {sum(cpu[1:]):.1f}s "
                  f"({sum(cpu[1:]) / n * 1e6:.0f} us/span) = {sum(cpu) / elapsed:.2f} cores; the senders here "
                  f"{own / elapsed:.2f} cores", flush=True)
            w1 = json.loads(urllib.request.urlopen(collector.ui + "/api/health", timeout=600).read())["received"]["writer"]
            print("  writer: " + ", ".join(f"{k} {(w1[k] - w0[k]) / n * 1e6:.0f} us/span" for k in
                                           ("commit_cpu_s", "rollup_cpu_s", "retention_cpu_s")) +
                  f", {n / max(w1['transactions'] - w0['transactions'], 1):,.0f} spans per transaction", flush=True)
        health = json.loads(urllib.request.urlopen(collector.ui + "/api/health", timeout=600).read())
        stored = health["stored_spans"]
        print(f"stored: {stored:,} of {sent:,} spans sent" + ("" if stored == sent else "  <-- LOSS"), flush=True)
        time.sleep(3)  # the rollups are written every 2 s
        size = os.path.getsize(db)
        wal = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
        print(f"database: {size / 1e6:,.0f} MB = {size / max(stored, 1):,.0f} bytes per stored span "
              f"({'without' if args.no_content else 'with'} content); write-ahead log {wal / 1e6:,.0f} MB", flush=True)
        print(f"peak RSS: {collector.rss_text()}", flush=True)
        if args.ingest_only:
            return 0

        first = json.loads(urllib.request.urlopen(collector.ui + "/api/traces?per_page=1", timeout=600).read())
        trace_id = first["items"][0]["trace_id"]
        deep = json.loads(urllib.request.urlopen(collector.ui + "/api/traces?per_page=50&page=200", timeout=600).read())
        cursor = deep.get("next_cursor") or ""
        agent = json.loads(urllib.request.urlopen(collector.ui + "/api/traces?per_page=1&api=InvokeAgent",
                                                  timeout=600).read())["items"]
        agent_trace = agent[0]["trace_id"] if agent else trace_id
        app, model = APPS[0], "amazon.nova-lite-v1:0"
        q = urllib.parse.quote
        views = [
            ("Applications page", "/"), ("Applications page, last 24h", "/?since=24h"),
            ("Applications JSON", "/api/apps"), ("Applications JSON, last 1h", "/api/apps?since=1h"),
            ("Application summary page", f"/apps/{q(app)}"), ("Application summary JSON", f"/api/apps/{q(app)}"),
            ("Application summary JSON, last 1h", f"/api/apps/{q(app)}?since=1h"),
            ("Application summary JSON, model filter", f"/api/apps/{q(app)}?model={q(model)}"),
            ("Traces page", "/traces"), ("Traces JSON", "/api/traces"),
            ("Traces JSON, page 200", "/api/traces?page=200"),
            ("Traces JSON, page 2000 (100,000 calls in)", "/api/traces?page=2000"),
            ("Traces JSON, after a deep cursor", f"/api/traces?cursor={q(cursor)}"),
            ("Traces JSON, app + model + errors", f"/api/traces?app={q(app)}&model={q(model)}&status=error"),
            ("Traces JSON, api filter", "/api/traces?api=InvokeModel"),
            ("Traces page, app filter", f"/traces?app={q(APPS[7])}"),
            ("Trace page", f"/traces/{trace_id}"), ("Trace JSON", f"/api/traces/{trace_id}"),
            ("Agent trace JSON", f"/api/traces/{agent_trace}"),
            ("Errors page", "/errors"), ("Errors JSON", "/api/errors"), ("Errors JSON, last 24h", "/api/errors?since=24h"),
            ("Alerts page", "/alerts"), ("Alerts JSON", "/api/alerts"),
            ("Stats JSON", "/api/stats"), ("Stats JSON, model filter", f"/api/stats?model={q(model)}"),
            ("Stats JSON, api filter", "/api/stats?api=ConverseStream"),
            ("Stats JSON, errors in 24h", "/api/stats?status=error&since=24h"),
            ("Stats JSON, app + model, 1h", f"/api/stats?app={q(app)}&model={q(model)}&since=1h"),
            ("Health JSON", "/api/health"),
        ]
        print(f"\nviews at {stored:,} stored spans, {args.runs} runs each (median / p95, ms; status; size):", flush=True)
        slow = 0
        for name, path in views:
            results = [fetch(collector.ui + path) for _ in range(args.runs)]
            med, p95 = summarize([r[0] for r in results])
            status = {r[1] for r in results}
            slow += med > 200
            print(f"  {name:<42} {med:8.1f} {p95:8.1f}   {'/'.join(map(str, sorted(status)))}  "
                  f"{results[-1][2] / 1024:,.0f} KB" + ("  <-- over 200 ms" if med > 200 else ""), flush=True)
        for command, argv in (("traces", ["--db", db]), ("traces", ["--db", db, "--app", app, "--status", "error"]),
                              ("stats", ["--db", db]), ("stats", ["--db", db, "--model", model, "--json"])):
            med, p95 = time_cli(command, argv, args.runs)
            slow += med > 200
            label = f"genai-tap {command} {' '.join(argv[2:])}".strip()
            print(f"  {label:<42} {med:8.1f} {p95:8.1f}   (in-process)" + ("  <-- over 200 ms" if med > 200 else ""),
                  flush=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "genai_tap.cli", "stats", "--db", db], capture_output=True, check=True)
        print(f"  {'genai-tap stats, whole command':<42} {(time.perf_counter() - t) * 1000:8.1f}            "
              "(one run, with Python's start-up)")
        print(f"\n{slow} of {len(views) + 4} over 200 ms (median); peak RSS {collector.rss_text()}", flush=True)
    finally:
        collector.stop()
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp:
            print(f"database kept at {db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
