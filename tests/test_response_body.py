"""InvokeModel's response body reaches the app exactly as it would without genai-tap.

A peer raises JSONDecodeError into apps that read the body in chunks; ddtrace's
integration loses the span when the app never reads the body. Each read style is
run twice, without and with genai-tap, and must give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict

import pytest

BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "A fairly long question so that the answer spans several small reads " * 3}],
    }
)
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def _read_all(body: Any) -> bytes:
    return body.read()


def _read_16(body: Any) -> bytes:
    out = b""
    while True:
        chunk = body.read(16)
        if not chunk:
            return out
        out += chunk


def _iter_chunks(body: Any) -> bytes:
    return b"".join(body.iter_chunks(chunk_size=7))


def _iter_lines(body: Any) -> bytes:
    return b"\n".join(body.iter_lines())


def _iterate(body: Any) -> bytes:
    return b"".join(iter(body))


def _readinto(body: Any) -> bytes:
    buf = bytearray(4096)
    n = body.readinto(buf)
    return bytes(buf[:n])


READS: Dict[str, Callable[[Any], bytes]] = {
    "read()": _read_all,
    "read(16) loop": _read_16,
    "iter_chunks()": _iter_chunks,
    "iter_lines()": _iter_lines,
    "iteration": _iterate,
    "readinto()": _readinto,
}


def _normalise(data: bytes) -> bytes:
    # ids differ between two calls; the shape and every other byte must not
    obj = json.loads(data.replace(b"\n", b"") if data.count(b"{") else data)
    obj["id"] = "x"
    return json.dumps(obj).encode()


@pytest.mark.parametrize("how", sorted(READS))
def test_body_reads_the_same(how: str, client: Any, aws: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    read = READS[how]
    bare = client.invoke_model(modelId=MODEL, body=BODY)
    bare_type = type(bare["body"])
    bare_bytes = read(bare["body"])

    tap = request.getfixturevalue("tap")
    traced = client.invoke_model(modelId=MODEL, body=BODY)
    assert type(traced["body"]) is bare_type
    traced_bytes = read(traced["body"])
    assert _normalise(traced_bytes) == _normalise(bare_bytes)
    assert traced["body"].read() == b""  # exhausted, as the original would be
    traced["body"].close()
    assert tap.span().attributes["gen_ai.usage.output_tokens"] > 0


def test_span_ends_even_if_the_body_is_never_read(tap: Any, client: Any) -> None:
    resp = client.invoke_model(modelId=MODEL, body=BODY)
    span = tap.span()  # already exported: not waiting for the app to read
    assert span.end_time is not None
    assert span.attributes["gen_ai.output.messages"]
    del resp


def test_close_without_reading(tap: Any, client: Any) -> None:
    resp = client.invoke_model(modelId=MODEL, body=BODY)
    resp["body"].close()
    assert tap.span().attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_request_body_reaches_bedrock_unchanged(tap: Any, client: Any, fresh_emulator: Any) -> None:
    weird = '{"inputText": "caf\\u00e9 \\ud83d\\ude00  spaces",   "textGenerationConfig": {"maxTokenCount": 5}}'
    client.invoke_model(modelId="amazon.titan-text-lite-v1", body=weird.encode())
    client.invoke_model(modelId="amazon.titan-text-lite-v1", body=bytearray(weird.encode()))
    received = [r["body"] for r in fresh_emulator.requests if r["path"].endswith("/invoke")]
    assert received == [weird.encode(), weird.encode()]


def test_file_like_request_body_is_not_consumed(tap: Any, client: Any, fresh_emulator: Any, tmp_path: Any) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"inputText": "from a file"}))
    with open(path, "rb") as fh:
        client.invoke_model(modelId="amazon.titan-text-lite-v1", body=fh)
    assert fresh_emulator.requests[-1]["body"] == path.read_bytes()
    span = tap.span()
    assert span.attributes["genai_tap.model.family"] == "titan_text"
    assert "gen_ai.input.messages" not in span.attributes  # not read from the file
