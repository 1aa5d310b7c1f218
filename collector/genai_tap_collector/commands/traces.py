"""``genai-tap traces``: the collector's traces list, in the terminal."""

from __future__ import annotations

from .common import add_db, add_filters

HELP = "list recorded GenAI calls (newest first) from the collector's database"


def add_arguments(parser) -> None:
    add_db(parser)
    add_filters(parser)
    parser.add_argument("--limit", type=int, default=20, help="how many calls to show (default: 20)")
    parser.add_argument("--page", type=int, default=1, help="page of --limit calls to show (default: 1)")
    parser.add_argument("--prices", metavar="FILE", help="price table overriding the shipped one")


def main(args) -> int:
    import json
    import time

    from ..configfile import ConfigError
    from ..views import filters_from
    from .common import cost_text, fail, ms_text, open_views, print_table

    if args.limit < 1 or args.page < 1:
        return fail("traces", "--limit and --page must be whole numbers >= 1")
    try:
        views = open_views(args, "traces")
        if views is None:
            return 2
        result = views.calls(filters_from(vars(args)), args.page, args.limit)
    except ConfigError as exc:
        return fail("traces", str(exc))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    rows = [
        [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c["start_ns"] / 1e9)), c["app"], c["model"], c["status"],
         ms_text(c["duration_ms"]), f'{c["input_tokens"] or 0}/{c["output_tokens"] or 0}', cost_text(c["cost_usd"]),
         c["trace_id"], (c["prompt"] or c["error_type"] or "")[:60]]
        for c in result["items"]
    ]
    if not rows:
        print("no calls match")
        return 0
    print_table(["time", "app", "model", "status", "latency", "tokens in/out", "cost", "trace", "prompt"], rows,
                right=(4, 5, 6))
    if result["has_next"]:
        print(f"(more: --page {args.page + 1})")
    return 0
