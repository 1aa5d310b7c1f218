"""Network calls the collector makes (webhooks, e-mail, the forwarder), each within a deadline.

A socket timeout bounds each read or write, not the whole exchange: a server
that answers one byte every few seconds would hold the sender forever. A
:class:`Deadline` bounds the whole exchange: a timer shuts the connection's
socket down when time is up (from its own thread, which wakes the blocked read
with an error), whichever step it is in: connecting, the TLS handshake (STARTTLS
included, through :func:`tls_context`), sending, or reading the answer.

:func:`post` sends one HTTP POST with :mod:`http.client` and never follows a
redirect: an answer 3xx is reported as it is. Kept on the standard library
(no requests/urllib3) so the collector adds no dependency for it.
"""

from __future__ import annotations

import http.client
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

MAX_REPLY = 64 * 1024  # bytes of an answer kept (for the log); the rest is not read

_local = threading.local()


def _shut(sock: Any) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: leaves an SSL object alone
    except (OSError, TypeError, ValueError):
        pass


class Deadline:
    """``with Deadline(10):`` -- sockets opened inside (by :func:`post`, :func:`smtp`) are shut down after 10 s."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(float(seconds), 0.001)
        self.expired = False
        self._lock = threading.Lock()
        self._sock: Any = None
        self._timer: Optional[threading.Timer] = None
        self._end = 0.0

    def __enter__(self) -> "Deadline":
        self._end = time.monotonic() + self.seconds
        self._timer = threading.Timer(self.seconds, self.expire)
        self._timer.daemon = True
        self._timer.start()
        _local.deadline = self
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._sock = None
        _local.deadline = None

    def remaining(self) -> float:
        return max(self._end - time.monotonic(), 0.001)

    def watch(self, sock: Any) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        """Time is up (or the collector is stopping): end the exchange now."""
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)


def _watch(sock: Any) -> None:
    deadline: Optional[Deadline] = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedTLS(ssl.SSLContext):
    """An SSL context whose sockets the current deadline watches from before the handshake."""

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        handshake = kwargs.pop("do_handshake_on_connect", True)
        kwargs["do_handshake_on_connect"] = False
        wrapped = super().wrap_socket(sock, *args, **kwargs)
        _watch(wrapped)
        if handshake:
            wrapped.do_handshake()
        return wrapped


_tls: Optional[ssl.SSLContext] = None
_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """Certificate and host name checked, system CAs (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured)."""
    global _tls
    with _tls_lock:
        if _tls is None:
            ctx = _WatchedTLS(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_default_certs()
            _tls = ctx
        return _tls


# ---------------------------------------------------------------------------- HTTP


class _HTTP(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)


class _HTTPS(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()  # TCP within the socket timeout, then the watched TLS handshake
        _watch(self.sock)


@dataclass
class Reply:
    status: int
    reason: str
    location: Optional[str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        if 300 <= self.status < 400:
            return f"answered {self.status} {self.reason} (to {self.location or '?'}); redirects are not followed"
        text = self.body[:200].decode("utf-8", "replace").strip()
        return f"answered {self.status} {self.reason}" + (f": {text}" if text else "")


def post(url: str, body: bytes, headers: Dict[str, str], timeout_s: float, deadline: Deadline) -> Reply:
    """POST ``body`` to ``url`` (http or https) within ``deadline``; raises OSError on network failure."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = min(timeout_s, deadline.remaining())
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = _HTTPS(host, parts.port, timeout=timeout, context=tls_context())
    else:
        conn = _HTTP(host, parts.port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read(MAX_REPLY)
        return Reply(resp.status, resp.reason, resp.getheader("Location"), data)
    except (http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        raise OSError(_why(exc, deadline)) from None
    except OSError as exc:
        raise OSError(_why(exc, deadline)) from None
    finally:
        conn.close()


def _why(exc: BaseException, deadline: Deadline) -> str:
    if deadline.expired or isinstance(exc, TimeoutError):  # the socket timeout may fire first: same meaning
        return f"no complete answer within {deadline.seconds:g}s"
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------- SMTP


class _SMTP(smtplib.SMTP):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        _watch(sock)
        return sock


class _SMTPS(_SMTP, smtplib.SMTP_SSL):
    pass  # SMTP_SSL wraps the watched socket with tls_context(), which watches the TLS socket


def smtp(host: str, port: int, tls: bool, timeout_s: float, deadline: Deadline) -> smtplib.SMTP:
    """A connected SMTP client whose socket ``deadline`` watches (implicit TLS when ``tls``)."""
    timeout = min(timeout_s, deadline.remaining())
    try:
        if tls:
            return _SMTPS(host, port, timeout=timeout, context=tls_context())
        return _SMTP(host, port, timeout=timeout)
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        raise OSError(_why(exc, deadline)) from None
