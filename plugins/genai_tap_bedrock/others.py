"""Other Bedrock instrumentations in the same process.

``opentelemetry-instrumentation-botocore`` (what ``opentelemetry-instrument``
loads when it is installed) has a Bedrock extension that makes its AWS SDK span
a second GenAI span, with its own token metrics. When it is present, genai-tap
takes the Bedrock part over: it removes that extension from the instrumentation's
registry, so the instrumentation keeps its generic AWS SDK span (``rpc.*``
attributes, the parent or child of genai-tap's span) and each call has exactly one
GenAI span and one set of GenAI metrics. ddtrace's own Bedrock integration is
handled by the Datadog sink.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional

OTEL_BOTOCORE_EXTENSIONS = "opentelemetry.instrumentation.botocore.extensions"
#: the instrumentation's registry of service extensions, by the private name it has had:
#: ``_KNOWN_EXTENSIONS`` up to 0.5x, ``_BOTOCORE_EXTENSIONS`` since
REGISTRY_NAMES = ("_BOTOCORE_EXTENSIONS", "_KNOWN_EXTENSIONS")

taken_over = False
_warned = False


def take_over() -> bool:
    """Remove OpenTelemetry's botocore Bedrock extension if it is loaded; True if it was.

    The registry is private to the instrumentation: it is used only where it is what
    genai-tap expects (a dict whose ``bedrock-runtime`` entry is a loader). Where the
    instrumentation is loaded and its registry is not found, nothing is changed and one
    warning says how to keep one GenAI span per call (there is no public switch for one
    extension): leave the botocore instrumentation out with
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=botocore``.
    """
    global taken_over, _warned
    module = sys.modules.get(OTEL_BOTOCORE_EXTENSIONS)
    if module is None:
        return taken_over
    registry = _registry(module)
    from genai_tap.guard import logger

    if registry is None:
        if not _warned:
            _warned = True
            logger().warning(
                "genai-tap: this opentelemetry-instrumentation-botocore has no Bedrock extension registry genai-tap "
                "knows, so it also makes GenAI spans for Bedrock calls; set OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=botocore "
                "to keep one GenAI span per call."
            )
        return taken_over
    if registry.pop("bedrock-runtime", None) is not None:
        taken_over = True
        logger().info(
            "genai-tap: opentelemetry-instrumentation-botocore is active; genai-tap makes the Bedrock GenAI "
            "spans and metrics, the botocore instrumentation keeps its generic AWS SDK span."
        )
    return taken_over


def _registry(module: Any) -> Optional[Dict[str, Any]]:
    """The instrumentation's registry of extensions, if it is the dict genai-tap expects."""
    for name in REGISTRY_NAMES:
        registry = getattr(module, name, None)
        if isinstance(registry, dict) and (taken_over or callable(registry.get("bedrock-runtime"))):
            return registry
    return None
