"""The README's first command (`make demo`) does what it says: apps traced, collector fed, alert
mailed, and the commands it prints work as shown, from another directory, on the ports it chose."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path) -> None:
    # the ports the demo prefers are taken (held here): it must pick others and say which
    held = []
    for _ in range(3):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        held.append(sock)
    otlp, ui, smtp = (s.getsockname()[1] for s in held)
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--once", "--otlp-port", str(otlp),
                               "--ui-port", str(ui), "--smtp-port", str(smtp)],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        for sock in held:
            sock.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for script in ("nova_lite.py", "support_bot.py", "streaming_chat.py", "knowledge_indexer.py", "flaky_batch.py"):
        assert f"examples/{script}" in out and "[ok]" in out
    assert "batch finished: 5 summarised, 7 throttled" in out
    assert "1 email(s) in the local mailbox" in out
    assert "Subject: [FIRING] errors piling up" in out
    # the stats printed at the end show every app, the errors and costs
    for app in ("nova-lite-app", "support-bot", "chat-ui", "indexer", "batch-summariser"):
        assert app in out
    assert "58.3%" in out  # 7 of the batch job's 12 calls were throttled

    # which ports it took instead, said once each
    for wanted in (otlp, ui, smtp):
        assert re.search(rf"{wanted} was taken; using (\d+)", out), wanted
    chosen_ui = int(re.search(rf"{ui} was taken; using (\d+)", out).group(1))
    chosen_otlp = int(re.search(rf"{otlp} was taken; using (\d+)", out).group(1))
    assert f"Open the UI: http://127.0.0.1:{chosen_ui}" in out
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{chosen_otlp} OTEL_SERVICE_NAME=my-app " in out

    # the printed commands run as shown, from a directory with no virtualenv and no repository
    block = out.split("From a terminal (these work from any directory):\n", 1)[1].splitlines()
    traces, stats = block[0].strip(), block[1].strip()
    assert traces.split()[1:3] == ["traces", "--db"] and stats.split()[1:3] == ["stats", "--db"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run(shlex.split(traces) + ["--json", "--limit", "100"], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert {c["app"] for c in json.loads(run.stdout)["items"]} >= {"batch-summariser", "support-bot"}
    run = subprocess.run(shlex.split(stats), capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert run.returncode == 0 and "batch-summariser" in run.stdout, run.stderr
