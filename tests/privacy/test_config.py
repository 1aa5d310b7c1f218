"""The privacy variables: defaults, accepted values, warnings that name them."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from genai_tap.config import DEFAULT_MAX_CONTENT_CHARS, Config
from genai_tap.privacy import PII_DETECTORS, SECRET_DETECTORS


def test_defaults() -> None:
    cfg = Config.from_env({})
    assert cfg.redact_detectors == SECRET_DETECTORS
    assert cfg.redact_patterns == ()
    assert cfg.max_content_chars == DEFAULT_MAX_CONTENT_CHARS == 16384
    assert cfg.warnings == []


@pytest.mark.parametrize(
    "env, detectors",
    [
        ({"GENAI_TAP_REDACT": "true"}, SECRET_DETECTORS),
        ({"GENAI_TAP_REDACT": "off"}, ()),
        ({"GENAI_TAP_REDACT": "none"}, ()),
        ({"GENAI_TAP_REDACT": "aws_access_key, private_key"}, ("aws_access_key", "private_key")),
        ({"GENAI_TAP_REDACT": "-credit_card,-password"}, tuple(d for d in SECRET_DETECTORS if d not in ("credit_card", "password"))),
        ({"GENAI_TAP_REDACT": "email"}, ("email",)),
        ({"GENAI_TAP_REDACT_PII": "true"}, SECRET_DETECTORS + PII_DETECTORS),
        ({"GENAI_TAP_REDACT": "false", "GENAI_TAP_REDACT_PII": "yes"}, PII_DETECTORS),
        ({"GENAI_TAP_REDACT": "email", "GENAI_TAP_REDACT_PII": "1"}, ("email", "ipv6", "ipv4", "phone")),
    ],
)
def test_choosing_detectors(env: dict, detectors: tuple) -> None:
    cfg = Config.from_env(env)
    assert cfg.redact_detectors == detectors
    assert cfg.warnings == []


@pytest.mark.parametrize(
    "name, value, accepted",
    [
        ("GENAI_TAP_REDACT", "aws_keys", "detector names separated by commas (env_secret, private_key"),
        ("GENAI_TAP_REDACT", "api_key,-password", "prefixed with '-'"),
        ("GENAI_TAP_REDACT_PII", "maybe", "true or false"),
        ("GENAI_TAP_MAX_CONTENT_CHARS", "lots", "a whole number >= 0"),
        ("GENAI_TAP_MAX_CONTENT_CHARS", "-1", "a whole number >= 0"),
        ("GENAI_TAP_REDACT_PATTERNS", "=nameless", "name=regex entries separated by ';;' or new lines"),
        ("GENAI_TAP_REDACT_PATTERNS", "bad name=x", "letters, digits"),
    ],
)
def test_bad_values_warn_naming_the_variable(name: str, value: str, accepted: str) -> None:
    cfg = Config.from_env({name: value})
    assert len(cfg.warnings) == 1
    assert cfg.warnings[0].startswith(f"{name}={value!r} is not valid; accepted values: ")
    assert accepted in cfg.warnings[0]
    assert cfg.redact_detectors == SECRET_DETECTORS  # secrets stay redacted whatever was wrong


def test_patterns() -> None:
    cfg = Config.from_env({"GENAI_TAP_REDACT_PATTERNS": "a=x=y;;b.c=[;]\n\n  d-1 = \\d+ "})
    assert cfg.redact_patterns == (("a", "x=y"), ("b.c", "[;]"), ("d-1", " \\d+"))


def test_instrument_settings_reach_the_privacy_variables() -> None:
    """``instrument(redact_pii="true")`` is ``GENAI_TAP_REDACT_PII=true``."""
    env = {f"GENAI_TAP_{k.upper()}": v for k, v in {"redact_pii": "true", "max_content_chars": "100"}.items()}
    cfg = Config.from_env(env)
    assert "email" in cfg.redact_detectors and cfg.max_content_chars == 100


def test_config_does_not_import_re_or_compile_anything() -> None:
    """The configuration is read at interpreter start-up; expressions wait for the first call."""
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from genai_tap.config import Config\n"
        "Config.from_env({'GENAI_TAP_REDACT': '-credit_card', 'GENAI_TAP_REDACT_PII': 'true',"
        " 'GENAI_TAP_REDACT_PATTERNS': 'a=[0-9]+;;b=x'})\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = ast.literal_eval(out)
    assert "re" not in loaded
    assert not any(name.startswith("genai_tap.privacy.") for name in loaded)
