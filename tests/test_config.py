"""Configuration from the environment: defaults, both content-capture vocabularies, clear warnings."""

from __future__ import annotations

import pytest

from genai_tap.config import NO_CONTENT, SPAN_AND_EVENT, SPAN_ONLY, Config


def test_defaults() -> None:
    cfg = Config.from_env({})
    assert cfg.enabled is True
    assert cfg.sinks == ("otel",)
    assert cfg.content_mode == SPAN_ONLY and cfg.capture_content
    assert cfg.warnings == []


@pytest.mark.parametrize(
    "env, sinks",
    [
        ({"DD_LLMOBS_ENABLED": "1"}, ("otel", "datadog")),
        ({"DD_LLMOBS_ENABLED": "true", "OTEL_SDK_DISABLED": "true"}, ("datadog",)),
        ({"GENAI_TAP_SINKS": "datadog"}, ("datadog",)),
        ({"GENAI_TAP_SINKS": "otel, datadog", "OTEL_SDK_DISABLED": "true"}, ("otel", "datadog")),
        ({"GENAI_TAP_SINKS": "none", "DD_LLMOBS_ENABLED": "1"}, ()),
    ],
)
def test_sinks(env: dict, sinks: tuple) -> None:
    assert Config.from_env(env).sinks == sinks


@pytest.mark.parametrize(
    "env, mode",
    [
        ({"GENAI_TAP_CAPTURE_CONTENT": "false"}, NO_CONTENT),
        ({"GENAI_TAP_CAPTURE_CONTENT": "span_and_event"}, SPAN_AND_EVENT),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}, SPAN_ONLY),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}, NO_CONTENT),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT"}, NO_CONTENT),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"}, "EVENT_ONLY"),
        # ours wins over the standard one
        ({"GENAI_TAP_CAPTURE_CONTENT": "true", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT"}, SPAN_ONLY),
    ],
)
def test_content_modes(env: dict, mode: str) -> None:
    cfg = Config.from_env(env)
    assert cfg.content_mode == mode
    assert cfg.warnings == []


@pytest.mark.parametrize(
    "name, value, accepted",
    [
        ("GENAI_TAP_ENABLED", "maybe", "true or false"),
        ("GENAI_TAP_CAPTURE_CONTENT", "sometimes", "NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "yes please", "SPAN_AND_EVENT"),
        ("GENAI_TAP_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("GENAI_TAP_FLUSH_TIMEOUT", "soon", "a number >= 0.0"),
        ("GENAI_TAP_MAX_BODY_BYTES", "-5", "a whole number >= 0"),
        ("GENAI_TAP_DD_TAGS", "team", "key:value pairs"),
    ],
)
def test_bad_values_warn_once_and_use_the_default(name: str, value: str, accepted: str) -> None:
    cfg = Config.from_env({name: value})
    default = Config()
    assert len(cfg.warnings) == 1
    warning = cfg.warnings[0]
    assert name in warning and repr(value) in warning and accepted in warning
    attr = {"GENAI_TAP_ENABLED": "enabled", "GENAI_TAP_LOG_LEVEL": "log_level", "GENAI_TAP_FLUSH_TIMEOUT": "flush_timeout",
            "GENAI_TAP_MAX_BODY_BYTES": "max_body_bytes", "GENAI_TAP_DD_TAGS": "dd_tags"}.get(name)
    if attr:
        assert getattr(cfg, attr) == getattr(default, attr)


def test_standard_variable_bad_value_means_no_content() -> None:
    # The standard variable is an opt-in: an unreadable value must not switch content on.
    assert Config.from_env({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "yes please"}).content_mode == NO_CONTENT


def test_plugins_lists() -> None:
    cfg = Config.from_env({"GENAI_TAP_DISABLED_PLUGINS": "Bedrock"})
    assert not cfg.plugin_enabled("bedrock")
    cfg = Config.from_env({"GENAI_TAP_PLUGINS": "other"})
    assert not cfg.plugin_enabled("bedrock") and cfg.plugin_enabled("other")


def test_dd_tags() -> None:
    assert Config.from_env({"GENAI_TAP_DD_TAGS": "team:ml, tier:gold"}).dd_tags == (("team", "ml"), ("tier", "gold"))
