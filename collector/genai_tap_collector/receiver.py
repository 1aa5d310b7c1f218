"""The OTLP/HTTP endpoint: ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs``.

A body that does not decode gets 400 (415 for an unsupported content type or
encoding) with a ``google.rpc.Status`` that says why, and nothing of it is
stored or forwarded. Logs are accepted (and forwarded) but not stored: the
views are built from spans, which carry the content in GenAI attributes.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Optional, Tuple

from google.protobuf import json_format
from google.rpc import status_pb2

from .logs import log
from .otlp import JSON, PROTOBUF, SIGNALS, BadPayload, decompress, parse

MAX_BODY = 64 * 1024 * 1024

#: ``ingest(path, message)`` stores a decoded request; raising fails the request with 500.
Ingest = Callable[[str, Any], None]


class OtlpHandler(BaseHTTPRequestHandler):
    ingest: Ingest
    forward: Optional[Callable[[str, str, Optional[str], bytes], None]] = None
    #: ``admit(headers)``: None, or (status, message) to refuse the request (exposure.check_otlp)
    admit: Optional[Callable[[Any], Optional[Tuple[int, str]]]] = None
    protocol_version = "HTTP/1.1"
    server_version = "genai-tap-collector"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("otlp: " + format, *args)

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        refusal = self.admit(self.headers) if self.admit is not None else None
        if refusal is not None:
            self.close_connection = True
            return self._answer(refusal[0], refusal[1], JSON if (self.headers.get("Content-Type") or "").startswith(JSON) else PROTOBUF)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._answer(413, f"body of {length} bytes is over the {MAX_BODY} byte limit", PROTOBUF)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or ""  # none: 415 (a web page can post a body without one)
        reply_type = JSON if content_type.split(";")[0].strip().lower() == JSON else PROTOBUF
        if path not in SIGNALS:
            return self._answer(404, f"no OTLP endpoint at {path}; use /v1/traces, /v1/metrics or /v1/logs", reply_type)
        if not content_type.strip():
            return self._answer(415, f"a Content-Type is required: {PROTOBUF} or {JSON}", reply_type)
        encoding = self.headers.get("Content-Encoding")
        try:
            message = parse(path, content_type, decompress(raw, encoding))
        except BadPayload as exc:
            log.info("rejected %s: %s", path, exc)
            return self._answer(exc.status, str(exc), reply_type)
        try:
            self.ingest(path, message)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the collector
            log.exception("storing %s failed", path)
            return self._answer(500, f"storing failed: {exc}", reply_type)
        if self.forward is not None:
            self.forward(path, content_type, encoding, raw)
        self._answer(200, "", reply_type)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") in ("", "/health"):
            return self._send(200, b'{"ok":true}', JSON)
        self._answer(405, "OTLP/HTTP takes POST requests at /v1/traces, /v1/metrics and /v1/logs", JSON)

    def _answer(self, status: int, message: str, content_type: str) -> None:
        body, ctype = _status_body(status, message, content_type)
        self._send(status, body, ctype)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _status_body(status: int, message: str, content_type: str) -> Tuple[bytes, str]:
    """An empty export response on success; a ``google.rpc.Status`` otherwise."""
    if status == 200:
        return (b"{}", JSON) if content_type == JSON else (b"", PROTOBUF)
    # INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED; INTERNAL otherwise
    rpc = status_pb2.Status(code={400: 3, 415: 3, 401: 16, 421: 7}.get(status, 13), message=message)
    if content_type == JSON:
        return json_format.MessageToJson(rpc).encode(), JSON
    return rpc.SerializeToString(), PROTOBUF


def make_handler(ingest: Ingest, forward: Optional[Callable[..., None]] = None,
                 admit: Optional[Callable[[Any], Optional[Tuple[int, str]]]] = None) -> type:
    return type("Handler", (OtlpHandler,), {"ingest": staticmethod(ingest), "forward": staticmethod(forward) if forward else None,
                                            "admit": staticmethod(admit) if admit else None})
