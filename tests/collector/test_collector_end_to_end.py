"""The whole path: an unmodified boto3 app under `genai-tap run`, the Bedrock emulator,
the collector started as `genai-tap collector` in a subprocess, then the UI's JSON and the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import get, wait_for

from genai_tap.emulator.server import Emulator

HERE = Path(__file__).parent


@pytest.mark.slow
def test_app_to_emulator_to_collector_to_ui_and_cli(tmp_path):
    db = tmp_path / "e2e.db"
    collector = subprocess.Popen(
        [sys.executable, "-m", "genai_tap.cli", "collector", "--db", str(db), "--otlp-port", "0", "--ui-port", "0",
         "--grpc-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        banner = ""
        while "web UI:" not in banner:  # the banner, after the collector's own log line
            line = collector.stdout.readline()
            assert line, f"the collector exited: {banner}"
            banner += line
        otlp = re.search(r"OTLP_ENDPOINT=(http://[0-9.:]+)", banner).group(1)
        grpc = re.search(r"OTLP_PROTOCOL=grpc: OTEL_EXPORTER_OTLP_ENDPOINT=(http://[0-9.:]+)", banner).group(1)
        ui = re.search(r"web UI:\s+(http://[0-9.:]+)", banner).group(1)
        with Emulator() as emu:
            env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                       AWS_ENDPOINT_URL_BEDROCK_RUNTIME=emu.url, OTEL_EXPORTER_OTLP_ENDPOINT=otlp,
                       OTEL_SERVICE_NAME="demo-shop", OTEL_METRICS_EXPORTER="otlp")
            run = subprocess.run([sys.executable, "-m", "genai_tap.cli", "run", sys.executable, str(HERE / "demo_app.py")],
                                 env=env, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stderr
            assert "failed as planned: ValidationException" in run.stdout
            # the same app with an SDK that exports over gRPC (OpenTelemetry's other default)
            grpc_env = dict(env, OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_EXPORTER_OTLP_ENDPOINT=grpc,
                            OTEL_SERVICE_NAME="grpc-shop")
            run = subprocess.run([sys.executable, "-m", "genai_tap.cli", "run", sys.executable, str(HERE / "demo_app.py")],
                                 env=grpc_env, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0 and run.stderr == "", run.stderr
        def both_apps():
            apps = get(ui + "/api/apps")["apps"]
            return apps if sorted(a["calls"] for a in apps) == [4, 4] else None
        apps = wait_for(both_apps, "both apps' calls")
        assert sorted((a["app"], a["calls"], a["errors"]) for a in apps) == [("demo-shop", 4, 1), ("grpc-shop", 4, 1)]
        calls = get(ui + "/api/traces?app=demo-shop")["items"]
        assert sorted(c["base_model"] for c in calls) == [
            "amazon.no-such-model-v1:0", "amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0"]
        failed = [c for c in calls if c["status"] == "error"][0]
        assert "ValidationException" in failed["error_type"]
        assert {c["prompt"] for c in calls} >= {"What is the capital of France?", "Name a prime number."}
        nova = [c for c in calls if c["prompt"] == "And of Italy?"][0]
        assert nova["cost_usd"] > 0 and nova["input_tokens"] > 0
        detail = get(f"{ui}/api/traces/{nova['trace_id']}")
        assert detail["spans"][0]["conversation"]["system"] == [{"type": "text", "content": "Answer in one word."}]
        wait_for(lambda: get(ui + "/api/health")["received"]["metric_points"], "the demo's metrics")

        stats = json.loads(subprocess.run([sys.executable, "-m", "genai_tap.cli", "stats", "--db", str(db), "--json",
                                           "--app", "demo-shop"],
                                          capture_output=True, text=True, timeout=60, check=True).stdout)
        assert stats["total"]["calls"] == 4 and stats["total"]["errors"] == 1
        assert {m["model"] for m in stats["models"]} == {
            "amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", "amazon.no-such-model-v1:0"}
        unknown = [m for m in stats["models"] if m["model"] == "amazon.no-such-model-v1:0"][0]
        assert unknown["cost_usd"] is None
    finally:
        collector.terminate()
        assert collector.wait(timeout=30) == 0
