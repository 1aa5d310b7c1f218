"""A real headless browser (Debian's chromium driven by Playwright) loads the pages
with data, finds what a person would look for, and saves screenshots
(to $GENAI_TAP_SCREENSHOTS, default .tmp/screenshots)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from genai_tap import semconv as sc

from conftest import get

CHROMIUM = "/usr/bin/chromium"
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
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run scripts/ci-setup.sh (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


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
    page = browser.new_page(viewport={"width": 1360, "height": 900})
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
    tree = page.locator("table.tree").inner_text()
    assert "POST /checkout" in tree and "chat us.amazon.nova-pro-v1:0" in tree and "POST bedrock-runtime" in tree
    chat = page.locator(".chat").inner_text()
    assert "What's the weather in Paris?" in chat and "get_weather" in chat and "rainy, 14°C" in chat
    assert "Take an umbrella." in chat
    facts = page.locator(".facts").inner_text()
    assert "amazon.nova-pro-v1:0" in facts and "1,200" in facts and "$" in facts
    page.screenshot(path=str(SHOTS / "trace.png"), full_page=True)

    page.goto(ui + "/errors")
    assert "ThrottlingException" in page.locator("table.data").first.inner_text()
    page.screenshot(path=str(SHOTS / "errors.png"), full_page=True)
    page.goto(ui + "/alerts")
    assert "No rules loaded" in page.content()
    page.close()
