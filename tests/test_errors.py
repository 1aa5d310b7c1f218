"""Errors: the app gets Bedrock's exception unchanged; the span says ERROR with the AWS code."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest

NOVA = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})


def _capture(fn: Any) -> BaseException:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("no exception")


@pytest.mark.parametrize(
    "code, status",
    [("ThrottlingException", 429), ("AccessDeniedException", 403), ("ServiceUnavailableException", 503), ("ModelTimeoutException", 408)],
)
def test_aws_errors(code: str, status: int, client: Any, fresh_emulator: Any, request: pytest.FixtureRequest) -> None:
    call = lambda: client.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA)  # noqa: E731
    fresh_emulator.add_fault(code)
    bare = _capture(call)
    tap = request.getfixturevalue("tap")
    fresh_emulator.add_fault(code)
    traced = _capture(call)
    assert type(traced) is type(bare)
    assert str(traced) == str(bare)
    assert traced.response["Error"] == bare.response["Error"]
    span = tap.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == code
    assert span.attributes["aws.request_id"] == traced.response["ResponseMetadata"]["RequestId"]
    assert code in span.status.description
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"].endswith(code)
    points = tap.metric_points()["gen_ai.client.operation.duration"]
    assert points[0].attributes["error.type"] == code
    assert "gen_ai.client.token.usage" not in tap.metric_points()


def test_unknown_model_is_a_validation_error_with_a_span(tap: Any, client: Any) -> None:
    exc = _capture(lambda: client.converse(modelId="amazon.not-a-model-v9:0", messages=[{"role": "user", "content": [{"text": "x"}]}]))
    assert isinstance(exc, client.exceptions.ValidationException)
    span = tap.span()
    assert span.name == "chat amazon.not-a-model-v9:0"
    assert span.attributes["error.type"] == "ValidationException"
    assert span.attributes["genai_tap.model.vendor"] == "amazon"
    assert "genai_tap.model.family" in span.attributes


def test_the_same_exception_object_reaches_the_app(tap: Any, client: Any, fresh_emulator: Any) -> None:
    fresh_emulator.add_fault("ThrottlingException")
    exc = _capture(lambda: client.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA))
    assert tap.span().events[0].attributes["exception.message"] == str(exc)
    assert exc.__traceback__ is not None


def test_connection_error(tap: Any, aws: str) -> None:
    import boto3
    from botocore.config import Config

    dead = boto3.client("bedrock-runtime", endpoint_url="http://127.0.0.1:9", config=Config(retries={"total_max_attempts": 1}, connect_timeout=1))
    exc = _capture(lambda: dead.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA))
    assert isinstance(exc, botocore.exceptions.EndpointConnectionError)
    span = tap.span()
    assert span.attributes["error.type"] == "botocore.exceptions.EndpointConnectionError"
    assert span.attributes["server.port"] == 9


def test_unknown_family_still_gets_a_span(tap: Any, client: Any, fresh_emulator: Any) -> None:
    # an opaque ARN whose body no format recognises: model, latency, status, error
    arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/unknown-thing"
    exc = _capture(lambda: client.invoke_model(modelId=arn, body=json.dumps({"weird": True})))
    assert isinstance(exc, client.exceptions.ValidationException)
    span = tap.span()
    assert span.name == f"chat {arn}"
    assert "genai_tap.model.family" not in span.attributes
    assert span.attributes["error.type"] == "ValidationException"
    assert span.end_time > span.start_time


def test_dropped_connection(tap: Any, client: Any, fresh_emulator: Any) -> None:
    fresh_emulator.add_fault("drop")
    exc = _capture(lambda: client.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA))
    assert isinstance(exc, botocore.exceptions.ConnectionClosedError)
    assert tap.span().attributes["error.type"] == "botocore.exceptions.ConnectionClosedError"


SECRET_PLAN = "our confidential plan to acquire Initech in March"


@pytest.mark.parametrize(
    "message",
    [
        # the shape of Bedrock's request validator, quoting the value
        f"Malformed input request: #/messages/0/content/0/text: string [{SECRET_PLAN}] does not match pattern ^[a-z]+$, please reformat your input and try again.",
        # a message in no format genai-tap knows, quoting part of the prompt
        f"The model could not process: {SECRET_PLAN[8:]}",
    ],
)
@pytest.mark.parametrize("api", ["InvokeModel", "Converse"])
def test_without_content_capture_errors_quoting_the_request_are_withheld(
    api: str, message: str, fresh_emulator: Any, client: Any, tap_no_content: Any
) -> None:
    """The request the call was made with goes with its error: whatever of it the error
    message quotes is withheld when content is not captured, known format or not."""
    messages = [{"role": "user", "content": [{"text": SECRET_PLAN}]}]
    fresh_emulator.add_fault("ValidationException", message=message)
    if api == "InvokeModel":
        call = lambda: client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps({"messages": messages}))  # noqa: E731
    else:
        call = lambda: client.converse(modelId="amazon.nova-lite-v1:0", messages=messages)  # noqa: E731
    exc = _capture(call)
    assert SECRET_PLAN[8:] in str(exc)  # the app gets Bedrock's message as it is
    span = tap_no_content.span()
    exported = json.dumps({"attributes": dict(span.attributes), "status": span.status.description,
                           "events": [dict(e.attributes) for e in span.events]})
    assert "Initech" not in exported and "confidential" not in exported
    assert "ValidationException" in exported and "[content withheld]" in exported
