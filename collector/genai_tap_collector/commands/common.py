"""Options and output shared by the collector's commands (kept import-light)."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence

from ..text import printable

DB_ENV = "GENAI_TAP_COLLECTOR_DB"


def default_db() -> str:
    """``$GENAI_TAP_COLLECTOR_DB``, else ``$XDG_DATA_HOME/genai-tap/collector.db`` (``~/.local/share``)."""
    if os.environ.get(DB_ENV):
        return os.environ[DB_ENV]
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser(os.path.join("~", ".local", "share"))
    return os.path.join(base, "genai-tap", "collector.db")


def add_db(parser: Any) -> None:
    parser.add_argument("--db", metavar="PATH", default=None,
                        help=f"SQLite database file (default: ${DB_ENV} or ~/.local/share/genai-tap/collector.db)")


def add_filters(parser: Any, status: bool = True) -> None:
    parser.add_argument("--app", help="only this application (service.name)")
    parser.add_argument("--api", help="only calls through this API (InvokeModel, Converse, ConverseStream, ...)")
    parser.add_argument("--model", help="only this model (base model ID or the ID as sent)")
    if status:
        parser.add_argument("--status", choices=("ok", "error"), help="only successful or failed calls")
    parser.add_argument("--since", default="all",
                        help="start of the time range: a duration back from now (15m, 1h, 7d), an ISO time, or 'all' (default)")
    parser.add_argument("--until", help="end of the time range (same forms as --since)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def open_views(args: Any, command: str) -> Any:
    """Views over an existing database, or None after saying why there is none."""
    from ..prices import PriceTable
    from ..store import Store
    from ..views import Views

    import sqlite3

    db = args.db or default_db()
    if not os.path.exists(db):
        print(f"genai-tap {command}: no database at {printable(db)}; start `genai-tap collector` first, or pass --db PATH",
              file=sys.stderr)
        return None
    if os.path.isdir(db):
        print(f"genai-tap {command}: {printable(db)} is a directory; --db takes the database file", file=sys.stderr)
        return None
    try:
        return Views(Store(db), PriceTable.load(getattr(args, "prices", None)))
    except sqlite3.Error as exc:
        print(f"genai-tap {command}: {printable(db)} is not a collector database ({exc})", file=sys.stderr)
        return None


def fail(command: str, message: str) -> int:
    """One error line per line of ``message`` (control characters escaped); exit status 2."""
    for line in str(message).splitlines() or [""]:
        print(f"genai-tap {command}: {printable(line)}", file=sys.stderr)
    return 2


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> None:
    """A plain text table; every cell has its control characters escaped (see :mod:`..text`)."""
    cells = [[printable(h) for h in headers]] + [["" if c is None else printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def cost_text(usd: Optional[float], complete: bool = True, failed: bool = False) -> str:
    """Like the UI: six decimals always; ``-`` for a failed call or a model without a price."""
    if failed or usd is None:
        return "-"
    text = "<$0.000001" if 0 < usd < 0.0000005 else f"${usd:,.6f}"
    return text if complete else text + " + unknown"


def ms_text(ms: Optional[float]) -> str:
    return "-" if ms is None else (f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.1f}ms")
