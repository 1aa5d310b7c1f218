"""The async benchmark's verdicts (scripts/bench.py --async), from made-up per-round figures.

No process is started: a ``Bench`` is given the figures a run would have collected, and
what it prints is checked. A peer that delivered no span for async calls, or an APM-only
row, must never be the "best peer" a target is judged against, however small its figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench  # noqa: E402

ROUNDS = 12


def made_up_run(added: Dict[str, Dict[str, float]], not_traced: Dict[str, List[str]]) -> bench.Bench:
    """A Bench of an async run whose configurations added ``added[cfg][op]`` µs in every round,
    each timed call delivering its span, except the operations in ``not_traced``."""
    args = argparse.Namespace(ops=None, aio=True, pin=False, rounds=ROUNDS, calls=50, warmup=10, profile_calls=10,
                              direct_calls=0, startup_runs=0,
                              configs=["tap-otel", "openllmetry", "otel-botocore", "ddtrace"])
    run = bench.Bench(args)
    cfgs = {c.name: c for c in run.cfgs}
    for name, per_op in added.items():
        for op, value in per_op.items():
            run.paired.setdefault(name, {})[op] = [value] * ROUNDS
            run.paired_thread.setdefault(name, {})[op] = [value / 2] * ROUNDS
            run.blocks.setdefault(name, {})[op] = [1000 + value] * ROUNDS
            calls = 50 * ROUNDS * bench.CALLS_PER_OP.get(op, 1)
            run.calls.setdefault(name, {})[op] = calls
            delivered = 0 if op in not_traced.get(name, []) else calls
            run.proof.setdefault(name, {})[op] = {"otlp_genai_spans": delivered, "dd_apm_traces": delivered}
    for name, ops in not_traced.items():
        for op in ops:
            cfgs[name].op_failed[op] = f"not traced: no span delivered for {50 * ROUNDS} async calls"
    return run


def test_an_async_run_has_the_async_operations_and_the_sync_ones_they_are_compared_with() -> None:
    run = made_up_run({}, {})
    ops = [op for op, _ in run.ops]
    assert ops == bench.ASYNC_RUN_OPS and run.aio
    assert {"ainvoke", "aconverse", "astream"} <= set(ops) and {"invoke", "converse", "stream"} <= set(ops)
    assert next(c for c in run.cfgs if c.name == "ddtrace").label == "ddtrace (async: APM only)"


def test_a_peer_that_does_not_trace_async_or_traces_apm_only_is_never_the_best_peer() -> None:
    run = made_up_run(
        {
            "tap-otel": {"aconverse": 40.0, "converse": 45.0},
            "openllmetry": {"aconverse": 100.0, "converse": 150.0},
            # tiny, but no span arrived for its async calls
            "otel-botocore": {"aconverse": 1.0, "converse": 300.0},
            # tiny, but APM spans only for async calls: a reference row
            "ddtrace": {"aconverse": 2.0, "converse": 500.0},
        },
        {"otel-botocore": ["aconverse"]},
    )
    best = run.best_peers(paired=True)
    assert best["aconverse"] == (100.0, "OpenLLMetry (no content)")
    assert best["converse"] == (150.0, "OpenLLMetry (no content)")
    lines = run.async_targets(best, paired=True)
    assert any(line.startswith("PASS OTel sink <= 1/2 best peer tracing async, async Converse: 40.0 µs")
               for line in lines), lines
    assert any("otel-instr.-botocore: does not trace async calls (aconverse" in line for line in lines), lines
    text = run.report()
    table = text.split("Paired, within each process")[0]
    botocore_row = next(line for line in table.splitlines() if line.startswith("otel-instr.-botocore"))
    assert "not traced" in botocore_row and "1.0" not in botocore_row


def test_a_peer_whose_spans_did_not_all_arrive_is_not_the_best_peer() -> None:
    run = made_up_run({"tap-otel": {"aconverse": 40.0}, "openllmetry": {"aconverse": 10.0}}, {})
    run.proof["openllmetry"]["aconverse"]["otlp_genai_spans"] //= 2  # half the spans were lost
    assert run.best_peers(paired=True)["aconverse"] == (None, "-")
    lines = run.async_targets(run.best_peers(paired=True), paired=True)
    assert any(line.startswith("N/A  OTel sink <= 1/2 best peer tracing async, async Converse") for line in lines)


def test_async_is_judged_against_the_same_configurations_sync_path() -> None:
    run = made_up_run(
        {"tap-otel": {"ainvoke": 60.0, "invoke": 50.0, "astream": 80.0, "stream": 100.0},
         "openllmetry": {"ainvoke": 500.0, "astream": 500.0}},
        {},
    )
    lines = run.async_targets(run.best_peers(paired=True), paired=True)
    assert any(line.startswith("FAIL genai-tap OTel sink: async <= its sync, async InvokeModel: 60.0 µs vs 50.0 µs")
               for line in lines), lines
    assert any(line.startswith("PASS genai-tap OTel sink: async <= its sync, async ConverseStream: 80.0 µs vs 100.0 µs")
               for line in lines), lines
    # the interval of the async/sync ratio, resampled by round
    assert any("async InvokeModel" in line and "[1.20 .. 1.20]" in line for line in lines), lines
