"""Streams: the app's event stream, traced without changing what the app sees.

:class:`TracedStream` is a transparent proxy (``wrapt.ObjectProxy``) around
botocore's ``EventStream``: attribute access, ``close()``, ``isinstance`` and
``get_initial_response()`` reach the real stream; iterating yields the very same
event objects, in the same order, with the same exceptions, and reads nothing
ahead of the app. Per event the proxy only notes the event and the time; the
events are interpreted once, when the stream ends, by a :class:`Reader` that
knows the operation's event shapes. The span ends:

- when the app exhausts the stream;
- when it stops early (``break`` or ``close()``): marked ``genai_tap.stream.stopped_early``, status unset;
- on an error event or exception mid-stream: status ERROR with ``error.type``;
- when the app drops the stream without finishing it: a finalizer ends it.

The span was released from the app's context when the call returned, so calls the
app makes while the stream is pending never become its children.

What is held per event matters more than the time spent on it: an event is a few
nested dicts, and holding them until the stream ends (and the finisher has read
them) hands the garbage collector extra containers to walk on the app's thread,
several µs per event. So the proxy keeps what the operation's :class:`Reader`
says, ``keep(event)``: for the common events a string or bytes (which the
collector never looks at), the event itself for the rest.
"""

from __future__ import annotations

import time
import weakref
from functools import partial
from typing import Any, Callable, Dict, List, Optional

import wrapt

from genai_tap.guard import report
from genai_tap.record import (
    CallRecord,
    Message,
    Part,
    message,
    reasoning_part,
    text_part,
    tool_call_part,
)
from genai_tap.semconv import STREAM_ABANDONED, STREAM_CANCELLED, finish_reason
from genai_tap.tap import Call

from .aws import error_code
from .formats import parse_arguments

Event = Any


class Reader:
    """How one operation's stream events are held and read.

    ``keep(event)`` runs on the app's thread for every event and returns what to hold
    until the stream ends; it must be cheap and should return an atomic value (``str``,
    ``bytes``) for the frequent events. A ``str`` it returns must be the reply's text and
    nothing else: with content capture off such items are not read, only their arrival
    counts. ``read(rec, state, kept)`` runs on the finisher thread for each held item
    that is read, in order.
    """

    __slots__ = ("keep", "read")

    def __init__(self, read: Callable[[CallRecord, "StreamState", Any], None], keep: Callable[[Event], Any] = lambda e: e) -> None:
        self.read = read
        self.keep = keep


class StreamState:
    """What the stream has said so far, assembled from deltas."""

    __slots__ = ("blocks", "reasons", "role", "content_seen")

    def __init__(self) -> None:
        self.blocks: Dict[Any, Dict[str, Any]] = {}  # block index -> {"kind", "text", "id", "name"}
        self.reasons: List[Any] = []
        self.role = "assistant"
        self.content_seen = False

    def _block(self, index: Any, kind: str) -> Dict[str, Any]:
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = {"kind": kind, "text": [], "id": None, "name": None}
        return block

    def text(self, index: Any, delta: Any) -> None:
        if delta:
            self._block(index, "text")["text"].append(str(delta))
            self.content_seen = True

    def reasoning(self, index: Any, delta: Any) -> None:
        if delta:
            self._block(index, "reasoning")["text"].append(str(delta))
            self.content_seen = True

    def tool_call(self, index: Any, call_id: Any = None, name: Any = None, arguments: Any = None) -> None:
        """A tool call starts, or more of its arguments arrive (JSON text or a finished object)."""
        block = self._block(("tool", index), "tool_call")
        if call_id:
            block["id"] = call_id
        if name:
            block["name"] = name
        if isinstance(arguments, str):
            block["text"].append(arguments)
        elif arguments is not None:
            block["args"] = arguments
        self.content_seen = True

    def finish(self, reason: Any) -> None:
        if reason is not None:
            self.reasons.append(reason)

    def output(self) -> Optional[Message]:
        parts: List[Part] = []
        for block in self.blocks.values():
            text = "".join(block["text"])
            if block["kind"] == "text":
                parts.append(text_part(text))
            elif block["kind"] == "reasoning":
                parts.append(reasoning_part(text))
            else:
                args = block.get("args")
                parts.append(tool_call_part(block["id"], str(block["name"] or ""), args if args is not None else parse_arguments(text)))
        if not parts:
            return None
        msg = message(self.role, parts)
        if self.reasons:
            msg["finish_reason"] = finish_reason(self.reasons[-1])
        return msg


class TracedStream(wrapt.ObjectProxy):
    """The app's event stream, watched."""

    def __init__(self, wrapped: Any, call: Call, reader: Reader) -> None:
        super().__init__(wrapped)
        seen: List[Event] = []
        times: List[int] = []  # when the first TIMED_EVENTS events reached the app
        self._self_call = call
        self._self_seen = seen
        self._self_times = times
        self._self_reader = reader
        # Ends the span if the app drops the stream unfinished (must not reference self).
        self._self_finalizer = weakref.finalize(self, _finish, call, seen, times, reader, None, ABANDONED)

    def __iter__(self):
        seen = self._self_seen
        times = self._self_times
        keep = self._self_reader.keep
        clock = time.time_ns
        try:
            for event in self.__wrapped__:
                try:
                    seen.append(keep(event))
                except Exception:  # never in the app's way: hold the event as it is
                    seen.append(event)
                if len(times) < TIMED_EVENTS:  # the first content delta is among the first few
                    times.append(clock())
                yield event
        except GeneratorExit:  # the app stopped iterating (break) and dropped the iterator
            self._self_end(None, STOPPED)
            raise
        except BaseException as exc:
            self._self_end(exc, FAILED)
            raise
        self._self_end(None, COMPLETE)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_end(None, STOPPED)

    def _self_end(self, error: Optional[BaseException], how: str) -> None:
        self._self_finalizer.detach()
        _finish(self._self_call, self._self_seen, self._self_times, self._self_reader, error, how)


class AsyncTracedStream(TracedStream):
    """An async client's event stream (aiobotocore's ``AioEventStream``), watched.

    The same as :class:`TracedStream` for ``async for``: the same event objects, in
    the same order, nothing read ahead. Besides the ends a sync stream has, a task
    cancelled while it waits for the next event (``asyncio.timeout``, a ``TaskGroup``
    cancelling its tasks, ``task.cancel()``) ends the span as a stop by the app.
    An ``async for`` left with ``break`` ends it when its iterator is closed:
    ``aclose()``, or the event loop finalising the dropped iterator.
    """

    def __aiter__(self):
        return self._self_events()

    async def _self_events(self):
        seen = self._self_seen
        times = self._self_times
        keep = self._self_reader.keep
        clock = time.time_ns
        try:
            async for event in self.__wrapped__:
                try:
                    seen.append(keep(event))
                except Exception:  # never in the app's way: hold the event as it is
                    seen.append(event)
                if len(times) < TIMED_EVENTS:
                    times.append(clock())
                yield event
        except GeneratorExit:  # aclose(): the app stopped iterating
            self._self_end(None, STOPPED)
            raise
        except BaseException as exc:
            if _cancelled(exc):
                self._self_end(None, CANCELLED)
            else:
                self._self_end(exc, FAILED)
            raise
        self._self_end(None, COMPLETE)


def _cancelled(exc: BaseException) -> bool:
    import asyncio

    return isinstance(exc, asyncio.CancelledError)


COMPLETE, STOPPED, CANCELLED, FAILED, ABANDONED = "complete", "stopped", "cancelled", "failed", "abandoned"
#: Events whose arrival time is noted: every family's first content delta comes within
#: its first few events (after a message start and a block start at most)
TIMED_EVENTS = 8


def _finish(
    call: Call, seen: List[Event], times: List[int], reader: Reader, error: Optional[BaseException], how: str
) -> None:
    """The stream is over: end the call (once); its events are read on the finisher thread."""
    if call.ended:
        return
    # the stream's last event was just read when it ends on its own: then the time per
    # chunk is known; for a stream stopped or dropped part-way it is not
    last = time.time_ns() if seen and how == COMPLETE else None
    call.defer(partial(_interpret, call.record, seen, times, last, reader, error, how))
    call.end()


def _interpret(
    rec: CallRecord,
    seen: List[Event],
    times: List[int],
    last: Optional[int],
    reader: Reader,
    error: Optional[BaseException],
    how: str,
) -> None:
    """Turn what the app received into the record: output, usage, finish reasons, timing."""
    try:
        rec.chunk_count = len(seen)
        rec.last_chunk_ns = last
        state = StreamState()
        read = reader.read
        capture = rec.capture_content
        for index, kept in enumerate(seen):
            before = state.content_seen
            if type(kept) is str and not capture:  # the reply's text, not recorded: only its arrival counts
                state.content_seen = before or bool(kept)
            else:
                read(rec, state, kept)
            if not before and state.content_seen and index < len(times):
                rec.first_chunk_ns = times[index]
        if state.reasons and not rec.finish_reasons:
            rec.set_finish(state.reasons)
        if capture:
            out = state.output()
            if out is not None:
                rec.output_messages = [out]
    except Exception as exc:
        report(f"bedrock {rec.api}: reading the stream", exc)
    if error is not None:
        rec.fail(error, error_code(error))
    elif how in (STOPPED, CANCELLED, ABANDONED):
        rec.stopped_early = True  # the app's choice, not an error: status stays unset
        if how == ABANDONED:
            rec.attributes[STREAM_ABANDONED] = True
        elif how == CANCELLED:
            rec.attributes[STREAM_CANCELLED] = True
