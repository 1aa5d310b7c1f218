"""``genai-tap stats``: calls, errors, latency, tokens and cost per app and per model."""

from __future__ import annotations

from typing import Any, Dict, List

from .common import add_db, add_filters

HELP = "show calls, errors, latency, tokens and estimated cost per app and per model"


def add_arguments(parser: Any) -> None:
    add_db(parser)
    add_filters(parser)
    parser.add_argument("--prices", metavar="FILE", help="price table overriding the shipped one")


def main(args: Any) -> int:
    from ..configfile import ConfigError, checked_filters
    from ..text import json_text
    from .common import cost_text, fail, ms_text, open_views, print_table

    try:
        views = open_views(args, "stats")
        if views is None:
            return 2
        stats = views.stats(checked_filters(vars(args)))
    except ConfigError as exc:
        return fail("stats", str(exc))
    if args.json:
        print(json_text(stats))
        return 0
    headers = ["calls", "errors", "error rate", "p50", "p95", "tokens in", "tokens out", "cost"]

    def cols(r: Dict[str, Any]) -> List[Any]:
        return [r["calls"], r["errors"], f'{r["error_rate"] * 100:.1f}%', ms_text(r["latency_ms"]["p50"]),
                ms_text(r["latency_ms"]["p95"]), r["input_tokens"], r["output_tokens"],
                cost_text(r["cost_usd"], r["cost_complete"])]

    for title, key in (("app", "apps"), ("model", "models")):
        print(f"By {title}:")
        print_table([title, *headers], [[r[title], *cols(r)] for r in stats[key]], right=range(1, 9))
        print()
    print_table(["total", *headers], [["all", *cols(stats["total"])]], right=range(1, 9))
    return 0
