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

if TYPE_CHECKING:  # pragma: no cover
    from ..record import CallRecord

SCOPE = "genai_tap"

#: (metric name, unit, description, advisory buckets)
HISTOGRAMS = {
    "duration": (sc.METRIC_OPERATION_DURATION, "s", "GenAI operation duration", sc.DURATION_BUCKETS),
    "tokens": (sc.METRIC_TOKEN_USAGE, "{token}", "Number of input and output tokens used", sc.TOKEN_BUCKETS),
    "ttfc": (sc.METRIC_TIME_TO_FIRST_CHUNK, "s", "Time to receive the first chunk of a streamed response", sc.DURATION_BUCKETS),
    "tpoc": (sc.METRIC_TIME_PER_OUTPUT_CHUNK, "s", "Time between chunks of a streamed response, after the first", sc.DURATION_BUCKETS),
}
_KEYS = (sc.OPERATION_NAME, sc.PROVIDER_NAME, sc.REQUEST_MODEL, sc.SERVER_ADDRESS, sc.SERVER_PORT, sc.RESPONSE_MODEL, sc.ERROR_TYPE)


def measurements(rec: "CallRecord", step: bool = False) -> Tuple[Tuple[Any, ...], List[Tuple[str, float, Optional[str]]]]:
    """The call's metric attributes (as a tuple in ``_KEYS`` order) and its measurements.

    Measurements are ``(histogram, value, gen_ai.token.type or None)``. A ``step`` inside
    a call (an agent's model invocation) counts its tokens only: it is not an operation
    of the client, so it has no duration or chunk timings of its own.
    """
    key = (rec.operation, rec.provider, rec.request_model or None, rec.server_address,
           rec.server_port if rec.server_address else None, rec.response_model, rec.error_type)
    out: List[Tuple[str, float, Optional[str]]] = []
    duration = rec.duration_s
    if duration is not None and not step:
        out.append(("duration", duration, None))
    if rec.input_tokens is not None:
        out.append(("tokens", rec.input_tokens, sc.TOKEN_TYPE_INPUT))
    if rec.output_tokens is not None:
        out.append(("tokens", rec.output_tokens, sc.TOKEN_TYPE_OUTPUT))
    if rec.stream and not step:
        ttfc = rec.time_to_first_chunk_s
        if ttfc is not None:
            out.append(("ttfc", ttfc, None))
        if rec.chunk_count > 1 and rec.last_chunk_ns is not None and rec.first_chunk_ns is not None:
            out.append(("tpoc", (rec.last_chunk_ns - rec.first_chunk_ns) / 1e9 / (rec.chunk_count - 1), None))
    return key, out


def every_measurement(rec: "CallRecord") -> List[Tuple[Tuple[Any, ...], List[Tuple[str, float, Optional[str]]]]]:
    """The measurements of the call, then the token counts of each step inside it, each
    with its own model (an agent's model invocations are counted once, with their model;
    the agent call itself reports no tokens)."""
    found = [measurements(rec)]
    if rec.children:
        for each in rec.walk()[1:]:
            if each.input_tokens is not None or each.output_tokens is not None:
                found.append(measurements(each, step=True))
    return found


def attributes(key: Tuple[Any, ...], token_type: Optional[str]) -> Dict[str, Any]:
    attrs = {name: value for name, value in zip(_KEYS, key) if value is not None}
    if token_type is not None:
        attrs[sc.TOKEN_TYPE] = token_type
    return attrs


class SdkInstruments:
    """Records into an SDK MeterProvider the app (or a test) configured."""

    def __init__(self, meter_provider: Any) -> None:
        meter = meter_provider.get_meter(SCOPE, __version__)
        self._instruments = {
            short: meter.create_histogram(name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets)
            for short, (name, unit, description, buckets) in HISTOGRAMS.items()
        }

    def record(self, rec: "CallRecord") -> None:
        for key, values in every_measurement(rec):
            for short, value, token_type in values:
                self._instruments[short].record(value, attributes(key, token_type))

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


class OwnHistograms:
    """Histograms aggregated by genai-tap and exported by a small thread of its own."""

    def __init__(self, exporter: Any, resource: Any) -> None:
        self._exporter = exporter
        self._resource = resource
        self._delta = _delta_temporality()
        self._interval = _interval_s()
        self._lock = threading.Lock()
        self._series: Dict[Tuple[str, Tuple[Any, ...], Optional[str]], _Series] = {}
        self._start_ns = time.time_ns()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()

    def record(self, rec: "CallRecord") -> None:
        found = every_measurement(rec)
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's points are the parent's
                self._series.clear()
                self._pid = os.getpid()
                self._thread = None
            series = self._series
            for key, values in found:
                for short, value, token_type in values:
                    ident = (short, key, token_type)
                    point = series.get(ident)
                    if point is None:
                        point = series[ident] = _Series(HISTOGRAMS[short][3], self._start_ns)
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
            ResourceMetrics,
            ScopeMetrics,
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
        for (short, key, token_type), s in items:
            points.setdefault(short, []).append(
                HistogramDataPoint(
                    attributes=attributes(key, token_type),
                    start_time_unix_nano=s.start_ns,
                    time_unix_nano=now,
                    count=s.count,
                    sum=s.sum,
                    bucket_counts=list(s.counts),
                    explicit_bounds=list(s.bounds),
                    min=s.min,
                    max=s.max,
                )
            )
        if self._delta:
            self._start_ns = now
        temporality = AggregationTemporality.DELTA if self._delta else AggregationTemporality.CUMULATIVE
        metrics = [
            Metric(name=HISTOGRAMS[short][0], description=HISTOGRAMS[short][2], unit=HISTOGRAMS[short][1],
                   data=Histogram(data_points=data, aggregation_temporality=temporality))
            for short, data in points.items()
        ]
        scope = ScopeMetrics(scope=InstrumentationScope(SCOPE, __version__), metrics=metrics, schema_url="")
        return MetricsData(resource_metrics=[ResourceMetrics(resource=self._resource, scope_metrics=[scope], schema_url="")])

    def export(self, timeout_s: float = 10.0) -> None:
        data = self.metrics_data()
        if data is None:
            return
        try:
            self._exporter.export(data, timeout_millis=timeout_s * 1000)
        except Exception as exc:  # older exporters raise when the endpoint is down; newer ones log
            _export_failed(exc)

    def flush(self, timeout_s: float) -> None:
        self.export(timeout_s)

    def shutdown(self, timeout_s: float) -> None:
        self._stop.set()
        self.export(timeout_s)
        self._exporter.shutdown(timeout_millis=timeout_s * 1000)


_failures: "set[str]" = set()


def _export_failed(exc: Exception) -> None:
    """Say once per kind of failure, in one line, that metrics could not be exported."""
    from ..guard import logger

    kind = type(exc).__name__
    level = 30 if kind not in _failures else 10  # WARNING the first time, then DEBUG
    _failures.add(kind)
    logger().log(level, "genai-tap: exporting GenAI metrics failed (%s: %s)", kind, exc)


def _delta_temporality() -> bool:
    """Histograms are delta under the ``delta`` and ``lowmemory`` preferences, as in the SDK."""
    value = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative").strip().lower()
    return value in ("delta", "lowmemory")


def _interval_s() -> float:
    try:
        millis = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000"))
    except ValueError:
        millis = 60000.0
    return max(millis, 100.0) / 1000.0
