"""``genai-tap run COMMAND [ARGS...]``: run a program with genai-tap switched on.

Puts genai-tap's ``sitecustomize`` directory first on ``PYTHONPATH`` and replaces
this process with the command (like ``ddtrace-run`` and
``opentelemetry-instrument``). Every Python process started from it, and their
children, start with genai-tap; set ``GENAI_TAP_ENABLED=false`` in a child's
environment to leave it out.
"""

from __future__ import annotations

import os
import sys

HELP = "run a command with genai-tap switched on (e.g. genai-tap run python app.py)"

USAGE = """usage: genai-tap run [-h] COMMAND [ARGS ...]

Run COMMAND with genai-tap switched on: every Bedrock call it makes through
boto3 is traced, with no change to its code. Configure with environment
variables (see README.md); GENAI_TAP_ENABLED=false turns it off.
"""


def sitecustomize_dir() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sitecustomize")


def add_arguments(parser) -> None:
    import argparse

    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, with its arguments")


def main(args) -> int:
    return run(args.command)


def run(argv: "list[str]") -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    here = sitecustomize_dir()
    current = os.environ.get("PYTHONPATH", "")
    parts = [p for p in current.split(os.pathsep) if p and p != here]
    os.environ["PYTHONPATH"] = os.pathsep.join([here] + parts)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"genai-tap run: cannot run {argv[0]!r}: {exc.strerror}\n")
        return 127
    return 0  # not reached
