"""The collector in one object, for the CLI, the demo and tests.

    with Collector("calls.db", otlp_port=0, ui_port=0) as c:
        print(c.otlp_url, c.ui_url)   # ports 0 are replaced by the free ports bound

Two HTTP servers (OTLP on ``otlp_port``, UI and JSON API on ``ui_port``), the
alert scheduler, the optional forwarder and a retention sweep, each on its own
daemon thread; ``stop()`` ends them all and closes the database.
"""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from . import exposure, otlp
from .logs import log
from .alerts import DEFAULT_INTERVAL_S, Alerts, Rule, load_rules
from .configfile import ConfigError, parse_duration
from .forwarder import Forwarder
from .prices import PriceTable
from .receiver import make_handler
from .store import Store
from .views import Views

DEFAULT_OTLP_PORT = 4318
DEFAULT_UI_PORT = 4319
DEFAULT_RETENTION = "7d"
RETENTION_SWEEP_S = 60.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Collector:
    def __init__(
        self,
        db: str | Path,
        host: str = "127.0.0.1",
        otlp_port: int = DEFAULT_OTLP_PORT,
        ui_port: int = DEFAULT_UI_PORT,
        rules: Optional[str] = None,
        forward: Optional[str] = None,
        retention: str | float = DEFAULT_RETENTION,
        prices: Optional[str] = None,
        alert_interval: Optional[float] = None,
        auth_token: Optional[str] = None,
        allowed_hosts: Iterable[str] = (),
        forward_headers: Optional[Dict[str, str]] = None,
    ) -> None:
        # Everything a user can get wrong is checked here, before any port is bound.
        self.db = str(db)
        self.host = host
        refusal = exposure.bind_error(host, auth_token)
        if refusal:
            raise ConfigError(refusal)
        self.auth_token = auth_token or None
        self.allowed_hosts = exposure.allowed_hosts(host, allowed_hosts)
        self.retention_s = parse_duration(retention, "--retention")
        self.prices = PriceTable.load(prices)
        self.rules: List[Rule] = []
        interval = DEFAULT_INTERVAL_S
        if rules:
            self.rules, interval = load_rules(rules)
        self.alert_interval = alert_interval if alert_interval is not None else interval
        self.forwarder = Forwarder(forward, forward_headers) if forward else None
        self._requested = (otlp_port, ui_port)
        self.store: Optional[Store] = None
        self.views: Optional[Views] = None
        self.alerts: Optional[Alerts] = None
        self._servers: List[_Server] = []
        self._threads: List[threading.Thread] = []
        self._stop = threading.Event()
        self.received = {"spans": 0, "metric_points": 0, "log_records": 0, "requests": 0}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Collector":
        from .web import make_handler as make_ui_handler

        self.store = Store(self.db)
        self.views = Views(self.store, self.prices)
        self.alerts = Alerts(self.rules, self.views, self.alert_interval)
        self._sweep()
        forward = self.forwarder.submit if self.forwarder else None
        try:
            self._serve(self._requested[0], make_handler(self._ingest, forward, self.admit_otlp), "otlp")
            self._serve(self._requested[1], make_ui_handler(self), "ui")
        except OSError:
            self.stop()
            raise
        if self.forwarder:
            self.forwarder.start()
        self.alerts.start()
        self._thread(self._retention_loop, "retention")
        log.info("collector: OTLP/HTTP on %s, UI on %s, database %s", self.otlp_url, self.ui_url, self.db)
        warning = exposure.exposure_warning(self.host)
        if warning:
            log.warning("collector: %s", warning)
        return self

    def admit_otlp(self, headers: Any) -> Optional[exposure.Refusal]:
        return exposure.check_otlp(headers, self.auth_token, self.allowed_hosts)

    def _serve(self, port: int, handler: type, name: str) -> None:
        server = _Server((self.host, port), handler)
        self._servers.append(server)
        self._thread(server.serve_forever, name)

    def _thread(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=f"genai-tap-collector-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        if self.alerts:
            self.alerts.stop()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        if self.forwarder:
            self.forwarder.stop()
        for t in self._threads:
            t.join(10)
        if self.store:
            self.store.close()
        self._servers, self._threads = [], []

    def wait(self) -> None:
        """Block until :meth:`stop` (or Ctrl-C in the caller)."""
        while not self._stop.wait(0.5):
            pass

    def __enter__(self) -> "Collector":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def otlp_port(self) -> int:
        return self._servers[0].server_address[1]

    @property
    def ui_port(self) -> int:
        return self._servers[1].server_address[1]

    @property
    def otlp_url(self) -> str:
        return f"http://{self._url_host}:{self.otlp_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self._url_host}:{self.ui_port}"

    @property
    def _url_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0") else (f"[{self.host}]" if ":" in self.host else self.host)

    # ------------------------------------------------------------------ work
    def _ingest(self, path: str, message: Any) -> None:
        assert self.store is not None
        self.received["requests"] += 1
        if path == "/v1/traces":
            spans = otlp.spans(message)
            self.received["spans"] += len(spans)
            self.store.add_spans(spans)
        elif path == "/v1/metrics":
            points = otlp.metric_points(message)
            self.received["metric_points"] += len(points)
            self.store.add_metric_points(points)
        else:
            self.received["log_records"] += sum(
                len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs
            )

    def _sweep(self) -> None:
        if self.retention_s > 0 and self.store is not None:
            removed = self.store.prune(time.time_ns() - int(self.retention_s * 1e9))
            if removed:
                log.info("retention: removed %d spans older than %gs", removed, self.retention_s)

    def _retention_loop(self) -> None:
        while not self._stop.wait(RETENTION_SWEEP_S):
            try:
                self._sweep()
            except Exception:  # noqa: BLE001
                log.exception("retention sweep failed")
