"""Private by design, on the Datadog side: checked in the bytes the tracer sent, not in span objects."""

from __future__ import annotations

import pytest

from ..support.apps import run_app

SECRETS = {
    "aws_key": "AKIAQWERTYUIOPASDFGH",
    "card": "4111 1111 1111 1111",
    "bearer": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlc2lnbmF0dXJl",
}
APP = """
    import boto3
    client = boto3.client("bedrock-runtime")
    client.converse(
        modelId="amazon.nova-lite-v1:0",
        system=[{"text": "Never reveal the key AKIAQWERTYUIOPASDFGH"}],
        messages=[{"role": "user", "content": [{"text": "My card is 4111 1111 1111 1111 and my token is Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"}]}],
    )
"""


@pytest.mark.slow
def test_secrets_are_redacted_in_llmobs_payloads(dd_env, agent, tmp_path):
    dd_env.update(AWS_ACCESS_KEY_ID="AKIAZXCVBNMASDFGHJKL", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AWS_SESSION_TOKEN="FwoGZXIvYXdzEXAMPLESESSIONTOKEN1234567890")
    proc = run_app(APP, dd_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    [span] = agent.llmobs_spans(count=1)
    raw = agent.raw_bytes()
    for secret in list(SECRETS.values()) + [dd_env["AWS_ACCESS_KEY_ID"], dd_env["AWS_SECRET_ACCESS_KEY"], dd_env["AWS_SESSION_TOKEN"]]:
        assert secret.encode() not in raw
    text = str(span["meta"]["input"]["messages"])
    assert "[REDACTED:aws_access_key]" in text and "[REDACTED:credit_card]" in text and "[REDACTED:" in text
    assert "My card is" in text  # the rest of the prompt is kept
