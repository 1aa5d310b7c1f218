"""What each view shows, as plain data: the web pages, the JSON API and the CLI all use these.

The store answers with token sums per model; this module prices them, turns
duration histograms into percentiles and shapes the result. Cost is ``None``
("unknown") when no call of the group has a known price, and
``cost_complete`` is False when only some of them do.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import genai
from .configfile import ConfigError, parse_duration
from .prices import PriceTable
from .store import TOKEN_SUMS, Filters, Store, bucket_value

#: Time ranges offered by the UI and the CLI (``--since``), besides any duration.
RANGES = ("15m", "1h", "6h", "24h", "7d", "all")
#: Chart steps, in seconds; the first that gives at most MAX_POINTS points is used.
STEPS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 86400)
MAX_POINTS = 60
NS = 1_000_000_000


def since_ns(value: Optional[str], now_ns: Optional[int] = None, name: str = "since") -> Optional[int]:
    """``"1h"`` -> the time one hour ago; an ISO 8601 time as it says (UTC if no zone);
    ``"all"``, empty or None -> no bound."""
    if not value or value == "all":
        return None
    if "T" in value or value.count("-") == 2:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not an ISO 8601 time (e.g. 2026-11-27T09:30)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return int(when.timestamp() * NS)
    now_ns = time.time_ns() if now_ns is None else now_ns
    return now_ns - int(parse_duration(value, name) * NS)


def percentiles(histogram: Mapping[int, int], qs: Sequence[float] = (0.5, 0.95, 0.99)) -> Dict[str, Optional[float]]:
    """``{"p50": ms, "p95": ms, ...}`` from ``{bucket: count}``."""
    total = sum(histogram.values())
    out: Dict[str, Optional[float]] = {f"p{round(q * 100)}": None for q in qs}
    if not total:
        return out
    buckets = sorted(histogram.items())
    for q in qs:  # nearest rank: the smallest value with at least q of the calls at or below it
        rank, seen = max(math.ceil(q * total), 1), 0
        for bucket, n in buckets:
            seen += n
            if seen >= rank:
                out[f"p{round(q * 100)}"] = round(bucket_value(bucket), 3)
                break
    return out


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

    def add(self, row: Mapping[str, Any], cost: Optional[float]) -> None:
        self.calls += row["calls"]
        self.errors += row["errors"] or 0
        for key in ("input_tokens", "output_tokens", "cache_read", "cache_write"):
            setattr(self, key, getattr(self, key) + (row[key] or 0))
        self.last_ns = max(self.last_ns, row["last_ns"] or 0)
        if cost is None:
            self.unpriced_calls += row["calls"]
        else:
            self.cost = (self.cost or 0.0) + cost

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


class Views:
    def __init__(self, store: Store, prices: PriceTable) -> None:
        self.store = store
        self.prices = prices

    # ------------------------------------------------------------------ helpers
    def _cost(self, row: Mapping[str, Any]) -> Optional[float]:
        return self.prices.cost(row["base_model"], row["input_tokens"], row["output_tokens"],
                                row["cache_read"], row["cache_write"])

    def usage(self, f: Filters, keys: Sequence[str]) -> Dict[Tuple[Any, ...], Usage]:
        """Usage per combination of ``keys`` (store columns), priced model by model."""
        cols = list(keys) if "base_model" in keys else [*keys, "base_model"]
        out: Dict[Tuple[Any, ...], Usage] = defaultdict(Usage)
        for row in self.store.totals(f, cols):
            out[tuple(row[k] for k in keys)].add(row, self._cost(row))
        return out

    def latency(self, f: Filters, keys: Sequence[str]) -> Dict[Tuple[Any, ...], Dict[str, Optional[float]]]:
        """Latency percentiles per combination of ``keys``."""
        hist: Dict[Tuple[Any, ...], Dict[int, int]] = defaultdict(dict)
        for row in self.store.latency_histogram(f, keys):
            hist[tuple(row[k] for k in keys)][row["dur_bucket"]] = row["n"]
        return {k: percentiles(h) for k, h in hist.items()}

    def _grouped(self, f: Filters, key: str, label: str) -> List[Dict[str, Any]]:
        usage, latency = self.usage(f, [key]), self.latency(f, [key])
        rows = [
            {label: k[0], **u.as_dict(), "latency_ms": latency.get(k, percentiles({}))}
            for k, u in usage.items()
        ]
        rows.sort(key=lambda r: (-r["calls"], str(r[label])))
        return rows

    # ------------------------------------------------------------------ views
    def apps(self, f: Filters) -> List[Dict[str, Any]]:
        """Applications: one row per service.name / ml_app."""
        return self._grouped(f, "app", "app")

    def models(self, f: Filters) -> List[Dict[str, Any]]:
        rows = self._grouped(f, "base_model", "model")
        for row in rows:
            price = self.prices.lookup(row["model"])
            row["model_name"] = price.name if price else None
        return rows

    def stats(self, f: Filters) -> Dict[str, Any]:
        return {"apps": self.apps(f), "models": self.models(f), "total": self.total(f)}

    def total(self, f: Filters) -> Dict[str, Any]:
        usage = self.usage(f, []).get((), Usage())
        return {**usage.as_dict(), "latency_ms": self.latency(f, []).get((), percentiles({}))}

    def summary(self, app: str, f: Filters, now_ns: Optional[int] = None) -> Dict[str, Any]:
        """Application summary: time series for the charts and the breakdown by model."""
        f = Filters(app, f.model, f.status, f.since_ns, f.until_ns)
        total = self.total(f)
        first = self.store.query(
            f"SELECT MIN(start_ns), MAX(start_ns) FROM spans WHERE {f.where()[0]}", f.where()[1]
        )[0]
        now_ns = time.time_ns() if now_ns is None else now_ns
        start = f.since_ns if f.since_ns is not None else (first[0] or now_ns)
        end = f.until_ns if f.until_ns is not None else max(now_ns, (first[1] or now_ns) + 1)
        step = next((s for s in STEPS if (end - start) / (s * NS) <= MAX_POINTS), STEPS[-1])
        series = self._series(f, start, end, step)
        return {
            "app": app,
            "total": total,
            "step_seconds": step,
            "start_ns": start,
            "end_ns": end,
            "series": series,
            "models": self.models(f),
        }

    def _series(self, f: Filters, start: int, end: int, step: int) -> List[Dict[str, Any]]:
        step_ns = step * NS
        first_bucket = start // step_ns
        points: Dict[int, Dict[str, Any]] = {}
        for b in range(first_bucket, (end - 1) // step_ns + 1):
            points[b] = {"t_ns": b * step_ns, "calls": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0,
                         "cost_usd": 0.0}
        bucket_expr = f"start_ns / {step_ns} AS bucket"
        where, args = f.where()
        rows = self.store.query(
            f"SELECT {bucket_expr}, base_model, COUNT(*) AS calls, SUM(error) AS errors, {TOKEN_SUMS} "
            f"FROM spans WHERE {where} GROUP BY bucket, base_model",
            args,
        )
        for row in rows:
            p = points.get(row["bucket"])
            if p is None:
                continue
            p["calls"] += row["calls"]
            p["errors"] += row["errors"] or 0
            p["input_tokens"] += row["input_tokens"] or 0
            p["output_tokens"] += row["output_tokens"] or 0
            p["cost_usd"] += self._cost(row) or 0.0
        hist: Dict[int, Dict[int, int]] = defaultdict(dict)
        for row in self.store.query(
            f"SELECT {bucket_expr}, dur_bucket, COUNT(*) AS n FROM spans WHERE {where} GROUP BY bucket, dur_bucket", args
        ):
            hist[row["bucket"]][row["dur_bucket"]] = row["n"]
        out = []
        for b, p in sorted(points.items()):
            p["calls_per_min"] = round(p["calls"] * 60.0 / step, 3)
            p["cost_usd"] = round(p["cost_usd"], 6)
            p["latency_ms"] = percentiles(hist.get(b, {}))
            out.append(p)
        return out

    def calls(self, f: Filters, page: int = 1, per_page: int = 50) -> Dict[str, Any]:
        """Traces list: one row per GenAI call, newest first."""
        page = max(page, 1)
        rows = self.store.calls(f, per_page + 1, (page - 1) * per_page)
        return {
            "items": [self._call(r) for r in rows[:per_page]],
            "page": page,
            "per_page": per_page,
            "has_next": len(rows) > per_page,
        }

    def _call(self, r: Mapping[str, Any]) -> Dict[str, Any]:
        return {
            "trace_id": r["trace_id"],
            "span_id": r["span_id"],
            "name": r["name"],
            "start_ns": r["start_ns"],
            "duration_ms": round(r["duration_ms"], 3),
            "app": r["app"],
            "operation": r["operation"],
            "model": r["model"],
            "base_model": r["base_model"],
            "status": "error" if r["error"] else "ok",
            "input_tokens": r["input_tokens"],
            "output_tokens": r["output_tokens"],
            "cache_read_tokens": r["cache_read"],
            "cache_write_tokens": r["cache_write"],
            "cost_usd": _round(self._cost(r)),
            "error_type": r["error_type"],
            "error_message": r["error_message"],
            "prompt": r["preview"],
            "api": r["api"] if "api" in r.keys() else None,
        }

    def errors(self, f: Filters, per_page: int = 50) -> Dict[str, Any]:
        groups = [
            {
                "app": g["app"], "model": g["base_model"], "error_type": g["error_type"], "calls": g["calls"],
                "first_seen_ns": g["first_ns"], "last_seen_ns": g["last_ns"], "message": g["message"],
            }
            for g in self.store.error_groups(f)
        ]
        recent = self.calls(Filters(f.app, f.model, "error", f.since_ns, f.until_ns, f.api), 1, per_page)["items"]
        return {"groups": groups, "recent": recent}

    def trace(self, trace_id: str) -> Optional[Dict[str, Any]]:
        """Trace detail: the span tree, with each GenAI call's conversation, parameters and cost."""
        rows = self.store.trace(trace_id)
        if not rows:
            return None
        start = min(r["start_ns"] for r in rows)
        end = max(r["end_ns"] for r in rows)
        spans = [self._span(r) for r in rows]
        by_id = {s["span_id"]: s for s in spans}
        children: Dict[Optional[str], List[Dict[str, Any]]] = defaultdict(list)
        for s in spans:
            parent = s["parent_id"] if s["parent_id"] in by_id else None
            children[parent].append(s)
        ordered: List[Dict[str, Any]] = []

        def walk(parent: Optional[str], depth: int) -> None:
            for s in sorted(children.get(parent, []), key=lambda x: x["start_ns"]):
                s["depth"] = depth
                s["offset_ms"] = round((s["start_ns"] - start) / 1e6, 3)
                ordered.append(s)
                walk(s["span_id"], depth + 1)

        walk(None, 0)
        calls = [s for s in ordered if s["genai"]]
        return {
            "trace_id": trace_id,
            "start_ns": start,
            "duration_ms": round((end - start) / 1e6, 3),
            "apps": sorted({s["app"] for s in spans}),
            "spans": ordered,
            "cost_usd": _round(sum(c["cost_usd"] for c in calls if c["cost_usd"] is not None)) if any(
                c["cost_usd"] is not None for c in calls) else None,
        }

    def _span(self, r: Mapping[str, Any]) -> Dict[str, Any]:
        attrs = json.loads(r["attributes"])
        span = {
            "span_id": r["span_id"],
            "parent_id": r["parent_id"],
            "name": r["name"],
            "kind": r["kind"],
            "start_ns": r["start_ns"],
            "duration_ms": round(r["duration_ms"], 3),
            "status": "error" if r["error"] else "ok",
            "status_message": r["status_message"],
            "app": r["app"],
            "scope": r["scope"],
            "genai": bool(r["is_genai"]),
            "events": json.loads(r["events"]),
            "resource": json.loads(r["resource"]),
        }
        if r["is_genai"]:
            span.update(self._call(r))
            span["conversation"] = genai.conversation(attrs)
            span["parameters"] = genai.parameters(attrs)
            span["response_model"] = attrs.get("gen_ai.response.model")
            span["finish_reasons"] = attrs.get("gen_ai.response.finish_reasons")
            span["attributes"] = {k: v for k, v in attrs.items() if k not in genai.CONTENT_ATTRIBUTES}
        else:
            span["attributes"] = attrs
        return span

    def alerts(self, limit: int = 100) -> List[Dict[str, Any]]:
        return [dict(r) for r in self.store.alert_events(limit)]

    def filter_options(self) -> Dict[str, List[str]]:
        return {"apps": self.store.names("app"), "models": self.store.names("base_model"), "apis": self.store.names("api")}


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 8)


def filters_from(params: Mapping[str, Any], now_ns: Optional[int] = None) -> Filters:
    """Filters from query parameters or CLI options (app, model, status, since, until)."""
    status = params.get("status") or None
    if status not in (None, "ok", "error"):
        raise ConfigError(f"status={status!r} is not valid; accepted: ok, error")
    since = since_ns(params.get("since"), now_ns)
    until = params.get("until")
    until_ns = None
    if until:
        until_ns = since_ns(until, now_ns, "until")
    return Filters(params.get("app") or None, params.get("model") or None, status, since, until_ns,
                   params.get("api") or None)
