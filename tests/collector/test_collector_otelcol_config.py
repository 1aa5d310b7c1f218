"""The production OpenTelemetry Collector configuration: every component a pipeline
names is defined, every env var it reads is documented in collector/README.md.
(otelcol-contrib itself cannot be installed here, so this is a static check.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector" / "otelcol" / "config.yaml"
README = ROOT / "collector" / "README.md"
ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def load():
    return yaml.safe_load(CONFIG.read_text())


def test_every_component_a_pipeline_names_is_defined():
    cfg = load()
    service = cfg["service"]
    connectors = set(cfg.get("connectors") or {})
    assert set(service.get("extensions", [])) <= set(cfg.get("extensions") or {})
    used_connectors = {"exporters": set(), "receivers": set()}
    assert set(service["pipelines"]) == {"traces", "traces/llmobs", "metrics", "logs"}
    for name, pipeline in service["pipelines"].items():
        assert pipeline["receivers"] and pipeline["exporters"], name
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                if kind != "processors" and component in connectors:
                    used_connectors[kind].add(component)
                    continue
                assert component in (cfg.get(kind) or {}), f"pipeline {name} names undefined {kind[:-1]} {component}"
        processors = pipeline.get("processors", [])
        assert processors[0] == "memory_limiter" and processors[-1] == "batch", name
    # a connector must end one pipeline and start another
    assert used_connectors["exporters"] == used_connectors["receivers"] == connectors


def test_the_required_pieces_are_there():
    cfg = load()
    assert "otlp" in cfg["receivers"]
    exporters = cfg["exporters"]
    assert "datadog" in exporters and "datadog/connector" in cfg["connectors"]
    assert exporters["otlphttp/datadog_llmobs"]["headers"]["dd-otlp-source"] == "llmobs"
    assert any(name.startswith("otlphttp/") and name != "otlphttp/datadog_llmobs" for name in exporters)
    pipelines = cfg["service"]["pipelines"]
    for name in ("traces", "traces/llmobs"):
        assert "transform/genai_content" in pipelines[name]["processors"] and "redaction/secrets" in pipelines[name]["processors"]
    # LLM Observability gets the GenAI spans that no Datadog LLMObs span records already
    assert pipelines["traces/llmobs"]["exporters"] == ["otlphttp/datadog_llmobs"]
    assert "otlphttp/datadog_llmobs" not in pipelines["traces"]["exporters"]
    assert "filter/already_in_llmobs" in pipelines["traces/llmobs"]["processors"]
    conditions = cfg["processors"]["filter/already_in_llmobs"]["traces"]["span"]
    assert conditions == ['attributes["_dd.llmobs.artificial_gen_ai_tags"] == "true"']
    statements = cfg["processors"]["transform/genai_content"]["trace_statements"][0]["statements"]
    for attribute in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions"):
        assert any(f'"{attribute}"' in s for s in statements), attribute


def test_every_env_var_is_documented_in_the_readme():
    used = set(ENV.findall(CONFIG.read_text()))
    assert used >= {"DD_API_KEY", "DD_SITE", "GENAI_TAP_DROP_CONTENT", "OTLP_BACKEND_ENDPOINT"}
    table = README.read_text().split("### Environment variables of the production collector", 1)[1]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.M))
    assert used == documented, f"undocumented: {used - documented}; documented but unused: {documented - used}"
