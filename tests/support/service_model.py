"""Check what the emulator sends against botocore's service models, member by member.

botocore's parsers skip members they do not know, so parsing an answer proves little
about its shape. These checks walk the raw JSON (and each raw event-stream message)
against the operation's output shape: every member sent exists in the model, every
value has the member's type, enum values are in the enum, a union has exactly one
member set. ``__type`` (which Bedrock adds to some structures and botocore ignores) is
the one key allowed outside the model.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import http.client
import json
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import botocore.session
from botocore.eventstream import EventStreamBuffer
from botocore.model import Shape

_SESSION = botocore.session.get_session()
ALLOWED_EXTRA = ("__type",)


def model(service: str) -> Any:
    return _SESSION.get_service_model(service)


def walk(shape: Shape, value: Any, path: str = "$") -> List[str]:
    """Problems of ``value`` against ``shape`` (empty: it fits)."""
    if value is None:
        return []
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return []
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {shape.name}, got {type(value).__name__}"]
        problems: List[str] = []
        names = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
        for key, item in value.items():
            if key in ALLOWED_EXTRA:
                continue
            if key not in names:
                problems.append(f"{path}.{key}: not a member of {shape.name}")
                continue
            problems += walk(names[key][1], item, f"{path}.{key}")
        if shape.metadata.get("union"):
            set_ = [k for k, v in value.items() if v is not None and k not in ALLOWED_EXTRA]
            if len(set_) != 1:
                problems.append(f"{path}: union {shape.name} must have exactly one member set, has {set_}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list for {shape.name}"]
        return [p for i, item in enumerate(value) for p in walk(shape.member, item, f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map for {shape.name}"]
        return [p for k, item in value.items() for p in walk(shape.value, item, f"{path}[{k!r}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string for {shape.name}, got {value!r}"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not in {shape.name}'s enum {shape.enum}"]
        return []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: expected an integer, got {value!r}"]
    if kind in ("float", "double"):
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: expected a number, got {value!r}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    if kind == "timestamp":
        if isinstance(value, (int, float)):
            return []
        try:
            datetime.datetime.fromisoformat(str(value)[:26].rstrip("Z").replace("Z", ""))
        except ValueError:
            return [f"{path}: {value!r} is not a timestamp"]
        return []
    if kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError):
            return [f"{path}: {value!r} is not base64"]
        return []
    return [f"{path}: unexpected shape type {kind}"]


def check_output(service: str, operation: str, body: Any) -> List[str]:
    """Problems of a JSON answer against the operation's output shape."""
    return walk(model(service).operation_model(operation).output_shape, body)


def stream_shape(service: str, operation: str) -> Shape:
    output = model(service).operation_model(operation).output_shape
    return output.members[output.serialization["payload"]]


def events(raw: bytes) -> List[Tuple[Dict[str, Any], bytes]]:
    """(headers, payload) of each event-stream message (botocore checks both CRCs)."""
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [(dict(message.headers), message.payload) for message in buffer]


def check_stream(service: str, operation: str, raw: bytes) -> Tuple[List[Tuple[str, Any]], List[str]]:
    """((event or exception name, JSON payload) of each message, problems against the model)."""
    shape = stream_shape(service, operation)
    out: List[Tuple[str, Any]] = []
    problems: List[str] = []
    for headers, payload in events(raw):
        kind = headers.get(":message-type")
        name = headers.get(":event-type") if kind == "event" else headers.get(":exception-type")
        if name not in shape.members:
            problems.append(f"{name!r}: not an event of {shape.name}")
            continue
        member = shape.members[name]
        if kind == "exception" and not member.metadata.get("exception"):
            problems.append(f"{name!r} sent as an exception but is an event")
        if headers.get(":content-type") != "application/json":
            problems.append(f"{name!r}: content type {headers.get(':content-type')!r}")
        body = json.loads(payload)
        problems += walk(member, body, f"{name}")
        out.append((str(name), body))
    return out, problems


def post(url: str, path: str, body: Any, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    """A plain POST (no signature: the emulator does not check one): status, headers, raw body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, data, dict({"Content-Type": "application/json"}, **(headers or {})))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
