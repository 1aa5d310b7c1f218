"""How the Datadog sink starts: agentless, and what happens when it cannot."""

from __future__ import annotations

import json

import pytest

from ..support.apps import run_app
from ..support.otlp import wait_for
from .testagent import Intake

ONE_CALL = """
    import boto3

    client = boto3.client("bedrock-runtime")
    client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
"""


@pytest.fixture
def intake():
    server = Intake()
    yield server
    server.stop()


@pytest.mark.slow
def test_agentless(dd_env, intake, tmp_path):
    dd_env.update(
        DD_LLMOBS_AGENTLESS_ENABLED="1",
        DD_API_KEY="not-a-real-key",
        DD_SITE="datadoghq.com",
        DD_LLMOBS_OVERRIDE_ORIGIN=intake.url,  # where llmobs-intake.datadoghq.com would be
        DD_TRACE_AGENT_URL=intake.url,  # and no agent anywhere else
    )
    proc = run_app(ONE_CALL, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    [post] = wait_for(intake.llmobs_posts, 1)
    assert post["headers"]["dd-api-key"] == "not-a-real-key"
    [envelope] = json.loads(post["body"])
    [span] = envelope["spans"]
    assert span["name"] == "aws.bedrock.converse"
    assert span["meta"]["model_provider"] == "amazon_bedrock"
    assert span["meta"]["input"]["messages"] == [{"role": "user", "content": "Hi"}]
    assert span["metrics"]["output_tokens"] > 0


TWO_CALLS = """
    import boto3

    client = boto3.client("bedrock-runtime")
    for _ in range(2):
        client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    print("app done")
"""

NO_DDTRACE = """
    import sys

    class NoDdtrace:
        \"\"\"As if ddtrace were not installed.\"\"\"

        def find_spec(self, name, path=None, target=None):
            if name == "ddtrace" or name.startswith("ddtrace."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    assert "ddtrace" not in sys.modules  # genai-tap's start-up did not import it
    sys.meta_path.insert(0, NoDdtrace())
"""


def _otel_only_env(dd_env, otlp):
    dd_env.pop("GENAI_TAP_SINKS")  # the defaults: OpenTelemetry and (DD_LLMOBS_ENABLED) Datadog
    dd_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    return dd_env


@pytest.mark.slow
def test_without_ddtrace_one_warning_and_opentelemetry_goes_on(dd_env, otlp, tmp_path):
    proc = run_app(NO_DDTRACE + TWO_CALLS, _otel_only_env(dd_env, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "app done"
    warnings = [line for line in proc.stderr.splitlines() if "genai-tap" in line]
    assert len(warnings) == 1, proc.stderr
    assert "datadog sink is off" in warnings[0]
    assert "ddtrace cannot be imported" in warnings[0]
    assert "pip install 'genai-tap[datadog]'" in warnings[0]
    spans = otlp.wait_for(otlp.spans, count=2)
    assert [s["name"] for s in spans] == ["chat amazon.nova-lite-v1:0"] * 2
    assert not any("genai_tap.datadog.trace_id" in s["attributes"] for s in spans)


@pytest.mark.slow
def test_agentless_without_api_key_one_warning(dd_env, otlp, agent, tmp_path):
    env = _otel_only_env(dd_env, otlp)
    env["DD_LLMOBS_AGENTLESS_ENABLED"] = "true"  # and no DD_API_KEY
    proc = run_app(TWO_CALLS, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "genai-tap" in line]
    assert len(warnings) == 1, proc.stderr
    assert "datadog sink is off" in warnings[0] and "DD_API_KEY is required" in warnings[0]
    assert len(otlp.wait_for(otlp.spans, count=2)) == 2
    assert agent.requests() == []
