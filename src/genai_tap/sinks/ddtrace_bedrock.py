"""ddtrace's own Bedrock integration, next to genai-tap's Datadog sink: which span is a call's.

ddtrace's botocore integration (on under ``ddtrace-run``, ``import ddtrace.auto``, and
after ``LLMObs.enable()`` with its default ``integrations_enabled=True``) wraps the same
``BaseClient._make_api_call`` as genai-tap. With LLM Observability on, its span for
``Converse``, ``ConverseStream``, ``InvokeModel`` and ``InvokeModelWithResponseStream``
(models without ``embed`` in their ID) and for ``InvokeAgent`` is an LLM Observability
span as well as an APM span. ``GENAI_TAP_DD_DUPLICATES`` decides what happens to a call
that both record:

- ``genai-tap`` (the default): genai-tap's span is the call's LLM Observability span, and
  ddtrace's integration keeps only its APM span (:func:`watch`, :func:`owns`);
- ``ddtrace``: ddtrace's span is the call's LLM Observability span, genai-tap adds none;
- ``both``: both spans (the call is counted twice).

How ddtrace keeps only its APM span. ddtrace has no public switch for "APM span but no
LLM Observability span" for one integration. Its botocore integration decides per call,
in the function it runs for each Bedrock endpoint, by asking the integration object it is
handed (``function_vars["integration"]``) whether LLM Observability is on
(``integration.llmobs_enabled``); when that says no, it makes the APM-only span it makes
for any app without LLM Observability, and writes no LLM Observability data at all
(ddtrace's own, tested, "LLM Observability off" path). genai-tap wraps that per-endpoint
function (``ENDPOINTS_TO_PATCH_FUNCTIONS[endpoint]["PATCHING_FN"]`` in
``ddtrace.contrib.internal.botocore.patch``) so that, for the operations genai-tap itself
traces, ddtrace is handed a view of its integration object that answers "off". Nothing
else of ddtrace changes: its APM span, its tags and its timings are as before, its
object is not modified, and other operations (and other integrations) keep LLM
Observability.

This is done when that module is imported (genai-tap registers an import hook at
start-up, so it is in place before the app's first call), and only if every feature it
relies on is there and ddtrace's version is one genai-tap recognises
(:data:`OLDEST` up to, not including, :data:`BEYOND`). Otherwise genai-tap says so once,
and behaves as with ``ddtrace``: one span per call, ddtrace's. At each call the sink also
checks what ddtrace actually did when ddtrace's hook runs around genai-tap's (the usual
order): if ddtrace's span is an LLM Observability span after all, genai-tap steps aside
for that call, with one warning. Never two spans, never none.

What is read of ddtrace here is public API (``tracer.current_span()``, a span's
``span_type``, ``resource``, ``name``, ``finished``; ``LLMObs.enabled``;
``ddtrace.__version__``), apart from the module, table and object described above.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Optional

from ..importhooks import module_version

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..record import CallRecord

PATCH_MODULE = "ddtrace.contrib.internal.botocore.patch"
TABLE = "ENDPOINTS_TO_PATCH_FUNCTIONS"
FUNCTION_KEY = "PATCHING_FN_KEY"

#: The operations of each Bedrock endpoint for which ddtrace's integration makes LLM
#: Observability spans (InvokeModel of a model whose ID contains ``embed`` excepted).
APIS: Dict[str, FrozenSet[str]] = {
    "bedrock-runtime": frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}),
    "bedrock-agent-runtime": frozenset({"InvokeAgent"}),
}
ENDPOINT_OF = {api: endpoint for endpoint, apis in APIS.items() for api in apis}
PROVIDER = "aws.bedrock"
SPAN_TYPE_LLM = "llm"
AGENT_SPAN_PREFIX = "Bedrock Agent "  # ddtrace's name for its InvokeAgent span

#: The ddtrace releases genai-tap recognises: from OLDEST (its test suite passes there)
#: up to, not including, BEYOND (a new major version may work differently).
OLDEST = (3, 16, 0)
BEYOND = (5,)

#: what genai-tap traces, by endpoint: set by the Bedrock plugin's interceptor module
INTERCEPTOR = "genai_tap_bedrock.interceptor"
BEDROCK_PLUGIN = "bedrock"


class _State:
    """Whether genai-tap has taken over LLM Observability for Bedrock calls from ddtrace."""

    def __init__(self) -> None:
        self.taken_over = False  # the per-endpoint functions are wrapped
        self.problem: Optional[str] = None  # why not, when it was tried and could not be done
        self.sink: Any = None  # the Datadog sink, once created
        self.warned = False
        self.lock = threading.Lock()


state = _State()


# ---------------------------------------------------------------------- at start-up


def watch(config: "Config") -> None:
    """Take over from ddtrace's integration as soon as ddtrace patches botocore.

    Called at start-up when the Datadog sink is configured; imports nothing (the hook
    runs when ddtrace imports its botocore patch module, or now if it has).
    """
    from ..config import DD_DUPLICATES_GENAI_TAP

    if config.dd_duplicates != DD_DUPLICATES_GENAI_TAP or "datadog" not in config.sinks:
        return
    from .. import importhooks

    importhooks.when_imported(PATCH_MODULE, _take_over_hook)


def _take_over_hook(module: Any) -> None:
    take_over(module)


def take_over(module: Any) -> bool:
    """Wrap ddtrace's per-endpoint Bedrock functions (once); False, with the reason kept, if it cannot."""
    with state.lock:
        if state.taken_over:
            return True
        problem = _unrecognised(module)
        if problem is None:
            table = getattr(module, TABLE)
            key = getattr(module, FUNCTION_KEY)
            for endpoint in APIS:
                entry = table.get(endpoint)
                if isinstance(entry, dict) and callable(entry.get(key)) and not _is_ours(entry[key]):
                    entry[key] = _handing_llmobs_off(entry[key], endpoint)
            state.taken_over = True
            return True
        state.problem = problem
    from ..guard import logger

    logger().warning(
        "genai-tap: %s, so ddtrace's Bedrock integration keeps making LLM Observability spans: its span is"
        " the one for the calls it records, and genai-tap's content and content policy do not apply to them"
        " (as with GENAI_TAP_DD_DUPLICATES=ddtrace).",
        problem,
    )
    state.warned = True
    return False


def _unrecognised(module: Any) -> Optional[str]:
    """Why genai-tap cannot take over in this ddtrace, or None if it can."""
    version = module_version("ddtrace")
    shown = ".".join(map(str, version)) if version else "(version unknown)"
    if version is None or not OLDEST <= version < BEYOND:
        oldest = ".".join(map(str, OLDEST))
        return f"ddtrace {shown} is not a version genai-tap recognises ({oldest} to {BEYOND[0] - 1}.x)"
    table = getattr(module, TABLE, None)
    key = getattr(module, FUNCTION_KEY, None)
    if not isinstance(table, dict) or not isinstance(key, str):
        return f"ddtrace {shown} has no {TABLE} table in {PATCH_MODULE}"
    entry = table.get("bedrock-runtime")
    if not isinstance(entry, dict) or not callable(entry.get(key)):
        return f"ddtrace {shown} has no Bedrock Runtime function in {PATCH_MODULE}.{TABLE}"
    return None


def _is_ours(fn: Any) -> bool:
    return getattr(fn, "__genai_tap_endpoint__", None) is not None


def _handing_llmobs_off(fn: Callable[..., Any], endpoint: str) -> Callable[..., Any]:
    """ddtrace's function for ``endpoint``, handed an integration that answers "LLM
    Observability off" for the operations genai-tap records itself."""

    def genai_tap_records_this_call(*args: Any, **kwargs: Any) -> Any:
        try:
            function_vars = kwargs.get("function_vars")
            if isinstance(function_vars, dict) and owns(endpoint, function_vars.get("operation")):
                integration = function_vars.get("integration")
                if integration is not None:
                    kwargs["function_vars"] = dict(function_vars, integration=_llmobs_off(integration))
        except Exception as exc:  # never stand between the app and ddtrace
            from ..guard import report

            report("datadog sink (taking the call over from ddtrace)", exc)
        return fn(*args, **kwargs)

    genai_tap_records_this_call.__genai_tap_endpoint__ = endpoint  # type: ignore[attr-defined]
    genai_tap_records_this_call.__wrapped__ = fn  # type: ignore[attr-defined]
    return genai_tap_records_this_call


_off_views: Dict[int, Any] = {}


def _llmobs_off(integration: Any) -> Any:
    """A view of ddtrace's integration object that says LLM Observability is off.

    Same class (a subclass of it), same state (the very same ``__dict__``): only
    ``llmobs_enabled`` differs. ddtrace's object itself is left as it is.
    """
    view = _off_views.get(id(integration))
    if view is None or view.__dict__ is not integration.__dict__:
        cls = type(integration)
        off = type(cls.__name__, (cls,), {"llmobs_enabled": property(lambda self: False), "__module__": __name__})
        view = object.__new__(off)
        view.__dict__ = integration.__dict__
        _off_views[id(integration)] = view
    return view


def owns(endpoint: str, operation: Any) -> bool:
    """Whether genai-tap records this operation in LLM Observability itself (so ddtrace must not)."""
    if not state.taken_over or endpoint not in APIS:
        return False
    plugins = sys.modules.get("genai_tap.bootstrap")
    plugin = getattr(plugins, "plugins", {}).get(BEDROCK_PLUGIN)
    if plugin is None or "botocore.client" not in plugin.installed:
        return False
    interceptor = sys.modules.get(INTERCEPTOR)
    services = getattr(interceptor, "SERVICES", None) or {}
    traced = services.get(endpoint)
    if not getattr(interceptor, "active", False) or traced is None or operation not in traced[1]:
        return False
    tap = getattr(sys.modules.get("genai_tap.tap"), "_tap", None)
    sinks = getattr(tap, "_sinks", None)
    if sinks is None:  # created at this very call, right after ddtrace's hook: presumed there
        return True
    return state.sink is not None and any(sink is state.sink for sink in sinks)


# ---------------------------------------------------------------------- at each call


def peer(rec: "CallRecord") -> Optional[Any]:
    """ddtrace's span for this call, if ddtrace's hook runs around genai-tap's (it is then current)."""
    endpoint = ENDPOINT_OF.get(rec.api)
    if endpoint is None or rec.provider != PROVIDER or "ddtrace.trace" not in sys.modules:
        return None
    from ddtrace.trace import tracer

    span = tracer.current_span()
    if span is None or span.finished:
        return None
    if endpoint == "bedrock-agent-runtime":
        mine = str(span.name).startswith(AGENT_SPAN_PREFIX) and str(span.resource).endswith(endpoint)
    else:
        mine = span.resource == rec.api and endpoint in str(span.name)
    return span if mine else None


def ddtrace_records(rec: "CallRecord") -> bool:
    """Whether ddtrace's hook, running *inside* genai-tap's, will make an LLM Observability span
    for this call: ddtrace's own rule, for a call genai-tap has not taken over."""
    endpoint = ENDPOINT_OF.get(rec.api)
    if endpoint is None or rec.provider != PROVIDER or owns(endpoint, rec.api):
        return False
    if PATCH_MODULE not in sys.modules or "embed" in rec.request_model:
        return False
    llmobs = sys.modules.get("ddtrace.llmobs")
    trace = sys.modules.get("ddtrace.trace")
    if llmobs is None or trace is None or not llmobs.LLMObs.enabled or not trace.tracer.enabled:
        return False
    return not _in_a_coroutine()  # ddtrace's aiobotocore integration makes APM spans only


def _in_a_coroutine() -> bool:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no event loop running in this thread
        return False


def step_aside_warning(rec: "CallRecord") -> None:
    """ddtrace made an LLM Observability span for a call genai-tap took over: say so, once."""
    if state.warned:
        return
    state.warned = True
    from ..guard import logger

    version = getattr(sys.modules.get("ddtrace"), "__version__", "(version unknown)")
    logger().warning(
        "genai-tap: ddtrace %s made an LLM Observability span for a Bedrock %s call although genai-tap handed"
        " its integration LLM Observability off; its span is kept as the call's (as with"
        " GENAI_TAP_DD_DUPLICATES=ddtrace), and genai-tap adds none.",
        version,
        rec.api,
    )


def restore() -> None:
    """Put ddtrace's own functions back (tests)."""
    module = sys.modules.get(PATCH_MODULE)
    with state.lock:
        table = getattr(module, TABLE, None)
        key = getattr(module, FUNCTION_KEY, None)
        if isinstance(table, dict):
            for entry in table.values():
                if isinstance(entry, dict) and _is_ours(entry.get(key)):
                    entry[key] = entry[key].__wrapped__
        state.taken_over = False
        state.problem = None
        state.warned = False
