"""The collector's SQLite database: schema, ingest, retention and the queries behind each view.

One table holds every stored span; GenAI spans (``is_genai = 1``) carry the
columns the views aggregate, and partial covering indexes over those columns
let the Applications, Summary, Stats and alert queries run from the index
alone (``is_genai`` is repeated as the last column: SQLite counts an index as
covering only when it holds every column the query names). Spans of other kinds are kept only when their trace has a GenAI span,
so the trace tree can be drawn; a child that arrives before its GenAI span
waits in a small bounded buffer (see :class:`_Pending`).

Latency percentiles come from log-spaced duration buckets (``dur_bucket``,
1% relative accuracy, the DDSketch idea) so that they are one ``GROUP BY``
away instead of a sort of every duration.

Writes go through one connection under a lock; every reading thread has its
own connection. WAL lets readers (the UI, ``genai-tap traces``) run while the
collector writes.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from genai_tap import semconv as sc

from . import genai
from .otlp import MetricPoint, Span

SCHEMA_VERSION = 1
GAMMA = 1.02  # bucket growth: values within a bucket differ by at most ~1%
_LOG_GAMMA = math.log(GAMMA)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    dur_bucket INTEGER NOT NULL,
    status INTEGER NOT NULL,
    status_message TEXT,
    app TEXT NOT NULL,
    scope TEXT,
    is_genai INTEGER NOT NULL,
    operation TEXT,
    provider TEXT,
    model TEXT,
    base_model TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read INTEGER,
    cache_write INTEGER,
    error INTEGER NOT NULL DEFAULT 0,
    error_type TEXT,
    error_message TEXT,
    preview TEXT,
    attributes TEXT NOT NULL,
    resource TEXT NOT NULL,
    events TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS spans_by_id ON spans (trace_id, span_id);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);
CREATE INDEX IF NOT EXISTS calls_by_time ON spans (start_ns, app, base_model, error, dur_bucket,
    input_tokens, output_tokens, cache_read, cache_write, is_genai) WHERE is_genai = 1;
CREATE INDEX IF NOT EXISTS calls_by_app ON spans (app, start_ns, base_model, error, dur_bucket,
    input_tokens, output_tokens, cache_read, cache_write, is_genai) WHERE is_genai = 1;
CREATE INDEX IF NOT EXISTS calls_by_model ON spans (base_model, start_ns, app, error, dur_bucket,
    input_tokens, output_tokens, cache_read, cache_write, is_genai) WHERE is_genai = 1;
CREATE INDEX IF NOT EXISTS errors_by_time ON spans (start_ns) WHERE is_genai = 1 AND error = 1;
CREATE TABLE IF NOT EXISTS metric_points (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    app TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    model TEXT,
    count INTEGER,
    value REAL NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_points_by_time ON metric_points (time_ns);
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    threshold REAL NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_by_time ON alert_events (time_ns);
"""

SPAN_COLUMNS = (
    "trace_id", "span_id", "parent_id", "name", "kind", "start_ns", "end_ns", "duration_ms", "dur_bucket",
    "status", "status_message", "app", "scope", "is_genai", "operation", "provider", "model", "base_model",
    "input_tokens", "output_tokens", "cache_read", "cache_write", "error", "error_type", "error_message",
    "preview", "attributes", "resource", "events",
)
_INSERT = f"INSERT OR IGNORE INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES ({', '.join('?' * len(SPAN_COLUMNS))})"

#: The provider API of a call (genai_tap.bedrock.api: InvokeModel, Converse, ...), read from its attributes.
API_EXPR = "json_extract(attributes, '$.\"genai_tap.bedrock.api\"')"
#: Columns of the call lists (traces and errors views, ``genai-tap traces``).
CALL_COLUMNS = (
    "trace_id, span_id, name, start_ns, duration_ms, app, operation, model, base_model, input_tokens, "
    f"output_tokens, cache_read, cache_write, error, error_type, error_message, preview, {API_EXPR} AS api"
)
#: Token sums per group, which prices.py turns into cost.
TOKEN_SUMS = (
    "SUM(COALESCE(input_tokens, 0)) AS input_tokens, SUM(COALESCE(output_tokens, 0)) AS output_tokens, "
    "SUM(COALESCE(cache_read, 0)) AS cache_read, SUM(COALESCE(cache_write, 0)) AS cache_write"
)


def duration_bucket(ms: float) -> int:
    if ms <= 0.001:
        return -400  # everything under a microsecond
    return math.ceil(math.log(ms) / _LOG_GAMMA)


def bucket_value(bucket: int) -> float:
    """The representative duration (ms) of a bucket: within 1% of every value in it."""
    return 2.0 * GAMMA ** bucket / (GAMMA + 1.0)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class Filters:
    """Which calls a query covers; every field is optional."""

    __slots__ = ("app", "model", "status", "since_ns", "until_ns", "api")

    def __init__(self, app: Optional[str] = None, model: Optional[str] = None, status: Optional[str] = None,
                 since_ns: Optional[int] = None, until_ns: Optional[int] = None, api: Optional[str] = None) -> None:
        if status not in (None, "ok", "error"):
            raise ValueError(f"status={status!r}; accepted: ok, error")
        self.app, self.model, self.status = app or None, model or None, status
        self.since_ns, self.until_ns = since_ns, until_ns
        self.api = api or None

    def where(self) -> Tuple[str, List[Any]]:
        sql: List[str] = ["is_genai = 1"]
        args: List[Any] = []
        if self.api is not None:
            sql.append(f"{API_EXPR} = ?")
            args.append(self.api)
        if self.app is not None:
            sql.append("app = ?")
            args.append(self.app)
        if self.model is not None:
            sql.append("(base_model = ? OR model = ?)")
            args += [self.model, self.model]
        if self.status is not None:
            sql.append("error = ?")
            args.append(1 if self.status == "error" else 0)
        if self.since_ns is not None:
            sql.append("start_ns >= ?")
            args.append(self.since_ns)
        if self.until_ns is not None:
            sql.append("start_ns < ?")
            args.append(self.until_ns)
        return " AND ".join(sql), args


class Store:
    def __init__(self, path: str | Path, pending_limit: int = 20000, pending_seconds: float = 300.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._writer = self._connect()
        self._writer.executescript(SCHEMA)
        self._writer.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self._writer.commit()
        self._pending = _Pending(pending_limit, pending_seconds)
        self._genai_traces: "OrderedDict[str, None]" = OrderedDict()  # recent traces known to hold a GenAI span

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @property
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        with self._lock:
            self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def query(self, sql: str, args: Sequence[Any] = ()) -> List[sqlite3.Row]:
        return self._reader.execute(sql, args).fetchall()

    # ------------------------------------------------------------------ ingest
    def add_spans(self, spans: Iterable[Span]) -> int:
        """Store GenAI spans and the rest of their traces; returns how many rows were written."""
        spans = list(spans)
        genai_traces = {s.trace_id for s in spans if genai.is_genai(s)}
        with self._lock:
            keep: List[Span] = []
            for span in spans:
                if span.trace_id in genai_traces or genai.is_genai(span) or self._has_genai(span.trace_id):
                    keep.append(span)
                else:
                    self._pending.add(span)
            for trace_id in genai_traces:
                keep.extend(self._pending.take(trace_id))
                self._remember(trace_id)
            if not keep:
                return 0
            with self._writer:
                cur = self._writer.executemany(_INSERT, [_row(s) for s in keep])
            return cur.rowcount

    def _has_genai(self, trace_id: str) -> bool:
        if trace_id in self._genai_traces:
            return True
        row = self._writer.execute(
            "SELECT 1 FROM spans WHERE trace_id = ? AND is_genai = 1 LIMIT 1", (trace_id,)
        ).fetchone()
        if row is not None:
            self._remember(trace_id)
        return row is not None

    def _remember(self, trace_id: str, limit: int = 50000) -> None:
        self._genai_traces[trace_id] = None
        self._genai_traces.move_to_end(trace_id)
        while len(self._genai_traces) > limit:
            self._genai_traces.popitem(last=False)

    def add_metric_points(self, points: Iterable[MetricPoint]) -> int:
        rows = [
            (p.name, p.app, p.time_ns, p.attributes.get(sc.REQUEST_MODEL), p.count, p.value, _dumps(p.attributes))
            for p in points
        ]
        if rows:
            with self._lock, self._writer:
                self._writer.executemany(
                    "INSERT INTO metric_points (name, app, time_ns, model, count, value, attributes) VALUES (?,?,?,?,?,?,?)",
                    rows,
                )
        return len(rows)

    def add_alert_event(self, time_ns: int, rule: str, subject: str, state: str, value: Optional[float],
                        threshold: float, message: str) -> None:
        with self._lock, self._writer:
            self._writer.execute(
                "INSERT INTO alert_events (time_ns, rule, subject, state, value, threshold, message) VALUES (?,?,?,?,?,?,?)",
                (time_ns, rule, subject, state, value, threshold, message),
            )

    def prune(self, older_than_ns: int) -> int:
        """Delete what started before ``older_than_ns`` (the retention setting)."""
        with self._lock, self._writer:
            n = self._writer.execute("DELETE FROM spans WHERE start_ns < ?", (older_than_ns,)).rowcount
            self._writer.execute("DELETE FROM metric_points WHERE time_ns < ?", (older_than_ns,))
            self._writer.execute("DELETE FROM alert_events WHERE time_ns < ?", (older_than_ns,))
        self._genai_traces.clear()
        return n

    # ------------------------------------------------------------------ queries
    def totals(self, f: Filters, by: Sequence[str]) -> List[sqlite3.Row]:
        """Calls, errors, token sums and last call time, grouped by ``by`` (app, base_model, bucket)."""
        where, args = f.where()
        cols = ", ".join(by)
        return self.query(
            f"SELECT {cols}, COUNT(*) AS calls, SUM(error) AS errors, MAX(start_ns) AS last_ns, {TOKEN_SUMS} "
            f"FROM spans WHERE {where} GROUP BY {cols}",
            args,
        )

    def latency_histogram(self, f: Filters, by: Sequence[str] = ()) -> List[sqlite3.Row]:
        """(``by``..., dur_bucket, n) rows for percentile estimates."""
        where, args = f.where()
        cols = "".join(f"{c}, " for c in by)
        return self.query(
            f"SELECT {cols}dur_bucket, COUNT(*) AS n FROM spans WHERE {where} GROUP BY {cols}dur_bucket", args
        )

    def calls(self, f: Filters, limit: int, offset: int = 0) -> List[sqlite3.Row]:
        where, args = f.where()
        return self.query(
            f"SELECT {CALL_COLUMNS} FROM spans WHERE {where} ORDER BY start_ns DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )

    def error_groups(self, f: Filters) -> List[sqlite3.Row]:
        where, args = Filters(f.app, f.model, "error", f.since_ns, f.until_ns).where()
        return self.query(
            "SELECT app, base_model, error_type, COUNT(*) AS calls, MAX(start_ns) AS last_ns, "
            "MIN(start_ns) AS first_ns, MAX(error_message) AS message "
            f"FROM spans WHERE {where} GROUP BY app, base_model, error_type ORDER BY last_ns DESC",
            args,
        )

    def trace(self, trace_id: str) -> List[sqlite3.Row]:
        return self.query("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns, id", (trace_id,))

    def names(self, column: str) -> List[str]:
        """Distinct apps, models or APIs, for the filter menus."""
        if column == "api":
            rows = self.query(f"SELECT DISTINCT {API_EXPR} FROM spans WHERE is_genai = 1 AND {API_EXPR} IS NOT NULL ORDER BY 1")
            return [str(r[0]) for r in rows]
        if column not in ("app", "base_model"):
            raise ValueError(column)
        index = "calls_by_app" if column == "app" else "calls_by_model"
        rows = self.query(f"SELECT DISTINCT {column} FROM spans INDEXED BY {index} WHERE is_genai = 1 AND {column} IS NOT NULL ORDER BY 1")
        return [r[0] for r in rows]

    def alert_events(self, limit: int = 100) -> List[sqlite3.Row]:
        return self.query("SELECT * FROM alert_events ORDER BY time_ns DESC, id DESC LIMIT ?", (limit,))

    def metric_summary(self, since_ns: int) -> List[sqlite3.Row]:
        return self.query(
            "SELECT name, app, model, SUM(count) AS count, SUM(value) AS value, MAX(time_ns) AS last_ns "
            "FROM metric_points WHERE time_ns >= ? GROUP BY name, app, model ORDER BY name, app, model",
            (since_ns,),
        )

    def span_count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM spans")[0][0])


def _row(span: Span) -> Tuple[Any, ...]:
    ms = span.duration_ms
    if genai.is_genai(span):
        c = genai.call(span)
        call_cols: Tuple[Any, ...] = (
            1, c.operation, c.provider, c.model, c.base_model, c.input_tokens, c.output_tokens,
            c.cache_read, c.cache_write, int(c.error), c.error_type, c.error_message, c.preview,
        )
    else:
        call_cols = (0, None, None, None, None, None, None, None, None, int(span.status == 2), None, None, None)
    return (
        span.trace_id, span.span_id, span.parent_id, span.name, span.kind, span.start_ns, span.end_ns, ms,
        duration_bucket(ms), span.status, span.status_message, span.app, span.scope, *call_cols,
        _dumps(span.attributes), _dumps(span.resource), _dumps(span.events),
    )


class _Pending:
    """Spans of traces with no GenAI span yet, kept a little while in case one arrives.

    Bounded in spans and in age, oldest traces dropped first, so a service that
    sends many non-GenAI spans costs a fixed amount of memory.
    """

    def __init__(self, limit: int, max_age_s: float) -> None:
        self.limit, self.max_age_s = limit, max_age_s
        self._traces: "OrderedDict[str, Tuple[float, List[Span]]]" = OrderedDict()
        self._count = 0

    def add(self, span: Span) -> None:
        now = time.monotonic()
        entry = self._traces.get(span.trace_id)
        if entry is None:
            entry = self._traces[span.trace_id] = (now, [])
        entry[1].append(span)
        self._count += 1
        while self._traces and (self._count > self.limit or now - next(iter(self._traces.values()))[0] > self.max_age_s):
            _, (_, dropped) = self._traces.popitem(last=False)
            self._count -= len(dropped)

    def take(self, trace_id: str) -> List[Span]:
        entry = self._traces.pop(trace_id, None)
        if entry is None:
            return []
        self._count -= len(entry[1])
        return entry[1]
