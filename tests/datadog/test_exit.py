"""No Datadog Agent (or intake) to be reached: the app exits on time, with one line saying what was lost and why."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import Dict, List, Tuple

import pytest

from ..support.apps import GENAI_TAP
from .testagent import free_port

pytestmark = pytest.mark.slow

#: Calls spread over a few seconds, so that ddtrace has already tried (and is retrying) to send
#: some of them when the app ends; the last line is when the app's own work was done.
CALLS = """
    import time, boto3
    import genai_tap.sinks.datadog as datadog_sink
    datadog_sink.DISCARD = {discard}
    client = boto3.client("bedrock-runtime")
    for _ in range(3):
        client.converse(modelId="amazon.nova-lite-v1:0", messages=[{{"role": "user", "content": [{{"text": "Hi"}}]}}])
        time.sleep(1.3)
    print(time.time(), flush=True)
"""
FLUSH_TIMEOUT = 0.5
#: ddtrace's own teardown at exit (its native threads), with a Datadog Agent that answers: ~0.8 s here
TEARDOWN_S = 2.0


def run_until_exit(env: Dict[str, str], tmp_path, discard: bool = True) -> Tuple[float, List[str]]:
    """Run CALLS under genai-tap; (seconds from the app's last line to the process's end, stderr lines)."""
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(CALLS).format(discard=discard))
    proc = subprocess.run(GENAI_TAP + ["run", sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=60)
    ended = time.time()
    assert proc.returncode == 0, proc.stderr
    return ended - float(proc.stdout.strip().splitlines()[-1]), [line for line in proc.stderr.splitlines() if line.strip()]


@pytest.fixture
def nowhere(dd_env):
    """The app's environment, with the Datadog Agent at a port nothing listens on."""
    dd_env.update(DD_TRACE_AGENT_URL=f"http://127.0.0.1:{free_port()}", GENAI_TAP_FLUSH_TIMEOUT=str(FLUSH_TIMEOUT))
    return dd_env


def test_no_agent_exit_on_time_and_one_line(nowhere, tmp_path):
    delay, stderr = run_until_exit(nowhere, tmp_path)
    url = nowhere["DD_TRACE_AGENT_URL"]
    assert stderr == [
        f"genai-tap: 3 Bedrock call(s) not delivered to Datadog LLM Observability: the Datadog Agent at {url} refused the connection."
    ]
    assert delay < FLUSH_TIMEOUT + TEARDOWN_S, delay  # ddtrace alone retries for ~4 s more


def test_no_intake_agentless(nowhere, tmp_path):
    origin = f"http://127.0.0.1:{free_port()}"
    nowhere.update(DD_LLMOBS_AGENTLESS_ENABLED="1", DD_API_KEY="not-a-real-key", DD_LLMOBS_OVERRIDE_ORIGIN=origin)
    delay, stderr = run_until_exit(nowhere, tmp_path)
    assert stderr == [
        f"genai-tap: 3 Bedrock call(s) not delivered to Datadog LLM Observability: Datadog's intake at {origin} refused the connection."
    ]
    assert delay < FLUSH_TIMEOUT + TEARDOWN_S, delay


def test_without_emptying_ddtraces_buffers_the_same_line_later(nowhere, tmp_path):
    # the public-API path (ddtrace's buffers left alone): the same data lost and the same one line;
    # only the exit waits for ddtrace's retries
    delay, stderr = run_until_exit(nowhere, tmp_path, discard=False)
    url = nowhere["DD_TRACE_AGENT_URL"]
    assert stderr == [
        f"genai-tap: 3 Bedrock call(s) not delivered to Datadog LLM Observability: the Datadog Agent at {url} refused the connection."
    ]


def test_an_agent_that_answers_gets_every_call(dd_env, agent, tmp_path):
    dd_env["GENAI_TAP_FLUSH_TIMEOUT"] = str(FLUSH_TIMEOUT)
    delay, stderr = run_until_exit(dd_env, tmp_path)
    assert not [line for line in stderr if "genai-tap" in line], stderr
    assert len(agent.llmobs_spans(count=3)) == 3
