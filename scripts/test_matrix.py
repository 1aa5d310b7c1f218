#!/usr/bin/env python3
"""The dependency matrix of ``make test``: genai-tap's version-sensitive tests again on the
other Pythons and on the oldest and newest releases of the libraries it claims to support.

``make test`` runs the whole suite in ``.venv`` (the machine's default Python and the newest
release of everything) and then this script. Each *set* below is one virtualenv
(``.venv-<set>``) with one combination of versions, and a choice of test files:

* ``py3.10``, ``py3.12``, ``py3.13``: the other Pythons (whichever this machine has, on
  ``PATH`` or under pyenv), newest releases: how a process starts and exits, faults at
  exit, threads, fork, generators and their finalizers differ between Python versions.
* ``oldest``: every runtime dependency at the floor ``pyproject.toml`` declares
  (OpenTelemetry, wrapt, ddtrace from the ``datadog`` extra) and the oldest botocore/boto3
  and aiobotocore of the ``test`` extra, read from ``pyproject.toml`` each run, so a floor
  moved there is the floor tested here.
* ``botocore-newest``: the newest botocore and boto3. aiobotocore pins botocore tightly, so
  ``.venv`` holds the botocore the newest aiobotocore allows; this set leaves aiobotocore out
  and runs the synchronous tests on the newest botocore.
* ``aioboto3``: the newest aioboto3 (it pins an aiobotocore of its own), the async tests with
  every async client made through ``aioboto3.Session``.

A virtualenv is made once (with ``uv`` when ``.venv`` has it, else pip) and reused while
its marker is newer than ``pyproject.toml`` and records the same install request. Sets run a
few at a time (``--jobs``, longest first), each writing to ``.tmp/matrix/<set>.log``. The end says which
sets ran and passed, which failed, and which could not run (a Python this machine lacks):
a set that did not run is never counted as passed. The exit status is non-zero when a set
failed or could not be installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".tmp" / "matrix"
DEFAULT_PYTHON = "%d.%d" % sys.version_info[:2]

#: where Python versions behave differently (start-up and exit, faults, threads, fork,
#: generators, event loops), and the OpenTelemetry shortcuts with their fallbacks
VERSION_SENSITIVE = [
    "tests/test_launch.py",
    "tests/test_faults.py",
    "tests/test_finisher.py",
    "tests/test_production.py",
    "tests/test_streams.py",
    "tests/test_async_clients.py",
    "tests/test_otel_paths.py",
]
#: what changes with the libraries' versions: everything that touches botocore's, aiobotocore's,
#: wrapt's, OpenTelemetry's or ddtrace's behaviour (the collector, the emulator alone, the
#: documentation and the privacy detectors do not)
DEPENDENCY_SENSITIVE = VERSION_SENSITIVE + [
    "tests/test_async_apps.py",
    "tests/test_converse.py",
    "tests/test_invoke_families.py",
    "tests/test_invoke_media.py",
    "tests/test_errors.py",
    "tests/test_response_body.py",
    "tests/test_record_children.py",
    "tests/test_semconv_opt_in.py",
    "tests/test_instrumentation.py",
    "tests/privacy/test_wire.py",
    "tests/datadog",
]
#: what a newer botocore can change: its client, responses, streams and errors, and importing it
BOTOCORE_SENSITIVE = [
    "tests/test_launch.py",
    "tests/test_converse.py",
    "tests/test_streams.py",
    "tests/test_response_body.py",
    "tests/test_errors.py",
    "tests/test_faults.py",
    "tests/test_invoke_families.py",
    "tests/test_invoke_media.py",
    "tests/test_instrumentation.py",
    "tests/test_record_children.py",
]
ASYNC = ["tests/test_async_clients.py", "tests/test_async_apps.py", "tests/aioboto3"]

#: the test tools a set needs besides the project (the whole ``test`` extra holds browser and
#: LangChain packages that only the main suite uses)
TOOLS = ["pytest", "hypothesis", "pyyaml", "starlette", "uvicorn", "httpx", "gunicorn",
         "opentelemetry-instrumentation-botocore", "opentelemetry-distro"]
#: tests that need a package a set leaves out
NEEDS_LANGCHAIN = "tests/test_streams.py::test_langchain_chat_bedrock_converse_streaming_under_genai_tap_run"
#: 20 s of calls and streams for flat memory: run on every Python, not again per library version
SOAK = "tests/test_production.py::test_soak_memory_stays_flat"


@dataclass
class Set:
    name: str
    python: str  # "3.12", or "" for the default Python
    install: List[str]  # pip requirement arguments (after -e .[...] and the tools)
    tests: List[str]
    extras: str = "all"
    floors: bool = False  # pin every claimed dependency to its floor
    deselect: List[str] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)
    why: str = ""


def sets() -> List[Set]:
    """The sets, longest first (they start in this order, ``--jobs`` at a time)."""
    out = [
        Set("oldest", "", ["aiobotocore[boto3]"], DEPENDENCY_SENSITIVE, floors=True, deselect=[NEEDS_LANGCHAIN, SOAK],
            why="every dependency at its declared floor"),
    ]
    out += [
        Set(f"py{v}", v, ["langchain-aws"], VERSION_SENSITIVE, extras="all,test", why="another Python, newest releases")
        for v in ("3.10", "3.11", "3.12", "3.13") if v != DEFAULT_PYTHON
    ]
    out += [
        Set("botocore-newest", "", ["boto3", "botocore"], BOTOCORE_SENSITIVE, deselect=[NEEDS_LANGCHAIN],
            why="the newest botocore and boto3, without aiobotocore"),
        Set("aioboto3", "", ["aioboto3"], ASYNC, env={"GENAI_TAP_TEST_ASYNC_CLIENTS": "aioboto3"},
            why="the newest aioboto3, every async client made through it"),
    ]
    return out


# ------------------------------------------------------------------------------ floors


def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][A-Za-z0-9.]*)\s*(?:,[^;]*)?(;.*)?$")


def floors() -> List[str]:
    """``name==floor`` for every runtime dependency, the ``datadog`` extra, and the AWS
    clients of the ``test`` extra (botocore follows boto3's floor: they are released together)."""
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted = list(project["dependencies"]) + list(extras.get("datadog", []))
    wanted += [r for r in extras.get("test", []) if r.split("[")[0].split(">")[0].strip() in ("boto3", "aiobotocore")]
    pins: List[str] = []
    for req in wanted:
        m = _REQ.match(req)
        if not m:
            continue
        name, version, marker = m.group(1), m.group(3), m.group(4)
        if marker and "python_version" in marker:  # tomli & co.: a backport, not a claim
            continue
        pins.append(f"{name}=={version}")
        if name == "boto3":
            pins.append(f"botocore=={version}")
    return pins


# ------------------------------------------------------------------------------ pythons


def find_python(version: str) -> Optional[str]:
    """``pythonX.Y`` on PATH (and working: a pyenv shim may not be), else a pyenv install."""
    if not version:
        return sys.executable
    exe = shutil.which(f"python{version}")
    if exe and subprocess.run([exe, "-c", "pass"], capture_output=True).returncode == 0:
        return exe
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for candidate in sorted(root.glob(f"versions/{version}.*/bin/python{version}")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


# ------------------------------------------------------------------------------ installing


def venv_of(s: Set) -> Path:
    return ROOT / f".venv-{s.name}"


def install_request(s: Set) -> Tuple[List[str], List[str]]:
    """(requirements, constraints) for the set's virtualenv."""
    reqs = ["-e", f".[{s.extras}]", *TOOLS, *s.install]
    return reqs, (floors() if s.floors else [])


def ensure_venv(s: Set, python: str, log) -> None:
    venv = venv_of(s)
    marker = venv / ".installed"
    reqs, constraints = install_request(s)
    digest = hashlib.sha256(json.dumps([python, reqs, constraints]).encode()).hexdigest()
    pyproject = ROOT / "pyproject.toml"
    if marker.exists() and marker.read_text().strip() == digest and marker.stat().st_mtime > pyproject.stat().st_mtime:
        log(f"reusing {venv.name}")
        return
    log(f"installing {venv.name}: {' '.join(reqs)}" + (f" with {' '.join(constraints)}" if constraints else ""))
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", str(venv)], log)
    vpy = str(venv / "bin" / "python")
    cfile = None
    if constraints:
        cfile = venv / "constraints.txt"
        cfile.write_text("\n".join(constraints) + "\n")
    uv = ROOT / ".venv" / "bin" / "uv"
    if uv.exists():
        cmd = [str(uv), "pip", "install", "--quiet", "--python", vpy]
    else:
        cmd = [vpy, "-m", "pip", "install", "--quiet"]
    run(cmd + (["-c", str(cfile)] if cfile else []) + reqs, log)
    if constraints:  # the floors must be what is installed, not merely allowed
        installed = dict(line.split("==", 1) for line in
                         subprocess.run([vpy, "-m", "pip", "freeze", "--all"], capture_output=True, text=True).stdout.split()
                         if "==" in line)
        for pin in constraints:
            name, version = pin.split("==")
            got = installed.get(name) or installed.get(name.replace("-", "_"))
            if got is None or _vtuple(got) != _vtuple(version):
                raise SetupError(f"{name} is {got}, not the floor {version}")
    marker.write_text(digest + "\n")


def _vtuple(v: str) -> Tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", v)]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class SetupError(Exception):
    pass


def run(cmd: List[str], log) -> None:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        log(proc.stdout + proc.stderr)
        raise SetupError(f"{cmd[0]} {' '.join(cmd[1:4])} ... exited with {proc.returncode}")


# ------------------------------------------------------------------------------ running


@dataclass
class Result:
    name: str
    status: str  # passed | failed | not run | setup failed
    summary: str = ""
    seconds: float = 0.0
    versions: str = ""
    counts: Dict[str, int] = field(default_factory=dict)


SUMMARY = re.compile(r"^=*\s*(\d+ \w+.*) in [0-9.]+s")
VERSIONS = ("opentelemetry-sdk", "botocore", "boto3", "aiobotocore", "aioboto3", "wrapt", "ddtrace")


def run_set(s: Set, pytest_args: List[str]) -> Result:
    started = time.monotonic()
    LOGS.mkdir(parents=True, exist_ok=True)
    logfile = LOGS / f"{s.name}.log"
    lock = threading.Lock()
    with open(logfile, "w") as fh:

        def log(text: str) -> None:
            with lock:
                fh.write(text.rstrip() + "\n")
                fh.flush()

        python = find_python(s.python)
        if python is None:
            return Result(s.name, "not run", f"no Python {s.python} on this machine")
        try:
            ensure_venv(s, python, log)
        except SetupError as exc:
            return Result(s.name, "setup failed", str(exc), time.monotonic() - started)
        vpy = str(venv_of(s) / "bin" / "python")
        freeze = subprocess.run([vpy, "-m", "pip", "freeze", "--all"], capture_output=True, text=True).stdout.split()
        have = dict(line.lower().split("==", 1) for line in freeze if "==" in line)
        versions = " ".join(f"{n} {have[n]}" for n in VERSIONS if n in have)
        tests = [t for t in s.tests if (ROOT / t).exists()]
        cmd = [vpy, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, *[f"--deselect={d}" for d in s.deselect], *pytest_args]
        log("$ " + " ".join(cmd))
        log("versions: " + versions)
        env = dict(os.environ, **s.env)
        proc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
    tail = logfile.read_text().splitlines()
    summary = next((m.group(1) for line in reversed(tail) if (m := SUMMARY.match(line.strip("= ")) or SUMMARY.match(line))), "")
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)", summary)}
    status = "passed" if proc.returncode == 0 and counts.get("passed") else "failed"
    return Result(s.name, status, summary or f"pytest exited with {proc.returncode}", time.monotonic() - started, versions, counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="only these sets")
    parser.add_argument("--jobs", type=int, default=4,
                        help="sets run at once (default 4: the tests mostly wait on subprocesses and sockets, so 4 sets keep 2 cores busy)")
    parser.add_argument("--list", action="store_true", help="print the sets and their versions' sources, run nothing")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after the set's own arguments")
    args = parser.parse_args()
    chosen = [s for s in sets() if not args.only or s.name in args.only]
    if args.list:
        for s in chosen:
            reqs, constraints = install_request(s)
            print(f"{s.name:16} Python {s.python or DEFAULT_PYTHON}: {s.why}; {' '.join(constraints) or 'newest releases'}")
            print(f"{'':16} {' '.join(s.tests)}")
        return 0
    started = time.monotonic()
    results: Dict[str, Result] = {}
    pending = list(chosen)
    lock = threading.Lock()

    def say(text: str) -> None:
        with lock:
            print(text, flush=True)

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                s = pending.pop(0)
            say(f"matrix: {s.name} ({s.why}): started")
            try:
                r = run_set(s, args.pytest_args)
            except Exception as exc:  # noqa: BLE001 - say which set broke, keep the others going
                r = Result(s.name, "setup failed", f"{type(exc).__name__}: {exc}")
            with lock:
                results[s.name] = r
            text = f"matrix: {s.name}: {r.status}, {r.summary} ({r.seconds:.0f} s){'; ' + r.versions if r.versions else ''}"
            if r.status in ("failed", "setup failed"):
                log = (LOGS / f"{s.name}.log").read_text().splitlines()
                text += "\n" + "\n".join(f"  | {line}" for line in log[-40:])
            say(text)

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = [results[s.name] for s in chosen]
    ran = [r for r in ordered if r.status in ("passed", "failed")]
    passed = [r.name for r in ordered if r.status == "passed"]
    failed = [r.name for r in ordered if r.status in ("failed", "setup failed")]
    not_run = [f"{r.name} ({r.summary})" for r in ordered if r.status == "not run"]
    print(f"matrix: sets passed: {', '.join(passed) or 'none'}; failed: {', '.join(failed) or 'none'}; "
          f"not run (not tested, not passed): {', '.join(not_run) or 'none'}; {time.monotonic() - started:.0f} s")
    total_passed = sum(r.counts.get("passed", 0) for r in ran)
    total_failed = sum(r.counts.get("failed", 0) + r.counts.get("error", 0) + r.counts.get("errors", 0) for r in ran)
    print(f"matrix: {total_passed} passed, {total_failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
