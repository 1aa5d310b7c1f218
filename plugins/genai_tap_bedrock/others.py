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

OTEL_BOTOCORE_EXTENSIONS = "opentelemetry.instrumentation.botocore.extensions"

taken_over = False


def take_over() -> bool:
    """Remove OpenTelemetry's botocore Bedrock extension if it is loaded; True if it was."""
    global taken_over
    module = sys.modules.get(OTEL_BOTOCORE_EXTENSIONS)
    registry = getattr(module, "_BOTOCORE_EXTENSIONS", None)
    if isinstance(registry, dict) and registry.pop("bedrock-runtime", None) is not None:
        taken_over = True
        from genai_tap.guard import logger

        logger().info(
            "genai-tap: opentelemetry-instrumentation-botocore is active; genai-tap makes the Bedrock GenAI "
            "spans and metrics, the botocore instrumentation keeps its generic AWS SDK span."
        )
    return taken_over
