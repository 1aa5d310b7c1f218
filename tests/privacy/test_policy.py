"""The content policy on whole records: where it looks, what it leaves, how it fails.

These build records the way a plugin does and run them through the policy and the
tap's ``Call.end``; the span-level and wire-level tests are in the other modules.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from genai_tap import privacy
from genai_tap import semconv as sc
from genai_tap.config import NO_CONTENT, Config
from genai_tap.privacy.limits import REDACT_AHEAD
from genai_tap.privacy.policy import ContentPolicy
from genai_tap.record import CallRecord, message, text_part, tool_call_part, tool_response_part
from genai_tap.sinks import Sink
from genai_tap.tap import Tap

from .samples import ACCESS_KEY, API_KEY, SESSION_TOKEN


def policy(**env: str) -> ContentPolicy:
    return ContentPolicy.from_config(Config.from_env(env))


def record(**fields: Any) -> CallRecord:
    rec = CallRecord(api="Converse", operation="chat", request_model="amazon.nova-lite-v1:0")
    for name, value in fields.items():
        setattr(rec, name, value)
    return rec


def dump(rec: CallRecord) -> str:
    return json.dumps([rec.system, rec.input_messages, rec.output_messages, rec.tools, rec.params], default=str)


# ------------------------------------------------------------------ where it looks
def test_every_kind_of_content_is_redacted() -> None:
    args = {"query": f"use {ACCESS_KEY}", "nested": [{"token": "Bearer abcdef0123456789abcdef"}], "n": 3}
    rec = record(
        system=[text_part(f"You hold the key {API_KEY}.")],
        input_messages=[
            message("user", [text_part("My card is 4111 1111 1111 1111.")]),
            message("assistant", [tool_call_part("t1", "lookup", args)]),
            message("user", [tool_response_part("t1", {"rows": [f"password: hunter22 for {ACCESS_KEY}"], "ok": True})]),
        ],
        output_messages=[message("assistant", [{"type": "reasoning", "content": f"They sent {API_KEY}"}, text_part("Done.")])],
        tools=[{"type": "function", "name": "lookup", "description": f"uses api_key={API_KEY}", "parameters": {"type": "object"}}],
        params={"negative_prompt": f"no {ACCESS_KEY}", "temperature": 0.5},
    )
    policy().apply(rec)
    out = dump(rec)
    for secret in (ACCESS_KEY, API_KEY, "4111 1111", "hunter22", "abcdef0123456789abcdef"):
        assert secret not in out
    assert rec.system == [text_part("You hold the key [REDACTED:api_key].")]
    assert rec.input_messages[1]["parts"][0]["arguments"] == {
        "query": "use [REDACTED:aws_access_key]",
        "nested": [{"token": "Bearer [REDACTED:bearer_token]"}],
        "n": 3,
    }
    assert rec.input_messages[2]["parts"][0]["response"] == {
        "rows": ["password: [REDACTED:password] for [REDACTED:aws_access_key]"],
        "ok": True,
    }
    assert rec.output_messages[0]["parts"][1] == text_part("Done.")
    assert rec.params == {"negative_prompt": "no [REDACTED:aws_access_key]", "temperature": 0.5}
    assert rec.attributes[sc.CONTENT_REDACTIONS] == 9
    assert sc.CONTENT_TRUNCATED not in rec.attributes


def test_the_apps_own_objects_are_not_changed() -> None:
    """A tool call's input can be the very dict the app will send again."""
    app_args = {"q": f"key {ACCESS_KEY}", "keep": ["a", "b"]}
    app_part = tool_call_part("t1", "lookup", app_args)
    clean = {"nothing": "to see here"}
    rec = record(input_messages=[message("assistant", [app_part, tool_response_part("t1", clean)])])
    policy().apply(rec)
    assert app_args == {"q": f"key {ACCESS_KEY}", "keep": ["a", "b"]}
    assert app_part["arguments"] is app_args
    redacted = rec.input_messages[0]["parts"][0]["arguments"]
    assert redacted == {"q": "key [REDACTED:aws_access_key]", "keep": ["a", "b"]}
    assert redacted["keep"] is app_args["keep"]  # unchanged values are shared, not copied
    assert rec.input_messages[0]["parts"][1]["response"] is clean


def test_values_of_secret_keys_are_replaced_whole() -> None:
    """In a JSON object the key says what the value is, whatever the value looks like."""
    args = {
        "password": "correct horse battery staple",
        "AWS_SECRET_ACCESS_KEY": "not forty chars",
        "X-Amz-Security-Token": "short",
        "headers": {"Authorization": "Basic dXNlcg==", "Accept": "text/plain"},
        "client-secret": 12345678,
        "token": "hello",  # model output (logprobs), not a credential
        "key": "region",
        "password_hint": "the usual",
        "empty": {"password": ""},
        "flag": {"api_key": True},
    }
    rec = record(input_messages=[message("assistant", [tool_call_part("t1", "login", args)])])
    policy().apply(rec)
    assert rec.input_messages[0]["parts"][0]["arguments"] == {
        "password": "[REDACTED:password]",
        "AWS_SECRET_ACCESS_KEY": "[REDACTED:aws_secret_key]",
        "X-Amz-Security-Token": "[REDACTED:aws_session_token]",
        "headers": {"Authorization": "[REDACTED:bearer_token]", "Accept": "text/plain"},
        "client-secret": "[REDACTED:api_key]",
        "token": "hello",
        "key": "region",
        "password_hint": "the usual",
        "empty": {"password": ""},
        "flag": {"api_key": True},
    }
    rec = record(input_messages=[message("assistant", [tool_call_part("t1", "login", {"password": "kept"})])])
    policy(GENAI_TAP_REDACT="-password").apply(rec)
    assert rec.input_messages[0]["parts"][0]["arguments"] == {"password": "kept"}


def test_quoted_values_are_replaced_whole_in_text() -> None:
    text = '{"password": "correct horse battery staple", "api_key": \'four word api key\'}'
    assert policy().content(text)[0] == '{"password": "[REDACTED:password]", "api_key": \'[REDACTED:api_key]\'}'


def test_binary_values_never_leave_as_bytes() -> None:
    rec = record(input_messages=[message("user", [tool_response_part("t1", {"png": b"\x89PNG\r\n" + bytes(100)})])])
    policy().apply(rec)
    assert rec.input_messages[0]["parts"][0]["response"] == {"png": "[BINARY:106 bytes]"}


def test_error_messages_are_scrubbed_in_every_mode() -> None:
    token = SESSION_TOKEN
    try:
        raise RuntimeError(f"The Canonical String should have been 'x-amz-security-token:{token}'")
    except RuntimeError as exc:
        error = exc
    for env in ({}, {"GENAI_TAP_REDACT": "false"}):
        rec = record(capture_content=Config.from_env(env).capture_content)
        rec.fail(error)
        policy(**env).apply(rec)
        assert token not in rec.error_message and token not in rec.error_stack
        assert "x-amz-security-token:[REDACTED:aws_session_token]" in rec.error_message
        assert "Traceback" in rec.error_stack and "test_error_messages_are_scrubbed" in rec.error_stack
    # content off: the quoted request is withheld whole (and the token with it)
    rec = record(capture_content=False)
    rec.fail(error)
    policy(GENAI_TAP_CAPTURE_CONTENT="false").apply(rec)
    assert rec.error_message == "The Canonical String should have been '[content withheld]'"
    assert token not in rec.error_stack and "test_error_messages_are_scrubbed" in rec.error_stack
    assert token in str(error)  # the app's exception is untouched


# ------------------------------------------------------------------ choosing detectors
def test_detectors_can_be_switched_off_one_by_one() -> None:
    text = f"{ACCESS_KEY} 4111 1111 1111 1111 bob@example.com"
    cases = {
        (): "[REDACTED:aws_access_key] [REDACTED:credit_card] bob@example.com",
        (("GENAI_TAP_REDACT", "-credit_card"),): "[REDACTED:aws_access_key] 4111 1111 1111 1111 bob@example.com",
        (("GENAI_TAP_REDACT", "credit_card"),): f"{ACCESS_KEY} [REDACTED:credit_card] bob@example.com",
        (("GENAI_TAP_REDACT", "false"),): text,
        (("GENAI_TAP_REDACT_PII", "true"),): "[REDACTED:aws_access_key] [REDACTED:credit_card] [REDACTED:email]",
        (("GENAI_TAP_REDACT", "none"), ("GENAI_TAP_REDACT_PII", "1")): f"{ACCESS_KEY} 4111 1111 1111 1111 [REDACTED:email]",
    }
    for env, expected in cases.items():
        assert policy(**dict(env)).content(text)[0] == expected, env


# ------------------------------------------------------------------ custom patterns
def test_custom_patterns() -> None:
    p = policy(GENAI_TAP_REDACT_PATTERNS=r"employee_id=EMP-\d{6};;ticket=(?i)tck-[0-9]+" "\n" r"pin=pin: (?P<value>\d{4})")
    assert p.content("EMP-123456 filed TCK-42 with pin: 1234")[0] == (
        "[REDACTED:employee_id] filed [REDACTED:ticket] with pin: [REDACTED:pin]"
    )
    assert p.content("TCK-9")[0] == "[REDACTED:ticket]"  # shorter than any built-in rule needs


def test_a_custom_pattern_that_does_not_compile_stops_content(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="genai_tap"):
        p = policy(GENAI_TAP_REDACT_PATTERNS="ok=fine;;broken=(unclosed")
    assert "GENAI_TAP_REDACT_PATTERNS" in caplog.text and "broken" in caplog.text
    rec = record(input_messages=[message("user", [text_part("hello")])], params={"negative_prompt": "x"})
    p.apply(rec)
    assert rec.input_messages is None and "negative_prompt" not in rec.params
    assert rec.attributes[sc.CONTENT_DROPPED] == "redaction_unavailable"


def test_a_malformed_pattern_list_turns_content_capture_off() -> None:
    cfg = Config.from_env({"GENAI_TAP_REDACT_PATTERNS": "no name here"})
    assert cfg.content_mode == NO_CONTENT
    assert cfg.warnings and "GENAI_TAP_REDACT_PATTERNS" in cfg.warnings[0] and "name=regex" in cfg.warnings[0]


# ------------------------------------------------------------------ redactor plugins
@pytest.fixture
def registered() -> Iterator[List[str]]:
    names: List[str] = []
    yield names
    for name in names:
        privacy.unregister_redactor(name)


def test_registered_redactor(registered: List[str]) -> None:
    p = policy()
    privacy.register_redactor("customer", lambda text: text.replace("ACME Corp", privacy.marker("customer")))
    registered.append("customer")
    rec = record(input_messages=[message("user", [text_part("Invoice for ACME Corp, key " + ACCESS_KEY)])])
    p.apply(rec)  # registered after the policy was built: still applied
    assert rec.input_messages[0]["parts"][0]["content"] == (
        "Invoice for [REDACTED:customer], key [REDACTED:aws_access_key]"
    )
    assert rec.attributes[sc.CONTENT_REDACTIONS] == 2


def install_redactor(where: Path, monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    """An installed distribution (its dist-info on ``sys.path``) declaring one redactor."""
    dist = where / "acme_redactor-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-redactor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[genai_tap.redactors]\n{entry}\n")
    monkeypatch.syspath_prepend(str(where))


def test_entry_point_redactor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_redactor.py").write_text(
        "from genai_tap.privacy import marker\n"
        "def redact(text):\n"
        "    return text.replace('Project Falcon', marker('codename'))\n"
    )
    install_redactor(tmp_path, monkeypatch, "codename = acme_redactor:redact")
    rec = record(output_messages=[message("assistant", [text_part("Project Falcon ships in May")])])
    policy().apply(rec)
    assert rec.output_messages[0]["parts"][0]["content"] == "[REDACTED:codename] ships in May"


@pytest.mark.expect_swallowed
def test_a_redactor_that_fails_drops_the_content(registered: List[str]) -> None:
    def broken(text: str) -> str:
        raise ValueError("redactor bug")

    privacy.register_redactor("broken", broken)
    registered.append("broken")
    rec = record(
        system=[text_part("system")],
        input_messages=[message("user", [text_part(f"secret {ACCESS_KEY}")])],
        output_messages=[message("assistant", [text_part("answer")])],
        tools=[{"type": "function", "name": "t"}],
        params={"negative_prompt": "nope", "temperature": 1.0},
    )
    rec.fail(RuntimeError(f"failed for {ACCESS_KEY}"), "ValidationException")
    policy().apply(rec)
    assert (rec.system, rec.input_messages, rec.output_messages, rec.tools) == (None, None, None, None)
    assert rec.params == {"temperature": 1.0}
    assert rec.attributes[sc.CONTENT_DROPPED] == "redaction_failed"
    assert rec.error_message == rec.error_stack == "ValidationException"
    from genai_tap import guard

    assert {where for where, _ in guard.failure_counts()} == {
        "privacy: redacting the error message",
        "privacy: redacting content",
    }


@pytest.mark.expect_swallowed
def test_a_redactor_plugin_that_does_not_load_stops_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_redactor(tmp_path, monkeypatch, "broken = no_such_module_here:redact")
    rec = record(input_messages=[message("user", [text_part("hello")])])
    policy().apply(rec)
    assert rec.input_messages is None
    assert rec.attributes[sc.CONTENT_DROPPED] == "redaction_unavailable"


def test_register_redactor_wants_a_function() -> None:
    with pytest.raises(TypeError):
        privacy.register_redactor("bad", "not callable")  # type: ignore[arg-type]


# ------------------------------------------------------------------ size limits
def test_long_text_is_cut_with_a_marker() -> None:
    text = "word " * 100  # 500 characters
    rec = record(input_messages=[message("user", [text_part(text)])], output_messages=[message("assistant", [text_part("short")])])
    policy(GENAI_TAP_MAX_CONTENT_CHARS="64").apply(rec)
    assert rec.input_messages[0]["parts"][0]["content"] == text[:64] + "[TRUNCATED:436 chars]"
    assert rec.output_messages[0]["parts"][0]["content"] == "short"
    assert rec.attributes[sc.CONTENT_TRUNCATED] is True


def test_large_json_values_become_cut_json_text() -> None:
    args = {"rows": [{"id": i, "name": f"row {i}"} for i in range(50)]}
    small = {"a": 1}
    rec = record(output_messages=[message("assistant", [tool_call_part("t1", "load", args), tool_call_part("t2", "x", small)])])
    policy(GENAI_TAP_MAX_CONTENT_CHARS="100").apply(rec)
    cut = rec.output_messages[0]["parts"][0]["arguments"]
    full = json.dumps(args, separators=(",", ":"))
    assert cut.startswith(full[:100]) and cut.endswith(f"[TRUNCATED:{len(full) - 100} chars]")
    assert rec.output_messages[0]["parts"][1]["arguments"] is small


def test_no_limit() -> None:
    text = "x" * 100_000
    rec = record(input_messages=[message("user", [text_part(text)])])
    policy(GENAI_TAP_MAX_CONTENT_CHARS="0").apply(rec)
    assert rec.input_messages[0]["parts"][0]["content"] == text
    assert sc.CONTENT_TRUNCATED not in rec.attributes


def test_a_cut_never_keeps_part_of_a_secret_or_splits_a_marker() -> None:
    limit = 100
    p = policy(GENAI_TAP_MAX_CONTENT_CHARS=str(limit))
    for start in range(limit - 30, limit + 5):  # the secret straddles the cut
        text = "a" * start + " " + API_KEY + " tail " + "z" * 50
        out = p.content(text)[0]
        rec = record(input_messages=[message("user", [text_part(text)])])
        p.apply(rec)
        content = rec.input_messages[0]["parts"][0]["content"]
        assert "abcdEFGH" not in content and "sk-proj" not in content, start
        kept = content[: content.index("[TRUNCATED:")]
        assert kept.count("[") == kept.count("]"), content  # a marker is whole or absent
        assert out.replace("[REDACTED:api_key]", "").count("[") == 0


def test_a_secret_past_the_cut_in_a_huge_text_is_not_exported() -> None:
    limit = 1000
    pem_start = limit - 10
    body = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi8Z6VfOQ9y1tpjhVsVnHbUpX0t\n" * 200  # longer than the look-ahead
    text = "q" * pem_start + "-----BEGIN PRIVATE KEY-----\n" + body + "-----END PRIVATE KEY-----" + "r" * (3 * REDACT_AHEAD)
    rec = record(input_messages=[message("user", [text_part(text)])])
    policy(GENAI_TAP_MAX_CONTENT_CHARS=str(limit)).apply(rec)
    content = rec.input_messages[0]["parts"][0]["content"]
    assert "MIIE" not in content and "-----BEGIN" not in content
    assert content.startswith("q" * pem_start) and "[TRUNCATED:" in content


# ------------------------------------------------------------------ one place, before every sink
class Seen(Sink):
    """A sink that keeps what it was given, as any third-party sink would see it."""

    name = "seen"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.finished: List[Dict[str, Any]] = []

    def finish(self, rec: CallRecord, handle: Any) -> None:
        self.finished.append({"content": dump(rec), "attributes": dict(rec.attributes), "error": rec.error_message})


def test_every_sink_gets_the_redacted_record() -> None:
    cfg = Config.from_env({})
    first, second = Seen(cfg), Seen(cfg)
    tap = Tap(cfg, sinks=[first, second])
    rec = record(input_messages=[message("user", [text_part(f"key {ACCESS_KEY}")])])
    call = tap.begin(rec)
    call.release()
    assert call.end()
    assert not call.end()  # once
    assert tap.drain(10)  # sinks finish on genai-tap's finisher thread
    assert first.finished == second.finished
    assert ACCESS_KEY not in first.finished[0]["content"]
    assert first.finished[0]["attributes"][sc.CONTENT_REDACTIONS] == 1


def test_content_capture_off_removes_whatever_a_plugin_left() -> None:
    cfg = Config.from_env({"GENAI_TAP_CAPTURE_CONTENT": "false"})
    seen = Seen(cfg)
    rec = record(capture_content=False, input_messages=[message("user", [text_part("leaked by a careless plugin")])])
    rec.params["negative_prompt"] = "also leaked"
    tap = Tap(cfg, sinks=[seen])
    tap.begin(rec).end()
    assert tap.drain(10)
    assert "leaked" not in seen.finished[0]["content"]
    assert sc.CONTENT_DROPPED not in seen.finished[0]["attributes"]  # asked for, not a failure


@pytest.mark.expect_swallowed
def test_without_a_policy_nothing_leaves_unredacted() -> None:
    """If the policy itself cannot be built, calls are still traced, without content."""
    cfg = Config.from_env({})
    cfg.redact_patterns = (("broken", None),)  # type: ignore[assignment]  # not even a string
    seen = Seen(cfg)
    tap = Tap(cfg, sinks=[seen])
    rec = record(input_messages=[message("user", [text_part(f"key {ACCESS_KEY}")])])
    rec.fail(RuntimeError(f"failed for {ACCESS_KEY}"), "ValidationException")
    tap.begin(rec).end()
    assert tap.drain(10)
    assert tap.policy is None
    assert ACCESS_KEY not in seen.finished[0]["content"] and seen.finished[0]["error"] == "ValidationException"
    assert seen.finished[0]["attributes"][sc.CONTENT_DROPPED] == "redaction_unavailable"
    from genai_tap import guard

    assert [where for where, _ in guard.failure_counts()] == ["privacy: building the content policy (content will not be exported)"]
