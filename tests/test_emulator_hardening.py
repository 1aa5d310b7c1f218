"""The emulator's request log keeps no credentials, its control API refuses what a web page
could send, and request bodies are bounded."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import service_model as sm

KEY_ID = "AKIAEMULATORTEST0001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENvalue0123456789"


def client(url: str, service: str = "bedrock-runtime") -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        aws_session_token=TOKEN, config=Config(retries={"total_max_attempts": 1}))


def request(url: str, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
            host: Optional[str] = None) -> Tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host:
            conn.putheader("Host", host)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- the request log


def test_signature_credentials_and_token_are_masked(fresh_emulator: Any) -> None:
    client(fresh_emulator.url).converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hello"}]}])
    (logged,) = fresh_emulator.requests
    headers = logged["headers"]
    auth = headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=***/") and "/us-east-1/bedrock/aws4_request" in auth
    assert auth.endswith("Signature=***") and "SignedHeaders=" in auth
    assert headers["X-Amz-Security-Token"] == "***"
    assert KEY_ID not in json.dumps(headers) and TOKEN not in json.dumps(headers)
    assert json.loads(logged["body"]) == {"messages": [{"role": "user", "content": [{"text": "hello"}]}]}


def test_bodies_stay_byte_for_byte_unless_they_carry_a_credential(fresh_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    runtime = client(fresh_emulator.url)
    plain = json.dumps({"inputText": "testing testing: short values like 'test' are left alone"})
    runtime.invoke_model(modelId="amazon.titan-text-express-v1", body=plain)
    leaky = json.dumps({"inputText": f"my key is {KEY_ID}, my secret {SECRET}, my token {TOKEN}"})
    runtime.invoke_model(modelId="amazon.titan-text-express-v1", body=leaky)
    first, second = fresh_emulator.requests
    assert first["body"] == plain.encode()
    assert second["body"] == json.dumps({"inputText": "my key is ***, my secret ***, my token ***"}).encode()


def test_the_control_api_serves_the_masked_log(fresh_emulator: Any) -> None:
    client(fresh_emulator.url, "bedrock-agent-runtime").retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": f"where is {KEY_ID}"})
    status, raw = request(fresh_emulator.url, "GET", "/_emulator/requests")
    assert status == 200
    (logged,) = [r for r in json.loads(raw) if r["path"].endswith("/retrieve")]
    assert KEY_ID not in raw.decode() and TOKEN not in raw.decode()
    assert json.loads(base64.b64decode(logged["body"])) == {"retrievalQuery": {"text": "where is ***"}}


def test_bearer_tokens_are_masked(fresh_emulator: Any) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    status, _ = request(fresh_emulator.url, "POST", "/model/amazon.nova-lite-v1:0/converse", body,
                        {"Authorization": "Bearer ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl", "Content-Type": "application/json"})
    assert status == 200
    assert fresh_emulator.requests[-1]["headers"]["Authorization"] == "Bearer ***"


# --------------------------------------------------------------------------- the control API

FAULT = json.dumps({"error": "ThrottlingException", "count": 5}).encode()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None])
def test_control_posts_need_json(fresh_emulator: Any, content_type: Optional[str]) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, raw = request(fresh_emulator.url, "POST", "/_emulator/faults", FAULT, headers)
    assert status == 415 and b"application/json" in raw
    assert fresh_emulator.take_fault("converse", "amazon.nova-lite-v1:0") is None  # nothing was scheduled


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8765", "127.0.0.1.nip.io", "localhost.evil.com", "[::2]:80", "127.0.0.1:x"])
def test_control_api_answers_loopback_hosts_only(fresh_emulator: Any, host: str) -> None:
    status, _ = request(fresh_emulator.url, "POST", "/_emulator/faults", FAULT, {"Content-Type": "application/json"}, host=host)
    assert status == 403
    assert request(fresh_emulator.url, "GET", "/_emulator/requests", host=host)[0] == 403
    assert fresh_emulator.take_fault("converse", "amazon.nova-lite-v1:0") is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8765", "localhost", "LOCALHOST:1", "[::1]", "[::1]:8765"])
def test_control_api_accepts_loopback_hosts(fresh_emulator: Any, host: str) -> None:
    status, _ = request(fresh_emulator.url, "POST", "/_emulator/faults", FAULT, {"Content-Type": "application/json; charset=utf-8"}, host=host)
    assert status == 200
    assert fresh_emulator.take_fault("converse", "amazon.nova-lite-v1:0") is not None


def test_control_api_without_a_host_header(fresh_emulator: Any) -> None:
    parts = urlsplit(fresh_emulator.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST /_emulator/reset HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403") or answer.startswith(b"HTTP/1.0 403")


def test_control_api_rejects_malformed_json(fresh_emulator: Any) -> None:
    for body in (b"[1, 2]", b"{nope", b'{"error": "NoSuchError"}', b'{"chunks": "many"}'):
        path = "/_emulator/stream" if b"chunks" in body else "/_emulator/faults"
        assert request(fresh_emulator.url, "POST", path, body, {"Content-Type": "application/json"})[0] == 400


# --------------------------------------------------------------------------- bounded bodies


def test_oversized_bodies_are_refused_unread(fresh_emulator: Any) -> None:
    parts = urlsplit(fresh_emulator.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST /model/amazon.nova-lite-v1:0/converse HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n{}")
        answer = b""
        while True:  # the emulator answers, then closes the connection (the body was never read)
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 400") and b"ValidationException" in answer and b"Request body too large" in answer


def test_unreadable_content_length(fresh_emulator: Any) -> None:
    status, raw = request(fresh_emulator.url, "POST", "/model/amazon.nova-lite-v1:0/converse", None, {"Content-Length": "-5"})
    assert status == 400


# --------------------------------------------------------------------------- hostile request bodies

FIELDS = ["inputText", "enableTrace", "sessionState", "inlineSessionState", "sessionAttributes", "returnControlInvocationResults",
          "actionGroups", "functionSchema", "functions", "apiSchema", "payload", "knowledgeBases", "knowledgeBaseId",
          "guardrailConfiguration", "guardrailIdentifier", "collaborators", "collaboratorConfigurations", "promptOverrideConfiguration",
          "promptConfigurations", "foundationModel", "instruction", "streamingConfigurations", "retrievalQuery", "text",
          "retrievalConfiguration", "vectorSearchConfiguration", "numberOfResults", "nextToken", "input", "type",
          "retrieveAndGenerateConfiguration", "knowledgeBaseConfiguration", "externalSourcesConfiguration", "sources", "sourceType",
          "modelArn", "generationConfiguration", "source", "content", "qualifiers", "outputScope", "messages", "role", "guardrailConfig",
          "guardContent", "prompt", "max_tokens_to_sample", "num_generations", "numResults", "maxTokens"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "KB12345678", "weather", "INPUT", "KNOWLEDGE_BASE", "S3"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=12,
)
PATHS = [
    "/agents/AGENT12345/agentAliases/ALIAS12345/sessions/s1/text",
    "/agents/s1",
    "/knowledgebases/KB12345678/retrieve",
    "/retrieveAndGenerate",
    "/retrieveAndGenerateStream",
    "/guardrail/gr01/version/1/apply",
    "/model/anthropic.claude-v2/invoke",
    "/model/cohere.command-text-v14/invoke-with-response-stream",
    "/model/ai21.j2-mid-v1/invoke",
]


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), body=JSON)
def test_any_json_body_gets_an_answer_or_a_4xx(fresh_emulator: Any, path: str, body: Any) -> None:
    status, headers, raw = sm.post(fresh_emulator.url, path, body)
    assert status in (200, 400, 404), (status, raw)
    if status != 200:
        assert "x-amzn-errortype" in headers and json.loads(raw)["message"]
    elif headers["content-type"] == "application/vnd.amazon.eventstream":
        sm.events(raw)  # whole frames, both CRCs right
    else:
        json.loads(raw)
