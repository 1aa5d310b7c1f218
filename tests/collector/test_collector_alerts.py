"""Alert rules fired for real: an SMTP server (aiosmtpd) receives the email, a local
HTTP endpoint the webhook, the log the line; once on firing, once on recovery."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, List

import pytest
from aiosmtpd.controller import Controller

from genai_tap_collector.alerts import load_rules
from genai_tap_collector.configfile import ConfigError
from genai_tap_collector.server import Collector

from conftest import get, wait_for

NOVA = "amazon.nova-lite-v1:0"


class Mailbox:
    def __init__(self) -> None:
        self.messages: List = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received, f"http://127.0.0.1:{server.server_address[1]}/hook"
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


def write_rules(tmp_path, smtp_port, hook, interval="1h"):
    path = tmp_path / "rules.toml"
    path.write_text(RULES.format(smtp_port=smtp_port, hook=hook, interval=interval))
    return str(path)


def test_each_action_fires_once_and_recovers_once(tmp_path, mailbox, webhook, sender_for, caplog):
    box, smtp_port = mailbox
    hooks, hook_url = webhook
    with Collector(tmp_path / "a.db", otlp_port=0, ui_port=0, rules=write_rules(tmp_path, smtp_port, hook_url)) as c:
        checkout, search = sender_for(c, "checkout"), sender_for(c, "search")
        now = time.time_ns()
        for s in (checkout, search):
            s.t0 = now - 60 * 1_000_000_000
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
        assert c.alerts.evaluate(now + 1_000_000_000) == []

        assert len(box.messages) == 1
        rcpt, email = box.messages[0]
        assert rcpt == ["oncall@example.com"]
        assert email["Subject"].startswith("[FIRING] errors piling up: error_count = 5")
        assert "app=checkout" in email["Subject"]
        assert [(h["rule"], h["state"], h.get("app")) for h in hooks] == [
            ("errors piling up", "firing", "checkout"), ("checkout budget", "firing", "checkout")]
        assert hooks[1]["value"] == pytest.approx(75.0, rel=0.01)
        assert [r.getMessage() for r in caplog.records if "alert" in r.getMessage()] == [
            "alert [FIRING] errors piling up: error_count = 5 (>= 5 over 5m) for app=checkout"]

        # ten minutes on, the errors have left the 5-minute window; the cost is still within the hour
        later = now + 10 * 60 * 1_000_000_000
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="genai_tap.collector"):
            recovered = c.alerts.evaluate(later)
        assert [(n.rule, n.state) for n in recovered] == [("errors piling up", "resolved")]
        assert c.alerts.evaluate(later) == []
        assert len(box.messages) == 2 and box.messages[1][1]["Subject"].startswith("[RESOLVED] errors piling up")
        assert [(h["rule"], h["state"]) for h in hooks[2:]] == [("errors piling up", "resolved")]
        assert any("[RESOLVED] errors piling up" in r.getMessage() for r in caplog.records)

        alerts = get(c.ui_url + "/api/alerts")
        assert [(e["rule"], e["state"]) for e in alerts["events"]] == [
            ("errors piling up", "resolved"), ("checkout budget", "firing"), ("errors piling up", "firing")]
        assert [r["firing"] for r in alerts["rules"]] == [[], [{"app": "checkout"}]]


def test_rules_are_evaluated_on_schedule(tmp_path, mailbox, webhook, sender_for):
    box, smtp_port = mailbox
    hooks, hook_url = webhook
    rules = write_rules(tmp_path, smtp_port, hook_url, interval="0.1s")
    with Collector(tmp_path / "b.db", otlp_port=0, ui_port=0, rules=rules) as c:
        s = sender_for(c, "checkout")
        s.t0 = time.time_ns() - 1_000_000_000
        for i in range(5):
            s.call(NOVA, error="ModelTimeoutException", at_ms=i)
        wait_for(lambda: box.messages, "the alert email")
        wait_for(lambda: hooks, "the alert webhook")
        assert hooks[0]["state"] == "firing" and hooks[0]["rule"] == "errors piling up"


def test_the_example_rules_file_loads():
    rules, interval = load_rules("collector/alert-rules.example.toml")
    assert interval == 30.0
    assert [(r.name, r.metric, r.window_s) for r in rules][:2] == [
        ("errors piling up", "error_count", 300.0), ("checkout spends over $5 an hour", "cost_usd", 3600.0)]


@pytest.mark.parametrize("text, message", [
    ('[[rules]]\nname="x"\nmetric="errors"\nthreshold=1\nwindow="5m"\n[[rules.actions]]\ntype="log"\n',
     "metric='errors'; accepted: error_count, error_rate"),
    ('[[rules]]\nname="x"\nmetric="calls"\nthreshold=1\nwindow="5 minutes"\n[[rules.actions]]\ntype="log"\n',
     "window='5 minutes' is not a duration"),
    ('[[rules]]\nname="x"\nmetric="calls"\nthreshold=1\nwindow="5m"\n[[rules.actions]]\ntype="email"\nto=["a@b"]\n',
     "needs an \\[smtp\\] table"),
    ('[[rules]]\nname="x"\nmetric="calls"\nthreshold=1\nwindow="5m"\n[[rules.actions]]\ntype="pager"\n',
     "type='pager'; accepted: email, webhook, log"),
    ('[[rules]]\nname="x"\nmetric="calls"\nthreshold=1\nwindow="5m"\n', "needs at least one action"),
    ("[rules\n", "is not valid TOML"),
])
def test_bad_rules_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_rules(str(path))
