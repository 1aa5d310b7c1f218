"""``genai-tap sitecustomize``: print the directory to put on PYTHONPATH.

For places where wrapping the command is awkward (systemd units, container
images, AWS Lambda): ``PYTHONPATH=$(genai-tap sitecustomize)`` has the same effect
as ``genai-tap run``.
"""

from __future__ import annotations

HELP = "print the sitecustomize directory to put on PYTHONPATH (for systemd, containers, Lambda)"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--export", action="store_true", help="print a shell line: export PYTHONPATH=<dir>:$PYTHONPATH"
    )


def main(args) -> int:
    from .launcher import sitecustomize_dir

    path = sitecustomize_dir()
    print(f'export PYTHONPATH="{path}${{PYTHONPATH:+:$PYTHONPATH}}"' if args.export else path)
    return 0
