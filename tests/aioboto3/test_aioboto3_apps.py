"""aioboto3 apps, traced with zero code change (aioboto3 makes aiobotocore clients).

aioboto3 pins one aiobotocore release, older than the newest the main virtualenv
holds, so these tests run in a virtualenv of their own with aioboto3 installed
(``make test`` does it; see CONTRIBUTING.md). The main run does not collect this
directory (``norecursedirs`` in pyproject.toml); name it to run it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aioboto3  # noqa: F401  (this virtualenv has it)

from genai_tap import semconv as sc

from ..support.apps import aws_env, run_both

APP = """
import asyncio, json
import aioboto3

async def main():
    session = aioboto3.Session()
    async with session.client("bedrock-runtime") as client:
        resp = await client.invoke_model(modelId="us.amazon.nova-lite-v1:0", body=json.dumps(
            {"messages": [{"role": "user", "content": [{"text": "Hello from aioboto3"}]}]}))
        print((await resp["body"].read()).decode())
        resp = await client.converse_stream(modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "stream"}]}])
        print(type(resp["stream"]).__name__, [e async for e in resp["stream"]])
        try:
            await client.converse(modelId="no.such-model-v1:0", messages=[{"role": "user", "content": [{"text": "x"}]}])
        except Exception as exc:
            print(type(exc).__name__, exc)

asyncio.run(main())
"""


def test_an_aioboto3_app_is_traced_and_sees_the_same(deterministic_emulator: Any, otlp: Any, tmp_path: Path) -> None:
    env = aws_env(deterministic_emulator.url)
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url, OTEL_SERVICE_NAME="aioboto3-app")
    runs = run_both(APP, deterministic_emulator, env, tmp_path)
    runs.assert_same()
    assert runs.traced.returncode == 0 and runs.traced.stderr == "" and "AioEventStream" in runs.traced.stdout
    spans = sorted(otlp.wait_for(otlp.spans, 3), key=lambda s: s["attributes"][sc.BEDROCK_API])
    assert [s["attributes"][sc.BEDROCK_API] for s in spans] == ["Converse", "ConverseStream", "InvokeModel"]
    assert spans[0]["status_code"] == 2 and spans[0]["attributes"][sc.ERROR_TYPE] == "ValidationException"
    assert json.loads(spans[2]["attributes"][sc.INPUT_MESSAGES])[0]["parts"][0]["content"] == "Hello from aioboto3"
    assert spans[1]["attributes"][sc.STREAM_CHUNKS] > 3
