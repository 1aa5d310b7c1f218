"""The collector's SQLite database: schema, batched writes, retention, and reads.

Tables:

- ``calls``: every span with ``gen_ai.operation.name`` (model calls, agent
  invocations, tool executions, retrievals ...): the span as received (its
  protobuf encoding, ``body``) and the columns the lists filter on;
- ``spans``: the other spans of traces that have a GenAI call, so the trace tree
  can be drawn. A span that arrives before any GenAI span of its trace is stored
  as an *orphan* and adopted when one arrives; orphans are deleted after
  ``orphan_seconds`` or beyond ``orphan_limit`` (oldest first). Being on disk,
  they survive a restart;
- ``resources``: each distinct resource once (spans point to it by digest);
- the rollups (see :mod:`rollups`), ``metric_points`` and ``alert_events``.

Writes come from the writer process (:mod:`writer`) through one connection:
it has a Python interpreter of its own, so SQLite's per-row work never waits
for the interpreter lock the decoding threads hold. Pages are 16 KiB (a span
with its content is about 2 KB); the writer process copies the write-ahead log
into the database from a thread of its own, every second. Readers use a small pool of their own connections; a view runs its
queries in one read transaction, so it sees one consistent state. WAL lets
them all run while the writer writes.

The file and its ``-wal``/``-shm`` companions are created 0600 (prompts and
completions are in them) and tightened to 0600 when found looser.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from . import rollups, rows

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: rollups cover the ids up to 'rolled_to'
    trace_id BLOB NOT NULL,
    span_id BLOB NOT NULL,
    parent_id BLOB,
    trace_key INTEGER NOT NULL,  -- rows.trace_key: finds a trace's spans
    resource BLOB,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    dur_bucket INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    status INTEGER NOT NULL,
    app TEXT NOT NULL,
    scope TEXT,
    operation TEXT NOT NULL,
    api TEXT,
    model TEXT,
    base_model TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read INTEGER,
    cache_write INTEGER,
    error INTEGER NOT NULL,
    error_type TEXT,
    error_message TEXT,
    notes INTEGER NOT NULL,
    body BLOB NOT NULL
);
-- one row per span (a retried export is stored once), in time order: the calls list and retention walk it
CREATE UNIQUE INDEX IF NOT EXISTS calls_by_time ON calls (start_ns, span_id, trace_id);
CREATE INDEX IF NOT EXISTS calls_by_trace ON calls (trace_key);
CREATE INDEX IF NOT EXISTS calls_by_app ON calls (app, start_ns, span_id);
CREATE INDEX IF NOT EXISTS calls_failed ON calls (start_ns, span_id) WHERE error = 1;
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    trace_id BLOB NOT NULL,
    span_id BLOB NOT NULL,
    parent_id BLOB,
    trace_key INTEGER NOT NULL,
    resource BLOB,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    status INTEGER NOT NULL,
    app TEXT NOT NULL,
    scope TEXT,
    notes INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    orphan INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS spans_by_time ON spans (start_ns, span_id, trace_id);
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans (trace_key);
CREATE INDEX IF NOT EXISTS spans_orphaned ON spans (received_ns) WHERE orphan = 1;
CREATE TABLE IF NOT EXISTS resources (
    digest BLOB PRIMARY KEY,
    body BLOB NOT NULL,
    last_used_ns INTEGER NOT NULL
) WITHOUT ROWID;
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
""" + rollups.SCHEMA


INSERT_CALLS = (f"INSERT OR IGNORE INTO calls ({', '.join(rows.CALL_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(rows.CALL_COLUMNS))})")
_N = len(rows.SPAN_COLUMNS)
_K = rows.SPAN_COLUMNS.index("trace_key") + 1
_D = rows.TRACE_KEY_DAY
INSERT_SPANS = (
    f"INSERT OR IGNORE INTO spans ({', '.join(rows.SPAN_COLUMNS)}, received_ns, orphan) "
    f"VALUES ({', '.join(f'?{i + 1}' for i in range(_N))}, ?{_N + 1}, "
    f"NOT EXISTS (SELECT 1 FROM calls c WHERE c.trace_key IN (?{_K} - {_D}, ?{_K}, ?{_K} + {_D}) AND c.trace_id = ?1))"
)
INSERT_METRICS = (f"INSERT INTO metric_points ({', '.join(rows.METRIC_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(rows.METRIC_COLUMNS))})")
#: Spans waiting for a GenAI call of their trace, adopted by the calls inserted after id ?
ADOPT_ORPHANS = (
    "UPDATE spans SET orphan = 0 WHERE id IN (SELECT s.id FROM calls c JOIN spans s "
    f"ON s.trace_key IN (c.trace_key - {_D}, c.trace_key, c.trace_key + {_D}) AND s.trace_id = c.trace_id "
    "WHERE c.id > ? AND s.orphan = 1)"
)
UPSERT_RESOURCE = ("INSERT INTO resources (digest, body, last_used_ns) VALUES (?, ?, ?) "
                   "ON CONFLICT DO UPDATE SET last_used_ns = excluded.last_used_ns")

#: Columns read back to roll calls up (laid out as rows.CALL_COLUMNS, the rest NULL).
ROLLUP_SELECT = ", ".join(
    c if c in ("start_ns", "dur_bucket", "app", "operation", "api", "base_model", "input_tokens", "output_tokens",
               "cache_read", "cache_write", "error", "error_type", "error_message") else "NULL"
    for c in rows.CALL_COLUMNS
)

#: Columns of the call lists (traces and errors views, ``genai-tap traces``).
CALL_COLUMNS = ("id, trace_id, span_id, name, start_ns, end_ns, app, operation, api, model, base_model, input_tokens, "
                "output_tokens, cache_read, cache_write, error, error_type, error_message, notes, body")


class SchemaError(sqlite3.DatabaseError):
    """The database was written by a collector with another storage format (or is not one)."""


class Filters:
    """Which calls a query covers; every field is optional."""

    __slots__ = ("app", "model", "status", "since_ns", "until_ns", "api")

    def __init__(self, app: Optional[str] = None, model: Optional[str] = None, status: Optional[str] = None,
                 since_ns: Optional[int] = None, until_ns: Optional[int] = None, api: Optional[str] = None) -> None:
        if status not in (None, "ok", "error"):
            raise ValueError(f"status={status!r}; accepted: ok, error")
        self.app, self.model, self.status, self.api = app or None, model or None, status, api or None
        self.since_ns = None if since_ns is None else min(max(int(since_ns), 0), rows.MAX_NS)
        self.until_ns = None if until_ns is None else min(max(int(until_ns), 0), rows.MAX_NS)

    @property
    def base_model(self) -> Optional[str]:
        """The model filter as stored: any spelling of a model (profile, ARN) -> its base model."""
        from .otlp import base_model

        return base_model(None, self.model) if self.model else None

    @property
    def error(self) -> Optional[int]:
        return None if self.status is None else int(self.status == "error")

    def where(self) -> rollups.Where:
        return rollups.Where(self.app, self.base_model, self.api, self.error)

    def minutes(self) -> Tuple[int, int]:
        return rollups.minute_range(self.since_ns, self.until_ns)


def _private(path: str) -> None:
    """Create ``path`` 0600 if missing; tighten it (and -wal/-shm) if looser.

    Only ``chmod`` once the file exists: closing any descriptor of a database file drops
    every POSIX lock this process holds on it (SQLite's included), and a writer closing
    elsewhere would then take itself for the last user and delete the write-ahead log
    this process is still reading."""
    if not os.path.exists(path):
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # another process made it just now
    for p in (path, path + "-wal", path + "-shm"):
        try:
            mode = os.stat(p).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(p, 0o600)
        except FileNotFoundError:
            continue


class Store:
    def __init__(self, path: str | Path, readers: int = 8, durable: bool = False,
                 checkpoints_elsewhere: bool = False) -> None:
        self.path = str(path)
        self.durable = durable
        self.checkpoints_elsewhere = checkpoints_elsewhere
        if self.path != ":memory:":
            if os.path.exists(self.path):
                self._check_format()  # before anything touches the file
            Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private(self.path)
        self._write_lock = threading.Lock()
        self._writer = self._connect(writer=True)
        self._create()
        self._pool: "queue.LifoQueue[sqlite3.Connection]" = queue.LifoQueue(maxsize=readers)
        self._all_readers: List[sqlite3.Connection] = []
        self._closed = False

    def _connect(self, writer: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        if writer:
            conn.execute("PRAGMA cache_size=-131072")  # 128 MiB: the ID index is written in random order
            # the writer process checkpoints from a thread of its own (writer.Checkpointer)
            conn.execute(f"PRAGMA wal_autocheckpoint={0 if self.checkpoints_elsewhere else 4096}")
            if self.durable:
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA journal_size_limit=67108864")
        else:
            conn.execute("PRAGMA cache_size=-32768")
            conn.execute("PRAGMA mmap_size=268435456")
            conn.execute("PRAGMA query_only=1")
        return conn

    def _check_format(self, conn: Optional[sqlite3.Connection] = None) -> bool:
        """True for a database of this format, False for an empty one; SchemaError else.
        Reads only (a plain connection, no journal mode set), so a refused file is left as it is."""
        own = conn is None
        conn = conn or sqlite3.connect(self.path, timeout=30.0)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" in tables:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row and str(row[0]).isdigit() else 0
                if version != SCHEMA_VERSION:
                    raise SchemaError(
                        f"{self.path} was written by a genai-tap collector with storage format {version}; this one "
                        f"uses format {SCHEMA_VERSION} and does not convert it. Move the file away (it is left "
                        "untouched) or pass --db with another path.")
                return True
            if tables:
                raise SchemaError(f"{self.path} is not a genai-tap collector database (it has other tables)")
            return False
        finally:
            if own:
                conn.close()

    def _create(self) -> None:
        conn = self._writer
        if not self._check_format(conn):
            # a new file: 16 KiB pages (the page size of a WAL database is fixed once it has content)
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA page_size=16384")
            conn.execute("VACUUM")
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('rolled_to', '0')")
        if self.path != ":memory:":
            _private(self.path)

    # ------------------------------------------------------------------ connections
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the writer connection (one writer at a time)."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state."""
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
            self._all_readers.append(conn)
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        finally:
            try:
                self._pool.put_nowait(conn)
            except queue.Full:
                conn.close()

    def query(self, sql: str, args: Sequence[Any] = ()) -> List[sqlite3.Row]:
        with self.read() as conn:
            return conn.execute(sql, args).fetchall()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._write_lock:
            self._writer.close()
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break

    # ------------------------------------------------------------------ writes (writer process)
    @staticmethod
    def insert(conn: sqlite3.Connection, calls: Sequence[Tuple[Any, ...]], spans: Sequence[Tuple[Any, ...]],
               resources: Dict[bytes, bytes], metrics: Sequence[Tuple[Any, ...]], now_ns: int) -> int:
        """One request's rows, inside the writer's transaction; returns the calls inserted."""
        for digest, body in resources.items():
            conn.execute(UPSERT_RESOURCE, (digest, body, now_ns))
        inserted = conn.executemany(INSERT_CALLS, calls).rowcount if calls else 0
        if spans:
            conn.executemany(INSERT_SPANS, [(*row, now_ns) for row in spans])
        if metrics:
            conn.executemany(INSERT_METRICS, metrics)
        return inserted

    def add_alert_event(self, time_ns: int, rule: str, subject: str, state: str, value: Optional[float],
                        threshold: float, message: str) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA query_only=0")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO alert_events (time_ns, rule, subject, state, value, threshold, message) VALUES (?,?,?,?,?,?,?)",
                (time_ns, rule, subject, state, value, threshold, message),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()

    # ------------------------------------------------------------------ reads
    @staticmethod
    def rolled_to(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'rolled_to'").fetchone()[0])

    def size_bytes(self) -> int:
        """Pages in use (not the file size: pages freed by deletes are reused first)."""
        with self.read() as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def file_bytes(self) -> int:
        return sum(os.path.getsize(self.path + s) for s in ("", "-wal") if os.path.exists(self.path + s))

    def span_count(self) -> int:
        """Stored spans (calls from the rollups and the tail, so no scan of the calls)."""
        with self.read() as conn:
            rolled = self.rolled_to(conn)
            calls = conn.execute("SELECT TOTAL(calls) FROM roll_calls WHERE tier = 2").fetchone()[0]
            tail = conn.execute("SELECT COUNT(*) FROM calls WHERE id > ?", (rolled,)).fetchone()[0]
            others = conn.execute("SELECT COUNT(*) FROM spans WHERE orphan = 0").fetchone()[0]
        return int(calls + tail + others)

    def alert_events(self, limit: int = 100) -> List[sqlite3.Row]:
        return self.query("SELECT * FROM alert_events ORDER BY time_ns DESC, id DESC LIMIT ?", (limit,))

    def metric_summary(self, since_ns: int) -> List[sqlite3.Row]:
        return self.query(
            "SELECT name, app, model, SUM(count) AS count, TOTAL(value) AS value, MAX(time_ns) AS last_ns "
            "FROM metric_points WHERE time_ns >= ? GROUP BY name, app, model ORDER BY name, app, model LIMIT 1000",
            (since_ns,),
        )

    def trace(self, trace_id: bytes, limit: int) -> Tuple[List[sqlite3.Row], List[sqlite3.Row], Dict[bytes, bytes]]:
        """(calls, other spans, resources) of one trace, at most ``limit`` spans."""
        prefix = rows.trace_key(trace_id, 0)
        with self.read() as conn:
            rolled = self.rolled_to(conn)
            days = {int(r[0]) for r in conn.execute("SELECT DISTINCT t / 1440 FROM roll_calls WHERE tier = 2")}
            days |= {int(r[0]) for r in conn.execute(f"SELECT DISTINCT start_ns / {rows.DAY_NS} FROM calls "
                                                     "NOT INDEXED WHERE id > ?", (rolled,))}
            keys = sorted({prefix + (d + k) * rows.TRACE_KEY_DAY for d in days for k in (-1, 0, 1) if d + k >= 0})
            marks = ", ".join("?" * len(keys)) or "NULL"
            calls = conn.execute(f"SELECT {CALL_COLUMNS}, parent_id, kind, status, scope, resource FROM calls "
                                 f"WHERE trace_key IN ({marks}) AND trace_id = ? ORDER BY start_ns, id LIMIT ?",
                                 (*keys, trace_id, limit)).fetchall()
            spans = conn.execute("SELECT id, span_id, parent_id, name, start_ns, end_ns, kind, status, app, scope, "
                                 f"resource, notes, body FROM spans WHERE trace_key IN ({marks}) AND trace_id = ? "
                                 "AND orphan = 0 ORDER BY start_ns, id LIMIT ?",
                                 (*keys, trace_id, max(limit - len(calls), 0))).fetchall()
            digests = sorted({r["resource"] for r in (*calls, *spans) if r["resource"]})
            resources = {}
            if digests:
                found = conn.execute(f"SELECT digest, body FROM resources WHERE digest IN ({', '.join('?' * len(digests))})",
                                     digests).fetchall()
                resources = {r[0]: r[1] for r in found}
        return calls, spans, resources

