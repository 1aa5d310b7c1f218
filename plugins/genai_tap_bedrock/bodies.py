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
``aiohttp.StreamReader.read`` of the response's public ``content`` attribute; for as
long as the body is being read, that attribute holds a transparent proxy of the same
stream reader (``isinstance`` holds, every other attribute reaches the reader) whose
``read`` keeps a copy, and gets the reader itself back once the body has been read.
Other bodies (aiobotocore 3.x's optional httpx backend) are not read at all: their call
ends when it returns, with the token counts and latency of the response headers and no
output content.

If the app never reads the body to its end, the call ends when the body is garbage
collected (or at exit), with no output content, as of the moment the call returned.
"""

from __future__ import annotations

import sys
import weakref
from typing import Any, Callable, List, Optional

import wrapt

from genai_tap.tap import Call


def response_of(body: Any) -> Optional[Any]:
    """The aiohttp response an aiobotocore body reads from, if its bytes come through
    an ``aiohttp.StreamReader`` not already watched; else None."""
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return None
    if isinstance(getattr(type(body), "raw_stream", None), property):  # aiobotocore 3.x
        response = body.raw_stream
    else:  # aiobotocore 2.x: a wrapt proxy of the response
        response = getattr(body, "__wrapped__", None)
    content = getattr(response, "content", None)
    if type(content) is not aiohttp.StreamReader:  # not aiohttp's, or already watched
        return None
    return response


class _KeepingReader(wrapt.ObjectProxy):
    """The response's stream reader, keeping a copy of what ``read`` returns."""

    def __init__(self, reader: Any, keep: "Callable[[Optional[bytes], bool], None]") -> None:
        super().__init__(reader)
        self._self_keep = keep

    async def read(self, n: int = -1) -> bytes:
        try:
            data = await self.__wrapped__.read(n)
        except BaseException:
            self._self_keep(None, True)  # the app gets the error, the call ends with what it had
            raise
        self._self_keep(data, not data or self.__wrapped__.at_eof())
        return data


def watch(call: Call, body: Any, limit: Optional[int], done: "Callable[[Call, Optional[bytes]], None]") -> bool:
    """Keep the bytes of ``body`` as the app reads them; ``done(call, data)`` runs once,
    when they were all read (``data``), or with None when the body is dropped or its
    reading fails first. False if this body cannot be watched (then nothing was changed).
    """
    response = response_of(body)
    if response is None:
        return False
    reader = response.content
    chunks: List[bytes] = []
    size = [0, False]  # bytes kept, whether there were more than ``limit``

    def keep(data: Optional[bytes], end: bool) -> None:
        if data and not size[1]:
            size[0] += len(data)
            if limit is not None and size[0] > limit:
                size[1] = True
                chunks.clear()
            else:
                chunks.append(data)
        if end and finalizer.detach() is not None:
            response.content = reader  # the reader itself again
            done(call, None if data is None or size[1] else b"".join(chunks))

    # the body is what the app holds: when it goes, an unfinished call ends
    finalizer = weakref.finalize(body, done, call, None)
    response.content = _KeepingReader(reader, keep)
    return True

