"""Datadog's real test agent (``ddapm-test-agent``), run from its own virtualenv.

It pins an older ``opentelemetry-proto`` than genai-tap needs, so
``scripts/ci-setup.sh`` installs it into ``.venv-testagent``. It is started on
127.0.0.1 with free ports (its OTLP defaults, 4318 and 4317, would collide with a
collector), with the ``DD_*`` variables unset (it would proxy to the agent they
name, or forward LLM Observability data to Datadog) and with forwarding off.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

from ..support.otlp import wait_for

ROOT = Path(__file__).resolve().parents[2]
EXECUTABLE = ROOT / ".venv-testagent" / "bin" / "ddapm-test-agent"
LLMOBS_PATH = "/api/v2/llmobs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def llmobs_spans(requests: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The LLM Observability span events in a list of stored requests (body base64 JSON)."""
    spans = []
    for req in requests:
        if not req["url"].endswith(LLMOBS_PATH):
            continue
        body = json.loads(base64.b64decode(req["body"]))
        for envelope in body if isinstance(body, list) else [body]:
            spans.extend(envelope.get("spans", ()))
    return spans


def tags(span: Dict[str, Any]) -> Dict[str, str]:
    """An LLMObs span event's ``"k:v"`` tags as a dict."""
    return dict(tag.split(":", 1) for tag in span["tags"])


def by_name(spans: List[Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
    return [s for s in spans if s["name"] == name]


def ours(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """genai-tap's spans: every one carries the Bedrock API in its metadata (ddtrace's own
    integration's spans do not; from ddtrace 4.1 they are also tagged ``integration:bedrock``)."""
    return [s for s in spans if "api" in (s["meta"].get("metadata") or {})]


def theirs(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The spans of ddtrace's own Bedrock integration."""
    mine = ours(spans)
    return [s for s in spans if not any(s is m for m in mine)]


class TestAgent:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.otlp_http_port = free_port()
        self.otlp_grpc_port = free_port()
        self.workdir = workdir
        self._proc: "subprocess.Popen[bytes] | None" = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "TestAgent":
        if not EXECUTABLE.exists():
            raise RuntimeError(f"{EXECUTABLE} is missing: run scripts/ci-setup.sh (make test does)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DD_")}
        self._log = open(self.workdir / "testagent.log", "wb")
        self._proc = subprocess.Popen(
            [
                str(EXECUTABLE),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--otlp-http-port", str(self.otlp_http_port),
                "--otlp-grpc-port", str(self.otlp_grpc_port),
                "--disable-llmobs-data-forwarding",
            ],
            env=env,
            cwd=str(self.workdir),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(self.url + "/info")
                return self
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = (self.workdir / "testagent.log").read_text(errors="replace")
                    raise RuntimeError(f"ddapm-test-agent did not start:\n{log}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    # ------------------------------------------------------------------ read back
    def clear(self) -> None:
        with urllib.request.urlopen(self.url + "/test/session/clear", timeout=10) as resp:
            resp.read()

    def requests(self) -> List[Dict[str, Any]]:
        return get_json(self.url + "/test/session/requests")

    def raw_bytes(self) -> bytes:
        """Every byte the tracer sent to the agent (request bodies, decoded from the agent's base64)."""
        return b"\n".join(base64.b64decode(r["body"]) for r in self.requests() if r.get("body"))

    def llmobs_spans(self, count: int = 1) -> List[Dict[str, Any]]:
        return wait_for(lambda: llmobs_spans(self.requests()), count)

    def apm_spans(self, count: int = 1) -> List[Dict[str, Any]]:
        """Every APM span received, flattened out of its trace."""
        return wait_for(lambda: [s for trace in get_json(self.url + "/test/session/traces") for s in trace], count)


class Intake:
    """A stand-in for Datadog's intake on 127.0.0.1: keeps every POST and accepts it."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: List[Dict[str, Any]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                posts.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        import threading

        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def llmobs_posts(self) -> List[Dict[str, Any]]:
        return [p for p in list(self.posts) if p["path"].endswith(LLMOBS_PATH)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
