"""The README's first command (`make demo`) does what it says: apps traced, collector fed, alert mailed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_end_to_end() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--once"], capture_output=True, text=True, timeout=300, cwd=ROOT)
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
    assert "Open the UI: http://127.0.0.1:" in out
