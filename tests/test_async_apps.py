"""Unmodified async apps in fresh processes: zero code change, same output, per-request spans.

Each app uses aiobotocore exactly as its users write it, runs under ``genai-tap run``
(or ``import genai_tap.auto``, or ``opentelemetry-instrument``) against the emulator,
and what arrives at a real OTLP receiver is checked. The differential test runs each
app with and without genai-tap: stdout, exit code, stderr and the bytes Bedrock
received must be identical. The web-service test serves concurrent requests through
Starlette under uvicorn, each calling Bedrock (plain and streamed), and checks that
every Bedrock span is the child of its own request's span.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from genai_tap import semconv as sc

from .support.apps import GENAI_TAP, aws_env, run_app, run_both

ASYNC_APP = """
import asyncio, json, sys
from aiobotocore.session import get_session

async def main():
    print("aiobotocore loaded before the first call:", "aiobotocore.client" in sys.modules)
    async with get_session().create_client("bedrock-runtime") as client:
        body = {"messages": [{"role": "user", "content": [{"text": "What is the capital of France?"}]}],
                "inferenceConfig": {"maxTokens": 200, "temperature": 0.3}}
        resp = await client.invoke_model(modelId="us.amazon.nova-lite-v1:0", body=json.dumps(body))
        print((await resp["body"].read()).decode())
        resp = await client.converse_stream(modelId="amazon.nova-micro-v1:0", messages=body["messages"])
        async for event in resp["stream"]:
            print(sorted(event))

asyncio.run(main())
"""


def _env(emulator_url: str, otlp: Any, **extra: str) -> Dict[str, str]:
    env = aws_env(emulator_url)
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url, OTEL_SERVICE_NAME="async-app")
    env.update(extra)
    return env


def _ours(otlp: Any) -> List[Dict[str, Any]]:
    return [s for s in otlp.spans() if s["scope"] == "genai_tap"]


def _check_two_spans(otlp: Any) -> None:
    spans = sorted(otlp.wait_for(lambda: _ours(otlp), 2), key=lambda s: s["attributes"][sc.BEDROCK_API])
    assert [s["attributes"][sc.BEDROCK_API] for s in spans] == ["ConverseStream", "InvokeModel"]
    assert all(s["kind"] == 3 and s["scope"] == "genai_tap" for s in spans)
    invoke = spans[1]["attributes"]
    assert invoke[sc.REQUEST_TEMPERATURE] == 0.3
    assert json.loads(invoke[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"].startswith("Hello from the genai-tap emulator")
    assert spans[0]["attributes"][sc.STREAM_CHUNKS] > 3


@pytest.mark.slow
def test_genai_tap_run_traces_an_aiobotocore_app(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    proc = run_app(ASYNC_APP, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "aiobotocore loaded before the first call: True" in proc.stdout
    _check_two_spans(otlp)
    durations = [p for p in otlp.wait_for(otlp.metric_points, 3) if p["name"] == sc.METRIC_OPERATION_DURATION]
    assert sum(p["count"] for p in durations) == 2


@pytest.mark.slow
def test_aiobotocore_imported_and_client_made_before_genai_tap_auto(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    app = """
import asyncio, json
from aiobotocore.session import get_session

async def main():
    async with get_session().create_client("bedrock-runtime") as client:
        import genai_tap.auto  # switched on after the client exists
        import genai_tap.auto
        await client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])

asyncio.run(main())
"""
    proc = run_app(app, _env(emulator.url, otlp), tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    spans = otlp.wait_for(otlp.spans)
    assert len(spans) == 1 and spans[0]["attributes"][sc.BEDROCK_API] == "Converse"


@pytest.mark.slow
def test_opentelemetry_instrument_traces_an_aiobotocore_app(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    env = _env(emulator.url, otlp, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_TRACES_EXPORTER="otlp",
               OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
    bin_dir = Path(sys.executable).parent
    proc = run_app(ASYNC_APP, env, tmp_path, traced=False, launcher=[str(bin_dir / "opentelemetry-instrument")])
    assert proc.returncode == 0, proc.stderr
    _check_two_spans(otlp)


@pytest.mark.slow
def test_an_app_that_imports_aiobotocore_and_never_calls_bedrock_loads_only_the_hooks(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    app = """
import sys
import aiobotocore.session
print(sorted(m for m in sys.modules if m.startswith(("genai_tap_bedrock.", "opentelemetry", "ddtrace"))))
"""
    proc = run_app(app, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert eval(proc.stdout.strip()) == ["genai_tap_bedrock.interceptor", "genai_tap_bedrock.others"]


@pytest.mark.slow
def test_an_unsupported_aiobotocore_is_left_alone_with_one_warning(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    app = """
import asyncio
import aiobotocore
aiobotocore.__version__ = "2.5.4"  # what an old release says of itself
from aiobotocore.session import get_session

async def main():
    async with get_session().create_client("bedrock-runtime") as client:
        r = await client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        print(r["output"]["message"]["content"][0]["text"][:5])

asyncio.run(main())
"""
    proc = run_app(app, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "Hello"
    lines = proc.stderr.strip().splitlines()
    assert lines == ["genai-tap: aiobotocore 2.5.4 is older than 2.23, the oldest genai-tap supports: "
                     "calls through aiobotocore and aioboto3 are not traced."]
    time.sleep(1)
    assert otlp.spans() == []


# ---------------------------------------------------------------------------------------------
# differential: with and without genai-tap, the app sees the same

PRELUDE = """
import asyncio, hashlib, json, sys
from aiobotocore.session import get_session
from aiobotocore.config import AioConfig

def show(label, resp):
    meta = {k: v for k, v in resp.items() if k not in ("ResponseMetadata", "body", "stream")}
    headers = {k: v for k, v in resp["ResponseMetadata"]["HTTPHeaders"].items() if k != "date"}
    print(label, type(resp).__name__, json.dumps(meta, sort_keys=True, default=str), json.dumps(headers, sort_keys=True))

async def fails(label, coro):
    try:
        await coro
    except Exception as exc:
        print(label, type(exc).__module__, type(exc).__name__, str(exc), json.dumps(getattr(exc, "response", {}).get("Error", {})))
    else:
        print(label, "no error")

def client():
    return get_session().create_client("bedrock-runtime", config=AioConfig(retries={"total_max_attempts": 1}))
"""

APPS = {
    "invoke_reads": PRELUDE + """
async def main():
    async with client() as c:
        calls = [
            ("us.amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": "Hi Nova"}]}]}),
            ("anthropic.claude-3-haiku-20240307-v1:0", {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi Claude"}]}),
            ("meta.llama3-8b-instruct-v1:0", {"prompt": "Hi Llama", "max_gen_len": 40}),
            ("cohere.command-r-v1:0", {"message": "Hi Cohere"}),
            ("amazon.titan-embed-text-v2:0", {"inputText": "vector me", "dimensions": 256}),
        ]
        async def read_all(b): return await b.read()
        async def read_16(b):
            out = b""
            while chunk := await b.read(16):
                out += chunk
            return out
        async def chunks(b): return b"".join([x async for x in b.iter_chunks(5)])
        async def lines(b): return b"|".join([x async for x in b.iter_lines()])
        readers = [read_all, read_16, chunks, lines]
        for i, (model, body) in enumerate(calls):
            resp = await c.invoke_model(modelId=model, body=json.dumps(body))
            show(model, resp)
            data = await readers[i % len(readers)](resp["body"])
            print(type(resp["body"]).__name__, hashlib.sha256(data).hexdigest(), await resp["body"].read())

asyncio.run(main())
""",
    "streams_and_errors": PRELUDE + """
async def main():
    async with client() as c:
        resp = await c.converse_stream(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "stream"}]}])
        show("converse_stream", resp)
        print(type(resp["stream"]).__name__, [e async for e in resp["stream"]])
        resp = await c.invoke_model_with_response_stream(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=json.dumps(
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}))
        events = []
        async for event in resp["body"]:
            events.append(event)
            if len(events) == 2:
                break
        print(events)
        await fails("unknown model", c.invoke_model(modelId="amazon.unknown-v1:0", body=b"{}"))
        await fails("missing param", c.converse(modelId="amazon.nova-lite-v1:0"))
        await fails("bad type", c.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": 5}]}]))
        r = await c.converse(modelId="amazon.nova-pro-v1:0", messages=[{"role": "user", "content": [{"text": "Weather?"}]}],
            toolConfig={"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]})
        show("tools", r)

asyncio.run(main())
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPS))
def test_same_output_with_and_without_genai_tap(name: str, deterministic_emulator: Any, otlp: Any, tmp_path: Path) -> None:
    env = aws_env(deterministic_emulator.url)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    runs = run_both(APPS[name], deterministic_emulator, env, tmp_path)
    runs.assert_same()
    assert runs.bare.returncode == 0
    assert otlp.wait_for(otlp.spans), "the traced run produced spans"


# ---------------------------------------------------------------------------------------------
# a real async web service: concurrent requests, each its own parent

SERVICE = """
import contextlib, json
from aiobotocore.session import get_session
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=100))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("service")
state = {}

@contextlib.asynccontextmanager
async def lifespan(app):
    async with get_session().create_client("bedrock-runtime") as client:
        state["client"] = client
        yield
    provider.force_flush()

async def ask(request):
    n = request.path_params["n"]
    stream = request.query_params.get("stream") == "1"
    with tracer.start_as_current_span("request", attributes={"request.n": n}):
        messages = [{"role": "user", "content": [{"text": f"request {n}"}]}]
        if stream:
            resp = await state["client"].converse_stream(modelId="amazon.nova-micro-v1:0", messages=messages)
            text = "".join([e["contentBlockDelta"]["delta"]["text"] async for e in resp["stream"] if "contentBlockDelta" in e])
        else:
            resp = await state["client"].converse(modelId="amazon.nova-micro-v1:0", messages=messages)
            text = resp["output"]["message"]["content"][0]["text"]
    return JSONResponse({"n": n, "text": text})

app = Starlette(routes=[Route("/ask/{n}", ask)], lifespan=lifespan)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_web_service_gets_one_correct_span_per_request(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    import httpx

    (tmp_path / "service.py").write_text(SERVICE)
    port = _free_port()
    env = _env(emulator.url, otlp, PYTHONPATH=str(tmp_path))
    emulator.chunk_delay_ms = 2
    cmd = GENAI_TAP + ["run", sys.executable, "-m", "uvicorn", "service:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(cmd, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/ask/0", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(server.stderr.read() if server.stderr else "uvicorn did not start") from None
                time.sleep(0.2)

        async def load() -> List[Dict[str, Any]]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as web:
                replies = await asyncio.gather(*(web.get(f"/ask/{n}", params={"stream": str(n % 2)}) for n in range(1, 61)))
            return [r.json() for r in replies]

        replies = asyncio.run(load())
        assert all(r["text"].endswith(f"request {r['n']}") for r in replies)
    finally:
        emulator.chunk_delay_ms = 0
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err, err
    spans = otlp.wait_for(otlp.spans, 122, timeout=30)
    requests = {s["span_id"]: s for s in spans if s["name"] == "request"}
    bedrock = [s for s in spans if s["attributes"].get(sc.PROVIDER_NAME) == "aws.bedrock"]
    assert len(requests) == 61 and len(bedrock) == 61
    for span in bedrock:
        parent = requests[span["parent_span_id"]]  # a request span of this service
        n = parent["attributes"]["request.n"]
        prompt = json.loads(span["attributes"][sc.INPUT_MESSAGES])[0]["parts"][0]["content"]
        assert prompt == f"request {n}"  # its own request's call: no cross-talk
        assert span["trace_id"] == parent["trace_id"]
        expected = "ConverseStream" if n != "0" and int(n) % 2 else "Converse"
        assert span["attributes"][sc.BEDROCK_API] == expected
        if expected == "ConverseStream":
            assert sc.STREAM_STOPPED_EARLY not in span["attributes"]
    assert os.environ.get("GENAI_TAP_ENABLED", "true") != "false"
