"""The one hook: a wrapt wrapper around ``botocore.client.BaseClient._make_api_call``.

Every boto3 client, including those created before genai-tap was switched on,
goes through ``_make_api_call``. For anything but a traced ``bedrock-runtime``
operation the wrapper costs one dictionary lookup. For a traced one it builds a
record, lets the sinks open their spans, calls botocore, and reads the result;
all of genai-tap's own work is guarded, so the app gets botocore's return value
or botocore's exception object exactly as it would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from genai_tap.guard import report
from genai_tap.tap import Call, get_tap

from . import others

if TYPE_CHECKING:  # pragma: no cover
    from .operations import Operation

SERVICE = "bedrock-runtime"
_MARK = "_genai_tap_wrapper"

#: The traced operations (``operations.OPERATIONS`` has one class for each). How they are
#: read, with every body format, is imported at the first of these calls, not when
#: botocore is: an app that imports boto3 and never calls Bedrock does not pay for it.
TRACED = frozenset({"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream", "StartAsyncInvoke"})
_operations: "Optional[Dict[str, Operation]]" = None

# Set False by uninstall when another wrapper sits on top of ours and we cannot
# remove ourselves from the middle of the chain: the wrapper then passes through.
active = True

_servers: Dict[str, Tuple[Optional[str], Optional[int]]] = {}


def traced_make_api_call(wrapped, instance, args, kwargs):
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
        _failed(call, exc)
        raise
    return _succeeded(op, call, result)


def _begin(name: str, client: Any, args: tuple, kwargs: dict) -> "Optional[Tuple[Operation, Call]]":
    global _operations
    try:
        if client.meta.service_model.service_name != SERVICE:
            return None
        operations = _operations
        if operations is None:  # the first call: another instrumentation may have been installed after us
            from .operations import OPERATIONS

            others.take_over()
            operations = _operations = OPERATIONS
        op = operations[name]
        tap = get_tap()
        if not tap.sinks:
            return None
        params = args[1] if len(args) > 1 else kwargs.get("api_params", {})
        made = op.record(params, tap.config)
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


def _failed(call: Call, exc: BaseException) -> None:
    try:
        from .aws import error_code

        rec = call.record
        rec.fail(exc, error_code(exc))
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


def install(client_module: Any) -> None:
    """Wrap ``BaseClient._make_api_call`` once (a second install re-activates)."""
    global active
    import wrapt

    base = client_module.BaseClient
    if _find_ours(base) is not None:
        active = True
        return
    others.take_over()
    wrapt.wrap_function_wrapper(base, "_make_api_call", traced_make_api_call)
    # Remember our wrapper by identity (on the class, so a second copy of this module
    # finds it too): attribute lookups on wrapt proxies reach through to what they
    # wrap, so a marker attribute would also be "found" on someone else's wrapper.
    setattr(base, _MARK, base.__dict__["_make_api_call"])
    active = True


def uninstall(client_module: Any) -> None:
    """Restore ``_make_api_call``; if another wrapper was put on top of ours, go inert."""
    global active
    base = client_module.BaseClient
    ours = _find_ours(base)
    if ours is None:
        return
    if base.__dict__.get("_make_api_call") is ours:
        base._make_api_call = ours.__wrapped__
        delattr(base, _MARK)
        active = True
    else:
        active = False  # someone wrapped on top of us: we cannot leave the chain, so we pass through


def _find_ours(base: Any) -> Any:
    """Our wrapper if it is anywhere in the ``_make_api_call`` chain, else None."""
    ours = base.__dict__.get(_MARK)
    fn = base.__dict__.get("_make_api_call")
    for _ in range(32):
        if fn is None or ours is None:
            return None
        if fn is ours:
            return ours
        fn = getattr(fn, "__wrapped__", None)
    return None
