"""The hooks: wrapt wrappers around the clients' ``_make_api_call``.

Every boto3 client, including those created before genai-tap was switched on,
goes through ``botocore.client.BaseClient._make_api_call``; every aiobotocore (and
aioboto3) client through ``aiobotocore.client.AioBaseClient._make_api_call``, a
coroutine. Each has its own small wrapper; everything else (which calls are
traced, the record, reading the response, errors) is shared, so a call reads the
same through either client.

For anything but a traced Bedrock operation a wrapper costs one set lookup. For a
traced one it builds a record, lets the sinks open their spans, calls botocore,
and reads the result; all of genai-tap's own work is guarded, so the app gets
botocore's return value or botocore's exception object exactly as it would have.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from genai_tap.finisher import start_daemon
from genai_tap.guard import report
from genai_tap.importhooks import module_version
from genai_tap.tap import Call, get_tap

from . import others

if TYPE_CHECKING:  # pragma: no cover
    from .operations import Operation

#: The traced operations of each Bedrock service, and the module whose ``OPERATIONS``
#: has one class for each. How they are read, with every body format, is imported at
#: the first of these calls, not when botocore is: an app that imports boto3 and never
#: calls Bedrock does not pay for it.
SERVICES: Dict[str, Tuple[str, frozenset]] = {
    "bedrock-runtime": (
        ".operations",
        frozenset(
            {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream", "StartAsyncInvoke", "ApplyGuardrail"}
        ),
    ),
    "bedrock-agent-runtime": (
        ".agent_runtime",
        frozenset({"InvokeAgent", "InvokeInlineAgent", "Retrieve", "RetrieveAndGenerate", "RetrieveAndGenerateStream"}),
    ),
}
#: every traced operation name, of any service: the wrappers' first, cheap test
TRACED = frozenset().union(*(names for _, names in SERVICES.values()))
_operations: Dict[str, Dict[str, "Operation"]] = {}
_MARK = "_genai_tap_wrapper"

# Set False by uninstall when another wrapper sits on top of ours and we cannot
# remove ourselves from the middle of the chain: the wrapper then passes through.
active = True
active_async = True

_servers: Dict[str, Tuple[Optional[str], Optional[int]]] = {}


def traced_make_api_call(wrapped, instance, args, kwargs):
    """botocore's ``_make_api_call``, traced."""
    name = args[0] if args else kwargs.get("operation_name")
    if name not in TRACED or not active:
        return wrapped(*args, **kwargs)
    begun = _begin(name, instance, args, kwargs)
    if begun is None:
        return wrapped(*args, **kwargs)
    op, call = begun
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _failed(call, exc, _params(args, kwargs))
        raise
    return _succeeded(op, call, result)


def traced_make_api_call_async(wrapped, instance, args, kwargs):
    """aiobotocore's ``_make_api_call`` (a coroutine function), traced.

    Anything not traced gets aiobotocore's own coroutine, untouched. A traced call
    gets a coroutine of ours that awaits it: the record is begun inside it, so in the
    context of the task that awaits the call (its current span is the parent, and
    nothing genai-tap sets there leaks into other tasks).
    """
    name = args[0] if args else kwargs.get("operation_name")
    if name not in TRACED or not active_async:
        return wrapped(*args, **kwargs)
    return _traced_async(wrapped, instance, args, kwargs, name)


async def _traced_async(wrapped, instance, args, kwargs, name):
    if not _warm():
        await _warm_up_off_the_loop()
    begun = _begin(name, instance, args, kwargs)
    if begun is None:
        return await wrapped(*args, **kwargs)
    op, call = begun
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:  # CancelledError too: the call did not complete
        _failed(call, exc, _params(args, kwargs))
        raise
    return _succeeded(op, call, result)


def _begin(name: str, client: Any, args: tuple, kwargs: dict) -> "Optional[Tuple[Operation, Call]]":
    try:
        service = client.meta.service_model.service_name
        found = SERVICES.get(service)
        if found is None or name not in found[1]:
            return None
        op = _operations_of(service).get(name)
        tap = get_tap()
        if op is None:
            return None
        if not tap.sinks:
            return None
        made = op.record(_params(args, kwargs), tap.config)
        if made is None:
            return None
        rec, state, steps = made
        rec.server_address, rec.server_port = _server(client.meta.endpoint_url)
        call = tap.begin(rec)
        call.plugin_state = state
        for step in steps:
            call.defer(step)
        return op, call
    except Exception as exc:
        report(f"bedrock {name}: starting the span", exc)
        return None


def _operations_of(service: str) -> Dict[str, "Operation"]:
    ops = _operations.get(service)
    if ops is None:  # the first call: another instrumentation may have been installed after us
        others.take_over()
        module = importlib.import_module(SERVICES[service][0], __package__)
        ops = _operations[service] = module.OPERATIONS
    return ops


def _params(args: tuple, kwargs: dict) -> Any:
    """The API parameters of a ``_make_api_call(operation_name, api_params)`` call."""
    return args[1] if len(args) > 1 else kwargs.get("api_params", {})


def _failed(call: Call, exc: BaseException, params: Any) -> None:
    try:
        from .aws import error_code

        rec = call.record
        # the request goes with the error: error messages can quote it, and the content
        # policy withholds what they quote when content is not captured
        rec.fail(exc, error_code(exc), request=params)
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            rec.request_id = (response.get("ResponseMetadata") or {}).get("RequestId")
    except Exception as inner:
        report(f"bedrock {call.record.api}: reading the error", inner)
    call.release()
    call.end()


def _succeeded(op: "Operation", call: Call, result: Any) -> Any:
    returned, continues = result, False
    try:
        returned, continues = op.succeeded(call, result)
    except Exception as exc:
        report(f"bedrock {op.api}: reading the response", exc)
    call.release()
    if not continues:
        call.end()
    return returned


def _server(endpoint_url: Optional[str]) -> Tuple[Optional[str], Optional[int]]:
    if not endpoint_url:
        return None, None
    found = _servers.get(endpoint_url)
    if found is None:
        parts = urlsplit(endpoint_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = (parts.hostname, port)
        if len(_servers) < 256:
            _servers[endpoint_url] = found
    return found


# ------------------------------------------------------------------ async clients: the first call
#
# The first traced call imports how calls are read (the body formats) and creates the
# sinks (the OpenTelemetry SDK and its exporters, ddtrace): tens to hundreds of
# milliseconds of imports, file reads and set-up. On an event loop that would stall
# every other task, so an async client's first call has it done on a thread of its own
# and awaits it; later calls find everything ready.

_warm_lock = threading.Lock()
_warm_done = False
_warm_thread: Optional[Any] = None
_warm_waiters: List[Tuple[Any, Any]] = []  # (loop, future) of the calls waiting for the warm-up


def _warm() -> bool:
    """Whether everything a call needs is already set up (no I/O left for the first call)."""
    return _warm_done or (len(_operations) == len(SERVICES) and get_tap().ready)


async def _warm_up_off_the_loop() -> None:
    import asyncio

    global _warm_thread
    loop = asyncio.get_running_loop()
    future = loop.create_future()  # one each: a caller cancelled does not cancel the others
    with _warm_lock:
        if _warm_done:
            return
        _warm_waiters.append((loop, future))
        if _warm_thread is None:
            _warm_thread = start_daemon(_warm_up, "genai-tap-warm-up")
            if _warm_thread is None:  # no thread may start here (interpreter exit): do it on the loop
                _warm_waiters.remove((loop, future))
                _warm_up_now()
                return
    await future


def _warm_up() -> None:
    global _warm_done, _warm_thread
    _warm_up_now()
    with _warm_lock:
        _warm_done = True
        _warm_thread = None
        waiters = list(_warm_waiters)
        _warm_waiters.clear()
    for loop, future in waiters:
        try:
            loop.call_soon_threadsafe(_resolve, future)
        except RuntimeError:  # that loop is closed: nobody waits any more
            pass


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)


def _warm_up_now() -> None:
    try:
        for service in SERVICES:
            _operations_of(service)
            module = importlib.import_module(SERVICES[service][0], __package__)
            prepare = getattr(module, "prepare", None)
            if prepare is not None:
                prepare()
        get_tap().prepare()
    except Exception as exc:
        report("bedrock: setting up for async clients", exc)


# ------------------------------------------------------------------ installing


def install(client_module: Any) -> None:
    """Wrap botocore's ``BaseClient._make_api_call`` once (a second install re-activates)."""
    global active
    _wrap(client_module.BaseClient, traced_make_api_call)
    active = True


#: The oldest aiobotocore whose calls are traced (aioboto3 uses aiobotocore's clients).
MIN_AIOBOTOCORE = (2, 23)


def install_async(client_module: Any) -> None:
    """Wrap aiobotocore's ``AioBaseClient._make_api_call`` once (a second install re-activates).

    An aiobotocore older than :data:`MIN_AIOBOTOCORE`, or one whose ``_make_api_call``
    is not a coroutine function, is left alone, with one warning: its calls are not
    traced, and the app runs as without genai-tap.
    """
    global active_async
    import inspect

    from genai_tap.guard import logger

    version = module_version("aiobotocore")
    base = client_module.AioBaseClient
    shown = ".".join(map(str, version or ())) or "(version unknown)"
    if version is not None and version < MIN_AIOBOTOCORE:
        why = f"aiobotocore {shown} is older than {'.'.join(map(str, MIN_AIOBOTOCORE))}, the oldest genai-tap supports"
    elif not inspect.iscoroutinefunction(getattr(base, "_make_api_call", None)):
        why = f"aiobotocore {shown} has no coroutine AioBaseClient._make_api_call"
    else:
        _wrap(base, traced_make_api_call_async)
        active_async = True
        return
    logger().warning("genai-tap: %s: calls through aiobotocore and aioboto3 are not traced.", why)


def _wrap(base: Any, wrapper: Any) -> None:
    if _find_ours(base) is not None:
        return
    import wrapt

    others.take_over()
    wrapt.wrap_function_wrapper(base, "_make_api_call", wrapper)
    # Remember our wrapper by identity (on the class, so a second copy of this module
    # finds it too): attribute lookups on wrapt proxies reach through to what they
    # wrap, so a marker attribute would also be "found" on someone else's wrapper.
    setattr(base, _MARK, base.__dict__["_make_api_call"])


def uninstall(client_module: Any) -> None:
    """Restore ``_make_api_call``; if another wrapper was put on top of ours, go inert."""
    global active
    active = _unwrap(client_module.BaseClient)


def uninstall_async(client_module: Any) -> None:
    global active_async
    active_async = _unwrap(client_module.AioBaseClient)


def _unwrap(base: Any) -> bool:
    """Take our wrapper off ``base``; False if it must stay (wrapped over) and pass through."""
    ours = _find_ours(base)
    if ours is None:
        return True
    if base.__dict__.get("_make_api_call") is ours:
        base._make_api_call = ours.__wrapped__
        delattr(base, _MARK)
        return True
    return False  # someone wrapped on top of us: we cannot leave the chain, so we pass through


def _find_ours(base: Any) -> Any:
    """Our wrapper if it is anywhere in the ``_make_api_call`` chain of ``base``, else None."""
    ours = base.__dict__.get(_MARK)
    fn = base.__dict__.get("_make_api_call")
    for _ in range(32):
        if fn is None or ours is None:
            return None
        if fn is ours:
            return ours
        fn = getattr(fn, "__wrapped__", None)
    return None
