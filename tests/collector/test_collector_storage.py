"""Storage: what is acknowledged survives kill -9, the file is private, orphans wait on
disk, retention by age and by size, the writer process restarts, concurrent senders
lose nothing."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import List, Set, Tuple

import pytest

from genai_tap_collector.server import Collector

from conftest import get, request_pb, send, span_pb, wait_for

HOUR_NS = 3600 * 10**9


def start_cli(db, *extra: str) -> Tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(db), "--otlp-port", "0",
                             "--ui-port", "0", "--grpc-port", "0", "--log-level", "WARNING", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = ""
    while "web UI:" not in banner:
        line = proc.stdout.readline()
        assert line, f"the collector did not start: {banner}"
        banner += line
    otlp = re.search(r"OTLP_ENDPOINT=(http://[0-9.:]+)", banner).group(1)
    ui = re.search(r"web UI:\s+(http://[0-9.:]+)", banner).group(1)
    return proc, otlp, ui


def children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def post_spans(otlp: str, spans: list, app: str) -> int:
    req = urllib.request.Request(otlp + "/v1/traces", data=request_pb(spans, app), method="POST",
                                 headers={"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def stored_ids(db) -> Set[bytes]:
    conn = sqlite3.connect(str(db))
    try:
        return {r[0] for r in conn.execute("SELECT span_id FROM calls")}
    finally:
        conn.close()


def integrity(db) -> str:
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_loses_nothing_acknowledged(tmp_path):
    db = tmp_path / "k.db"
    proc, otlp, _ = start_cli(db)
    writer_pids = children(proc.pid)
    acked: Set[bytes] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n: int) -> None:
        while not stop.is_set():
            spans = [span_pb(attrs={"gen_ai.input.messages": "x" * 500}) for _ in range(50)]
            if post_spans(otlp, spans, f"app-{n}") == 200:
                with lock:
                    acked.update(s.span_id for s in spans)

    threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 3000, "a few thousand acknowledged spans", 120)
    os.kill(proc.pid, signal.SIGKILL)  # mid-ingest, with requests in flight
    proc.wait()
    stop.set()
    for t in threads:
        t.join(30)
    with lock:
        expected = set(acked)
    # restarted at once: the old writer may still be finishing what was in its pipe; the new
    # one waits for it, so the calls are rolled up once
    with Collector(db, otlp_port=0, ui_port=0) as c:
        assert integrity(db) == "ok"
        missing = expected - stored_ids(db)
        assert not missing, f"{len(missing)} acknowledged spans lost"
        total = get(c.ui_url + "/api/stats")["total"]["calls"]
        assert total == len(stored_ids(db)) >= len(expected)  # the rollups agree with what is stored
    for pid in writer_pids:  # the old writer saw its input close and stopped by itself
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]


def test_one_writer_per_database(tmp_path):
    from genai_tap_collector.writer import exclusive

    db = str(tmp_path / "one.db")
    held = exclusive(db)
    with pytest.raises(RuntimeError, match="another writer holds"):
        exclusive(db, timeout_s=0.2)
    os.close(held)
    os.close(exclusive(db, timeout_s=0.2))


def test_the_database_and_its_companions_are_private(tmp_path):
    db = tmp_path / "private" / "calls.db"
    with Collector(db, otlp_port=0, ui_port=0) as c:
        send(c, [span_pb()])
        for path in (db, db.with_name("calls.db-wal"), db.with_name("calls.db-shm")):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    os.chmod(db, 0o644)
    with Collector(db, otlp_port=0, ui_port=0):
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600  # tightened when found open


def test_a_child_that_arrives_before_its_parent_survives_a_restart(tmp_path):
    db = tmp_path / "o.db"
    trace = os.urandom(16)
    parent_id = os.urandom(8)
    proc, otlp, _ = start_cli(db)
    try:
        assert post_spans(otlp, [span_pb("POST bedrock-runtime", genai=False, trace_id=trace, parent_id=parent_id)],
                          "early") == 200
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Collector(db, otlp_port=0, ui_port=0) as c:
        send(c, [span_pb(trace_id=trace, span_id=parent_id)], "early")
        tree = get(f"{c.ui_url}/api/traces/{trace.hex()}")["spans"]
        assert [(s["depth"], s["name"]) for s in tree] == [(0, "chat amazon.nova-lite-v1:0"), (1, "POST bedrock-runtime")]


def test_retention_by_age_deletes_old_calls_and_their_sums(tmp_path):
    now = time.time_ns()
    with Collector(tmp_path / "age.db", otlp_port=0, ui_port=0, retention="1h") as c:
        old = [span_pb(start_ns=now - 3 * HOUR_NS + i * 10**9, error="ThrottlingException" if i % 2 else None)
               for i in range(40)]
        new = [span_pb(start_ns=now - 10 * 60 * 10**9 + i * 10**9) for i in range(10)]
        other = span_pb("GET /old", genai=False, trace_id=old[0].trace_id, start_ns=now - 3 * HOUR_NS)
        send(c, [*old, *new, other], "aging")
        assert get(c.ui_url + "/api/stats")["total"]["calls"] == 50
    # retention runs when the collector starts, then every minute
    with Collector(tmp_path / "age.db", otlp_port=0, ui_port=0, retention="1h") as c:
        wait_for(lambda: get(c.ui_url + "/api/stats")["total"]["calls"] == 10, "old calls to be deleted")
        assert get(c.ui_url + "/api/errors")["groups"] == []
        assert len(get(c.ui_url + "/api/traces?per_page=100")["items"]) == 10
        with pytest.raises(urllib.error.HTTPError) as err:
            get(f"{c.ui_url}/api/traces/{old[0].trace_id.hex()}")
        assert err.value.code == 404
        conn = sqlite3.connect(str(tmp_path / "age.db"))
        assert conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM roll_calls WHERE calls <= 0").fetchone()[0] == 0
        conn.close()


@pytest.mark.slow
def test_retention_by_size_keeps_the_newest_and_ingest_goes_on(tmp_path):
    db = tmp_path / "size.db"
    now = time.time_ns()
    with Collector(db, otlp_port=0, ui_port=0, retention=0, max_db_size="4MB") as c:
        statuses = []
        for batch in range(30):  # about 12 MB of spans, oldest first
            spans = [span_pb(start_ns=now - (30 - batch) * 60 * 10**9 + i, attrs={"gen_ai.input.messages": "y" * 20_000})
                     for i in range(20)]
            statuses.append(post_spans(c.otlp_url, spans, "sized"))
        assert statuses == [200] * 30  # never paused
        wait_for(lambda: c.store.size_bytes() <= 0.9 * 4_000_000, "the database to shrink to 90% of its limit", 60)

        def settled() -> list:  # deletes go on in chunks: wait until the list and the sums agree
            calls = get(c.ui_url + "/api/traces?per_page=500")["items"]
            return calls if get(c.ui_url + "/api/stats")["total"]["calls"] == len(calls) else []

        calls = wait_for(settled, "retention to settle")
        assert 0 < len(calls) < 600
        assert max(c["start_ns"] for c in calls) >= now - 60 * 10**9  # the last batch is kept
    assert integrity(db) == "ok"


def test_a_killed_writer_is_replaced_and_keeps_what_it_committed(tmp_path):
    with Collector(tmp_path / "w.db", otlp_port=0, ui_port=0) as c:
        first = [span_pb() for _ in range(5)]
        send(c, first, "survivor")
        old_pid = c.writer.pid
        os.kill(old_pid, signal.SIGKILL)
        again = span_pb()  # the same span until it gets in: a 503 may come after it was stored
        wait_for(lambda: post_spans(c.otlp_url, [again], "survivor") == 200, "a new writer process")
        assert c.writer.pid != old_pid and c.writer.restarts == 1
        wait_for(lambda: get(c.ui_url + "/api/stats")["total"]["calls"] == 6, "all six calls")


def test_concurrent_senders_lose_nothing(collector):
    sent: List[bytes] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        for _ in range(10):
            spans = [span_pb() for _ in range(100)]
            assert post_spans(collector.otlp_url, spans, f"sender-{n}") == 200
            with lock:
                sent.extend(s.span_id for s in spans)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(sent) == 8000
    assert stored_ids(collector.db) == set(sent)
    apps = get(collector.ui_url + "/api/apps")["apps"]
    assert sorted((a["app"], a["calls"]) for a in apps) == [(f"sender-{n}", 1000) for n in range(8)]


def test_durable_syncs_every_commit(tmp_path):
    with Collector(tmp_path / "n.db", otlp_port=0, ui_port=0) as c:
        assert c.writer.stats["synchronous"] == 1  # NORMAL: survives kill -9, not a power cut
    with Collector(tmp_path / "d.db", otlp_port=0, ui_port=0, durable=True) as c:
        assert c.writer.stats["synchronous"] == 2  # FULL: each acknowledged commit is on disk
        send(c, [span_pb()])
        assert get(c.ui_url + "/api/stats")["total"]["calls"] == 1


@pytest.mark.slow
def test_a_second_collector_on_the_same_database_gives_up_saying_why(tmp_path):
    from genai_tap_collector.configfile import ConfigError

    with Collector(tmp_path / "shared.db", otlp_port=0, ui_port=0):
        with pytest.raises(ConfigError, match="another writer holds .*shared.db"):
            Collector(tmp_path / "shared.db", otlp_port=0, ui_port=0).start()


def test_a_database_of_another_format_is_refused_and_left_alone(tmp_path):
    from genai_tap_collector.configfile import ConfigError

    db = tmp_path / "old.db"
    conn = sqlite3.connect(str(db))
    conn.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                       "INSERT INTO meta VALUES ('schema_version', '1'); CREATE TABLE spans (id INTEGER PRIMARY KEY);")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(ConfigError, match="storage format 1; this one uses format"):
        Collector(db, otlp_port=0, ui_port=0).start()
    out = subprocess.run([sys.executable, "-m", "genai_tap.cli", "stats", "--db", str(db)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "storage format 1" in out.stderr and "Traceback" not in out.stderr
    assert db.read_bytes() == before


def test_orphans_wait_on_disk_then_go(tmp_path):
    from genai_tap_collector.limits import Limits
    from genai_tap_collector.otlp import traces
    from genai_tap_collector.store import Store
    from genai_tap_collector.writer import Writer
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    store = Store(tmp_path / "orphans.db")
    writer = Writer(store, orphan_seconds=0.5, orphan_limit=3)
    writer.recover()

    def orphans() -> int:
        return store.query("SELECT COUNT(*) FROM spans WHERE orphan = 1")[0][0]

    batch = traces(ExportTraceServiceRequest.FromString(request_pb([span_pb("GET /x", genai=False) for _ in range(5)])),
                   Limits())
    assert writer.commit([(batch.calls, batch.spans, batch.resources, [])]) is None
    assert orphans() == 5
    writer.housekeeping()
    assert orphans() == 3  # over the limit: the oldest go
    time.sleep(0.6)
    writer._next_orphans = 0
    writer.housekeeping()
    assert orphans() == 0  # past their time
    store.close()
