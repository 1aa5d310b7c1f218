"""Options and output shared by the collector's commands (kept import-light)."""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional, Sequence

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

    db = args.db or default_db()
    if not os.path.exists(db):
        print(f"genai-tap {command}: no database at {db}; start `genai-tap collector` first, or pass --db PATH",
              file=sys.stderr)
        return None
    return Views(Store(db), PriceTable.load(getattr(args, "prices", None)))


def fail(command: str, message: str) -> int:
    print(f"genai-tap {command}: {message}", file=sys.stderr)
    return 2


def print_table(headers: Sequence[str], rows: List[Sequence[Any]], right: Sequence[int] = ()) -> None:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def cost_text(usd: Optional[float], complete: bool = True) -> str:
    if usd is None:
        return "unknown"
    text = f"${usd:.6f}" if usd < 0.01 else f"${usd:,.4f}"
    return text if complete else text + " + unknown"


def ms_text(ms: Optional[float]) -> str:
    return "-" if ms is None else (f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.1f}ms")
