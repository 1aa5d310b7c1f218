"""The Datadog sink: one LLM Observability span per call, through ddtrace's public LLMObs SDK.

ddtrace is imported when the sink is created, that is at the first model call,
never at start-up. If the app did not enable LLM Observability itself (with
``ddtrace-run`` or ``LLMObs.enable()``), the sink enables it from the standard
variables (``DD_LLMOBS_ML_APP``, ``DD_API_KEY``, ``DD_SITE``,
``DD_LLMOBS_AGENTLESS_ENABLED``, ``DD_TRACE_AGENT_URL`` ...) with ddtrace's own
integrations left off, so ``genai-tap run`` alone is enough.

Each span is created in a copy of the caller's context: it is a child of the
app's current APM span (under ddtrace's botocore integration, of ddtrace's APM span
for the call), it lives as long as the call or its stream, and it is never the
current span of the app, neither while a stream is still open nor after. The steps
inside a call (``CallRecord.children``: an agent's model invocations, tool calls,
knowledge-base lookups ...) are known when the call ends; they become spans of their
own kinds under the call's span, in that same copied context, with their own times.

When ddtrace's own Bedrock integration records the same call (an app under
``ddtrace-run`` with LLM Observability on), ``GENAI_TAP_DD_DUPLICATES`` decides;
see :mod:`.ddtrace_bedrock` and docs/datadog.md.
"""

from __future__ import annotations

import atexit
import contextvars
import os
import socket
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from .. import semconv as sc
from ..config import DD_DUPLICATES_BOTH, DD_DUPLICATES_GENAI_TAP, TRUE_VALUES
from ..guard import logger, report
from . import Sink, SinkUnavailable, llmobs_io

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..record import CallRecord

INSTALL_HINT = "pip install 'genai-tap[datadog]'"
#: how long, at most, a check that Datadog can be reached takes (a TCP connection, no request)
PROBE_TIMEOUT_S = 1.0
#: how often, at most, it is checked again (on the finisher thread, after a call)
RECHECK_S = 10.0
#: ddtrace's loggers that report data it could not send (quiet while Datadog cannot be reached:
#: genai-tap says it once, at exit)
DELIVERY_LOGGERS = ("ddtrace.internal.writer.writer", "ddtrace.llmobs._writer")


class _Handle:
    """This call in Datadog: our LLMObs span (and the context it lives in), or ddtrace's span."""

    __slots__ = ("span", "context", "peer", "record")

    def __init__(
        self,
        span: Any = None,
        context: Optional[contextvars.Context] = None,
        peer: Any = None,
        record: "Optional[CallRecord]" = None,
    ) -> None:
        self.span = span  # genai-tap's LLMObs span
        self.context = context  # the copy of the caller's context it is current in
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

        from ddtrace import config as dd_config

        self.llmobs = LLMObs
        self._dd_config = dd_config
        self.duplicates = ddtrace_bedrock
        self.tags = {key: value for key, value in config.dd_tags}
        #: whether genai-tap enabled LLM Observability (rather than the app, or ddtrace-run)
        self.enabled_here = _enable(LLMObs)
        #: whether Datadog can be reached, watched only when genai-tap enabled LLM Observability
        self.reach = Reachability() if self.enabled_here else None
        ddtrace_bedrock.state.sink = self

    # ------------------------------------------------------------------ per call
    def start(self, rec: "CallRecord") -> Any:
        if not self.llmobs.enabled:
            return None
        policy = self.config.dd_duplicates
        if policy != DD_DUPLICATES_BOTH:
            peer = self.duplicates.peer(rec)
            if peer is not None:
                if peer.span_type == self.duplicates.SPAN_TYPE_LLM:  # ddtrace records this call itself
                    if policy == DD_DUPLICATES_GENAI_TAP and self.duplicates.state.taken_over:
                        self.duplicates.step_aside_warning(rec)
                    return _Handle(peer=peer, record=rec)
            elif self.duplicates.ddtrace_records(rec):  # ddtrace's hook runs inside ours and will
                return _Handle(record=rec)
        context = contextvars.copy_context()
        span = context.run(self._open, rec, llmobs_io.span_name(rec))
        service = self._service()
        if service and span.service != service:
            # a child of ddtrace's botocore span would take its service (aws.bedrock-runtime):
            # the call belongs to the app's service, as it does without ddtrace's integration
            span.service = service
        return _Handle(span=span, context=context)

    def _service(self) -> Optional[str]:
        return self._dd_config.service

    def _open(self, rec: "CallRecord", name: str) -> Any:
        """Start the LLM Observability span of ``rec`` (current in the context this runs in)."""
        kind = llmobs_io.span_kind(rec)
        kwargs: Dict[str, Any] = {"name": name}
        if rec.conversation_id:
            kwargs["session_id"] = str(rec.conversation_id)
        if llmobs_io.has_model(kind):
            kwargs["model_name"] = rec.request_model
            kwargs["model_provider"] = llmobs_io.model_provider(rec)
        return getattr(self.llmobs, kind)(**kwargs)

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
        end = rec.end_ns
        try:
            # the call's own start (the first call's span opens after the sinks were set up)
            span.start_ns = rec.start_ns
            self._fill(span, rec)
            if rec.children:
                context = handle.context or contextvars.copy_context()
                context.run(self._steps, rec, end)
        finally:
            span.finish(finish_time=end / 1e9 if end else None)
            if self.reach is not None:
                self.reach.after_call()

    def _steps(self, rec: "CallRecord", end_ns: Optional[int]) -> None:
        """The steps of ``rec`` as spans under its span (current here), nested as in the record."""
        for child in rec.children:
            span = self._open(child, llmobs_io.step_name(child))
            finish = child.end_ns or end_ns
            try:
                span.start_ns = child.start_ns  # the step's own times, not when the call ended
                self._fill(span, child)
                if child.children:
                    self._steps(child, finish)
            except Exception as exc:  # one step that cannot be shown does not take its siblings
                report("datadog sink (a step inside a call)", exc)
            finally:
                span.finish(finish_time=finish / 1e9 if finish else None)

    def _fill(self, span: Any, rec: "CallRecord") -> None:
        """The record's error and annotations on its span."""
        if rec.error is not None or rec.error_type is not None:
            # the error's type, and its message and stack as genai-tap's privacy policy
            # scrubbed them; not span.set_exc_info, which writes str(exc) and its own
            # traceback and hands the exception to ddtrace's listeners (Exception Replay
            # captures the failing frames' local variables: the prompt). A step that failed
            # without an exception object has its error type only.
            span.error = 1
            if rec.error is not None:
                err_type = type(rec.error)
                span.set_tag("error.type", f"{err_type.__module__}.{err_type.__name__}")
            else:
                span.set_tag("error.type", rec.error_type)
            span.set_tag("error.message", rec.error_message or "")
            if rec.error_stack is not None:
                span.set_tag("error.stack", rec.error_stack)
        self.llmobs.annotate(span=span, **self.annotations(rec))

    def annotations(self, rec: "CallRecord") -> Dict[str, Any]:
        """The ``LLMObs.annotate`` arguments for a finished call (or step)."""
        out: Dict[str, Any] = {
            "metadata": llmobs_io.metadata(rec),
            "metrics": llmobs_io.metrics(rec),
            "tags": self._tags(rec),
        }
        kind = llmobs_io.span_kind(rec)
        if kind == llmobs_io.KIND_RETRIEVAL and rec.documents is not None:
            docs = llmobs_io.retrieved(rec)  # ids and scores are not content: shown with capture off too
            if docs:
                out["output_data"] = docs
        if not rec.capture_content:
            return out
        if kind == llmobs_io.KIND_EMBEDDING:
            docs = llmobs_io.documents(rec)
            if docs:
                out["input_data"] = docs
            output = llmobs_io.embedding_output(rec, len(docs))
            if output:
                out["output_data"] = output
        elif kind == llmobs_io.KIND_LLM:
            inputs = llmobs_io.input_messages(rec)
            if inputs:
                out["input_data"] = inputs
            outputs = llmobs_io.output_messages(rec)
            if outputs:
                out["output_data"] = outputs
            tools = llmobs_io.tool_definitions(rec)
            if tools:
                out["tool_definitions"] = tools
        elif kind == llmobs_io.KIND_TOOL:
            if rec.tool_arguments is not None:
                out["input_data"] = llmobs_io.tool_io(rec.tool_arguments)
            if rec.tool_result is not None:
                out["output_data"] = llmobs_io.tool_io(rec.tool_result)
        elif kind == llmobs_io.KIND_RETRIEVAL:
            query = rec.retrieval_query if rec.retrieval_query is not None else llmobs_io.value_of(rec, False)
            if query is not None:
                out["input_data"] = query
        else:  # agent, workflow, task
            for key, is_output in (("input_data", False), ("output_data", True)):
                value = llmobs_io.value_of(rec, is_output)
                if value is not None:
                    out[key] = value
        return out

    def _tags(self, rec: "CallRecord") -> Dict[str, str]:
        tags = dict(self.tags)
        service = self._service()
        if service:
            tags["service"] = service
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

    def shutdown(self, timeout_s: float) -> None:
        """Flush at exit; if Datadog cannot be reached, say so once instead of waiting on it."""
        if not self.llmobs.enabled:
            return
        if self.reach is not None and self.reach.at_exit(min(PROBE_TIMEOUT_S, timeout_s)):
            return
        self.flush(timeout_s)


def _enable(llmobs: Any) -> bool:
    """Enable LLM Observability unless the app did (True if genai-tap did); SinkUnavailable if it cannot be."""
    here = False
    if not llmobs.enabled:
        try:
            llmobs.enable(integrations_enabled=False, agentless_enabled=agentless())
        except ValueError as exc:  # agentless without DD_API_KEY, ...
            raise SinkUnavailable(f"Datadog LLM Observability cannot start: {exc}") from None
        if not llmobs.enabled:
            raise SinkUnavailable("Datadog LLM Observability is switched off (DD_LLMOBS_ENABLED is false)")
        logger().debug("genai-tap: enabled Datadog LLM Observability (agentless=%s)", agentless())
        here = True
    # ddtrace 4.x loses events buffered before an os.fork() when the parent exits;
    # flushing first, at exit, keeps them (atexit runs this before ddtrace's own hook).
    atexit.register(llmobs.flush)
    return here


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


# ---------------------------------------------------------------------- exit without Datadog


def destination() -> Tuple[str, Optional[Tuple[str, int]], Optional[str]]:
    """Where ddtrace sends this process's data, from the variables ddtrace documents:
    (what it is, (host, port) or None, unix socket path or None)."""
    env = os.environ
    if agentless():
        origin = env.get("DD_LLMOBS_OVERRIDE_ORIGIN")
        url = origin or f"https://llmobs-intake.{env.get('DD_SITE') or 'datadoghq.com'}"
        return f"Datadog's intake at {url}", _host_port(url), None
    url = env.get("DD_TRACE_AGENT_URL") or ""
    if not url:
        host = env.get("DD_AGENT_HOST") or env.get("DD_TRACE_AGENT_HOSTNAME")
        port = env.get("DD_TRACE_AGENT_PORT") or "8126"
        if not host and os.path.exists("/var/run/datadog/apm.socket"):
            url = "unix:///var/run/datadog/apm.socket"
        else:
            url = f"http://{host or 'localhost'}:{port}"
    if url.startswith("unix://"):
        return f"the Datadog Agent at {url}", None, url[len("unix://"):]
    return f"the Datadog Agent at {url}", _host_port(url), None


def _host_port(url: str) -> Optional[Tuple[str, int]]:
    try:
        parts = urlsplit(url)
        return parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


def unreachable(timeout_s: float) -> Optional[str]:
    """Why Datadog cannot be reached from here (None if it answers a connection), within ``timeout_s``."""
    what, address, path = destination()
    timeout_s = max(timeout_s, 0.05)
    try:
        if path is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout_s)
                sock.connect(path)
        elif address is not None:
            with socket.create_connection(address, timeout=timeout_s):
                pass
        else:
            return None
    except ConnectionRefusedError:
        return f"{what} refused the connection"
    except socket.gaierror as exc:
        return f"the address of {what} cannot be resolved ({exc.strerror or exc})"
    except (socket.timeout, TimeoutError):
        return f"{what} did not answer within {timeout_s:.1f} s"
    except OSError as exc:
        return f"{what} cannot be reached ({exc.strerror or exc})"
    return None


class Reachability:
    """Whether the Datadog Agent (or intake) can be reached, for an app whose LLM Observability
    genai-tap enabled itself (``genai-tap run``, no ``ddtrace-run``).

    ddtrace retries every failed send for seconds, on a thread the interpreter waits for at
    exit, and logs each failure. So, on the finisher thread and at most every
    :data:`RECHECK_S` seconds, genai-tap checks that Datadog accepts a connection; while it
    does not, what ddtrace holds for it is dropped after each call (it could not be
    delivered), ddtrace's delivery errors are quiet, and at exit one line says how many calls
    were not delivered and why. The app's exit then waits for nothing.
    """

    def __init__(self) -> None:
        self.problem: Optional[str] = None
        self.checked = 0.0
        self.lost = 0  # calls finished while Datadog could not be reached
        self.quiet = _Quiet()

    def check(self, timeout_s: float = PROBE_TIMEOUT_S, force: bool = False) -> Optional[str]:
        now = time.monotonic()
        if force or now - self.checked >= RECHECK_S:
            self.checked = now
            self.problem = unreachable(timeout_s)
            self.quiet.on = self.problem is not None
            if self.quiet.on:
                self.quiet.install()
        return self.problem

    def after_call(self) -> None:
        if self.check() is not None:
            self.lost += 1
            discard_buffered()

    def at_exit(self, timeout_s: float) -> bool:
        """True if Datadog cannot be reached (what is buffered was dropped, and it was said once)."""
        problem = self.check(timeout_s, force=True)
        if problem is None:
            return False
        discard_buffered()
        calls = f"{self.lost} Bedrock call(s)" if self.lost else "the data"
        logger().warning("genai-tap: %s not delivered to Datadog LLM Observability: %s.", calls, problem)
        return True


class _Quiet:
    """A logging filter on ddtrace's delivery loggers, dropping their records while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        import logging

        self.installed = True
        for name in DELIVERY_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def filter(self, record: Any) -> bool:
        return not self.on


#: Set False to leave ddtrace's buffers alone (the public-API path: ddtrace then tries, fails
#: and retries at its own pace, and the app's exit waits for it).
DISCARD = True


def discard_buffered() -> bool:
    """Empty ddtrace's buffers of data for Datadog: the trace writer's and LLM Observability's
    span writer's. These are ddtrace internals, each checked before use: anything not as
    expected is left as it is (ddtrace then tries and fails at its own pace). True if both
    were found."""
    if not DISCARD:
        return False
    found = 0
    try:
        from ddtrace.trace import tracer

        writer = getattr(getattr(tracer, "_span_aggregator", None), "writer", None)
        clients = getattr(writer, "_clients", None)
        if isinstance(clients, list):
            found += 1
            for client in clients:
                encoder = getattr(client, "encoder", None)
                if encoder is not None and callable(getattr(encoder, "encode", None)):
                    encoder.encode()  # hands back (and forgets) what it holds
    except Exception as exc:  # noqa: BLE001
        logger().debug("genai-tap: could not empty ddtrace's trace buffer: %r", exc)
    try:
        instance = getattr(_llmobs_class(), "_instance", None)
        buffer = getattr(getattr(instance, "_llmobs_span_writer", None), "_buffer", None)
        if isinstance(buffer, list):
            found += 1
            del buffer[:]
    except Exception as exc:  # noqa: BLE001
        logger().debug("genai-tap: could not empty ddtrace's LLM Observability buffer: %r", exc)
    return found == 2


def _llmobs_class() -> Any:
    from ddtrace.llmobs import LLMObs

    return LLMObs
