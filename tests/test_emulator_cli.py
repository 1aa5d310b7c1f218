"""``genai-tap emulator`` on the command line: both endpoints on one port, and --clock-skew-ms."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Iterator, List

import boto3
import pytest
from botocore.config import Config


@pytest.fixture
def emulator_process() -> Iterator[List[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "genai_tap.cli", "emulator", "--port", "0", "--clock-skew-ms", "-600000"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        yield lines
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_command_serves_both_services_with_a_skewed_clock(emulator_process: List[str]) -> None:
    banner, runtime_line, agent_line = emulator_process
    url = banner.rsplit(" ", 1)[-1]
    assert runtime_line.endswith(f"AWS_ENDPOINT_URL_BEDROCK_RUNTIME={url}")
    assert agent_line.endswith(f"AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME={url}")
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
              config=Config(retries={"total_max_attempts": 1}))
    now = time.time()
    response = boto3.client("bedrock-agent-runtime", **kw).invoke_agent(
        agentId="AGENT12345", agentAliasId="ALIAS12345", sessionId="cli-1", inputText="Hello", enableTrace=True)
    times = [e["trace"]["eventTime"].timestamp() for e in response["completion"] if "trace" in e]
    assert times and all(now - 600 - 5 < t < now - 600 + 5 for t in times)
    guard = boto3.client("bedrock-runtime", **kw).apply_guardrail(
        guardrailIdentifier="gr01", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "hi"}}])
    assert guard["action"] == "NONE"


def test_an_unknown_error_is_refused() -> None:
    proc = subprocess.run([sys.executable, "-m", "genai_tap.cli", "emulator", "--error", "NoSuchError"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "DependencyFailedException" in proc.stderr
