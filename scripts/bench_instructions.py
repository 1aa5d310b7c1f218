#!/usr/bin/env python3
"""Instructions per call, counted by valgrind: a noise-free companion to ``make bench``.

``scripts/bench.py`` times calls; on a small shared machine its figures move by
10-15 % between identical processes, which is more than genai-tap adds. This
script counts instead: each configuration's app runs under ``valgrind
--tool=callgrind --separate-threads=yes``, makes warm-up calls, then ``CALLS``
measured calls between two dumps (and once more with three times as many calls,
for the other threads), against the project's emulator (its own
process, not under valgrind). The measured calls start from a collected heap and
run with the garbage collector off: whether a collection lands in a short window
is chance, and one can be worth more than a hundred thousand instructions a call.
The collector is timed apart, in a native run of ``--gc-calls`` calls per
configuration. Instructions executed then move little from run to run, so the
comparison with the peers is close to exact for what it measures: the work each
adds per call on the app's thread, and on its other threads (genai-tap's
finisher, exporters) while the calls run. Not time: a cache miss or a wait for
the GIL costs no instruction.

    make bench-instructions     # or: .venv/bin/python scripts/bench_instructions.py [--calls N] [--ops ...]

Configurations, their environment, their set-up (``Worker.setup``), the
measured calls, the emulator and the receivers are ``scripts/bench.py``'s own.
Needs ``valgrind`` (Debian: ``apt-get install valgrind``); the peers' virtualenvs
under ``.venv-bench/`` are created on first use, as by ``make bench``.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import bench  # scripts/bench.py, beside this file

ROOT = bench.ROOT
BARE = "bare-a"
CONFIGS = {c.name: c for c in bench.configurations()}
DEFAULT_CONFIGS = ["tap-otel", "tap-both", "openllmetry", "otel-genai-bedrock", "ddtrace"]
OPS = [key for key, _ in bench.OPERATIONS]
ALL_OPS = [key for key, _ in bench.ALL_OPERATIONS]
LABELS = dict(bench.ALL_OPERATIONS)

# Each configuration's app: set up by scripts/bench.py's Worker, exactly as in `make bench`
# (its probe calls and flush are part of the warm-up), more warm-up calls, then the measured
# calls between two os.sched_yield() calls, where callgrind dumps its counters.
APP = r'''
import gc, json, os, sys, threading, time
sys.path.insert(0, os.environ["BENCH_SCRIPTS"])
import bench
spec, op, calls, mode = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
worker = bench.Worker(spec)
worker.setup()
if bench.is_async(op):  # one task on the worker's loop awaits the calls one after the other, as in make bench
    coro = worker.ops[op]
    async def calls_of(k):
        for _ in range(k):
            await coro()
    loop = worker.event_loop()
    many = lambda k: loop.run_until_complete(calls_of(k))
else:
    fn = worker.ops[op]
    def many(k):
        for _ in range(k):
            fn()
many(20)
def settle():
    if spec["kind"] == "tap":
        from genai_tap.finisher import finisher
        finisher.drain(120)  # every call finished (nothing exported here)
settle()
gc.collect()  # every configuration starts the measured calls from the same state
if mode == "gc":  # no valgrind: how often the collector runs, on which thread, for how long
    app, began, spent = threading.get_ident(), [0], {"app": [0, 0], "other": [0, 0]}
    def watch(phase, info):
        if phase == "start":
            began[0] = time.perf_counter_ns()
        else:
            who = spent["app" if threading.get_ident() == app else "other"]
            who[0] += 1
            who[1] += time.perf_counter_ns() - began[0]
    gc.callbacks.append(watch)
    many(calls)
    settle()
    gc.callbacks.remove(watch)
    print(json.dumps(spent))
    os._exit(0)
gc.disable()  # counted apart (mode "gc"): where a collection lands in a short window is chance
os.sched_yield()  # callgrind dumps here: the measured part starts
many(calls)
settle()
os.sched_yield()  # and here: it ends
os._exit(0)
'''


def _run(name: str, python: str, op: str, calls: int, emulator: str, ports: Dict[str, Dict[str, int]],
         workdir: Path) -> Tuple[int, int]:
    """(instructions of the app's thread in the measured part, of every other thread in the whole run)."""
    cfg = CONFIGS[name]
    app = workdir / "app.py"
    out = workdir / f"{name}-{op}-{calls}"
    env = bench.config_env(cfg, ports.get(name, {"otlp": 9, "agent": 9}))
    # nothing exported while the calls run (span export is the same SDK code for every OpenTelemetry row)
    env.update(BENCH_SCRIPTS=str(bench.SCRIPT.parent), PYTHONHASHSEED="0", OTEL_BSP_SCHEDULE_DELAY="3600000")
    spec = json.dumps({"name": name, "kind": cfg.kind, "emulator": emulator, "async": bench.is_async(op)})
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--dump-before=sched_yield",
           f"--callgrind-out-file={out}.%p", python, str(app), spec, op, str(calls), "count"]
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


def collections(name: str, python: str, op: str, calls: int, emulator: str, ports: Dict[str, Dict[str, int]],
                workdir: Path) -> Dict[str, List[int]]:
    """The garbage collector's runs during ``calls`` calls, natively (no valgrind), as in ``make bench``
    (spans exported): ``{"app": [collections, ns], "other": [...]}``, by the thread they ran on."""
    cfg = CONFIGS[name]
    env = bench.config_env(cfg, ports.get(name, {"otlp": 9, "agent": 9}))
    env.update(BENCH_SCRIPTS=str(bench.SCRIPT.parent), PYTHONHASHSEED="0")
    spec = json.dumps({"name": name, "kind": cfg.kind, "emulator": emulator, "async": bench.is_async(op)})
    proc = subprocess.run([python, str(workdir / "app.py"), spec, op, str(calls), "gc"], env=env, cwd=str(ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{name} {op}: garbage collection run failed (exit {proc.returncode}): {proc.stderr[-800:]}")
    return json.loads(lines[-1])


def measure(name: str, python: str, op: str, calls: int, emulator: str, ports: Dict[str, Dict[str, int]],
            workdir: Path) -> Tuple[float, float]:
    """Per call: (instructions on the app's thread, on the other threads). Two runs, of ``calls``
    and 3 x ``calls`` measured calls: the other threads' counts differ by 2 x ``calls`` calls."""
    short = _run(name, python, op, calls, emulator, ports, workdir)
    long = _run(name, python, op, 3 * calls, emulator, ports, workdir)
    return long[0] / (3 * calls), max(0, long[1] - short[1]) / (2 * calls)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=40,
                        help="measured calls per configuration (default 40; a second run makes 3x as many)")
    parser.add_argument("--ops", nargs="*", default=OPS, choices=ALL_OPS)
    parser.add_argument("--configs", nargs="*", default=DEFAULT_CONFIGS, choices=sorted(CONFIGS))
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once (default 2)")
    parser.add_argument("--gc-calls", type=int, default=1000,
                        help="calls per configuration in the native run that times the garbage collector (0: skip)")
    parser.add_argument("--json", help="also write the counts to this file")
    args = parser.parse_args(argv)
    if not shutil.which("valgrind"):
        print("bench-instructions: valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    aio = any(bench.is_async(op) for op in args.ops)  # then the peers' virtualenvs with aiobotocore
    pythons: Dict[str, str] = {}  # the peers' virtualenvs, made once, before the runs share them
    for name in [BARE] + [c for c in args.configs if c != BARE]:
        venv = CONFIGS[name].venv
        try:
            pythons[name] = str(bench.VENV / "bin" / "python" if venv is None else bench.ensure_venv(venv, aio))
        except Exception as exc:  # noqa: BLE001 - reported, the rest still runs
            print(f"bench-instructions: {name}: could not install: {exc}; skipped", file=sys.stderr)
    configs = list(pythons)
    emulator, url, sinks, ports = bench.start_services([c for c in configs if c != BARE])
    counts: Dict[str, Dict[str, Tuple[float, float]]] = {}
    gcs: Dict[str, Dict[str, Dict[str, List[int]]]] = {}
    started = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="genai-tap-instr-") as tmp:
            workdir = Path(tmp)
            (workdir / "app.py").write_text(APP)
            runs = [(c, op) for op in args.ops for c in configs]
            print(f"bench-instructions: {len(runs)} configurations x operations under callgrind, two runs each, "
                  f"{args.jobs} at a time ...", file=sys.stderr)
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                futures = {run: pool.submit(measure, run[0], pythons[run[0]], run[1], args.calls, url, ports,
                                           workdir) for run in runs}
                for (c, op), fut in futures.items():
                    try:
                        counts.setdefault(c, {})[op] = fut.result()
                    except Exception as exc:  # noqa: BLE001 - reported, the rest still runs
                        print(f"bench-instructions: {c} {op}: {exc}", file=sys.stderr)
            if args.gc_calls:
                print(f"bench-instructions: the garbage collector, {args.gc_calls} calls per configuration and "
                      "operation, natively ...", file=sys.stderr)
            for c, op in runs if args.gc_calls else ():  # one at a time: these are timed
                try:
                    gcs.setdefault(c, {})[op] = collections(c, pythons[c], op, args.gc_calls, url, ports, workdir)
                except Exception as exc:  # noqa: BLE001 - reported, the rest still runs
                    print(f"bench-instructions: {c} {op}: {exc}", file=sys.stderr)
    finally:
        bench.stop_services(emulator, sinks)
    print(report(counts, configs, args.ops, args.calls))
    if gcs:
        print(gc_report(gcs, configs, args.ops, args.gc_calls))
    print(f"bench-instructions: {time.time() - started:.0f} s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"instructions": counts, "gc": gcs}, indent=1))
    return 0


def _row(label: str, cells: Iterable[Tuple[str, str]]) -> str:
    """One line of a table: its label, then two cells per operation (the app's thread, the others)."""
    return f"{label:28}" + "".join(f"{app:>22}{other:>15}" for app, other in cells)


def report(counts: Dict[str, Dict[str, Tuple[float, float]]], configs: List[str], ops: List[str], calls: int) -> str:
    out: List[str] = []
    w = out.append
    w(f"Instructions added per call over bare boto3 (callgrind, {calls} measured calls; thousands; "
      "ratio to the best OpenTelemetry peer on the app's thread)")
    w(_row("", ((LABELS[op] + " app", "other threads") for op in ops)))

    def per_call(c: str, op: str) -> Optional[Tuple[float, float]]:
        return counts.get(c, {}).get(op)

    bare = {op: per_call(BARE, op) for op in ops}
    w(_row("bare boto3, absolute", ((f"{bare[op][0] / 1000:.0f}" if bare[op] else "-", "") for op in ops)))
    added: Dict[str, Dict[str, Tuple[float, float]]] = {}
    for c in configs:
        if c == BARE:
            continue
        for op in ops:
            got = per_call(c, op)
            if got and bare[op]:
                added.setdefault(c, {})[op] = (got[0] - bare[op][0], got[1])
    best: Dict[str, Optional[float]] = {}
    for op in ops:
        peers = [added[c][op][0] for c in added
                 if CONFIGS[c].role == "peer" and CONFIGS[c].kind != "ddtrace" and op in added[c]]
        best[op] = min(peers) if peers else None
    def cell(c: str, op: str) -> Tuple[str, str]:
        v = added.get(c, {}).get(op)
        if v is None:
            return "FAILED", ""
        ratio = f" ({v[0] / best[op]:.2f}x)" if best[op] else ""
        return f"{v[0] / 1000:.0f}{ratio}", f"{v[1] / 1000:.0f}"

    for c in configs:
        if c != BARE:
            w(_row(CONFIGS[c].label, (cell(c, op) for op in ops)))
    w("  app = the calling thread; other threads = everything else in the process while the calls ran")
    w("  (genai-tap's finisher, the peers' span processors; span export is left out: the exporters' timers are set")
    w("  to an hour and nothing is flushed, so the spans' encoding and sending, the same SDK code for all, is not counted)")
    tap, dd = added.get("tap-both"), added.get("ddtrace")
    if tap and dd:
        w("  genai-tap both sinks vs ddtrace's own integration, app thread: " + ", ".join(
            f"{LABELS[op]} {tap[op][0] / dd[op][0]:.2f}x" for op in ops if op in tap and op in dd))
    return "\n".join(out)


def gc_report(gcs: Dict[str, Dict[str, Dict[str, List[int]]]], configs: List[str], ops: List[str], calls: int) -> str:
    def spent(n: int, ns: int) -> str:
        return f"{ns / calls / 1000:.1f} ({n * 1000 / calls:.0f})"

    def cell(c: str, op: str) -> Tuple[str, str]:
        got = gcs.get(c, {}).get(op)
        return (spent(*got["app"]), spent(*got["other"])) if got is not None else ("-", "")

    out = [f"Garbage collection per call, not in the counts above (a native run of {calls} calls, spans exported as in "
           "`make bench`): µs on the app's thread (collections per 1000 calls); other threads",
           _row("", ((LABELS[op] + " app", "other") for op in ops))]
    for c in configs:
        out.append(_row("bare boto3" if c == BARE else CONFIGS[c].label, (cell(c, op) for op in ops)))
    out.append("  a collection runs on whichever thread allocates past the threshold, so genai-tap's finisher")
    out.append("  sets off some of those the app's thread would otherwise run, and the reverse")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
