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
    that is read, in order; ``done(rec, state)``, if given, runs after the last one, once
    the record knows how the stream ended (its end time, error and stop flags).
    """

    __slots__ = ("keep", "read", "done")

    def __init__(
        self,
        read: Callable[[CallRecord, "StreamState", Any], None],
        keep: Callable[[Event], Any] = lambda e: e,
        done: "Optional[Callable[[CallRecord, StreamState], None]]" = None,
    ) -> None:
        self.read = read
        self.keep = keep
        self.done = done


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


class _Watch:
    """One stream's bookkeeping: what the app received, when, and how the stream ended."""

    __slots__ = ("call", "reader", "keep", "seen", "times", "finalizer", "__weakref__")

    def __init__(self, owner: Any, call: Call, reader: Reader) -> None:
        self.call = call
        self.reader = reader
        self.keep = reader.keep
        self.seen: List[Event] = []
        self.times: List[int] = []  # when the first TIMED_EVENTS events reached the app
        # ends the span if the app drops ``owner`` unfinished (must not reference it)
        self.finalizer = weakref.finalize(owner, _finish, call, self.seen, self.times, reader, None, ABANDONED)

    def note(self, event: Event) -> None:
        """The app is about to receive ``event``: hold what the reader keeps of it, and the time."""
        try:
            self.seen.append(self.keep(event))
        except Exception:  # never in the app's way: hold the event as it is
            self.seen.append(event)
        if len(self.times) < TIMED_EVENTS:  # the first content delta is among the first few
            self.times.append(time.time_ns())

    def end(self, error: Optional[BaseException], how: str) -> None:
        self.finalizer.detach()
        _finish(self.call, self.seen, self.times, self.reader, error, how)

    def failed(self, exc: BaseException) -> None:
        if _cancelled(exc):
            self.end(None, CANCELLED)
        else:
            self.end(exc, FAILED)


WATCH_ATTRIBUTE = "_genai_tap_watch"


def watch(stream: Any, call: Call, reader: Reader) -> Any:
    """What the app gets for ``stream``: the stream itself, watched in place, when it is
    botocore's ``EventStream`` or aiobotocore's ``AioEventStream`` as genai-tap knows them
    (``type()`` unchanged); otherwise a transparent proxy of it (:class:`TracedStream`)."""
    hook = _in_place(stream)
    if hook is not None:
        hook(stream, call, reader)
        return stream
    return (AsyncTracedStream if hasattr(type(stream), "__aiter__") else TracedStream)(stream, call, reader)


# ------------------------------------------------------------------------------ in place
#
# botocore's EventStream reads raw events from ``self._event_generator`` (made by
# ``_create_raw_event_generator``) and turns each into the event the app gets with
# ``self._parse_event``. Watching it in place sets three instance attributes, which come
# before the class's own: ``_parse_event`` (notes each event the app is about to get),
# ``_event_generator`` (a new raw-event generator, made by the class's own method, whose
# end or failure ends the span) and ``close``. The new generator runs the class's method
# on a stand-in that holds the stream only weakly, so the stream is no longer in a
# reference cycle with its generator and is freed as soon as the app drops it (botocore's
# own generator holds the stream strongly: such a stream waits for the cyclic garbage
# collector). aiobotocore's AioEventStream does the same with coroutines, and its
# ``__aiter__`` returns ``self.__anext__()``: there the watch sets ``__anext__`` (the
# class's loop with the watch in it: no extra generator or coroutine per event), the
# ``_event_generator`` made on the stand-in, and ``close``. These are private names: they
# are checked before use (:func:`_hook_for`), and any stream they do not fit is watched
# through the proxy, which uses only public methods.


def _in_place(stream: Any) -> "Optional[Callable[[Any, Call, Reader], None]]":
    """How to watch ``stream`` in place, or None if it is not a stream genai-tap knows."""
    cls = type(stream)
    try:
        hook = _hooks[cls]
    except KeyError:
        hook = _hook_for(cls)
        if len(_hooks) < 64:
            _hooks[cls] = hook
    if hook is None:
        return None
    attrs = getattr(stream, "__dict__", None)
    if not isinstance(attrs, dict) or "_event_generator" not in attrs or "_raw_stream" not in attrs:
        return None
    return hook


def _hook_for(cls: type) -> "Optional[Callable[[Any, Call, Reader], None]]":
    """The in-place hook for streams of class ``cls`` (checked once per class), or None."""
    import inspect

    if cls.__module__ not in ("botocore.eventstream", "aiobotocore.eventstream") or cls.__name__ not in ("EventStream", "AioEventStream"):
        return None
    make, parse = getattr(cls, "_create_raw_event_generator", None), getattr(cls, "_parse_event", None)
    if not callable(parse):
        return None
    if inspect.isgeneratorfunction(make) and not inspect.iscoroutinefunction(parse):
        return _hook_sync
    aiter, anext = getattr(cls, "__aiter__", None), getattr(cls, "__anext__", None)
    if (
        inspect.isasyncgenfunction(make)
        and inspect.iscoroutinefunction(parse)
        and inspect.isasyncgenfunction(anext)
        # ``__aiter__`` returns ``self.__anext__()``: looked up on the instance, so the watch's comes first
        and "__anext__" in getattr(getattr(aiter, "__code__", None), "co_names", ())
    ):
        return _hook_async
    return None


_hooks: "Dict[type, Optional[Callable[[Any, Call, Reader], None]]]" = {}


class _StandIn:
    """What the class's raw-event generator sees as ``self``: the stream, held weakly."""

    __slots__ = ("_raw_stream", "_stream")

    def __init__(self, stream: Any) -> None:
        self._raw_stream = stream._raw_stream
        self._stream = weakref.ref(stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream(), name)


def _hook_sync(stream: Any, call: Call, reader: Reader) -> None:
    state = _Watch(stream, call, reader)
    cls, stand_in = type(stream), _StandIn(stream)
    raw = cls._create_raw_event_generator(stand_in)

    def events() -> Any:
        try:
            yield from raw
        except GeneratorExit:  # the stream is being freed: its finalizer ends the call
            raise
        except BaseException as exc:  # a dropped connection
            state.failed(exc)
            raise
        state.end(None, COMPLETE)

    _install(stream, state, events(), _closer(cls, stand_in, state), _parse_event=_parser(cls, stream, state))


def _hook_async(stream: Any, call: Call, reader: Reader) -> None:
    state = _Watch(stream, call, reader)
    cls, stand_in = type(stream), _StandIn(stream)
    ref, parse, note = weakref.ref(stream), cls._parse_event, state.note

    async def events(self: Any) -> Any:
        """The class's ``__anext__``, noting each event the app gets."""
        try:
            async for event in self._event_generator:
                parsed = await parse(self, event)
                if parsed:
                    note(parsed)
                    yield parsed
        except GeneratorExit:  # the app stopped iterating: the stream may still be read again, or dropped
            raise
        except BaseException as exc:  # an error event, a dropped connection, or the app's task cancelled
            state.failed(exc)
            raise
        state.end(None, COMPLETE)

    # ``__anext__``: what the class's ``__aiter__`` calls; the generator holds the stream while the
    # app iterates, as the class's own does (the stream's attribute holds it only weakly: no cycle)
    _install(stream, state, cls._create_raw_event_generator(stand_in), _closer(cls, stand_in, state),
             __anext__=lambda: events(ref()))


def _parser(cls: Any, stream: Any, state: _Watch) -> Callable[[Any], Any]:
    """``_parse_event`` for ``stream``: the class's, noting each event the app is about to get."""
    ref = weakref.ref(stream)

    def parse_event(event: Any) -> Any:
        try:
            parsed = cls._parse_event(ref(), event)
        except BaseException as exc:  # an error event (modelStreamErrorException ...)
            state.failed(exc)
            raise
        if parsed:
            state.note(parsed)
        return parsed

    return parse_event


def _closer(cls: Any, stand_in: _StandIn, state: _Watch) -> Callable[[], None]:
    def close() -> None:
        try:
            # the stand-in when the stream is gone already: ``client.converse_stream(...)["stream"].close()``
            cls.close(stand_in._stream() or stand_in)
        finally:
            state.end(None, STOPPED)

    return close


def _install(stream: Any, state: _Watch, events: Any, close: Any, **methods: Any) -> None:
    """Set the watch's instance attributes on ``stream``: its raw-event generator, ``close``,
    and the per-event method of its kind (``_parse_event`` or ``__anext__``)."""
    attrs = stream.__dict__
    attrs["_event_generator"] = events  # botocore's own, never started, is freed here
    attrs["close"] = close
    attrs.update(methods)
    attrs[WATCH_ATTRIBUTE] = state


# ------------------------------------------------------------------------------ proxies


class TracedStream(wrapt.ObjectProxy):
    """A stream genai-tap cannot watch in place, watched through a transparent proxy:
    attribute access, ``close()`` and ``isinstance`` reach the real stream; iterating
    yields its very events."""

    def __init__(self, wrapped: Any, call: Call, reader: Reader) -> None:
        super().__init__(wrapped)
        self._self_watch = _Watch(self, call, reader)

    def __iter__(self):
        state = self._self_watch
        try:
            for event in self.__wrapped__:
                state.note(event)
                yield event
        except GeneratorExit:  # the app stopped iterating (break) and dropped the iterator
            state.end(None, STOPPED)
            raise
        except BaseException as exc:
            state.end(exc, FAILED)
            raise
        state.end(None, COMPLETE)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_watch.end(None, STOPPED)


class AsyncTracedStream(TracedStream):
    """An async stream genai-tap cannot watch in place, through a proxy, for ``async for``."""

    def __aiter__(self):
        return self._self_events()

    async def _self_events(self):
        state = self._self_watch
        try:
            async for event in self.__wrapped__:
                state.note(event)
                yield event
        except GeneratorExit:  # aclose(): the app stopped iterating
            state.end(None, STOPPED)
            raise
        except BaseException as exc:
            state.failed(exc)
            raise
        state.end(None, COMPLETE)


def watched(stream: Any) -> Optional[_Watch]:
    """The bookkeeping of a watched stream (for tests and diagnostics)."""
    found = getattr(stream, "_self_watch", None) if isinstance(stream, TracedStream) else vars(stream).get(WATCH_ATTRIBUTE)
    return found if isinstance(found, _Watch) else None


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
    if how == ABANDONED and seen:  # dropped after the app read part of it: it stopped reading
        how = STOPPED
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
    state = StreamState()
    try:
        rec.chunk_count = len(seen)
        rec.last_chunk_ns = last
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
    if reader.done is not None:
        try:
            reader.done(rec, state)
        except Exception as exc:
            report(f"bedrock {rec.api}: reading the stream", exc)
