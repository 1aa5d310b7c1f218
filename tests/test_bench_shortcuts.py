"""scripts/bench_shortcuts.py, the source of docs/design.md's shortcut figures, still runs and
measures both ways (its figures are not judged here: speed lives in benchmark scripts)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_shortcuts.py"


def test_the_shortcuts_script_measures_each_shortcut_and_its_fallback() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--calls", "50", "--rounds", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for line in ("spans  finished spans", "spans  SDK spans", "spans  gain:", "metrics v1.41 conventions", "metrics latest conventions"):
        assert line in out, out
    figures = re.findall(r"(-?\d+\.\d) µs", out)
    assert len(figures) >= 10 and all(float(f) > 0 for f in figures[:4]), out
