"""The Datadog sink: one LLM Observability span per call, through ddtrace's public LLMObs SDK.

ddtrace is imported when the sink is created, that is at the first model call,
never at start-up. If the app did not enable LLM Observability itself (with
``ddtrace-run`` or ``LLMObs.enable()``), the sink enables it from the standard
variables (``DD_LLMOBS_ML_APP``, ``DD_API_KEY``, ``DD_SITE``,
``DD_LLMOBS_AGENTLESS_ENABLED``, ``DD_TRACE_AGENT_URL`` ...) with ddtrace's own
integrations left off, so ``genai-tap run`` alone is enough.

Each span is created in a copy of the caller's context: it is a child of the
app's current APM span, it lives as long as the call or its stream, and it is
never the current span of the app, neither while a stream is still open nor after.

When ddtrace's own Bedrock integration records the same call (an app under
``ddtrace-run`` with LLM Observability on), ``GENAI_TAP_DD_DUPLICATES`` decides;
see :mod:`.ddtrace_bedrock` and README.md ("Datadog").
"""

from __future__ import annotations

import atexit
import contextvars
import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from .. import semconv as sc
from ..config import DD_DUPLICATES_BOTH, TRUE_VALUES
from ..guard import logger
from . import Sink, SinkUnavailable, llmobs_io

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..record import CallRecord

INSTALL_HINT = "pip install 'genai-tap[datadog]'"


class _Handle:
    """This call in Datadog: our LLMObs span, or the span of ddtrace's integration."""

    __slots__ = ("span", "peer", "record")

    def __init__(self, span: Any = None, peer: Any = None, record: "Optional[CallRecord]" = None) -> None:
        self.span = span  # genai-tap's LLMObs span
        self.peer = peer  # ddtrace's own span for this call, when it records it instead
        self.record = record


class DatadogSink(Sink):
    name = "datadog"

    def __init__(self, config: "Config") -> None:
        super().__init__(config)
        try:
            from ddtrace.llmobs import LLMObs
        except ImportError as exc:
            raise SinkUnavailable(f"ddtrace cannot be imported ({exc}); to send to Datadog, {INSTALL_HINT}") from None
        from . import ddtrace_bedrock

        self.llmobs = LLMObs
        self.duplicates = ddtrace_bedrock
        self.tags = {key: value for key, value in config.dd_tags}
        _enable(LLMObs)

    # ------------------------------------------------------------------ per call
    def start(self, rec: "CallRecord") -> Any:
        if not self.llmobs.enabled:
            return None
        if self.config.dd_duplicates != DD_DUPLICATES_BOTH:
            theirs, peer = self.duplicates.records(rec)
            if theirs:
                return _Handle(peer=peer, record=rec)
        factory = self.llmobs.embedding if llmobs_io.span_kind(rec) == llmobs_io.KIND_EMBEDDING else self.llmobs.llm
        span = contextvars.copy_context().run(
            factory,
            model_name=rec.request_model,
            name=llmobs_io.span_name(rec),
            model_provider=llmobs_io.model_provider(rec),
        )
        return _Handle(span=span)

    def release(self, handle: Any) -> None:
        # ddtrace's span for the call ends as soon as its wrapper returns (calls are
        # finished later, off the app's thread): give it the OpenTelemetry ids now
        if handle is not None and handle.peer is not None:
            _tag_peer(handle.peer, handle.record)

    def link(self, rec: "CallRecord", handle: Any) -> None:
        span = handle and (handle.span or handle.peer)
        if span is not None:
            exported = self.llmobs.export_span(span)
            if exported:
                rec.links[self.name] = (exported["trace_id"], format(int(exported["span_id"]), "016x"))

    def finish(self, rec: "CallRecord", handle: Any) -> None:
        if handle is None or handle.span is None:
            return
        span = handle.span
        try:
            if rec.error is not None:
                # the error's type, and its message and stack as genai-tap's privacy policy
                # scrubbed them; not span.set_exc_info, which writes str(exc) and its own
                # traceback and hands the exception to ddtrace's listeners (Exception
                # Replay captures the failing frames' local variables: the prompt)
                err_type = type(rec.error)
                span.error = 1
                span.set_tag("error.type", f"{err_type.__module__}.{err_type.__name__}")
                span.set_tag("error.message", rec.error_message or "")
                if rec.error_stack is not None:
                    span.set_tag("error.stack", rec.error_stack)
            self.llmobs.annotate(span=span, **self.annotations(rec))
        finally:
            span.finish(finish_time=rec.end_ns / 1e9 if rec.end_ns else None)

    def annotations(self, rec: "CallRecord") -> Dict[str, Any]:
        """The ``LLMObs.annotate`` arguments for a finished call."""
        out: Dict[str, Any] = {
            "metadata": llmobs_io.metadata(rec),
            "metrics": llmobs_io.metrics(rec),
            "tags": self._tags(rec),
        }
        if not rec.capture_content:
            return out
        if llmobs_io.span_kind(rec) == llmobs_io.KIND_EMBEDDING:
            docs = llmobs_io.documents(rec)
            if docs:
                out["input_data"] = docs
            output = llmobs_io.embedding_output(rec, len(docs))
            if output:
                out["output_data"] = output
            return out
        inputs = llmobs_io.input_messages(rec)
        if inputs:
            out["input_data"] = inputs
        outputs = llmobs_io.output_messages(rec)
        if outputs:
            out["output_data"] = outputs
        tools = llmobs_io.tool_definitions(rec)
        if tools:
            out["tool_definitions"] = tools
        return out

    def _tags(self, rec: "CallRecord") -> Dict[str, str]:
        tags = dict(self.tags)
        otel = rec.links.get("otel")
        if otel:
            tags[sc.DD_OTEL_TRACE_ID], tags[sc.DD_OTEL_SPAN_ID] = otel
        return tags

    # ------------------------------------------------------------------ lifecycle
    def flush(self, timeout_s: float) -> None:
        if not self.llmobs.enabled:
            return
        self.llmobs.flush()
        from ddtrace.trace import tracer

        tracer.flush()  # in ddtrace's default mode the LLMObs events ride the APM traces


def _enable(llmobs: Any) -> None:
    """Enable LLM Observability unless the app did; SinkUnavailable if it cannot be."""
    if not llmobs.enabled:
        try:
            llmobs.enable(integrations_enabled=False, agentless_enabled=agentless())
        except ValueError as exc:  # agentless without DD_API_KEY, ...
            raise SinkUnavailable(f"Datadog LLM Observability cannot start: {exc}") from None
        if not llmobs.enabled:
            raise SinkUnavailable("Datadog LLM Observability is switched off (DD_LLMOBS_ENABLED is false)")
        logger().debug("genai-tap: enabled Datadog LLM Observability (agentless=%s)", agentless())
    # ddtrace 4.x loses events buffered before an os.fork() when the parent exits;
    # flushing first, at exit, keeps them (atexit runs this before ddtrace's own hook).
    atexit.register(llmobs.flush)


def agentless() -> bool:
    """Agentless only when asked (``DD_LLMOBS_AGENTLESS_ENABLED``, else ``DD_AGENTLESS_ENABLED``).

    Passing it explicitly keeps ``LLMObs.enable()`` from probing the agent with a
    blocking request on the app's first model call.
    """
    for name in ("DD_LLMOBS_AGENTLESS_ENABLED", "DD_AGENTLESS_ENABLED"):
        value = os.environ.get(name, "").strip().lower()
        if value:
            return value in TRUE_VALUES
    return False


def _tag_peer(peer: Any, rec: "CallRecord") -> None:
    """ddtrace's span records this call: give its APM span the OpenTelemetry ids."""
    otel: Optional[Tuple[str, str]] = rec.links.get("otel")
    if otel and not peer.finished:
        peer.set_tag(sc.DD_OTEL_TRACE_ID, otel[0])
        peer.set_tag(sc.DD_OTEL_SPAN_ID, otel[1])
