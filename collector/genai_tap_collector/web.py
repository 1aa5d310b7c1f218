"""The web UI and its JSON API, on the collector's UI port.

Every page has a JSON twin under ``/api`` that returns the same data (the
pages are rendered from it), so scripts and tests can check what a person sees:

=====================  ===========================  =======================================
page                   JSON                         query parameters
=====================  ===========================  =======================================
``/``, ``/apps``        ``/api/apps``                since, until
``/apps/<app>``        ``/api/apps/<app>``          since, until, model
``/traces``            ``/api/traces``              app, model, status, since, until, page, per_page
``/traces/<trace id>`` ``/api/traces/<trace id>``
``/errors``            ``/api/errors``              app, model, since, until
``/alerts``            ``/api/alerts``
\\-                     ``/api/stats``               app, model, status, since, until
\\-                     ``/api/health``
=====================  ===========================  =======================================
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from . import pages
from .logs import log
from .configfile import ConfigError
from .views import filters_from

if TYPE_CHECKING:  # pragma: no cover
    from .server import Collector

Params = Dict[str, str]
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
MAX_PER_PAGE = 500


class NotFound(Exception):
    pass


class Pages:
    """One method per route: ``(data, render)`` where ``render(data)`` makes the HTML page."""

    def __init__(self, collector: "Collector") -> None:
        self.c = collector

    @property
    def views(self) -> Any:
        return self.c.views

    def apps(self, p: Params) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        f = filters_from(p)
        data = {"apps": self.views.apps(f), "total": self.views.total(f)}
        return data, lambda d: pages.apps_page(d["apps"], d["total"], p)

    def summary(self, p: Params, app: str) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        data = self.views.summary(unquote(app), filters_from(p))
        if not data["total"]["calls"] and unquote(app) not in self.views.filter_options()["apps"]:
            raise NotFound(f"No application named {unquote(app)!r} has made GenAI calls.")
        return data, lambda d: pages.summary_page(d, p)

    def traces(self, p: Params) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        per_page = min(_int(p, "per_page", 50), MAX_PER_PAGE)
        data = self.views.calls(filters_from(p), _int(p, "page", 1), per_page)
        return data, lambda d: pages.traces_page(d, p, self.views.filter_options())

    def trace(self, p: Params, trace_id: str) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        data = self.views.trace(trace_id)
        if data is None:
            raise NotFound(f"No trace {trace_id} is stored (it may be older than the retention period).")
        return data, pages.trace_page

    def errors(self, p: Params) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        data = self.views.errors(filters_from(p))
        return data, lambda d: pages.errors_page(d, p, self.views.filter_options())

    def alerts(self, p: Params) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        data = {"rules": self.c.alerts.state(), "events": self.views.alerts()}
        return data, lambda d: pages.alerts_page(d["rules"], d["events"])

    def stats(self, p: Params) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        return self.views.stats(filters_from(p)), None

    def health(self, p: Params) -> Tuple[Any, Optional[Callable[[Any], str]]]:
        fwd = self.c.forwarder
        data = {"ok": True, "received": dict(self.c.received), "stored_spans": self.c.store.span_count(),
                "forward": None if fwd is None else {"url": fwd.base, "sent": fwd.sent, "dropped": fwd.dropped,
                                                     "failed": fwd.failed}}
        return data, None


class UiHandler(BaseHTTPRequestHandler):
    pages: Pages
    protocol_version = "HTTP/1.1"
    server_version = "genai-tap-collector"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("ui: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        path, is_api = url.path, url.path.startswith("/api/")
        if is_api:
            path = path[len("/api"):]
        path = path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
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
                log.exception("ui: %s failed", self.path)
                return self._error(500, "internal error; see the collector's log", is_api)
            if is_api or render is None:
                return self._send(200, json.dumps(data, ensure_ascii=False).encode(), "application/json")
            return self._send(200, render(data).encode(), "text/html; charset=utf-8")
        self._error(404, f"Nothing at {url.path}.", is_api)

    def _error(self, status: int, message: str, is_api: bool) -> None:
        if is_api:
            return self._send(status, json.dumps({"error": message}).encode(), "application/json")
        self._send(status, pages.not_found(message).encode(), "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _int(params: Params, name: str, default: int) -> int:
    value = params.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name}={value!r} is not valid; use a whole number >= 1")
    return number


def make_handler(collector: "Collector") -> type:
    return type("Handler", (UiHandler,), {"pages": Pages(collector)})
