"""Rollups: per-minute, per-hour and per-day sums that the views and alert rules read
instead of the stored calls.

Every GenAI call adds to a row of ``roll_calls`` (calls, calls with token counts,
token sums, last call time) keyed by time slot, application, model, API,
operation and status, to a latency histogram in ``lat_*`` (log-spaced duration
buckets, 1% apart) and, when it failed, to ``roll_errors`` keyed by error type.
Each is kept at three widths (tiers): minute, hour and day. A time range is cut
into whole days, the hours at its ends and the minutes at its ends
(:func:`decompose`), so any range costs a bounded number of rows, however many
calls it holds.

The latency histograms are kept five times over, each keyed by fewer
dimensions (``lat_all``: none; ``lat_app``: application; ``lat_model``: model;
``lat_api``: API; ``lat_full``: application, model and API), because a percentile per
application over a week would otherwise read every (model, API) combination.

The writer process adds calls to an in-memory :class:`Accumulator` as they are
committed and writes it out (one upsert per key and tier) every couple of
seconds, together with ``rolled_to``, the highest call id it covers, in the
same transaction. The newer calls (``id > rolled_to``, "the tail") are read
from the calls table itself by every query, in the same read transaction; so
the views never miss a committed call, and a crash loses nothing (the tail is
rolled up again on start). Retention subtracts what it deletes, in the same
transaction as the delete.

Aggregates cover whole minutes: a range starts at the minute ``since`` falls in
and ends at the end of the minute ``until`` falls in.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import rows

MINUTE_NS = 60_000_000_000
TIERS: Tuple[Tuple[int, int], ...] = ((0, 1), (1, 60), (2, 1440))  # (tier, width in minutes)
END_MINUTE = (rows.MAX_NS // MINUTE_NS // 1440 + 1) * 1440  # past any stored time, day-aligned

#: roll_calls sums; "tokened": calls that reported any token count (whose cost can be known).
CALL_VALUES = ("calls", "tokened", "input_tokens", "output_tokens", "cache_read", "cache_write", "last_ns")
CALL_DIMS = ("app", "base_model", "api", "operation", "error")
ERROR_DIMS = ("app", "base_model", "api", "error_type")


@dataclass(frozen=True)
class LatencyTable:
    name: str
    dims: Tuple[str, ...]  # besides ``error``; "t" follows them in the key (after error)

    @property
    def key(self) -> Tuple[str, ...]:
        return ("tier", *self.dims, "error", "t", "bucket")


LAT_ALL = LatencyTable("lat_all", ())
LAT_APP = LatencyTable("lat_app", ("app",))
LAT_MODEL = LatencyTable("lat_model", ("base_model",))
LAT_API = LatencyTable("lat_api", ("api",))
LAT_FULL = LatencyTable("lat_full", ("app", "base_model", "api"))
LATENCY_TABLES = (LAT_ALL, LAT_APP, LAT_MODEL, LAT_API, LAT_FULL)

SCHEMA = """
CREATE TABLE IF NOT EXISTS roll_calls (
    tier INTEGER NOT NULL, t INTEGER NOT NULL,
    app TEXT NOT NULL, base_model TEXT NOT NULL, api TEXT NOT NULL, operation TEXT NOT NULL, error INTEGER NOT NULL,
    calls INTEGER NOT NULL, tokened INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL, last_ns INTEGER NOT NULL,
    PRIMARY KEY (tier, t, app, base_model, api, operation, error)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS roll_calls_by_app ON roll_calls (tier, app, t);
CREATE INDEX IF NOT EXISTS roll_calls_by_model ON roll_calls (tier, base_model, t);
CREATE TABLE IF NOT EXISTS roll_errors (
    tier INTEGER NOT NULL, t INTEGER NOT NULL,
    app TEXT NOT NULL, base_model TEXT NOT NULL, api TEXT NOT NULL, error_type TEXT NOT NULL,
    calls INTEGER NOT NULL, first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, message TEXT,
    PRIMARY KEY (tier, t, app, base_model, api, error_type)
) WITHOUT ROWID;
"""
SCHEMA += "".join(
    f"CREATE TABLE IF NOT EXISTS {lt.name} (tier INTEGER NOT NULL, {''.join(f'{d} TEXT NOT NULL, ' for d in lt.dims)}"
    "error INTEGER NOT NULL, t INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL, "
    f"PRIMARY KEY ({', '.join(lt.key)})) WITHOUT ROWID;\n"
    for lt in LATENCY_TABLES
)


# ---------------------------------------------------------------------------- ranges


def minute_range(since_ns: Optional[int], until_ns: Optional[int]) -> Tuple[int, int]:
    """[since, until) in ns -> [first minute, end minute), whole minutes around it."""
    s = 0 if since_ns is None else max(since_ns, 0) // MINUTE_NS
    e = END_MINUTE if until_ns is None else min(-(-max(until_ns, 0) // MINUTE_NS), END_MINUTE)
    return s, max(e, s)


def decompose(s: int, e: int, max_width: int = 1440) -> List[Tuple[int, int, int]]:
    """[s, e) in minutes -> [(tier, lo, hi)]: whole slots of the widest tiers that fit,
    narrower ones at the ends. Only tiers at most ``max_width`` minutes wide are used."""
    tiers = [t for t in TIERS if t[1] <= max_width]
    out: List[Tuple[int, int, int]] = []

    def cut(s: int, e: int, k: int) -> None:
        if s >= e or k < 0:
            return
        tier, width = tiers[k]
        lo, hi = -(-s // width) * width, e // width * width
        if lo < hi:
            out.append((tier, lo, hi))
            cut(s, lo, k - 1)
            cut(hi, e, k - 1)
        else:
            cut(s, e, k - 1)

    cut(s, e, len(tiers) - 1)
    return out


def ns_bounds(s: int, e: int) -> Tuple[int, int]:
    return s * MINUTE_NS, min(e * MINUTE_NS, rows.MAX_NS)


# ---------------------------------------------------------------------------- accumulating


def _key(value: Optional[str]) -> str:
    return "" if value is None else value


class Accumulator:
    """Sums of committed calls not yet written to the rollup tables (minute tier; the
    hour and day rows are derived when written)."""

    def __init__(self) -> None:
        self.counts: Dict[Tuple[Any, ...], List[int]] = {}
        self.errors: Dict[Tuple[Any, ...], List[Any]] = {}
        self.lat: Dict[str, Dict[Tuple[Any, ...], int]] = {lt.name: {} for lt in LATENCY_TABLES}
        self.calls = 0

    def __bool__(self) -> bool:
        return self.calls > 0

    def add(self, records: Iterable[Sequence[Any]], sign: int = 1) -> None:
        """Rows laid out as :data:`rows.CALL_COLUMNS` (only the aggregated fields are read)."""
        counts, errors = self.counts, self.errors
        la, lp, lm, li, lf = (self.lat[lt.name] for lt in LATENCY_TABLES)
        aggregate_ops = rows.AGGREGATE_OPERATIONS
        for r in records:
            self.calls += 1
            start = r[rows.C_START]
            m = start // MINUTE_NS
            app, op, err, b = r[rows.C_APP], r[rows.C_OPERATION], r[rows.C_ERROR], r[rows.C_BUCKET]
            api, bm = _key(r[rows.C_API]), _key(r[rows.C_BASE_MODEL])
            key = (m, app, bm, api, op, err)
            v = counts.get(key)
            if v is None:
                v = counts[key] = [0, 0, 0, 0, 0, 0, 0]
            v[0] += sign
            if op not in aggregate_ops:
                i, o, cr, cw = r[rows.C_INPUT], r[rows.C_OUTPUT], r[rows.C_CACHE_READ], r[rows.C_CACHE_WRITE]
                if i is not None or o is not None or cr is not None or cw is not None:
                    v[1] += sign
                    v[2] += sign * (i or 0)
                    v[3] += sign * (o or 0)
                    v[4] += sign * (cr or 0)
                    v[5] += sign * (cw or 0)
            if start > v[6]:
                v[6] = start
            k1 = (m, err, b)
            la[k1] = la.get(k1, 0) + sign
            k2 = (m, app, err, b)
            lp[k2] = lp.get(k2, 0) + sign
            k3 = (m, bm, err, b)
            lm[k3] = lm.get(k3, 0) + sign
            k5 = (m, api, err, b)
            li[k5] = li.get(k5, 0) + sign
            k4 = (m, app, bm, api, err, b)
            lf[k4] = lf.get(k4, 0) + sign
            if err:
                ek = (m, app, bm, api, _key(r[rows.C_ERROR_TYPE]))
                e = errors.get(ek)
                if e is None:
                    errors[ek] = [sign, start, start, r[rows.C_ERROR_MESSAGE]]
                else:
                    e[0] += sign
                    if start < e[1]:
                        e[1] = start
                    if start >= e[2]:
                        e[2], e[3] = start, r[rows.C_ERROR_MESSAGE]

    def write(self, conn: sqlite3.Connection, subtract: bool = False) -> None:
        """Upsert every tier's rows (inside the caller's transaction) and clear."""
        counts: List[List[Any]] = []
        errors: List[List[Any]] = []
        lat: Dict[str, List[List[Any]]] = {lt.name: [] for lt in LATENCY_TABLES}
        for tier, width in TIERS:
            counts.extend(_tiered(self.counts, tier, width, _merge_counts))
            errors.extend(_tiered(self.errors, tier, width, _merge_errors))
            for lt in LATENCY_TABLES:
                lat[lt.name].extend(_tiered_latency(self.lat[lt.name], tier, width))
        if counts:
            conn.executemany(_UPSERT_CALLS, counts)
        if errors:
            conn.executemany(_SUBTRACT_ERRORS if subtract else _UPSERT_ERRORS, errors)
        for lt in LATENCY_TABLES:
            if lat[lt.name]:
                conn.executemany(_UPSERT_LAT[lt.name], lat[lt.name])
        if subtract:
            _delete_empty(conn, counts, errors, lat)
        self.__init__()  # type: ignore[misc]


def _merge_counts(acc: Optional[List[Any]], v: List[Any]) -> List[Any]:
    if acc is None:
        return list(v)
    for i in range(6):
        acc[i] += v[i]
    acc[6] = max(acc[6], v[6])
    return acc


def _merge_errors(acc: Optional[List[Any]], v: List[Any]) -> List[Any]:
    if acc is None:
        return list(v)
    acc[0] += v[0]
    acc[1] = min(acc[1], v[1])
    if v[2] >= acc[2]:
        acc[2], acc[3] = v[2], v[3]
    return acc


def _tiered(source: Dict[Tuple[Any, ...], List[Any]], tier: int, width: int, merge: Any) -> List[List[Any]]:
    if width == 1:
        return [[tier, *k, *v] for k, v in source.items()]
    out: Dict[Tuple[Any, ...], List[Any]] = {}
    for k, v in source.items():
        tk = (k[0] // width * width, *k[1:])
        out[tk] = merge(out.get(tk), v)
    return [[tier, *k, *v] for k, v in out.items()]


def _tiered_latency(source: Dict[Tuple[Any, ...], int], tier: int, width: int) -> List[List[Any]]:
    if width == 1:
        return [[tier, *k, n] for k, n in source.items() if n]
    out: Dict[Tuple[Any, ...], int] = {}
    for k, n in source.items():
        tk = (k[0] // width * width, *k[1:])
        out[tk] = out.get(tk, 0) + n
    return [[tier, *k, n] for k, n in out.items() if n]


def _values(names: Sequence[str]) -> str:
    return f"({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


_CALL_COLUMNS = ("tier", "t", *CALL_DIMS, *CALL_VALUES)
_UPSERT_CALLS = (
    f"INSERT INTO roll_calls {_values(_CALL_COLUMNS)} "
    "ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, tokened = tokened + excluded.tokened, "
    "input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, "
    "cache_read = cache_read + excluded.cache_read, cache_write = cache_write + excluded.cache_write, "
    "last_ns = MAX(last_ns, excluded.last_ns)"
)
_ERROR_COLUMNS = ("tier", "t", *ERROR_DIMS, "calls", "first_ns", "last_ns", "message")
_UPSERT_ERRORS = (
    f"INSERT INTO roll_errors {_values(_ERROR_COLUMNS)} "
    "ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, first_ns = MIN(first_ns, excluded.first_ns), "
    "message = CASE WHEN excluded.last_ns >= last_ns THEN excluded.message ELSE message END, "
    "last_ns = MAX(last_ns, excluded.last_ns)"
)
# Retention deletes the oldest calls: the first call left in a group is no older than the
# newest one deleted (a lower bound, exact when the group's slot is wholly kept).
_SUBTRACT_ERRORS = (
    f"INSERT INTO roll_errors {_values(_ERROR_COLUMNS)} "
    "ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, first_ns = MAX(first_ns, excluded.last_ns)"
)


def _lat_insert_columns(lt: LatencyTable) -> Tuple[str, ...]:
    return ("tier", "t", *lt.dims, "error", "bucket", "n")


_UPSERT_LAT = {
    lt.name: f"INSERT INTO {lt.name} {_values(_lat_insert_columns(lt))} ON CONFLICT DO UPDATE SET n = n + excluded.n"
    for lt in LATENCY_TABLES
}


def _delete_empty(conn: sqlite3.Connection, counts: List[List[Any]], errors: List[List[Any]],
                  lat: Dict[str, List[List[Any]]]) -> None:
    """After a subtraction: remove the rows it brought to zero, seeking each table by the
    dimensions and time slots the subtraction touched."""
    for tier, _ in TIERS:
        mine = [r for r in counts if r[0] == tier]
        if mine:
            lo, hi = min(r[1] for r in mine), max(r[1] for r in mine)
            conn.execute("DELETE FROM roll_calls WHERE tier = ? AND t BETWEEN ? AND ? AND calls <= 0", (tier, lo, hi))
        mine = [r for r in errors if r[0] == tier]
        if mine:
            lo, hi = min(r[1] for r in mine), max(r[1] for r in mine)
            conn.execute("DELETE FROM roll_errors WHERE tier = ? AND t BETWEEN ? AND ? AND calls <= 0", (tier, lo, hi))
        for lt in LATENCY_TABLES:
            mine = [r for r in lat[lt.name] if r[0] == tier]
            if not mine:
                continue
            lo, hi = min(r[1] for r in mine), max(r[1] for r in mine)
            where, args = ["tier = ?"], [tier]
            for i, dim in enumerate(lt.dims):
                values = sorted({r[2 + i] for r in mine})
                where.append(f"{dim} IN ({', '.join('?' * len(values))})")
                args += values
            where.append("error IN (0, 1) AND t BETWEEN ? AND ? AND n <= 0")
            args += [lo, hi]
            conn.execute(f"DELETE FROM {lt.name} WHERE {' AND '.join(where)}", args)


# ---------------------------------------------------------------------------- reading


#: The rollup value of a call row of the tail (calls not yet rolled up), in SQL.
_AGG_OPS = ", ".join(f"'{op}'" for op in sorted(rows.AGGREGATE_OPERATIONS))
_TOKENED = ("(operation NOT IN ({ops}) AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL "
            "OR cache_read IS NOT NULL OR cache_write IS NOT NULL))").format(ops=_AGG_OPS)


def _tail_tokens(col: str) -> str:
    return f"CASE WHEN operation IN ({_AGG_OPS}) THEN 0 ELSE COALESCE({col}, 0) END"


TAIL_COLUMNS = {
    "app": "app", "base_model": "COALESCE(base_model, '')", "api": "COALESCE(api, '')", "operation": "operation",
    "error": "error", "error_type": "COALESCE(error_type, '')", "t": f"(start_ns / {MINUTE_NS})",
    "calls": "1", "tokened": f"CAST({_TOKENED} AS INTEGER)", "input_tokens": _tail_tokens("input_tokens"),
    "output_tokens": _tail_tokens("output_tokens"), "cache_read": _tail_tokens("cache_read"),
    "cache_write": _tail_tokens("cache_write"), "last_ns": "start_ns", "first_ns": "start_ns",
    "message": "error_message", "bucket": "dur_bucket", "n": "1",
}


@dataclass(frozen=True)
class Where:
    """Dimension filters, as the rollups name them (``""`` stands for "none")."""

    app: Optional[str] = None
    base_model: Optional[str] = None
    api: Optional[str] = None
    error: Optional[int] = None
    # IN lists that narrow a latency table's seeks to the values present
    apps: Optional[Sequence[str]] = None
    models: Optional[Sequence[str]] = None
    apis: Optional[Sequence[str]] = None

    def sql(self, dims: Sequence[str], tail: bool = False) -> Tuple[List[str], List[Any]]:
        out: List[str] = []
        args: List[Any] = []
        for dim, value, values in (("app", self.app, self.apps), ("base_model", self.base_model, self.models),
                                   ("api", self.api, self.apis)):
            if dim not in dims:
                continue
            col = TAIL_COLUMNS[dim] if tail else dim
            if value is not None:
                out.append(f"{col} = ?")
                args.append(value)
            elif values is not None and not tail:
                out.append(f"{col} IN ({', '.join('?' * len(values))})")
                args += list(values)
        if "error" in dims:
            if self.error is not None:
                out.append("error = ?")
                args.append(self.error)
            elif not tail:
                out.append("error IN (0, 1)")
        return out, args


def _union(table: str, dims: Sequence[str], select: Sequence[str], w: Where, s: int, e: int, rolled_to: int,
           max_width: int, tail_table: str = "calls") -> Tuple[str, List[Any]]:
    """``SELECT select... FROM (rollup slots in [s, e) UNION ALL the tail)``."""
    parts: List[str] = []
    args: List[Any] = []
    for tier, lo, hi in decompose(s, e, max_width):
        conds, cargs = w.sql(dims)
        parts.append(f"SELECT {', '.join(select)} FROM {table} WHERE tier = ? AND {' AND '.join([*conds, 't >= ? AND t < ?'])}")
        args += [tier, *cargs, lo, hi]
    lo_ns, hi_ns = ns_bounds(s, e)
    conds, cargs = w.sql(dims, tail=True)
    tail_select = [f"{TAIL_COLUMNS.get(c, c)} AS {c}" for c in select]
    # NOT INDEXED: the tail is found by its rowid range, never by scanning another index
    parts.append(f"SELECT {', '.join(tail_select)} FROM {tail_table} NOT INDEXED WHERE "
                 + " AND ".join(["id > ?", "start_ns >= ?", "start_ns <= ?", *conds]))
    args += [rolled_to, lo_ns, hi_ns - 1 if hi_ns < rows.MAX_NS else rows.MAX_NS, *cargs]
    return " UNION ALL ".join(parts), args


def counts(conn: sqlite3.Connection, w: Where, s: int, e: int, group: Sequence[str], rolled_to: int,
           step: Optional[int] = None) -> List[sqlite3.Row]:
    """Sums of roll_calls per ``group`` (dimension names; "bin" for ``t // step`` bins)."""
    cols = [c for c in group if c != "bin"]
    select = ["t", *cols, *CALL_VALUES]
    inner, args = _union("roll_calls", CALL_DIMS, select, w, s, e, rolled_to, step or 1440)
    keys = [*(["t / %d * %d AS bin" % (step, step)] if "bin" in group and step else []), *cols]
    grouping = [*(["bin"] if "bin" in group and step else []), *cols]
    sums = ", ".join(f"SUM({v}) AS {v}" for v in CALL_VALUES[:-1]) + ", MAX(last_ns) AS last_ns"
    sql = f"SELECT {', '.join([*keys, sums])} FROM ({inner})"
    if grouping:
        sql += f" GROUP BY {', '.join(grouping)}"
    return conn.execute(sql, args).fetchall()


def latency_table(w: Where, group: Sequence[str]) -> LatencyTable:
    needed = {c for c in group if c in ("app", "base_model", "api")}
    needed |= {dim for dim in ("app", "base_model", "api") if getattr(w, dim) is not None}
    for lt in LATENCY_TABLES:
        if needed <= set(lt.dims):
            return lt
    return LAT_FULL


def latency(conn: sqlite3.Connection, w: Where, s: int, e: int, group: Sequence[str], rolled_to: int,
            step: Optional[int] = None) -> List[sqlite3.Row]:
    """(group..., bucket, n) rows from the smallest latency table that can answer."""
    lt = latency_table(w, group)
    cols = [c for c in group if c != "bin"]
    select = ["t", *cols, "bucket", "n"]
    dims = (*lt.dims, "error")
    inner, args = _union(lt.name, dims, select, w, s, e, rolled_to, step or 1440)
    keys = [*(["t / %d * %d AS bin" % (step, step)] if "bin" in group and step else []), *cols, "bucket"]
    grouping = [*(["bin"] if "bin" in group and step else []), *cols, "bucket"]
    sql = f"SELECT {', '.join(keys)}, SUM(n) AS n FROM ({inner}) GROUP BY {', '.join(grouping)}"
    return conn.execute(sql, args).fetchall()


def error_groups(conn: sqlite3.Connection, w: Where, s: int, e: int, rolled_to: int, limit: int) -> List[sqlite3.Row]:
    """Failed calls per application, model and error type: counts, first and last time, and
    the latest message (the API narrows, it does not split)."""
    select = ["t", *ERROR_DIMS, "calls", "first_ns", "last_ns", "message"]
    w = Where(w.app, w.base_model, w.api, 1)
    inner, args = _union("roll_errors", ERROR_DIMS, select, w, s, e, rolled_to, 1440)
    inner = inner.replace("FROM calls NOT INDEXED WHERE ", "FROM calls NOT INDEXED WHERE error = 1 AND ")
    # the message of the group's latest slot: the newest time, as fixed-width text, then the message
    sql = (f"SELECT app, base_model, error_type, SUM(calls) AS calls, MIN(first_ns) AS first_ns, "
           f"MAX(last_ns) AS last_ns, substr(MAX(printf('%020d', last_ns) || COALESCE(message, '')), 21) AS message "
           f"FROM ({inner}) GROUP BY app, base_model, error_type HAVING SUM(calls) > 0 ORDER BY last_ns DESC LIMIT ?")
    return conn.execute(sql, [*args, limit]).fetchall()


def slots(conn: sqlite3.Connection, w: Where, s: int, e: int, tier: int, rolled_to: int) -> List[Tuple[int, int]]:
    """(slot start minute, calls) of one tier's slots in [s, e), newest first, tail included."""
    width = dict(TIERS)[tier]
    inner, args = _union("roll_calls", CALL_DIMS, ["t", "calls"], w, s, e, rolled_to, width)
    # only this tier's rows (narrower tiers fill the ends; they are re-binned below)
    sql = f"SELECT t / {width} * {width} AS slot, SUM(calls) AS n FROM ({inner}) GROUP BY slot ORDER BY slot DESC"
    return [(int(r[0]), int(r[1])) for r in conn.execute(sql, args).fetchall() if r[1]]


def present(records: Iterable[Any], column: str) -> List[str]:
    return sorted({r[column] for r in records})
