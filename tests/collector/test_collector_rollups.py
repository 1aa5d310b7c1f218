"""The rollups agree with a full scan of the stored calls: random calls over three days
(apps, models, APIs, failures, token counts, agent spans, duplicates), random filters,
groupings and time ranges, before the rollups are written (the tail), after, and after
retention deleted the older half."""

from __future__ import annotations

import math
import random
import sqlite3
import time
from collections import defaultdict
from typing import Any, Dict, List, Optional, Tuple

import pytest

from genai_tap import semconv as sc
from genai_tap_collector.otlp import bucket_value
from genai_tap_collector.rows import AGGREGATE_OPERATIONS
from genai_tap_collector.server import Collector
from genai_tap_collector.store import Filters
from genai_tap_collector.views import percentiles

from conftest import send, span_pb, wait_for

MIN = 60 * 10**9
APPS = ["checkout", "search", "support"]
MODELS = ["amazon.nova-lite-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1:0", "acme.unknown-v1:0"]
APIS = ["Converse", "ConverseStream", "InvokeModel", None]


def random_spans(rng: random.Random, now: int, n: int) -> List[Any]:
    spans = []
    for _ in range(n):
        attrs: Dict[str, Any] = {sc.REQUEST_MODEL: rng.choice(MODELS), sc.BEDROCK_API: rng.choice(APIS)}
        operation = rng.choice(["chat"] * 8 + ["invoke_agent", "execute_tool"])
        attrs[sc.OPERATION_NAME] = operation
        for key in (sc.USAGE_INPUT_TOKENS, sc.USAGE_OUTPUT_TOKENS, sc.USAGE_CACHE_READ_INPUT_TOKENS,
                    sc.USAGE_CACHE_WRITE_INPUT_TOKENS):
            attrs[key] = rng.choice([None, rng.randint(0, 5000)])
        error = rng.choice([None] * 9 + ["ThrottlingException", "ValidationException"])
        start = now - rng.randint(0, 3 * 86400) * 10**9 - rng.randint(0, 10**9)
        spans.append(span_pb(attrs=attrs, start_ns=start, duration_ms=rng.lognormvariate(5, 1.2), error=error))
    return spans


def scan(db) -> List[sqlite3.Row]:
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT start_ns, app, base_model, api, operation, error, error_type, input_tokens, "
                            "output_tokens, cache_read, cache_write, dur_bucket FROM calls").fetchall()
    finally:
        conn.close()


def matching(rows: List[sqlite3.Row], f: Filters) -> List[sqlite3.Row]:
    s, e = f.minutes()
    out = []
    for r in rows:
        if not s * MIN <= r["start_ns"] < e * MIN:
            continue
        if f.app is not None and r["app"] != f.app:
            continue
        if f.model is not None and r["base_model"] != f.base_model:
            continue
        if f.api is not None and r["api"] != f.api:
            continue
        if f.status is not None and r["error"] != int(f.status == "error"):
            continue
        out.append(r)
    return out


def brute_usage(rows: List[sqlite3.Row], keys: List[str]) -> Dict[Tuple[Any, ...], Dict[str, int]]:
    out: Dict[Tuple[Any, ...], Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        u = out[tuple(r[k] for k in keys)]
        u["calls"] += 1
        u["errors"] += r["error"]
        u["last_ns"] = max(u["last_ns"], r["start_ns"])
        if r["operation"] not in AGGREGATE_OPERATIONS:
            for col, name in (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                              ("cache_read", "cache_read"), ("cache_write", "cache_write")):
                u[name] += r[col] or 0
    return out


def brute_latency(rows: List[sqlite3.Row], keys: List[str]) -> Dict[Tuple[Any, ...], Dict[str, Optional[float]]]:
    hist: Dict[Tuple[Any, ...], Dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        hist[tuple(r[k] for k in keys)][r["dur_bucket"]] += 1
    return {k: percentiles(h) for k, h in hist.items()}


def random_filters(rng: random.Random, now: int) -> Filters:
    since = rng.choice([None, now - rng.randint(1, 4 * 86400) * 10**9 - rng.randint(0, 10**9)])
    until = rng.choice([None, None, now - rng.randint(0, 2 * 86400) * 10**9 + rng.randint(0, 10**9)])
    return Filters(rng.choice([None, None, *APPS]), rng.choice([None, None, *MODELS]),
                   rng.choice([None, None, "ok", "error"]), since, until, rng.choice([None, None, "Converse", "InvokeModel"]))


def check(c: Collector, rng: random.Random, now: int, rounds: int = 40) -> None:
    rows = scan(c.db)
    for _ in range(rounds):
        f = random_filters(rng, now)
        keys = rng.choice([[], ["app"], ["base_model"], ["api"], ["app", "base_model"], ["app", "base_model", "api"]])
        mine = matching(rows, f)
        expected = brute_usage(mine, keys)
        got = c.views.usage(f, keys)
        assert set(got) == set(expected), (f.__dict__ if hasattr(f, "__dict__") else f, keys)
        for k, u in got.items():
            e = expected[k]
            assert (u.calls, u.errors, u.input_tokens, u.output_tokens, u.cache_read, u.cache_write, u.last_ns) == (
                e["calls"], e["errors"], e["input_tokens"], e["output_tokens"], e["cache_read"], e["cache_write"],
                e["last_ns"]), (k, keys)
        lat_keys = [k for k in keys if k != "api"] if rng.random() < 0.5 else keys
        assert c.views.latency(f, lat_keys) == brute_latency(mine, lat_keys), lat_keys
        groups = {(g["app"], g["model"], g["error_type"]): g["calls"] for g in c.views.errors(f)["groups"]}
        expected_groups: Dict[Tuple[Any, ...], int] = defaultdict(int)
        for r in mine:
            if r["error"]:
                expected_groups[(r["app"], r["base_model"], r["error_type"])] += 1
        if f.status != "ok":
            assert groups == dict(expected_groups)
    # a summary's series adds up to its total, bin by bin against the scan
    app = rng.choice(APPS)
    f = Filters(since_ns=now - 2 * 86400 * 10**9)
    summary = c.views.summary(app, f, now_ns=now)
    assert len(summary["series"]) <= 61
    step = summary["step_seconds"] * 10**9
    by_bin: Dict[int, int] = defaultdict(int)
    for r in matching(rows, Filters(app, None, None, f.since_ns, None)):
        by_bin[max(r["start_ns"] // step * step, summary["start_ns"])] += 1
    assert {p["t_ns"]: p["calls"] for p in summary["series"] if p["calls"]} == dict(by_bin)
    assert sum(p["calls"] for p in summary["series"]) == summary["total"]["calls"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 11])
def test_rollups_agree_with_a_full_scan(tmp_path, seed):
    rng = random.Random(seed)
    now = time.time_ns()
    db = tmp_path / "r.db"
    spans = random_spans(rng, now, 3000)
    with Collector(db, otlp_port=0, ui_port=0, retention=0, flush_s=3600) as c:
        for i in range(0, len(spans), 300):
            send(c, spans[i:i + 300], rng.choice(APPS))
        send(c, spans[:300], "checkout")  # a retried export: stored once, counted once
        check(c, rng, now)  # nothing rolled up yet: everything comes from the tail
    with Collector(db, otlp_port=0, ui_port=0, retention=0) as c:  # the stop wrote the rollups
        conn = sqlite3.connect(str(db))
        rolled, top = conn.execute("SELECT (SELECT value FROM meta WHERE key = 'rolled_to'), MAX(id) FROM calls").fetchone()
        conn.close()
        assert int(rolled) == top
        check(c, rng, now)
        more = random_spans(rng, now, 500)
        send(c, more, "search")  # half rolled up, half tail
        check(c, rng, now)
    with Collector(db, otlp_port=0, ui_port=0, retention="36h") as c:
        wait_for(lambda: all(r["start_ns"] >= now - 37 * 3600 * 10**9 for r in scan(db)), "retention")
        check(c, rng, now)
        conn = sqlite3.connect(str(db))
        for table in ("roll_calls", "roll_errors"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE calls <= 0").fetchone()[0] == 0
        for table in ("lat_all", "lat_app", "lat_model", "lat_api", "lat_full"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE n <= 0").fetchone()[0] == 0
        conn.close()


def test_percentiles_are_within_one_percent():
    rng = random.Random(3)
    values = [rng.lognormvariate(5, 1.5) for _ in range(5000)]
    from genai_tap_collector.rows import duration_bucket

    hist: Dict[int, int] = defaultdict(int)
    for v in values:
        hist[duration_bucket(v)] += 1
    got = percentiles(hist)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[max(math.ceil(q * len(ordered)), 1) - 1]
        assert abs(got[f"p{round(q * 100)}"] - exact) / exact < 0.01
    assert bucket_value(duration_bucket(123.0)) == pytest.approx(123.0, rel=0.01)
