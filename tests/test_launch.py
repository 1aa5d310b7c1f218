"""Zero code change, for real: unmodified apps in fresh processes, telemetry over real OTLP.

Every test runs a plain boto3 script in a new Python process (under ``genai-tap run``,
the ``sitecustomize`` directory, ``import genai_tap.auto`` or ``opentelemetry-instrument``)
against the emulator, and reads what arrived at a real OTLP receiver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from genai_tap import semconv as sc

from .support.apps import GENAI_TAP, NO_THREADS_AT_EXIT, aws_env, run_app
from .support.otlp import GrpcReceiver

NOVA_APP = """
import json, sys
import boto3
print("botocore loaded before first call:", "botocore" in sys.modules)
client = boto3.client("bedrock-runtime")
body = {"messages": [{"role": "user", "content": [{"text": "What is the capital of France?"}]}],
        "inferenceConfig": {"maxTokens": 200, "temperature": 0.3}}
resp = client.invoke_model(modelId="us.amazon.nova-lite-v1:0", body=json.dumps(body))
print(json.loads(resp["body"].read())["output"]["message"]["content"][0]["text"])
"""


def _env(aws_url: str, otlp: Any, **extra: str) -> Dict[str, str]:
    env = aws_env(aws_url)
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url, OTEL_SERVICE_NAME="launch-test")
    env.update(extra)
    return env


@pytest.mark.slow
def test_genai_tap_run_exports_spans_and_metrics(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    proc = run_app(NOVA_APP, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Hello from the genai-tap emulator" in proc.stdout
    assert proc.stderr == ""
    spans = otlp.wait_for(otlp.spans)
    assert len(spans) == 1
    span = spans[0]
    assert span["name"] == "chat us.amazon.nova-lite-v1:0"
    assert span["kind"] == 3  # SPAN_KIND_CLIENT
    assert span["resource"]["service.name"] == "launch-test"
    assert span["scope"] == "genai_tap"
    a = span["attributes"]
    assert a[sc.PROVIDER_NAME] == "aws.bedrock"
    assert a[sc.REQUEST_TEMPERATURE] == 0.3
    assert a[sc.USAGE_INPUT_TOKENS] > 0 and a[sc.USAGE_OUTPUT_TOKENS] > 0
    assert json.loads(a[sc.INPUT_MESSAGES])[0]["parts"][0]["content"] == "What is the capital of France?"
    points = otlp.wait_for(otlp.metric_points, 3)
    by_name: Dict[str, list] = {}
    for p in points:
        by_name.setdefault(p["name"], []).append(p)
    duration = by_name[sc.METRIC_OPERATION_DURATION][0]
    assert duration["unit"] == "s" and duration["count"] == 1
    assert duration["bounds"] == list(sc.DURATION_BUCKETS)
    assert duration["attributes"][sc.REQUEST_MODEL] == "us.amazon.nova-lite-v1:0"
    assert duration["attributes"][sc.OPERATION_NAME] == "chat"
    assert duration["attributes"][sc.SERVER_ADDRESS] == "127.0.0.1"
    tokens = {p["attributes"][sc.TOKEN_TYPE]: p for p in by_name[sc.METRIC_TOKEN_USAGE]}
    assert tokens["input"]["sum"] == a[sc.USAGE_INPUT_TOKENS]
    assert tokens["output"]["sum"] == a[sc.USAGE_OUTPUT_TOKENS]
    assert tokens["input"]["unit"] == "{token}" and tokens["input"]["bounds"] == list(sc.TOKEN_BUCKETS)


@pytest.mark.slow
def test_exit_flush_where_no_thread_may_start_at_exit(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    """Python 3.12 refuses new threads in atexit callbacks: the exit flush runs on the
    finisher's thread, which already exists, still within its timeout, and the app's
    stderr stays clean (no "Exception ignored in atexit callback")."""
    two_calls = NOVA_APP + "resp = client.converse(modelId='us.amazon.nova-lite-v1:0', messages=body['messages'])\n"
    proc = run_app(two_calls + NO_THREADS_AT_EXIT, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert sorted(s["attributes"][sc.BEDROCK_API] for s in otlp.wait_for(otlp.spans, 2)) == ["Converse", "InvokeModel"]
    durations = [p for p in otlp.wait_for(otlp.metric_points, 3) if p["name"] == sc.METRIC_OPERATION_DURATION]
    assert sum(p["count"] for p in durations) == 2


APP_TWICE = """
import json, boto3
client = boto3.client("bedrock-runtime")
for _ in range(2):
    client.invoke_model(modelId="us.amazon.nova-lite-v1:0", body=json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("preference, temporality", [("cumulative", 2), ("delta", 1)])
def test_metric_temporality(preference: str, temporality: int, emulator: Any, otlp: Any, tmp_path: Path) -> None:
    env = _env(emulator.url, otlp, OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=preference)
    proc = run_app(APP_TWICE, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    points = [p for p in otlp.wait_for(otlp.metric_points) if p["name"] == sc.METRIC_OPERATION_DURATION]
    assert points and all(p["temporality"] == temporality for p in points)  # AGGREGATION_TEMPORALITY_DELTA = 1
    assert sum(p["count"] for p in points) == 2


@pytest.mark.slow
def test_bootstrap_does_not_import_botocore(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    app = "import sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'opentelemetry', 'wrapt', 'ddtrace')))\n"
    proc = run_app(app, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    proc = run_app(NOVA_APP, _env(emulator.url, otlp), tmp_path)
    assert "botocore loaded before first call: True" in proc.stdout


@pytest.mark.slow
def test_importing_boto3_loads_only_the_hook(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    """An app that imports boto3 (for S3, say) and never calls Bedrock gets the hook on
    botocore and nothing more: how calls are read, the body formats, and the sinks come
    with the first Bedrock call."""
    show = "print(sorted(m for m in sys.modules if m.startswith(('genai_tap_bedrock.', 'opentelemetry', 'ddtrace'))))"
    app = f"import sys, boto3\n{show}\n" + NOVA_APP.replace("import json, sys", "import json") + show + "\n"
    proc = run_app(app, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    before, after = (eval(line) for line in proc.stdout.splitlines() if line.startswith("["))
    assert before == ["genai_tap_bedrock.interceptor", "genai_tap_bedrock.others"]
    assert {"genai_tap_bedrock.operations", "genai_tap_bedrock.formats.nova"} <= set(after)
    assert any(m.startswith("opentelemetry.sdk") for m in after)
    assert len(otlp.wait_for(otlp.spans)) == 1


@pytest.mark.slow
def test_boto3_imported_before_genai_tap_auto(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    app = "import boto3\nclient = boto3.client('bedrock-runtime')\nimport genai_tap.auto\nimport genai_tap.auto\n" + NOVA_APP.replace(
        'client = boto3.client("bedrock-runtime")', ""
    )
    proc = run_app(app, _env(emulator.url, otlp), tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    assert len(otlp.wait_for(otlp.spans)) == 1  # a client made before genai-tap started, traced once


@pytest.mark.slow
def test_run_of_a_script_that_imports_auto_itself(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    proc = run_app("import genai_tap.auto\n" + NOVA_APP, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    otlp.wait_for(otlp.spans)
    assert len(otlp.spans()) == 1


@pytest.mark.slow
def test_existing_sitecustomize_still_runs(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    own = tmp_path / "own_site"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['FROM_OWN_SITECUSTOMIZE'] = 'yes'\nprint('own sitecustomize ran')\n")
    env = _env(emulator.url, otlp, PYTHONPATH=str(own))
    proc = run_app("import os\nprint(os.environ.get('FROM_OWN_SITECUSTOMIZE'))\n" + NOVA_APP, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    # (the launcher is a Python process too, so it ran it once for itself)
    assert "own sitecustomize ran\nyes\n" in proc.stdout
    assert len(otlp.wait_for(otlp.spans)) == 1


@pytest.mark.slow
def test_sitecustomize_directory_on_pythonpath(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    path = subprocess.run(GENAI_TAP + ["sitecustomize"], capture_output=True, text=True, check=True).stdout.strip()
    assert os.path.isfile(os.path.join(path, "sitecustomize.py"))
    export = subprocess.run(GENAI_TAP + ["sitecustomize", "--export"], capture_output=True, text=True, check=True).stdout
    assert export.startswith("export PYTHONPATH=") and path in export
    proc = run_app(NOVA_APP, _env(emulator.url, otlp, PYTHONPATH=path), tmp_path, traced=False)
    assert proc.returncode == 0, proc.stderr
    assert len(otlp.wait_for(otlp.spans)) == 1


def test_disabled(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    proc = run_app(NOVA_APP, _env(emulator.url, otlp, GENAI_TAP_ENABLED="false"), tmp_path)
    assert proc.returncode == 0 and "Hello" in proc.stdout
    proc = run_app("import sys; print('wrapt' in sys.modules)", _env(emulator.url, otlp, GENAI_TAP_ENABLED="false"), tmp_path)
    assert proc.stdout.strip() == "False"
    assert otlp.spans() == []


@pytest.mark.slow
def test_bad_value_warns_naming_the_variable_and_the_app_runs(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    proc = run_app(NOVA_APP, _env(emulator.url, otlp, GENAI_TAP_CAPTURE_CONTENT="loud"), tmp_path)
    assert proc.returncode == 0 and "Hello" in proc.stdout
    assert "GENAI_TAP_CAPTURE_CONTENT='loud' is not valid" in proc.stderr
    assert "SPAN_AND_EVENT" in proc.stderr
    assert proc.stderr.count("GENAI_TAP_CAPTURE_CONTENT") == 1
    assert len(otlp.wait_for(otlp.spans)) == 1


@pytest.mark.slow
def test_otlp_headers_and_grpc(emulator: Any, tmp_path: Path) -> None:
    grpc_receiver = GrpcReceiver().start()
    try:
        env = _env(
            emulator.url,
            grpc_receiver,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_INSECURE="true",
            OTEL_EXPORTER_OTLP_HEADERS="x-team=ml,authorization=Bearer%20abc",
        )
        proc = run_app(NOVA_APP, env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        spans = grpc_receiver.wait_for(grpc_receiver.spans)
        assert spans[0]["attributes"][sc.REQUEST_MODEL] == "us.amazon.nova-lite-v1:0"
        metadata = grpc_receiver.raw[0][1]
        assert metadata["x-team"] == "ml"
        assert grpc_receiver.wait_for(grpc_receiver.metric_points)
    finally:
        grpc_receiver.stop()


@pytest.mark.slow
def test_bad_protocol_warns(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    proc = run_app(NOVA_APP, _env(emulator.url, otlp, OTEL_EXPORTER_OTLP_PROTOCOL="http/json"), tmp_path)
    assert proc.returncode == 0
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported; accepted values: http/protobuf, grpc" in proc.stderr
    assert len(otlp.wait_for(otlp.spans)) == 1


@pytest.mark.slow
def test_app_configured_provider_is_used(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    app = """
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider(resource=Resource.create({"service.name": "apps-own-provider"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("app")
with tracer.start_as_current_span("handle-request"):
""" + "\n".join("    " + line for line in NOVA_APP.strip().splitlines())
    proc = run_app(app, _env(emulator.url, otlp, OTEL_SERVICE_NAME=""), tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = otlp.wait_for(otlp.spans, 2)
    by_name = {s["name"]: s for s in spans}
    ours, parent = by_name["chat us.amazon.nova-lite-v1:0"], by_name["handle-request"]
    assert ours["resource"]["service.name"] == "apps-own-provider"
    assert ours["trace_id"] == parent["trace_id"] and ours["parent_span_id"] == parent["span_id"]


@pytest.mark.slow
@pytest.mark.parametrize("spans", ["finished spans", "sdk spans"])
def test_parent_context_from_the_app(spans: str, emulator: Any, otlp: Any, tmp_path: Path) -> None:
    """With our own provider, the span still joins the app's current trace, and the app's
    span is current again after the call: whether genai-tap hands the processor finished
    spans (a placeholder current during the call) or makes SDK spans (where the SDK's
    ReadableSpan does not fit)."""
    app = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from genai_tap.sinks import otel as tap_otel
if %r == "sdk spans":
    tap_otel.own_spans_fit = lambda: False
tracer = TracerProvider().get_tracer("app")   # the app's own tracer, not exported here
with tracer.start_as_current_span("outer") as outer:
    ctx = outer.get_span_context()
    print(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
""" % spans + "\n".join("    " + line for line in NOVA_APP.strip().splitlines()) + """
    print("outer is current again:", trace.get_current_span() is outer)
print("nothing is current after:", trace.get_current_span() is trace.INVALID_SPAN)
"""
    proc = run_app(app, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    trace_id, span_id = proc.stdout.split()[:2]
    assert "outer is current again: True" in proc.stdout
    assert "nothing is current after: True" in proc.stdout
    span = otlp.wait_for(otlp.spans)[0]
    assert span["trace_id"] == trace_id and span["parent_span_id"] == span_id


@pytest.mark.slow
def test_event_only_mode(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    env = _env(emulator.url, otlp, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY")
    proc = run_app(NOVA_APP, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    span = otlp.wait_for(otlp.spans)[0]
    assert sc.INPUT_MESSAGES not in span["attributes"]
    events = otlp.wait_for(otlp.logs)
    assert events[0]["event_name"] == sc.EVENT_INFERENCE_DETAILS
    body = events[0]["body"]
    assert body[sc.INPUT_MESSAGES][0]["parts"][0]["content"] == "What is the capital of France?"
    assert body[sc.OUTPUT_MESSAGES][0]["role"] == "assistant"


@pytest.mark.slow
def test_opentelemetry_instrument_picks_genai_tap_up(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    launcher = Path(sys.executable).parent / "opentelemetry-instrument"
    assert launcher.exists(), "opentelemetry-instrumentation is a test dependency"
    (tmp_path / "app.py").write_text(NOVA_APP)
    # opentelemetry-distro (installed for the tests) defaults to gRPC; the receiver here speaks HTTP
    env = _env(emulator.url, otlp, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_LOGS_EXPORTER="none")
    proc = subprocess.run([str(launcher), sys.executable, "app.py"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    genai = otlp.wait_for(lambda: [s for s in otlp.spans() if sc.OPERATION_NAME in s["attributes"]])
    assert len(genai) == 1 and genai[0]["scope"] == "genai_tap"


def test_cli_help_lists_subcommands() -> None:
    out = subprocess.run(GENAI_TAP + ["--help"], capture_output=True, text=True, check=True).stdout
    for command in ("run", "emulator", "sitecustomize"):
        assert f"    {command}" in out
    out = subprocess.run(GENAI_TAP + ["run", "--help"], capture_output=True, text=True, check=True).stdout
    assert "usage: genai-tap run" in out
    proc = subprocess.run(GENAI_TAP + ["run", "definitely-not-a-command-xyz"], capture_output=True, text=True)
    assert proc.returncode == 127 and "cannot run 'definitely-not-a-command-xyz'" in proc.stderr


@pytest.mark.slow
def test_spans_started_during_the_call_are_children_of_its_span(emulator: Any, otlp: Any, tmp_path: Path) -> None:
    """genai-tap makes its span after the call, off the app's thread; whatever starts during
    the call (here an HTTP-level span, from a botocore event hook) still gets it as parent."""
    app = """
import json, boto3
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
provider = TracerProvider()   # the app's own, not made global: genai-tap uses its own
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("http")
client = boto3.client("bedrock-runtime")
def send(**kwargs):
    tracer.start_span("POST bedrock-runtime").end()
client.meta.events.register("before-send.bedrock-runtime.*", send)
client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))
"""
    proc = run_app(app, _env(emulator.url, otlp), tmp_path)
    assert proc.returncode == 0, proc.stderr
    spans = {s["name"]: s for s in otlp.wait_for(otlp.spans, 2)}
    ours, child = spans["chat amazon.nova-lite-v1:0"], spans["POST bedrock-runtime"]
    assert child["trace_id"] == ours["trace_id"]
    assert child["parent_span_id"] == ours["span_id"]
    assert ours["parent_span_id"] == ""


SAMPLING_APP = """
import boto3
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
client = boto3.client("bedrock-runtime")
seen = {}
def send(**kwargs):   # what a span started during the call would inherit
    seen[current] = trace.get_current_span().get_span_context().trace_flags.sampled
client.meta.events.register("before-send.bedrock-runtime.Converse", send)
def converse(model):
    global current
    current = model
    client.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "hi"}]}])
converse("amazon.nova-lite-v1:0")   # no parent
for model, flags in (("amazon.nova-micro-v1:0", TraceFlags.DEFAULT), ("amazon.nova-pro-v1:0", TraceFlags.SAMPLED)):
    parent = NonRecordingSpan(SpanContext(0x5EED, 0xF00D, is_remote=False, trace_flags=TraceFlags(flags)))
    with trace.use_span(parent):
        converse(model)
print(" ".join(f"{m}={seen[m]}" for m in sorted(seen)))
"""


@pytest.mark.parametrize(
    "sampler, exported",
    [
        # the default sampler, decided without calling it: a root always, a child as its parent
        ({}, {"amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"}),
        # any other sampler is asked: here roots are never sampled, children follow their parent
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}, {"amazon.nova-pro-v1:0"}),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, set()),
    ],
    ids=["default", "parentbased-ratio-0", "always-off"],
)
@pytest.mark.slow
def test_sampling_with_genai_taps_own_provider(
    emulator: Any, otlp: Any, tmp_path: Path, sampler: Dict[str, str], exported: set
) -> None:
    """Our span is sampled as the OTEL_TRACES_SAMPLER in force says, and whatever starts
    during the call inherits that decision."""
    proc = run_app(SAMPLING_APP, _env(emulator.url, otlp, **sampler), tmp_path)
    assert proc.returncode == 0, proc.stderr
    models = ("amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "amazon.nova-pro-v1:0")
    assert proc.stdout.split() == [f"{m}={m in exported}" for m in models]
    otlp.wait_for(otlp.metric_points)  # the app has exported everything by now
    assert {s["attributes"][sc.REQUEST_MODEL] for s in otlp.spans()} == exported
