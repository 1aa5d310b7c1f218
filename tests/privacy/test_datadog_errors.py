"""Content off, on the Datadog side: a failed call's error fields carry no content, in
the bytes the tracer sent to the real Datadog test agent, and the exception itself is
not handed to ddtrace (whose listeners, Exception Replay's among them, read the
failing frames' local variables: the prompt)."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from ..support.apps import run_app

APP = """
    import boto3
    from botocore.exceptions import ParamValidationError
    from ddtrace.internal import core
    from genai_tap import flush

    handed = []
    core.on("span.exception", lambda span, exc_type, exc, tb: handed.append(exc_type.__name__), name="test")
    client = boto3.client("bedrock-runtime")
    prompt = "ZEBRA" + "PROMPT the private notes of our patient"
    try:
        client.converse(modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": prompt}])
    except ParamValidationError as exc:
        print(type(exc).__name__)
    flush()
    print(handed)
"""


@pytest.mark.slow
def test_error_fields_without_content(dd_env: Dict[str, str], agent: Any, tmp_path: Any) -> None:
    dd_env.update(GENAI_TAP_CAPTURE_CONTENT="false")
    proc = run_app(APP, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["ParamValidationError", "[]"]  # nothing handed to ddtrace's listeners
    [span] = agent.llmobs_spans()
    error = span["meta"]["error"]
    assert error["type"] == "botocore.exceptions.ParamValidationError"
    assert error["message"] == (
        "Parameter validation failed:\nInvalid type for parameter messages[0].content, value: [content withheld], "
        "type: <class 'str'>, valid types: <class 'list'>, <class 'tuple'>"
    )
    assert error["stack"].startswith("Traceback") and "[content withheld]" in error["stack"]
    assert b"ZEBRAPROMPT" not in agent.raw_bytes()
