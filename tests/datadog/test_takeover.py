"""How genai-tap takes LLM Observability for Bedrock calls over from ddtrace's integration, in parts:
which ddtrace it recognises, what it wraps, and what ddtrace is handed."""

from __future__ import annotations

import sys
import types
from typing import Any, Dict, List

import pytest

from genai_tap.importhooks import release
from genai_tap.sinks import ddtrace_bedrock as takeover


class Integration:
    """Stands in for ddtrace's BedrockIntegration: state, and a property ddtrace asks."""

    def __init__(self) -> None:
        self.integration_config = {"service": "aws"}

    @property
    def llmobs_enabled(self) -> bool:
        return True


def patch_module(calls: List[Dict[str, Any]]) -> types.ModuleType:
    """A module shaped like ddtrace.contrib.internal.botocore.patch, whose functions record what they get."""

    def runtime(original_func, instance, args, kwargs, function_vars):
        calls.append(function_vars)
        return "runtime result"

    def agents(original_func, instance, args, kwargs, function_vars):
        calls.append(function_vars)
        return "agents result"

    module = types.ModuleType(takeover.PATCH_MODULE)
    module.PATCHING_FN_KEY = "PATCHING_FN"  # type: ignore[attr-defined]
    module.ENDPOINTS_TO_PATCH_FUNCTIONS = {  # type: ignore[attr-defined]
        "bedrock-runtime": {"PATCHING_FN": runtime, "SUPPORTED_OPERATIONS": ["Converse"]},
        "bedrock-agent-runtime": {"PATCHING_FN": agents, "SUPPORTED_OPERATIONS": ["InvokeAgent"]},
        "sqs": {"PATCHING_FN": runtime, "SUPPORTED_OPERATIONS": None},
    }
    return module


@pytest.fixture
def ddtrace_version(monkeypatch):
    def set_version(version: str) -> None:
        monkeypatch.setitem(sys.modules, "ddtrace", types.SimpleNamespace(__version__=version))

    return set_version


@pytest.fixture
def fresh_state(monkeypatch):
    monkeypatch.setattr(takeover, "state", takeover._State())
    return takeover.state


def test_recognised_versions(ddtrace_version):
    module = patch_module([])
    for version in ("3.16.0", "3.19.9", "4.0.0", "4.16.0", "4.17.0rc1", "4.99.1.dev3"):
        ddtrace_version(version)
        assert takeover._unrecognised(module) is None, version
    for version in ("3.15.1", "2.21.0", "5.0.0", "not-a-version", ""):
        ddtrace_version(version)
        assert "is not a version genai-tap recognises (3.16.0 to 4.x)" in takeover._unrecognised(module), version


def test_a_ddtrace_without_the_table_is_not_recognised(ddtrace_version):
    ddtrace_version("4.16.0")
    module = patch_module([])
    del module.ENDPOINTS_TO_PATCH_FUNCTIONS
    assert "has no ENDPOINTS_TO_PATCH_FUNCTIONS table" in takeover._unrecognised(module)
    module = patch_module([])
    module.ENDPOINTS_TO_PATCH_FUNCTIONS.pop("bedrock-runtime")
    assert "has no Bedrock Runtime function" in takeover._unrecognised(module)


def test_the_view_says_off_and_shares_ddtraces_state():
    integration = Integration()
    view = takeover._llmobs_off(integration)
    assert view.llmobs_enabled is False and integration.llmobs_enabled is True
    assert isinstance(view, Integration) and type(integration) is Integration  # ddtrace's object is not changed
    integration.integration_config = {"service": "changed later"}
    assert view.integration_config == {"service": "changed later"}  # the very same state
    assert takeover._llmobs_off(integration) is view


def test_only_bedrock_functions_are_wrapped_and_only_owned_operations_handed_the_view(
    ddtrace_version, fresh_state, monkeypatch
):
    ddtrace_version("4.16.0")
    calls: List[Dict[str, Any]] = []
    module = patch_module(calls)
    table = module.ENDPOINTS_TO_PATCH_FUNCTIONS
    sqs = table["sqs"]["PATCHING_FN"]
    assert takeover.take_over(module) is True and fresh_state.taken_over
    assert takeover.take_over(module) is True  # once: not wrapped twice
    assert table["sqs"]["PATCHING_FN"] is sqs
    assert table["bedrock-runtime"]["PATCHING_FN"].__genai_tap_endpoint__ == "bedrock-runtime"

    owned = {("bedrock-runtime", "Converse")}
    monkeypatch.setattr(takeover, "owns", lambda endpoint, operation: (endpoint, operation) in owned)
    integration = Integration()
    for endpoint, operation in (("bedrock-runtime", "Converse"), ("bedrock-agent-runtime", "InvokeAgent")):
        function_vars = {"operation": operation, "integration": integration, "params": {}}
        fn = table[endpoint]["PATCHING_FN"]
        fn(original_func=None, instance=None, args=(), kwargs={}, function_vars=function_vars)
        assert function_vars["integration"] is integration  # the caller's dict is left as it was
    handed = [c["integration"].llmobs_enabled for c in calls]
    assert handed == [False, True]  # Converse is genai-tap's; InvokeAgent (not traced by genai-tap) stays ddtrace's

    monkeypatch.setitem(sys.modules, takeover.PATCH_MODULE, module)
    takeover.restore()
    assert not _wrapped(table["bedrock-runtime"]["PATCHING_FN"]) and not _wrapped(table["bedrock-agent-runtime"]["PATCHING_FN"])


def _wrapped(fn: Any) -> bool:
    return getattr(fn, "__genai_tap_endpoint__", None) is not None


@pytest.mark.expect_swallowed
def test_a_failure_inside_the_wrapper_still_calls_ddtrace(ddtrace_version, fresh_state, monkeypatch):
    ddtrace_version("4.16.0")
    calls: List[Dict[str, Any]] = []
    module = patch_module(calls)
    takeover.take_over(module)

    def broken(endpoint, operation):
        raise RuntimeError("boom")

    monkeypatch.setattr(takeover, "owns", broken)
    fn = module.ENDPOINTS_TO_PATCH_FUNCTIONS["bedrock-runtime"]["PATCHING_FN"]
    integration = Integration()
    assert fn(original_func=None, instance=None, args=(), kwargs={}, function_vars={"integration": integration}) == "runtime result"
    assert calls[0]["integration"] is integration


def test_an_unrecognised_ddtrace_is_left_alone_with_one_warning(ddtrace_version, fresh_state, caplog):
    ddtrace_version("5.1.0")
    module = patch_module([])
    table = module.ENDPOINTS_TO_PATCH_FUNCTIONS
    before = {k: v["PATCHING_FN"] for k, v in table.items()}
    with caplog.at_level("WARNING", logger="genai_tap"):
        assert takeover.take_over(module) is False
    assert {k: v["PATCHING_FN"] for k, v in table.items()} == before
    assert [r.getMessage() for r in caplog.records] == [
        "genai-tap: ddtrace 5.1.0 is not a version genai-tap recognises (3.16.0 to 4.x), so ddtrace's Bedrock integration"
        " keeps making LLM Observability spans: its span is the one for the calls it records, and genai-tap's content"
        " and content policy do not apply to them (as with GENAI_TAP_DD_DUPLICATES=ddtrace)."
    ]
    assert not fresh_state.taken_over and takeover.owns("bedrock-runtime", "Converse") is False


def test_version_text():
    assert release("4.16.0") == (4, 16, 0)
    assert release("3.19.0rc2") == (3, 19, 0)
    assert release("4.17.0.dev3+gabc") == (4, 17, 0)
    assert release("x") is None and release(None) is None
