"""The ``genai-tap`` command.

Each subcommand lives in its own module with ``HELP``, ``add_arguments(parser)``
and ``main(args) -> int``; those modules import their heavy parts inside
``main`` so that ``genai-tap --help`` and ``genai-tap run`` stay fast.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # `genai-tap run` must start fast: typing alone costs milliseconds
    from typing import List, Optional

# name -> module; the order is the order of ``genai-tap --help``.
COMMANDS = {
    "run": "genai_tap.launcher",
    "sitecustomize": "genai_tap.launcher_path",
    "emulator": "genai_tap.emulator.cli",
    "collector": "genai_tap_collector.commands.collector",
    "traces": "genai_tap_collector.commands.traces",
    "stats": "genai_tap_collector.commands.stats",
}


def main(argv: "Optional[List[str]]" = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "run":  # the launcher's hot path: no argparse, no other imports
        from .launcher import run

        return run(argv[1:])

    import argparse
    import importlib

    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="genai-tap",
        description="Zero-code tracing of Amazon Bedrock calls to OpenTelemetry and Datadog LLM Observability.",
    )
    parser.add_argument("--version", action="version", version=f"genai-tap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # an optional part that is not installed
            sub.add_parser(name, help=f"(unavailable: {exc})")
            continue
        modules[name] = module
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command not in modules:
        parser.error(f"the {args.command!r} command is not available in this installation")
    return int(modules[args.command].main(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
