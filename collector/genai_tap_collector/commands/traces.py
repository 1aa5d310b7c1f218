"""``genai-tap traces``: the collector's traces list, in the terminal."""

from __future__ import annotations

from typing import Any, List

from .common import add_db, add_filters

HELP = "list recorded GenAI calls (newest first) from the collector's database"
MAX_LIMIT = 10_000


def add_arguments(parser: Any) -> None:
    add_db(parser)
    add_filters(parser)
    parser.add_argument("--limit", type=int, default=20, help=f"how many calls to show (default: 20, at most {MAX_LIMIT:,})")
    parser.add_argument("--page", type=int, default=1, help="page of --limit calls to show (default: 1)")
    parser.add_argument("--prices", metavar="FILE", help="price table overriding the shipped one")


def main(args: Any) -> int:
    import time

    from ..configfile import MAX_PAGE, ConfigError, checked_filters
    from ..text import json_text
    from .common import cost_text, fail, ms_text, open_views, print_table

    if not 1 <= args.limit <= MAX_LIMIT:
        return fail("traces", f"--limit {args.limit} is not valid; use a whole number from 1 to {MAX_LIMIT:,}")
    if not 1 <= args.page <= MAX_PAGE:
        return fail("traces", f"--page {args.page} is not valid; use a whole number from 1 to {MAX_PAGE:,}")
    try:
        views = open_views(args, "traces")
        if views is None:
            return 2
        result = views.calls(checked_filters(vars(args)), args.page, args.limit)
    except ConfigError as exc:
        return fail("traces", str(exc))
    if args.json:
        print(json_text(result))
        return 0
    rows: List[List[Any]] = []
    for c in result["items"]:
        failed = c["status"] == "error"
        rows.append([
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c["start_ns"] / 1e9)), c["app"], c.get("api") or "-",
            c["model"], c["status"], ms_text(c["duration_ms"]),
            "-" if failed else f'{c["input_tokens"] or 0}/{c["output_tokens"] or 0}', cost_text(c["cost_usd"], failed=failed),
            c["trace_id"], (c["prompt"] or "")[:60], (c["error_type"] or "") if failed else "",
        ])
    if not rows:
        print("no calls match")
        return 0
    print_table(["time", "app", "api", "model", "status", "latency", "tokens in/out", "cost", "trace", "prompt", "error"],
                rows, right=(5, 6, 7))
    if result["has_next"]:
        print(f"(more: --page {args.page + 1})")
    return 0
