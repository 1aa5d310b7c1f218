"""Fixtures for the Datadog sink: the real Datadog test agent, and apps that report to it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from ..support.apps import aws_env
from .testagent import TestAgent

DDTRACE_RUN = str(Path(sys.executable).with_name("ddtrace-run"))
ML_APP = "genai-tap-tests"


@pytest.fixture(scope="session")
def test_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestAgent]:
    agent = TestAgent(tmp_path_factory.mktemp("testagent")).start()
    yield agent
    agent.stop()


@pytest.fixture
def agent(test_agent: TestAgent) -> TestAgent:
    test_agent.clear()
    return test_agent


@pytest.fixture
def dd_env(fresh_emulator: Any, agent: TestAgent) -> Dict[str, str]:
    """An app's environment: the emulator as Bedrock, ddtrace in agent mode at the test agent."""
    env = aws_env(fresh_emulator.url)
    env.update(
        DD_LLMOBS_ENABLED="1",
        DD_LLMOBS_ML_APP=ML_APP,
        DD_SERVICE="checkout",
        DD_ENV="test",
        DD_VERSION="1.2.3",
        DD_TAGS="team:ml",
        DD_TRACE_AGENT_URL=agent.url,
        DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
        DD_REMOTE_CONFIGURATION_ENABLED="false",
        DD_CRASHTRACKING_ENABLED="false",
        GENAI_TAP_SINKS="datadog",
        GENAI_TAP_DD_TAGS="tier:gold",
    )
    return env
