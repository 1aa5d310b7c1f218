"""``--forward``: a copy of what arrives goes to a real OTLP receiver (tests/support/otlp.py),
with the configured headers, within a bounded queue and a deadline, never through a redirect."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import get, wait_for
from genai_tap_collector.configfile import ConfigError
from genai_tap_collector.forwarder import Forwarder, env_headers, parse_headers
from genai_tap_collector.server import Collector

from tests.support.otlp import Receiver

NOVA = "us.amazon.nova-lite-v1:0"


@pytest.mark.slow
def test_the_configured_headers_reach_the_upstream(tmp_path, otlp, sender_for):
    headers = {"authorization": "Bearer upstream-token", "x-tenant": "team a"}
    with Collector(tmp_path / "f.db", otlp_port=0, ui_port=0, forward=otlp.url + "/v1/traces",
                   forward_headers=headers) as c:
        sender_for(c).call(NOVA)
        (path, got, _), = wait_for(lambda: otlp.raw, "the forwarded body")
        assert path == "/v1/traces"  # a signal URL is taken as the base of all three
        assert got["authorization"] == "Bearer upstream-token" and got["x-tenant"] == "team a"
        assert got["Content-Type"] == "application/x-protobuf" and got["Content-Encoding"] == "gzip"
        assert [s["name"] for s in otlp.spans()] == [f"chat {NOVA}"]


@pytest.mark.slow
def test_headers_from_the_command_line_and_the_environment(tmp_path, otlp, sender_for):
    env = dict(os.environ, GENAI_TAP_FORWARD_HEADERS="x-tenant=t1,x-note=a%20b", HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(tmp_path / "c.db"), "--otlp-port", "0",
         "--ui-port", "0", "--forward", otlp.url, "--forward-header", "authorization=Bearer%20abc",
         "--forward-header", "x-tenant=t2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        banner = ""
        while "web UI:" not in banner:
            line = proc.stdout.readline()
            assert line, banner
            banner += line
        otlp_url = re.search(r"OTLP_ENDPOINT=(http://[0-9.:]+)", banner).group(1)
        from conftest import Sender

        s = Sender(otlp_url, "cli-app")
        s.call(NOVA)
        s.close()
        (_, got, _), = wait_for(lambda: otlp.raw, "the forwarded body")
        assert got["authorization"] == "Bearer abc" and got["x-tenant"] == "t2" and got["x-note"] == "a b"
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("pairs, message", [
    (["novalue"], "is not name=value"),
    (["bad name=x"], "is not name=value"),
    (["x-a=line\r\nInjected: 1"], "control characters"),
    (["x-a=%0d%0aInjected: 1"], "control characters"),  # percent-decoded, then checked
    (["content-type=text/plain"], "set from each forwarded body"),
])
def test_a_bad_header_is_refused_at_start(pairs, message):
    with pytest.raises(ConfigError, match=message):
        parse_headers(pairs, "--forward-header")
    with pytest.raises(ConfigError, match=message):
        env_headers({"GENAI_TAP_FORWARD_HEADERS": ",".join(pairs)})


def test_forward_headers_without_forward_is_an_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(tmp_path / "c.db"),
                           "--otlp-port", "0", "--ui-port", "0", "--forward-header", "a=b"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "needs --forward URL" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_redirect_is_not_followed(tmp_path, otlp, sender_for):
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(308)
            self.send_header("Location", otlp.url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Collector(tmp_path / "r.db", otlp_port=0, ui_port=0,
                       forward=f"http://127.0.0.1:{server.server_address[1]}") as c:
            sender_for(c).call(NOVA)
            health = wait_for(lambda: (h := get(c.ui_url + "/api/health")["forward"])["failed"] and h, "the refused send")
            assert health["sent"] == 0 and "308" in health["last_error"] and "not followed" in health["last_error"]
        assert otlp.raw == []
    finally:
        server.shutdown()
        server.server_close()


def body_of(size: int) -> bytes:
    """A valid ExportTraceServiceRequest of exactly ``size`` bytes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    attr = req.resource_spans.add().resource.attributes.add()
    attr.key = "k"
    attr.value.string_value = "x" * (size - 18)
    data = req.SerializeToString()
    assert len(data) == size, len(data)
    return data


@pytest.mark.slow
def test_the_queue_is_bounded_in_bytes_and_bodies():
    slow = Receiver().start()
    slow.trace_delay = 5.0  # the first body holds the sender; the rest queue up
    fwd = Forwarder(slow.url, max_bodies=100, max_bytes=1000, timeout_s=10).start()
    try:
        fwd.submit("/v1/traces", "application/x-protobuf", None, body_of(300))
        wait_for(lambda: slow.raw, "the first body to be in flight")
        for _ in range(11):
            fwd.submit("/v1/traces", "application/x-protobuf", None, body_of(300))
            bodies, queued = fwd.queued
            assert queued <= 1000
        # one in flight, three queued (900 bytes), the other eight dropped
        assert fwd.dropped == 8 and fwd.queued == (3, 900)
        few = Forwarder(slow.url, max_bodies=2, max_bytes=10**9)
        for _ in range(5):
            few.submit("/v1/traces", "application/x-protobuf", None, b"x")
        assert few.dropped == 3 and few.queued == (2, 2)
    finally:
        slow.trace_delay = 0.0
        fwd.stop(timeout_s=0.5)
        slow.stop()


@pytest.mark.slow
def test_a_hanging_upstream_costs_one_deadline_and_does_not_hold_up_stop():
    hanging = Receiver().start()
    hanging.trace_delay = 60.0
    fwd = Forwarder(hanging.url, timeout_s=1.0).start()
    try:
        fwd.submit("/v1/traces", "application/x-protobuf", None, b"")
        wait_for(lambda: fwd.failed, "the send to time out")
        assert "no complete answer within 1s" in (fwd.last_error or "")
        fwd.submit("/v1/traces", "application/x-protobuf", None, b"")
        stopped = threading.Event()
        threading.Thread(target=lambda: (fwd.stop(timeout_s=0.5), stopped.set()), daemon=True).start()
        assert stopped.wait(10), "stop() waited for the hanging upstream"
    finally:
        hanging.stop()


def test_a_bad_forward_url_is_refused():
    for url in ("otel:4318", "ftp://x", "http://", "http://h:99999", "http://a b"):
        with pytest.raises(ConfigError, match="--forward"):
            Forwarder(url)
