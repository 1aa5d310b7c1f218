"""Run a small Python app in a fresh process, with or without genai-tap."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[2]
GENAI_TAP = [sys.executable, "-m", "genai_tap.cli"]

#: Appended to an app: what Python 3.12 does at exit (its atexit documentation: starting a
#: thread from an atexit callback raises RuntimeError), on any version. Registered after
#: the app's calls, it runs before genai-tap's exit flush (atexit goes last-in, first-out).
NO_THREADS_AT_EXIT = """
import atexit, threading
def refuse(self):
    raise RuntimeError("can't create new thread at interpreter shutdown")
atexit.register(setattr, threading.Thread, "start", refuse)
"""


def aws_env(emulator_url: str) -> Dict[str, str]:
    """The environment of an app talking to the emulator with dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_TAP_", "DD_", "AWS_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=emulator_url,
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def run_app(
    source: str,
    env: Dict[str, str],
    tmp_path: Path,
    traced: bool = True,
    name: str = "app.py",
    args: Optional[List[str]] = None,
    timeout: float = 60,
    launcher: Optional[List[str]] = None,
) -> subprocess.CompletedProcess:
    """Write ``source`` to a file and run it, under ``genai-tap run`` if ``traced``.

    ``launcher`` goes between ``genai-tap run`` and ``python`` (e.g. ``ddtrace-run``).
    """
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    cmd = list(launcher or []) + [sys.executable, str(path)] + list(args or [])
    if traced:
        cmd = GENAI_TAP + ["run"] + cmd
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path))


class Runs:
    """An app run without and then with genai-tap, and what the emulator received each time."""

    def __init__(self, bare: subprocess.CompletedProcess, traced: subprocess.CompletedProcess,
                 bare_requests: List[tuple], traced_requests: List[tuple]) -> None:
        self.bare, self.traced = bare, traced
        self.bare_requests, self.traced_requests = bare_requests, traced_requests

    def assert_same(self) -> None:
        """The differential promise: same stdout, stderr and exit code, byte-identical requests."""
        assert "Traceback" not in self.bare.stderr, self.bare.stderr
        assert self.traced.returncode == self.bare.returncode, self.traced.stderr
        assert self.traced.stdout == self.bare.stdout and self.bare.stdout.strip()
        assert self.traced.stderr == self.bare.stderr
        assert self.traced_requests == self.bare_requests  # what Bedrock received, byte for byte


def run_both(source: str, emulator: Any, env: Dict[str, str], tmp_path: Path, **kwargs: Any) -> Runs:
    """Run ``source`` without genai-tap, then under ``genai-tap run``, against ``emulator``
    (a deterministic one: the same request gets the same answer)."""
    results = []
    for traced in (False, True):
        emulator.reset()
        proc = run_app(source, env, tmp_path, traced=traced, **kwargs)
        results.append((proc, [(r["path"], r["body"]) for r in emulator.requests]))
    (bare, bare_requests), (traced_proc, traced_requests) = results
    return Runs(bare, traced_proc, bare_requests, traced_requests)
