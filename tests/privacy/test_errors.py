"""Error messages and stack traces: with content off no content in them; with content
on, redacted like content.

The errors come from the real botocore (its parameter validation, on a real client
call with a wrong type) and from the real emulator (a ValidationException whose
message is one of Bedrock's formats that quote the request), through genai-tap in
this process into in-memory OpenTelemetry exporters; the formats without a live
source are checked on the policy with the message strings as data.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest

from genai_tap.config import Config
from genai_tap.privacy.errors import WITHHELD, ContentIndex, content_strings, withhold
from genai_tap.privacy.policy import ContentPolicy
from genai_tap.record import CallRecord, message, text_part

from .samples import ACCESS_KEY, SESSION_TOKEN

PROMPT = "ZEBRA please summarise the private notes of our patient"
CARD_NUMBER = 4111111111111111


def _raise(fn: Any) -> BaseException:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("no exception")


def _exported(span: Any) -> str:
    """Everything a sink exports about the span's error: status, exception event."""
    event = span.events[0].attributes
    return "\n".join([span.status.description or "", event["exception.message"], event["exception.stacktrace"]])


def _wrong_types(client: Any) -> BaseException:
    """A Converse call the app got wrong twice: content as a string, text as a number."""
    return _raise(
        lambda: client.converse(
            modelId="amazon.nova-lite-v1:0",
            messages=[
                {"role": "user", "content": PROMPT},
                {"role": "user", "content": [{"text": CARD_NUMBER}]},
            ],
        )
    )


# ------------------------------------------------------------------ botocore's parameter validation
def test_a_validation_report_without_content(tap_no_content: Any, client: Any) -> None:
    exc = _wrong_types(client)
    assert isinstance(exc, botocore.exceptions.ParamValidationError)
    assert PROMPT in str(exc) and str(CARD_NUMBER) in str(exc)  # what botocore says: the values
    span = tap_no_content.span()
    assert span.attributes["error.type"] == "botocore.exceptions.ParamValidationError"
    exported = _exported(span)
    assert "ZEBRA" not in exported and str(CARD_NUMBER) not in exported
    event = span.events[0].attributes
    assert event["exception.message"] == (
        "Parameter validation failed:\n"
        f"Invalid type for parameter messages[0].content, value: {WITHHELD}, type: <class 'str'>, "
        "valid types: <class 'list'>, <class 'tuple'>\n"
        f"Invalid type for parameter messages[1].content[0].text, value: {WITHHELD}, type: <class 'int'>, "
        "valid types: <class 'str'>"
    )
    stack = event["exception.stacktrace"]
    assert stack.startswith("Traceback (most recent call last):\n")
    # frames and their code stay (how many depends on how far the exception had got when
    # the finisher read its traceback: from botocore's validation up to where it was caught)
    assert 'botocore/validate.py", line' in stack and "raise ParamValidationError(report=" in stack
    assert stack.endswith(f"botocore.exceptions.ParamValidationError: {event['exception.message']}\n")


def test_a_validation_report_with_content_is_redacted(tap: Any, client: Any) -> None:
    _raise(lambda: client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": f"{PROMPT} {ACCESS_KEY}"}]))
    _wrong_types(client)
    first, second = tap.spans()
    assert f"value: {PROMPT} [REDACTED:aws_access_key], type: <class 'str'>" in _exported(first)
    assert ACCESS_KEY not in _exported(first)
    # every content detector, not only credentials: the card number the app sent as a number
    assert "text, value: [REDACTED:credit_card], type: <class 'int'>" in second.events[0].attributes["exception.message"]
    assert str(CARD_NUMBER) not in _exported(second)


@pytest.mark.parametrize(
    "line, kept",
    [
        # values over several lines: the line that starts the value, the ones inside, the one that ends it
        (
            "Invalid type for parameter messages[0].content, value: first line\nsecond ZEBRA line\nlast, "
            "type: <class 'str'>, valid types: <class 'list'>",
            f"Invalid type for parameter messages[0].content, value: {WITHHELD}\n{WITHHELD}\n{WITHHELD}, "
            "type: <class 'str'>, valid types: <class 'list'>",
        ),
        # a value that writes a fake end of itself: the last end on the line counts
        (
            "Invalid type for parameter system[0].text, value: ZEBRA, type: <class 'int'>, valid types: <class 'str'> "
            "ZEBRA, type: <class 'dict'>, valid types: <class 'str'>",
            f"Invalid type for parameter system[0].text, value: {WITHHELD}, type: <class 'dict'>, valid types: <class 'str'>",
        ),
        # a document (a tool input): its key is the app's data too
        (
            "Invalid type for document parameter ZEBRA key, value: {1, 2}, type: <class 'set'>, valid types: "
            "<class 'str'>, <class 'int'>",
            f"Invalid type for document parameter {WITHHELD}, type: <class 'set'>, valid types: <class 'str'>, <class 'int'>",
        ),
        ("Invalid length for parameter messages[0].content[0].text, value: 0, valid min length: 1",
         f"Invalid length for parameter messages[0].content[0].text, value: {WITHHELD}, valid min length: 1"),
        # lines that hold no value stay as they are
        ('Missing required parameter in input: "modelId"', 'Missing required parameter in input: "modelId"'),
        (
            'Unknown parameter in messages[0]: "text", must be one of: role, content',
            'Unknown parameter in messages[0]: "text", must be one of: role, content',
        ),
        # a line of a kind botocore does not write: withheld whole
        ("ZEBRA something new", WITHHELD),
    ],
)
def test_validation_report_lines(line: str, kept: str) -> None:
    report = "Parameter validation failed:\n" + line
    assert withhold(report, None) == "Parameter validation failed:\n" + kept


# ------------------------------------------------------------------ Bedrock's messages
# Messages in the formats Bedrock answers with (its schema validator's), quoting the request
SCHEMA_MESSAGES = [
    (
        "Malformed input request: #/textGenerationConfig/stopSequences/0: string [ZEBRA: stop here] does not "
        "match pattern ^(\\|+|User:)$, please reformat your input and try again.",
        f"Malformed input request: #/textGenerationConfig/stopSequences/0: string [{WITHHELD}] does not "
        "match pattern ^(\\|+|User:)$, please reformat your input and try again.",
    ),
    (
        "Malformed input request: #/messages/0/role: ZEBRA person is not a valid enum value, please reformat "
        "your input and try again.",
        f"Malformed input request: #/messages/0/role: {WITHHELD} is not a valid enum value, please reformat "
        "your input and try again.",
    ),
    (
        "Malformed input request: #/messages/0/content: expected type: JSONArray, found: String, please reformat "
        "your input and try again.",
        None,  # nothing of the request in it: unchanged
    ),
    (
        "Malformed input request: #/texts/0: expected maxLength: 2048, actual: 4680, please reformat your input and try again.",
        None,
    ),
    (
        "Malformed input request: #/toolConfig/tools/3: extraneous key [cachePoint] is not permitted, please "
        "reformat your input and try again.",
        None,
    ),
    ("The provided model identifier is invalid.", None),
    # text between quotes (an echo of the request); an apostrophe opens nothing
    (
        "The model doesn't accept the prompt 'ZEBRA tell me \\'everything\\'' nor \"ZEBRA \\\"more\\\"\".",
        f"The model doesn't accept the prompt '{WITHHELD}' nor \"{WITHHELD}\".",
    ),
    ("Input started: 'ZEBRA explain the notes of", f"Input started: '{WITHHELD}"),  # a quote never closed
    (
        'Could not connect to the endpoint URL: "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse"',
        None,  # a quoted URL stays
    ),
]


@pytest.mark.parametrize("said, kept", SCHEMA_MESSAGES)
def test_bedrock_message_formats(said: str, kept: str) -> None:
    assert withhold(said, None) == (said if kept is None else kept)


def test_a_validation_exception_quoting_the_request(tap_no_content: Any, client: Any, fresh_emulator: Any) -> None:
    said, kept = SCHEMA_MESSAGES[0]
    fresh_emulator.add_fault("ValidationException", message=said)
    exc = _raise(
        lambda: client.invoke_model(
            modelId="amazon.titan-text-express-v1",
            body=json.dumps({"inputText": "hi", "textGenerationConfig": {"stopSequences": ["ZEBRA: stop here"]}}),
        )
    )
    assert "ZEBRA" in str(exc)
    span = tap_no_content.span()
    assert "ZEBRA" not in _exported(span)
    assert span.events[0].attributes["exception.message"].endswith(f"operation (reached max retries: 0): {kept}")
    assert span.attributes["error.type"] == "ValidationException"


# ------------------------------------------------------------------ the call's own content
def _policy(**env: str) -> ContentPolicy:
    return ContentPolicy.from_config(Config.from_env(env))


def _failed(error: BaseException, request: Any = None, **fields: Any) -> CallRecord:
    rec = CallRecord(api="Converse", operation="chat", request_model="amazon.nova-lite-v1:0", capture_content=False)
    for name, value in fields.items():
        setattr(rec, name, value)
    rec.fail(error, "ValidationException", request=request)
    _policy(GENAI_TAP_CAPTURE_CONTENT="false").apply(rec)
    return rec


LONG = (
    "ZEBRA the patient reported chest pain after the second dose; "
    'notes say "call back on Monday"\nand to review the scan results with the family.'
)


@pytest.mark.parametrize(
    "said",
    [
        f"The model returned the following errors: {LONG} is too long",  # whole, in a format not known
        f"Input is too long: {LONG[:40]}... (truncated)",  # its start only
        f"Bad request: {{\"text\": {json.dumps(LONG)}}}",  # escaped as JSON
        f"bad value: {LONG!r}",  # as Python writes it
        f"{LONG[20:70]} was rejected",  # a piece from its middle
    ],
)
def test_the_calls_content_is_found_in_any_format(said: str) -> None:
    request = {"modelId": "amazon.nova-lite-v1:0", "messages": [{"role": "user", "content": [{"text": LONG}]}]}
    rec = _failed(RuntimeError(said), request=request)
    assert "ZEBRA" not in rec.error_message and "patient" not in rec.error_message and "scan res" not in rec.error_message
    assert WITHHELD in rec.error_message
    assert "ZEBRA" not in rec.error_stack and "patient" not in rec.error_stack
    assert rec.error_request is None  # read, then dropped


def test_content_left_in_the_record_is_found_too() -> None:
    rec = _failed(
        RuntimeError(f"The model returned the following errors: {LONG}"),
        input_messages=[message("user", [text_part(LONG)])],
    )
    assert rec.error_message == f"The model returned the following errors: {WITHHELD}"
    assert rec.input_messages is None  # and then dropped, as content off wants


def test_what_says_what_something_is_is_not_withheld() -> None:
    """The model ID, roles and keys of the request are not content."""
    request = {"modelId": "amazon.nova-lite-v1:0", "messages": [{"role": "assistant", "content": [{"text": LONG}]}]}
    said = "Invocation of model ID amazon.nova-lite-v1:0 with on-demand throughput isn't supported; messages: assistant first"
    rec = _failed(RuntimeError(said), request=request)
    assert rec.error_message == said


def test_the_index_of_content() -> None:
    strings = content_strings([{"body": json.dumps({"prompt": LONG, "max_tokens": 5}).encode()}, "short", b"\x89PNG"])
    assert strings == [LONG]  # decoded from the JSON bytes; short strings and numbers left out
    index = ContentIndex(strings)
    assert index.spans("nothing to see here") == []
    text = "a " + LONG[3:30] + " b"
    [(start, end)] = index.spans(text)
    assert text[start:end] == LONG[3:30]


# ------------------------------------------------------------------ stack traces
def _chained() -> BaseException:
    secret = LONG[:40]  # (not written in the code below: frames show the code)

    def inner() -> None:
        raise ValueError(f"could not parse '{secret}'")

    try:
        try:
            inner()
        except ValueError as exc:
            raise RuntimeError("the model call failed") from exc
    except RuntimeError:
        try:
            raise KeyError(f"while reporting: \"{ACCESS_KEY} {secret[:5]}\"")
        except KeyError as again:
            return again
    raise AssertionError


def test_every_message_in_a_chain_is_scrubbed() -> None:
    error = _chained()
    rec = _failed(error)
    stack = rec.error_stack
    assert "ZEBRA" not in stack and ACCESS_KEY not in stack
    assert stack.count("Traceback (most recent call last):") == 3
    assert "The above exception was the direct cause of the following exception:" in stack
    assert "During handling of the above exception, another exception occurred:" in stack
    assert f"ValueError: could not parse '{WITHHELD}'" in stack
    assert "RuntimeError: the model call failed" in stack
    assert f"KeyError: '\"{WITHHELD}\"'" in stack or f"KeyError: '{WITHHELD}'" in stack
    assert "raise ValueError(f\"could not parse '{secret}'\")" in stack  # the code of each frame stays


def test_with_content_on_every_message_in_a_chain_is_redacted() -> None:
    error = _chained()
    rec = CallRecord(api="Converse", operation="chat", request_model="m")
    rec.fail(error)
    _policy().apply(rec)
    assert ACCESS_KEY not in rec.error_stack and "[REDACTED:aws_access_key] ZEBRA" in rec.error_stack
    assert f"could not parse '{LONG[:40]}'" in rec.error_stack


def test_code_that_holds_the_prompt_is_withheld_with_content_off() -> None:
    """Frames are code, but a prompt can be written into the code."""
    prompt = "ZEBRA system prompt written in the source code of the app"

    def call() -> None:
        raise RuntimeError("throttled", "ZEBRA system prompt written in the source code of the app")

    rec = _failed(_raise(call), system=[text_part(prompt)])
    assert "ZEBRA" not in rec.error_stack and "throttled" in rec.error_stack


def test_huge_error_text_is_cut() -> None:
    error = RuntimeError("x" * 100_000 + f" {SESSION_TOKEN}")
    for capture in (True, False):
        rec = CallRecord(api="Converse", operation="chat", request_model="m", capture_content=capture)
        rec.fail(error)
        _policy(GENAI_TAP_CAPTURE_CONTENT=str(capture).lower()).apply(rec)
        assert len(rec.error_message) < 33_000 and rec.error_message.endswith(" chars]")
        assert len(rec.error_stack) < 33_000 and rec.error_stack.startswith("[TRUNCATED:")
        assert SESSION_TOKEN not in rec.error_stack  # the end, kept, is redacted


@pytest.mark.parametrize("capture", [True, False])
def test_an_exception_whose_str_fails(capture: bool) -> None:
    class Odd(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    rec = CallRecord(api="Converse", operation="chat", request_model="m", capture_content=capture)
    rec.fail(Odd())
    assert rec.error_message == "Odd"
    _policy(GENAI_TAP_CAPTURE_CONTENT=str(capture).lower()).apply(rec)
    assert rec.error_stack is not None and "Odd" in rec.error_stack
