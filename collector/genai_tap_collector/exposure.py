"""Who may talk to the collector: the bind rule, the token, the Host check and the UI's headers.

The collector keeps prompts and completions, so it is private by default:

- **Bind.** It listens on 127.0.0.1 unless told otherwise; any other address needs a
  token (``--auth-token`` or ``$GENAI_TAP_COLLECTOR_TOKEN``), else it refuses to start
  (:func:`bind_error`); with one, it warns once that it is reachable from other machines.
- **Token.** When a token is set, OTLP requests need ``Authorization: Bearer <token>``
  (OpenTelemetry SDKs send it with
  ``OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>``; gRPC clients as the
  ``authorization`` metadata). The UI and its JSON API take the same header, or a
  session cookie: open any page with ``?token=<token>`` once, or log in with the form,
  and the collector sets an HttpOnly, SameSite=Strict cookie that holds an HMAC of the
  token (never the token itself) and sends the browser on to the page without the token
  in its address. Tokens are compared in constant time.
- **Host.** A web page can make a browser send requests to 127.0.0.1 by re-pointing its
  own name there (DNS rebinding); such requests carry the page's name in ``Host``. So a
  request is answered only if its ``Host`` is an IP address (a browser sends one only for
  a page loaded from that address), ``localhost`` or a name under ``.localhost``, the name
  the collector was bound to, this machine's host name (when bound beyond loopback), or a
  name given with ``--allowed-host``; anything else gets 421. A request without ``Host``
  (no browser sends one) is not refused for it.
- **Headers.** Every UI answer carries a Content-Security-Policy without scripts (the
  pages have none) and with the stylesheet allowed by its hash, ``frame-ancestors
  'none'`` and ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``.

:func:`check_otlp` and :func:`check_ui` are what the servers call for each request:
``None`` admits it, ``(status, message)`` refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from http.cookies import CookieError, SimpleCookie
from typing import Collection, FrozenSet, Iterable, List, Optional, Protocol, Tuple, Union

TOKEN_ENV = "GENAI_TAP_COLLECTOR_TOKEN"
SESSION_COOKIE = "genai_tap_session"
MIN_TOKEN_CHARS = 16
TOKEN_HINT = "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
OTLP_HEADER_HINT = "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>"

#: (HTTP status, message) to refuse a request with.
Refusal = Tuple[int, str]


class Headers(Protocol):
    """HTTP headers (a dict, http.server's message) or gRPC metadata as a dict."""

    def get(self, key: str, /) -> Optional[str]: ...

    def items(self) -> Iterable[Tuple[str, str]]: ...

_WILDCARDS = ("", "0.0.0.0", "::", "[::]")


# ---------------------------------------------------------------------------- bind and token


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _ip(host: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        return ipaddress.ip_address(_strip_brackets(host).split("%", 1)[0])
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    ip = _ip(host.strip())
    return ip is not None and ip.is_loopback


def token_error(token: str) -> Optional[str]:
    """Why ``token`` cannot be used, or None."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"the auth token must be at least {MIN_TOKEN_CHARS} characters ({TOKEN_HINT})"
    if any(not ("!" <= c <= "~") for c in token):
        return "the auth token may only hold visible ASCII characters (no spaces or control characters)"
    return None


def bind_error(host: str, token: Optional[str]) -> Optional[str]:
    """Why the collector must not listen on ``host`` with ``token``, or None."""
    if token:
        return token_error(token)
    if is_loopback(host):
        return None
    where = "every address of this machine" if host in _WILDCARDS else repr(host)
    return (f"--host {host or repr('')} would let other machines read the stored prompts ({where}); "
            f"give a token with --auth-token TOKEN or ${TOKEN_ENV} ({TOKEN_HINT}), or keep --host 127.0.0.1")


def exposure_warning(host: str) -> Optional[str]:
    """The one warning to log when the collector listens beyond this machine."""
    if is_loopback(host):
        return None
    return (f"listening on {host or '0.0.0.0'}: other machines can reach the UI and OTLP; every request "
            "needs the auth token, and traffic is not encrypted (put TLS in front of it on untrusted networks)")


# ---------------------------------------------------------------------------- Host


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> FrozenSet[str]:
    """The host names (not addresses: any IP address is accepted) requests may name in ``Host``."""
    names = {"localhost"}
    bind = _strip_brackets(bind_host.strip()).lower().rstrip(".")
    if bind and _ip(bind) is None:
        names.add(bind)
    if not is_loopback(bind_host):
        for name in (socket.gethostname(), socket.getfqdn()):
            if name:
                names.add(name.lower().rstrip("."))
    for name in extra:
        name = name.strip().lower().rstrip(".")
        if name:
            names.add(_strip_brackets(name))
    return frozenset(names)


def host_name(value: str) -> str:
    """The name or address in a ``Host`` header, without its port, lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def host_allowed(value: Optional[str], allowed: Collection[str]) -> bool:
    if value is None or not value.strip():
        return True  # HTTP/1.0 and gRPC clients; browsers always send Host
    name = host_name(value)
    if _ip(name) is not None:
        return True
    return name == "localhost" or name.endswith(".localhost") or name in allowed


def _host_refusal(value: Optional[str]) -> Refusal:
    name = host_name(value or "")
    return 421, (f"this collector does not answer to the host name {name!r}; "
                 f"if that name is yours, start it with --allowed-host {name}")


# ---------------------------------------------------------------------------- headers


def header(headers: Headers, name: str) -> Optional[str]:
    """A header or gRPC metadata value, whatever the case of its name."""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        wanted = name.lower()
        for key, val in headers.items():
            if key.lower() == wanted:
                return val
    return value


def bearer(headers: Headers) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header."""
    value = header(headers, "Authorization")
    if not value:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def token_matches(given: Optional[str], token: str) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def check_otlp(headers: Headers, token: Optional[str], allowed_hosts: Collection[str]) -> Optional[Refusal]:
    """Admit (None) or refuse (status, message) one OTLP request (HTTP headers or gRPC metadata)."""
    host = header(headers, "Host")
    if not host_allowed(host, allowed_hosts):
        return _host_refusal(host)
    if token:
        given = bearer(headers)
        if given is None:
            return 401, f"this collector needs its token: send authorization: Bearer <token> ({OTLP_HEADER_HINT})"
        if not token_matches(given, token):
            return 401, "the bearer token is not this collector's token"
    return None


# ---------------------------------------------------------------------------- UI


def session_value(token: str) -> str:
    """What the session cookie holds: an HMAC of the token, so the browser never stores the token."""
    return hmac.new(token.encode("utf-8"), b"genai-tap collector UI session", hashlib.sha256).hexdigest()


def session_cookie(token: str) -> str:
    """The ``Set-Cookie`` value that logs a browser in (until it closes)."""
    return f"{SESSION_COOKIE}={session_value(token)}; Path=/; HttpOnly; SameSite=Strict"


def _cookie(headers: Headers) -> Optional[str]:
    raw = header(headers, "Cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def check_ui(headers: Headers, token: Optional[str], allowed_hosts: Collection[str]) -> Optional[Refusal]:
    """Admit (None) or refuse one UI or JSON API request: Host, then the bearer token or session cookie."""
    host = header(headers, "Host")
    if not host_allowed(host, allowed_hosts):
        return _host_refusal(host)
    if token:
        given = bearer(headers)
        if given is not None:
            return None if token_matches(given, token) else (401, "the bearer token is not this collector's token")
        cookie = _cookie(headers)
        if cookie is None or not hmac.compare_digest(cookie.encode("utf-8", "replace"), session_value(token).encode()):
            return 401, "log in with this collector's token (--auth-token or $" + TOKEN_ENV + ")"
    return None


def security_headers(style_hashes: Iterable[str] = ()) -> List[Tuple[str, str]]:
    """The headers of every UI answer; ``style_hashes`` are base64 SHA-256 digests of inline <style> blocks."""
    styles = " ".join(f"'sha256-{h}'" for h in style_hashes) or "'none'"
    csp = ("default-src 'none'; " f"style-src {styles}; " "img-src 'self' data:; form-action 'self'; "
           "frame-ancestors 'none'; base-uri 'none'")
    return [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]
