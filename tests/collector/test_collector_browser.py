"""A real headless browser (Debian's chromium driven by Playwright) loads the pages
with data, finds what a person would look for, and saves screenshots
(to $GENAI_TAP_SCREENSHOTS, default .tmp/screenshots). The browser enforces the
pages' Content-Security-Policy: anything it blocks fails the test."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
from conftest import MS, get
from genai_tap_collector.server import Collector
from opentelemetry import trace

from genai_tap import semconv as sc

CHROMIUM = os.environ.get("GENAI_TAP_TEST_CHROMIUM") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("GENAI_TAP_SCREENSHOTS") or Path(__file__).resolve().parents[2] / ".tmp" / "screenshots")

TOOL_CHAT = {
    sc.INPUT_MESSAGES: json.dumps([
        {"role": "user", "parts": [{"type": "text", "content": "What's the weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "tooluse_1", "name": "get_weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "tooluse_1", "response": "rainy, 14°C"}]},
    ]),
    sc.OUTPUT_MESSAGES: json.dumps([{"role": "assistant", "parts": [
        {"type": "text", "content": "It is rainy in Paris, 14°C. Take an umbrella."}], "finish_reason": "stop"}]),
    sc.TOOL_DEFINITIONS: json.dumps([{"type": "function", "name": "get_weather", "description": "Weather by city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]),
}


@pytest.fixture
def browser():
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run scripts/ci-setup.sh or set GENAI_TAP_TEST_CHROMIUM"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def watched_page(browser, **kwargs):
    """A page whose console errors (a CSP violation is one) and script errors are collected in ``page.problems``."""
    page = browser.new_page(viewport={"width": 1360, "height": 900}, **kwargs)
    page.problems = []
    page.on("console", lambda m: m.type in ("error", "warning") and not m.text.startswith("Failed to load resource")
            and page.problems.append(m.text))  # (a 404 favicon, the 400 page asked for on purpose)
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    return page


@pytest.mark.slow
def test_pages_show_the_calls(collector, sender_for, browser):
    rng = random.Random(7)
    now = time.time_ns()
    shop, search = sender_for(collector, "demo-shop"), sender_for(collector, "search-api")
    for s in (shop, search):
        s.t0 = now - 30 * 60 * 1_000_000_000
    for i in range(90):
        at = i * 20_000 + rng.randint(0, 15_000)
        latency = rng.lognormvariate(6.0, 0.5)
        if i % 3:
            shop.call("us.amazon.nova-lite-v1:0", latency_ms=latency, input_tokens=rng.randint(200, 900),
                      output_tokens=rng.randint(20, 300), at_ms=at, prompt=f"Summarise order #{1000 + i} for the customer")
        else:
            search.call("anthropic.claude-3-5-haiku-20241022-v1:0", latency_ms=latency * 1.8, at_ms=at,
                        input_tokens=rng.randint(800, 2000), output_tokens=rng.randint(50, 400), cache_read=400,
                        prompt=f"Rewrite the query: cheap flights {i}")
        if i % 17 == 5:
            shop.call("us.amazon.nova-lite-v1:0", latency_ms=40, error="ThrottlingException", at_ms=at + 500)
    root = shop.root("POST /checkout", at_ms=29 * 60_000)
    shop.call("us.amazon.nova-pro-v1:0", parent=root, child=True, at_ms=29 * 60_000 + 5, latency_ms=900,
              input_tokens=1200, output_tokens=80, extra=TOOL_CHAT)
    root.end(end_time=shop.t0 + (29 * 60_000 + 950) * 1_000_000)

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = watched_page(browser)
    ui = collector.ui_url

    page.goto(ui + "/")
    assert page.locator("h1").inner_text() == "Applications"
    rows = page.locator("table.data tbody tr")
    assert rows.count() == 2
    assert "demo-shop" in rows.nth(0).inner_text() and "$" in rows.nth(0).inner_text()
    page.screenshot(path=str(SHOTS / "applications.png"), full_page=True)

    page.click("text=demo-shop")
    assert page.locator("h1").inner_text() == "demo-shop"
    assert page.locator("figure.chart").count() == 5
    for title in ("Calls per minute", "Latency", "Tokens", "Errors", "Estimated cost"):
        assert page.locator("figcaption b", has_text=title).count() == 1
    assert page.locator("figure.chart polyline").count() >= 4
    assert "amazon.nova-lite-v1:0" in page.locator("table.data").inner_text()
    page.screenshot(path=str(SHOTS / "summary.png"), full_page=True)

    page.goto(ui + "/traces")
    assert page.locator("table.data tbody tr").count() == 50
    page.select_option("select[name=status]", "error")
    page.click("form.filters button")
    assert "status=error" in page.url
    error_rows = page.locator("table.data tbody tr")
    assert error_rows.count() == len(get(ui + "/api/traces?status=error")["items"]) > 0
    assert "ThrottlingException" in error_rows.nth(0).inner_text()
    page.goto(ui + "/traces?app=demo-shop")
    page.screenshot(path=str(SHOTS / "traces.png"), full_page=True)

    page.goto(ui + "/traces?model=amazon.nova-pro-v1:0")
    page.locator("table.data tbody tr a.mono").first.click()
    assert page.locator("h1").inner_text().startswith("Trace ")
    tree = page.locator(".tree").inner_text()
    assert "POST /checkout" in tree and "chat us.amazon.nova-pro-v1:0" in tree and "POST bedrock-runtime" in tree
    chat = page.locator(".chat").inner_text()
    assert "What's the weather in Paris?" in chat and "get_weather" in chat and "rainy, 14°C" in chat
    assert "Take an umbrella." in chat
    facts = page.locator(".facts").inner_text()
    assert "amazon.nova-pro-v1:0" in facts and "1,200" in facts and "$" in facts
    page.screenshot(path=str(SHOTS / "trace.png"), full_page=True)

    page.goto(ui + "/errors")
    assert "ThrottlingException" in page.locator("table.data").first.inner_text()
    recent = page.locator("table.calls")
    assert recent.locator("th").all_inner_texts()[-2:] == ["Error type", "Message"]
    assert "ThrottlingException: too many requests" in recent.inner_text()
    page.screenshot(path=str(SHOTS / "errors.png"), full_page=True)
    page.goto(ui + "/alerts")
    assert "No rules loaded" in page.content()
    page.goto(ui + "/traces?page=0")
    assert page.locator("h1").inner_text() == "Cannot show this page"
    assert "page='0' is not valid" in page.locator(".empty").inner_text()
    assert page.problems == []  # nothing the Content-Security-Policy blocked, no script errors
    page.close()


@pytest.mark.slow
def test_an_agent_trace_is_a_tree_with_sums(collector, sender_for, browser):
    app = sender_for(collector, "travel-agent")
    app.t0 = time.time_ns() - 60_000 * MS
    root = app.root("POST /plan")
    agent = app.tracer.start_span("invoke_agent planner", context=trace.set_span_in_context(root), start_time=app.t0 + MS,
                                  attributes={sc.OPERATION_NAME: "invoke_agent", sc.BEDROCK_API: "InvokeAgent"})
    app.call("us.amazon.nova-pro-v1:0", parent=agent, at_ms=2, input_tokens=1000, output_tokens=100,
             extra={sc.BEDROCK_API: "Converse"})
    tool = app.tracer.start_span("execute_tool get_weather", context=trace.set_span_in_context(agent),
                                 start_time=app.t0 + 110 * MS, attributes={sc.OPERATION_NAME: "execute_tool"})
    sub = app.tracer.start_span("invoke_agent weather", context=trace.set_span_in_context(tool),
                                start_time=app.t0 + 111 * MS, attributes={sc.OPERATION_NAME: "invoke_agent"})
    app.call("us.amazon.nova-lite-v1:0", parent=sub, at_ms=112, input_tokens=300, output_tokens=30,
             extra={sc.BEDROCK_API: "Converse"})
    sub.end(end_time=app.t0 + 250 * MS)
    tool.end(end_time=app.t0 + 260 * MS)
    app.call("us.amazon.nova-pro-v1:0", parent=agent, at_ms=270, error="ThrottlingException")
    agent.end(end_time=app.t0 + 400 * MS)
    root.end(end_time=app.t0 + 410 * MS)

    page = watched_page(browser)
    trace_id = format(root.get_span_context().trace_id, "032x")
    page.goto(f"{collector.ui_url}/traces/{trace_id}")
    tree = page.locator(".tree")
    # nesting: root > agent > (chat, tool > sub-agent > chat, failed chat)
    assert tree.locator("details.node").count() == 4

    def node(span):
        return page.locator(f"#tree-{format(span.get_span_context().span_id, '016x')}")

    agent_row = node(agent).locator("> summary").inner_text()
    # the agent adds up its three model calls (the failed one has no tokens and no cost)
    assert "invoke_agent planner" in agent_row and "Σ 1,300 / 130" in agent_row and "Σ $0." in agent_row
    assert "Σ 300 / 30" in node(sub).locator("> summary").inner_text()
    assert "Σ 300 / 30" in node(tool).locator("> summary").inner_text()
    leaves = tree.locator(".row.leaf").all_inner_texts()
    assert [t.split("\n")[0] for t in leaves] == ["chat us.amazon.nova-pro-v1:0", "chat us.amazon.nova-lite-v1:0",
                                                   "chat us.amazon.nova-pro-v1:0"]
    failed = leaves[-1]
    assert "error" in failed and "Σ" not in failed and "$" not in failed
    assert "3 model calls" in page.locator(".sub").inner_text() and "tokens 1,300 / 130" in page.locator(".sub").inner_text()
    card = page.locator(f"#span-{format(agent.get_span_context().span_id, '016x')} .facts").inner_text()
    assert "MODEL CALLS INSIDE\n3" in card.upper() and "1,300 / 130" in card
    page.screenshot(path=str(SHOTS / "agent-trace.png"), full_page=True)

    # folding: the agent's steps hide and come back
    inner = tree.locator(".row", has_text="execute_tool get_weather").first
    assert inner.is_visible()
    node(agent).locator("> summary .c-app").click()
    assert not inner.is_visible()
    node(agent).locator("> summary .c-app").click()
    assert inner.is_visible()
    assert page.problems == []
    page.close()


@pytest.mark.slow
def test_logging_in_to_a_collector_with_a_token(tmp_path, browser):
    token = "browser-test-token-0123456789"
    with Collector(tmp_path / "login.db", otlp_port=0, ui_port=0, auth_token=token) as c:
        context = browser.new_context(viewport={"width": 1200, "height": 700})
        page = context.new_page()
        page.goto(c.ui_url + "/errors")
        assert page.locator("h1").inner_text() == "Log in"
        page.fill("input[name=token]", "not the token at all")
        page.click("form.login button")
        assert "not this collector's token" in page.locator(".errorbox").inner_text()
        page.fill("input[name=token]", token)
        page.click("form.login button")
        assert page.locator("h1").inner_text() == "Errors" and page.url.endswith("/errors")
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and token not in cookie["value"]
        page.goto(c.ui_url + "/traces")
        assert page.locator("h1").inner_text() == "Traces"
        context.close()
        # ?token= once, then the address without it
        other = browser.new_page()
        other.goto(f"{c.ui_url}/alerts?token={token}")
        assert other.locator("h1").inner_text() == "Alerts" and "token" not in other.url
        other.close()
