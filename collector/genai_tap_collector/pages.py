"""The HTML pages, rendered on the server from the data in :mod:`views`.

Plain functions that return strings; every value from the data goes through
:func:`e` (``html.escape``). There is no JavaScript and no ``style`` attribute,
so the Content-Security-Policy (see :mod:`.exposure`) allows no script and only
the one stylesheet, by its hash (:data:`STYLE_HASH`): filters are GET forms,
charts and timeline bars are SVG, the trace tree folds with ``<details>``.
Hand-written rather than a template engine to keep the collector free of extra
dependencies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from html import escape
from importlib import resources
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote, urlencode

from genai_tap.semconv import BEDROCK_API

from .charts import chart
from .genai import json_value
from .views import RANGES

NAV = (("apps", "/", "Applications"), ("traces", "/traces", "Traces"), ("errors", "/errors", "Errors"),
       ("alerts", "/alerts", "Alerts"))
COLOURS = {"calls": "#4f46e5", "p50": "#0ea5e9", "p95": "#4f46e5", "p99": "#a855f7", "input": "#0ea5e9",
           "output": "#f59e0b", "errors": "#d92d20", "cost": "#0f9960"}
_CSS = resources.files(__package__).joinpath("style.css").read_text(encoding="utf-8")
#: base64 SHA-256 of the one inline stylesheet, for the Content-Security-Policy.
STYLE_HASH = base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode()
#: Operations that are model calls: their tokens and cost are what a trace or agent adds up.
MODEL_OPERATIONS = ("chat", "text_completion", "generate_content", "embeddings")


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


# ---------------------------------------------------------------------------- formats


def fmt_int(n: Optional[float]) -> str:
    return "–" if n is None else f"{int(n):,}"


def fmt_ms(ms: Optional[float]) -> str:
    if ms is None:
        return "–"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def cost_text(usd: float) -> str:
    """Every cost on every page: US dollars with six decimals (a call can cost $0.000004);
    a cost above zero but under half a millionth shows as ``<$0.000001``, not as zero."""
    return "<$0.000001" if 0 < usd < 0.0000005 else f"${usd:,.6f}"


def fmt_cost(usd: Optional[float], complete: bool = True, failed: bool = False) -> str:
    """HTML: ``$0.012300``; ``–`` for a failed call or a model without a price; ``$0.012300 + unknown``
    for a total where some models have no price."""
    if failed:
        return '<span class="muted" title="the call failed">–</span>'
    if usd is None:
        return '<span class="unknown" title="unknown: no price for this model">–</span>'
    return e(cost_text(usd)) if complete else f'{e(cost_text(usd))} <span class="unknown">+ unknown</span>'


def fmt_rate(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def fmt_time(ns: Optional[int]) -> str:
    if not ns:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9))


def fmt_ago(ns: Optional[int]) -> str:
    if not ns:
        return "–"
    s = max(time.time() - ns / 1e9, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{int(s // size)}{unit} ago"
    return f"{int(s)}s ago"


def status_badge(status: str) -> str:
    return f'<span class="badge {e(status)}">{e(status)}</span>'


# ---------------------------------------------------------------------------- layout


def layout(title: str, active: str, body: str, nav: bool = True) -> str:
    links = "".join(f'<a href="{href}" class="{"on" if key == active else ""}">{label}</a>'
                    for key, href, label in NAV) if nav else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · genai-tap</title><style>{_CSS}</style></head><body>"
        f'<header class="top"><a class="brand" href="/">genai<span>-tap</span> collector</a><nav>{links}</nav></header>'
        f"<main>{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (), cls: str = "data",
          column_classes: Optional[Mapping[int, str]] = None) -> str:
    """Cells are HTML already (escape values with :func:`e`)."""
    classes = {i: "num" for i in numeric}
    classes.update(column_classes or {})
    head = "".join(f'<th class="{classes.get(i, "")}">{h}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{classes.get(i, "")}">{c}</td>' for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def cards(items: Sequence[tuple]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{e(label)}</div><div class="value">{value}</div></div>'
        for label, value in items
    ) + "</div>"


def empty(text: str) -> str:
    return f'<div class="empty">{text}</div>'


def range_form(action: str, params: Mapping[str, Any], options: Optional[Mapping[str, List[str]]] = None,
               status: bool = True) -> str:
    """The filter bar: app, model and status menus (when ``options`` is given) and the time range."""
    fields = []
    if options is not None:
        menus = [("app", "App", options.get("apps", [])), ("api", "API", options.get("apis", [])),
                 ("model", "Model", options.get("models", []))]
        if status:
            menus.append(("status", "Status", ["ok", "error"]))
        for name, label, values in menus:
            chosen = params.get(name)
            values = list(values) + ([chosen] if chosen and chosen not in values else [])
            opts = "".join(
                f'<option value="{e(v)}"{" selected" if chosen == v else ""}>{e(v)}</option>' for v in values
            )
            fields.append(f'<label>{label}<select name="{name}"><option value="">all</option>{opts}</select></label>')
    since = params.get("since") or "all"
    ranges = list(RANGES) + ([since] if since not in RANGES else [])
    ropts = "".join(f'<option value="{e(r)}"{" selected" if since == r else ""}>'
                    f'{"all time" if r == "all" else ("last " + e(r) if r in RANGES else "since " + e(r))}</option>'
                    for r in ranges)
    fields.append(f'<label>Time range<select name="since">{ropts}</select></label>')
    if params.get("until"):
        fields.append(f'<input type="hidden" name="until" value="{e(params["until"])}">')
    return f'<form class="filters" method="get" action="{e(action)}">{"".join(fields)}<button>Apply</button></form>'


def _totals_cards(t: Mapping[str, Any]) -> str:
    lat = t.get("latency_ms") or {}
    return cards([
        ("Calls", fmt_int(t["calls"])),
        ("Error rate", fmt_rate(t["error_rate"])),
        ("p50 latency", fmt_ms(lat.get("p50"))),
        ("p95 latency", fmt_ms(lat.get("p95"))),
        ("Tokens in / out", f'{fmt_int(t["input_tokens"])} / {fmt_int(t["output_tokens"])}'),
        ("Estimated cost", fmt_cost(t["cost_usd"], t["cost_complete"])),
    ])


def app_link(app: str) -> str:
    return f'<a href="/apps/{quote(app, safe="")}">{e(app)}</a>'


def trace_link(trace_id: str, span_id: Optional[str] = None, text: Optional[str] = None) -> str:
    frag = f"#span-{e(span_id)}" if span_id else ""
    return f'<a class="mono" href="/traces/{e(trace_id)}{frag}">{e(text or trace_id[:12])}</a>'


# ---------------------------------------------------------------------------- pages


def apps_page(apps: List[Dict[str, Any]], total: Dict[str, Any], params: Mapping[str, Any]) -> str:
    rows = [
        [app_link(a["app"]), fmt_int(a["calls"]), fmt_rate(a["error_rate"]),
         fmt_ms(a["latency_ms"]["p50"]), fmt_ms(a["latency_ms"]["p95"]), fmt_int(a["input_tokens"]),
         fmt_int(a["output_tokens"]), fmt_cost(a["cost_usd"], a["cost_complete"]),
         f'<span title="{e(fmt_time(a["last_seen_ns"]))}">{e(fmt_ago(a["last_seen_ns"]))}</span>']
        for a in apps
    ]
    body = (
        '<h1>Applications</h1><div class="sub">Every app (OpenTelemetry <span class="mono">service.name</span>) '
        "that made GenAI calls, with its traffic, latency, tokens and estimated cost.</div>"
        + range_form("/", params) + _totals_cards(total)
        + (table(["Application", "Calls", "Error rate", "p50", "p95", "Input tokens", "Output tokens", "Cost", "Last seen"],
                 rows, numeric=range(1, 8)) if rows else empty(
            "No GenAI calls yet. Point an app at this collector: "
            '<span class="mono">OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 genai-tap run python app.py</span>'))
    )
    return layout("Applications", "apps", body)


def summary_page(s: Dict[str, Any], params: Mapping[str, Any]) -> str:
    pts = s["series"]
    step = s["step_seconds"]

    def series(fn: Any) -> List[tuple]:
        return [(p["t_ns"], fn(p)) for p in pts]

    charts_html = "".join([
        chart("Calls per minute", series(lambda p: {"cpm": p["calls_per_min"]}), [("cpm", "calls/min", COLOURS["calls"])],
              lambda v: f"{v:.3g}", step_s=step),
        chart("Latency", series(lambda p: {k: p["latency_ms"][k] for k in ("p50", "p95", "p99")}),
              [("p50", "p50", COLOURS["p50"]), ("p95", "p95", COLOURS["p95"]), ("p99", "p99", COLOURS["p99"])],
              fmt_ms, step_s=step),
        chart("Tokens", series(lambda p: {"in": p["input_tokens"], "out": p["output_tokens"]}),
              [("in", "input", COLOURS["input"]), ("out", "output", COLOURS["output"])], lambda v: f"{v:,.0f}",
              kind="bar", step_s=step),
        chart("Errors", series(lambda p: {"err": p["errors"]}), [("err", "errors", COLOURS["errors"])],
              lambda v: f"{v:,.0f}", kind="bar", step_s=step, integer=True),
        chart("Estimated cost", series(lambda p: {"usd": p["cost_usd"]}), [("usd", "USD", COLOURS["cost"])],
              cost_text, step_s=step),
    ])
    models = [
        [f'<span class="mono">{e(m["model"])}</span>' + (f'<div class="muted">{e(m["model_name"])}</div>' if m["model_name"] else ""),
         fmt_int(m["calls"]), fmt_rate(m["error_rate"]), fmt_ms(m["latency_ms"]["p50"]), fmt_ms(m["latency_ms"]["p95"]),
         fmt_int(m["input_tokens"]), fmt_int(m["output_tokens"]), fmt_cost(m["cost_usd"], m["cost_complete"])]
        for m in s["models"]
    ]
    app = s["app"]
    q = urlencode({"app": app})
    body = (
        f'<h1>{e(app)}</h1><div class="sub">Application summary · one point every {e(_step_text(step))} · '
        f'<a href="/traces?{q}">traces</a> · <a href="/errors?{q}">errors</a></div>'
        + range_form(f"/apps/{quote(app, safe='')}", params) + _totals_cards(s["total"])
        + f'<div class="charts">{charts_html}</div><h2>By model</h2>'
        + table(["Model", "Calls", "Error rate", "p50", "p95", "Input tokens", "Output tokens", "Cost"], models,
                numeric=range(1, 8))
    )
    return layout(app, "apps", body)


def _step_text(step: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if step >= size and step % size == 0:
            n = step // size
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return f"{step} seconds" if step > 1 else "second"


def _error_cells(c: Mapping[str, Any]) -> Tuple[str, str]:
    if c["status"] != "error":
        return "", ""
    message = c.get("error_message") or ""
    return (f'<span class="mono err">{e(c.get("error_type") or "error")}</span>',
            f'<span title="{e(message)}">{e(message)}</span>')


def calls_table(items: List[Dict[str, Any]], errors: bool = False) -> str:
    """The list of calls; ``errors`` shows error type and message instead of prompt, tokens and cost."""
    rows = []
    for c in items:
        failed = c["status"] == "error"
        first = [trace_link(c["trace_id"], c["span_id"], fmt_time(c["start_ns"])), app_link(c["app"]),
                 e(c.get("api") or "–"), e(c["operation"]), f'<span class="mono">{e(c["model"])}</span>']
        error_type, error_message = _error_cells(c)
        if errors:
            rows.append(first + [fmt_ms(c["duration_ms"]), error_type, error_message])
            continue
        rows.append(first + [
            status_badge(c["status"]), fmt_ms(c["duration_ms"]),
            f'{fmt_int(c["input_tokens"])} / {fmt_int(c["output_tokens"])}', fmt_cost(c["cost_usd"], failed=failed),
            f'<span title="{e(c["prompt"])}">{e(c["prompt"] or "")}</span>', error_type,
        ])
    if errors:
        return table(["Time", "App", "API", "Operation", "Model", "Latency", "Error type", "Message"], rows,
                     numeric=(5,), cls="data calls", column_classes={7: "message"})
    return table(["Time", "App", "API", "Operation", "Model", "Status", "Latency", "Tokens in / out", "Cost", "Prompt",
                  "Error"], rows, numeric=(6, 7, 8), cls="data calls", column_classes={9: "prompt"})


def traces_page(result: Dict[str, Any], params: Mapping[str, Any], options: Mapping[str, List[str]]) -> str:
    def page_link(page: int, text: str) -> str:
        return f'<a href="/traces?{e(urlencode({**{k: v for k, v in params.items() if v}, "page": page}))}">{text}</a>'

    page = result["page"]
    pager = (f'<div class="pager"><span>{page_link(page - 1, "← newer") if page > 1 else ""}</span>'
             f'<span class="muted">page {page}</span>'
             f'<span>{page_link(page + 1, "older →") if result["has_next"] else ""}</span></div>')
    listing = calls_table(result["items"]) if result["items"] else empty("No calls match these filters.")
    body = ('<h1>Traces</h1><div class="sub">Every GenAI call, newest first. Open one to see its trace, prompt and completion.</div>'
            + range_form("/traces", params, options) + listing + pager)
    return layout("Traces", "traces", body)


def errors_page(errors: Dict[str, Any], params: Mapping[str, Any], options: Mapping[str, List[str]]) -> str:
    groups = [
        [app_link(g["app"]), f'<span class="mono">{e(g["model"])}</span>', f'<span class="mono">{e(g["error_type"])}</span>',
         fmt_int(g["calls"]), e(fmt_ago(g["last_seen_ns"])), f'<span class="muted">{e(g["message"])}</span>']
        for g in errors["groups"]
    ]
    body = ('<h1>Errors</h1><div class="sub">Failed GenAI calls, grouped by app, model and error type.</div>'
            + range_form("/errors", params, options, status=False)
            + (table(["App", "Model", "Error type", "Calls", "Last seen", "Message"], groups, numeric=(3,))
               if groups else empty("No errors."))
            + ("<h2>Most recent</h2>" + calls_table(errors["recent"], errors=True) if errors["recent"] else ""))
    return layout("Errors", "errors", body)


def alerts_page(rules: List[Dict[str, Any]], events: List[Dict[str, Any]],
                destinations: Sequence[Mapping[str, Any]] = ()) -> str:
    rrows = [
        [e(r["name"]), f'<span class="mono">{e(r["metric"])} {e(r["op"])} {e(r["threshold"])}</span>', e(r["window"]),
         e(", ".join(f"{k}={v}" for k, v in (("app", r["app"]), ("model", r["model"])) if v) or "all calls")
         + (f' <span class="muted">per {e(" and ".join(r["group_by"]))}</span>' if r["group_by"] else ""),
         e(", ".join(r["actions"])),
         status_badge("firing") + " " + e("; ".join(", ".join(f"{k}={v}" for k, v in s.items()) or "all" for s in r["firing"]))
         if r["firing"] else status_badge("ok"),
         fmt_int(r.get("waiting") or 0) + f' <span class="muted">(at most {e(r.get("max_notifications_per_hour"))}/h)</span>']
        for r in rules
    ]
    drows = [[e(d["destination"]), fmt_int(d["sent"]), fmt_int(d["failed_attempts"]), fmt_int(d["given_up"]),
              fmt_int(d["waiting"]), e(d["last_error"] or "–")] for d in destinations]
    erows = [[e(fmt_time(ev["time_ns"])), e(ev["rule"]), status_badge(ev["state"]), e(ev["subject"]), e(ev["message"])]
             for ev in events]
    body = ('<h1>Alerts</h1><div class="sub">Rules from the <span class="mono">--rules</span> file, checked on a schedule; '
            "each notifies once when it fires and once when it recovers.</div>"
            + (table(["Rule", "Condition", "Window", "Scope", "Actions", "State", "Waiting to be sent"], rrows) if rrows
               else empty('No rules loaded. Start the collector with <span class="mono">--rules alert-rules.toml</span> '
                          '(<span class="mono">genai-tap collector --example-rules</span> prints an example).'))
            + ("<h2>Destinations</h2>" + table(["Destination", "Sent", "Failed attempts", "Given up", "Waiting",
                                                "Last error"], drows, numeric=range(1, 5)) if drows else "")
            + "<h2>Notifications</h2>"
            + (table(["Time", "Rule", "State", "Subject", "Message"], erows) if erows else empty("None yet.")))
    return layout("Alerts", "alerts", body)


# ---------------------------------------------------------------------------- trace detail


def api_of(s: Mapping[str, Any]) -> Optional[str]:
    """The provider API of a call (InvokeModel, Converse, ...): from the view data, else its attributes."""
    api = s.get("api") or (s.get("attributes") or {}).get(BEDROCK_API)
    return None if api is None else str(api)


def _model_call(s: Mapping[str, Any]) -> bool:
    return bool(s.get("genai")) and s.get("operation") in MODEL_OPERATIONS


def subtree_sums(spans: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """For each span (in the trace view's order: parents first, ``depth`` set), the model calls in
    its subtree (itself included): how many, their tokens and cost. Uses ``subtree`` from the view
    data when it is there."""
    sums: List[Dict[str, Any]] = [{"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": None,
                                   "unpriced": 0} for _ in spans]
    parents: List[Optional[int]] = []
    stack: List[int] = []  # the path from a root to the current span
    for i, s in enumerate(spans):
        while stack and spans[stack[-1]]["depth"] >= s["depth"]:
            stack.pop()
        parents.append(stack[-1] if stack else None)
        stack.append(i)
    for i in range(len(spans) - 1, -1, -1):  # children come after their parent: add each into its parent
        s, mine = spans[i], sums[i]
        if _model_call(s):
            mine["calls"] += 1
        if _model_call(s) and s["status"] != "error":
            mine["input_tokens"] += s.get("input_tokens") or 0
            mine["output_tokens"] += s.get("output_tokens") or 0
            if s.get("cost_usd") is None:
                mine["unpriced"] += 1
            else:
                mine["cost_usd"] = (mine["cost_usd"] or 0.0) + s["cost_usd"]
        j = parents[i]
        if j is not None:
            parent = sums[j]
            for key in ("calls", "input_tokens", "output_tokens", "unpriced"):
                parent[key] += mine[key]
            if mine["cost_usd"] is not None:
                parent["cost_usd"] = (parent["cost_usd"] or 0.0) + mine["cost_usd"]
    for s, mine in zip(spans, sums):
        given = s.get("subtree")  # the view's own sums: model_calls, tokens, cost_usd, cost_complete
        if isinstance(given, dict):
            mine["calls"] = given.get("model_calls", given.get("calls", mine["calls"]))
            for key in ("input_tokens", "output_tokens", "cost_usd"):
                mine[key] = given.get(key, mine[key])
            if "cost_complete" in given:
                mine["unpriced"] = 0 if given["cost_complete"] else max(mine["unpriced"], 1)
    return sums


def _tree_row(s: Mapping[str, Any], sums: Mapping[str, Any], total_ms: float, start_ms: float) -> str:
    left = min(max(100 * (s["offset_ms"] - start_ms) / total_ms, 0.0), 99.6)
    width = min(max(100 * s["duration_ms"] / total_ms, 0.4), 100 - left)
    cls = "error" if s["status"] == "error" else ("genai" if s["genai"] else "other")
    name = e(s["name"])
    if s["genai"]:
        name = f'<a href="#span-{e(s["span_id"])}">{name}</a>'
    own = _model_call(s)
    if sums["calls"] and not (own and sums["calls"] == 1):
        title = f'sum over the {sums["calls"]} model call{"s" if sums["calls"] > 1 else ""} in this step'
        tokens = (f'<span title="{e(title)}">Σ {fmt_int(sums["input_tokens"])} / {fmt_int(sums["output_tokens"])}'
                  "</span>")
        cost = f'<span title="{e(title)}">Σ {fmt_cost(sums["cost_usd"], not sums["unpriced"])}</span>'
    elif own:
        tokens = f'{fmt_int(s.get("input_tokens"))} / {fmt_int(s.get("output_tokens"))}'
        cost = fmt_cost(s.get("cost_usd"), failed=s["status"] == "error")
    else:
        tokens = cost = '<span class="muted">–</span>'
    bar = (f'<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">'
           f'<rect class="track" x="0" y="0" width="100" height="10"/>'
           f'<rect class="{cls}" x="{left:.2f}" y="0" width="{width:.2f}" height="10"/></svg>')
    return (f'<span class="c-name">{name}</span><span class="c-app">{e(s["app"])}</span>'
            f'<span class="c-status">{status_badge(s["status"])}</span><span class="c-num">{fmt_ms(s["duration_ms"])}</span>'
            f'<span class="c-num c-tokens">{tokens}</span><span class="c-num c-cost">{cost}</span>'
            f'<span class="c-bar">{bar}</span>')


def span_tree(spans: Sequence[Dict[str, Any]]) -> str:
    """The spans as a tree that folds: a span with children is a ``<details>`` (open), the rest rows."""
    if not spans:
        return ""
    sums = subtree_sums(spans)
    start = min(s["offset_ms"] for s in spans)
    total = max(max(s["offset_ms"] + s["duration_ms"] for s in spans) - start, 0.001)
    out: List[str] = []
    open_levels: List[int] = []
    for i, s in enumerate(spans):
        while open_levels and open_levels[-1] >= s["depth"]:
            out.append("</div></details>")
            open_levels.pop()
        row = _tree_row(s, sums[i], total, start)
        has_children = i + 1 < len(spans) and spans[i + 1]["depth"] > s["depth"]
        if has_children:
            out.append(f'<details class="node" open id="tree-{e(s["span_id"])}"><summary class="row">{row}</summary>'
                       '<div class="kids">')
            open_levels.append(s["depth"])
        else:
            out.append(f'<div class="row leaf">{row}</div>')
    out.extend("</div></details>" for _ in open_levels)
    head = ('<div class="row head"><span class="c-name">Span</span><span class="c-app">App</span>'
            '<span class="c-status">Status</span><span class="c-num">Duration</span>'
            '<span class="c-num c-tokens">Tokens in / out</span><span class="c-num c-cost">Cost</span>'
            '<span class="c-bar">Timeline</span></div>')
    return f'<div class="tree">{head}{"".join(out)}</div>'


def trace_page(t: Dict[str, Any]) -> str:
    spans = t["spans"]
    sums = subtree_sums(spans)
    roots = [m for s, m in zip(spans, sums) if s["depth"] == 0]
    calls_n = sum(m["calls"] for m in roots)
    tokens_in = sum(m["input_tokens"] for m in roots)
    tokens_out = sum(m["output_tokens"] for m in roots)
    priced = [m["cost_usd"] for m in roots if m["cost_usd"] is not None]
    total_cost = fmt_cost(sum(priced) if priced else None, not any(m["unpriced"] for m in roots))
    calls = "".join(_call_card(s, m) for s, m in zip(spans, sums) if s["genai"])
    body = (
        f'<h1>Trace <span class="mono">{e(t["trace_id"])}</span></h1>'
        f'<div class="sub">{e(fmt_time(t["start_ns"]))} · {fmt_ms(t["duration_ms"])} · {len(spans)} span{"" if len(spans) == 1 else "s"} · '
        f'{", ".join(app_link(a) for a in t["apps"])} · {calls_n} model call{"" if calls_n == 1 else "s"} · '
        f'tokens {fmt_int(tokens_in)} / {fmt_int(tokens_out)} · cost {total_cost}</div>'
        + span_tree(spans) + calls
    )
    return layout(f"Trace {t['trace_id'][:12]}", "traces", body)


def _call_card(s: Dict[str, Any], sums: Optional[Mapping[str, Any]] = None) -> str:
    facts: List[Tuple[str, str]] = [
        ("Model", f'<span class="mono">{e(s["model"])}</span>'),
        ("Base model", f'<span class="mono">{e(s["base_model"])}</span>'),
        ("Response model", f'<span class="mono">{e(s.get("response_model") or "–")}</span>'),
        ("Operation", e(s["operation"])),
        ("API", e(api_of(s) or "–")),
        ("Latency", fmt_ms(s["duration_ms"])),
        ("Input tokens", fmt_int(s["input_tokens"])),
        ("Output tokens", fmt_int(s["output_tokens"])),
        ("Cache read / write", f'{fmt_int(s["cache_read_tokens"])} / {fmt_int(s["cache_write_tokens"])}'),
        ("Cost", fmt_cost(s["cost_usd"], failed=s["status"] == "error")),
        ("Finish reasons", e(", ".join(s.get("finish_reasons") or []) or "–")),
    ]
    if sums and sums["calls"] and not _model_call(s):  # an agent or tool step: what its model calls add up to
        facts = [f for f in facts if f[0] not in ("Model", "Base model", "Response model", "Input tokens", "Output tokens",
                                                  "Cache read / write", "Cost", "Finish reasons")]
        facts += [("Model calls inside", fmt_int(sums["calls"])),
                  ("Σ tokens in / out", f'{fmt_int(sums["input_tokens"])} / {fmt_int(sums["output_tokens"])}'),
                  ("Σ cost", fmt_cost(sums["cost_usd"], not sums["unpriced"]))]
    facts += [(k.split(".", 2)[-1].replace("_", " ").capitalize(), f'<span class="mono">{e(_short(v))}</span>')
              for k, v in s["parameters"].items()]
    error = ""
    if s["status"] == "error":
        error = (f'<div class="errorbox"><b>{e(s["error_type"] or "error")}</b><br>'
                 f'{e(s["error_message"] or s["status_message"] or "")}</div>')
    conv = s["conversation"]
    attrs = json.dumps(s["attributes"], indent=2, ensure_ascii=False, default=str)
    return (
        f'<section class="call" id="span-{e(s["span_id"])}"><h3>{e(s["name"])} {status_badge(s["status"])}</h3>{error}'
        '<div class="facts">' + "".join(f"<div><small>{e(k)}</small>{v}</div>" for k, v in facts) + "</div>"
        + chat_html(conv)
        + (f'<details><summary>Tool definitions</summary><pre class="json">{e(_pretty(conv["tools"]))}</pre></details>'
           if conv.get("tools") else "")
        + f'<details><summary>All attributes</summary><pre class="json">{e(attrs)}</pre></details></section>'
    )


def chat_html(conv: Mapping[str, Any]) -> str:
    """System instructions, then the input messages, then the output messages, as chat bubbles."""
    msgs: List[str] = []
    system = conv.get("system")
    if system:
        msgs.append(_bubble("system", system if isinstance(system, list) else [{"type": "text", "content": system}]))
    for key in ("input", "output"):
        value = conv.get(key)
        if isinstance(value, str):
            msgs.append(_bubble("user" if key == "input" else "assistant", [{"type": "text", "content": value}]))
        for m in value if isinstance(value, list) else []:
            if isinstance(m, dict):
                role = str(m.get("role") or ("assistant" if key == "output" else "user"))
                msgs.append(_bubble(role, m.get("parts") or [], m.get("finish_reason")))
    if not msgs:
        return empty("No prompt or completion captured (content capture is off for this app).")
    return f'<div class="chat">{"".join(msgs)}</div>'


def _bubble(role: str, parts: Any, finish: Any = None) -> str:
    inner = []
    for p in parts if isinstance(parts, list) else [parts]:
        if not isinstance(p, dict):
            inner.append(f'<div class="text">{e(p)}</div>')
            continue
        kind = p.get("type")
        if kind in ("text", "reasoning"):
            label = '<div class="muted">reasoning</div>' if kind == "reasoning" else ""
            inner.append(f'{label}<div class="text">{e(p.get("content"))}</div>')
        elif kind == "tool_call":
            inner.append(f'<div>tool call <b class="mono">{e(p.get("name"))}</b> <span class="muted mono">{e(p.get("id") or "")}</span>'
                         f'<pre>{e(_pretty(p.get("arguments")))}</pre></div>')
        elif kind == "tool_call_response":
            inner.append(f'<div>↩ tool result <span class="muted mono">{e(p.get("id") or "")}</span>'
                         f'<pre>{e(_pretty(p.get("response")))}</pre></div>')
        else:
            inner.append(f'<div class="muted">[{e(kind)} {e(p.get("modality") or "")} {e(p.get("mime_type") or p.get("uri") or "")}]</div>')
    tail = f'<div class="muted finish">finish: {e(finish)}</div>' if finish else ""
    css = role if role in ("user", "assistant", "system", "tool") else "user"
    return f'<div class="msg {css}"><div class="role">{e(role)}</div>{"".join(inner)}{tail}</div>'


def _pretty(value: Any) -> str:
    value = json_value(value)
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def not_found(what: str) -> str:
    return layout("Not found", "", f"<h1>Not found</h1>{empty(e(what))}")


def error_page(status: int, message: str) -> str:
    """A page for an answer other than 200: what went wrong, in words, and a way back."""
    if status == 404:
        return not_found(message)
    title = {400: "Cannot show this page", 421: "Wrong address"}.get(status, "Something went wrong")
    return layout(title, "", f'<h1>{e(title)}</h1><div class="empty">{e(message)}<br><br>'
                             '<a href="/">Back to the applications</a></div>')


def login_page(next_path: str, message: str = "") -> str:
    """The token form: POST /login (the token, and where to go next)."""
    note = f'<div class="errorbox">{e(message)}</div>' if message else ""
    body = (
        '<h1>Log in</h1><div class="sub">This collector asks for its token (the <span class="mono">--auth-token</span> '
        'or <span class="mono">GENAI_TAP_COLLECTOR_TOKEN</span> it was started with).</div>' + note
        + '<form class="filters login" method="post" action="/login">'
        f'<input type="hidden" name="next" value="{e(next_path)}">'
        '<label>Token<input type="password" name="token" autocomplete="current-password" autofocus></label>'
        "<button>Log in</button></form>"
    )
    return layout("Log in", "", body, nav=False)
