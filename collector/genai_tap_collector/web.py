"""The web UI and its JSON API, on the collector's UI port.

Every page has a JSON twin under ``/api`` that returns the same data (the
pages are rendered from it), so scripts and tests can check what a person sees:

=====================  ===========================  =============================================
page                   JSON                         query parameters
=====================  ===========================  =============================================
``/``, ``/apps``        ``/api/apps``                since, until
``/apps/<app>``        ``/api/apps/<app>``          since, until, model
``/traces``            ``/api/traces``              app, api, model, status, since, until, page, per_page
``/traces/<trace id>`` ``/api/traces/<trace id>``
``/errors``            ``/api/errors``              app, api, model, since, until
``/alerts``            ``/api/alerts``
\\-                     ``/api/stats``               app, api, model, status, since, until
\\-                     ``/api/health``
=====================  ===========================  =============================================

A value that cannot be used (``page=0``, ``since=99999d``, ``status=maybe``) is
answered with 400: ``{"error": "..."}`` from the API, a page saying what to
change from the UI. Who may ask, and the headers of every answer, are decided
in :mod:`.exposure`; ``POST /login`` (the token form) and ``?token=`` set the
session cookie.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from . import exposure, pages
from .configfile import MAX_PER_PAGE, ConfigError, checked_filters, checked_page
from .logs import log
from .pages import STYLE_HASH

if TYPE_CHECKING:  # pragma: no cover
    from .server import Collector

Params = Dict[str, str]
Answer = Tuple[Any, Optional[Callable[[Any], str]]]
#: (path pattern, handler method name); a handler returns (data, html renderer or None).
ROUTES: List[Tuple[re.Pattern, str]] = [
    (re.compile(r"^/(apps)?$"), "apps"),
    (re.compile(r"^/apps/(?P<app>[^/]+)$"), "summary"),
    (re.compile(r"^/traces$"), "traces"),
    (re.compile(r"^/traces/(?P<trace_id>[0-9a-f]{32})$"), "trace"),
    (re.compile(r"^/errors$"), "errors"),
    (re.compile(r"^/alerts$"), "alerts"),
    (re.compile(r"^/stats$"), "stats"),
    (re.compile(r"^/health$"), "health"),
]
MAX_LOGIN_BODY = 4096


class NotFound(Exception):
    pass


class Pages:
    """One method per route: ``(data, render)`` where ``render(data)`` makes the HTML page."""

    def __init__(self, collector: "Collector") -> None:
        self.c = collector

    @property
    def views(self) -> Any:
        return self.c.views

    def apps(self, p: Params) -> Answer:
        f = checked_filters(p)
        data = {"apps": self.views.apps(f), "total": self.views.total(f)}
        return data, lambda d: pages.apps_page(d["apps"], d["total"], p)

    def summary(self, p: Params, app: str) -> Answer:
        data = self.views.summary(unquote(app), checked_filters(p))
        if not data["total"]["calls"] and unquote(app) not in self.views.filter_options()["apps"]:
            raise NotFound(f"No application named {unquote(app)!r} has made GenAI calls.")
        return data, lambda d: pages.summary_page(d, p)

    def traces(self, p: Params) -> Answer:
        f = checked_filters(p)
        page = checked_page(p.get("page") or 1)
        per_page = checked_page(p.get("per_page") or 50, "per_page", MAX_PER_PAGE)
        data = self.views.calls(f, page, per_page)
        return data, lambda d: pages.traces_page(d, p, self.views.filter_options())

    def trace(self, p: Params, trace_id: str) -> Answer:
        data = self.views.trace(trace_id)
        if data is None:
            raise NotFound(f"No trace {trace_id} is stored (it may be older than the retention period).")
        return data, pages.trace_page

    def errors(self, p: Params) -> Answer:
        data = self.views.errors(checked_filters(p))
        return data, lambda d: pages.errors_page(d, p, self.views.filter_options())

    def alerts(self, p: Params) -> Answer:
        alerts = self.c.alerts
        rules = alerts.state() if alerts is not None else []
        destinations = alerts.destinations() if alerts is not None else []
        data = {"rules": rules, "destinations": destinations, "events": self.views.alerts()}
        return data, lambda d: pages.alerts_page(d["rules"], d["events"], d["destinations"])

    def stats(self, p: Params) -> Answer:
        return self.views.stats(checked_filters(p)), None

    def health(self, p: Params) -> Answer:
        fwd = self.c.forwarder
        store = self.c.store
        forward = None
        if fwd is not None:
            bodies, queued_bytes = fwd.queued
            forward = {"url": fwd.base, "sent": fwd.sent, "dropped": fwd.dropped, "failed": fwd.failed,
                       "queued_bodies": bodies, "queued_bytes": queued_bytes, "last_error": fwd.last_error}
        data = {"ok": True, "received": dict(self.c.received),
                "stored_spans": store.span_count() if store is not None else 0, "forward": forward}
        return data, None


class UiHandler(BaseHTTPRequestHandler):
    pages: Pages
    token: Optional[str] = None
    allowed_hosts: frozenset = frozenset()
    protocol_version = "HTTP/1.1"
    server_version = "genai-tap-collector"
    _SECURITY = exposure.security_headers([STYLE_HASH])

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("ui: " + format, *args)

    # ------------------------------------------------------------------ GET
    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        path, is_api = url.path, url.path.startswith("/api/") or url.path == "/api"
        if is_api:
            path = path[len("/api"):]
        path = path.rstrip("/") or "/"
        query = parse_qs(url.query)
        params = {k: v[-1] for k, v in query.items()}
        if not self._admitted(url.path, query, is_api):
            return
        if path == "/login" and not is_api:
            return self._send(200, pages.login_page(_local_path(params.get("next"))).encode(), "text/html; charset=utf-8")
        for pattern, name in ROUTES:
            match = pattern.match(path)
            if match is None or (name in ("stats", "health") and not is_api):
                continue
            try:
                data, render = getattr(self.pages, name)(params, **match.groupdict())
            except ConfigError as exc:
                return self._error(400, str(exc), is_api)
            except NotFound as exc:
                return self._error(404, str(exc), is_api)
            except Exception:  # noqa: BLE001 - answer 500 and keep serving
                log.exception("ui: %s failed", url.path)
                return self._error(500, "internal error; see the collector's log", is_api)
            if is_api or render is None:
                return self._send(200, json.dumps(data, ensure_ascii=False).encode(), "application/json")
            return self._send(200, render(data).encode(), "text/html; charset=utf-8")
        self._error(404, f"Nothing at {url.path}.", is_api)

    def _admitted(self, path: str, query: Dict[str, List[str]], is_api: bool) -> bool:
        """Host and token checks; answers the request itself (and returns False) when it is not admitted."""
        refusal = exposure.check_ui(self.headers, self.token, self.allowed_hosts)
        if refusal is not None and refusal[0] != 401:
            self._error(*refusal, is_api=is_api)
            return False
        given = query.get("token")
        if self.token and given is not None:  # ?token=...: log in, then the same page without the token in its address
            if exposure.token_matches(given[-1], self.token):
                rest = urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
                self._redirect(path + (f"?{rest}" if rest else ""), login=True)
            else:
                self._login_required(path, is_api, "That token is not this collector's token.")
            return False
        if refusal is not None:
            self._login_required(self.path, is_api, "")
            return False
        return True

    def _login_required(self, path: str, is_api: bool, message: str) -> None:
        if is_api:
            self._send(401, json.dumps({"error": message or "this collector needs its token: send Authorization: "
                                        "Bearer <token>"}).encode(), "application/json",
                       [("WWW-Authenticate", 'Bearer realm="genai-tap collector"')])
        else:
            self._send(401, pages.login_page(_local_path(path), message).encode(), "text/html; charset=utf-8")

    # ------------------------------------------------------------------ POST /login
    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        refusal = exposure.check_ui(self.headers, None, self.allowed_hosts)  # Host only: the token is in the form
        if refusal is not None:
            self.close_connection = True
            return self._error(*refusal, is_api=False)
        if path != "/login":
            self.close_connection = True
            return self._error(405, "The UI only answers GET requests (and POST /login).", is_api=False)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_LOGIN_BODY:
            self.close_connection = True
            return self._error(400, f"The login form is at most {MAX_LOGIN_BODY} bytes.", is_api=False)
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace")).items()}
        target = _local_path(form.get("next"))
        if not self.token:
            return self._redirect(target, login=False)
        if exposure.token_matches(form.get("token"), self.token):
            return self._redirect(target, login=True)
        self._send(401, pages.login_page(target, "That token is not this collector's token.").encode(),
                   "text/html; charset=utf-8")

    # ------------------------------------------------------------------ answers
    def _redirect(self, location: str, login: bool) -> None:
        extra = [("Location", location)]
        if login and self.token:
            extra.append(("Set-Cookie", exposure.session_cookie(self.token)))
        self._send(303, b"", "text/plain; charset=utf-8", extra)

    def _error(self, status: int, message: str, is_api: bool) -> None:
        if is_api:
            return self._send(status, json.dumps({"error": message}, ensure_ascii=False).encode(), "application/json")
        self._send(status, pages.error_page(status, message).encode(), "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, extra: Optional[List[Tuple[str, str]]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in extra or []:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        for name, value in self._SECURITY:  # on every answer, http.server's own errors (400, 414, 501) included
            self.send_header(name, value)
        super().end_headers()


def _local_path(value: Optional[str]) -> str:
    """A path on this server to send the browser to after logging in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or any(ord(c) < 32 for c in value):
        return "/"
    return value


def make_handler(collector: "Collector") -> type:
    return type("Handler", (UiHandler,), {
        "pages": Pages(collector),
        "token": getattr(collector, "auth_token", None),
        "allowed_hosts": frozenset(getattr(collector, "allowed_hosts", ())),
    })
