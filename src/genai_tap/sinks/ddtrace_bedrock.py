"""Does ddtrace's own Bedrock integration record this call in LLM Observability?

ddtrace's botocore integration (on under ``ddtrace-run`` and ``import
ddtrace.auto``, and after ``LLMObs.enable()`` with its default
``integrations_enabled=True``) wraps the same ``BaseClient._make_api_call`` that
genai-tap does, and emits an LLM Observability span of its own for
``Converse``, ``ConverseStream``, ``InvokeModel`` and
``InvokeModelWithResponseStream`` on every model whose ID does not contain
``embed``. For those calls genai-tap adds no span of its own, unless
``GENAI_TAP_DD_DUPLICATES=both``: see README.md ("Datadog") for why ddtrace's span
is the one kept rather than dropped.

Checked at call time, cheapest first, with nothing imported: ddtrace patches
botocore lazily, possibly after genai-tap's sink was created.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ..record import CallRecord

#: The Bedrock Runtime APIs for which ddtrace's integration makes LLMObs spans.
APIS = frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"})
PROVIDER = "aws.bedrock"
SPAN_TYPE_LLM = "llm"


def records(rec: "CallRecord") -> bool:
    """Whether ddtrace's Bedrock integration emits an LLMObs span for this call."""
    if rec.provider != PROVIDER or rec.api not in APIS or "embed" in rec.request_model:
        return False
    client = sys.modules.get("botocore.client")
    if not getattr(client, "_datadog_patch", False):  # set by ddtrace's botocore patch()
        return False
    llmobs = sys.modules.get("ddtrace.llmobs")
    return bool(llmobs is not None and llmobs.LLMObs.enabled)


def live_span(rec: "CallRecord") -> Optional[Any]:
    """ddtrace's span for this call, if ddtrace's hook runs around genai-tap's.

    That is the usual order (ddtrace patches botocore after genai-tap's import
    hook has); then the current APM span is ddtrace's, typed ``llm``, with the API
    as its resource. If genai-tap's hook is the outer one, ddtrace's span does not
    exist yet and None is returned.
    """
    from ddtrace.trace import tracer

    span = tracer.current_span()
    if span is None or span.finished or span.span_type != SPAN_TYPE_LLM or span.resource != rec.api:
        return None
    return span
