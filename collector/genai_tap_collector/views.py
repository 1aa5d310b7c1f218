"""What each view shows, as plain data: the web pages, the JSON API, the CLI and the
alert rules all use these.

Aggregates (applications, models, APIs, totals, the summary's charts, error
groups, alert values) come from the rollups (:mod:`rollups`), never from a scan
of the stored calls, and cover whole minutes. Lists (calls, error groups,
applications, models) are bounded; the calls list pages by a cursor
(``next_cursor``; ``page`` works for the first ``MAX_OFFSET`` calls), reading
only the calls of the page. Charts have at most ``MAX_POINTS`` points.

Cost is priced here from token sums per model (so a price change reprices every
stored call). A call's own cost is ``None`` when it failed, reported no tokens,
or its model has no price; a group's is ``None`` when none of its calls could be
priced, and ``cost_complete`` is False when some calls with tokens could not.
Token sums leave out the spans of operations that contain model calls
(``invoke_agent``...): their children are counted instead.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from genai_tap import semconv as sc

from . import genai, otlp, rollups
from .configfile import ConfigError, parse_duration
from .prices import PriceTable
from .store import CALL_COLUMNS, Filters, Store

#: Time ranges offered by the UI and the CLI (``--since``), besides any duration.
RANGES = ("15m", "1h", "6h", "24h", "7d", "all")
#: Chart steps in minutes; the first that gives at most MAX_POINTS points is used.
STEPS = (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
MAX_POINTS = 60
NS = 1_000_000_000
MINUTE_NS = rollups.MINUTE_NS
MAX_LIST = 200  # applications, models, APIs, error groups shown at once
MAX_OPTIONS = 500  # entries of a filter menu
MAX_PER_PAGE = 500
MAX_OFFSET = 100_000  # beyond this, page with the cursor
MAX_TRACE_SPANS = 5000

Row = Any  # sqlite3.Row, or a mapping with the same keys
_USAGE_KEYS = ("app", "base_model", "api", "operation")


def since_ns(value: Optional[str], now_ns: Optional[int] = None, name: str = "since") -> Optional[int]:
    """``"1h"`` -> the time one hour ago; an ISO 8601 time as it says (UTC if no zone);
    ``"all"``, empty or None -> no bound. Times are clamped to what can be stored."""
    if not value or value == "all":
        return None
    if "T" in value or value.count("-") == 2:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not an ISO 8601 time (e.g. 2026-11-27T09:30)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        try:
            seconds = when.timestamp()
        except (OverflowError, OSError, ValueError):
            seconds = 0.0 if when.year < 1970 else otlp.MAX_NS / NS
        return _clamp_ns(int(seconds * NS))
    now_ns = time.time_ns() if now_ns is None else now_ns
    seconds = parse_duration(value, name)
    if not math.isfinite(seconds):
        raise ConfigError(f"{name}={value!r} is not a duration")
    return _clamp_ns(now_ns - int(seconds * NS))


def _clamp_ns(ns: int) -> int:
    return min(max(ns, 0), otlp.MAX_NS)


def percentiles(histogram: Mapping[int, int], qs: Sequence[float] = (0.5, 0.95, 0.99)) -> Dict[str, Optional[float]]:
    """``{"p50": ms, "p95": ms, ...}`` from ``{bucket: count}``."""
    total = sum(histogram.values())
    out: Dict[str, Optional[float]] = {f"p{round(q * 100)}": None for q in qs}
    if total <= 0:
        return out
    buckets = sorted(histogram.items())
    for q in qs:  # nearest rank: the smallest value with at least q of the calls at or below it
        rank, seen = max(math.ceil(q * total), 1), 0
        for bucket, n in buckets:
            seen += n
            if seen >= rank:
                out[f"p{round(q * 100)}"] = round(otlp.bucket_value(bucket), 3)
                break
    return out


def _none(value: Any) -> Any:
    return None if value == "" else value


@dataclass
class Usage:
    """Counts, token sums and cost of a group of calls."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost: Optional[float] = None
    unpriced_calls: int = 0
    last_ns: int = 0

    def add(self, row: Row, cost: Optional[float]) -> None:
        calls = int(row["calls"] or 0)
        self.calls += calls
        if row["error"]:
            self.errors += calls
        for key in ("input_tokens", "output_tokens", "cache_read", "cache_write"):
            setattr(self, key, getattr(self, key) + int(row[key] or 0))
        self.last_ns = max(self.last_ns, int(row["last_ns"] or 0))
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost
        else:
            self.unpriced_calls += int(row["tokened"] or 0)  # calls without tokens (failed) cost nothing

    def as_dict(self) -> Dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": round(self.errors / self.calls, 4) if self.calls else 0.0,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read,
            "cache_write_tokens": self.cache_write,
            "total_tokens": self.input_tokens + self.output_tokens,
            "cost_usd": None if self.cost is None else round(self.cost, 6),
            "cost_complete": self.unpriced_calls == 0,
            "last_seen_ns": self.last_ns or None,
        }


class _Read:
    """One read transaction: the connection, the rollups' watermark and the range."""

    def __init__(self, conn: sqlite3.Connection, f: Filters) -> None:
        self.conn = conn
        self.rolled_to = Store.rolled_to(conn)
        self.f = f
        self.s, self.e = f.minutes()

    def counts(self, group: Sequence[str], where: Optional[rollups.Where] = None, s: Optional[int] = None,
               e: Optional[int] = None, step: Optional[int] = None) -> List[sqlite3.Row]:
        return rollups.counts(self.conn, where or self.f.where(), self.s if s is None else s, self.e if e is None else e,
                              group, self.rolled_to, step)


class Views:
    def __init__(self, store: Store, prices: PriceTable) -> None:
        self.store = store
        self.prices = prices

    # ------------------------------------------------------------------ pricing
    def _cost(self, base_model: Optional[str], row: Row) -> Optional[float]:
        return self.prices.cost(base_model, row["input_tokens"], row["output_tokens"], row["cache_read"], row["cache_write"])

    def call_cost(self, row: Row) -> Optional[float]:
        """One call's cost: None when it failed, reported no tokens, or is not priced."""
        if row["error"] or row["operation"] in otlp.AGGREGATE_OPERATIONS:
            return None
        if all(row[k] is None for k in ("input_tokens", "output_tokens", "cache_read", "cache_write")):
            return None
        return self._cost(row["base_model"], row)

    # ------------------------------------------------------------------ aggregates (also for alerts.py)
    def usage(self, f: Filters, keys: Sequence[str]) -> Dict[Tuple[Any, ...], Usage]:
        """Usage per combination of ``keys`` (``app``, ``base_model``, ``api``, ``operation``)."""
        with self.store.read() as conn:
            return self._usage(_Read(conn, f), keys)

    def _usage(self, r: _Read, keys: Sequence[str], rows: Optional[List[sqlite3.Row]] = None) -> Dict[Tuple[Any, ...], Usage]:
        for k in keys:
            if k not in _USAGE_KEYS:
                raise ValueError(k)
        group = list(dict.fromkeys([*keys, "base_model", "error"]))
        out: Dict[Tuple[Any, ...], Usage] = defaultdict(Usage)
        for row in rows if rows is not None else r.counts(group):
            model = _none(row["base_model"])
            out[tuple(_none(row[k]) for k in keys)].add(row, self._cost(model, row))
        return out

    def latency(self, f: Filters, keys: Sequence[str]) -> Dict[Tuple[Any, ...], Dict[str, Optional[float]]]:
        """Latency percentiles per combination of ``keys`` (``app``, ``base_model``, ``api``)."""
        with self.store.read() as conn:
            return self._latency(_Read(conn, f), keys)

    def _latency(self, r: _Read, keys: Sequence[str], only: Optional[Dict[str, List[str]]] = None,
                 step: Optional[int] = None) -> Dict[Tuple[Any, ...], Dict[str, Optional[float]]]:
        hist = self._histograms(r, keys, only, step)
        return {k: percentiles(h) for k, h in hist.items()}

    def _histograms(self, r: _Read, keys: Sequence[str], only: Optional[Dict[str, List[str]]] = None,
                    step: Optional[int] = None) -> Dict[Tuple[Any, ...], Dict[int, int]]:
        w = r.f.where()
        dims = [k for k in keys if k != "bin"]
        table = rollups.latency_table(w, dims)
        lists: Dict[str, List[str]] = {}
        missing = [d for d in table.dims if getattr(w, d) is None]
        if missing:
            if only is not None and set(missing) <= set(only):
                lists = {d: only[d] for d in missing}
            else:
                present = r.counts(missing)
                lists = {d: sorted({row[d] for row in present}) for d in missing}
            if any(not v for v in lists.values()):
                return {}
        w = rollups.Where(w.app, w.base_model, w.api, w.error, lists.get("app"), lists.get("base_model"), lists.get("api"))
        hist: Dict[Tuple[Any, ...], Dict[int, int]] = defaultdict(dict)
        for row in rollups.latency(r.conn, w, r.s, r.e, keys, r.rolled_to, step):
            if row["n"]:
                hist[tuple(_none(row[k]) for k in keys)][row["bucket"]] = int(row["n"])
        return hist

    def _grouped(self, r: _Read, key: str, label: str, limit: int = MAX_LIST, offset: int = 0) -> List[Dict[str, Any]]:
        usage = self._usage(r, [key])
        ranked = sorted(usage.items(), key=lambda kv: (-kv[1].calls, str(kv[0][0])))[offset:offset + limit]
        names = [k[0] if k[0] is not None else "" for k, _ in ranked]
        latency = self._latency(r, [key], {key: names}) if names else {}
        empty = percentiles({})
        return [{label: k[0], **u.as_dict(), "latency_ms": latency.get(k, empty)} for k, u in ranked]

    # ------------------------------------------------------------------ views
    def apps(self, f: Filters, limit: int = MAX_LIST, offset: int = 0) -> List[Dict[str, Any]]:
        """Applications (``service.name`` / ``ml_app``), most calls first, at most ``limit``."""
        with self.store.read() as conn:
            return self._grouped(_Read(conn, f), "app", "app", limit, offset)

    def models(self, f: Filters, limit: int = MAX_LIST) -> List[Dict[str, Any]]:
        with self.store.read() as conn:
            return self._models(_Read(conn, f), limit)

    def _models(self, r: _Read, limit: int = MAX_LIST) -> List[Dict[str, Any]]:
        rows = self._grouped(r, "base_model", "model", limit)
        for row in rows:
            price = self.prices.lookup(row["model"])
            row["model_name"] = price.name if price else None
        return rows

    def apis(self, f: Filters, limit: int = MAX_LIST) -> List[Dict[str, Any]]:
        with self.store.read() as conn:
            return self._grouped(_Read(conn, f), "api", "api", limit)

    def count(self, f: Filters, key: str) -> int:
        """How many applications / models / APIs have calls in the range (for paging)."""
        with self.store.read() as conn:
            return len(self._usage(_Read(conn, f), [key]))

    def total(self, f: Filters) -> Dict[str, Any]:
        with self.store.read() as conn:
            return self._total(_Read(conn, f))

    def _total(self, r: _Read) -> Dict[str, Any]:
        usage = self._usage(r, []).get((), Usage())
        return {**usage.as_dict(), "latency_ms": self._latency(r, []).get((), percentiles({}))}

    def stats(self, f: Filters) -> Dict[str, Any]:
        with self.store.read() as conn:
            r = _Read(conn, f)
            return {"apps": self._grouped(r, "app", "app"), "models": self._models(r),
                    "apis": self._grouped(r, "api", "api"), "total": self._total(r)}

    def summary(self, app: str, f: Filters, now_ns: Optional[int] = None) -> Dict[str, Any]:
        """Application summary: time series for the charts and the breakdown by model."""
        f = Filters(app, f.model, f.status, f.since_ns, f.until_ns, f.api)
        now_ns = time.time_ns() if now_ns is None else now_ns
        with self.store.read() as conn:
            r = _Read(conn, f)
            total = self._total(r)
            s = r.s if f.since_ns is not None else self._first_minute(r, app)
            e = r.e if f.until_ns is not None else max(now_ns, (total["last_seen_ns"] or 0) + 1) // MINUTE_NS + 1
            s = min(s, e - 1)
            step = next((st for st in STEPS if -(-(e - s) // st) + 1 <= MAX_POINTS), 0)
            if not step:
                step = -(-(e - s) // (MAX_POINTS - 1) // 1440) * 1440
            series = self._series(r, s, e, step)
            return {"app": app, "total": total, "step_seconds": step * 60, "start_ns": s * MINUTE_NS,
                    "end_ns": e * MINUTE_NS, "series": series, "models": self._models(r)}

    def _first_minute(self, r: _Read, app: str) -> int:
        first: Optional[int] = None
        for tier, _width in reversed(rollups.TIERS):
            row = r.conn.execute("SELECT MIN(t) FROM roll_calls INDEXED BY roll_calls_by_app WHERE tier = ? AND app = ? "
                                 "AND t >= ?", (tier, app, first or 0)).fetchone()
            if row[0] is None:
                break
            first = int(row[0])
        tail = r.conn.execute("SELECT MIN(start_ns) FROM calls NOT INDEXED WHERE id > ? AND app = ?",
                              (r.rolled_to, app)).fetchone()[0]
        if tail is not None:
            first = min(first if first is not None else tail // MINUTE_NS, tail // MINUTE_NS)
        return first if first is not None else time.time_ns() // MINUTE_NS

    def _series(self, r: _Read, s: int, e: int, step: int) -> List[Dict[str, Any]]:
        """Bins of ``step`` minutes aligned to multiples of the step; the first and last are
        cut to [s, e), and their rates are per their covered width."""
        points: Dict[int, Dict[str, Any]] = {}
        for b in range(s // step * step, e, step):
            lo, hi = max(b, s), min(b + step, e)
            points[b] = {"t_ns": lo * MINUTE_NS, "minutes": hi - lo, "calls": 0, "errors": 0, "input_tokens": 0,
                         "output_tokens": 0, "cost_usd": 0.0}
        rows = rollups.counts(r.conn, r.f.where(), s, e, ["bin", "base_model", "error"], r.rolled_to, step)
        for row in rows:
            p = points.get(row["bin"])
            if p is None:
                continue
            p["calls"] += row["calls"]
            if row["error"]:
                p["errors"] += row["calls"]
            p["input_tokens"] += row["input_tokens"] or 0
            p["output_tokens"] += row["output_tokens"] or 0
            p["cost_usd"] += self._cost(_none(row["base_model"]), row) or 0.0
        hist: Dict[int, Dict[int, int]] = defaultdict(dict)
        sr = _Read(r.conn, r.f)
        sr.s, sr.e = s, e
        for key, h in self._histograms(sr, ["bin"], None, step).items():
            hist[key[0]] = h
        out = []
        for b, p in sorted(points.items()):
            p["calls_per_min"] = round(p["calls"] / p["minutes"], 3) if p["minutes"] else 0.0
            p["cost_usd"] = round(p["cost_usd"], 6)
            p["latency_ms"] = percentiles(hist.get(b, {}))
            out.append(p)
        return out

    # ------------------------------------------------------------------ lists
    def calls(self, f: Filters, page: int = 1, per_page: int = 50, cursor: Optional[str] = None) -> Dict[str, Any]:
        """Calls list: one row per GenAI span, newest first. ``next_cursor`` continues it."""
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ConfigError(f"per_page={per_page} is not valid; use 1 to {MAX_PER_PAGE}")
        if page < 1:
            raise ConfigError(f"page={page} is not valid; use a whole number >= 1")
        offset = (page - 1) * per_page
        if offset > MAX_OFFSET:
            raise ConfigError(f"page={page} is too deep for page numbers (the first {MAX_OFFSET:,} calls); "
                              "follow next_cursor to go further")
        before = _parse_cursor(cursor) if cursor else None
        with self.store.read() as conn:
            rows = self._list(conn, f, offset, per_page + 1, before)
        items = [self._call(r) for r in rows[:per_page]]
        has_next = len(rows) > per_page
        last = rows[per_page - 1] if has_next else None
        return {"items": items, "page": page, "per_page": per_page, "has_next": has_next,
                "next_cursor": f"{last['start_ns']}.{last['span_id'].hex()}" if last is not None else None}

    def _list(self, conn: sqlite3.Connection, f: Filters, offset: int, limit: int,
              before: Optional[Tuple[int, bytes]]) -> List[sqlite3.Row]:
        r = _Read(conn, f)
        hi_ns = f.until_ns if f.until_ns is not None else otlp.MAX_NS + 1
        if before is not None:
            hi_ns = min(hi_ns, before[0] + 1)
        lo_ns = f.since_ns or 0
        if lo_ns >= hi_ns:
            return []
        # From the rollups: how far back the page reaches, so only its calls are read.
        need = offset + limit
        s, e = lo_ns // MINUTE_NS, min(-(-hi_ns // MINUTE_NS), rollups.END_MINUTE)
        floor_min, total = self._reach(r, s, e, need)
        if total == 0:
            return []
        start = max(lo_ns, floor_min * MINUTE_NS)
        index = self._list_index(f)
        where = ["start_ns >= ?", "start_ns <= ?"]
        args: List[Any] = [start, min(hi_ns - 1, otlp.MAX_NS)]
        if f.app is not None:
            where.append("app = ?")
            args.append(f.app)
        if f.model is not None:
            where.append("base_model = ?")
            args.append(f.base_model)
        if f.api is not None:
            where.append("api = ?")
            args.append(f.api)
        if f.status is not None:
            where.append(f"error = {int(f.error or 0)}")  # a literal: calls_failed is a partial index on error = 1
        if before is not None:  # after the cursor: older, or as old with a smaller span ID
            where.append("(start_ns < ? OR (start_ns = ? AND span_id < ?))")
            args += [before[0], before[0], before[1]]
        sql = (f"SELECT {CALL_COLUMNS} FROM calls INDEXED BY {index} WHERE {' AND '.join(where)} "
               "ORDER BY start_ns DESC, span_id DESC LIMIT ? OFFSET ?")
        rows = conn.execute(sql, [*args, limit, offset]).fetchall()
        if len(rows) < limit and start > lo_ns:  # the minute-wide estimate fell short: read the whole range
            args[0] = lo_ns
            rows = conn.execute(sql, [*args, limit, offset]).fetchall()
        return rows

    def _reach(self, r: _Read, s: int, e: int, need: int) -> Tuple[int, int]:
        """(minute from which [.., e) holds at least ``need`` matching calls, all matching
        calls in [s, e)): days back from ``e``, then the hours of the day where the
        count crosses ``need``, then that hour's minutes."""
        w = r.f.where()
        lo, hi = s, e
        counted = 0  # matching calls in [hi, e)
        total: Optional[int] = None
        for tier, width in reversed(rollups.TIERS):
            slots = rollups.slots(r.conn, w, lo, hi, tier, r.rolled_to)  # newest first
            if total is None:
                total = sum(n for _, n in slots)
                if total < need:
                    return s, total
            crossed = None
            for slot, n in slots:
                if counted + n >= need:
                    crossed = slot
                    break
                counted += n
            if crossed is None:
                return s, total
            lo, hi = max(crossed, s), min(crossed + width, hi)
        return lo, total or 0

    @staticmethod
    def _list_index(f: Filters) -> str:
        """The index that walks the matching calls newest first with the least skipping:
        failed calls have their own; an application its own; a model or API filter
        walks time (the rollups have already narrowed the range to where its calls are)."""
        if f.status == "error":
            return "calls_failed"
        if f.app is not None:
            return "calls_by_app"
        return "calls_by_time"

    def _call(self, r: Row, preview: bool = True) -> Dict[str, Any]:
        prompt = None
        if preview and r["body"] is not None:
            try:
                prompt = genai.prompt_preview({sc.INPUT_MESSAGES: otlp.read_attribute(r["body"], sc.INPUT_MESSAGES)})
            except Exception:  # noqa: BLE001 - a body that does not decode shows no preview
                prompt = None
        return {
            "trace_id": r["trace_id"].hex(),
            "span_id": r["span_id"].hex(),
            "name": r["name"],
            "start_ns": r["start_ns"],
            "duration_ms": round(max(r["end_ns"] - r["start_ns"], 0) / 1e6, 3),
            "app": r["app"],
            "operation": r["operation"],
            "api": r["api"],
            "model": r["model"],
            "base_model": r["base_model"],
            "status": "error" if r["error"] else "ok",
            "input_tokens": r["input_tokens"],
            "output_tokens": r["output_tokens"],
            "cache_read_tokens": r["cache_read"],
            "cache_write_tokens": r["cache_write"],
            "cost_usd": _round(self.call_cost(r)),
            "error_type": r["error_type"],
            "error_message": r["error_message"],
            "prompt": prompt,
            "notes": _notes(r["notes"]),
        }

    def errors(self, f: Filters, per_page: int = 50) -> Dict[str, Any]:
        with self.store.read() as conn:
            r = _Read(conn, f)
            groups = [
                {"app": g["app"], "model": _none(g["base_model"]), "error_type": _none(g["error_type"]),
                 "calls": g["calls"], "first_seen_ns": g["first_ns"], "last_seen_ns": g["last_ns"], "message": g["message"]}
                for g in rollups.error_groups(conn, f.where(), r.s, r.e, r.rolled_to, MAX_LIST)
            ] if f.status != "ok" else []
        recent = self.calls(Filters(f.app, f.model, "error", f.since_ns, f.until_ns, f.api), 1, per_page)["items"]
        return {"groups": groups, "recent": recent}

    # ------------------------------------------------------------------ one trace
    def trace(self, trace_id: str) -> Optional[Dict[str, Any]]:
        """The span tree of one trace: each span with its ``children`` (span IDs, in
        start order) and ``subtree`` sums over the model calls at and under it; GenAI
        calls also with their conversation, parameters and cost."""
        try:
            raw_id = bytes.fromhex(trace_id)
        except ValueError:
            return None
        if len(raw_id) != 16:
            return None
        calls, others, resources = self.store.trace(raw_id, MAX_TRACE_SPANS)
        if not calls and not others:
            return None
        spans = [self._trace_call(r, resources) for r in calls] + [self._trace_span(r, resources) for r in others]
        spans.sort(key=lambda s: (s["start_ns"], s["span_id"]))
        start = min(s["start_ns"] for s in spans)
        end = max(s["start_ns"] + int(s["duration_ms"] * 1e6) for s in spans)
        by_id: Dict[str, Dict[str, Any]] = {}
        for s in spans:
            by_id.setdefault(s["span_id"], s)
        children: Dict[Optional[str], List[Dict[str, Any]]] = defaultdict(list)
        for s in by_id.values():
            parent = s["parent_id"] if s["parent_id"] in by_id and s["parent_id"] != s["span_id"] else None
            children[parent].append(s)
        ordered: List[Dict[str, Any]] = []
        seen: set = set()
        roots = list(children.get(None, []))
        # spans caught in a parent cycle have no root: show them as roots
        stack: List[Tuple[Dict[str, Any], int]] = [(s, 0) for s in reversed(roots)]
        while True:
            while stack:
                s, depth = stack.pop()
                if s["span_id"] in seen:
                    continue
                seen.add(s["span_id"])
                s["depth"] = depth
                s["offset_ms"] = round((s["start_ns"] - start) / 1e6, 3)
                kids = [k for k in children.get(s["span_id"], []) if k["span_id"] not in seen]
                s["children"] = [k["span_id"] for k in kids]
                ordered.append(s)
                stack.extend((k, depth + 1) for k in reversed(kids))
            rest = [s for s in by_id.values() if s["span_id"] not in seen]
            if not rest:
                break
            stack = [(rest[0], 0)]
        for s in reversed(ordered):  # children come after their parent: sum bottom-up
            sub = _own(s)
            for kid_id in s["children"]:
                _merge(sub, by_id[kid_id]["subtree"])
            s["subtree"] = _finish(sub)
        for s in ordered:
            s.pop("_own", None)
        model_calls = [s for s in ordered if s["genai"]]
        total = _own_total(ordered)
        return {
            "trace_id": trace_id.lower(),
            "start_ns": start,
            "duration_ms": round((end - start) / 1e6, 3),
            "apps": sorted({s["app"] for s in spans}),
            "spans": ordered,
            "truncated": len(calls) + len(others) >= MAX_TRACE_SPANS,
            "calls": len(model_calls),
            **total,
        }

    def _trace_call(self, r: sqlite3.Row, resources: Mapping[bytes, bytes]) -> Dict[str, Any]:
        span = self._trace_span(r, resources)
        attrs = span["attributes"]
        call = self._call(r, preview=False)
        call["prompt"] = genai.prompt_preview(attrs)
        span.update(call)
        span["genai"] = True
        span["conversation"] = genai.conversation(attrs)
        span["parameters"] = genai.parameters(attrs)
        span["response_model"] = attrs.get(sc.RESPONSE_MODEL)
        span["finish_reasons"] = attrs.get(sc.RESPONSE_FINISH_REASONS)
        span["attributes"] = {k: v for k, v in attrs.items() if k not in genai.CONTENT_ATTRIBUTES}
        counted = r["operation"] not in otlp.AGGREGATE_OPERATIONS
        tokened = counted and any(r[k] is not None for k in ("input_tokens", "output_tokens", "cache_read", "cache_write"))
        span["_own"] = {
            "calls": 1, "model_calls": int(counted and r["model"] is not None), "errors": int(bool(r["error"])),
            "input_tokens": (r["input_tokens"] or 0) if counted else 0,
            "output_tokens": (r["output_tokens"] or 0) if counted else 0,
            "cache_read_tokens": (r["cache_read"] or 0) if counted else 0,
            "cache_write_tokens": (r["cache_write"] or 0) if counted else 0,
            "cost": call["cost_usd"], "unpriced": int(tokened and call["cost_usd"] is None and not r["error"]),
        }
        return span

    def _trace_span(self, r: sqlite3.Row, resources: Mapping[bytes, bytes]) -> Dict[str, Any]:
        try:
            stored = otlp.read_span(r["body"])
        except Exception:  # noqa: BLE001 - show the row's columns even if its body is damaged
            stored = otlp.StoredSpan(r["name"], r["kind"], "", {}, [], [], {})
        try:
            resource = otlp.read_resource(resources.get(r["resource"]))
        except Exception:  # noqa: BLE001
            resource = {}
        return {
            "span_id": r["span_id"].hex(),
            "parent_id": r["parent_id"].hex() if r["parent_id"] else None,
            "name": r["name"],
            "kind": r["kind"],
            "start_ns": r["start_ns"],
            "duration_ms": round(max(r["end_ns"] - r["start_ns"], 0) / 1e6, 3),
            "status": "error" if r["status"] == otlp.STATUS_ERROR else "ok",
            "status_message": stored.status_message or None,
            "app": r["app"],
            "scope": r["scope"],
            "genai": False,
            "events": stored.events,
            "links": stored.links,
            "dropped": stored.dropped,
            "resource": resource,
            "attributes": stored.attributes,
            "notes": _notes(r["notes"]),
        }

    # ------------------------------------------------------------------ the rest
    def alerts(self, limit: int = 100) -> List[Dict[str, Any]]:
        return [dict(r) for r in self.store.alert_events(limit)]

    def filter_options(self) -> Dict[str, List[str]]:
        """Values for the filter menus: the applications, models and APIs with the most
        calls (at most MAX_OPTIONS each), alphabetically."""
        out: Dict[str, List[str]] = {}
        with self.store.read() as conn:
            rolled = Store.rolled_to(conn)
            for key, column in (("apps", "app"), ("models", "base_model"), ("apis", "api")):
                rows = conn.execute(f"SELECT {column}, SUM(calls) FROM roll_calls WHERE tier = 2 GROUP BY {column} "
                                    f"ORDER BY 2 DESC LIMIT {MAX_OPTIONS}").fetchall()
                names = {r[0] for r in rows if r[0]}
                tail = conn.execute(f"SELECT DISTINCT {column} FROM calls NOT INDEXED WHERE id > ? LIMIT {MAX_OPTIONS}",
                                    (rolled,)).fetchall()
                names |= {r[0] for r in tail if r[0]}
                out[key] = sorted(names)[:MAX_OPTIONS]
        return out


# ---------------------------------------------------------------------------- helpers


def _own(s: Dict[str, Any]) -> Dict[str, Any]:
    own = s.get("_own")
    if own is None:
        return {"calls": 0, "model_calls": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
                "cache_write_tokens": 0, "cost": None, "unpriced": 0}
    return dict(own)


def _merge(acc: Dict[str, Any], sub: Dict[str, Any]) -> None:
    for k in ("calls", "model_calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        acc[k] += sub[k]
    acc["unpriced"] += sub["_unpriced"]
    if sub["cost_usd"] is not None:
        acc["cost"] = (acc["cost"] or 0.0) + sub["cost_usd"]


def _finish(acc: Dict[str, Any]) -> Dict[str, Any]:
    out = {k: acc[k] for k in ("calls", "model_calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                               "cache_write_tokens")}
    out["cost_usd"] = _round(acc["cost"])
    out["cost_complete"] = acc["unpriced"] == 0
    out["_unpriced"] = acc["unpriced"]
    return out


def _own_total(ordered: List[Dict[str, Any]]) -> Dict[str, Any]:
    acc = _own({})
    for s in ordered:
        if s["depth"] == 0:
            _merge(acc, s["subtree"])
    for s in ordered:
        s["subtree"].pop("_unpriced", None)
    total = _finish(acc)
    total.pop("_unpriced")
    return {"cost_usd": total["cost_usd"], "cost_complete": total["cost_complete"],
            "input_tokens": total["input_tokens"], "output_tokens": total["output_tokens"], "errors": total["errors"]}


def _notes(bits: int) -> List[str]:
    return [text for bit, text in otlp.NOTE_NAMES.items() if bits & bit]


def _parse_cursor(cursor: str) -> Tuple[int, bytes]:
    """``"<start ns>.<span id hex>"`` (``next_cursor``) -> (start, span ID)."""
    try:
        start, _, span = cursor.partition(".")
        value = (int(start), bytes.fromhex(span))
    except ValueError:
        raise ConfigError(f"cursor={cursor!r} is not valid; pass next_cursor from the previous page") from None
    if not 0 <= value[0] <= otlp.MAX_NS or len(value[1]) != 8:
        raise ConfigError(f"cursor={cursor!r} is not valid; pass next_cursor from the previous page")
    return value


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 8)


def filters_from(params: Mapping[str, Any], now_ns: Optional[int] = None) -> Filters:
    """Filters from query parameters or CLI options (app, model, api, status, since, until)."""
    status = params.get("status") or None
    if status not in (None, "ok", "error"):
        raise ConfigError(f"status={status!r} is not valid; accepted: ok, error")
    since = since_ns(params.get("since"), now_ns)
    until = params.get("until")
    until_ns = since_ns(until, now_ns, "until") if until else None
    return Filters(params.get("app") or None, params.get("model") or None, status, since, until_ns,
                   params.get("api") or None)
