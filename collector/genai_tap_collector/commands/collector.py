"""``genai-tap collector``: receive OTLP, store GenAI calls, serve the UI, evaluate alerts."""

from __future__ import annotations

from .common import add_db

HELP = "run the local collector: OTLP/HTTP in, SQLite store, web UI, cost estimates and alerts"


def add_arguments(parser) -> None:
    add_db(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--otlp-port", type=int, default=4318, help="OTLP/HTTP port (default: 4318; 0 picks a free one)")
    parser.add_argument("--ui-port", type=int, default=4319, help="web UI and JSON API port (default: 4319; 0 picks a free one)")
    parser.add_argument("--grpc-port", type=int, default=4317,
                        help="OTLP/gRPC port (default: 4317; 0 picks a free one; -1 turns gRPC off)")
    parser.add_argument("--max-db-size", metavar="SIZE", default=None,
                        help="delete the oldest calls to keep the database under this size: 2GB, 500MB ... (default: no limit)")
    parser.add_argument("--max-request-size", metavar="SIZE", default=None,
                        help="largest OTLP request accepted, as sent and decompressed (default: 16MiB)")
    parser.add_argument("--rules", metavar="FILE", help="alert rules (TOML); see collector/alert-rules.example.toml")
    parser.add_argument("--forward", metavar="URL",
                        help="also send everything received to this OTLP/HTTP endpoint (e.g. http://otel-collector:4318)")
    parser.add_argument("--retention", default="7d",
                        help="keep calls this long: 30m, 12h, 7d, ... or 0 to keep everything (default: 7d)")
    parser.add_argument("--prices", metavar="FILE",
                        help="price table overriding the shipped one, model by model (default: $GENAI_TAP_PRICES)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="collector log level (default: INFO)")


def main(args) -> int:
    import logging
    import signal

    from ..configfile import ConfigError
    from ..server import Collector
    from .common import default_db, fail

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, port in (("--otlp-port", args.otlp_port), ("--ui-port", args.ui_port), ("--grpc-port", max(args.grpc_port, 0))):
        if not 0 <= port <= 65535:
            return fail("collector", f"{name}={port} is not a port; use 0 (any free port) to 65535")
    db = args.db or default_db()
    try:
        from ..limits import Limits, parse_size

        limits = None
        if args.max_request_size:
            size = parse_size(args.max_request_size, "--max-request-size")
            limits = Limits(max_request_bytes=size, max_inflight_bytes=max(6 * size, Limits().max_inflight_bytes))
        collector = Collector(db, args.host, args.otlp_port, args.ui_port, rules=args.rules, forward=args.forward,
                              retention=args.retention, prices=args.prices,
                              grpc_port=None if args.grpc_port < 0 else args.grpc_port, max_db_size=args.max_db_size,
                              limits=limits)
        collector.start()
    except ConfigError as exc:
        return fail("collector", str(exc))
    except OSError as exc:
        return fail("collector", f"cannot listen on {args.host} (--otlp-port {args.otlp_port}, --grpc-port {args.grpc_port}, "
                                 f"--ui-port {args.ui_port}): {exc}")
    signal.signal(signal.SIGTERM, lambda *_: collector.stop())
    print(f"genai-tap collector: OTLP/HTTP on {collector.otlp_url}  (export OTEL_EXPORTER_OTLP_ENDPOINT={collector.otlp_url})", flush=True)
    if collector.grpc_address:
        print(f"  OTLP/gRPC on {collector.grpc_address}  (with OTEL_EXPORTER_OTLP_PROTOCOL=grpc: "
              f"OTEL_EXPORTER_OTLP_ENDPOINT={collector.grpc_url})", flush=True)
    print(f"  web UI:   {collector.ui_url}", flush=True)
    print(f"  database: {db}" + (f"  ·  {len(collector.rules)} alert rule(s) from {args.rules}" if args.rules else ""), flush=True)
    try:
        collector.wait()
    except KeyboardInterrupt:
        pass
    finally:
        collector.stop()
    return 0
