"""The writer process: the only writer of the database.

The collector starts it as ``python -m genai_tap_collector.writer`` and talks to
it over its standard input and output: length-prefixed pickled frames, batches
in, acknowledgements out (see :class:`ingest.WriterClient`). It has its own
Python interpreter, so SQLite's per-row work and the rollups never wait for the
lock the collector's decoding threads hold, and the two halves run on two cores.

The loop: read whatever batches are waiting (up to ``MAX_TRANSACTION_ROWS``),
insert them in **one transaction**, commit, then acknowledge each (group
commit). A request is answered only after its acknowledgement, so an
acknowledged span is in the write-ahead log (see :mod:`ingest` for what that
survives). Committed calls are added to the rollup accumulator, written out
every ``flush_s`` seconds together with ``rolled_to``; a crash loses none of
it (the calls after ``rolled_to`` are rolled up again at start). Between
transactions it runs retention by age and by size and the orphan sweep, one
small chunk at a time, so ingest never waits long.

It exits when its input closes (the collector stopped or died), after writing
the rollups.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import select
import sqlite3
import struct
import sys
import threading
import time
from typing import Any, BinaryIO, Dict, List, Optional, Tuple

from . import rollups, rows
from .store import ADOPT_ORPHANS, ROLLUP_SELECT, Store

log = logging.getLogger("genai_tap.collector.writer")

RETENTION_CHUNK = 2000  # calls deleted per transaction
MAX_TRANSACTION_ROWS = 20000
_HEADER = struct.Struct(">Q")


# ---------------------------------------------------------------------------- framing


def write_frame(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    """The next frame, or None at end of input."""
    head = _read(stream, _HEADER.size)
    if head is None:
        return None
    data = _read(stream, _HEADER.unpack(head)[0])
    if data is None:
        return None
    return pickle.loads(data)


def _read(stream: BinaryIO, n: int) -> Optional[memoryview]:
    buf = memoryview(bytearray(n))
    got = 0
    while got < n:
        k = stream.readinto(buf[got:])  # type: ignore[attr-defined]
        if not k:
            return None
        got += k
    return buf


def widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """Ask Linux for a bigger pipe buffer (fewer system calls per frame); elsewhere a no-op."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError):
        pass


# ---------------------------------------------------------------------------- the writer


class Writer:
    def __init__(self, store: Store, retention_s: float = 0.0, max_db_bytes: int = 0, flush_s: float = 2.0,
                 orphan_seconds: float = 300.0, orphan_limit: int = 100_000, retention_every_s: float = 60.0) -> None:
        self.store = store
        self.retention_s = retention_s
        self.max_db_bytes = max_db_bytes
        self.flush_s = flush_s
        self.orphan_seconds = orphan_seconds
        self.orphan_limit = orphan_limit
        self.retention_every_s = retention_every_s
        self.accumulator = rollups.Accumulator()
        self.stats: Dict[str, Any] = {"committed_calls": 0, "committed_spans": 0, "deleted_calls": 0,
                                      "deleted_spans": 0, "failures": 0, "transactions": 0, "commit_cpu_s": 0.0,
                                      "rollup_cpu_s": 0.0, "retention_cpu_s": 0.0}
        self._max_id = 0
        self._orphans = True
        self._last_flush = time.monotonic()
        self._next_retention = 0.0
        self._retention_active = False
        self._next_orphans = 0.0
        self._next_size_check = 0.0
        self._shrinking = False

    # ------------------------------------------------------------------ start and stop
    def recover(self) -> None:
        """Roll up the calls committed after the last rollup write (after a crash)."""
        with self.store.read() as conn:
            rolled = Store.rolled_to(conn)
            pending = conn.execute(f"SELECT {ROLLUP_SELECT} FROM calls WHERE id > ? ORDER BY id", (rolled,)).fetchall()
            self._max_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])
        self.accumulator = rollups.Accumulator()
        self.accumulator.add(pending)
        if pending:
            log.info("rolling up %d calls stored after the last rollup", len(pending))
        self.flush(force=True)

    # ------------------------------------------------------------------ commits
    def commit(self, batches: List[Tuple[Any, ...]]) -> Optional[str]:
        """Insert ``batches`` (calls, spans, resources, metrics) in one transaction;
        returns None, or why it failed (nothing of it is then stored)."""
        cpu = time.thread_time()
        try:
            return self._commit(batches)
        finally:
            self.stats["commit_cpu_s"] += time.thread_time() - cpu

    def _commit(self, batches: List[Tuple[Any, ...]]) -> Optional[str]:
        now = time.time_ns()
        try:
            with self.store.transaction() as conn:
                lo = self._max_id
                expected = inserted = 0
                others = 0
                for calls, spans, resources, metrics in batches:
                    inserted += Store.insert(conn, calls, spans, resources, metrics, now)
                    expected += len(calls)
                    others += len(spans)
                if inserted:
                    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'calls'").fetchone()
                    self._max_id = int(row[0])
                    if self._orphans:
                        conn.execute(ADOPT_ORPHANS, (lo,))
                added: Optional[List[Any]] = None
                if inserted != expected:  # some were stored already (an export retried): roll up what went in
                    added = conn.execute(f"SELECT {ROLLUP_SELECT} FROM calls WHERE id > ?", (lo,)).fetchall()
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            self._max_id = self._read_max_id()
            self.stats["failures"] += 1
            log.error("storing %d request(s) failed: %s", len(batches), exc)
            return f"{type(exc).__name__}: {exc}"
        if others:
            self._orphans = True
        self.stats["committed_calls"] += inserted
        self.stats["committed_spans"] += others
        self.stats["transactions"] += 1
        if added is not None:
            self.accumulator.add(added)
        else:
            for calls, _, _, _ in batches:
                if calls:
                    self.accumulator.add(calls)
        return None

    def _read_max_id(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])

    def flush(self, force: bool = False) -> None:
        """Write the accumulated rollups and advance ``rolled_to``."""
        if not self.accumulator and not force:
            return
        cpu = time.thread_time()
        try:
            self._flush()
        finally:
            self.stats["rollup_cpu_s"] += time.thread_time() - cpu

    def _flush(self) -> None:
        accumulator, self.accumulator = self.accumulator, rollups.Accumulator()
        try:
            with self.store.transaction() as conn:
                accumulator.write(conn)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'rolled_to'", (str(self._max_id),))
        except Exception:
            self.stats["failures"] += 1
            self.accumulator = rollups.Accumulator()  # start again from what the database says
            with self.store.read() as conn:
                rolled = Store.rolled_to(conn)
                self.accumulator.add(conn.execute(f"SELECT {ROLLUP_SELECT} FROM calls WHERE id > ?", (rolled,)).fetchall())
            raise
        self._last_flush = time.monotonic()

    # ------------------------------------------------------------------ housekeeping
    def next_wait(self) -> float:
        """Seconds until housekeeping has something to do."""
        now = time.monotonic()
        if self._retention_active:
            return 0.0
        waits = [self._next_orphans - now, 1.0]
        if self.accumulator:
            waits.append(self._last_flush + self.flush_s - now)
        return max(min(waits), 0.0)

    def housekeeping(self) -> None:
        now = time.monotonic()
        if self.accumulator and (now - self._last_flush >= self.flush_s or self.accumulator.calls >= 200_000):
            self.flush()
        if now >= self._next_orphans:
            self._next_orphans = now + 1.0
            self._sweep_orphans()
        if self.retention_s > 0 and now >= self._next_retention:
            self._retention_active = True
        if self.max_db_bytes and now >= self._next_size_check:
            self._next_size_check = now + 5.0
            if self.store.size_bytes() > self.max_db_bytes:
                self._retention_active = True
        if self._retention_active:
            cpu = time.thread_time()
            done = not self._retention_chunk()
            self.stats["retention_cpu_s"] += time.thread_time() - cpu
            if done:
                self._retention_active = False
                self._next_retention = now + self.retention_every_s

    def _retention_chunk(self) -> bool:
        """Delete one chunk of the oldest data past the age or size limit; False when done.
        Over the size limit, the oldest calls go until the database is 10% under it."""
        self.flush()  # every committed call is in the rollups, so deleting can subtract exactly
        cutoff = time.time_ns() - int(self.retention_s * 1e9) if self.retention_s > 0 else None
        size = self.store.size_bytes() if self.max_db_bytes else 0
        over_size = bool(self.max_db_bytes) and size > (0.9 * self.max_db_bytes if self._shrinking else self.max_db_bytes)
        self._shrinking = over_size
        if cutoff is None and not over_size:
            return False
        chunk = RETENTION_CHUNK
        if over_size:
            calls = max(self.store.span_count(), 1)
            excess = size - 0.9 * self.max_db_bytes
            chunk = int(min(max(excess / (size / calls) + 1, 1), RETENTION_CHUNK))
        with self.store.transaction() as conn:
            where, args = ("1", []) if over_size else ("start_ns < ?", [cutoff])
            doomed = conn.execute(f"SELECT id, {ROLLUP_SELECT} FROM calls INDEXED BY calls_by_time WHERE {where} "
                                  f"ORDER BY start_ns LIMIT {chunk}", args).fetchall()
            limit_ns = cutoff if cutoff is not None else 0
            if doomed:
                acc = rollups.Accumulator()
                acc.add([tuple(r)[1:] for r in doomed], sign=-1)
                acc.write(conn, subtract=True)
                conn.execute("DELETE FROM calls WHERE id IN (SELECT value FROM json_each(?))",
                             (json.dumps([r[0] for r in doomed]),))
                if over_size:
                    limit_ns = max(limit_ns, max(r[1 + rows.C_START] for r in doomed) + 1)
                self.stats["deleted_calls"] += len(doomed)
            spans = conn.execute("DELETE FROM spans WHERE id IN (SELECT id FROM spans INDEXED BY spans_by_time "
                                 f"WHERE start_ns < ? ORDER BY start_ns LIMIT {RETENTION_CHUNK})", (limit_ns,)).rowcount
            self.stats["deleted_spans"] += spans
            if cutoff is not None:
                conn.execute("DELETE FROM metric_points WHERE id IN (SELECT id FROM metric_points WHERE time_ns < ? "
                             f"LIMIT {RETENTION_CHUNK})", (cutoff,))
                conn.execute("DELETE FROM alert_events WHERE time_ns < ?", (cutoff,))
                conn.execute("DELETE FROM resources WHERE last_used_ns < ?", (cutoff - 86_400 * 10**9,))
        if doomed or spans:
            log.debug("retention: deleted %d calls and %d spans", len(doomed), spans)
        return len(doomed) == chunk or spans == RETENTION_CHUNK or (over_size and bool(doomed or spans))

    def _sweep_orphans(self) -> None:
        if not self._orphans:
            return
        limit_ns = time.time_ns() - int(self.orphan_seconds * 1e9)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM spans WHERE id IN (SELECT id FROM spans INDEXED BY spans_orphaned "
                         "WHERE orphan = 1 AND received_ns < ? LIMIT 20000)", (limit_ns,))
            count = conn.execute("SELECT COUNT(*) FROM spans INDEXED BY spans_orphaned WHERE orphan = 1").fetchone()[0]
            if count > self.orphan_limit:
                conn.execute("DELETE FROM spans WHERE id IN (SELECT id FROM spans INDEXED BY spans_orphaned "
                             "WHERE orphan = 1 ORDER BY received_ns LIMIT ?)", (count - self.orphan_limit,))
        self._orphans = count > 0


# ---------------------------------------------------------------------------- the process


def serve(writer: Writer, inp: BinaryIO, out: BinaryIO) -> None:
    """Batches from ``inp`` (unbuffered, so ``select`` sees all that is waiting) until it
    closes; acknowledgements to ``out``."""
    fd = inp.fileno()
    while True:
        frames: List[Any] = []
        closed = False
        if select.select([fd], [], [], writer.next_wait())[0]:
            size = 0
            while True:
                frame = read_frame(inp)
                if frame is None or frame[0] == "stop":
                    closed = True
                    break
                frames.append(frame)
                size += len(frame[2]) + len(frame[3]) + len(frame[5])
                if size >= MAX_TRANSACTION_ROWS or not select.select([fd], [], [], 0)[0]:
                    break
        if frames:
            error = writer.commit([f[2:] for f in frames])
            write_frame(out, ("ack", [f[1] for f in frames], error, writer.stats))
        try:
            writer.housekeeping()
        except Exception:  # noqa: BLE001 - log, keep ingesting, try again later
            writer.stats["failures"] += 1
            log.exception("collector housekeeping failed")
        if closed:
            return


class Checkpointer:
    """Copies the write-ahead log into the database from a thread of its own (the writer's
    connection never checkpoints), so commits do not wait for the copying.

    A passive checkpoint every second copies what it can while the writer goes on. The
    log can only start over from its beginning once everything in it is copied, which,
    with commits arriving all the time, passive checkpoints never see: so when the log
    passes ``restart_bytes``, a RESTART checkpoint holds the writer back for the little
    that is left to copy, and the next commit starts the log over (its file is then cut
    back to the writer's ``journal_size_limit``)."""

    def __init__(self, path: str, every_s: float = 1.0, restart_bytes: int = 64 * 1024 * 1024) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.page_size = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        self.every_s = every_s
        self.restart_bytes = restart_bytes
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                _, frames, _ = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames * self.page_size > self.restart_bytes:
                    busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    self.restarts += 0 if busy else 1
            except sqlite3.Error as exc:
                log.debug("checkpoint: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass
        self.conn.close()


def exclusive(db: str, timeout_s: float = 15.0) -> Optional[Any]:
    """Hold ``<db>.writer-lock`` for this process's life, so that there is one writer per
    database: a collector started again after ``kill -9`` waits here until the old writer,
    which sees its input close, has finished (two would roll the same calls up twice)."""
    if db == ":memory:":
        return None
    import fcntl

    fd = os.open(db + ".writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RuntimeError(f"another writer holds {db} (a collector is running on it)") from None
            time.sleep(0.05)


def main(argv: Optional[List[str]] = None) -> int:
    options = json.loads((argv or sys.argv[1:])[0])
    # Rows come and go by the hundred thousand and hold no reference cycles: collecting
    # the youngest generation that often only costs time.
    gc.set_threshold(200_000, 50, 50)
    logging.basicConfig(level=options.get("log_level", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    inp = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    out = sys.stdout.buffer
    widen_pipe(inp.fileno())
    widen_pipe(out.fileno())
    sys.stdout = sys.stderr  # nothing but frames on the real stdout
    try:
        lock = exclusive(options["db"])
        store = Store(options["db"], durable=options.get("durable", False), checkpoints_elsewhere=True)
    except Exception as exc:  # noqa: BLE001 - the collector shows it
        write_frame(out, ("failed", f"{type(exc).__name__}: {exc}"))
        return 1
    writer = Writer(store, options.get("retention_s", 0.0), options.get("max_db_bytes", 0), options.get("flush_s", 2.0),
                    options.get("orphan_seconds", 300.0), options.get("orphan_limit", 100_000))
    checkpointer = Checkpointer(options["db"]) if options["db"] != ":memory:" else None
    try:
        writer.recover()
        writer.stats["synchronous"] = int(store._writer.execute("PRAGMA synchronous").fetchone()[0])
        write_frame(out, ("ready", os.getpid(), writer.stats))
        serve(writer, inp, out)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        try:
            writer.flush()
        except Exception:  # noqa: BLE001 - rolled up again at the next start
            log.exception("writing the rollups at exit failed")
        if checkpointer is not None:
            checkpointer.stop()
        store.close()
        if lock is not None:
            os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
