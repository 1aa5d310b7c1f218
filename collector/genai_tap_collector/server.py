"""The collector in one object, for the CLI, the demo and tests.

    with Collector("calls.db", otlp_port=0, ui_port=0, grpc_port=0) as c:
        print(c.otlp_url, c.grpc_address, c.ui_url)   # ports 0 are replaced by the free ports bound

Three servers (OTLP/HTTP on ``otlp_port``, OTLP/gRPC on ``grpc_port``, the UI
and JSON API on ``ui_port``), the writer process (:mod:`writer`, which also
runs retention), the alert scheduler and the optional forwarder; ``stop()`` ends them all,
writes the rollups and closes the database. ``grpc_port=None`` leaves gRPC off;
left out, it is 4317, or a free port when ``otlp_port`` is 0.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from . import exposure
from .alerts import DEFAULT_INTERVAL_S, Alerts, Rule, load_rules
from .configfile import ConfigError, parse_duration
from .forwarder import Forwarder
from .ingest import Ingest, WriterClient
from .limits import Limits, parse_size
from .logs import log
from .prices import PriceTable
from .receiver import OtlpServer, make_handler
from .store import SchemaError, Store
from .views import Views

DEFAULT_OTLP_PORT = 4318
DEFAULT_GRPC_PORT = 4317
DEFAULT_UI_PORT = 4319
DEFAULT_RETENTION = "7d"
#: grpc_port's default: 4317, or a free port when otlp_port is 0 (a collector on free ports, as in tests)
GRPC_DEFAULT: Any = object()


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
        grpc_port: Optional[int] = GRPC_DEFAULT,
        auth_token: Optional[str] = None,
        allowed_hosts: Iterable[str] = (),
        forward_headers: Optional[Dict[str, str]] = None,
        max_db_size: str | int | None = None,
        limits: Optional[Limits] = None,
        durable: bool = False,
        flush_s: float = 2.0,
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
        self.max_db_bytes = parse_size(max_db_size, "--max-db-size")
        self.limits = limits or Limits()
        self.durable = durable
        self.flush_s = flush_s
        self.prices = PriceTable.load(prices)
        self.rules: List[Rule] = []
        interval = DEFAULT_INTERVAL_S
        if rules:
            self.rules, interval = load_rules(rules)
        self.alert_interval = alert_interval if alert_interval is not None else interval
        self.forwarder = Forwarder(forward, headers=forward_headers) if forward else None
        if grpc_port is GRPC_DEFAULT:
            grpc_port = 0 if otlp_port == 0 else DEFAULT_GRPC_PORT
        self._requested = (otlp_port, ui_port, grpc_port)
        self.store: Optional[Store] = None
        self.views: Optional[Views] = None
        self.alerts: Optional[Alerts] = None
        self.writer: Optional[WriterClient] = None
        self.ingest: Optional[Ingest] = None
        self.grpc: Any = None
        self._otlp: Optional[OtlpServer] = None
        self._ui: Optional[_Server] = None
        self._threads: List[threading.Thread] = []
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Collector":
        from .grpc_receiver import GrpcReceiver
        from .web import make_handler as make_ui_handler

        try:
            self.store = Store(self.db, durable=self.durable)
        except SchemaError as exc:
            raise ConfigError(str(exc)) from None
        level = log.getEffectiveLevel()
        self.writer = WriterClient({
            "db": self.db, "durable": self.durable, "retention_s": self.retention_s, "max_db_bytes": self.max_db_bytes,
            "flush_s": self.flush_s, "log_level": "DEBUG" if level <= 10 else ("INFO" if level <= 20 else "WARNING"),
        })
        try:
            self.writer.start()
        except RuntimeError as exc:
            self.store.close()
            raise ConfigError(str(exc)) from None
        self.views = Views(self.store, self.prices)
        self.alerts = Alerts(self.rules, self.views, self.alert_interval)
        forward = self.forwarder.submit if self.forwarder else None
        self.ingest = Ingest(self.limits, self.writer, forward)
        otlp_port, ui_port, grpc_port = self._requested
        try:
            self._otlp = OtlpServer((self.host, otlp_port), make_handler(self.ingest, self.admit_otlp), self.limits)
            self._thread(self._otlp.serve_forever, "otlp")
            if grpc_port is not None:
                self.grpc = GrpcReceiver(self.ingest, self.host, grpc_port, self.limits, self.admit_otlp).start()
            self._ui = _Server((self.host, ui_port), make_ui_handler(self))
            self._thread(self._ui.serve_forever, "ui")
        except OSError:
            self.stop()
            raise
        if self.forwarder:
            self.forwarder.start()
        self.alerts.start()
        log.info("collector: OTLP/HTTP on %s, OTLP/gRPC on %s, UI on %s, database %s", self.otlp_url,
                 self.grpc_address or "(off)", self.ui_url, self.db)
        warning = exposure.exposure_warning(self.host)
        if warning:
            log.warning("collector: %s", warning)
        return self

    def admit_otlp(self, headers: Any) -> Optional[exposure.Refusal]:
        """What both OTLP receivers (HTTP and gRPC) call first for each request: None admits
        it, (HTTP status, message) refuses it: the token and Host checks of :mod:`exposure`."""
        return exposure.check_otlp(headers, self.auth_token, self.allowed_hosts)

    def _thread(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=f"genai-tap-collector-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        if self.alerts:
            self.alerts.stop()
        for server in (self._otlp, self._ui):
            if server is not None:
                server.shutdown()
                server.server_close()
        if self.grpc is not None:
            self.grpc.stop()
        if self.forwarder:
            self.forwarder.stop()
        for t in self._threads:
            t.join(10)
        if self.writer is not None:
            self.writer.stop()
        if self.store:
            self.store.close()
        self._otlp = self._ui = None
        self.grpc = None
        self._threads = []

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
        assert self._otlp is not None
        return int(self._otlp.server_address[1])

    @property
    def ui_port(self) -> int:
        assert self._ui is not None
        return int(self._ui.server_address[1])

    @property
    def grpc_port(self) -> Optional[int]:
        return self.grpc.port if self.grpc is not None else None

    @property
    def otlp_url(self) -> str:
        """The OTLP/HTTP base URL (``OTEL_EXPORTER_OTLP_ENDPOINT`` for http/protobuf)."""
        return f"http://{self._url_host}:{self.otlp_port}"

    @property
    def grpc_address(self) -> Optional[str]:
        """``host:port`` of OTLP/gRPC (``OTEL_EXPORTER_OTLP_ENDPOINT=http://<this>`` with
        ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``), or None when it is off."""
        return f"{self._url_host}:{self.grpc_port}" if self.grpc is not None else None

    @property
    def grpc_url(self) -> Optional[str]:
        return f"http://{self.grpc_address}" if self.grpc is not None else None

    @property
    def ui_url(self) -> str:
        return f"http://{self._url_host}:{self.ui_port}"

    @property
    def _url_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0") else (f"[{self.host}]" if ":" in self.host else self.host)

    # ------------------------------------------------------------------ counters
    @property
    def received(self) -> Dict[str, Any]:
        """What was received (spans, metric points, log records, requests, rejected spans,
        requests refused as busy) and the in-flight bytes now and at peak."""
        if not self.ingest:
            return {}
        return {**self.ingest.stats(), "writer": dict(self.writer.stats) if self.writer else {}}
