"""Who may talk to the collector: the bind rule, the token on OTLP and the UI, the Host check,
the Content-Type rule and the UI's security headers, over real HTTP to a real collector."""

from __future__ import annotations

import http.client
import subprocess
import sys
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

import pytest
from conftest import get, wait_for
from genai_tap_collector import exposure
from genai_tap_collector.configfile import ConfigError
from genai_tap_collector.server import Collector
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from genai_tap import semconv as sc

TOKEN = "s3cret-token-for-tests-0123456789"
PROTOBUF = "application/x-protobuf"


def request(url: str, method: str = "GET", headers: Optional[Dict[str, str]] = None,
            body: Optional[bytes] = None) -> Tuple[int, http.client.HTTPMessage, bytes]:
    """One request with exactly these headers (Host included, when given)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                        skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def one_span_body(app: str = "shop") -> bytes:
    provider = TracerProvider(resource=Resource.create({"service.name": app}))
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("chat m", attributes={sc.OPERATION_NAME: "chat", sc.REQUEST_MODEL: "m"}).end()
    provider.shutdown()
    return encode_spans(memory.get_finished_spans()).SerializeToString()


@pytest.fixture
def guarded(tmp_path):
    with Collector(tmp_path / "guarded.db", otlp_port=0, ui_port=0, auth_token=TOKEN,
                   allowed_hosts=["collector.example.org"]) as c:
        yield c


# ---------------------------------------------------------------------------- bind


def test_a_non_loopback_bind_needs_a_token(tmp_path):
    for host in ("0.0.0.0", "::", "", "192.0.2.10", "collector.example.org"):
        with pytest.raises(ConfigError) as err:
            Collector(tmp_path / "x.db", host=host, otlp_port=0, ui_port=0)
        text = str(err.value)
        assert "--auth-token" in text and "GENAI_TAP_COLLECTOR_TOKEN" in text and "\n" not in text
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert exposure.bind_error(host, None) is None
    with pytest.raises(ConfigError, match="at least 16 characters"):
        Collector(tmp_path / "x.db", host="0.0.0.0", auth_token="short")
    with pytest.raises(ConfigError, match="visible ASCII"):
        Collector(tmp_path / "x.db", host="0.0.0.0", auth_token="a token with spaces in it")
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened or bound


@pytest.mark.slow
def test_the_command_refuses_in_one_line_and_warns_once_when_exposed(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(tmp_path / "c.db"),
                           "--host", "0.0.0.0", "--otlp-port", "0", "--ui-port", "0"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genai-tap collector: --host 0.0.0.0")
    assert "--auth-token" in lines[0] and "$GENAI_TAP_COLLECTOR_TOKEN" in lines[0]
    assert "Traceback" not in proc.stderr
    warning = exposure.exposure_warning("0.0.0.0")
    assert warning is not None and "token" in warning
    assert exposure.exposure_warning("127.0.0.1") is None


def test_the_token_also_comes_from_the_environment(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GENAI_TAP_COLLECTOR_TOKEN": "short"}
    proc = subprocess.run([sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(tmp_path / "c.db"),
                           "--host", "0.0.0.0", "--otlp-port", "0", "--ui-port", "0"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "at least 16 characters" in proc.stderr  # the env token was read and checked


# ---------------------------------------------------------------------------- OTLP


@pytest.mark.slow
def test_otlp_needs_the_bearer_token(guarded):
    body = one_span_body()
    url = guarded.otlp_url + "/v1/traces"
    status, _, _ = request(url, "POST", {"Content-Type": PROTOBUF}, body)
    assert status == 401
    status, _, _ = request(url, "POST", {"Content-Type": PROTOBUF, "Authorization": "Bearer wrong-token-000000000"}, body)
    assert status == 401
    status, _, _ = request(url, "POST", {"Content-Type": PROTOBUF, "Authorization": f"Basic {TOKEN}"}, body)
    assert status == 401
    assert guarded.received["requests"] == 0

    # the OpenTelemetry SDK's exporter, with the header as OTEL_EXPORTER_OTLP_HEADERS would give it
    provider = TracerProvider(resource=Resource.create({"service.name": "tokened-app"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=url, headers={"authorization": f"Bearer {TOKEN}"})))
    provider.get_tracer("t").start_span("chat m", attributes={sc.OPERATION_NAME: "chat", sc.REQUEST_MODEL: "m"}).end()
    provider.shutdown()
    apps = wait_for(lambda: get_with_token(guarded.ui_url + "/api/apps")["apps"], "the exported span")
    assert [a["app"] for a in apps] == ["tokened-app"]


def get_with_token(url: str) -> dict:
    import json

    status, _, body = request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return json.loads(body)


def test_check_otlp_reads_grpc_metadata_too():
    allowed = exposure.allowed_hosts("127.0.0.1")
    assert exposure.check_otlp({"authorization": f"Bearer {TOKEN}"}, TOKEN, allowed) is None
    assert exposure.check_otlp({"AUTHORIZATION": f"bearer {TOKEN}"}, TOKEN, allowed) is None
    assert exposure.check_otlp({}, TOKEN, allowed)[0] == 401
    assert exposure.check_otlp({"authorization": "Bearer nope"}, TOKEN, allowed)[0] == 401
    assert exposure.check_otlp({}, None, allowed) is None
    assert exposure.check_otlp({"host": "evil.example:4318"}, None, allowed)[0] == 421


@pytest.mark.slow
def test_a_body_without_a_protobuf_or_json_content_type_is_refused(collector):
    body = one_span_body()
    url = collector.otlp_url + "/v1/traces"
    # what a web page can send cross-site without a preflight: no Content-Type, text/plain, a form
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}):
        status, _, _ = request(url, "POST", headers, body)
        assert status == 415, headers
    assert get(collector.ui_url + "/api/health")["stored_spans"] == 0
    status, _, _ = request(url, "POST", {"Content-Type": PROTOBUF}, body)
    assert status == 200
    assert get(collector.ui_url + "/api/health")["stored_spans"] == 1


# ---------------------------------------------------------------------------- Host


@pytest.mark.parametrize("host, admitted", [
    ("127.0.0.1:{port}", True), ("localhost:{port}", True), ("LOCALHOST.:{port}", True), ("[::1]:{port}", True),
    ("app.localhost:{port}", True), ("10.1.2.3:{port}", True), ("collector.example.org:{port}", True),
    ("attacker.example:{port}", False), ("127.0.0.1.nip.io:{port}", False), ("localhost.evil.example", False),
])
@pytest.mark.slow
def test_only_this_machines_names_are_answered(guarded, host, admitted):
    for base, path in ((guarded.ui_url, "/api/health"), (guarded.otlp_url, "/v1/traces")):
        port = urlsplit(base).port
        headers = {"Host": host.format(port=port), "Authorization": f"Bearer {TOKEN}", "Content-Type": PROTOBUF}
        method, body = ("POST", ExportTraceServiceRequest().SerializeToString()) if path == "/v1/traces" else ("GET", None)
        status, _, text = request(base + path, method, headers, body)
        assert (status != 421) == admitted, (base, host, status, text)
        if not admitted:
            assert status == 421


@pytest.mark.slow
def test_the_host_check_guards_a_loopback_collector_without_a_token(collector):
    status, _, body = request(collector.ui_url + "/api/traces", headers={"Host": "rebound.attacker.example"})
    assert status == 421 and b"--allowed-host rebound.attacker.example" in body
    status, _, _ = request(collector.ui_url + "/traces", headers={"Host": f"localhost:{collector.ui_port}"})
    assert status == 200


# ---------------------------------------------------------------------------- UI


@pytest.mark.slow
def test_the_ui_asks_for_the_token_and_keeps_a_session_cookie(guarded):
    ui = guarded.ui_url
    status, headers, body = request(ui + "/api/apps")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer") and b"token" in body
    status, _, body = request(ui + "/traces?app=shop")
    assert status == 401 and b'action="/login"' in body and b'name="token"' in body
    assert b'value="/traces?app=shop"' in body  # where to go after logging in
    assert request(ui + "/api/apps", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert request(ui + "/api/apps", headers={"Authorization": "Bearer not-the-token-000000"})[0] == 401

    # ?token= once: a cookie, and the same page without the token in its address
    status, headers, _ = request(ui + f"/traces?app=shop&token={TOKEN}")
    assert status == 303 and headers["Location"] == "/traces?app=shop"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    session = cookie.split(";", 1)[0]
    assert request(ui + "/traces", headers={"Cookie": session})[0] == 200
    assert request(ui + "/api/apps", headers={"Cookie": session})[0] == 200
    assert request(ui + "/traces", headers={"Cookie": session[:-4] + "0000"})[0] == 401
    assert request(ui + f"/traces?token=wrong-{TOKEN}")[0] == 401

    # the login form
    form = f"token={TOKEN}&next=/errors".encode()
    status, headers, _ = request(ui + "/login", "POST", {"Content-Type": "application/x-www-form-urlencoded"}, form)
    assert status == 303 and headers["Location"] == "/errors" and headers["Set-Cookie"].split(";", 1)[0] == session
    status, headers, _ = request(ui + "/login", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                                 f"token={TOKEN}&next=//evil.example/".encode())
    assert status == 303 and headers["Location"] == "/"  # never sent off to another site
    status, headers, body = request(ui + "/login", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                                    b"token=nope&next=/errors")
    assert status == 401 and "Set-Cookie" not in headers and b"not this collector" in body


SECURITY = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


@pytest.mark.slow
def test_every_ui_answer_has_the_security_headers(collector, sender_for):
    sender_for(collector).call("us.amazon.nova-lite-v1:0")
    ui = collector.ui_url
    answers = [request(ui + p) for p in ("/", "/traces", "/api/traces", "/errors", "/alerts", "/nothing", "/api/nothing",
                                         "/traces?page=0", "/api/traces?since=soon")]
    answers.append(request(ui + "/", "PUT", {}, b""))  # http.server's own error page
    answers.append(request(ui + "/api/apps", headers={"Host": "evil.example"}))
    assert sorted({a[0] for a in answers}) == [200, 400, 404, 421, 501]
    for status, headers, _ in answers:
        for name, value in SECURITY.items():
            assert headers[name] == value, (status, name)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert "'unsafe-inline'" not in csp
