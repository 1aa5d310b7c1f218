"""Fault injection: whatever breaks inside genai-tap, the app sees exactly what it would without it.

Each case breaks one thing (a parser, a sink, the OTLP endpoint, the response
body) and checks three promises: the app's results and exceptions are unchanged,
genai-tap logs one warning per distinct failure (not one per call), and later
calls are still traced.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from genai_tap_bedrock import formats
from genai_tap_bedrock.formats.nova import Nova

from genai_tap import guard
from genai_tap import semconv as sc

from .support.apps import NO_THREADS_AT_EXIT, aws_env, run_app

NOVA = "amazon.nova-lite-v1:0"
BODY = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})


def _genai_tap_warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "genai_tap" and r.levelno >= logging.WARNING]


class _Broken(Nova):
    """Nova's format, broken in one method."""

    model_prefixes = ("amazon.nova-lite-v1",)  # longer than Nova's: chosen first

    def __init__(self, where: str) -> None:
        self.where = where

    def _boom(self) -> None:
        raise RuntimeError(f"broken {self.where}")

    def parse_request(self, body: Any, rec: Any) -> None:
        if self.where == "request":
            self._boom()
        super().parse_request(body, rec)

    def parse_response(self, body: Any, rec: Any) -> None:
        if self.where == "response":
            self._boom()
        super().parse_response(body, rec)

    def parse_chunk(self, chunk: Any, rec: Any, stream: Any) -> None:
        if self.where == "chunk":
            self._boom()
        super().parse_chunk(chunk, rec, stream)


@pytest.fixture
def broken_format(request: pytest.FixtureRequest) -> Iterator[None]:
    fmt = _Broken(request.param)
    formats.register(fmt)
    yield
    formats.all_formats().remove(fmt)
    formats._by_prefix.clear()


@pytest.mark.expect_swallowed
@pytest.mark.parametrize("broken_format", ["request", "response", "chunk"], indirect=True)
def test_a_parser_that_raises(broken_format: None, tap: Any, client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="genai_tap")
    outputs = []
    for _ in range(3):
        resp = client.invoke_model(modelId=NOVA, body=BODY)
        outputs.append(json.loads(resp["body"].read())["output"])
        events = list(client.invoke_model_with_response_stream(modelId=NOVA, body=BODY)["body"])
        assert events and "chunk" in events[-1]
    assert all(o == outputs[0] for o in outputs)
    assert outputs[0]["message"]["content"][0]["text"].startswith("Hello")
    spans = tap.spans()
    assert len(spans) == 6  # every call still has its span
    assert all(s.attributes[sc.REQUEST_MODEL] == NOVA for s in spans)
    warnings = _genai_tap_warnings(caplog)
    assert len(warnings) == 1 and "broken" in warnings[0]  # one warning, not one per call
    assert sum(guard.failure_counts().values()) >= 3


class _Failing:
    name = "failing"

    def __init__(self, when: str) -> None:
        self.when = when

    def start(self, rec: Any) -> Any:
        if self.when == "start":
            raise ValueError("sink start failed")
        return None

    def release(self, handle: Any) -> None:
        if self.when == "release":
            raise ValueError("sink release failed")

    def link(self, rec: Any, handle: Any) -> None:
        if self.when == "link":
            raise ValueError("sink link failed")

    def finish(self, rec: Any, handle: Any) -> None:
        if self.when == "finish":
            raise ValueError("sink finish failed")

    def flush(self, timeout_s: float) -> None:
        pass

    def shutdown(self, timeout_s: float) -> None:
        pass


@pytest.mark.expect_swallowed
@pytest.mark.parametrize("when", ["start", "release", "link", "finish"])
def test_a_sink_that_raises(when: str, tap: Any, client: Any, caplog: pytest.LogCaptureFixture) -> None:
    from genai_tap.tap import get_tap

    caplog.set_level(logging.WARNING, logger="genai_tap")
    get_tap().sinks.insert(0, _Failing(when))
    for _ in range(3):
        assert json.loads(client.invoke_model(modelId=NOVA, body=BODY)["body"].read())
        assert list(client.converse_stream(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "x"}]}])["stream"])
    assert len(tap.spans()) == 6  # the other sink is not affected
    warnings = _genai_tap_warnings(caplog)
    assert len(warnings) == 1 and f"failing sink ({when})" in warnings[0]


@pytest.mark.parametrize("fault", ["malformed", "nonjson", "empty"])
@pytest.mark.expect_swallowed
def test_broken_response_bodies(fault: str, tap: Any, client: Any, fresh_emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="genai_tap")
    seen = []
    for _ in range(2):
        fresh_emulator.add_fault(fault, model=NOVA)
        data = client.invoke_model(modelId=NOVA, body=BODY)["body"].read()
        seen.append(data)
        with pytest.raises(ValueError):
            json.loads(data)  # the app's own parse fails exactly as it would without genai-tap
    from genai_tap.emulator.server import BODY_FAULTS

    assert seen == [BODY_FAULTS[fault]] * 2
    assert len(tap.spans()) == 2
    assert len(_genai_tap_warnings(caplog)) <= 1
    client.invoke_model(modelId=NOVA, body=BODY)  # and the next call is traced in full
    assert json.loads(tap.spans()[-1].attributes[sc.OUTPUT_MESSAGES])


def test_gigantic_body_is_not_parsed(tap: Any, client: Any, fresh_emulator: Any) -> None:
    fresh_emulator.add_fault("huge", model=NOVA)
    data = client.invoke_model(modelId=NOVA, body=BODY)["body"].read()
    assert len(data) > 5 * 1024 * 1024 and json.loads(data)["stopReason"] == "end_turn"
    a = tap.span().attributes
    assert sc.OUTPUT_MESSAGES not in a  # over GENAI_TAP_MAX_BODY_BYTES: span ends without output content
    assert sc.INPUT_MESSAGES in a


@pytest.mark.parametrize(
    "model, body",
    [
        (NOVA, b""),
        (NOVA, b"{not json"),
        (NOVA, b"[1, 2, 3]"),
        (NOVA, json.dumps({"messages": "not a list", "inferenceConfig": {"maxTokens": "many"}}).encode()),
        ("anthropic.claude-3-haiku-20240307-v1:0", json.dumps({"anthropic_version": "x", "messages": [{"role": "user", "content": [{"type": "image"}, 5, None]}]}).encode()),
        ("amazon.some-future-model-v9:0", b'{"anything": true}'),
        ("arn:aws:bedrock:us-east-1:123456789012:imported-model/unknown", b'{"prompt": 42}'),
    ],
)
def test_odd_requests_never_break_the_call(model: str, body: bytes, tap: Any, client: Any, request: pytest.FixtureRequest) -> None:
    def call() -> Any:
        try:
            return ("ok", json.loads(client.invoke_model(modelId=model, body=body)["body"].read())["output"]["message"]["role"])
        except Exception as exc:  # noqa: BLE001
            return ("error", type(exc).__name__, str(exc))

    traced = call()
    from genai_tap_bedrock import interceptor

    interceptor.active = False
    try:
        bare = call()
    finally:
        interceptor.active = True
    assert traced == bare
    assert len(tap.spans()) == 1


# ------------------------------------------------------------------------------------ OTLP endpoint

APP = """
import json, boto3
client = boto3.client("bedrock-runtime")
for i in range(5):
    resp = client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps({"messages": [{"role": "user", "content": [{"text": f"call {i}"}]}]}))
    print(json.loads(resp["body"].read())["output"]["message"]["content"][0]["text"])
"""


class _BadCollector:
    """An OTLP endpoint that misbehaves: answers a status, or accepts and never answers."""

    def __init__(self, status: int) -> None:
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                owner.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if status == 0:
                    threading.Event().wait(60)  # hang
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Retry-After", "1")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _closed_port() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ["down", "hangs", "500", "429"])
def test_otlp_endpoint_trouble(endpoint: str, emulator: Any, tmp_path: Path) -> None:
    bad = None
    if endpoint == "down":
        url = _closed_port()
    else:
        bad = _BadCollector(0 if endpoint == "hangs" else int(endpoint))
        url = bad.url
    try:
        env = aws_env(emulator.url)
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=url, GENAI_TAP_FLUSH_TIMEOUT="2", OTEL_EXPORTER_OTLP_TIMEOUT="3")
        bare = run_app(APP, env, tmp_path, traced=False)
        traced = run_app(APP, env, tmp_path, traced=True, timeout=60)  # exits: the flush at exit is bounded
        assert traced.returncode == bare.returncode == 0
        assert traced.stdout == bare.stdout
        assert len(traced.stdout.splitlines()) == 5
        if bad is not None:
            assert bad.requests >= 1  # genai-tap did try to export
        # the app's stderr holds one line of genai-tap's about it: not the SDK's own retries, failures
        # and tracebacks, not one per call or per retry, not a second one about the exit flush
        lines = [line for line in traced.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("genai-tap: "), traced.stderr
        # it says where to look: the export errors at DEBUG, or (a hanging endpoint, where no thread may
        # start at exit) the flush timeout that ran out
        assert "GENAI_TAP_LOG_LEVEL=DEBUG" in lines[0] or "GENAI_TAP_FLUSH_TIMEOUT" in lines[0], lines[0]
    finally:
        if bad is not None:
            bad.close()


@pytest.mark.slow
def test_a_hanging_endpoint_does_not_hold_up_an_exit_where_no_thread_may_start(emulator: Any, tmp_path: Path) -> None:
    """Python 3.12 at exit (no new thread): the flush waits on the finisher's thread, and
    gives up after GENAI_TAP_FLUSH_TIMEOUT as it does elsewhere, saying so once."""
    bad = _BadCollector(0)
    try:
        env = aws_env(emulator.url)
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=bad.url, GENAI_TAP_FLUSH_TIMEOUT="2", OTEL_EXPORTER_OTLP_TIMEOUT="30")
        bare = run_app(APP + NO_THREADS_AT_EXIT, env, tmp_path, traced=False)
        traced = run_app(APP + NO_THREADS_AT_EXIT, env, tmp_path, traced=True, timeout=25)  # far below the exporter's 30 s
        assert traced.returncode == bare.returncode == 0
        assert traced.stdout == bare.stdout
        assert bad.requests >= 1
        assert traced.stderr.count("shutdown did not finish within 2.0 s") == 1, traced.stderr
        assert "Exception ignored" not in traced.stderr and "Traceback" not in traced.stderr, traced.stderr
    finally:
        bad.close()


MALFORMED_APP = """
import json, boto3
client = boto3.client("bedrock-runtime")
for _ in range(3):
    data = client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))["body"].read()
    print(len(data))
"""


@pytest.mark.slow
@pytest.mark.parametrize("level, lines", [("WARNING", 1), ("DEBUG", None)])
def test_a_failure_inside_genai_tap_is_one_line_on_the_apps_stderr(level: str, lines: Any, fresh_emulator: Any, otlp: Any, tmp_path: Path) -> None:
    """By default one line per kind of failure, never a traceback; the traceback is there at DEBUG."""
    fresh_emulator.add_fault("malformed", count=3, model=NOVA)
    env = aws_env(fresh_emulator.url)
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url, GENAI_TAP_LOG_LEVEL=level)
    proc = run_app(MALFORMED_APP, env, tmp_path)
    from genai_tap.emulator.server import BODY_FAULTS

    assert proc.returncode == 0 and proc.stdout.split() == [str(len(BODY_FAULTS["malformed"]))] * 3
    ours = [line for line in proc.stderr.splitlines() if line.startswith("genai-tap:")]
    assert ours and "reading the response failed (JSONDecodeError" in ours[0]
    if lines is not None:
        assert proc.stderr.splitlines() == ours and len(ours) == lines
        assert "Traceback" not in proc.stderr
    else:
        assert "Traceback (most recent call last)" in proc.stderr
