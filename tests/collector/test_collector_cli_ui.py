"""What people see in the terminal and in the pages: hostile names escaped, bad query values
answered in words, the API of each call, error columns, and costs written one way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from typing import List, Tuple

import pytest
from conftest import get
from genai_tap_collector.server import Collector

from genai_tap import semconv as sc

NOVA = "us.amazon.nova-lite-v1:0"
EVIL_APP = "evil\x1b]0;pwned\x07\x1b[2J\u202eapp"
EVIL_MODEL = "model\x9b31m\r\nx"
KIND_APP = "café-日本-🚀"


def cli(*args: str) -> Tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "genai_tap.cli", *args], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def fetch(url: str) -> Tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def filled(tmp_path, sender_for):
    """A collector with calls through three APIs, one failure, and hostile and non-ASCII names."""
    with Collector(tmp_path / "ui.db", otlp_port=0, ui_port=0) as c:
        shop = sender_for(c, "shop")
        shop.call(NOVA, extra={sc.BEDROCK_API: "Converse"}, prompt="Converse prompt")
        shop.call(NOVA, extra={sc.BEDROCK_API: "InvokeModel"}, at_ms=10, prompt="Invoke prompt")
        shop.call(NOVA, extra={sc.BEDROCK_API: "ConverseStream"}, at_ms=20, prompt="Stream prompt")
        shop.call(NOVA, extra={sc.BEDROCK_API: "Converse"}, at_ms=30, error="ThrottlingException",
                  prompt="Failed prompt")
        sender_for(c, EVIL_APP).call(EVIL_MODEL, extra={sc.BEDROCK_API: "Converse"}, prompt="\x1b[31mred\x1b[0m")
        sender_for(c, KIND_APP).call(NOVA, extra={sc.BEDROCK_API: "Converse"})
        yield c


# ---------------------------------------------------------------------------- terminal


@pytest.mark.slow
def test_terminal_output_escapes_control_characters_and_keeps_text(filled):
    db = filled.db
    for args in (("traces", "--db", db), ("stats", "--db", db), ("traces", "--db", db, "--json"), ("stats", "--db", db, "--json")):
        code, out, err = cli(*args)
        assert code == 0, err
        for raw in ("\x1b", "\x07", "\x9b", "\r", "\u202e"):
            assert raw not in out, (args, raw)
        assert KIND_APP in out, args  # accents, CJK and emoji as they are
    _, table, _ = cli("traces", "--db", db)
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\u202eapp" in table and "\\x1b[31mred" in table
    _, out, _ = cli("traces", "--db", db, "--json")
    apps = {item["app"] for item in json.loads(out)["items"]}
    assert EVIL_APP in apps and KIND_APP in apps  # the JSON still parses to the names as sent
    _, out, _ = cli("stats", "--db", db, "--json")
    assert EVIL_MODEL in {m["model"] for m in json.loads(out)["models"]}


@pytest.mark.parametrize("args, says", [
    (("traces", "--page", "0"), "--page 0 is not valid"),
    (("traces", "--page", "99999999999999999999"), "--page 99999999999999999999 is not valid"),
    (("traces", "--limit", "0"), "--limit 0 is not valid"),
    (("traces", "--since", "99999999999d"), "since='99999999999d' is out of range"),
    (("traces", "--since", "9" * 400), "is not a duration"),
    (("traces", "--until", "9999-12-31"), "until='9999-12-31' is out of range"),
    (("traces", "--since", "0001-01-01T00:00"), "is out of range"),
    (("traces", "--since", "yesterday"), "since='yesterday' is not a duration"),
    (("traces", "--since", "2026-13-45"), "is not an ISO 8601 time"),
    (("stats", "--since", "99999999999d"), "is out of range"),
    (("stats", "--until", "9999-12-31"), "is out of range"),
])
@pytest.mark.slow
def test_bad_values_give_one_line_and_exit_2(filled, args, says):
    code, out, err = cli(*args, "--db", filled.db)
    assert code == 2, out
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and says in err and err.startswith(f"genai-tap {args[0]}: ")


@pytest.mark.slow
def test_a_file_that_is_not_a_database_is_one_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not sqlite " * 100)
    for command in ("traces", "stats"):
        code, _, err = cli(command, "--db", str(bad))
        assert code == 2 and "is not a collector database" in err and "Traceback" not in err
        code, _, err = cli(command, "--db", str(tmp_path))
        assert code == 2 and "is a directory" in err


def test_the_help_needs_no_repository():
    code, out, _ = cli("collector", "--help")
    assert code == 0
    assert "collector/alert-rules" not in out  # a pip-installed user has no such path
    for option in ("--example-rules", "--auth-token", "--allowed-host", "--forward-header", "GENAI_TAP_COLLECTOR_TOKEN",
                   "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>"):
        assert option in out, option
    code, out, _ = cli("traces", "--help")
    assert code == 0 and "--api" in out


# ---------------------------------------------------------------------------- API column and filter


@pytest.mark.slow
def test_the_api_of_each_call_everywhere(filled):
    ui = filled.ui_url
    items = get(ui + "/api/traces?app=shop")["items"]
    assert sorted(i["api"] for i in items) == ["Converse", "Converse", "ConverseStream", "InvokeModel"]
    assert [i["prompt"] for i in get(ui + "/api/traces?app=shop&api=InvokeModel")["items"]] == ["Invoke prompt"]
    assert get(ui + "/api/stats?api=ConverseStream")["total"]["calls"] == 1
    assert [i["api"] for i in get(ui + "/api/errors")["recent"]] == ["Converse"]

    status, html = fetch(ui + "/traces?app=shop")
    assert status == 200 and "<th class=\"\">API</th>" in html
    assert re.search(r'<select name="api"><option value="">all</option>.*ConverseStream.*</select>', html)
    _, html = fetch(ui + "/traces?api=InvokeModel")
    assert "Invoke prompt" in html and "Converse prompt" not in html and '<option value="InvokeModel" selected>' in html

    _, out, _ = cli("traces", "--db", filled.db, "--api", "ConverseStream")
    lines = out.strip().splitlines()
    assert lines[0].split()[2] == "api" and len(lines) == 3 and "ConverseStream" in lines[2]


# ---------------------------------------------------------------------------- errors and costs


def columns(html: str, table_index: int = 0) -> List[str]:
    table = re.findall(r"<table class=\"data[^\"]*\">(.*?)</table>", html, re.S)[table_index]
    return [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]


@pytest.mark.slow
def test_errors_show_type_and_message_in_their_own_columns(filled):
    _, html = fetch(filled.ui_url + "/errors")
    recent = columns(html, 1)
    assert recent == ["Time", "App", "API", "Operation", "Model", "Latency", "Error type", "Message"]
    body = re.findall(r"<table class=\"data calls\">(.*?)</table>", html, re.S)[0]
    assert "ThrottlingException" in body and "ThrottlingException: too many requests" in body
    assert "Failed prompt" not in body

    _, html = fetch(filled.ui_url + "/traces?app=shop&status=error")
    assert columns(html)[-2:] == ["Prompt", "Error"]
    row = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)[0]
    prompt_cell = re.findall(r'<td class="prompt">(.*?)</td>', row)[0]
    assert "Failed prompt" in prompt_cell and "Throttling" not in prompt_cell


@pytest.mark.slow
def test_costs_are_written_one_way_and_failed_calls_cost_nothing_shown(filled):
    trace = get(filled.ui_url + "/api/traces?app=shop&api=InvokeModel")["items"][0]["trace_id"]
    for path in ("/", "/traces", "/apps/shop", f"/traces/{trace}"):
        _, html = fetch(filled.ui_url + path)
        text = re.sub(r"<[^>]+>", " ", html)
        amounts = re.findall(r"\$[0-9][0-9,.]*", text)
        assert amounts, path
        assert all(re.fullmatch(r"\$[0-9,]+\.[0-9]{6}", a) for a in amounts), (path, amounts)
        tables = re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", "", html, flags=re.S))
        assert "$0.000000" not in tables, path  # (a chart's axis starts at $0.000000)
    _, html = fetch(filled.ui_url + "/traces?status=error")
    row = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)[0]
    assert 'title="the call failed">–<' in row
    _, out, _ = cli("traces", "--db", filled.db, "--status", "error")
    failed = out.strip().splitlines()[2]
    assert "$" not in failed and " - " in failed


# ---------------------------------------------------------------------------- bad query values


@pytest.mark.parametrize("query, says", [
    ("page=0", "page='0' is not valid"),
    ("page=99999999999999999999", "is not valid; use a whole number from 1 to 1,000,000"),
    ("page=abc", "page='abc' is not valid"),
    ("per_page=501", "per_page='501' is not valid"),
    ("since=99999999999d", "is out of range"),
    ("since=" + "9" * 400, "is not a duration"),
    ("until=9999-12-31", "is out of range"),
    ("since=nope", "is not a duration"),
    ("status=maybe", "status='maybe' is not valid"),
])
@pytest.mark.slow
def test_bad_query_values_are_400_with_words(filled, query, says):
    status, body = fetch(f"{filled.ui_url}/api/traces?{query}")
    assert status == 400 and says in json.loads(body)["error"]
    status, html = fetch(f"{filled.ui_url}/traces?{query}")
    assert status == 400 and "<h1>Cannot show this page</h1>" in html and says.replace("'", "&#x27;") in html
    if not query.startswith(("page", "per_page")):
        for path in ("/", "/errors", "/apps/shop"):
            assert fetch(filled.ui_url + path + "?" + query)[0] == 400


@pytest.mark.slow
def test_a_cost_under_a_millionth_is_not_shown_as_zero(collector, sender_for):
    # 15 tokens of Titan embeddings v2 ($0.00002 per 1,000): $0.0000003
    sender_for(collector, "indexer").call("amazon.titan-embed-text-v2:0", input_tokens=15, output_tokens=0)
    (item,) = get(collector.ui_url + "/api/traces")["items"]
    assert 0 < item["cost_usd"] < 0.0000005
    _, html = fetch(collector.ui_url + "/traces")
    assert "&lt;$0.000001" in html and "$0.000000" not in html
    _, out, _ = cli("traces", "--db", collector.db)
    assert "<$0.000001" in out
