"""How redaction finds and replaces: on the original text, once, whatever the rules'
order; JSON numbers; overlaps; the per-call budget."""

from __future__ import annotations

import logging
from typing import Any, List

import pytest

from genai_tap import semconv as sc
from genai_tap.privacy import SECRET_DETECTORS, detectors
from genai_tap.privacy.policy import BUDGET_CHECK, ContentPolicy
from genai_tap.privacy.rules import Redactor
from genai_tap.record import CallRecord, message, text_part, tool_call_part, tool_response_part

from .samples import ACCESS_KEY, API_KEY, PEM, SECRET_KEY, TEMP_KEY

OTHER_SECRET = "Zk3pQ9xYvB2nLm8sT4wR6uJ1hG5fD7cA0eK+/qwE"  # a second secret access key (40, mixed case)


def redactor(environ: Any = None, names: Any = SECRET_DETECTORS) -> Redactor:
    return Redactor(tuple(rule for name in names for rule in detectors.rules(name, environ or {})))


def record(**fields: Any) -> CallRecord:
    rec = CallRecord(api="Converse", operation="chat", request_model="amazon.nova-lite-v1:0")
    for name, value in fields.items():
        setattr(rec, name, value)
    return rec


# ------------------------------------------------------------------ order does not matter
def test_a_secret_next_to_one_the_environment_knows() -> None:
    """The app's own access key ID (an exact environment rule) is found first, yet the
    secret key next to it, found by being next to an access key ID, is found too."""
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    text = f"my keys: {ACCESS_KEY} {OTHER_SECRET} thanks"
    assert redactor(env)(text) == ("my keys: [REDACTED:aws_access_key] [REDACTED:aws_secret_key] thanks", 2)
    text = f"{OTHER_SECRET},{ACCESS_KEY}"  # before it
    assert redactor(env)(text)[0] == "[REDACTED:aws_secret_key],[REDACTED:aws_access_key]"


def test_the_result_does_not_depend_on_the_order_of_the_rules() -> None:
    rules = [rule for name in SECRET_DETECTORS for rule in detectors.rules(name, {"MY_TOKEN": "tok-1234567890ab"})]
    text = (
        f"Authorization: Bearer {API_KEY}\napi_key={ACCESS_KEY} tok-1234567890ab {TEMP_KEY} {OTHER_SECRET}\n"
        f"password: {SECRET_KEY} card 4111 1111 1111 1111\n{PEM}"
    )
    expected = Redactor(tuple(rules))(text)
    assert Redactor(tuple(reversed(rules)))(text) == expected
    # (the password is a secret key too, and near an access key ID: the detector that comes first names it)
    assert expected[0] == (
        "Authorization: [REDACTED:bearer_token]\napi_key=[REDACTED:aws_access_key] [REDACTED:env_secret] "
        "[REDACTED:aws_access_key] [REDACTED:aws_secret_key]\npassword: [REDACTED:aws_secret_key] card "
        "[REDACTED:credit_card]\n[REDACTED:private_key]"
    )


def test_overlapping_finds_become_one_marker_of_the_longest() -> None:
    # the header's value holds an access key ID and a signature: one marker, the header's
    text = f"Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/x, Signature={'a' * 64}\nrest"
    assert redactor()(text) == ("Authorization: [REDACTED:bearer_token]\nrest", 1)
    # the same span found by two detectors: the one that comes first names it
    assert redactor()(f"api_key={ACCESS_KEY}") == ("api_key=[REDACTED:aws_access_key]", 1)
    # spans that only touch stay apart
    assert redactor()(f"{ACCESS_KEY}\n{API_KEY}") == ("[REDACTED:aws_access_key]\n[REDACTED:api_key]", 2)


def test_many_pem_begin_lines() -> None:
    """Each BEGIN line without an END line is found with the base64 after it; a later
    END line closes the block it follows."""
    lines = "-----BEGIN RSA PRIVATE KEY-----" * 300
    out, count = redactor(names=("private_key",))(lines + " tail")
    assert out == "[REDACTED:private_key]" * 300 + " tail" and count == 300
    out, count = redactor(names=("private_key",))("a " + lines + "\n-----END RSA PRIVATE KEY----- b")
    assert out == "a [REDACTED:private_key] b" and count == 1  # the first BEGIN to its END
    far = "-----BEGIN PRIVATE KEY-----\n" + "?" * (detectors.PEM_REACH + 1) + "-----END PRIVATE KEY-----"
    assert redactor(names=("private_key",))(far)[0] == "[REDACTED:private_key]\n" + "?" * (detectors.PEM_REACH + 1) + "-----END PRIVATE KEY-----"


# ------------------------------------------------------------------ numbers in JSON
def test_card_numbers_sent_as_json_numbers() -> None:
    result = {
        "pan": 4242424242424242,
        "as_float": 4111111111111111.0,
        "nested": [{"n": 5500000000000004}],
        "order": 4242424242424241,  # Luhn fails
        "id": 123456789,
        "big": 10**30,
        "flag": True,
        "score": 0.25,
    }
    rec = record(input_messages=[message("user", [tool_response_part("t1", result)])])
    ContentPolicy(environ={}, plugins=False).apply(rec)
    out = rec.input_messages[0]["parts"][0]["response"]
    assert out == {
        "pan": "[REDACTED:credit_card]",
        "as_float": "[REDACTED:credit_card]",
        "nested": [{"n": "[REDACTED:credit_card]"}],
        "order": 4242424242424241,
        "id": 123456789,
        "big": 10**30,
        "flag": True,
        "score": 0.25,
    }
    assert rec.attributes[sc.CONTENT_REDACTIONS] == 3
    assert result["pan"] == 4242424242424242  # the app's object is untouched


def test_numbers_meet_custom_patterns_and_secret_keys() -> None:
    policy = ContentPolicy(patterns=(("employee", r"\b7\d{5}\b"),), environ={}, plugins=False)
    rec = record(output_messages=[message("assistant", [tool_call_part("t1", "f", {"emp": 712345, "n": 12, "pin": 1234})])])
    policy.apply(rec)
    assert rec.output_messages[0]["parts"][0]["arguments"] == {"emp": "[REDACTED:employee]", "n": 12, "pin": 1234}
    rec = record(output_messages=[message("assistant", [tool_call_part("t1", "f", {"password": 1234})])])
    ContentPolicy(environ={}, plugins=False).apply(rec)
    assert rec.output_messages[0]["parts"][0]["arguments"] == {"password": "[REDACTED:password]"}


# ------------------------------------------------------------------ the budget
def _big_record(strings: int, size: int) -> CallRecord:
    return record(input_messages=[message("user", [text_part(f"{i} " + "word " * (size // 5))]) for i in range(strings)])


def test_content_over_the_budget_is_withheld_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    policy = ContentPolicy(environ={}, plugins=False, budget_chars=10_000)
    with caplog.at_level(logging.WARNING, logger="genai_tap"):
        small = _big_record(2, 4000)
        policy.apply(small)
        big = _big_record(3, 4000)
        policy.apply(big)
        again = _big_record(3, 4000)
        policy.apply(again)
    assert small.input_messages is not None and sc.CONTENT_DROPPED not in small.attributes
    for rec in (big, again):
        assert rec.input_messages is None
        assert rec.attributes[sc.CONTENT_DROPPED] == "redaction_budget"
    warnings = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(warnings) == 1 and "redaction_budget" in warnings[0].getMessage()


def test_the_budget_covers_a_call_and_its_steps() -> None:
    policy = ContentPolicy(environ={}, plugins=False, budget_chars=10_000)
    parent = _big_record(1, 4000)
    first = parent.child("chat", input_messages=[message("user", [text_part("word " * 900)])])
    second = parent.child("chat", input_messages=[message("user", [text_part("word " * 900)])])
    policy.apply(parent)
    assert parent.input_messages is not None and first.input_messages is not None
    assert second.input_messages is None and second.attributes[sc.CONTENT_DROPPED] == "redaction_budget"


def test_the_time_budget() -> None:
    """CPU time is looked at every BUDGET_CHECK characters (a clock that says 1 ms has
    passed at each look: at the start, 1 ms, so the deadline is at 3.5 ms)."""
    ticks: List[float] = []

    def clock() -> float:
        ticks.append(0.001)
        return sum(ticks)

    policy = ContentPolicy(environ={}, plugins=False, budget_chars=0, budget_seconds=0.0025, clock=clock)
    rec = _big_record(2, BUDGET_CHECK + 10)  # one look after each text: 2 ms, 3 ms: within
    policy.apply(rec)
    assert rec.input_messages is not None
    ticks.clear()
    rec = _big_record(4, BUDGET_CHECK + 10)  # 4 ms after the third text
    policy.apply(rec)
    assert rec.input_messages is None and rec.attributes[sc.CONTENT_DROPPED] == "redaction_budget"


def test_no_budget() -> None:
    rec = _big_record(3, 400_000)
    ContentPolicy(environ={}, plugins=False, max_chars=0, budget_chars=0, budget_seconds=0).apply(rec)
    assert rec.input_messages is not None and sc.CONTENT_DROPPED not in rec.attributes
