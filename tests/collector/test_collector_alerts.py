"""Alert rules fired for real: an SMTP server (aiosmtpd) receives the email, a local
HTTP endpoint the webhook, the log the line; once on firing, once on recovery. Then
what goes wrong in the field: hostile names, 300 apps at once, a server that refuses
or answers a byte at a time, and rule files with mistakes."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, List

import pytest
from aiosmtpd.controller import Controller
from conftest import get, post, wait_for
from genai_tap_collector.alerts import load_rules
from genai_tap_collector.configfile import ConfigError
from genai_tap_collector.server import Collector

NOVA = "amazon.nova-lite-v1:0"
ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000


class Mailbox:
    """Delivers to a list; ``refuse`` holds SMTP replies to give instead, one per message, first."""

    def __init__(self) -> None:
        self.messages: List = []
        self.refuse: List[str] = []
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.attempts += 1
        if self.refuse:
            return self.refuse.pop(0)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox() -> Iterator[tuple]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def serve(handler: type) -> tuple:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


@pytest.fixture
def webhook() -> Iterator[tuple]:
    received: List[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server, url = serve(Hook)
    yield received, url
    server.shutdown()
    server.server_close()


@pytest.fixture
def drip() -> Iterator[dict]:
    """A webhook that answers one byte every 0.2 s for up to a minute: never a whole answer in time."""
    state = {"requests": 0, "closed_by_peer": threading.Event(), "stop": threading.Event()}

    class Drip(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            state["requests"] += 1
            try:
                for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"z" * 300:
                    if state["stop"].wait(0.2):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:  # the collector gave up and closed the connection
                state["closed_by_peer"].set()

        def log_message(self, *args):
            pass

    server, url = serve(Drip)
    state["url"] = url
    yield state
    state["stop"].set()
    server.shutdown()
    server.server_close()


RULES = """
[settings]
interval = "{interval}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "genai-tap@test.local"

[[rules]]
name = "errors piling up"
metric = "error_count"
threshold = 5
window = "5m"
group_by = ["app"]

  [[rules.actions]]
  type = "email"
  to = ["oncall@example.com"]

  [[rules.actions]]
  type = "webhook"
  url = "{hook}"

  [[rules.actions]]
  type = "log"

[[rules]]
name = "checkout budget"
app = "checkout"
metric = "cost_usd"
op = ">"
threshold = 5.0
window = "1h"

  [[rules.actions]]
  type = "webhook"
  url = "{hook}"
"""


def write(tmp_path, text: str, name: str = "rules.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def write_rules(tmp_path, smtp_port, hook, interval="5m"):  # 5m: not before the test ends
    return write(tmp_path, RULES.format(smtp_port=smtp_port, hook=hook, interval=interval))


def hooks_of(hooks: List[dict]) -> List[tuple]:
    return [(n["rule"], n["state"], n.get("app")) for h in hooks for n in h["notifications"]]


@pytest.mark.slow
def test_each_action_fires_once_and_recovers_once(tmp_path, mailbox, webhook, sender_for, caplog):
    box, smtp_port = mailbox
    hooks, hook_url = webhook
    with Collector(tmp_path / "a.db", otlp_port=0, ui_port=0, rules=write_rules(tmp_path, smtp_port, hook_url)) as c:
        checkout, search = sender_for(c, "checkout"), sender_for(c, "search")
        now = time.time_ns()
        for s in (checkout, search):
            s.t0 = now - 60 * S
        for i in range(4):
            checkout.call(NOVA, error="ThrottlingException", at_ms=i)
        search.call(NOVA, error="ThrottlingException")
        assert c.alerts.evaluate(now) == []  # 4 errors in checkout, 1 in search: below 5 per app

        checkout.call(NOVA, error="ThrottlingException", at_ms=10)
        # an expensive call: 1M output tokens of Claude Opus 4 = $75
        checkout.call("us.anthropic.claude-opus-4-20250514-v1:0", input_tokens=10, output_tokens=1_000_000, at_ms=20)
        with caplog.at_level(logging.WARNING, logger="genai_tap.collector"):
            fired = c.alerts.evaluate(now)
        assert sorted((n.rule, n.state, n.subject_text) for n in fired) == [
            ("checkout budget", "firing", "app=checkout"), ("errors piling up", "firing", "app=checkout")]
        assert c.alerts.evaluate(now) == []  # still true: no second notification
        assert c.alerts.evaluate(now + S) == []
        assert c.alerts.flush()

        assert len(box.messages) == 1
        rcpt, email = box.messages[0]
        assert rcpt == ["oncall@example.com"]
        assert email["Subject"].startswith("[FIRING] errors piling up: error_count = 5")
        assert "app=checkout" in email["Subject"]
        assert sorted(hooks_of(hooks)) == [("checkout budget", "firing", "checkout"), ("errors piling up", "firing", "checkout")]
        budget = [h for h in hooks if h["rule"] == "checkout budget"][0]
        assert budget["notifications"][0]["value"] == pytest.approx(75.0, rel=0.01)
        assert budget["count"] == 1 and budget["text"].startswith("[FIRING] checkout budget: cost_usd = 75")
        assert [r.getMessage() for r in caplog.records if "alert" in r.getMessage()] == [
            "alert [FIRING] errors piling up: error_count = 5 (>= 5 over 5m) for app=checkout"]

        # ten minutes on, the errors have left the 5-minute window; the cost is still within the hour
        later = now + 10 * 60 * S
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="genai_tap.collector"):
            recovered = c.alerts.evaluate(later)
        assert [(n.rule, n.state) for n in recovered] == [("errors piling up", "resolved")]
        assert c.alerts.evaluate(later) == []
        assert c.alerts.flush()
        assert len(box.messages) == 2 and box.messages[1][1]["Subject"].startswith("[RESOLVED] errors piling up")
        assert hooks_of(hooks[2:]) == [("errors piling up", "resolved", "checkout")]
        assert any("[RESOLVED] errors piling up" in r.getMessage() for r in caplog.records)

        alerts = get(c.ui_url + "/api/alerts")
        assert [(e["rule"], e["state"]) for e in alerts["events"]] == [
            ("errors piling up", "resolved"), ("checkout budget", "firing"), ("errors piling up", "firing")]
        assert [r["firing"] for r in alerts["rules"]] == [[], [{"app": "checkout"}]]
        assert sorted((d["destination"].split(" ")[0], d["sent"]) for d in alerts["destinations"]) == [
            ("email", 2), ("webhook", 3)]


@pytest.mark.slow
def test_rules_are_evaluated_on_schedule(tmp_path, mailbox, webhook, sender_for):
    box, smtp_port = mailbox
    hooks, hook_url = webhook
    rules = write_rules(tmp_path, smtp_port, hook_url, interval="1s")
    with Collector(tmp_path / "b.db", otlp_port=0, ui_port=0, rules=rules) as c:
        s = sender_for(c, "checkout")
        s.t0 = time.time_ns() - S
        for i in range(5):
            s.call(NOVA, error="ModelTimeoutException", at_ms=i)
        wait_for(lambda: box.messages, "the alert email")
        wait_for(lambda: hooks, "the alert webhook")
        assert hooks[0]["state"] == "firing" and hooks[0]["rule"] == "errors piling up"


# ---------------------------------------------------------------------------- hostile input


def otlp_json(apps: List[str], error: str = "ThrottlingException") -> bytes:
    """One OTLP/JSON export request: a failed call from each app."""
    now = time.time_ns()
    resource_spans = []
    for app in apps:
        attrs = [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                 {"key": "gen_ai.request.model", "value": {"stringValue": NOVA}},
                 {"key": "error.type", "value": {"stringValue": error}}]
        span = {"traceId": secrets.token_hex(16), "spanId": secrets.token_hex(8), "name": "chat", "kind": 3,
                "startTimeUnixNano": str(now - 10 * S), "endTimeUnixNano": str(now - 10 * S + 100_000_000),
                "attributes": attrs, "status": {"code": 2, "message": error}}
        resource_spans.append({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": app}}]},
                               "scopeSpans": [{"scope": {"name": "t"}, "spans": [span]}]})
    return json.dumps({"resourceSpans": resource_spans}).encode()


ONE_ERROR_RULE = """
[settings]
interval = "5m"
{settings}

[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "genai-tap@test.local"

[[rules]]
name = "any error"
metric = "error_count"
threshold = 1
window = "5m"
group_by = ["app"]

  [[rules.actions]]
  type = "email"
  to = ["oncall@example.com"]

  [[rules.actions]]
  type = "log"
{more}
"""


@pytest.mark.slow
def test_a_hostile_app_name_is_escaped_and_the_mail_still_goes(tmp_path, mailbox, caplog):
    box, smtp_port = mailbox
    evil = "shop\r\nBcc: victim@example.com\r\nX-Evil: 1\x1b[31m\u202e"
    rules = write(tmp_path, ONE_ERROR_RULE.format(settings="", smtp_port=smtp_port, more=""))
    with Collector(tmp_path / "h.db", otlp_port=0, ui_port=0, rules=rules) as c:
        assert post(c.otlp_url + "/v1/traces", otlp_json([evil]), "application/json") == 200
        with caplog.at_level(logging.WARNING, logger="genai_tap.collector"):
            fired = c.alerts.evaluate()
        assert [n.subject["app"] for n in fired] == [evil]  # kept as sent: the UI and the JSON show it escaped by HTML/JSON
        assert c.alerts.flush()
    assert len(box.messages) == 1
    rcpt, mail = box.messages[0]
    assert rcpt == ["oncall@example.com"]
    assert mail["Bcc"] is None and mail["X-Evil"] is None
    assert mail["Subject"] == ("[FIRING] any error: error_count = 1 (>= 1 over 5m) for "
                               "app=shop\\r\\nBcc: victim@example.com\\r\\nX-Evil: 1\\x1b[31m\\u202e")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alert ")]
    assert len(lines) == 1 and "\n" not in lines[0] and "\x1b" not in lines[0]


@pytest.mark.slow
def test_three_hundred_apps_in_one_request_send_one_email(tmp_path, mailbox, webhook, caplog):
    box, smtp_port = mailbox
    hooks, hook_url = webhook
    more = f'\n  [[rules.actions]]\n  type = "webhook"\n  url = "{hook_url}"\n'
    rules = write(tmp_path, ONE_ERROR_RULE.format(settings="", smtp_port=smtp_port, more=more))
    apps = [f"svc-{i:03d}" for i in range(300)]
    with Collector(tmp_path / "m.db", otlp_port=0, ui_port=0, rules=rules) as c:
        assert post(c.otlp_url + "/v1/traces", otlp_json(apps), "application/json") == 200
        with caplog.at_level(logging.WARNING, logger="genai_tap.collector"):
            assert len(c.alerts.evaluate()) == 300
        assert c.alerts.flush()
        assert len(box.messages) == 1
        mail = box.messages[0][1]
        assert mail["Subject"].startswith("[FIRING] any error: 300 firing (app=svc-")
        assert "+297 more" in mail["Subject"]
        body = mail.get_content()
        listed = [a for a in apps if f"app={a}\n" in body or f"app={a}\r\n" in body]
        assert len(listed) == 200 and "... and 100 more" in body  # the first 200 listed, the rest counted
        assert len(hooks) == 1 and hooks[0]["count"] == 300 and len(hooks[0]["notifications"]) == 200
        assert hooks[0]["not_listed"] == 100
        assert len([r for r in caplog.records if r.getMessage().startswith("alert ")]) == 1
        # the UI still has every group
        assert len(get(c.ui_url + "/api/alerts")["rules"][0]["firing"]) == 300


@pytest.mark.slow
def test_a_rule_sends_at_most_its_limit_per_hour_and_the_rest_waits(tmp_path, mailbox):
    box, smtp_port = mailbox
    rules = write(tmp_path, ONE_ERROR_RULE.format(settings="max_notifications_per_hour = 1", smtp_port=smtp_port, more=""))
    with Collector(tmp_path / "r.db", otlp_port=0, ui_port=0, rules=rules) as c:
        assert post(c.otlp_url + "/v1/traces", otlp_json(["a"]), "application/json") == 200
        c.alerts.evaluate()
        assert c.alerts.flush()
        assert post(c.otlp_url + "/v1/traces", otlp_json(["b", "c"]), "application/json") == 200
        c.alerts.evaluate()
        assert c.alerts.flush()
        assert len(box.messages) == 1
        state = get(c.ui_url + "/api/alerts")
        assert state["rules"][0]["waiting"] == 2 and state["rules"][0]["max_notifications_per_hour"] == 1
        assert state["destinations"][0]["waiting"] == 2


@pytest.mark.slow
def test_a_refused_mail_is_retried_and_a_permanent_refusal_is_not(tmp_path, mailbox, caplog):
    box, smtp_port = mailbox
    box.refuse = ["451 4.3.0 try again later"]
    rules = write(tmp_path, ONE_ERROR_RULE.format(settings="", smtp_port=smtp_port, more=""))
    with Collector(tmp_path / "t.db", otlp_port=0, ui_port=0, rules=rules) as c:
        for box_ in c.alerts.outboxes.values():
            box_.retry_delays = (0.05, 0.05)
        assert post(c.otlp_url + "/v1/traces", otlp_json(["a"]), "application/json") == 200
        c.alerts.evaluate()
        wait_for(lambda: box.messages, "the retried mail")
        assert box.attempts == 2
        (dest,) = get(c.ui_url + "/api/alerts")["destinations"]
        assert dest["sent"] == 1 and dest["failed_attempts"] == 1 and "451" in dest["last_error"]

        box.refuse = ["550 5.1.1 no such mailbox"]
        assert post(c.otlp_url + "/v1/traces", otlp_json(["b"]), "application/json") == 200
        with caplog.at_level(logging.ERROR, logger="genai_tap.collector"):
            c.alerts.evaluate()
            wait_for(lambda: get(c.ui_url + "/api/alerts")["destinations"][0]["given_up"] == 1, "the given-up mail")
        assert box.attempts == 3  # not retried
        assert any("gave up after 1 attempt" in r.getMessage() for r in caplog.records)


DRIP_RULE = """
[settings]
interval = "5m"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "genai-tap@test.local"

[[rules]]
name = "any error"
metric = "error_count"
threshold = 1
window = "5m"
group_by = ["app"]

  [[rules.actions]]
  type = "webhook"
  url = "{url}"
  timeout = "2s"

  [[rules.actions]]
  type = "email"
  to = ["oncall@example.com"]
"""


@pytest.mark.slow
def test_a_dripping_webhook_holds_up_neither_the_email_nor_shutdown(tmp_path, mailbox, drip):
    box, smtp_port = mailbox
    rules = write(tmp_path, DRIP_RULE.format(smtp_port=smtp_port, url=drip["url"]))  # the webhook comes first
    c = Collector(tmp_path / "d.db", otlp_port=0, ui_port=0, rules=rules).start()
    try:
        for outbox in c.alerts.outboxes.values():
            outbox.retry_delays = (0.0,)
        assert post(c.otlp_url + "/v1/traces", otlp_json(["a"]), "application/json") == 200
        c.alerts.evaluate()
        wait_for(lambda: box.messages, "the email, while the webhook drips")
        assert drip["requests"] == 1 and not drip["closed_by_peer"].is_set()  # the webhook's attempt is still on
        # its deadline (2s) ends the attempt, though bytes keep coming: the collector hangs up, then tries again
        assert drip["closed_by_peer"].wait(30)
        wait_for(lambda: get(c.ui_url + "/api/alerts")["destinations"][0]["failed_attempts"] >= 1, "the failed attempt")
        assert "no complete answer within 2s" in get(c.ui_url + "/api/alerts")["destinations"][0]["last_error"]
        wait_for(lambda: drip["requests"] >= 2, "the second webhook attempt")
    finally:  # stopping ends the attempt in progress instead of waiting for it
        stopped = threading.Event()
        threading.Thread(target=lambda: (c.stop(), stopped.set()), daemon=True).start()
        assert stopped.wait(10), "stop() waited for the dripping webhook"
    assert not drip["stop"].is_set()  # the webhook was still dripping when the collector had stopped


@pytest.mark.slow
def test_a_webhook_redirect_is_not_followed(tmp_path, webhook):
    hooks, hook_url = webhook

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", hook_url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server, url = serve(Redirect)
    try:
        rules = write(tmp_path, f"""
[settings]
interval = "5m"
[[rules]]
name = "any call"
metric = "calls"
threshold = 1
window = "5m"
  [[rules.actions]]
  type = "webhook"
  url = "{url}"
""")
        with Collector(tmp_path / "w.db", otlp_port=0, ui_port=0, rules=rules) as c:
            assert post(c.otlp_url + "/v1/traces", otlp_json(["a"]), "application/json") == 200
            c.alerts.evaluate()
            wait_for(lambda: get(c.ui_url + "/api/alerts")["destinations"][0]["given_up"], "the refused redirect")
            dest = get(c.ui_url + "/api/alerts")["destinations"][0]
            assert "307" in dest["last_error"] and "not followed" in dest["last_error"]
        assert hooks == []
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------- rule files


@pytest.mark.slow
def test_the_example_rules_file_loads_and_ships_with_the_package():
    rules, interval = load_rules(str(ROOT / "collector" / "alert-rules.example.toml"))
    assert interval == 30.0
    assert [(r.name, r.metric, r.window_s) for r in rules][:2] == [
        ("errors piling up", "error_count", 300.0), ("checkout spends over $5 an hour", "cost_usd", 3600.0)]
    shipped = ROOT / "collector" / "genai_tap_collector" / "alert-rules.example.toml"
    assert shipped.read_text() == (ROOT / "collector" / "alert-rules.example.toml").read_text()
    out = subprocess.run([sys.executable, "-m", "genai_tap.cli", "collector", "--example-rules"], capture_output=True,
                         text=True, timeout=60, check=True, cwd="/").stdout
    assert out == shipped.read_text()


GOOD_RULE = '[[rules]]\nname="x"\nmetric="calls"\nthreshold=1\nwindow="5m"\n[[rules.actions]]\ntype="log"\n'

# (kind, file text, what the one line must say)
BAD_FILES = [
    ("bad TOML", "[rules\n", ["is not valid TOML"]),
    ("not UTF-8", b"name = '\xff\xfe'\n", ["is not UTF-8 text"]),
    ("unknown key in a rule", GOOD_RULE.replace('window="5m"', 'window="5m"\nwindwo="1m"'),
     ["rule 'x', key 'windwo': is not a known key; accepted: name, metric"]),
    ("unknown key in [settings]", '[settings]\nintervall="30s"\n' + GOOD_RULE,
     ["[settings], key 'intervall': is not a known key; accepted: interval, max_notifications_per_hour"]),
    ("unknown top-level table", "[alerts]\n" + GOOD_RULE, ["key 'alerts': is not a known key; accepted: settings, smtp, rules"]),
    ("wrong type: threshold", GOOD_RULE.replace("threshold=1", 'threshold="1"'),
     ["rule 'x', key 'threshold': must be a number, not the string '1'"]),
    ("wrong type: min_calls", GOOD_RULE.replace('window="5m"', 'window="5m"\nmin_calls="many"'),
     ["key 'min_calls': must be a whole number, not the string 'many'"]),
    ("wrong type: smtp port", '[smtp]\nport="25"\n' + GOOD_RULE, ["[smtp], key 'port': must be a whole number"]),
    ("wrong type: group_by", GOOD_RULE.replace('window="5m"', 'window="5m"\ngroup_by=5'),
     ["key 'group_by': 5 is not accepted; accepted: \"app\", \"model\""]),
    ("wrong type: webhook headers", GOOD_RULE.replace('type="log"', 'type="webhook"\nurl="http://h/x"\nheaders="x"'),
     ["key 'headers': must be a table"]),
    ("wrong type: rule", "rules = [1]\n", ["rule #1: must be a table, not the number 1"]),
    ("zero interval", '[settings]\ninterval=0\n' + GOOD_RULE,
     ["[settings], key 'interval': 0 is out of range; accepted: 1s to 1d"]),
    ("infinite interval", '[settings]\ninterval=inf\n' + GOOD_RULE, ["key 'interval': inf is not a duration"]),
    ("negative threshold", GOOD_RULE.replace("threshold=1", "threshold=-1"),
     ["key 'threshold': is -1; accepted: a number >= 0"]),
    ("error rate as percent", GOOD_RULE.replace('metric="calls"', 'metric="error_rate"').replace("threshold=1", "threshold=5"),
     ["key 'threshold': is 5; accepted: a number from 0 to 1 (error_rate is a fraction: 0.05 is 5%)"]),
    ("zero window", GOOD_RULE.replace('window="5m"', "window=0"), ["key 'window': 0 is out of range"]),
    ("window under interval", '[settings]\ninterval="10m"\n' + GOOD_RULE,
     ["key 'window': '5m' is shorter than the [settings] interval (10m)"]),
    ("zero min_calls", GOOD_RULE.replace('window="5m"', 'window="5m"\nmin_calls=0'),
     ["key 'min_calls': is 0; accepted: a whole number from 1"]),
    ("zero smtp timeout", '[smtp]\ntimeout="0s"\n' + GOOD_RULE, ["[smtp], key 'timeout': '0s' is out of range"]),
    ("unknown metric", GOOD_RULE.replace('metric="calls"', 'metric="errors"'),
     ["key 'metric': 'errors' is not a metric; accepted: error_count, error_rate, p95_latency_ms, tokens, cost_usd, calls"]),
    ("unknown op", GOOD_RULE.replace('metric="calls"', 'metric="calls"\nop="=>"'),
     ["key 'op': '=>' is not an operator; accepted: >, >=, <, <="]),
    ("unknown action", GOOD_RULE.replace('type="log"', 'type="pager"'),
     ["action #1, key 'type': 'pager' is not an action type; accepted: email, webhook, log"]),
    ("unknown log level", GOOD_RULE.replace('type="log"', 'type="log"\nlevel="loud"'),
     ["key 'level': 'loud' is not a log level; accepted: debug, info, warning, error, critical"]),
    ("missing window", GOOD_RULE.replace('window="5m"\n', ""), ["rule 'x', key 'window': is required (e.g. window = \"5m\")"]),
    ("missing name", GOOD_RULE.replace('name="x"\n', ""), ["rule #1, key 'name': is required"]),
    ("missing metric", GOOD_RULE.replace('metric="calls"\n', ""), ["key 'metric': is required; accepted: error_count"]),
    ("missing actions", GOOD_RULE.split("[[rules.actions]]")[0], ["key 'actions': is required: at least one [[rules.actions]]"]),
    ("missing action type", GOOD_RULE.replace('type="log"', 'level="info"'), ["action #1, key 'type': is required"]),
    ("missing rules", '[settings]\ninterval="30s"\n', ["key 'rules': the file has no [[rules]]"]),
    ("missing smtp", GOOD_RULE.replace('type="log"', 'type="email"\nto=["a@example.com"]'),
     ["an email action needs an [smtp] table"]),
    ("missing recipients", '[smtp]\nhost="h"\n' + GOOD_RULE.replace('type="log"', 'type="email"'), ["key 'to': is required"]),
    ("bad email address", '[smtp]\nhost="h"\n' + GOOD_RULE.replace('type="log"', 'type="email"\nto=["oncall at example.com"]'),
     ["key 'to': 'oncall at example.com' is not an e-mail address"]),
    ("bad from address", '[smtp]\nfrom="me"\n' + GOOD_RULE, ["[smtp], key 'from': 'me' is not an e-mail address"]),
    ("bad URL", GOOD_RULE.replace('type="log"', 'type="webhook"\nurl="ftp://example.com/x"'),
     ["key 'url': 'ftp://example.com/x' is not an http:// or https:// URL with a host"]),
    ("URL without host", GOOD_RULE.replace('type="log"', 'type="webhook"\nurl="http:///x"'), ["is not an http:// or https:// URL"]),
    ("URL with a bad port", GOOD_RULE.replace('type="log"', 'type="webhook"\nurl="http://h:99999/x"'), ["is not a URL"]),
    ("header with CR/LF", GOOD_RULE.replace('type="log"', 'type="webhook"\nurl="http://h/x"\nheaders={X="a\\r\\nB: c"}'),
     ["key 'headers': 'X' = 'a\\r\\nB: c' is not a valid header"]),
    ("tls and starttls", '[smtp]\ntls=true\nstarttls=true\n' + GOOD_RULE, ["key 'starttls': and tls cannot both be true"]),
    ("bad env name", '[smtp]\npassword_env="MY PASSWORD"\n' + GOOD_RULE, ["key 'password_env': 'MY PASSWORD' is not an environment"]),
    ("duplicate names", GOOD_RULE + GOOD_RULE, ["rule 'x', key 'name': is used by more than one rule"]),
]


@pytest.mark.parametrize("kind, text, says", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_malformed_rules_file_gets_one_clear_line(tmp_path, kind, text, says):
    path = tmp_path / "bad.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as err:
        load_rules(str(path))
    message = str(err.value)
    assert len(message.splitlines()) == len(says), message
    for line, expected in zip(message.splitlines(), says):
        assert line.startswith(f"--rules file {str(path)!r}"), line
        assert expected in line, line


@pytest.mark.slow
def test_every_problem_of_a_file_is_listed_and_the_command_prints_no_traceback(tmp_path):
    text = ('[settings]\ninterval=0\n[[rules]]\nname="x"\nmetric="errors"\nthreshold=-2\nwindow="5 minutes"\n'
            '[[rules.actions]]\ntype="pager"\n')
    path = write(tmp_path, text, "many.toml")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert len(str(err.value).splitlines()) == 5  # interval, metric, threshold, window, action type
    for kind, body, _ in BAD_FILES[:8] + [("many", text, [])]:
        bad = tmp_path / "cli.toml"
        bad.write_bytes(body if isinstance(body, bytes) else body.encode())
        proc = subprocess.run([sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(tmp_path / "c.db"),
                               "--otlp-port", "0", "--ui-port", "0", "--rules", str(bad)],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
        assert proc.returncode == 2, kind
        assert "Traceback" not in proc.stderr, kind
        assert all(line.startswith("genai-tap collector: --rules file") for line in proc.stderr.splitlines()), proc.stderr
    for missing in (tmp_path / "nope.toml", tmp_path):
        with pytest.raises(ConfigError, match="does not exist|is a directory"):
            load_rules(str(missing))
