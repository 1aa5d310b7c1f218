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
    "name, value, accepted, instead",
    [
        ("GENAI_TAP_ENABLED", "maybe", "true or false", "Using the default, true."),
        ("GENAI_TAP_CAPTURE_CONTENT", "sometimes", "NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT", "Using NO_CONTENT"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "yes please", "SPAN_AND_EVENT", "Using NO_CONTENT"),
        ("GENAI_TAP_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL", "Using the default, WARNING."),
        ("GENAI_TAP_FLUSH_TIMEOUT", "soon", "a number >= 0.0", "Using the default, 3.0."),
        ("GENAI_TAP_MAX_BODY_BYTES", "-5", "a whole number >= 0", "Using the default, 4194304."),
        ("GENAI_TAP_DD_TAGS", "team", "key:value pairs", "Using no extra tags."),
        ("GENAI_TAP_DD_DUPLICATES", "never", "genai-tap, ddtrace, both", "Using the default, genai-tap."),
        ("GENAI_TAP_REDACT", "cards", "detector names", "Using the default: every secret detector."),
    ],
)
def test_bad_values_warn_once_naming_what_is_used_instead(name: str, value: str, accepted: str, instead: str) -> None:
    cfg = Config.from_env({name: value})
    default = Config()
    assert len(cfg.warnings) == 1
    warning = cfg.warnings[0]
    assert name in warning and repr(value) in warning and accepted in warning and instead in warning
    attr = {"GENAI_TAP_ENABLED": "enabled", "GENAI_TAP_LOG_LEVEL": "log_level", "GENAI_TAP_FLUSH_TIMEOUT": "flush_timeout",
            "GENAI_TAP_MAX_BODY_BYTES": "max_body_bytes", "GENAI_TAP_DD_TAGS": "dd_tags"}.get(name)
    if attr:
        assert getattr(cfg, attr) == getattr(default, attr)


@pytest.mark.parametrize("name", ["GENAI_TAP_CAPTURE_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"])
def test_an_unreadable_content_setting_means_no_content(name: str) -> None:
    # whoever set it may have meant to switch content off: never export more than asked
    assert Config.from_env({name: "maybe"}).content_mode == NO_CONTENT


def test_plugins_lists() -> None:
    cfg = Config.from_env({"GENAI_TAP_DISABLED_PLUGINS": "Bedrock"})
    assert not cfg.plugin_enabled("bedrock")
    cfg = Config.from_env({"GENAI_TAP_PLUGINS": "other"})
    assert not cfg.plugin_enabled("bedrock") and cfg.plugin_enabled("other")


def test_dd_tags() -> None:
    assert Config.from_env({"GENAI_TAP_DD_TAGS": "team:ml, tier:gold"}).dd_tags == (("team", "ml"), ("tier", "gold"))


@pytest.mark.parametrize(
    "value, env, expected, instead",
    [
        ("bogus", {}, ["otel"], "Using otel."),
        ("bogus", {"OTEL_SDK_DISABLED": "true"}, [], "Using none."),
        ("otel,bogus", {}, ["otel"], "Using otel."),
    ],
)
def test_unknown_sinks_are_left_out_and_none_left_means_the_default(value: str, env: dict, expected: list, instead: str) -> None:
    from genai_tap import sinks

    cfg = Config.from_env({"GENAI_TAP_SINKS": value, **env})
    created, problems = sinks.create(cfg)
    try:
        assert [s.name for s in created] == expected
        assert len(problems) == 1 and "GENAI_TAP_SINKS" in problems[0] and "'bogus'" in problems[0] and instead in problems[0]
        assert "accepted values: datadog, otel, none" in problems[0]
    finally:
        for sink in created:
            sink.shutdown(1)
