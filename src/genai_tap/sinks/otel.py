"""The OpenTelemetry sink: GenAI semantic-convention spans and metrics over OTLP.

If the app already set an OpenTelemetry SDK TracerProvider / MeterProvider as the
global one, they are used. Otherwise genai-tap makes its own, configured from the
standard ``OTEL_*`` variables (service name, resource attributes, endpoint,
protocol, headers, timeouts), with a BatchSpanProcessor and a periodic metric
reader, flushed at exit within ``GENAI_TAP_FLUSH_TIMEOUT``. Its own providers are
not made global, so the app (or ddtrace's OpenTelemetry bridge) keeps control of
those.

Why not opentelemetry-util-genai: it is the right vocabulary, but it is beta
(API changes between minors), pins ``opentelemetry-api~=1.43``, does not let the
span outlive the call on our terms for streams, and its per-call overhead is
several times the budget genai-tap holds itself to. Every name here comes from
:mod:`genai_tap.semconv`, which follows the same conventions.
"""

from __future__ import annotations

import json
import os
import random
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import semconv as sc
from .._version import __version__
from ..record import CONTENT_PARAMS, qualified_name
from . import Sink
from .otel_logging import export_trouble, exports_failed, on_trouble, quiet_exporter_logs, setting_up, warn_setting
from .otel_metrics import OwnHistograms, SdkInstruments, delta_temporality, interval_s, own_points_fit

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..record import CallRecord

SCOPE = "genai_tap"

#: Request parameters with a name in the conventions; others become ``genai_tap.request.<name>``.
PARAM_ATTRIBUTES = {
    "temperature": sc.REQUEST_TEMPERATURE,
    "top_p": sc.REQUEST_TOP_P,
    "top_k": sc.REQUEST_TOP_K,
    "max_tokens": sc.REQUEST_MAX_TOKENS,
    "stop_sequences": sc.REQUEST_STOP_SEQUENCES,
    "seed": sc.REQUEST_SEED,
    "frequency_penalty": sc.REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.REQUEST_PRESENCE_PENALTY,
    "choice_count": sc.REQUEST_CHOICE_COUNT,
    "encoding_formats": sc.REQUEST_ENCODING_FORMATS,
}


#: Record fields exported as they are, under these names (agents, tools, retrieval).
RECORD_ATTRIBUTES = (
    (sc.AGENT_ID, "agent_id"),
    (sc.AGENT_NAME, "agent_name"),
    (sc.AGENT_VERSION, "agent_version"),
    (sc.AWS_BEDROCK_AGENT_ALIAS_ID, "agent_alias_id"),
    (sc.CONVERSATION_ID, "conversation_id"),
    (sc.TOOL_NAME, "tool_name"),
    (sc.TOOL_CALL_ID, "tool_call_id"),
    (sc.TOOL_TYPE, "tool_type"),
    (sc.DATA_SOURCE_ID, "data_source_id"),
)
#: The guardrail fields of an ``apply_guardrail`` span, under the conventions' guardrail names
GUARDRAIL_SPAN_ATTRIBUTES = (
    (sc.GUARDRAIL_POLICY_ID, "guardrail_id"),
    (sc.GUARDRAIL_POLICY_VERSION, "guardrail_version"),
    (sc.GUARDRAIL_SOURCE, "guardrail_source"),
)
#: ... and of any other span (a model call, agent or search the guardrail watched)
GUARDRAIL_CALL_ATTRIBUTES = (
    (sc.AWS_BEDROCK_GUARDRAIL_VERSION, "guardrail_version"),
    (sc.AWS_BEDROCK_GUARDRAIL_ACTION, "guardrail_action"),
)

# Providers handed to genai-tap explicitly (the OpenTelemetry instrumentor's kwargs).
_given: Dict[str, Any] = {}


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Make the sink use these providers instead of the global or its own ones."""
    _given["tracer"] = tracer_provider
    _given["meter"] = meter_provider


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class OtelSink(Sink):
    name = "otel"

    def __init__(self, config: "Config", tracer_provider=None, meter_provider=None, logger_provider=None) -> None:
        super().__init__(config)
        #: the exporters genai-tap made (shut first at exit once exports have failed)
        self._exporters: List[Any] = []
        with setting_up():
            self._set_up(config, tracer_provider, meter_provider, logger_provider)

    def _set_up(self, config: "Config", tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
        self._owned: List[Any] = []
        tracer_provider = tracer_provider or _given.get("tracer")
        meter_provider = meter_provider or _given.get("meter")
        mp = meter_provider or _global_meter_provider()
        tp = tracer_provider or _global_sdk_provider(trace.get_tracer_provider(), "TracerProvider")
        if mp is None or tp is None or (config.content_in_event and logger_provider is None):
            # genai-tap makes providers: what their exporters log goes through genai-tap,
            # from the moment they are made (their modules are imported first, so that every
            # logger they log to exists and is caught)
            _import_exporters()
            quiet_exporter_logs()
        self._metrics: Any = None
        #: the GenAI conventions as they are now (OTEL_SEMCONV_STABILITY_OPT_IN), else v1.41's names
        self._latest = sc.latest_experimental()
        self._cache_write = sc.USAGE_CACHE_WRITE_INPUT_TOKENS_LATEST if self._latest else sc.USAGE_CACHE_WRITE_INPUT_TOKENS
        if mp is not None:
            self._metrics = SdkInstruments(mp, self._latest)
        elif _exporter_choice("OTEL_METRICS_EXPORTER") is not None:
            # genai-tap's own: its histograms where the SDK's data classes are as expected
            # (own_points_fit), and an SDK MeterProvider for the SDK's own processor metrics,
            # which takes genai-tap's instruments as well where they are not
            mp = _own_meter_provider(self._made(_metric_exporter()))
            self._owned.append(mp)
            if own_points_fit():
                self._metrics = OwnHistograms(self._made(_metric_exporter()), _resource(), self._latest)
            else:
                self._metrics = SdkInstruments(mp, self._latest)
        #: with genai-tap's own provider, the span processor finished spans go to (None: SDK spans)
        self._processor: Any = None
        if tp is None:
            tp, processor = _own_tracer_provider(mp, self._exporters)
            self._owned.append(tp)
            if own_spans_fit():
                self._processor = processor
                self._scope = _instrumentation_scope()
        self._sampler = tp.sampler
        self.tracer_provider = tp
        self.meter_provider = mp
        self.tracer = tp.get_tracer(SCOPE, __version__) if tp is not None else trace.NoOpTracer()
        self._events = None
        if config.content_in_event:
            import warnings

            # the SDK 1.37 logger turns the API's log record into its own with the
            # arguments it has itself deprecated, and warns about that on the app's stderr
            warnings.filterwarnings("ignore", message=r"LogRecord init with `trace_id`", category=UserWarning)
            lp = logger_provider or _own_logger_provider(self._exporters)
            if lp is not None:
                if logger_provider is None:
                    self._owned.append(lp)
                self._events = lp.get_logger(SCOPE, __version__)
        if self._owned:
            quiet_exporter_logs()  # and the exporter modules imported since

    # ------------------------------------------------------------------ per call
    #
    # With the app's (or a test's) TracerProvider, an ordinary SDK span is started here and
    # ended in finish(). With genai-tap's own provider, the span is only *made* in finish(),
    # on the finisher thread, as the SDK's ReadableSpan handed to the batch processor: the
    # SDK's Span machinery (attribute re-validation, locks, copies) would otherwise run for
    # one immutable record (docs/design.md has the figures). During the call, a placeholder
    # carrying the span's future ids is the current span, so anything that starts under it
    # has the right parent, and the sampler is asked exactly as the SDK would ask it.
    # ReadableSpan's constructor is not a promise of the SDK's: own_spans_fit() checks it
    # once, and where it does not fit (or span limits are configured) genai-tap's own
    # provider makes ordinary SDK spans instead; tests compare both exports.

    def start(self, rec: "CallRecord") -> Any:
        if self._processor is not None:
            return self._start_placeholder(rec)
        span = self.tracer.start_span(
            _span_name(rec), kind=SpanKind.CLIENT, attributes=_start_attributes(rec), start_time=rec.start_ns
        )
        ctx = span.get_span_context()
        rec.links[self.name] = (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
        token = otel_context.attach(trace.set_span_in_context(span))
        return [span, token]

    def _start_placeholder(self, rec: "CallRecord") -> Any:
        parent = otel_context.get_current()
        parent_span = trace.get_current_span(parent).get_span_context()
        ctx, attrs = self._sample(rec, parent, parent_span, SpanKind.CLIENT)
        rec.links[self.name] = (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
        token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(ctx), parent))
        return [ctx, token, parent_span if parent_span.is_valid else None, attrs]

    def _sample(self, rec: "CallRecord", parent: Any, parent_span: Any, kind: Any) -> Tuple[Any, Dict[str, Any]]:
        """The span context and start attributes the SDK's tracer would give this span:
        the sampler asked with the same arguments, its trace state and attributes kept."""
        trace_id = parent_span.trace_id if parent_span.is_valid else _new_id(128)
        result = self._sampler.should_sample(parent, trace_id, _span_name(rec), kind, _start_attributes(rec), None)
        flags = _SAMPLED if result.decision.is_sampled() else _NOT_SAMPLED
        ctx = trace.SpanContext(trace_id, _new_id(64), False, flags, result.trace_state)
        return ctx, dict(result.attributes or {})

    def release(self, handle: Any) -> None:
        token = handle[1]
        if token is not None:
            handle[1] = None
            otel_context.detach(token)

    def finish(self, rec: "CallRecord", handle: Any) -> None:
        if self._processor is not None:
            ctx, _, parent, start_attrs = handle
            self._finish_own(rec, ctx, parent, start_attrs, rec.end_ns)
        else:
            self._finish_sdk(rec, handle[0], rec.end_ns)
        if self._metrics is not None:
            self._metrics.record(rec)

    def _finish_sdk(self, rec: "CallRecord", span: Any, end_ns: Optional[int]) -> None:
        """End an SDK span for ``rec``, after a child span for each of its steps."""
        span.set_attributes(self.attributes(rec))
        status = _status(rec)
        if status is not None:
            span.set_status(status)
            if rec.error is not None:
                span.add_event(sc.EVENT_EXCEPTION, exception_attributes(rec), timestamp=rec.end_ns)
        if self._events is not None:
            self._emit_event(rec, span.get_span_context())
        end = rec.end_ns or end_ns
        for child in rec.children:
            start = child.start_ns
            child_span = self.tracer.start_span(
                _span_name(child), context=trace.set_span_in_context(span), kind=_kind(child),
                attributes=_start_attributes(child), start_time=start,
            )
            self._finish_sdk(child, child_span, end)
        span.end(end_time=end)

    def _finish_own(self, rec: "CallRecord", ctx: Any, parent: Any, start_attrs: Dict[str, Any], end_ns: Optional[int]) -> None:
        """Hand the batch processor the finished span of ``rec`` and of each of its steps."""
        from opentelemetry.sdk.trace import Event, ReadableSpan

        if self._events is not None:
            self._emit_event(rec, ctx)
        if not ctx.trace_flags.sampled:
            return
        end = rec.end_ns or end_ns
        attrs = start_attrs
        attrs.update(self.attributes(rec))
        if len(attrs) > _MAX_ATTRIBUTES:  # the SDK's default limit: the first ones are kept
            attrs = dict(list(attrs.items())[:_MAX_ATTRIBUTES])
        status = _status(rec)
        events = (Event(sc.EVENT_EXCEPTION, exception_attributes(rec), rec.end_ns),) if rec.error is not None else ()
        self._processor.on_end(
            ReadableSpan(
                name=_span_name(rec),
                context=ctx,
                parent=parent,
                resource=self.tracer_provider.resource,
                attributes=attrs,
                events=events,
                kind=_kind(rec),
                instrumentation_scope=self._scope,
                status=status or Status(StatusCode.UNSET),
                start_time=rec.start_ns,
                end_time=end,
            )
        )
        parent_context = trace.set_span_in_context(trace.NonRecordingSpan(ctx)) if rec.children else None
        for child in rec.children:
            child_ctx, child_attrs = self._sample(child, parent_context, ctx, _kind(child))
            self._finish_own(child, child_ctx, ctx, child_attrs, end)

    # ------------------------------------------------------------------ attributes
    def attributes(self, rec: "CallRecord") -> Dict[str, Any]:
        """Everything known at the end of the call, as span attributes."""
        a: Dict[str, Any] = {sc.REQUEST_STREAM: rec.stream}
        for key, value in rec.params.items():
            name = PARAM_ATTRIBUTES.get(key)
            if name is None:
                if key in CONTENT_PARAMS and not self.config.content_on_span:
                    continue
                name = "genai_tap.request." + key
            a[name] = value
        model = rec.model
        if model is not None:
            if model.vendor:
                a[sc.MODEL_VENDOR] = model.vendor
            if model.base_id:
                a[sc.MODEL_BASE_ID] = model.base_id
        if rec.family:
            a[sc.MODEL_FAMILY] = rec.family
        a[sc.BEDROCK_API] = rec.api
        _put(a, sc.RESPONSE_MODEL, rec.response_model)
        _put(a, sc.RESPONSE_ID, rec.response_id)
        if rec.finish_reasons:
            a[sc.RESPONSE_FINISH_REASONS] = rec.finish_reasons
        _put(a, sc.USAGE_INPUT_TOKENS, rec.input_tokens)
        _put(a, sc.USAGE_OUTPUT_TOKENS, rec.output_tokens)
        _put(a, sc.USAGE_CACHE_READ_INPUT_TOKENS, rec.cache_read_input_tokens)
        _put(a, self._cache_write, rec.cache_write_input_tokens)
        _put(a, sc.USAGE_REASONING_OUTPUT_TOKENS, rec.reasoning_output_tokens)
        _put(a, sc.AWS_REQUEST_ID, rec.request_id)
        _put(a, sc.AWS_BEDROCK_GUARDRAIL_ID, rec.guardrail_id)
        for name, field in RECORD_ATTRIBUTES:
            _put(a, name, getattr(rec, field))
        if rec.operation == sc.OP_APPLY_GUARDRAIL:
            for name, field in GUARDRAIL_SPAN_ATTRIBUTES:
                _put(a, name, getattr(rec, field))
            if rec.guardrail_action is not None:
                a[sc.GUARDRAIL_RESULT_TYPE] = sc.GUARDRAIL_RESULT_TYPE_ACTION
                a[sc.GUARDRAIL_RESULT_VALUE] = rec.guardrail_action
        else:
            for name, field in GUARDRAIL_CALL_ATTRIBUTES:
                _put(a, name, getattr(rec, field))
        if rec.guardrail_policies:
            a[sc.AWS_BEDROCK_GUARDRAIL_POLICIES] = list(rec.guardrail_policies)
        _put(a, sc.EMBEDDINGS_DIMENSION_COUNT, rec.embedding_dimensions)
        _put(a, sc.OUTPUT_TYPE, rec.output_type)
        _put(a, sc.OUTPUT_COUNT, rec.output_count)
        _put(a, sc.ERROR_TYPE, rec.error_type)
        if rec.stream:
            _put(a, sc.RESPONSE_TIME_TO_FIRST_CHUNK, rec.time_to_first_chunk_s)
            a[sc.STREAM_CHUNKS] = rec.chunk_count
            if rec.stopped_early:
                a[sc.STREAM_STOPPED_EARLY] = True
        if rec.attributes:
            a.update(rec.attributes)
        peer = rec.links.get("datadog")
        if peer:
            a[sc.PEER_TRACE_ID], a[sc.PEER_SPAN_ID] = peer
            a[sc.DD_ARTIFICIAL_GEN_AI_TAGS] = "true"  # Datadog has this call already: count it once
        if self.config.content_on_span and rec.capture_content:
            a.update(content_attributes(rec))
        return a

    def _emit_event(self, rec: "CallRecord", span_context: Any) -> None:
        body = content_values(rec)
        events = self._events
        if not body or events is None:
            return
        from opentelemetry._logs import LogRecord

        events.emit(
            LogRecord(
                timestamp=rec.end_ns,
                context=trace.set_span_in_context(trace.NonRecordingSpan(span_context)),
                body=body,
                attributes={sc.OPERATION_NAME: rec.operation, sc.REQUEST_MODEL: rec.request_model},
                event_name=sc.EVENT_INFERENCE_DETAILS,
            )
        )

    # ------------------------------------------------------------------ lifecycle
    def flush(self, timeout_s: float) -> None:
        # force_flush blocks until the export is done; Tap bounds it with a timeout.
        for provider in (self.tracer_provider, self.meter_provider):
            fn = getattr(provider, "force_flush", None)
            if fn is not None:
                fn(int(timeout_s * 1000))
        if self._metrics is not None:
            self._metrics.flush(timeout_s)

    def shutdown(self, timeout_s: float) -> None:
        """Flush and stop the providers genai-tap made, the app's own being the app's.

        The work runs on a daemon thread given 90% of the timeout: an exporter blocked on a
        collector that never answers is left behind, and said once (with the SDK's own
        complaints, see otel_logging), instead of holding up the app's exit."""
        done = threading.Event()

        def run() -> None:
            try:
                self._shutdown(timeout_s)
            finally:
                done.set()

        from ..finisher import start_daemon

        if start_daemon(run, "genai-tap-otel-shutdown") is None:  # no new thread at exit (Python 3.12)
            run()
        elif not done.wait(max(0.05, timeout_s * 0.9)):
            export_trouble("genai-tap: exporting telemetry at exit did not finish within %.1f s (GENAI_TAP_FLUSH_TIMEOUT); "
                           "what was still buffered is lost.", timeout_s, failed=False)

    def _made(self, exporter: Any) -> Any:
        self._exporters.append(exporter)
        return exporter

    def _stop_exporters(self) -> None:
        exporters, self._exporters = self._exporters, []
        for exporter in exporters:
            try:
                exporter.shutdown()
            except Exception:  # noqa: BLE001 - stopping, whatever it says
                pass

    def _shutdown(self, timeout_s: float) -> None:
        """The exit flush. Once an export has failed (before, or during this flush), the
        exporters are stopped, so that the exit does not wait out their retries."""
        millis = max(1, int(timeout_s * 1000))
        if exports_failed():
            self._stop_exporters()
        with on_trouble(self._stop_exporters):
            if self._metrics is not None:
                self._metrics.shutdown(timeout_s)
            for provider in self._owned:
                provider.force_flush(millis)
                if hasattr(provider, "get_meter"):
                    provider.shutdown(timeout_millis=millis)
                else:
                    provider.shutdown()


def _span_name(rec: "CallRecord") -> str:
    target = rec.span_target if rec.span_target is not None else rec.request_model
    return f"{rec.operation} {target}" if target else rec.operation


def _kind(rec: "CallRecord") -> Any:
    return SpanKind.CLIENT if rec.span_kind == "client" else SpanKind.INTERNAL


def _status(rec: "CallRecord") -> Any:
    """ERROR for a call (or step) that failed, with its scrubbed message; else None."""
    if rec.error is None and rec.error_type is None:
        return None
    return Status(StatusCode.ERROR, rec.error_message or rec.error_type)


def _start_attributes(rec: "CallRecord") -> Dict[str, Any]:
    """What the conventions want set when the span starts (samplers may read them)."""
    attrs: Dict[str, Any] = {sc.OPERATION_NAME: rec.operation, sc.PROVIDER_NAME: rec.provider}
    if rec.request_model:  # an agent call, a search or a guardrail names no model
        attrs[sc.REQUEST_MODEL] = rec.request_model
    if rec.agent_name:
        attrs[sc.AGENT_NAME] = rec.agent_name
    if rec.server_address:
        attrs[sc.SERVER_ADDRESS] = rec.server_address
        if rec.server_port:
            attrs[sc.SERVER_PORT] = rec.server_port
    return attrs


_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
_NOT_SAMPLED = trace.TraceFlags(trace.TraceFlags.DEFAULT)


#: the SDK's default limit on a span's attributes (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT unset)
_MAX_ATTRIBUTES = 128
#: span limits the SDK reads: with any of them set, genai-tap's own provider makes SDK spans,
#: so that the limits apply exactly as the SDK applies them
SPAN_LIMIT_VARIABLES = (
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT", "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
)
_READABLE_SPAN_ARGUMENTS = {"name", "context", "parent", "resource", "attributes", "events", "kind",
                            "instrumentation_scope", "status", "start_time", "end_time"}


def own_spans_fit() -> bool:
    """True where genai-tap can hand its spans to the batch processor as finished SDK
    ``ReadableSpan`` objects: the constructor takes the keyword arguments genai-tap gives
    it (the SDK does not promise them), and no span limit is configured. Else its own
    provider makes ordinary SDK spans, which cost more and export the same."""
    if any(os.environ.get(name, "").strip() for name in SPAN_LIMIT_VARIABLES):
        return False
    try:
        import inspect

        from opentelemetry.sdk.trace import Event, ReadableSpan

        if not _READABLE_SPAN_ARGUMENTS <= set(inspect.signature(ReadableSpan.__init__).parameters):
            return False
        ctx = trace.SpanContext(1, 1, False, _SAMPLED)
        span = ReadableSpan(name="check", context=ctx, parent=None, resource=None, attributes={"a": 1},
                            events=(Event("e", {}, 1),), kind=SpanKind.CLIENT, instrumentation_scope=_instrumentation_scope(),
                            status=Status(StatusCode.UNSET), start_time=1, end_time=2)
        return span.name == "check" and dict(span.attributes or {}) == {"a": 1} and span.end_time == 2 and len(span.events) == 1
    except Exception:  # noqa: BLE001 - anything unexpected: the SDK's own spans
        return False


def _new_id(bits: int) -> int:
    """A random trace or span id (never the invalid 0). The random module's generator
    is reseeded in forked children, so a child never repeats its parent's ids."""
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return value


def _instrumentation_scope() -> Any:
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    return InstrumentationScope(SCOPE, __version__)


def content_values(rec: "CallRecord") -> Dict[str, Any]:
    """The record's content under the conventions' names, as structured values: prompt,
    completion, system instructions, tool definitions, tool arguments and result,
    retrieval query and documents."""
    values = {
        sc.INPUT_MESSAGES: rec.input_messages,
        sc.OUTPUT_MESSAGES: rec.output_messages,
        sc.SYSTEM_INSTRUCTIONS: rec.system,
        sc.TOOL_DEFINITIONS: rec.tools,
        sc.TOOL_CALL_ARGUMENTS: rec.tool_arguments,
        sc.TOOL_CALL_RESULT: rec.tool_result,
        sc.RETRIEVAL_QUERY_TEXT: rec.retrieval_query,
        sc.RETRIEVAL_DOCUMENTS: rec.documents,
    }
    return {name: value for name, value in values.items() if value is not None and value != [] and value != ""}


def content_attributes(rec: "CallRecord") -> Dict[str, str]:
    """The record's content as span attributes: strings as they are, the rest as JSON."""
    return {name: value if isinstance(value, str) else _dumps(value) for name, value in content_values(rec).items()}


def exception_attributes(rec: "CallRecord") -> Dict[str, Any]:
    """The ``exception`` event, from the record's scrubbed message and stack trace.

    Not ``span.record_exception``: it writes ``str(exc)`` and its own traceback,
    which can quote credentials (AWS signature errors include the security token).
    """
    attrs: Dict[str, Any] = {sc.EXCEPTION_TYPE: qualified_name(type(rec.error))}
    _put(attrs, sc.EXCEPTION_MESSAGE, rec.error_message)
    _put(attrs, sc.EXCEPTION_STACKTRACE, rec.error_stack)
    return attrs


def _put(attrs: Dict[str, Any], name: str, value: Any) -> None:
    if value is not None:
        attrs[name] = value


# ---------------------------------------------------------------------- providers


def _global_sdk_provider(provider: Any, kind: str) -> Any:
    """The app's provider, if it installed an OpenTelemetry SDK one; else None.

    ddtrace's OpenTelemetry bridge (``ddtrace.opentelemetry.TracerProvider``) is not
    used: spans sent through it would turn into APM spans with GenAI tags and be
    counted a second time by Datadog, beside the Datadog sink's own spans.
    """
    module = type(provider).__module__
    if module.startswith("opentelemetry.sdk") and type(provider).__name__ == kind:
        return provider
    return None


def _global_meter_provider() -> Any:
    from opentelemetry import metrics

    return _global_sdk_provider(metrics.get_meter_provider(), "MeterProvider")


def _protocol(signal: str) -> str:
    """``http/protobuf`` (the default) or ``grpc``, from OTEL_EXPORTER_OTLP_<signal>_PROTOCOL
    or OTEL_EXPORTER_OTLP_PROTOCOL; anything else is said once and replaced by the default."""
    from ..config import OTLP_PROTOCOLS

    for name in (f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(name, "").strip().lower()
        if not value:
            continue
        if value in OTLP_PROTOCOLS:
            return value
        warn_setting(name, value, ", ".join(OTLP_PROTOCOLS), "Using http/protobuf.")
        return "http/protobuf"
    return "http/protobuf"


_SIGNAL_PATHS = {"TRACES": "v1/traces", "METRICS": "v1/metrics", "LOGS": "v1/logs"}


def _endpoint(signal: str, protocol: str) -> Dict[str, Any]:
    """The ``endpoint`` keyword for the signal's OTLP/HTTP exporter when its variable is not
    a URL it can use (said once, with what is used instead); else nothing (the exporter reads
    the variable itself, as it does for gRPC, whose endpoints need no scheme)."""
    if protocol == "grpc":
        return {}
    from urllib.parse import urlsplit

    for name in (f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            return {}
        path = "" if name.endswith(f"_{signal}_ENDPOINT") else "/" + _SIGNAL_PATHS[signal]
        if "://" not in value and " " not in value and urlsplit("http://" + value).hostname:
            fixed = "http://" + value.rstrip("/")
        else:
            fixed, path = "http://localhost:4318", "/" + _SIGNAL_PATHS[signal]
        warn_setting(name, value, "an http:// or https:// URL such as http://localhost:4318", f"Using {fixed}.")
        return {"endpoint": fixed + path}
    return {}


def _exporter_choice(variable: str) -> Optional[str]:
    """``otlp`` (default), ``console`` or ``none`` from OTEL_TRACES_EXPORTER & co."""
    value = os.environ.get(variable, "").strip().lower()
    if not value:
        return "otlp"
    names = [v.strip() for v in value.split(",") if v.strip()]
    for accepted in ("otlp", "console", "none"):
        if accepted in names:
            return None if accepted == "none" else accepted
    warn_setting(variable, value, "otlp, console, none", "Using otlp.")
    return "otlp"


def _import_exporters() -> None:
    """Check the settings genai-tap reads (each bad one said once, before the SDK reads it),
    then import the SDK's export modules and the OTLP exporters genai-tap is about to make."""
    import importlib

    _exporter_choice("OTEL_TRACES_EXPORTER")
    _exporter_choice("OTEL_METRICS_EXPORTER")
    interval_s()
    delta_temporality()
    names = ["opentelemetry.sdk.trace.export", "opentelemetry.sdk.metrics.export", "opentelemetry.sdk._logs.export"]
    for signal, module in (("TRACES", "trace_exporter"), ("METRICS", "metric_exporter"), ("LOGS", "_log_exporter")):
        protocol = _protocol(signal)
        _endpoint(signal, protocol)
        names.append(f"opentelemetry.exporter.otlp.proto.{'grpc' if protocol == 'grpc' else 'http'}.{module}")
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _resource() -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource.create()


def _own_tracer_provider(meter_provider: Any, made: Optional[List[Any]] = None) -> Any:
    """A TracerProvider exporting in batches from a bounded queue (``OTEL_BSP_*``).

    Spans dropped because the exporter cannot keep up are counted by the SDK's own
    ``otel.sdk.processor.span.processed`` metric (``error.type=queue_full``),
    exported with genai-tap's metrics.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    choice = _exporter_choice("OTEL_TRACES_EXPORTER")
    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
    exporter: Any = None
    if choice == "console":
        exporter = ConsoleSpanExporter()
    elif choice == "otlp":
        protocol = _protocol("TRACES")
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
        exporter = OTLPSpanExporter(**_endpoint("TRACES", protocol))
    processor: Any = None
    if exporter is not None:
        if made is not None:
            made.append(exporter)
        try:
            processor = BatchSpanProcessor(exporter, meter_provider=meter_provider)
        except TypeError:  # an SDK older than its processor metrics
            processor = BatchSpanProcessor(exporter)
        provider.add_span_processor(processor)
    else:  # OTEL_TRACES_EXPORTER=none: spans are made and dropped
        from opentelemetry.sdk.trace import SpanProcessor

        processor = SpanProcessor()
    return provider, processor


def _metric_exporter() -> Any:
    """The metric exporter ``OTEL_METRICS_EXPORTER`` and the OTLP protocol ask for (None: none)."""
    choice = _exporter_choice("OTEL_METRICS_EXPORTER")
    if choice is None:
        return None
    if choice == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter()
    protocol = _protocol("METRICS")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # type: ignore[assignment]

    return OTLPMetricExporter(**_endpoint("METRICS", protocol))


def _own_meter_provider(exporter: Any) -> Any:
    """An SDK MeterProvider for what the SDK measures itself (spans dropped from a full queue)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_s() * 1000)
    return MeterProvider(metric_readers=[reader], resource=_resource(), shutdown_on_exit=False)


def _own_logger_provider(made: Optional[List[Any]] = None) -> Any:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    protocol = _protocol("LOGS")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # type: ignore[assignment]
    provider = LoggerProvider(resource=_resource(), shutdown_on_exit=False)
    exporter = OTLPLogExporter(**_endpoint("LOGS", protocol))
    if made is not None:
        made.append(exporter)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider
