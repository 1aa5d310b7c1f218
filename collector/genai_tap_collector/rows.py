"""Row layouts and constants shared by the decoder (main process) and the writer process.

Kept free of heavy imports (no protobuf, no gRPC): the writer process imports it.
"""

from __future__ import annotations

import math

MAX_NS = 2**63 - 1  # SQLite's INTEGER range
MINUTE_NS = 60_000_000_000

#: Operations whose spans contain the model calls they are made of; their own token
#: counts (when a tracer sets them) restate their children's and are not added up again.
AGGREGATE_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow", "create_agent"})

# ``notes``: what the collector changed in a span, as bits.
NOTE_TIME = 1  # start or end moved (future, beyond 2**63, or end before start)
NOTE_ATTRIBUTES = 2  # attributes, events or links over the limits dropped
NOTE_VALUES = 4  # an attribute value cut to the size limit
NOTE_TOKENS = 8  # a token count out of range ignored or capped
NOTE_NAMES = {NOTE_TIME: "time clamped", NOTE_ATTRIBUTES: "attributes dropped", NOTE_VALUES: "values truncated",
              NOTE_TOKENS: "token count out of range"}

GAMMA = 1.02  # latency buckets: values within a bucket differ by at most ~1%
_LOG_GAMMA = math.log(GAMMA)
MIN_BUCKET, MAX_BUCKET = -400, 2000  # under a microsecond .. over a year


def duration_bucket(ms: float) -> int:
    if not ms > 0.001:
        return MIN_BUCKET  # everything under a microsecond
    return min(math.ceil(math.log(ms) / _LOG_GAMMA), MAX_BUCKET)


def bucket_value(bucket: int) -> float:
    """The representative duration (ms) of a bucket: within 1% of every value in it."""
    return 2.0 * GAMMA**bucket / (GAMMA + 1.0)


DAY_NS = 86_400 * 10**9
TRACE_KEY_DAY = 1 << 40  # one day in trace_key


def trace_key(trace_id: bytes, start_ns: int) -> int:
    """An integer that finds a trace's spans: the span's day (days since 1970) in the high
    bits, the trace ID's first 40 bits in the low ones. Spans are written in time order,
    so the index on it grows at the end of each day's range, not at random places (as an
    index on the trace ID itself would: a random write to every page of it at volume)."""
    return (start_ns // DAY_NS) * TRACE_KEY_DAY + int.from_bytes(trace_id[:5], "big")


#: A GenAI call's row, in the order of the calls table's INSERT.
CALL_COLUMNS = ("trace_id", "span_id", "parent_id", "trace_key", "resource", "start_ns", "end_ns", "dur_bucket", "name", "kind",
                "status", "app", "scope", "operation", "api", "model", "base_model", "input_tokens", "output_tokens",
                "cache_read", "cache_write", "error", "error_type", "error_message", "notes", "body")
#: Another span's row (the spans table adds received_ns and orphan).
SPAN_COLUMNS = ("trace_id", "span_id", "parent_id", "trace_key", "resource", "start_ns", "end_ns", "name", "kind", "status", "app",
                "scope", "notes", "body")
#: A GenAI metric data point's row.
METRIC_COLUMNS = ("name", "app", "time_ns", "model", "count", "value", "attributes")

C_START = CALL_COLUMNS.index("start_ns")
C_BUCKET = CALL_COLUMNS.index("dur_bucket")
C_APP = CALL_COLUMNS.index("app")
C_OPERATION = CALL_COLUMNS.index("operation")
C_API = CALL_COLUMNS.index("api")
C_BASE_MODEL = CALL_COLUMNS.index("base_model")
C_INPUT = CALL_COLUMNS.index("input_tokens")
C_OUTPUT = CALL_COLUMNS.index("output_tokens")
C_CACHE_READ = CALL_COLUMNS.index("cache_read")
C_CACHE_WRITE = CALL_COLUMNS.index("cache_write")
C_ERROR = CALL_COLUMNS.index("error")
C_ERROR_TYPE = CALL_COLUMNS.index("error_type")
C_ERROR_MESSAGE = CALL_COLUMNS.index("error_message")
C_BODY = CALL_COLUMNS.index("body")
