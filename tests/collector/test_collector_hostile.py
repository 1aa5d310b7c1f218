"""OTLP/HTTP intake under hostile input: bombs, framing games, slow clients, poison spans,
oversized spans, foreign content types and a full in-flight budget. Each gets a clear
status (or is clamped) and the collector keeps serving."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from genai_tap import semconv as sc
from genai_tap_collector.limits import MiB, Limits
from genai_tap_collector.rows import MAX_NS
from genai_tap_collector.server import Collector

from conftest import get, kv, raw_http, request_pb, rss_peak_mb, send, span_pb, statuses, wait_for

PB = "application/x-protobuf"


def head(path: str = "/v1/traces", content_type: str = PB, extra: str = "", close: bool = True) -> bytes:
    """A request's head; ``Connection: close`` so that the reply ends with the connection."""
    keep = "Connection: close\r\n" if close else ""
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{keep}{extra}".encode()


def stored(c: Collector) -> int:
    return get(c.ui_url + "/api/health")["stored_spans"]


@pytest.fixture
def limited(tmp_path):
    made = []

    def make(**limits):
        c = Collector(tmp_path / f"c{len(made)}.db", otlp_port=0, ui_port=0, limits=Limits(**limits)).start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def bomb(kind: str, size: int) -> bytes:
    """``size`` zero bytes compressed as a stream (the test never holds them); gzip past
    64 MiB as concatenated members of 64 MiB each (valid gzip, about 64 KB each)."""
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[kind]
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    chunk = bytes(1024 * 1024)
    member = min(size, 64 * MiB) // len(chunk)
    body = b"".join(z.compress(chunk) for _ in range(member)) + z.flush()
    return body * (size // (member * len(chunk))) if kind == "gzip" else body


def test_compression_bombs_get_413(limited):
    c = limited(max_request_bytes=1 * MiB, max_inflight_bytes=8 * MiB)
    for kind, encoding in (("gzip", "gzip"), ("deflate", "deflate"), ("raw-deflate", "deflate")):
        body = bomb(kind, 64 * MiB)
        assert len(body) < 200_000
        raw = raw_http(c.otlp_port, head(extra=f"Content-Encoding: {encoding}\r\nContent-Length: {len(body)}\r\n\r\n").rstrip(b"\r\n")
                       + b"\r\n\r\n" + body)
        assert statuses(raw) == [413], (kind, raw[:200])
        assert b"decompresses to more than" in raw
    # concatenated gzip members are decompressed (and limited) as a whole
    member = gzip.compress(bytes(600 * 1024))
    body = member * 2
    raw = raw_http(c.otlp_port, head(extra=f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n") + body)
    assert statuses(raw) == [413]
    assert stored(c) == 0


@pytest.mark.slow
def test_bombs_and_huge_attributes_keep_the_collectors_memory_bounded(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(tmp_path / "m.db"),
                             "--otlp-port", "0", "--ui-port", "0", "--grpc-port", "0", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = ""
        while "web UI:" not in banner:
            banner += proc.stdout.readline()
        port = int(re.search(r"OTLP_ENDPOINT=http://[0-9.]+:(\d+)", banner).group(1))
        base = rss_peak_mb(proc.pid)
        gz = bomb("gzip", 1024 * MiB)  # 1 GiB of zeros in about 1 MB: once grew the collector by 2 GB
        assert len(gz) < 1_200_000
        raw = raw_http(port, head(extra=f"Content-Encoding: gzip\r\nContent-Length: {len(gz)}\r\n\r\n") + gz)
        assert statuses(raw) == [413]
        # 25 requests, each one non-GenAI span with a 4 MB attribute (once kept in memory, waiting for a parent)
        for _ in range(25):
            body = request_pb([span_pb("GET /healthz", genai=False, attrs={"blob": "x" * (4 * MiB)})])
            raw = raw_http(port, head(extra=f"Content-Length: {len(body)}\r\n\r\n") + body)
            assert statuses(raw) == [200]
        assert rss_peak_mb(proc.pid) - base < 150, "the collector grew by more than 150 MB"
    finally:
        proc.terminate()
        proc.wait(30)


def test_content_length_games(limited):
    c = limited(max_request_bytes=1 * MiB, max_inflight_bytes=4 * MiB)
    body = request_pb([span_pb()])
    cases = [
        (head() + b"\r\n" + body, 411),  # neither Content-Length nor chunked
        (head(extra="Content-Length: -1\r\n\r\n") + body, 400),
        (head(extra="Content-Length: abc\r\n\r\n") + body, 400),
        (head(extra="Content-Length: +5\r\n\r\n") + body, 400),
        (head(extra=f"Content-Length: {len(body)}\r\nContent-Length: 3\r\n\r\n") + body, 400),
        (head(extra="Transfer-Encoding: gzip\r\n\r\n") + body, 400),
        (head(extra=f"Transfer-Encoding: chunked\r\nContent-Length: {len(body)}\r\n\r\n") + body, 400),
        (head(extra="Content-Length: 99999999999\r\n\r\n") + body, 413),  # refused before reading it
    ]
    for data, status in cases:
        raw = raw_http(c.otlp_port, data, timeout=5)
        assert statuses(raw) == [status], (data[:160], raw[:300])
        assert b"Connection: close" in raw  # the body was not read: the connection cannot be reused
    assert stored(c) == 0
    assert statuses(raw_http(c.otlp_port, head(extra=f"Content-Length: {len(body)}\r\n\r\n") + body)) == [200]
    assert stored(c) == 1


def chunked(body: bytes, size: int = 100, extension: bytes = b"") -> bytes:
    parts = [b"%x%s\r\n%s\r\n" % (len(body[i:i + size]), extension, body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n"


def test_chunked_bodies_are_read_and_the_connection_stays_in_step(limited):
    c = limited(max_request_bytes=64 * 1024, max_inflight_bytes=1 * MiB)
    first, second = request_pb([span_pb()], "chunked-app"), request_pb([span_pb()], "plain-app")
    data = (head(extra="Transfer-Encoding: chunked\r\n\r\n", close=False) + chunked(first, 97, b";ext=1")
            + b"X-Trailer: yes\r\n\r\n" + head(extra=f"Content-Length: {len(second)}\r\n\r\n") + second)
    raw = raw_http(c.otlp_port, data)
    assert statuses(raw) == [200, 200]  # the chunk bytes were not taken for a second request
    apps = {a["app"] for a in get(c.ui_url + "/api/apps")["apps"]}
    assert apps == {"chunked-app", "plain-app"}
    for bad in (b"zz\r\nabc\r\n0\r\n\r\n", b"-5\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXY0\r\n\r\n"):
        assert statuses(raw_http(c.otlp_port, head(extra="Transfer-Encoding: chunked\r\n\r\n") + bad)) == [400], bad
    big = os.urandom(100 * 1024)
    assert statuses(raw_http(c.otlp_port, head(extra="Transfer-Encoding: chunked\r\n\r\n") + chunked(big, 8192)
                             + b"\r\n")) == [413]
    assert stored(c) == 2


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass  # an error answer may come first
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def test_slow_and_idle_clients_are_cut_off_and_others_are_served(limited):
    c = limited(request_timeout_s=1.0, idle_timeout_s=1.0)
    t0 = time.monotonic()
    slow = [socket.create_connection(("127.0.0.1", c.otlp_port)) for _ in range(3)]
    slow[0].sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")  # headers, never finished
    slow[1].sendall(head(extra="Content-Length: 100000\r\n\r\n") + b"only a few bytes")  # body, never finished
    # slow[2] sends nothing at all
    assert send(c, [span_pb()]).partial_success.rejected_spans == 0  # meanwhile, requests are served
    for s in slow:
        assert closed_by_server(s, 10)
        s.close()
    assert time.monotonic() - t0 < 8
    assert stored(c) == 1


def test_connections_beyond_the_cap_get_503(limited):
    c = limited(max_connections=2, request_timeout_s=30.0)
    held = [socket.create_connection(("127.0.0.1", c.otlp_port)) for _ in range(2)]
    for s in held:
        s.sendall(b"POST /v1/traces HTTP/1.1\r\n")  # occupying a slot each
    time.sleep(0.3)
    raw = raw_http(c.otlp_port, head(extra="Content-Length: 0\r\n\r\n"))
    assert statuses(raw) == [503] and b"Retry-After: 1" in raw
    for s in held:
        s.close()
    wait_for(lambda: statuses(raw_http(c.otlp_port, head(extra="Content-Length: 0\r\n\r\n"))) == [200],
             "a free connection slot")


def test_only_the_otlp_content_types_are_accepted(collector):
    body = request_pb([span_pb()])
    for ctype, status in (("", 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
                          ("multipart/form-data; boundary=x", 415), ("application/octet-stream", 415)):
        extra = f"Content-Length: {len(body)}\r\n\r\n"
        data = ("POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + (f"Content-Type: {ctype}\r\n" if ctype else "") + extra).encode()
        assert statuses(raw_http(collector.otlp_port, data + body)) == [status], ctype
    assert stored(collector) == 0
    for ctype in ("application/x-protobuf; charset=binary", "APPLICATION/X-PROTOBUF"):
        raw = raw_http(collector.otlp_port, head(content_type=ctype, extra=f"Content-Length: {len(body)}\r\n\r\n") + body)
        assert statuses(raw) == [200]
    assert stored(collector) == 1  # the same span twice: stored once


def test_poison_spans_are_rejected_or_clamped_alone(collector):
    now = time.time_ns()
    good = span_pb(attrs={"gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text",
                                                                                            "content": "ok"}]}])})
    huge_tokens = [span_pb(attrs={sc.USAGE_INPUT_TOKENS: 2**63 - 1}) for _ in range(2)]
    negative = span_pb(attrs={sc.USAGE_INPUT_TOKENS: -5, sc.USAGE_OUTPUT_TOKENS: "12"})
    beyond = span_pb(start_ns=2**64 - 10**9, duration_ms=1)
    backwards = span_pb()
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 10**9
    zero_span = span_pb(span_id=bytes(8))
    short_trace = span_pb(trace_id=b"abc")
    response = send(collector, [good, *huge_tokens, negative, beyond, backwards, zero_span, short_trace], "poison")
    assert response.partial_success.rejected_spans == 2
    assert "invalid span_id" in response.partial_success.error_message
    assert "invalid trace_id" in response.partial_success.error_message
    assert stored(collector) == 6
    for path in ("/", "/api/apps", "/api/stats", "/api/traces", "/api/errors", "/apps/poison", "/api/apps/poison",
                 "/traces", "/errors"):
        with urllib.request.urlopen(collector.ui_url + path, timeout=30) as resp:
            assert resp.status == 200, path
    calls = {c["span_id"]: c for c in get(collector.ui_url + "/api/traces?app=poison")["items"]}
    assert calls[huge_tokens[0].span_id.hex()]["input_tokens"] == 2**31 - 1
    assert calls[huge_tokens[0].span_id.hex()]["notes"] == ["token count out of range"]
    assert calls[negative.span_id.hex()]["input_tokens"] is None and calls[negative.span_id.hex()]["output_tokens"] == 12
    moved = calls[beyond.span_id.hex()]
    assert moved["notes"] == ["time clamped"] and abs(moved["start_ns"] - now) < 120 * 10**9
    assert calls[backwards.span_id.hex()]["duration_ms"] == 0 and calls[backwards.span_id.hex()]["notes"] == ["time clamped"]
    total = get(collector.ui_url + "/api/stats")["total"]
    assert total["input_tokens"] == 2 * (2**31 - 1) + 100 * 3
    assert all(0 <= c["start_ns"] <= MAX_NS for c in calls.values())
    collector.alerts.evaluate()  # rules read the same sums: nothing to fail on


def test_json_body_with_one_bad_id_stores_the_rest(collector):
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest.FromString(request_pb([span_pb(), span_pb(), span_pb()], "json-app"))
    data = json.loads(json_format.MessageToJson(req))
    for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId"):
            span[key] = base64.b64decode(span[key]).hex()
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["traceId"] = "not-hex"
    request = urllib.request.Request(
        collector.otlp_url + "/v1/traces", data=json.dumps(data).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        answer = json.loads(resp.read())
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "invalid trace_id" in answer["partialSuccess"]["errorMessage"]
    assert stored(collector) == 2


def test_spans_from_the_future_move_to_their_receipt_time(collector):
    year = 365 * 86400 * 10**9
    span = span_pb(start_ns=time.time_ns() + year, duration_ms=250)
    send(collector, [span], "future")
    call = get(collector.ui_url + "/api/traces?since=15m&app=future")["items"][0]
    assert call["notes"] == ["time clamped"] and call["duration_ms"] == 250


def test_attributes_events_and_values_over_the_limits(limited):
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    c = limited(max_attributes=50, max_events=5, max_value_bytes=64 * 1024)
    span = span_pb(attrs={"big": "é" * (600 * 1024)})
    span.attributes.extend(kv(f"extra.{i}", i) for i in range(10_000))
    span.events.extend(Span.Event(name=f"e{i}", time_unix_nano=span.start_time_unix_nano) for i in range(100))
    send(c, [span], "wide")
    call = get(c.ui_url + "/api/traces?app=wide")["items"][0]
    assert set(call["notes"]) == {"attributes dropped", "values truncated"}
    trace = get(f"{c.ui_url}/api/traces/{call['trace_id']}")["spans"][0]
    assert len(trace["attributes"]) == 50
    assert trace["dropped"] == {"attributes": 10_000 + 7 - 50, "events": 95}
    assert len(trace["events"]) == 5
    assert len(trace["attributes"]["big"].encode()) <= 64 * 1024
    assert call["input_tokens"] == 100  # the GenAI attributes come first and are kept


def stall_chunked(port: int, nbytes: int) -> socket.socket:
    """A chunked request that sends ``nbytes`` of its body and waits (holding them)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head(extra="Transfer-Encoding: chunked\r\n\r\n") + b"%x\r\n" % nbytes + bytes(nbytes) + b"\r\n")
    return s


def fill_budget(c: Collector, chunk: int, count: int = 2) -> list:
    holders = [stall_chunked(c.otlp_port, chunk) for _ in range(count)]
    wait_for(lambda: c.ingest.budget.used >= count * chunk, "the stalled requests' reservations")
    return holders


def test_a_full_in_flight_budget_answers_503_with_retry_after(limited):
    c = limited(max_request_bytes=1 * MiB, max_inflight_bytes=2 * MiB)
    holders = fill_budget(c, 1000 * 1024)
    body = request_pb([span_pb(attrs={"pad": "x" * 100_000})])
    raw = raw_http(c.otlp_port, head(extra=f"Content-Length: {len(body)}\r\n\r\n") + body)
    assert statuses(raw) == [503] and b"Retry-After: 1" in raw
    assert c.received["refused_busy"] == 1
    for h in holders:
        h.close()
    wait_for(lambda: c.ingest.budget.used == 0, "the reservations to be released")
    assert statuses(raw_http(c.otlp_port, head(extra=f"Content-Length: {len(body)}\r\n\r\n") + body)) == [200]


def test_the_sdk_exporter_retries_after_503_and_its_spans_land(limited, sender_for):
    c = limited(max_request_bytes=128 * 1024, max_inflight_bytes=256 * 1024)
    holders = fill_budget(c, 128 * 1024 - 100)  # 200 bytes left: not enough for any export
    s = sender_for(c, "patient-app")
    done = threading.Event()

    def export() -> None:
        s.call("amazon.nova-lite-v1:0")  # SimpleSpanProcessor: exports (and retries) in this thread
        done.set()

    t = threading.Thread(target=export, daemon=True)
    t.start()
    wait_for(lambda: c.received["refused_busy"] >= 1, "the collector refusing the export")
    assert not done.is_set()
    for h in holders:
        h.close()  # room again: the exporter's retry (after Retry-After: 1) gets in
    assert done.wait(20)
    assert [a["app"] for a in get(c.ui_url + "/api/apps")["apps"]] == ["patient-app"]


def test_export_response_is_an_otlp_response(collector):
    req = urllib.request.Request(collector.otlp_url + "/v1/traces", data=request_pb([span_pb()]),
                                                       method="POST", headers={"Content-Type": PB})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"] == PB
        assert ExportTraceServiceResponse.FromString(resp.read()) == ExportTraceServiceResponse()


def test_json_bodies_have_a_lower_limit(limited):
    c = limited()
    big = json.dumps({"resourceSpans": [], "padding": "p" * (9 * MiB)}).encode()  # decoded JSON is many times larger
    raw = raw_http(c.otlp_port, head(content_type="application/json", extra=f"Content-Length: {len(big)}\r\n\r\n") + big)
    assert statuses(raw) == [413] and b"limit for JSON" in raw
