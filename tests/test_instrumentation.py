"""Patching botocore: once, only for bedrock-runtime, reversibly, for clients old and new."""

from __future__ import annotations

import json
from typing import Any

import botocore.client
import pytest
from genai_tap_bedrock import interceptor

import genai_tap
from genai_tap import bootstrap

NOVA = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})


def test_uninstrument_restores_the_original_function(aws: str) -> None:
    original = botocore.client.BaseClient.__dict__["_make_api_call"]
    assert genai_tap.instrument()
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is not original
    genai_tap.uninstrument()
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is original


def test_instrument_twice_wraps_once(tap: Any, client: Any) -> None:
    bootstrap.stop()
    assert genai_tap.instrument()
    assert genai_tap.instrument()
    interceptor.install(botocore.client)  # a second install, e.g. from another bootstrap path
    client.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA)
    assert len(tap.spans()) == 1
    ours, fn = 0, botocore.client.BaseClient.__dict__["_make_api_call"]
    while fn is not None:
        ours += getattr(fn, "__wrapper__", None) is interceptor.traced_make_api_call or getattr(fn, "_self_wrapper", None) is interceptor.traced_make_api_call
        fn = getattr(fn, "__wrapped__", None)
    assert ours == 1


def test_client_created_before_instrumentation_is_traced(aws: str, request: pytest.FixtureRequest) -> None:
    import boto3

    early = boto3.client("bedrock-runtime")
    tap = request.getfixturevalue("tap")
    early.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA)
    assert len(tap.spans()) == 1


def test_other_services_are_not_traced(tap: Any, aws: str, emulator: Any) -> None:
    import boto3
    from botocore.exceptions import ClientError

    control_plane = boto3.client("bedrock", endpoint_url=emulator.url)
    with pytest.raises(ClientError):
        control_plane.list_foundation_models()
    assert tap.spans() == []


def test_untraced_bedrock_operations_pass_through(tap: Any, client: Any) -> None:
    client.list_async_invokes()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_async_invoke(invocationArn="arn:aws:bedrock:us-east-1:1:async-invoke/none")
    assert tap.spans() == []


def test_uninstall_under_another_wrapper_goes_inert(tap: Any, client: Any) -> None:
    import wrapt

    calls = []

    def outer(wrapped, instance, args, kwargs):
        calls.append(args[0])
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(botocore.client.BaseClient, "_make_api_call", outer)
    try:
        interceptor.uninstall(botocore.client)  # ours is not on top: cannot be removed, so it stops tracing
        client.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA)
        assert calls == ["InvokeModel"] and tap.spans() == []
        interceptor.install(botocore.client)  # found in the chain: switched back on, not wrapped twice
        client.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA)
        assert len(tap.spans()) == 1
    finally:
        fn = botocore.client.BaseClient.__dict__["_make_api_call"]
        botocore.client.BaseClient._make_api_call = fn.__wrapped__


def test_disabled_plugin_is_not_installed(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = botocore.client.BaseClient.__dict__["_make_api_call"]
    assert genai_tap.instrument(disabled_plugins="bedrock")
    try:
        assert botocore.client.BaseClient.__dict__["_make_api_call"] is original
        assert "bedrock" not in bootstrap.plugins
    finally:
        genai_tap.uninstrument()
        from genai_tap.config import reset_config

        reset_config(None)


def test_no_sinks_means_no_tracing_work(aws: str, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tap.config import Config, reset_config
    from genai_tap.tap import Tap, set_tap

    cfg = Config.from_env({"GENAI_TAP_SINKS": "none"})
    reset_config(cfg)
    set_tap(Tap(cfg))
    assert genai_tap.instrument()
    try:
        resp = client.invoke_model(modelId="amazon.nova-lite-v1:0", body=NOVA)
        assert json.loads(resp["body"].read())
    finally:
        genai_tap.uninstrument()
        set_tap(None)
        reset_config(None)


def test_the_hook_knows_every_traced_operation() -> None:
    """The hook picks calls by name before it imports how they are read: the lists agree, service by service."""
    import importlib

    for service, (module, names) in interceptor.SERVICES.items():
        assert names == set(importlib.import_module(module, "genai_tap_bedrock").OPERATIONS), service
    assert interceptor.TRACED == set().union(*(names for _, names in interceptor.SERVICES.values()))
