"""InvokeModel response bodies of async clients, read as the app reads them.

With botocore, genai-tap reads InvokeModel's JSON body before the call returns and
hands the app a fresh ``StreamingBody`` over the same bytes (see
``operations.take_body``). An async body can only be read by awaiting it, so with
aiobotocore (and aioboto3) nothing is read ahead: genai-tap keeps a copy of the bytes
as the app itself reads them, whichever way it does (``await body.read()``,
``read(n)`` loops, ``async for`` over chunks, ``iter_chunks()``, ``iter_lines()``,
``readinto()``), and the call ends when the body has been read to its end, as a
synchronous call does. The app's body object is its own (same type, same methods);
only the reads of the HTTP response's byte stream under it pass through genai-tap.

Bodies whose bytes come through aiohttp (every aiobotocore 2.x body, and 3.x's default
aiohttp backend) are watched this way: aiobotocore reads them with the public
``aiohttp.StreamReader.read``, which genai-tap wraps on that one stream object. Other
bodies (aiobotocore 3.x's optional httpx backend) are not read at all: their call ends
when it returns, with the token counts and latency of the response headers and no
output content.

If the app never reads the body to its end, the call ends when the body is garbage
collected (or at exit), with no output content, as of the moment the call returned.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any, Callable, List, Optional

from genai_tap.tap import Call


def reader_of(body: Any) -> Optional[Any]:
    """The ``aiohttp.StreamReader`` an aiobotocore body reads its bytes from, or None."""
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return None
    if isinstance(getattr(type(body), "raw_stream", None), property):  # aiobotocore 3.x
        response = body.raw_stream
    else:  # aiobotocore 2.x: a wrapt proxy of the response
        response = getattr(body, "__wrapped__", None)
    content = getattr(response, "content", None)
    if not isinstance(content, aiohttp.StreamReader) or "read" in vars(content):
        return None  # not aiohttp's, or already watched
    return content


def watch(call: Call, body: Any, limit: Optional[int], done: "Callable[[Call, Optional[bytes]], None]") -> bool:
    """Keep the bytes of ``body`` as the app reads them; ``done(call, data)`` runs once,
    when they were all read (``data``), or with None when the body is dropped or its
    reading fails first. False if this body cannot be watched (then nothing was changed).
    """
    reader = reader_of(body)
    if reader is None:
        return False
    original = reader.read
    chunks: List[bytes] = []
    state = {"size": 0, "over": False}

    def finish(data: Optional[bytes]) -> None:
        if finalizer.detach() is not None:
            reader.__dict__.pop("read", None)  # the stream's own read again
            done(call, data)

    async def read(n: int = -1) -> bytes:
        try:
            data = await original(n)
        except BaseException:
            finish(None)  # the app gets the error, and the call what it had
            raise
        if data and not state["over"]:
            state["size"] += len(data)
            if limit is not None and state["size"] > limit:
                state["over"] = True
                chunks.clear()
            else:
                chunks.append(data)
        if not data or reader.at_eof():
            finish(None if state["over"] else b"".join(chunks))
        return data

    # the body is what the app holds: when it goes, an unfinished call ends
    finalizer = weakref.finalize(body, done, call, None)
    reader.read = read
    return True

