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

Checked at call time, cheapest first, importing nothing: ddtrace patches
botocore lazily, possibly after genai-tap's sink was created.

- ddtrace's hook usually runs *around* genai-tap's (it patches botocore after
  genai-tap's import hook has): then ddtrace's span for the call is already the
  current APM span, and whether it is an LLM Observability span settles it.
- If ddtrace's hook runs inside genai-tap's, its span does not exist yet, and
  ddtrace's own rule (API, and no ``embed`` in the model ID) is applied.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from ..record import CallRecord

#: The Bedrock Runtime APIs for which ddtrace's integration makes LLMObs spans.
APIS = frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"})
PROVIDER = "aws.bedrock"
SPAN_TYPE_LLM = "llm"
MAX_CHAIN = 16  # wrappers followed down the chain, at most


def records(rec: "CallRecord") -> Tuple[bool, Optional[Any]]:
    """(whether ddtrace's integration makes this call's LLMObs span, ddtrace's span if it is open)."""
    if rec.provider != PROVIDER or rec.api not in APIS:
        return False, None
    client = sys.modules.get("botocore.client")
    if not getattr(client, "_datadog_patch", False):  # set by ddtrace's botocore patch()
        return False, None
    llmobs = sys.modules.get("ddtrace.llmobs")
    if llmobs is None or not llmobs.LLMObs.enabled:
        return False, None
    if _ddtrace_hook_outside(client):
        span = _open_span(rec)
        if span is None:  # ddtrace's hook ran and made no span (tracing off for this call)
            return False, None
        return span.span_type == SPAN_TYPE_LLM, span
    return "embed" not in rec.request_model, None


def _ddtrace_hook_outside(client: Any) -> bool:
    """Whether ddtrace's wrapper comes before genai-tap's on the ``_make_api_call`` chain."""
    hook = client.BaseClient.__dict__.get("_make_api_call")
    for _ in range(MAX_CHAIN):
        wrapper = getattr(hook, "_self_wrapper", None)  # where wrapt's FunctionWrapper keeps the wrapper function
        module = str(getattr(wrapper, "__module__", ""))
        if module.startswith("ddtrace."):
            return True
        if module.startswith("genai_tap"):
            return False
        hook = getattr(hook, "__wrapped__", None)
        if hook is None:
            break
    return False


def _open_span(rec: "CallRecord") -> Optional[Any]:
    """ddtrace's span for this call: the current APM span, open, with the API as its resource."""
    from ddtrace.trace import tracer

    span = tracer.current_span()
    if span is None or span.finished or span.resource != rec.api:
        return None
    return span
