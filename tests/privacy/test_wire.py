"""What crosses the wire: the raw OTLP bytes of an unmodified app under ``genai-tap run``.

The app runs in its own process with AWS credentials that look real in its
environment, puts secrets in every kind of content (system prompt, user text, tool
arguments and results, a negative prompt), sends an image, asks for an embedding and
an image, and hits an AWS error whose message quotes its security token, as
SigV4 signature errors do. The tests read every byte the OTLP receiver got (traces,
metrics and log events, gunzipped when compressed) and look for what must not be
there, with content capture on (redacted) and off (no content at all).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import struct
from pathlib import Path
from typing import Any, Dict, List

import pytest

from genai_tap import semconv as sc

from ..support.apps import aws_env, run_app
from ..support.otlp import Receiver
from .samples import ACCESS_KEY, API_KEY, AWS_ENV, CARD, JWT, PASSWORD, PEM, SESSION_TOKEN, leaks

# Words that appear only in content: none may be exported with content capture off.
PROMPT = "ZEBRAPROMPT"  # echoed into the completion by the emulator
SYSTEM = "ZEBRASYSTEM"
TOOL_ARG = "ZEBRAARGUMENT"
TOOL_RESULT = "ZEBRARESULT"
NEGATIVE = "ZEBRANEGATIVE"
CONTENT_WORDS = (PROMPT, SYSTEM, TOOL_ARG, TOOL_RESULT, NEGATIVE, "Paris")
IMAGE = b"\x89PNG\r\n\x1a\n" + b"GENAI-TAP-IMAGE-BYTES-" * 24
ERROR_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. The Canonical String"
    f" for this request should have been 'POST\n/model/amazon.nova-micro-v1%3A0/converse\n\nhost:bedrock-runtime\n"
    f"x-amz-security-token:{SESSION_TOKEN}\n'"
)

APP = """
import json, sys
import boto3

given = json.loads(sys.argv[1])
client = boto3.client("bedrock-runtime")
schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
tools = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather " + given["api_key"], "inputSchema": {"json": schema}}}]}

# Converse: secrets in the system prompt, the user text, a tool call and a tool result; an image
client.converse(
    modelId="amazon.nova-pro-v1:0",
    system=[{"text": given["system"]}],
    messages=[
        {"role": "user", "content": [{"text": given["prompt"]}, {"image": {"format": "png", "source": {"bytes": given["image"].encode("latin-1")}}}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": given["tool_input"]}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": given["tool_result"]}, {"text": given["pem"]}]}}]},
    ],
    toolConfig=tools,
)
# a first turn, so the model answers with a tool call of its own
client.converse(modelId="amazon.nova-pro-v1:0", messages=[{"role": "user", "content": [{"text": given["prompt"]}]}], toolConfig=tools)

# InvokeModel, Anthropic body
body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "system": given["system"],
        "messages": [{"role": "user", "content": given["prompt"]}]}
json.loads(client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=json.dumps(body))["body"].read())

# embeddings: the vector must never be exported
vector = json.loads(client.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                    body=json.dumps({"inputText": given["prompt"], "dimensions": 1024}))["body"].read())["embedding"]

# image generation: neither the negative prompt's secret nor the image
image = json.loads(client.invoke_model(modelId="amazon.nova-canvas-v1:0", body=json.dumps(
    {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": given["prompt"], "negativeText": given["negative"]}}))["body"].read())["images"][0]

# an AWS error whose message quotes the security token
try:
    client.converse(modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": given["prompt"]}]}])
except client.exceptions.AccessDeniedException as exc:
    assert given["session_token"] in str(exc)
else:
    raise SystemExit("expected AccessDeniedException")

print(json.dumps({"vector": vector[:24], "image": image[:64]}))
"""

GIVEN = {
    "system": f"{SYSTEM}: call tools with api_key={API_KEY}",
    "prompt": f"{PROMPT} my key is {ACCESS_KEY}, my card {CARD}, token Bearer {JWT}. Weather in Paris?",
    "tool_input": {"city": "Paris", "note": TOOL_ARG, "password": PASSWORD},
    "tool_result": {"forecast": TOOL_RESULT, "Authorization": f"Bearer {JWT}", "secret": API_KEY},
    "pem": f"{TOOL_RESULT} key:\n{PEM}",
    "negative": f"{NEGATIVE} {ACCESS_KEY}",
    "api_key": API_KEY,
    "image": IMAGE.decode("latin-1"),
    "session_token": SESSION_TOKEN,
}
SPANS = 6


def _run(emulator: Any, otlp: Receiver, tmp_path: Path, **env: str) -> Dict[str, Any]:
    """Run the app traced with real-looking credentials; returns what the app printed."""
    emulator.reset()
    emulator.add_fault("AccessDeniedException", model="nova-micro", message=ERROR_MESSAGE)
    app_env = aws_env(emulator.url)
    app_env.update(AWS_ENV, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url, OTEL_SERVICE_NAME="privacy-test", **env)
    proc = run_app(APP, app_env, tmp_path, args=[json.dumps(GIVEN)])
    assert proc.returncode == 0, proc.stderr
    assert "genai-tap" not in proc.stderr, proc.stderr  # no warning, nothing swallowed
    assert len(otlp.wait_for(otlp.spans, SPANS)) == SPANS
    otlp.wait_for(otlp.metric_points, 1)
    return json.loads(proc.stdout)


def _wire(otlp: Receiver) -> bytes:
    """Every byte the receiver got: bodies (gunzipped when sent compressed) and headers."""
    chunks: List[bytes] = []
    for path, headers, body in list(otlp.raw):
        chunks.append(path.encode() + json.dumps(headers).encode())
        chunks.append(gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body)
    return b"\n".join(chunks)


# a header name followed by anything but a redaction marker
_HEADER_VALUE = re.compile(rb"(?i)(authorization|x-amz-security-token)[\"']?\s*[:=]\s*(?![\"']?\[REDACTED:)")


def _assert_no_credentials(wire: bytes) -> None:
    assert leaks(wire) == []
    found = _HEADER_VALUE.search(wire)
    assert found is None, wire[found.start() - 80 : found.end() + 80]


def _assert_no_media(wire: bytes, printed: Dict[str, Any]) -> None:
    """Neither the image the app sent, nor the one it got, nor the embedding vector."""
    assert b"GENAI-TAP-IMAGE-BYTES" not in wire
    assert base64.b64encode(IMAGE)[8:40] not in wire
    assert printed["image"][:32].encode() not in wire
    vector = printed["vector"]
    for a, b in zip(vector, vector[1:]):
        assert json.dumps([a, b])[1:-1].replace(" ", "").encode() not in wire  # as JSON text
        assert json.dumps([a, b])[1:-1].encode() not in wire
    for value in vector:
        if len(repr(value)) >= 6:  # a distinctive value: its binary forms must not be there either
            assert struct.pack("<d", value) not in wire and repr(value).encode() not in wire


def _span(otlp: Receiver, name: str) -> Dict[str, Any]:
    return next(s for s in otlp.spans() if s["name"] == name)


@pytest.mark.slow
def test_content_on_secrets_redacted_on_the_wire(emulator: Any, otlp: Receiver, tmp_path: Path) -> None:
    printed = _run(
        emulator,
        otlp,
        tmp_path,
        OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
        GENAI_TAP_CAPTURE_CONTENT="SPAN_AND_EVENT",
    )
    assert otlp.wait_for(otlp.logs, 5)  # content went out as log events too
    assert all(h.get("Content-Encoding") == "gzip" for _, h, _ in otlp.raw)
    wire = _wire(otlp)
    _assert_no_credentials(wire)
    _assert_no_media(wire, printed)
    # the content is there, with markers where the secrets were
    for kind in ("aws_access_key", "credit_card", "bearer_token", "api_key", "password", "private_key", "aws_session_token"):
        assert f"[REDACTED:{kind}]".encode() in wire, kind
    converse = [s for s in otlp.spans() if s["name"] == "chat amazon.nova-pro-v1:0"][0]
    inputs = json.loads(converse["attributes"][sc.INPUT_MESSAGES])
    assert inputs[0]["parts"][0]["content"].startswith(f"{PROMPT} my key is [REDACTED:aws_access_key]")
    assert inputs[0]["parts"][1] == {"type": "blob", "modality": "image", "mime_type": "image/png"}
    assert inputs[1]["parts"][0]["arguments"] == {"city": "Paris", "note": TOOL_ARG, "password": "[REDACTED:password]"}
    assert converse["attributes"][sc.CONTENT_REDACTIONS] >= 8
    failed = _span(otlp, "chat amazon.nova-micro-v1:0")
    assert "x-amz-security-token:[REDACTED:aws_session_token]" in failed["status_message"]


@pytest.mark.slow
def test_content_off_no_content_and_no_credentials_on_the_wire(emulator: Any, otlp: Receiver, tmp_path: Path) -> None:
    printed = _run(emulator, otlp, tmp_path, GENAI_TAP_CAPTURE_CONTENT="false")
    wire = _wire(otlp)
    _assert_no_credentials(wire)
    _assert_no_media(wire, printed)
    for word in CONTENT_WORDS:  # prompt, completion, system prompt, tool arguments and results, negative prompt
        assert word.encode() not in wire, word
    for name in (sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.SYSTEM_INSTRUCTIONS, sc.TOOL_DEFINITIONS, "genai_tap.request.negative_prompt"):
        assert name.encode() not in wire, name
    assert otlp.logs() == []
    # what is not content still goes out: the call, its model, its tokens, its error
    converse = [s for s in otlp.spans() if s["name"] == "chat amazon.nova-pro-v1:0"][0]
    assert converse["attributes"][sc.USAGE_INPUT_TOKENS] > 0
    failed = _span(otlp, "chat amazon.nova-micro-v1:0")
    assert failed["attributes"][sc.ERROR_TYPE] == "AccessDeniedException"
    # the quoted canonical request is withheld with content off (the token with it)
    assert "should have been '[content withheld]'" in failed["events"][0]["attributes"]["exception.stacktrace"]
