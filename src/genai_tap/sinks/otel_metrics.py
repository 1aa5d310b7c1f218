"""The GenAI client metrics: recorded per call, at a cost of microseconds.

Through the OpenTelemetry SDK's synchronous instruments one histogram measurement
costs tens of microseconds (its attributes are copied, validated and hashed each
time), and a call records three to five of them: that was a third of what
genai-tap cost per call. So when genai-tap owns the meter provider (the usual,
zero-code case) it aggregates the histograms itself: a series is found by a tuple
of the call's attributes, a measurement is a bisect and four additions. The points
are handed to the standard OTLP exporter as the SDK's own ``MetricsData``, on
genai-tap's own schedule (``OTEL_METRIC_EXPORT_INTERVAL``) and at exit, with the
temporality ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` asks for.

When the app installed its own SDK ``MeterProvider``, genai-tap records into it
through ordinary SDK instruments instead (:class:`SdkInstruments`), so its views,
readers and exporters apply.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .. import semconv as sc
from .._version import __version__
from ..finisher import start_daemon
from .otel_logging import export_trouble, warn_setting

if TYPE_CHECKING:  # pragma: no cover
    from ..record import CallRecord

SCOPE = "genai_tap"

#: short name -> (metric name, instrument, unit, description, advisory buckets, with error.type)
Instrument = Tuple[str, str, str, str, Optional[Tuple[float, ...]], bool]
INSTRUMENTS: Dict[str, Instrument] = {
    # the published conventions (v1.41), the default
    "duration": (sc.METRIC_OPERATION_DURATION, "histogram", "s", "GenAI operation duration", sc.DURATION_BUCKETS, True),
    "tokens": (sc.METRIC_TOKEN_USAGE, "histogram", "{token}", "Number of input and output tokens used", sc.TOKEN_BUCKETS, True),
    "ttfc": (sc.METRIC_TIME_TO_FIRST_CHUNK, "histogram", "s", "Time to receive the first chunk of a streamed response",
             sc.DURATION_BUCKETS, True),
    "tpoc": (sc.METRIC_TIME_PER_OUTPUT_CHUNK, "histogram", "s", "Time between chunks of a streamed response, after the first",
             sc.DURATION_BUCKETS, True),
    # OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: the conventions as they are now
    "inference.duration": (sc.METRIC_INFERENCE_DURATION, "histogram", "s", "GenAI client inference operation duration",
                           sc.DURATION_BUCKETS, True),
    "embeddings.duration": (sc.METRIC_EMBEDDINGS_DURATION, "histogram", "s", "GenAI client embeddings operation duration",
                            sc.DURATION_BUCKETS, True),
    "inference.ttfc": (sc.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, "histogram", "s", "Time to receive the first chunk of a streamed response",
                       sc.DURATION_BUCKETS, False),
    "inference.tpoc": (sc.METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK, "histogram", "s",
                       "Time between chunks of a streamed response, after the first", sc.DURATION_BUCKETS, False),
    "usage.input": (sc.METRIC_USAGE_INPUT_TOKENS, "counter", "{token}", "Input tokens used, cached ones included", None, False),
    "usage.output": (sc.METRIC_USAGE_OUTPUT_TOKENS, "counter", "{token}", "Output tokens used, reasoning ones included", None, False),
    "usage.cache_read": (sc.METRIC_USAGE_CACHE_READ_INPUT_TOKENS, "counter", "{token}", "Input tokens read from the provider's cache",
                         None, False),
    "usage.cache_write": (sc.METRIC_USAGE_CACHE_WRITE_INPUT_TOKENS, "counter", "{token}", "Input tokens written to the provider's cache",
                          None, False),
    "usage.reasoning": (sc.METRIC_USAGE_REASONING_OUTPUT_TOKENS, "counter", "{token}", "Output tokens used for reasoning", None, False),
    "operation.input": (sc.METRIC_INFERENCE_INPUT_TOKENS, "histogram", "{token}", "Input tokens per inference operation",
                        sc.TOKEN_BUCKETS, True),
    "operation.output": (sc.METRIC_INFERENCE_OUTPUT_TOKENS, "histogram", "{token}", "Output tokens per inference operation",
                         sc.TOKEN_BUCKETS, True),
    "embeddings.input": (sc.METRIC_EMBEDDINGS_INPUT_TOKENS, "histogram", "{token}", "Input tokens per embeddings operation",
                         sc.TOKEN_BUCKETS, True),
}
#: the instruments of each mode
DEFAULT = ("duration", "tokens", "ttfc", "tpoc")
LATEST = tuple(k for k in INSTRUMENTS if k not in DEFAULT) + ("duration",)
_KEYS = (sc.OPERATION_NAME, sc.PROVIDER_NAME, sc.REQUEST_MODEL, sc.SERVER_ADDRESS, sc.SERVER_PORT, sc.RESPONSE_MODEL, sc.ERROR_TYPE)
#: one measurement: (instrument, value, an extra attribute or None)
Measurement = Tuple[str, float, Optional[Tuple[str, str]]]
_UNKNOWN = (sc.TOKEN_MODALITY, sc.TOKEN_MODALITY_UNKNOWN)


def measurements(rec: "CallRecord", latest: bool = False, step: bool = False) -> Tuple[Tuple[Any, ...], List[Measurement]]:
    """The call's metric attributes (as a tuple in ``_KEYS`` order) and its measurements,
    under the published conventions or (``latest``) the conventions as they are now.

    A ``step`` inside a call (an agent's model invocation) counts its tokens only: it is not
    an operation of the client, so it has no duration, chunk timings or per-operation token
    histograms of its own.
    """
    key = (rec.operation, rec.provider, rec.request_model or None, rec.server_address,
           rec.server_port if rec.server_address else None, rec.response_model, rec.error_type)
    if latest:
        return key, _latest(rec, step)
    out: List[Measurement] = []
    duration = rec.duration_s
    if duration is not None and not step:
        out.append(("duration", duration, None))
    if rec.input_tokens is not None:
        out.append(("tokens", rec.input_tokens, (sc.TOKEN_TYPE, sc.TOKEN_TYPE_INPUT)))
    if rec.output_tokens is not None:
        out.append(("tokens", rec.output_tokens, (sc.TOKEN_TYPE, sc.TOKEN_TYPE_OUTPUT)))
    if not step:
        _chunks(rec, out, "ttfc", "tpoc")
    return key, out


def every_measurement(rec: "CallRecord", latest: bool = False) -> List[Tuple[Tuple[Any, ...], List[Measurement]]]:
    """The measurements of the call, then the token counts of each step inside it, each
    with its own model (an agent's model invocations are counted once, with their model;
    the agent call itself reports no tokens)."""
    found = [measurements(rec, latest)]
    if rec.children:
        for each in rec.walk()[1:]:
            if each.input_tokens is not None or each.output_tokens is not None:
                found.append(measurements(each, latest, step=True))
    return found


def _latest(rec: "CallRecord", step: bool = False) -> List[Measurement]:
    """Inference operations: their duration, streaming and token metrics, the token counts
    recorded for every call (0 when Bedrock reported none, failed calls included) under
    ``gen_ai.token.modality=unknown`` (Bedrock does not break them down by modality).
    Embeddings: their duration and input tokens. Any other operation: its duration. A step
    inside a call: its token counters only."""
    out: List[Measurement] = []
    duration = rec.duration_s
    op = rec.operation
    if step:
        if op != sc.OP_EMBEDDINGS:
            out += [("usage.input", rec.input_tokens or 0, _UNKNOWN), ("usage.output", rec.output_tokens or 0, _UNKNOWN)]
        return out
    if op in sc.INFERENCE_OPERATIONS:
        if duration is not None:
            out.append(("inference.duration", duration, None))
        _chunks(rec, out, "inference.ttfc", "inference.tpoc")
        inp, outp = rec.input_tokens or 0, rec.output_tokens or 0
        out += [("usage.input", inp, _UNKNOWN), ("usage.output", outp, _UNKNOWN),
                ("usage.cache_read", rec.cache_read_input_tokens or 0, _UNKNOWN),
                ("usage.cache_write", rec.cache_write_input_tokens or 0, _UNKNOWN),
                ("usage.reasoning", rec.reasoning_output_tokens or 0, _UNKNOWN),
                ("operation.input", inp, None), ("operation.output", outp, None)]
    elif op == sc.OP_EMBEDDINGS:
        if duration is not None:
            out.append(("embeddings.duration", duration, None))
        out.append(("embeddings.input", rec.input_tokens or 0, None))
    elif duration is not None:
        out.append(("duration", duration, None))
    return out


def _chunks(rec: "CallRecord", out: List[Measurement], ttfc_name: str, tpoc_name: str) -> None:
    if rec.stream:
        ttfc = rec.time_to_first_chunk_s
        if ttfc is not None:
            out.append((ttfc_name, ttfc, None))
        if rec.chunk_count > 1 and rec.last_chunk_ns is not None and rec.first_chunk_ns is not None:
            out.append((tpoc_name, (rec.last_chunk_ns - rec.first_chunk_ns) / 1e9 / (rec.chunk_count - 1), None))


def attributes(key: Tuple[Any, ...], extra: Optional[Tuple[str, str]], with_error: bool = True) -> Dict[str, Any]:
    attrs = {name: value for name, value in zip(_KEYS, key) if value is not None}
    if not with_error:
        attrs.pop(sc.ERROR_TYPE, None)
    if extra is not None:
        attrs[extra[0]] = extra[1]
    return attrs


class SdkInstruments:
    """Records into an SDK MeterProvider the app (or a test) configured, whose views apply."""

    def __init__(self, meter_provider: Any, latest: bool = False) -> None:
        meter = meter_provider.get_meter(SCOPE, __version__)
        self._latest = latest
        self._instruments: Dict[str, Any] = {}
        for short in LATEST if latest else DEFAULT:
            name, kind, unit, description, buckets, _ = INSTRUMENTS[short]
            if kind == "counter":
                self._instruments[short] = meter.create_counter(name, unit=unit, description=description)
            else:
                self._instruments[short] = meter.create_histogram(name, unit=unit, description=description,
                                                                  explicit_bucket_boundaries_advisory=buckets)

    def record(self, rec: "CallRecord") -> None:
        for key, values in every_measurement(rec, self._latest):
            for short, value, extra in values:
                instrument = self._instruments[short]
                attrs = attributes(key, extra, INSTRUMENTS[short][5])
                if INSTRUMENTS[short][1] == "counter":
                    instrument.add(value, attrs)
                else:
                    instrument.record(value, attrs)

    def flush(self, timeout_s: float) -> None:
        pass

    def shutdown(self, timeout_s: float) -> None:
        pass


class _Series:
    __slots__ = ("bounds", "counts", "count", "sum", "min", "max", "start_ns")

    def __init__(self, bounds: Tuple[float, ...], start_ns: int) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.start_ns = start_ns

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value


class _Total:
    """A monotonic counter's series."""

    __slots__ = ("value", "start_ns")

    def __init__(self, start_ns: int) -> None:
        self.value: float = 0
        self.start_ns = start_ns

    def add(self, value: float) -> None:
        self.value += value


class OwnHistograms:
    """Histograms (and, with the latest conventions, counters) aggregated by genai-tap and
    exported by a small thread of its own, exactly as the SDK's default views aggregate
    these instruments (tests/test_otel_paths.py compares both on the wire)."""

    def __init__(self, exporter: Any, resource: Any, latest: bool = False) -> None:
        self._exporter = exporter
        self._resource = resource
        self._latest = latest
        self._delta = delta_temporality()
        self._interval = interval_s()
        self._lock = threading.Lock()
        self._series: Dict[Tuple[str, Tuple[Any, ...], Optional[Tuple[str, str]]], Any] = {}
        self._start_ns = time.time_ns()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()

    def record(self, rec: "CallRecord") -> None:
        found = every_measurement(rec, self._latest)
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's points are the parent's
                self._series.clear()
                self._pid = os.getpid()
                self._thread = None
            series = self._series
            for key, values in found:
                no_error = key[:-1] + (None,)  # the series of an instrument without error.type (the last key)
                for short, value, extra in values:
                    ident = (short, key if INSTRUMENTS[short][5] else no_error, extra)
                    point = series.get(ident)
                    if point is None:
                        buckets = INSTRUMENTS[short][4]
                        point = series[ident] = _Series(buckets, self._start_ns) if buckets is not None else _Total(self._start_ns)
                    point.add(value)
            if self._thread is None:  # stays None where none may start (exit, 3.12): the exit flush sends the points
                self._thread = start_daemon(self._run, "genai-tap-metrics")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.export()

    def metrics_data(self) -> Any:
        """The current points as the SDK's ``MetricsData`` (None when there are none)."""
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            Histogram,
            HistogramDataPoint,
            Metric,
            MetricsData,
            NumberDataPoint,
            ResourceMetrics,
            ScopeMetrics,
            Sum,
        )
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        now = time.time_ns()
        with self._lock:
            items = list(self._series.items())
            if self._delta:
                self._series = {}
        if not items:
            return None
        points: Dict[str, list] = {}
        for (short, key, extra), s in items:
            attrs = attributes(key, extra, INSTRUMENTS[short][5])
            if isinstance(s, _Total):
                point: Any = NumberDataPoint(attributes=attrs, start_time_unix_nano=s.start_ns, time_unix_nano=now, value=s.value)
            else:
                point = HistogramDataPoint(attributes=attrs, start_time_unix_nano=s.start_ns, time_unix_nano=now, count=s.count,
                                           sum=s.sum, bucket_counts=list(s.counts), explicit_bounds=list(s.bounds), min=s.min, max=s.max)
            points.setdefault(short, []).append(point)
        if self._delta:
            self._start_ns = now
        temporality = AggregationTemporality.DELTA if self._delta else AggregationTemporality.CUMULATIVE
        metrics = []
        for short, data in points.items():
            name, kind, unit, description, _, _ = INSTRUMENTS[short]
            if kind == "counter":
                body: Any = Sum(data_points=data, aggregation_temporality=temporality, is_monotonic=True)
            else:
                body = Histogram(data_points=data, aggregation_temporality=temporality)
            metrics.append(Metric(name=name, description=description, unit=unit, data=body))
        scope = ScopeMetrics(scope=InstrumentationScope(SCOPE, __version__), metrics=metrics, schema_url="")
        return MetricsData(resource_metrics=[ResourceMetrics(resource=self._resource, scope_metrics=[scope], schema_url="")])

    def export(self, timeout_s: float = 10.0) -> None:
        data = self.metrics_data()
        if data is None:
            return
        try:
            self._exporter.export(data, timeout_millis=timeout_s * 1000)
        except Exception as exc:  # older exporters raise when the endpoint is down; newer ones log
            export_trouble("genai-tap: exporting GenAI metrics failed (%s: %s).", type(exc).__name__, exc)

    def flush(self, timeout_s: float) -> None:
        self.export(timeout_s)

    def shutdown(self, timeout_s: float) -> None:
        self._stop.set()
        self.export(timeout_s)
        self._exporter.shutdown(timeout_millis=timeout_s * 1000)


def own_points_fit() -> bool:
    """True where genai-tap can hand the SDK's OTLP exporter its own points: the SDK's
    metric data classes take the keyword arguments genai-tap gives them (the SDK does not
    promise them; an SDK MeterProvider takes the instruments where they do not)."""
    try:
        own = OwnHistograms(None, None)
        key = (sc.OP_CHAT,) + (None,) * (len(_KEYS) - 1)
        own._series[("duration", key, None)] = series = _Series(sc.DURATION_BUCKETS, 1)
        own._series[("usage.input", key, _UNKNOWN)] = total = _Total(1)
        series.add(0.5)
        total.add(7)
        histogram, counter = own.metrics_data().resource_metrics[0].scope_metrics[0].metrics
        point, number = histogram.data.data_points[0], counter.data.data_points[0]
        return (point.count == 1 and point.sum == 0.5 and point.bucket_counts[6] == 1 and point.explicit_bounds[0] == 0.01
                and number.value == 7 and counter.data.is_monotonic and dict(number.attributes)[sc.TOKEN_MODALITY] == "unknown")
    except Exception:  # noqa: BLE001 - anything unexpected: the SDK's own instruments
        return False


def delta_temporality() -> bool:
    """Histograms and counters are delta under the ``delta`` and ``lowmemory`` preferences,
    as in the SDK."""
    variable = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
    value = os.environ.get(variable, "").strip().lower()
    if value and value not in ("cumulative", "delta", "lowmemory"):
        warn_setting(variable, value, "cumulative, delta, lowmemory", "Using cumulative.")
    return value in ("delta", "lowmemory")


def interval_s() -> float:
    """Seconds between metric exports, from OTEL_METRIC_EXPORT_INTERVAL (milliseconds)."""
    variable = "OTEL_METRIC_EXPORT_INTERVAL"
    value = os.environ.get(variable, "").strip()
    millis = 60000.0
    if value:
        try:
            millis = float(value)
            if millis <= 0:
                raise ValueError(value)
        except ValueError:
            millis = 60000.0
            warn_setting(variable, value, "a positive number of milliseconds", "Using 60000.")
    return max(millis, 100.0) / 1000.0
