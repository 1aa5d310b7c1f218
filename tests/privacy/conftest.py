"""The Datadog fixtures (the real test agent), for the privacy tests of the Datadog sink."""

from ..datadog.conftest import agent, dd_env, test_agent  # noqa: F401  (fixtures, used by name)
