"""What the views show, checked through the JSON API and the CLI's --json, and the price table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import get
from genai_tap_collector.configfile import ConfigError
from genai_tap_collector.prices import PriceTable, price_key

NOVA = "us.amazon.nova-lite-v1:0"
HAIKU_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
UNKNOWN = "acme.mystery-model-v1:0"
NOVA_COST = 4 * (1000 * 0.00006 + 200 * 0.00024) / 1000
# 1000 input tokens of which 400 cache reads and 100 cache writes, 100 output tokens
HAIKU_COST = (500 * 0.0008 + 400 * 0.00008 + 100 * 0.001 + 100 * 0.004) / 1000


@pytest.fixture
def loaded(collector, sender_for):
    checkout = sender_for(collector, "checkout")
    for i, ms in enumerate((100, 200, 300, 400)):
        checkout.call(NOVA, latency_ms=ms, input_tokens=1000, output_tokens=200, at_ms=i * 1000,
                      prompt=f"question number {i}")
    checkout.call(NOVA, latency_ms=50, error="ThrottlingException", at_ms=5000)
    checkout.call(HAIKU_ARN, latency_ms=250, input_tokens=1000, output_tokens=100, cache_read=400, cache_write=100,
                  at_ms=6000)
    search = sender_for(collector, "search")
    search.call(UNKNOWN, latency_ms=1000, at_ms=7000)
    search.call(UNKNOWN, latency_ms=1000, at_ms=8000)
    return collector


@pytest.mark.slow
def test_applications(loaded):
    data = get(loaded.ui_url + "/api/apps")
    apps = {a["app"]: a for a in data["apps"]}
    c = apps["checkout"]
    assert (c["calls"], c["errors"], c["error_rate"]) == (6, 1, pytest.approx(1 / 6, abs=1e-4))
    assert (c["input_tokens"], c["output_tokens"]) == (5000, 900)
    assert c["cost_usd"] == pytest.approx(NOVA_COST + HAIKU_COST)
    assert c["cost_complete"] is True
    assert c["latency_ms"]["p50"] == pytest.approx(200, rel=0.01)
    assert c["latency_ms"]["p95"] == pytest.approx(400, rel=0.01)
    s = apps["search"]
    assert (s["calls"], s["cost_usd"], s["cost_complete"]) == (2, None, False)
    assert data["total"]["calls"] == 8 and data["total"]["cost_complete"] is False


@pytest.mark.slow
def test_application_summary(loaded):
    s = get(loaded.ui_url + "/api/apps/checkout")
    assert s["total"]["calls"] == 6
    assert sum(p["calls"] for p in s["series"]) == 6
    assert sum(p["errors"] for p in s["series"]) == 1
    assert sum(p["input_tokens"] for p in s["series"]) == 5000
    assert sum(p["cost_usd"] for p in s["series"]) == pytest.approx(NOVA_COST + HAIKU_COST)
    assert any(p["latency_ms"]["p95"] for p in s["series"])
    models = {m["model"]: m for m in s["models"]}
    assert set(models) == {"amazon.nova-lite-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0"}
    assert models["amazon.nova-lite-v1:0"]["calls"] == 5
    assert models["anthropic.claude-3-5-haiku-20241022-v1:0"]["cost_usd"] == pytest.approx(HAIKU_COST)
    assert models["anthropic.claude-3-5-haiku-20241022-v1:0"]["model_name"] == "Claude 3.5 Haiku"


@pytest.mark.slow
def test_traces_list_filters_and_paging(loaded):
    url = loaded.ui_url + "/api/traces"
    everything = get(url)["items"]
    assert len(everything) == 8
    assert [c["start_ns"] for c in everything] == sorted((c["start_ns"] for c in everything), reverse=True)
    assert {c["app"] for c in get(url + "?app=search")["items"]} == {"search"}
    assert len(get(url + "?model=amazon.nova-lite-v1:0")["items"]) == 5  # base model matches the us. profile
    assert len(get(url + f"?model={NOVA}")["items"]) == 5  # and so does the ID as sent
    errors = get(url + "?status=error")["items"]
    assert [(e["error_type"], e["status"], e["cost_usd"]) for e in errors] == [("ThrottlingException", "error", None)]
    assert len(get(url + "?status=ok&app=checkout")["items"]) == 5
    assert get(url + "?since=1s")["items"] == []  # all calls are a minute old
    page2 = get(url + "?per_page=3&page=2")
    assert len(page2["items"]) == 3 and page2["has_next"] is True
    assert get(url + "?per_page=3&page=3")["has_next"] is False
    first = [c for c in everything if c["prompt"] == "question number 0"][0]
    assert first["cost_usd"] == pytest.approx(NOVA_COST / 4)
    unknown = [c for c in everything if c["app"] == "search"][0]
    assert unknown["cost_usd"] is None


@pytest.mark.slow
def test_trace_detail_and_errors(loaded):
    call = get(loaded.ui_url + "/api/traces?app=checkout&model=anthropic.claude-3-5-haiku-20241022-v1:0")["items"][0]
    trace = get(f"{loaded.ui_url}/api/traces/{call['trace_id']}")
    span = trace["spans"][0]
    assert span["conversation"]["system"] == [{"type": "text", "content": "Be brief."}]
    assert span["conversation"]["input"][0]["parts"][0]["content"] == "What is the capital of France?"
    assert span["conversation"]["output"][0]["parts"][0]["content"] == "Paris."
    assert span["parameters"] == {"gen_ai.request.max_tokens": 200, "gen_ai.request.temperature": 0.3}
    assert (span["cache_read_tokens"], span["cache_write_tokens"]) == (400, 100)
    assert span["cost_usd"] == pytest.approx(HAIKU_COST) and trace["cost_usd"] == pytest.approx(HAIKU_COST)
    errors = get(loaded.ui_url + "/api/errors")
    assert [(g["app"], g["model"], g["error_type"], g["calls"]) for g in errors["groups"]] == [
        ("checkout", "amazon.nova-lite-v1:0", "ThrottlingException", 1)]
    assert errors["groups"][0]["message"] == "ThrottlingException: too many requests"
    assert len(errors["recent"]) == 1
    missing = "0" * 31 + "1"
    assert _status(f"{loaded.ui_url}/api/traces/{missing}") == 404
    assert _status(loaded.ui_url + "/api/traces?status=maybe") == 400
    assert _status(loaded.ui_url + "/api/traces?since=yesterday") == 400


def _status(url):
    import urllib.error
    import urllib.request

    try:
        return urllib.request.urlopen(url).status
    except urllib.error.HTTPError as exc:
        return exc.code


def _cli(*args):
    out = subprocess.run([sys.executable, "-m", "genai_tap.cli", *args], capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


@pytest.mark.slow
def test_cli_traces_and_stats_json_match_the_api(loaded):
    db = loaded.db
    code, out, err = _cli("traces", "--db", db, "--json", "--app", "checkout", "--status", "error")
    assert code == 0, err
    assert json.loads(out)["items"] == get(loaded.ui_url + "/api/traces?app=checkout&status=error")["items"]
    code, out, err = _cli("stats", "--db", db, "--json")
    assert code == 0, err
    stats = json.loads(out)
    assert stats == get(loaded.ui_url + "/api/stats")
    assert {m["model"]: m["cost_usd"] for m in stats["models"]} == {
        "amazon.nova-lite-v1:0": pytest.approx(NOVA_COST), "anthropic.claude-3-5-haiku-20241022-v1:0": pytest.approx(HAIKU_COST),
        UNKNOWN: None}
    code, out, _ = _cli("stats", "--db", db)
    assert code == 0 and "checkout" in out and "unknown" in out
    code, out, _ = _cli("traces", "--db", db, "--limit", "2")
    assert code == 0 and "capital of France" in out and "(more: --page 2)" in out
    code, _, err = _cli("traces", "--db", db + ".missing")
    assert code == 2 and "no database" in err
    code, _, err = _cli("stats", "--db", db, "--since", "soon")
    assert code == 2 and "since='soon'" in err


# ---------------------------------------------------------------------------- prices


@pytest.mark.parametrize("model, key", [
    ("amazon.nova-lite-v1:0", "amazon.nova-lite-v1"),
    ("us.amazon.nova-lite-v1:0", "amazon.nova-lite-v1"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1"),
    ("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-8b-instruct-v1"),
    (HAIKU_ARN, "anthropic.claude-3-5-haiku-20241022-v1"),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3", None),
    ("", None),
])
def test_price_keys(model, key):
    assert price_key(model) == key


def test_shipped_prices_cover_the_families_and_unknown_is_none():
    table = PriceTable.load()
    for model in ("amazon.nova-micro-v1:0", "amazon.nova-2-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0",
                  "anthropic.claude-opus-4-20250514-v1:0", "amazon.titan-embed-text-v2:0", "meta.llama3-3-70b-instruct-v1:0",
                  "mistral.mistral-large-2407-v1:0", "cohere.command-r-plus-v1:0", "cohere.embed-english-v3"):
        price = table.lookup(model)
        assert price is not None and price.input > 0 and price.source in table.sources, model
    assert table.cost(UNKNOWN, 1000, 1000) is None
    assert table.cost("eu.amazon.nova-pro-v1:0", 1000, 1000) == pytest.approx(0.0008 + 0.0032)


def test_user_price_file_overrides_and_bad_files_say_what_is_wrong(tmp_path, monkeypatch):
    f = tmp_path / "prices.toml"
    f.write_text('[models."acme.mystery-model-v1:0"]\ninput = 1.0\noutput = 2.0\n'
                 '[models."amazon.nova-lite-v1"]\ninput = 0.5\n')
    table = PriceTable.load(str(f))
    assert table.cost(UNKNOWN, 1000, 1000) == pytest.approx(3.0)
    assert table.cost(NOVA, 2000, 0) == pytest.approx(1.0)
    monkeypatch.setenv("GENAI_TAP_PRICES", str(f))
    assert PriceTable.load().cost(UNKNOWN, 1000, 0) == pytest.approx(1.0)
    f.write_text('[models."x.y-v1"]\ninput = "cheap"\n')
    with pytest.raises(ConfigError, match=r"GENAI_TAP_PRICES.*input = 'cheap'; expected a number"):
        PriceTable.load()
    monkeypatch.delenv("GENAI_TAP_PRICES")
    f.write_text('[models."x.y-v1"]\ninput = 1\nouptut = 2\n')
    with pytest.raises(ConfigError, match="--prices file.*unknown field.*ouptut"):
        PriceTable.load(str(f))


# ---------------------------------------------------------------------------- API, agents, bounds, paging


def test_the_api_column_and_filter(collector, sender_for):
    from genai_tap import semconv as sc

    s = sender_for(collector, "apis")
    s.call(NOVA, extra={sc.BEDROCK_API: "Converse"})
    s.call(NOVA, extra={sc.BEDROCK_API: "ConverseStream"})
    s.call(NOVA, extra={sc.BEDROCK_API: "InvokeModel"}, error="ThrottlingException")
    items = get(collector.ui_url + "/api/traces")["items"]
    assert sorted(c["api"] for c in items) == ["Converse", "ConverseStream", "InvokeModel"]
    assert [c["api"] for c in get(collector.ui_url + "/api/traces?api=ConverseStream")["items"]] == ["ConverseStream"]
    stats = get(collector.ui_url + "/api/stats")
    assert {a["api"]: a["calls"] for a in stats["apis"]} == {"Converse": 1, "ConverseStream": 1, "InvokeModel": 1}
    assert get(collector.ui_url + "/api/stats?api=InvokeModel")["total"]["errors"] == 1
    failed = get(collector.ui_url + "/api/traces?status=error")["items"][0]
    assert (failed["error_type"], failed["error_message"], failed["cost_usd"]) == (
        "ThrottlingException", "ThrottlingException: too many requests", None)
    assert collector.views.filter_options()["apis"] == ["Converse", "ConverseStream", "InvokeModel"]


def test_an_agent_trace_is_a_tree_with_sums_over_its_model_calls(collector):
    import os

    from genai_tap import semconv as sc

    from conftest import send, span_pb

    trace = os.urandom(16)
    ids = {name: os.urandom(8) for name in ("agent", "chat1", "tool", "sub", "chat2", "chat3", "guard")}
    t0 = __import__("time").time_ns() - 60 * 10**9

    def step(name, parent, op, tokens=None, model=NOVA, error=None, at=0):
        attrs = {sc.OPERATION_NAME: op, sc.REQUEST_MODEL: model if op == "chat" else None,
                 sc.USAGE_INPUT_TOKENS: tokens[0] if tokens else None, sc.USAGE_OUTPUT_TOKENS: tokens[1] if tokens else None,
                 sc.BEDROCK_API: "InvokeAgent"}
        return span_pb(f"{op} {name}", attrs, start_ns=t0 + at * 10**6, trace_id=trace, span_id=ids[name],
                       parent_id=ids.get(parent) if parent else None, error=error)

    spans = [
        step("agent", None, "invoke_agent", tokens=(9999, 9999)),  # an agent's own total: not added again
        step("chat1", "agent", "chat", (1000, 200), at=1),
        step("tool", "agent", "execute_tool", at=2),
        step("sub", "agent", "invoke_agent", at=3),
        step("chat2", "sub", "chat", (1000, 200), at=4),
        step("chat3", "sub", "chat", model=UNKNOWN, tokens=(10, 10), at=5),
        step("guard", "agent", "apply_guardrail", error="GuardrailIntervened", at=6),
    ]
    send(collector, spans, "agents")
    t = get(f"{collector.ui_url}/api/traces/{trace.hex()}")
    by_name = {s["name"].split(" ", 1)[1]: s for s in t["spans"]}
    assert [(s["depth"], s["name"].split(" ", 1)[1]) for s in t["spans"]] == [
        (0, "agent"), (1, "chat1"), (1, "tool"), (1, "sub"), (2, "chat2"), (2, "chat3"), (1, "guard")]
    assert by_name["agent"]["children"] == [ids[n].hex() for n in ("chat1", "tool", "sub", "guard")]
    root = by_name["agent"]["subtree"]
    assert (root["calls"], root["model_calls"], root["errors"]) == (7, 3, 1)
    assert (root["input_tokens"], root["output_tokens"]) == (2010, 410)
    assert root["cost_usd"] == pytest.approx(2 * NOVA_COST / 4) and root["cost_complete"] is False
    sub = by_name["sub"]["subtree"]
    assert (sub["model_calls"], sub["input_tokens"], sub["cost_complete"]) == (2, 1010, False)
    assert by_name["chat1"]["subtree"]["cost_complete"] is True and by_name["chat1"]["children"] == []
    assert (t["input_tokens"], t["output_tokens"], t["cost_complete"]) == (2010, 410, False)
    assert get(collector.ui_url + "/api/apps")["apps"][0]["input_tokens"] == 2010  # the same rule in the sums


def test_lists_and_charts_are_bounded(collector):
    from conftest import send, span_pb

    now = __import__("time").time_ns()
    send(collector, [span_pb() for _ in range(3)], "one-minute")  # three calls in one minute
    send(collector, [span_pb(start_ns=now - 3600 * 10**9) for _ in range(5)], "busy")
    for j in range(300):  # 300 more applications, one call each
        send(collector, [span_pb(start_ns=now - 7200 * 10**9)], f"app-{j:03d}")
    apps = get(collector.ui_url + "/api/apps")["apps"]
    assert len(apps) == 200  # the busiest first, at most 200
    assert [a["app"] for a in apps[:2]] == ["busy", "one-minute"]
    assert len(collector.views.filter_options()["apps"]) == 302
    s = get(collector.ui_url + "/api/apps/one-minute?since=15m")
    rates = [p["calls_per_min"] for p in s["series"] if p["calls"]]
    assert rates == [3.0] and s["step_seconds"] == 60  # three calls in a minute: 3/min, not 180/min
    assert all(p["calls_per_min"] == 0 for p in s["series"] if not p["calls"]) and len(s["series"]) >= 15
    wide = get(collector.ui_url + "/api/apps/one-minute?since=2000-01-01T00:00")
    assert len(wide["series"]) <= 61 and wide["total"]["calls"] == 3


def test_the_calls_list_pages_by_cursor(collector):
    from conftest import send, span_pb

    now = __import__("time").time_ns()
    spans = [span_pb(start_ns=now - i * 10**9) for i in range(230)]
    spans += [span_pb(start_ns=now - 10**9) for _ in range(5)]  # ties on start time
    send(collector, spans, "paged")
    seen, cursor, pages = [], None, 0
    while True:
        url = collector.ui_url + "/api/traces?per_page=50" + (f"&cursor={cursor}" if cursor else "")
        page = get(url)
        seen += [(c["start_ns"], c["span_id"]) for c in page["items"]]
        pages += 1
        if not page["has_next"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert pages == 5 and len(seen) == 235 and len(set(seen)) == 235
    assert [t for t, _ in seen] == sorted((t for t, _ in seen), reverse=True)
    by_page = [c["span_id"] for p in (1, 2) for c in get(collector.ui_url + f"/api/traces?per_page=50&page={p}")["items"]]
    assert by_page == [s for _, s in seen[:100]]
    assert _status(collector.ui_url + "/api/traces?page=100000") == 400  # too deep for page numbers: use the cursor
    assert _status(collector.ui_url + "/api/traces?cursor=garbage") == 400
    assert _status(collector.ui_url + "/api/traces?since=0001-01-01T00:00") == 400
    assert _status(collector.ui_url + "/api/stats?until=9999-01-01T00:00") == 400
