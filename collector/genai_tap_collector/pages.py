"""The HTML pages, rendered on the server from the data in :mod:`views`.

Plain functions that return strings; every value from the data goes through
:func:`e` (``html.escape``). There is no JavaScript: filters are GET forms,
charts are SVG from :mod:`charts`. Hand-written rather than a template engine
to keep the collector free of extra dependencies.
"""

from __future__ import annotations

import json
import time
from html import escape
from importlib import resources
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence
from urllib.parse import quote, urlencode

from .charts import chart
from .genai import json_value
from .views import RANGES

NAV = (("apps", "/", "Applications"), ("traces", "/traces", "Traces"), ("errors", "/errors", "Errors"),
       ("alerts", "/alerts", "Alerts"))
COLOURS = {"calls": "#4f46e5", "p50": "#0ea5e9", "p95": "#4f46e5", "p99": "#a855f7", "input": "#0ea5e9",
           "output": "#f59e0b", "errors": "#d92d20", "cost": "#0f9960"}
_CSS = resources.files(__package__).joinpath("style.css").read_text(encoding="utf-8")


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


def fmt_cost(usd: Optional[float], complete: bool = True) -> str:
    """HTML: ``$0.0123``, ``unknown``, or ``$0.0123 + unknown`` when some models have no price."""
    if usd is None:
        return '<span class="unknown">unknown</span>'
    text = f"${usd:,.2f}" if usd >= 1 else (f"${usd:.4f}" if usd >= 0.0001 else f"${usd:.6f}")
    return text if complete else f'{text} <span class="unknown">+ unknown</span>'


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


def layout(title: str, active: str, body: str) -> str:
    nav = "".join(f'<a href="{href}" class="{"on" if key == active else ""}">{label}</a>' for key, href, label in NAV)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · genai-tap</title><style>{_CSS}</style></head><body>"
        f'<header class="top"><a class="brand" href="/">genai<span>-tap</span> collector</a><nav>{nav}</nav></header>'
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
        menus = [("app", "App", options.get("apps", [])), ("model", "Model", options.get("models", []))]
        if status:
            menus.append(("status", "Status", ["ok", "error"]))
        for name, label, values in menus:
            opts = "".join(
                f'<option value="{e(v)}"{" selected" if params.get(name) == v else ""}>{e(v)}</option>' for v in values
            )
            fields.append(f'<label>{label}<select name="{name}"><option value="">all</option>{opts}</select></label>')
    since = params.get("since") or "all"
    ropts = "".join(f'<option value="{r}"{" selected" if since == r else ""}>{"all time" if r == "all" else "last " + r}</option>'
                    for r in RANGES)
    fields.append(f'<label>Time range<select name="since">{ropts}</select></label>')
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
              lambda v: f"${v:.4g}", step_s=step),
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


def calls_table(items: List[Dict[str, Any]]) -> str:
    rows = [
        [trace_link(c["trace_id"], c["span_id"], fmt_time(c["start_ns"])), app_link(c["app"]), e(c["operation"]),
         f'<span class="mono">{e(c["model"])}</span>', status_badge(c["status"]), fmt_ms(c["duration_ms"]),
         f'{fmt_int(c["input_tokens"])} / {fmt_int(c["output_tokens"])}', fmt_cost(c["cost_usd"]),
         f'<span title="{e(c["prompt"])}">{e(c["prompt"] or "")}</span>' if c["status"] == "ok" or not c["error_type"]
         else f'<span class="muted">{e(c["error_type"])}</span>']
        for c in items
    ]
    return table(["Time", "App", "Operation", "Model", "Status", "Latency", "Tokens in / out", "Cost", "Prompt"], rows,
                 numeric=(5, 6, 7), cls="data calls", column_classes={8: "prompt"})


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
            + ("<h2>Most recent</h2>" + calls_table(errors["recent"]) if errors["recent"] else ""))
    return layout("Errors", "errors", body)


def alerts_page(rules: List[Dict[str, Any]], events: List[Dict[str, Any]]) -> str:
    rrows = [
        [e(r["name"]), f'<span class="mono">{e(r["metric"])} {e(r["op"])} {e(r["threshold"])}</span>', e(r["window"]),
         e(", ".join(f"{k}={v}" for k, v in (("app", r["app"]), ("model", r["model"])) if v) or "all calls")
         + (f' <span class="muted">per {e(" and ".join(r["group_by"]))}</span>' if r["group_by"] else ""),
         e(", ".join(r["actions"])),
         status_badge("firing") + " " + e("; ".join(", ".join(f"{k}={v}" for k, v in s.items()) or "all" for s in r["firing"]))
         if r["firing"] else status_badge("ok")]
        for r in rules
    ]
    erows = [[e(fmt_time(ev["time_ns"])), e(ev["rule"]), status_badge(ev["state"]), e(ev["subject"]), e(ev["message"])]
             for ev in events]
    body = ('<h1>Alerts</h1><div class="sub">Rules from the <span class="mono">--rules</span> file, checked on a schedule; '
            "each notifies once when it fires and once when it recovers.</div>"
            + (table(["Rule", "Condition", "Window", "Scope", "Actions", "State"], rrows) if rrows
               else empty('No rules loaded. Start the collector with <span class="mono">--rules alert-rules.toml</span>.'))
            + "<h2>Notifications</h2>"
            + (table(["Time", "Rule", "State", "Subject", "Message"], erows) if erows else empty("None yet.")))
    return layout("Alerts", "alerts", body)


# ---------------------------------------------------------------------------- trace detail


def trace_page(t: Dict[str, Any]) -> str:
    total = max(t["duration_ms"], 0.001)
    rows = []
    for s in t["spans"]:
        left, width = 100 * s["offset_ms"] / total, max(100 * s["duration_ms"] / total, 0.4)
        cls = "error" if s["status"] == "error" else ("genai" if s["genai"] else "")
        name = e(s["name"])
        if s["genai"]:
            name = f'<a href="#span-{e(s["span_id"])}">{name}</a>'
        rows.append([
            f'<span style="padding-left:{s["depth"] * 18}px">{name}</span>', e(s["app"]),
            status_badge(s["status"]), fmt_ms(s["duration_ms"]),
            f'<div class="bar"><i class="{cls}" style="left:{left:.2f}%;width:{min(width, 100 - left):.2f}%"></i></div>',
        ])
    tree = table(["Span", "App", "Status", "Duration", "Timeline"], rows, numeric=(3,), cls="data tree")
    calls = "".join(_call_card(s) for s in t["spans"] if s["genai"])
    body = (
        f'<h1>Trace <span class="mono">{e(t["trace_id"])}</span></h1>'
        f'<div class="sub">{e(fmt_time(t["start_ns"]))} · {fmt_ms(t["duration_ms"])} · {len(t["spans"])} spans · '
        f'{", ".join(app_link(a) for a in t["apps"])} · cost {fmt_cost(t["cost_usd"])}</div>'
        + tree + calls
    )
    return layout(f"Trace {t['trace_id'][:12]}", "traces", body)


def _call_card(s: Dict[str, Any]) -> str:
    facts = [
        ("Model", f'<span class="mono">{e(s["model"])}</span>'),
        ("Base model", f'<span class="mono">{e(s["base_model"])}</span>'),
        ("Response model", f'<span class="mono">{e(s.get("response_model") or "–")}</span>'),
        ("Operation", e(s["operation"])),
        ("Latency", fmt_ms(s["duration_ms"])),
        ("Input tokens", fmt_int(s["input_tokens"])),
        ("Output tokens", fmt_int(s["output_tokens"])),
        ("Cache read / write", f'{fmt_int(s["cache_read_tokens"])} / {fmt_int(s["cache_write_tokens"])}'),
        ("Cost", fmt_cost(s["cost_usd"])),
        ("Finish reasons", e(", ".join(s.get("finish_reasons") or []) or "–")),
    ]
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
    tail = f'<div class="muted" style="margin-top:4px">finish: {e(finish)}</div>' if finish else ""
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
